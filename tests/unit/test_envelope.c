/*
 * test_envelope.c - CloudEvents over Kafka: binary and structured mode,
 * every rejection with its exact message, and a command's headers read
 * back as the event they describe.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_runner.h"
#include "envelope.h"
#include "text.h"

/* A header from a string literal, without its NUL. */
#define H(name, lit) {(name), (lit), sizeof(lit) - 1}
#define N(a) (sizeof(a) / sizeof((a)[0]))

#define SAGA "5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"
#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define TP2 "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
#define TP_V1 "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static enum orc_status
parse(struct orc_event *ev, const struct orc_header *h, size_t n,
      const char *value, struct orc_error *err)
{
	return orc_event_parse(ev, value, value != NULL ? strlen(value) : 0,
			       NULL, 0, h, n, err);
}

/* Parse, expect ORC_INVALID with message want, and an emptied event. */
static void
expect_invalid(const struct orc_header *h, size_t n, const void *value,
	       size_t value_len, const char *want)
{
	struct orc_event ev;
	struct orc_error err;

	ck_assert_msg(orc_event_parse(&ev, value, value_len, "k", 1, h, n,
				      &err) == ORC_INVALID,
		      "accepted, expected \"%s\"", want);
	ck_assert_int_eq(err.status, ORC_INVALID);
	ck_assert_str_eq(err.message, want);
	ck_assert_ptr_null(ev.id);
	ck_assert_ptr_null(ev.data);
	ck_assert_ptr_null(ev.key);
	ck_assert_uint_eq(ev.n_ext, 0);
	orc_event_finish(&ev);
}

static void
expect_invalid_str(const struct orc_header *h, size_t n, const char *value,
		   const char *want)
{
	expect_invalid(h, n, value, value != NULL ? strlen(value) : 0, want);
}

/* A map item's reply names it "<step>[<index>]". */
START_TEST(test_sagastep_map_item)
{
	static const char *const ok[] = {"reserve_items[17]", "x[0]",
					 "x[99999]"};
	struct orc_event ev;
	struct orc_error err;

	for (size_t i = 0; i < N(ok); i++) {
		struct orc_header h[] = {
			H("ce_specversion", "1.0"),
			H("ce_id", "r-1"),
			H("ce_source", "/inventory"),
			H("ce_type", "inventory.item_reserved"),
			{"ce_sagastep", ok[i], strlen(ok[i])},
		};

		ck_assert_msg(orc_event_parse(&ev, "{}", 2, NULL, 0, h, N(h),
					      &err) == ORC_OK,
			      "%s: %s", ok[i], err.message);
		ck_assert_str_eq(ev.sagastep, ok[i]);
		orc_event_finish(&ev);
	}
}
END_TEST

START_TEST(test_binary_full)
{
	static const struct orc_header h[] = {
		H("ce_specversion", "1.0"),
		H("ce_id", "a8f1b1c2-0001"),
		H("ce_source", "/inventory"),
		H("ce_type", "inventory.reserved"),
		H("ce_time", "2026-11-27T07:00:00Z"),
		H("ce_subject", "order/o-1"),
		H("ce_dataschema", "https://example.com/reserved.json"),
		H("content-type", "application/json; charset=utf-8"),
		H("ce_sagaid", "5B9C3D2E-6F7A-4B8C-9D0E-1F2A3B4C5D6E"),
		H("ce_sagastep", "reserve_inventory"),
		H("ce_replyto", "saga.replies"),
		H("ce_tenant", "acme"),
		H("ce_empty", ""),
		H("traceparent", TP),
		H("x-other", "ignored"),
	};
	struct orc_event ev;
	struct orc_error err;
	const char *value = "{\"order_id\":\"o-1\",\"qty\":2}";

	ck_assert_msg(orc_event_parse(&ev, value, strlen(value), "o-1", 3, h,
				      N(h), &err) == ORC_OK,
		      "%s", err.message);
	ck_assert_int_eq(ev.mode, ORC_EVENT_MODE_BINARY);
	ck_assert_str_eq(orc_event_mode_name(ev.mode), "binary");
	ck_assert_str_eq(ev.specversion, "1.0");
	ck_assert_str_eq(ev.id, "a8f1b1c2-0001");
	ck_assert_str_eq(ev.source, "/inventory");
	ck_assert_str_eq(ev.type, "inventory.reserved");
	ck_assert_str_eq(ev.time, "2026-11-27T07:00:00Z");
	ck_assert_str_eq(ev.subject, "order/o-1");
	ck_assert_str_eq(ev.dataschema, "https://example.com/reserved.json");
	ck_assert_str_eq(ev.datacontenttype, "application/json; charset=utf-8");
	ck_assert_str_eq(ev.sagaid, SAGA); /* lowercased */
	ck_assert_str_eq(ev.sagastep, "reserve_inventory");
	ck_assert_str_eq(ev.replyto, "saga.replies");
	ck_assert_str_eq(ev.traceparent, TP);
	ck_assert_uint_eq(ev.n_ext, 2);
	ck_assert_str_eq(ev.ext[0].name, "tenant");
	ck_assert_str_eq(ev.ext[0].value, "acme");
	ck_assert_str_eq(ev.ext[1].name, "empty");
	ck_assert_str_eq(ev.ext[1].value, "");
	ck_assert_uint_eq(ev.key_len, 3);
	ck_assert_str_eq(ev.key, "o-1");
	ck_assert(!ev.data_base64);
	ck_assert(json_is_object(ev.data));
	ck_assert_str_eq(
		json_string_value(json_object_get(ev.data, "order_id")), "o-1");
	ck_assert_int_eq(json_integer_value(json_object_get(ev.data, "qty")),
			 2);
	ck_assert_str_eq(orc_event_dedup_id(&ev), "/inventory a8f1b1c2-0001");
	ck_assert_str_eq(orc_event_attribute(&ev, "type"),
			 "inventory.reserved");
	ck_assert_str_eq(orc_event_attribute(&ev, "sagastep"),
			 "reserve_inventory");
	ck_assert_str_eq(orc_event_attribute(&ev, "tenant"), "acme");
	ck_assert_str_eq(orc_event_attribute(&ev, "traceparent"), TP);
	ck_assert_ptr_null(orc_event_attribute(&ev, "other"));
	ck_assert_ptr_null(orc_event_attribute(&ev, "data"));
	orc_event_finish(&ev);
	ck_assert_ptr_null(ev.id);
	orc_event_finish(&ev); /* twice is harmless */
	orc_event_finish(NULL);
}
END_TEST

