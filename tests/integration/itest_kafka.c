/*
 * itest_kafka.c - the broker module against a real Kafka broker: a
 * CloudEvent in binary mode (ce_* headers) goes through the idempotent
 * producer and comes back intact, and offsets are only committed for what
 * the consumer stored.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "config.h"
#include "harness.h"

struct deliveries {
	int ok;
	int failed;
	int64_t last_offset;
};

static void
on_delivery(void *opaque, enum orc_status status, const char *err,
	    int32_t partition, int64_t offset, void *ctx)
{
	struct deliveries *d = ctx;

	if (status == ORC_OK) {
		d->ok++;
		d->last_offset = offset;
	} else {
		d->failed++;
		fprintf(stderr, "delivery failed: %s\n", err);
	}
}

static const struct orc_header event_headers[] = {
	{"ce_specversion", "1.0", 3},
	{"ce_id", "a8f1b1c2-0001", 13},
	{"ce_source", "/orders", 7},
	{"ce_type", "order.placed", 12},
	{"ce_time", "2026-11-27T07:00:00Z", 20},
	{"content-type", "application/json", 16},
	{"ce_sagaid", "5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6e", 36},
	{"ce_empty", "", 0},
};
#define N_HEADERS (sizeof(event_headers) / sizeof(event_headers[0]))
static const char event_data[] = "{\"order_id\":\"o-1\",\"total\":12.5,\"note\":\"\xc3\xa9t\xc3\xa9\"}";

static void
produce(struct orc_producer *p, const char *topic, const char *value)
{
	struct orc_error err;

	ck_assert_msg(orc_producer_send(p, topic, "o-1", 3, event_headers,
					N_HEADERS, value, strlen(value), NULL,
					&err) == ORC_OK,
		      "%s", err.message);
}

START_TEST(test_cloudevent_round_trip)
{
	struct orc_config cfg;
	struct orc_error err;
	struct orc_producer *p;
	struct orc_consumer *c;
	struct orc_kafka_message *m;
	struct deliveries d = {0, 0, -1};
	char topic[64], group[64];
	const char *topics[1] = {topic};

	orc_it_unique("it_ce", topic, sizeof(topic));
	orc_it_unique("it_group", group, sizeof(group));
	orc_it_config_init(&cfg);
	ck_assert_int_eq(orc_producer_create(&cfg, on_delivery, &d, &p, &err),
			 ORC_OK);
	produce(p, topic, event_data);
	ck_assert_msg(orc_producer_flush(p, 30000, &err) == ORC_OK, "%s",
		      err.message);
	ck_assert_int_eq(d.ok, 1);
	ck_assert_int_eq(d.failed, 0);
	ck_assert_int_eq(d.last_offset, 0);

	ck_assert_int_eq(orc_consumer_create(&cfg, group, topics, 1, &c, &err),
			 ORC_OK);
	m = orc_it_poll_one(c, 30000);
	ck_assert_msg(m != NULL, "no message consumed from %s", topic);
	ck_assert_str_eq(m->topic, topic);
	ck_assert_int_eq(m->offset, 0);
	ck_assert_int_eq(m->key_len, 3);
	ck_assert_int_eq(memcmp(m->key, "o-1", 3), 0);
	ck_assert_int_eq(m->value_len, strlen(event_data));
	ck_assert_int_eq(memcmp(m->value, event_data, m->value_len), 0);
	ck_assert_uint_eq(orc_kafka_message_header_count(m), N_HEADERS);
	for (size_t i = 0; i < N_HEADERS; i++) {
		struct orc_header h;

		ck_assert(orc_kafka_message_header_at(m, i, &h));
		ck_assert_str_eq(h.name, event_headers[i].name);
		ck_assert_uint_eq(h.size, event_headers[i].size);
		ck_assert_int_eq(memcmp(h.value, event_headers[i].value, h.size), 0);
	}
	{
		struct orc_header h;

		ck_assert(orc_kafka_message_header(m, "ce_type", &h));
		ck_assert_int_eq(memcmp(h.value, "order.placed", 12), 0);
		ck_assert(!orc_kafka_message_header(m, "ce_missing", &h));
	}
	orc_kafka_message_destroy(m);
	orc_consumer_destroy(c);
	orc_producer_destroy(p);
	orc_config_finish(&cfg);
}
END_TEST

/*
 * Only stored offsets are committed: a consumer that stores the first of
 * two messages and leaves hands the second to the next member of its group.
 */
START_TEST(test_manual_offset_store)
{
	struct orc_config cfg;
	struct orc_error err;
	struct orc_producer *p;
	struct orc_consumer *c;
	struct orc_kafka_message *m1, *m2, *again;
	struct deliveries d = {0, 0, -1};
	char topic[64], group[64];
	const char *topics[1] = {topic};

	orc_it_unique("it_offsets", topic, sizeof(topic));
	orc_it_unique("it_group", group, sizeof(group));
	orc_it_config_init(&cfg);
	ck_assert_int_eq(orc_producer_create(&cfg, on_delivery, &d, &p, &err),
			 ORC_OK);
	produce(p, topic, "{\"n\":1}");
	produce(p, topic, "{\"n\":2}");
	ck_assert_int_eq(orc_producer_flush(p, 30000, &err), ORC_OK);
	ck_assert_int_eq(d.ok, 2);

	ck_assert_int_eq(orc_consumer_create(&cfg, group, topics, 1, &c, &err),
			 ORC_OK);
	m1 = orc_it_poll_one(c, 30000);
	m2 = orc_it_poll_one(c, 10000);
	ck_assert_ptr_nonnull(m1);
	ck_assert_ptr_nonnull(m2);
	ck_assert_int_eq(memcmp(m1->value, "{\"n\":1}", 7), 0);
	ck_assert_int_eq(orc_consumer_store(c, m1, &err), ORC_OK);
	ck_assert_int_eq(orc_consumer_commit(c, &err), ORC_OK);
	orc_kafka_message_destroy(m1);
	orc_kafka_message_destroy(m2);
	orc_consumer_destroy(c);

	ck_assert_int_eq(orc_consumer_create(&cfg, group, topics, 1, &c, &err),
			 ORC_OK);
	again = orc_it_poll_one(c, 30000);
	ck_assert_msg(again != NULL, "the unstored message was not redelivered");
	ck_assert_int_eq(again->offset, 1);
	ck_assert_int_eq(memcmp(again->value, "{\"n\":2}", 7), 0);
	orc_kafka_message_destroy(again);
	orc_consumer_destroy(c);
	orc_producer_destroy(p);
	orc_config_finish(&cfg);
}
END_TEST

START_TEST(test_bad_kafka_property_is_named)
{
	struct orc_config cfg;
	struct orc_error err;
	struct orc_producer *p = NULL;

	orc_it_config_init(&cfg);
	ck_assert_int_eq(orc_config_set(&cfg, "kafka.no.such.property", "1", &err),
			 ORC_OK);
	ck_assert_int_eq(orc_producer_create(&cfg, NULL, NULL, &p, &err),
			 ORC_INVALID);
	ck_assert_ptr_null(p);
	ck_assert_ptr_nonnull(strstr(err.message, "no.such.property"));
	orc_config_finish(&cfg);
}
END_TEST

int
main(void)
{
	const struct orc_it_case cases[] = {
		ORC_IT_CASE(cloudevent_round_trip),
		ORC_IT_CASE(manual_offset_store),
		ORC_IT_CASE(bad_kafka_property_is_named),
	};

	return orc_it_run_suite("kafka", cases, sizeof(cases) / sizeof(cases[0]),
				120);
}