START_TEST(test_binary_minimal)
{
	static const struct orc_header h[] = {
		H("ce_specversion", "1.0"),
		H("ce_id", "1"),
		H("ce_source", "urn:x"),
		H("ce_type", "t"),
	};
	struct orc_event ev;
	struct orc_error err;

	/* a tombstone: no key, no value, no content type */
	ck_assert_msg(orc_event_parse(&ev, NULL, 0, NULL, 0, h, N(h), &err) ==
			      ORC_OK,
		      "%s", err.message);
	ck_assert_str_eq(ev.id, "1");
	ck_assert_ptr_null(ev.datacontenttype);
	ck_assert_ptr_null(ev.time);
	ck_assert_ptr_null(ev.subject);
	ck_assert_ptr_null(ev.dataschema);
	ck_assert_ptr_null(ev.sagaid);
	ck_assert_ptr_null(ev.sagastep);
	ck_assert_ptr_null(ev.replyto);
	ck_assert_ptr_null(ev.traceparent);
	ck_assert_ptr_null(ev.key);
	ck_assert_uint_eq(ev.key_len, 0);
	ck_assert_uint_eq(ev.n_ext, 0);
	ck_assert(json_is_null(ev.data));
	ck_assert_str_eq(orc_event_dedup_id(&ev), "urn:x 1");
	orc_event_finish(&ev);

	/* an empty value and an empty key */
	ck_assert_int_eq(orc_event_parse(&ev, "", 0, "", 0, h, N(h), &err),
			 ORC_OK);
	ck_assert(json_is_null(ev.data));
	ck_assert_str_eq(ev.key, "");
	orc_event_finish(&ev);

	/* a scalar is JSON data too */
	ck_assert_int_eq(parse(&ev, h, N(h), " 42 ", &err), ORC_OK);
	ck_assert_int_eq(json_integer_value(ev.data), 42);
	orc_event_finish(&ev);
}
END_TEST

START_TEST(test_binary_last_header_wins)
{
	static const struct orc_header h[] = {
		H("ce_specversion", "1.0"), H("ce_id", "first"),
		H("ce_source", "/s"),	    H("ce_type", "t"),
		H("ce_id", "second"),	    H("ce_tenant", "a"),
		H("ce_tenant", "b"),	    H("ce_subject", "s"),
		H("ce_gone", "g"),	    H("ce_kept", "k"),
		{"ce_subject", NULL, 0},    {"ce_gone", NULL, 0},
		{"ce_never", NULL, 0},	    {NULL, "x", 1},
	};
	struct orc_event ev;
	struct orc_error err;

	ck_assert_int_eq(parse(&ev, h, N(h), "{}", &err), ORC_OK);
	ck_assert_str_eq(ev.id, "second");
	/* a header with no value removes the attribute */
	ck_assert_ptr_null(ev.subject);
	ck_assert_uint_eq(ev.n_ext, 2);
	ck_assert_str_eq(ev.ext[0].name, "tenant");
	ck_assert_str_eq(ev.ext[0].value, "b");
	ck_assert_str_eq(ev.ext[1].name, "kept");
	ck_assert_ptr_null(orc_event_attribute(&ev, "gone"));
	ck_assert_ptr_null(orc_event_attribute(&ev, "never"));
	orc_event_finish(&ev);
}
END_TEST

START_TEST(test_structured_with_data)
{
	static const struct orc_header h[] = {
		H("content-type", "application/cloudevents+json"),
	};
	struct orc_event ev;
	struct orc_error err;
	const char *value =
		"{\"specversion\":\"1.0\",\"id\":\"e-1\",\"source\":\"/payments\","
		"\"type\":\"payment.charged\",\"sagaid\":\"" SAGA "\","
		"\"sagastep\":\"charge\",\"datacontenttype\":\"application/json\","
		"\"traceparent\":\"" TP "\",\"attempt\":3,\"urgent\":true,"
		"\"gone\":null,\"subject\":null,"
		"\"data\":{\"amount\":12.5,\"items\":[1,2]}}";

	ck_assert_msg(parse(&ev, h, N(h), value, &err) == ORC_OK, "%s",
		      err.message);
	ck_assert_int_eq(ev.mode, ORC_EVENT_MODE_STRUCTURED);
	ck_assert_str_eq(orc_event_mode_name(ev.mode), "structured");
	ck_assert_str_eq(ev.id, "e-1");
	ck_assert_str_eq(ev.source, "/payments");
	ck_assert_str_eq(ev.type, "payment.charged");
	ck_assert_str_eq(ev.sagaid, SAGA);
	ck_assert_str_eq(ev.sagastep, "charge");
	ck_assert_str_eq(ev.datacontenttype, "application/json");
	ck_assert_str_eq(ev.traceparent, TP);
	ck_assert_ptr_null(ev.subject);
	ck_assert_uint_eq(ev.n_ext, 2);
	ck_assert_str_eq(orc_event_attribute(&ev, "attempt"), "3");
	ck_assert_str_eq(orc_event_attribute(&ev, "urgent"), "true");
	ck_assert_ptr_null(orc_event_attribute(&ev, "gone"));
	ck_assert(json_is_object(ev.data));
	ck_assert(json_real_value(json_object_get(ev.data, "amount")) == 12.5);
	ck_assert_uint_eq(json_array_size(json_object_get(ev.data, "items")),
			  2);
	ck_assert_str_eq(orc_event_dedup_id(&ev), "/payments e-1");
	orc_event_finish(&ev);
}
END_TEST

START_TEST(test_structured_without_content_type)
{
	struct orc_event ev;
	struct orc_error err;

	/* no ce_specversion header, a JSON object with "specversion" */
	ck_assert_int_eq(parse(&ev, NULL, 0,
			       "{\"specversion\":\"1.0\",\"id\":\"1\","
			       "\"source\":\"/s\",\"type\":\"t\"}",
			       &err),
			 ORC_OK);
	ck_assert_int_eq(ev.mode, ORC_EVENT_MODE_STRUCTURED);
	ck_assert(json_is_null(ev.data));
	orc_event_finish(&ev);

	/* the same under a plain JSON content type */
	{
		static const struct orc_header h[] = {
			H("content-type", "application/json"),
		};

		ck_assert_int_eq(parse(&ev, h, N(h),
				       "{\"specversion\":\"1.0\",\"id\":\"1\","
				       "\"source\":\"/s\",\"type\":\"t\","
				       "\"data\":\"text\"}",
				       &err),
				 ORC_OK);
		ck_assert_int_eq(ev.mode, ORC_EVENT_MODE_STRUCTURED);
		ck_assert_str_eq(json_string_value(ev.data), "text");
		orc_event_finish(&ev);
	}
}
END_TEST

START_TEST(test_structured_content_type_wins)
{
	/* the binding: an application/cloudevents content type is structured
	 * even next to a ce_specversion header */
	static const struct orc_header h[] = {
		H("ce_specversion", "1.0"),
		H("ce_id", "from-header"),
		H("content-type", "application/cloudevents+json"),
	};
	struct orc_event ev;
	struct orc_error err;

	ck_assert_int_eq(parse(&ev, h, N(h),
			       "{\"specversion\":\"1.0\",\"id\":\"from-value\","
			       "\"source\":\"/s\",\"type\":\"t\"}",
			       &err),
			 ORC_OK);
	ck_assert_int_eq(ev.mode, ORC_EVENT_MODE_STRUCTURED);
	ck_assert_str_eq(ev.id, "from-value");
	orc_event_finish(&ev);
}
END_TEST

START_TEST(test_structured_charset)
{
	static const char *const types[] = {
		"application/cloudevents+json; charset=UTF-8",
		"application/cloudevents+json;charset=utf-8",
		"  Application/CloudEvents+JSON ; charset=\"utf-8\"",
	};
	const char *value = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":"
			    "\"/s\",\"type\":\"t\",\"data\":[true]}";

	for (size_t i = 0; i < N(types); i++) {
		struct orc_header h[1] = {
			{"content-type", types[i], strlen(types[i])}};
		struct orc_event ev;
		struct orc_error err;

		ck_assert_msg(parse(&ev, h, 1, value, &err) == ORC_OK, "%s: %s",
			      types[i], err.message);
		ck_assert_int_eq(ev.mode, ORC_EVENT_MODE_STRUCTURED);
		ck_assert(json_is_true(json_array_get(ev.data, 0)));
		/* the header names the format, not the data */
		ck_assert_ptr_null(ev.datacontenttype);
		orc_event_finish(&ev);
	}
}
END_TEST

START_TEST(test_structured_data_base64)
{
	static const struct orc_header h[] = {
		H("content-type", "application/cloudevents+json"),
	};
	struct orc_event ev;
	struct orc_error err;

	/* {"a":1} as JSON data (no datacontenttype: JSON) */
	ck_assert_int_eq(parse(&ev, h, N(h),
			       "{\"specversion\":\"1.0\",\"id\":\"1\","
			       "\"source\":\"/s\",\"type\":\"t\","
			       "\"data_base64\":\"eyJhIjoxfQ==\"}",
			       &err),
			 ORC_OK);
	ck_assert_int_eq(json_integer_value(json_object_get(ev.data, "a")), 1);
	ck_assert(!ev.data_base64);
	orc_event_finish(&ev);

	/* the same without padding, under a +json type */
	ck_assert_int_eq(parse(&ev, h, N(h),
			       "{\"specversion\":\"1.0\",\"id\":\"1\","
			       "\"source\":\"/s\",\"type\":\"t\","
			       "\"datacontenttype\":\"application/vnd.x+json\","
			       "\"data_base64\":\"eyJhIjoxfQ\"}",
			       &err),
			 ORC_OK);
	ck_assert_int_eq(json_integer_value(json_object_get(ev.data, "a")), 1);
	orc_event_finish(&ev);

	/* text: "hello" */
	ck_assert_int_eq(parse(&ev, h, N(h),
			       "{\"specversion\":\"1.0\",\"id\":\"1\","
			       "\"source\":\"/s\",\"type\":\"t\","
			       "\"datacontenttype\":\"text/plain\","
			       "\"data_base64\":\"aGVsbG8=\"}",
			       &err),
			 ORC_OK);
	ck_assert_str_eq(json_string_value(ev.data), "hello");
	ck_assert(!ev.data_base64);
	orc_event_finish(&ev);

	/* bytes that are not text stay base64 */
	ck_assert_int_eq(parse(&ev, h, N(h),
			       "{\"specversion\":\"1.0\",\"id\":\"1\","
			       "\"source\":\"/s\",\"type\":\"t\","
			       "\"datacontenttype\":\"application/octet-stream\","
			       "\"data_base64\":\"/wAB\"}",
			       &err),
			 ORC_OK);
	ck_assert_str_eq(json_string_value(ev.data), "/wAB");
	ck_assert(ev.data_base64);
	orc_event_finish(&ev);

	/* empty: no data */
	ck_assert_int_eq(parse(&ev, h, N(h),
			       "{\"specversion\":\"1.0\",\"id\":\"1\","
			       "\"source\":\"/s\",\"type\":\"t\","
			       "\"data_base64\":\"\",\"data\":null}",
			       &err),
			 ORC_OK);
	ck_assert(json_is_null(ev.data));
	orc_event_finish(&ev);
}
END_TEST

START_TEST(test_non_json_data)
{
	struct orc_header h[] = {
		H("ce_specversion", "1.0"),
		H("ce_id", "1"),
		H("ce_source", "/s"),
		H("ce_type", "t"),
		H("content-type", "text/plain"),
	};
	const unsigned char bytes[] = {0x00, 0xff, 0x10, 0x80};
	struct orc_event ev;
	struct orc_error err;

	/* text that is not JSON is kept as a string */
	ck_assert_int_eq(
		parse(&ev, h, N(h), "not {json} \xc3\xa9t\xc3\xa9", &err),
		ORC_OK);
	ck_assert_str_eq(ev.datacontenttype, "text/plain");
	ck_assert_str_eq(json_string_value(ev.data),
			 "not {json} \xc3\xa9t\xc3\xa9");
	ck_assert(!ev.data_base64);
	orc_event_finish(&ev);

	/* binary data becomes base64 */
	h[4] = (struct orc_header)H("content-type", "application/protobuf");
	ck_assert_int_eq(orc_event_parse(&ev, bytes, sizeof(bytes), NULL, 0, h,
					 N(h), &err),
			 ORC_OK);
	ck_assert_str_eq(json_string_value(ev.data), "AP8QgA==");
	ck_assert(ev.data_base64);
	orc_event_finish(&ev);

	/* a +json type is parsed */
	h[4] = (struct orc_header)H("content-type",
				    "application/vnd.acme.order+json");
	ck_assert_int_eq(parse(&ev, h, N(h), "[1]", &err), ORC_OK);
	ck_assert(json_is_array(ev.data));
	orc_event_finish(&ev);

	/* the JSON content type with data that is not JSON */
	h[4] = (struct orc_header)H("content-type", "application/json");
	expect_invalid_str(h, N(h), "not json",
			   "data is not valid JSON: invalid token near 'not' "
			   "at line 1 column 3");
	expect_invalid_str(h, N(h), "{\"a\":1} x",
			   "data is not valid JSON: end of file expected near "
			   "'x' at line 1 column 9");
	/* absent content type means JSON */
	expect_invalid_str(h, 4, "{\"a\":",
			   "data is not valid JSON: unexpected token near end "
			   "of file at line 1 column 5");
	/* JSON may not carry \u0000 (PostgreSQL jsonb cannot store it) */
	expect_invalid_str(h, N(h), "\"a\\u0000b\"",
			   "data is not valid JSON: \\u0000 is not allowed "
			   "without JSON_ALLOW_NUL near '\"a\\u0000b\"' at line "
			   "1 column 10");
}
END_TEST

START_TEST(test_nul_in_header)
{
	struct orc_header h[] = {
		H("ce_specversion", "1.0"),
		H("ce_id", "1"),
		H("ce_source", "/s"),
		H("ce_type", "a\0b"),
	};
	struct orc_header tp[] = {
		H("ce_specversion", "1.0"),
		H("ce_id", "1"),
		H("ce_source", "/s"),
		H("ce_type", "t"),
		H("traceparent", TP "\0"),
		H("ce_traceparent", TP2),
	};
	struct orc_event ev;
	struct orc_error err;

	expect_invalid_str(h, N(h), "{}",
			   "attribute \"type\" contains a NUL byte");
	h[3] = (struct orc_header)H("ce_tenant", "\0");
	expect_invalid_str(h, N(h), "{}",
			   "attribute \"tenant\" contains a NUL byte");
	h[3] = (struct orc_header)H("content-type", "application/json\0");
	expect_invalid_str(h, N(h), "{}",
			   "attribute \"datacontenttype\" contains a NUL byte");
	h[3] = (struct orc_header)H("ce_specversion", "1.0\0");
	expect_invalid_str(h, N(h), "{}",
			   "attribute \"specversion\" contains a NUL byte");

	/* a traceparent is not an attribute: a bad one is dropped */
	ck_assert_int_eq(parse(&ev, tp, N(tp), "{}", &err), ORC_OK);
	ck_assert_str_eq(ev.traceparent, TP2);
	orc_event_finish(&ev);
}
END_TEST

START_TEST(test_binary_rejections)
{
	char long_step[70];
	struct orc_header base[] = {
		H("ce_specversion", "1.0"),
		H("ce_id", "1"),
		H("ce_source", "/s"),
		H("ce_type", "t"),
		{NULL, NULL, 0}, /* the header under test */
	};
	static const struct {
		struct orc_header h;
		const char *message;
	} cases[] = {
		{H("ce_specversion", "0.3"), "unsupported specversion \"0.3\""},
		{H("ce_specversion", ""), "unsupported specversion \"\""},
		{H("ce_specversion", "1.0 \"x\"\n"),
		 "unsupported specversion \"1.0 ?x??\""},
		{{"ce_specversion", NULL, 0},
		 "missing required attribute \"specversion\""},
		{H("ce_id", ""), "attribute \"id\" is empty"},
		{H("ce_source", ""), "attribute \"source\" is empty"},
		{H("ce_type", ""), "attribute \"type\" is empty"},
		{H("ce_source", "/a b"),
		 "attribute \"source\" is not a URI-reference"},
		{H("ce_source", "/a\tb"),
		 "attribute \"source\" is not a URI-reference"},
		{H("ce_subject", ""), "attribute \"subject\" is empty"},
		{H("ce_time", ""), "attribute \"time\" is empty"},
		{H("ce_dataschema", ""), "attribute \"dataschema\" is empty"},
		{H("ce_replyto", ""), "attribute \"replyto\" is empty"},
		{H("content-type", ""),
		 "attribute \"datacontenttype\" is empty"},
		{H("ce_sagaid", "not-a-uuid"),
		 "attribute \"sagaid\" is not a UUID"},
		{H("ce_sagaid", ""), "attribute \"sagaid\" is not a UUID"},
		{H("ce_sagaid", "5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6"),
		 "attribute \"sagaid\" is not a UUID"},
		{H("ce_sagaid", "5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6g"),
		 "attribute \"sagaid\" is not a UUID"},
		{H("ce_sagaid", "5b9c3d2e6f7a-4b8c-9d0e-1f2a3b4c5d6e0"),
		 "attribute \"sagaid\" is not a UUID"},
		{H("ce_sagastep", "Charge"),
		 "attribute \"sagastep\" is not a valid step name"},
		{H("ce_sagastep", "1charge"),
		 "attribute \"sagastep\" is not a valid step name"},
		{H("ce_sagastep", "charge-card"),
		 "attribute \"sagastep\" is not a valid step name"},
		{H("ce_sagastep", ""),
		 "attribute \"sagastep\" is not a valid step name"},
		{H("ce_sagastep", "charge[]"),
		 "attribute \"sagastep\" is not a valid step name"},
		{H("ce_sagastep", "charge[01]"),
		 "attribute \"sagastep\" is not a valid step name"},
		{H("ce_sagastep", "charge[1"),
		 "attribute \"sagastep\" is not a valid step name"},
		{H("ce_sagastep", "charge[1]x"),
		 "attribute \"sagastep\" is not a valid step name"},
		{H("ce_sagastep", "charge[-1]"),
		 "attribute \"sagastep\" is not a valid step name"},
		{H("ce_sagastep", "charge[100000]"),
		 "attribute \"sagastep\" is not a valid step name"},
		{H("ce_sagastep", "charge[1234567]"),
		 "attribute \"sagastep\" is not a valid step name"},
		{H("ce_sagastep", "[3]"),
		 "attribute \"sagastep\" is not a valid step name"},
		{H("ce_sagastep", "Charge[3]"),
		 "attribute \"sagastep\" is not a valid step name"},
		{H("ce_type", "caf\xc3"),
		 "attribute \"type\" is not valid UTF-8"},
		{H("ce_x", "\xc0\xaf"), "attribute \"x\" is not valid UTF-8"},
		{H("ce_x", "\xed\xa0\x80"),
		 "attribute \"x\" is not valid UTF-8"},
		{H("ce_x\x01", "\xff"), "attribute \"x?\" is not valid UTF-8"},
	};

	for (size_t i = 0; i < N(cases); i++) {
		base[4] = cases[i].h;
		expect_invalid_str(base, N(base), "{}", cases[i].message);
	}
	/* missing each required attribute in turn */
	{
		static const char *const names[] = {"specversion", "id",
						    "source", "type"};

		for (size_t i = 1; i < 4; i++) {
			struct orc_header h[3];
			char want[64];
			size_t n = 0;

			for (size_t j = 0; j < 4; j++)
				if (j != i)
					h[n++] = base[j];
			snprintf(want, sizeof(want),
				 "missing required attribute \"%s\"", names[i]);
			expect_invalid_str(h, n, "{}", want);
		}
	}
	/* step names: 63 characters at most */
	memset(long_step, 'a', 63);
	long_step[63] = '\0';
	base[4] = (struct orc_header){"ce_sagastep", long_step, 63};
	{
		struct orc_event ev;
		struct orc_error err;

		ck_assert_int_eq(parse(&ev, base, N(base), "{}", &err), ORC_OK);
		orc_event_finish(&ev);
	}
	base[4].size = 64;
	long_step[63] = 'a';
	expect_invalid_str(base, N(base), "{}",
			   "attribute \"sagastep\" is not a valid step name");
	/* a long bad value is cut short in the message */
	base[0] = (struct orc_header)H(
		"ce_specversion",
		"0123456789012345678901234567890123456789012345678901234567890");
	base[4] = (struct orc_header){"x-none", NULL, 0};
	expect_invalid_str(base, N(base), "{}",
			   "unsupported specversion "
			   "\"012345678901234567890123456789012345678901234567"
			   "...\"");
}
END_TEST

START_TEST(test_too_many_extensions)
{
	struct orc_header h[105];
	char names[101][16];
	struct orc_event ev;
	struct orc_error err;

	h[0] = (struct orc_header)H("ce_specversion", "1.0");
	h[1] = (struct orc_header)H("ce_id", "1");
	h[2] = (struct orc_header)H("ce_source", "/s");
	h[3] = (struct orc_header)H("ce_type", "t");
	for (int i = 0; i < 101; i++) {
		snprintf(names[i], sizeof(names[i]), "ce_x%d", i);
		h[4 + i] = (struct orc_header){names[i], "v", 1};
	}
	ck_assert_int_eq(parse(&ev, h, 104, "{}", &err), ORC_OK);
	ck_assert_uint_eq(ev.n_ext, 100);
	orc_event_finish(&ev);
	expect_invalid_str(h, 105, "{}", "more than 100 extension attributes");
}
END_TEST

/*
 * Found by tests/fuzz/fuzz_envelope: a ce_ header whose name is not valid
 * UTF-8 was kept as an extension under that name.  CloudEvents names are
 * [a-z0-9]+ (schemas/cloudevent.schema.json says so too); in either mode
 * any other name makes the event invalid, quoted safely in the reason.
 */
START_TEST(test_extension_names)
{
	static const struct orc_header bytes[] = {
		H("ce_specversion", "1.0"), H("ce_id", "1"),
		H("ce_source", "/s"),	    H("ce_type", "t"),
		H("ce_sa\xff\xffgastep", "reserve_inventory"),
	};
	static const struct orc_header upper[] = {
		H("ce_specversion", "1.0"), H("ce_id", "1"),
		H("ce_source", "/s"),	    H("ce_type", "t"),
		H("ce_traceId", "x"),
	};
	static const struct orc_header underscore_null[] = {
		H("ce_specversion", "1.0"), H("ce_id", "1"),
		H("ce_source", "/s"),	    H("ce_type", "t"),
		{"ce_saga_id", NULL, 0},
	};
	static const struct orc_header ce[] = {
		H("content-type", "application/cloudevents+json"),
	};

	expect_invalid_str(bytes, N(bytes), "{}",
			   "attribute name \"sa??gastep\" is not lowercase "
			   "letters and digits");
	expect_invalid_str(upper, N(upper), "{}",
			   "attribute name \"traceId\" is not lowercase "
			   "letters and digits");
	expect_invalid_str(underscore_null, N(underscore_null), "{}",
			   "attribute name \"saga_id\" is not lowercase "
			   "letters and digits");
	expect_invalid_str(ce, N(ce),
			   "{\"specversion\": \"1.0\", \"id\": \"1\", "
			   "\"source\": \"/s\", \"type\": \"t\", "
			   "\"saga_id\": \"x\"}",
			   "attribute name \"saga_id\" is not lowercase "
			   "letters and digits");
	expect_invalid_str(NULL, 0,
			   "{\"specversion\": \"1.0\", \"id\": \"1\", "
			   "\"source\": \"/s\", \"type\": \"t\", "
			   "\"partitionKey\": 7}",
			   "attribute name \"partitionKey\" is not lowercase "
			   "letters and digits");
}
END_TEST

START_TEST(test_structured_rejections)
{
	static const struct orc_header ce[] = {
		H("content-type", "application/cloudevents+json"),
	};
	static const struct {
		const char *value;
		const char *message;
	} cases[] = {
		{"{\"specversion\":\"0.3\",\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\"}",
		 "unsupported specversion \"0.3\""},
		{"{\"specversion\":1.0,\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\"}",
		 "attribute \"specversion\" is not a string"},
		{"{\"specversion\":null,\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\"}",
		 "missing required attribute \"specversion\""},
		{"{\"specversion\":\"1.0\",\"source\":\"/s\",\"type\":\"t\"}",
		 "missing required attribute \"id\""},
		{"{\"specversion\":\"1.0\",\"id\":\"1\",\"type\":\"t\"}",
		 "missing required attribute \"source\""},
		{"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\"}",
		 "missing required attribute \"type\""},
		{"{\"specversion\":\"1.0\",\"id\":7,\"source\":\"/s\","
		 "\"type\":\"t\"}",
		 "attribute \"id\" is not a string"},
		{"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\",\"sagaid\":42}",
		 "attribute \"sagaid\" is not a string"},
		{"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\",\"sagaid\":\"42\"}",
		 "attribute \"sagaid\" is not a UUID"},
		{"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\",\"sagastep\":\"Step\"}",
		 "attribute \"sagastep\" is not a valid step name"},
		{"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\",\"tenant\":{\"a\":1}}",
		 "attribute \"tenant\" is not a string, integer or boolean"},
		{"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\",\"ratio\":0.5}",
		 "attribute \"ratio\" is not a string, integer or boolean"},
		{"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\",\"data\":1,\"data_base64\":\"MQ==\"}",
		 "attributes \"data\" and \"data_base64\" are mutually "
		 "exclusive"},
		{"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\",\"data_base64\":1}",
		 "attribute \"data_base64\" is not a string"},
		{"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\",\"data_base64\":\"ab!d\"}",
		 "attribute \"data_base64\" is not valid base64"},
		{"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\",\"data_base64\":\"abcde\"}",
		 "attribute \"data_base64\" is not valid base64"},
		{"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\",\"data_base64\":\"abc==\"}",
		 "attribute \"data_base64\" is not valid base64"},
		{"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\",\"data_base64\":\"ab c\"}",
		 "attribute \"data_base64\" is not valid base64"},
		/* "{x" */
		{"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\",\"data_base64\":\"e3g=\"}",
		 "data is not valid JSON: string or '}' expected near 'x' at "
		 "line 1 column 2"},
		{"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\",\"subject\":\"\"}",
		 "attribute \"subject\" is empty"},
		{"[1]", "structured event is not a JSON object"},
		{"{\"a\":", "structured event is not a valid JSON object: "
			    "unexpected token near end of file at line 1 "
			    "column 5"},
		{"", "structured event is not a valid JSON object: '[' or '{' "
		     "expected near end of file at line 1 column 0"},
	};

	for (size_t i = 0; i < N(cases); i++)
		expect_invalid_str(ce, N(ce), cases[i].value, cases[i].message);
	expect_invalid(ce, N(ce), NULL, 0, "structured event has no value");
}
END_TEST

/*
 * jansson's message quotes the token it choked on, bytes and all: an
 * escape cut short before bytes that are not UTF-8 (found by fuzz_envelope)
 * must still give a message that is text, with those bytes as '?'.
 */
START_TEST(test_message_of_bad_bytes_is_text)
{
	static const struct orc_header ce[] = {
		H("content-type", "application/cloudevents+json"),
	};
	static const char value[] =
		"{\"specversion\":\"1.0\",\"id\":\"evt-2\",\"source\":\"/scanner\","
		"\"type\":\"labelrinted\",\"datacontenttype\":\"applicat\\ud8"
		"\xd0\x9b\xa3\x8a" "de00ion/octet-stream\","
		"\"data_base64\":\"aGVsbG8gd29ybGQ=\"}";
	struct orc_event ev;
	struct orc_error err;

	ck_assert_int_eq(parse(&ev, ce, N(ce), value, &err), ORC_INVALID);
	ck_assert_msg(orc_text_utf8_valid(err.message, strlen(err.message)),
		      "message is not UTF-8: %s", err.message);
	ck_assert_str_eq(err.message,
			 "structured event is not a valid JSON object: invalid "
			 "escape near '\"applicat\\ud8?' at line 1 column 107");
	ck_assert_ptr_null(ev.id);
	orc_event_finish(&ev);
}
END_TEST

START_TEST(test_neither_mode)
{
	static const char *const values[] = {
		"hello", "{\"id\":\"1\"}", "[{\"specversion\":\"1.0\"}]",
		"",	 NULL,
	};
	static const struct orc_header plain[] = {
		H("content-type", "application/json"),
		H("ce_id", "1"),
	};
	static const struct orc_header batch[] = {
		H("content-type", "application/cloudevents-batch+json"),
	};
	const char *want = "value is neither a binary-mode CloudEvent (no "
			   "ce_specversion header) nor a structured one";

	for (size_t i = 0; i < N(values); i++) {
		expect_invalid_str(NULL, 0, values[i], want);
		expect_invalid_str(plain, N(plain), values[i], want);
	}
	expect_invalid_str(batch, N(batch), "[]",
			   "unsupported event format "
			   "\"application/cloudevents-batch+json\"");
}
END_TEST

START_TEST(test_traceparent)
{
	struct orc_header h[] = {
		H("ce_specversion", "1.0"),
		H("ce_id", "1"),
		H("ce_source", "/s"),
		H("ce_type", "t"),
		H("ce_traceparent", TP2),
		H("TraceParent", TP),
	};
	static const struct orc_header ce[] = {
		H("content-type", "application/cloudevents+json"),
	};
	struct orc_event ev;
	struct orc_error err;

	/* the traceparent header wins over the attribute */
	ck_assert_int_eq(parse(&ev, h, N(h), "{}", &err), ORC_OK);
	ck_assert_str_eq(ev.traceparent, TP);
	ck_assert_uint_eq(ev.n_ext, 0);
	orc_event_finish(&ev);
	/* unless it is invalid */
	h[5] = (struct orc_header)H("traceparent", "garbage");
	ck_assert_int_eq(parse(&ev, h, N(h), "{}", &err), ORC_OK);
	ck_assert_str_eq(ev.traceparent, TP2);
	orc_event_finish(&ev);
	h[4] = (struct orc_header)H("ce_traceparent", "00-nope");
	ck_assert_int_eq(parse(&ev, h, N(h), "{}", &err), ORC_OK);
	ck_assert_ptr_null(ev.traceparent);
	orc_event_finish(&ev);
	/*
	 * Found by tests/fuzz/fuzz_envelope: the fields a later version may
	 * append carried bytes that are not UTF-8 into ev.traceparent, and
	 * from there into the commands and the database.  Printable ASCII
	 * is kept, anything else drops the value.
	 */
	h[4] = (struct orc_header)H("ce_traceparent", TP_V1 "-ok");
	h[5] = (struct orc_header)H("traceparent", TP_V1 "-\xc5\xc5");
	ck_assert_int_eq(parse(&ev, h, N(h), "{}", &err), ORC_OK);
	ck_assert_str_eq(ev.traceparent, TP_V1 "-ok");
	orc_event_finish(&ev);
	h[4] = (struct orc_header)H("ce_traceparent", TP_V1 "-\x7f");
	ck_assert_int_eq(parse(&ev, h, N(h), "{}", &err), ORC_OK);
	ck_assert_ptr_null(ev.traceparent);
	orc_event_finish(&ev);
	ck_assert_int_eq(parse(&ev, ce, N(ce),
			       "{\"specversion\": \"1.0\", \"id\": \"1\", "
			       "\"source\": \"/s\", \"type\": \"t\", "
			       "\"traceparent\": \"" TP_V1 "-\u00e9\"}",
			       &err),
			 ORC_OK);
	ck_assert_ptr_null(ev.traceparent);
	orc_event_finish(&ev);

	ck_assert(orc_text_traceparent_valid(TP));
	ck_assert(orc_text_traceparent_valid(
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz"));
	ck_assert(!orc_text_traceparent_valid(NULL));
	ck_assert(!orc_text_traceparent_valid(""));
	ck_assert(!orc_text_traceparent_valid(TP "-x")); /* 00 ends at flags */
	ck_assert(!orc_text_traceparent_valid(
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
	ck_assert(!orc_text_traceparent_valid(
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
	ck_assert(!orc_text_traceparent_valid(
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
	ck_assert(!orc_text_traceparent_valid(
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
	ck_assert(!orc_text_traceparent_valid(
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
	ck_assert(!orc_text_traceparent_valid(
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
}
END_TEST

START_TEST(test_uuid_valid)
{
	ck_assert(orc_text_uuid_valid(SAGA));
	ck_assert(orc_text_uuid_valid("5B9C3D2E-6F7A-4B8C-9D0E-1F2A3B4C5D6E"));
	ck_assert(orc_text_uuid_valid("00000000-0000-0000-0000-000000000000"));
	ck_assert(!orc_text_uuid_valid(NULL));
	ck_assert(!orc_text_uuid_valid(""));
	ck_assert(!orc_text_uuid_valid("5b9c3d2e6f7a4b8c9d0e1f2a3b4c5d6e"));
	ck_assert(!orc_text_uuid_valid("{5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6e}"));
	ck_assert(!orc_text_uuid_valid("5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6e "));
	ck_assert(!orc_text_uuid_valid("5b9c3d2e-6f7a-4b8c-9d0e_1f2a3b4c5d6e"));
	ck_assert(!orc_text_uuid_valid("5b9c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6z"));
}
END_TEST

START_TEST(test_time_format)
{
	static const struct {
		int64_t ms;
		const char *want;
	} cases[] = {
		{0, "1970-01-01T00:00:00.000Z"},
		{1795762800123LL, "2026-11-27T07:00:00.123Z"},
		{1709251199999LL, "2024-02-29T23:59:59.999Z"},
		{-1, "1969-12-31T23:59:59.999Z"},
		{-2203891200000LL, "1900-03-01T00:00:00.000Z"},
		{253402300799999LL, "9999-12-31T23:59:59.999Z"},
	};
	char buf[32];

	for (size_t i = 0; i < N(cases); i++) {
		orc_text_rfc3339(cases[i].ms, buf);
		ck_assert_str_eq(buf, cases[i].want);
	}
	/* agrees with gmtime_r over a spread of times */
	for (int64_t ms = -4102444800000LL; ms < 7258118400000LL;
	     ms += 86400000LL * 37 + 3600000 * 5 + 60000 * 7 + 1013) {
		time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
		struct tm tm;
		char want[64];

		ck_assert_ptr_nonnull(gmtime_r(&t, &tm));
		snprintf(want, sizeof(want),
			 "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (int)(((ms % 1000) + 1000) % 1000));
		orc_text_rfc3339(ms, buf);
		ck_assert_str_eq(buf, want);
	}
	/* the extremes fit */
	orc_text_rfc3339(INT64_MAX, buf);
	ck_assert_uint_lt(strlen(buf), 32);
	ck_assert_str_eq(buf + strlen(buf) - 5, ".807Z");
	orc_text_rfc3339(INT64_MIN, buf);
	ck_assert_uint_lt(strlen(buf), 32);
	ck_assert_str_eq(buf + strlen(buf) - 5, ".192Z");
}
END_TEST

START_TEST(test_command_round_trip)
{
	struct orc_envelope_command cmd = {
		.id = "7d4b0c1e-6a0a-4b8e-9d4e-0f6f2f1d9a10",
		.source = "/orchestrator/order_fulfillment",
		.type = "inventory.reserve",
		.time_ms = 1795762800123LL,
		.sagaid = SAGA,
		.sagastep = "reserve_inventory",
		.replyto = "saga.replies",
		.traceparent = TP,
	};
	static const char *const names[] = {
		"ce_specversion", "ce_id",	 "ce_source",	"ce_type",
		"ce_time",	  "content-type", "ce_sagaid", "ce_sagastep",
		"ce_replyto",	  "traceparent",
	};
	struct orc_header h[ORC_ENVELOPE_COMMAND_HEADERS];
	struct orc_event ev;
	struct orc_error err;
	size_t n = orc_envelope_command_headers(&cmd, h);
	const char *data = "{\"order_id\":\"o-1\",\"qty\":[1,2]}";
	json_t *want;

	ck_assert_uint_eq(n, 10);
	for (size_t i = 0; i < n; i++) {
		ck_assert_str_eq(h[i].name, names[i]);
		ck_assert_uint_eq(h[i].size, strlen(h[i].value));
	}
	ck_assert_str_eq(h[0].value, "1.0");
	ck_assert_str_eq(h[4].value, "2026-11-27T07:00:00.123Z");
	ck_assert_ptr_eq(h[4].value, cmd.time);
	ck_assert_str_eq(h[5].value, "application/json");

	ck_assert_msg(orc_event_parse(&ev, data, strlen(data), SAGA,
				      strlen(SAGA), h, n, &err) == ORC_OK,
		      "%s", err.message);
	ck_assert_int_eq(ev.mode, ORC_EVENT_MODE_BINARY);
	ck_assert_str_eq(ev.specversion, "1.0");
	ck_assert_str_eq(ev.id, cmd.id);
	ck_assert_str_eq(ev.source, cmd.source);
	ck_assert_str_eq(ev.type, cmd.type);
	ck_assert_str_eq(ev.time, "2026-11-27T07:00:00.123Z");
	ck_assert_str_eq(ev.datacontenttype, "application/json");
	ck_assert_str_eq(ev.sagaid, cmd.sagaid);
	ck_assert_str_eq(ev.sagastep, cmd.sagastep);
	ck_assert_str_eq(ev.replyto, cmd.replyto);
	ck_assert_str_eq(ev.traceparent, cmd.traceparent);
	ck_assert_str_eq(ev.key, SAGA);
	ck_assert_uint_eq(ev.n_ext, 0);
	want = json_loads(data, 0, NULL);
	ck_assert(json_equal(ev.data, want));
	json_decref(want);
	orc_event_finish(&ev);

	/* no trace known (or an invalid one): no traceparent header */
	cmd.traceparent = NULL;
	ck_assert_uint_eq(orc_envelope_command_headers(&cmd, h), 9);
	cmd.traceparent = "junk";
	ck_assert_uint_eq(orc_envelope_command_headers(&cmd, h), 9);
	ck_assert_str_eq(h[8].name, "ce_replyto");
	ck_assert_int_eq(orc_event_parse(&ev, "{}", 2, NULL, 0, h, 9, &err),
			 ORC_OK);
	ck_assert_ptr_null(ev.traceparent);
	orc_event_finish(&ev);
}
END_TEST

START_TEST(test_mode_names)
{
	ck_assert_str_eq(orc_event_mode_name(ORC_EVENT_MODE_BINARY), "binary");
	ck_assert_str_eq(orc_event_mode_name(ORC_EVENT_MODE_STRUCTURED),
			 "structured");
	ck_assert_str_eq(orc_event_mode_name((enum orc_event_mode)99),
			 "unknown");
}
END_TEST

/* The four required attributes, the rest of a minimal binary event. */
#define REQUIRED                                                         \
	H("ce_specversion", "1.0"), H("ce_id", "1"), H("ce_source", "/s"), \
	    H("ce_type", "t")

/* A string of n copies of c, in buf (n < size). */
static const char *
filled(char *buf, size_t n, char c)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/*
 * Each attribute's bound (envelope.h, ORC_ENVELOPE_*_MAX), in binary and
 * structured mode: at the bound accepted, one byte over rejected with the
 * reason naming it.
 */
START_TEST(test_attribute_limits)
{
	static const struct {
		const char *attr;
		size_t max;
		char fill;
	} limits[] = {
		{"id", ORC_ENVELOPE_ID_MAX, 'i'},
		{"source", ORC_ENVELOPE_SOURCE_MAX, 's'},
		{"type", ORC_ENVELOPE_TYPE_MAX, 't'},
		{"subject", ORC_ENVELOPE_SUBJECT_MAX, 'u'},
		{"dataschema", ORC_ENVELOPE_DATASCHEMA_MAX, 'd'},
		{"time", ORC_ENVELOPE_TIME_MAX, '1'},
		{"replyto", ORC_ENVELOPE_REPLYTO_MAX, 'r'},
		{"tenant", ORC_ENVELOPE_EXT_VALUE_MAX, 'x'},
	};
	static char v[ORC_ENVELOPE_EXT_VALUE_MAX + 2];
	char name[32], want[128];

	for (size_t i = 0; i < N(limits); i++) {
		for (size_t over = 0; over < 2; over++) {
			struct orc_header h[] = {
				REQUIRED,
				{name, v, limits[i].max + over},
			};
			struct orc_event ev;
			struct orc_error err;
			json_t *root;
			char *text;

			snprintf(name, sizeof(name), "ce_%s", limits[i].attr);
			filled(v, limits[i].max + over, limits[i].fill);
			root = json_pack("{s:s, s:s, s:s, s:s}",
					 "specversion", "1.0", "id", "1",
					 "source", "/s", "type", "t");
			json_object_set_new(root, limits[i].attr,
					    json_string(v));
			text = json_dumps(root, 0);
			json_decref(root);
			if (over == 0) {
				ck_assert_msg(parse(&ev, h, N(h), "{}",
						    &err) == ORC_OK,
					      "%s: %s", limits[i].attr,
					      err.message);
				ck_assert_uint_eq(
				    strlen(orc_event_attribute(
					&ev, limits[i].attr)),
				    limits[i].max);
				orc_event_finish(&ev);
				ck_assert_int_eq(parse(&ev, NULL, 0, text,
						       &err),
						 ORC_OK);
				orc_event_finish(&ev);
			} else {
				snprintf(want, sizeof(want),
					 "attribute \"%s\" is %zu bytes, "
					 "longer than %zu",
					 limits[i].attr, limits[i].max + 1,
					 limits[i].max);
				expect_invalid_str(h, N(h), "{}", want);
				expect_invalid_str(NULL, 0, text, want);
			}
			free(text);
		}
	}
}
END_TEST

/* sagaid and sagastep are bounded by their formats. */
START_TEST(test_format_limits)
{
	char step[ORC_ENVELOPE_SAGASTEP_MAX + 2];
	struct orc_header h[] = {
		REQUIRED,
		{"ce_sagastep", step, 0},
		H("ce_sagaid", SAGA "0"),
	};
	struct orc_event ev;
	struct orc_error err;

	filled(step, ORC_ENVELOPE_SAGASTEP_MAX, 'a');
	h[4].size = ORC_ENVELOPE_SAGASTEP_MAX;
	ck_assert_int_eq(parse(&ev, h, 5, "{}", &err), ORC_OK);
	orc_event_finish(&ev);
	h[4].size++;
	step[ORC_ENVELOPE_SAGASTEP_MAX] = 'a';
	expect_invalid_str(h, 5, "{}",
			   "attribute \"sagastep\" is not a valid step name");
	h[4].size--;
	ck_assert_uint_eq(strlen(SAGA), ORC_ENVELOPE_SAGAID_MAX);
	expect_invalid_str(h, 6, "{}", "attribute \"sagaid\" is not a UUID");
}
END_TEST

/* The content-type header is datacontenttype, bounded the same way. */
START_TEST(test_content_type_limit)
{
	static char v[ORC_ENVELOPE_CONTENT_TYPE_MAX + 2];
	struct orc_header h[] = {
		REQUIRED,
		{"content-type", v, 0},
	};
	struct orc_event ev;
	struct orc_error err;
	char want[128];

	memcpy(v, "text/", 5);
	memset(v + 5, 'p', sizeof(v) - 6);
	h[4].size = ORC_ENVELOPE_CONTENT_TYPE_MAX;
	ck_assert_int_eq(parse(&ev, h, N(h), "x", &err), ORC_OK);
	ck_assert_uint_eq(strlen(ev.datacontenttype),
			  ORC_ENVELOPE_CONTENT_TYPE_MAX);
	orc_event_finish(&ev);
	h[4].size = ORC_ENVELOPE_CONTENT_TYPE_MAX + 1;
	snprintf(want, sizeof(want),
		 "attribute \"datacontenttype\" is %d bytes, longer than %d",
		 ORC_ENVELOPE_CONTENT_TYPE_MAX + 1,
		 ORC_ENVELOPE_CONTENT_TYPE_MAX);
	expect_invalid_str(h, N(h), "x", want);
}
END_TEST

/* An extension's name has a bound of its own, in both modes. */
START_TEST(test_extension_name_limit)
{
	char name[ORC_ENVELOPE_EXT_NAME_MAX + 8], want[200];
	struct orc_header h[] = {
		REQUIRED,
		{name, "v", 1},
	};
	struct orc_event ev;
	struct orc_error err;

	memcpy(name, "ce_", 3);
	filled(name + 3, ORC_ENVELOPE_EXT_NAME_MAX, 'n');
	ck_assert_int_eq(parse(&ev, h, N(h), "{}", &err), ORC_OK);
	ck_assert_uint_eq(ev.n_ext, 1);
	orc_event_finish(&ev);
	filled(name + 3, ORC_ENVELOPE_EXT_NAME_MAX + 1, 'n');
	snprintf(want, sizeof(want),
		 "attribute name \"%.48s...\" is %d bytes, longer than %d",
		 name + 3, ORC_ENVELOPE_EXT_NAME_MAX + 1,
		 ORC_ENVELOPE_EXT_NAME_MAX);
	expect_invalid_str(h, N(h), "{}", want);
}
END_TEST

/*
 * The header count, their bytes in all and the key, checked before
 * anything is read: a message is never parsed on a prefix of its headers.
 */
START_TEST(test_message_limits)
{
	static struct orc_header h[ORC_ENVELOPE_HEADERS_MAX + 1];
	static char big[ORC_ENVELOPE_HEADER_BYTES_MAX];
	static char key[ORC_ENVELOPE_KEY_MAX + 1];
	struct orc_event ev;
	struct orc_error err;
	size_t n = 4;
	char want[128];

	h[0] = (struct orc_header)H("ce_specversion", "1.0");
	h[1] = (struct orc_header)H("ce_id", "1");
	h[2] = (struct orc_header)H("ce_source", "/s");
	h[3] = (struct orc_header)H("ce_type", "t");
	for (size_t i = n; i < N(h); i++)
		h[i] = (struct orc_header)H("x-other", "v");
	ck_assert_int_eq(parse(&ev, h, ORC_ENVELOPE_HEADERS_MAX, "{}", &err),
			 ORC_OK);
	orc_event_finish(&ev);
	snprintf(want, sizeof(want), "%d headers, more than %d",
		 ORC_ENVELOPE_HEADERS_MAX + 1, ORC_ENVELOPE_HEADERS_MAX);
	expect_invalid_str(h, N(h), "{}", want);

	/* names and values, all headers: 42 bytes above, then x-big */
	h[4] = (struct orc_header){"x-big", big,
				   ORC_ENVELOPE_HEADER_BYTES_MAX - 42 - 5};
	ck_assert_int_eq(parse(&ev, h, 5, "{}", &err), ORC_OK);
	orc_event_finish(&ev);
	h[4].size++;
	snprintf(want, sizeof(want),
		 "headers are %d bytes in all, more than %d",
		 ORC_ENVELOPE_HEADER_BYTES_MAX + 1,
		 ORC_ENVELOPE_HEADER_BYTES_MAX);
	expect_invalid_str(h, 5, "{}", want);

	memset(key, 'k', sizeof(key));
	ck_assert_int_eq(orc_event_parse(&ev, "{}", 2, key,
					 ORC_ENVELOPE_KEY_MAX, h, 4, &err),
			 ORC_OK);
	ck_assert_uint_eq(ev.key_len, ORC_ENVELOPE_KEY_MAX);
	orc_event_finish(&ev);
	ck_assert_int_eq(orc_event_parse(&ev, "{}", 2, key,
					 ORC_ENVELOPE_KEY_MAX + 1, h, 4, &err),
			 ORC_INVALID);
	snprintf(want, sizeof(want), "key is %d bytes, longer than %d",
		 ORC_ENVELOPE_KEY_MAX + 1, ORC_ENVELOPE_KEY_MAX);
	ck_assert_str_eq(err.message, want);
	ck_assert_ptr_null(ev.key);
	orc_event_finish(&ev);
}
END_TEST

/* A traceparent over its bound is dropped, as an invalid one is. */
START_TEST(test_traceparent_limit)
{
	static char tp[ORC_ENVELOPE_TRACEPARENT_MAX + 2];
	struct orc_header h[] = {
		REQUIRED,
		{"traceparent", tp, 0},
	};
	struct orc_event ev;
	struct orc_error err;

	memcpy(tp, TP_V1 "-", sizeof(TP_V1));
	memset(tp + sizeof(TP_V1), 'f', sizeof(tp) - sizeof(TP_V1) - 1);
	h[4].size = ORC_ENVELOPE_TRACEPARENT_MAX;
	ck_assert_int_eq(parse(&ev, h, N(h), "{}", &err), ORC_OK);
	ck_assert_uint_eq(strlen(ev.traceparent),
			  ORC_ENVELOPE_TRACEPARENT_MAX);
	orc_event_finish(&ev);
	h[4].size = ORC_ENVELOPE_TRACEPARENT_MAX + 1;
	ck_assert_int_eq(parse(&ev, h, N(h), "{}", &err), ORC_OK);
	ck_assert_ptr_null(ev.traceparent);
	orc_event_finish(&ev);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("envelope");
	TCase *tc = tcase_create("envelope");

	tcase_add_test(tc, test_binary_full);
	tcase_add_test(tc, test_sagastep_map_item);
	tcase_add_test(tc, test_binary_minimal);
	tcase_add_test(tc, test_binary_last_header_wins);
	tcase_add_test(tc, test_structured_with_data);
	tcase_add_test(tc, test_structured_without_content_type);
	tcase_add_test(tc, test_structured_content_type_wins);
	tcase_add_test(tc, test_structured_charset);
	tcase_add_test(tc, test_structured_data_base64);
	tcase_add_test(tc, test_non_json_data);
	tcase_add_test(tc, test_nul_in_header);
	tcase_add_test(tc, test_binary_rejections);
	tcase_add_test(tc, test_too_many_extensions);
	tcase_add_test(tc, test_extension_names);
	tcase_add_test(tc, test_structured_rejections);
	tcase_add_test(tc, test_neither_mode);
	tcase_add_test(tc, test_message_of_bad_bytes_is_text);
	tcase_add_test(tc, test_traceparent);
	tcase_add_test(tc, test_uuid_valid);
	tcase_add_test(tc, test_time_format);
	tcase_add_test(tc, test_command_round_trip);
	tcase_add_test(tc, test_mode_names);
	tcase_add_test(tc, test_attribute_limits);
	tcase_add_test(tc, test_format_limits);
	tcase_add_test(tc, test_content_type_limit);
	tcase_add_test(tc, test_extension_name_limit);
	tcase_add_test(tc, test_message_limits);
	tcase_add_test(tc, test_traceparent_limit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
