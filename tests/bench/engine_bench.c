/*
 * engine_bench.c - how many saga transitions the pure engine makes per
 * second on one core.
 *
 * Drives the order saga of schemas/examples/order_fulfillment.json through
 * complete happy-path runs in memory - start, then the replies of
 * reserve_inventory, charge_payment, notify_customer and ship (the review is
 * skipped for a small order), five transitions and four commands per saga -
 * for a few seconds, the way the worker would between reading a batch and
 * writing it: a fresh saga state per instance, one effects list reused for
 * every input.  Prints transitions/s and sagas/s and writes them as JSON.
 *
 * usage: engine_bench [result.json] [seconds]
 *        (defaults: engine-bench.json, 3)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

#define DEFINITION ORC_SOURCE_DIR "/schemas/examples/order_fulfillment.json"

struct reply {
	const char *step;
	const char *type;
	json_t *data;
};

static double
seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *
parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, 0, &jerr);

	if (v == NULL) {
		fprintf(stderr, "engine_bench: %s\n", jerr.text);
		exit(1);
	}
	return v;
}

/* One saga from start to completed; returns its transitions (0 = error). */
static int
run_saga(const struct orc_definition *def, uint64_t n, json_t *trigger,
	 const struct reply *replies, size_t n_replies,
	 struct orc_effects *fx, size_t *commands)
{
	struct orc_engine_input in = {.kind = ORC_INPUT_START};
	struct orc_saga saga;
	struct orc_error err;
	char id[64];
	int64_t now = 1700000000000;
	int transitions = 0;

	snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012" PRIx64, n);
	if (orc_saga_init(&saga, def) != ORC_OK)
		return 0;
	in.saga_id = id;
	in.event_id = id;
	in.data = trigger;
	if (orc_engine_apply(&saga, &in, now, fx, &err) != ORC_OK)
		goto fail;
	transitions++;
	for (size_t e = 0; e < fx->n; e++)
		*commands += fx->v[e].kind == ORC_EFFECT_COMMAND;
	for (size_t k = 0; k < n_replies; k++) {
		in = (struct orc_engine_input){
			.kind = ORC_INPUT_REPLY,
			.step = replies[k].step,
			.type = replies[k].type,
			.event_id = replies[k].type,
			.data = replies[k].data,
		};
		now += 3;
		if (orc_engine_apply(&saga, &in, now, fx, &err) != ORC_OK ||
		    fx->result != ORC_RESULT_APPLIED)
			goto fail;
		transitions++;
		for (size_t e = 0; e < fx->n; e++)
			*commands += fx->v[e].kind == ORC_EFFECT_COMMAND;
	}
	if (saga.status != ORC_SAGA_COMPLETED) {
		fprintf(stderr, "engine_bench: saga ended %s\n",
			orc_saga_status_name(saga.status));
		transitions = 0;
	}
	orc_saga_finish(&saga);
	return transitions;
fail:
	fprintf(stderr, "engine_bench: %s %s\n", err.message, err.detail);
	orc_saga_finish(&saga);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *out = argc > 1 ? argv[1] : "engine-bench.json";
	double budget = argc > 2 ? atof(argv[2]) : 3.0;
	struct orc_definition_issues issues = {0};
	struct orc_definition *def = NULL;
	struct orc_error err;
	struct orc_effects fx;
	struct reply replies[] = {
		{"reserve_inventory", "inventory.reserved",
		 parse("{\"reservation_id\": \"r-8812\", \"expires\": "
		       "\"2024-06-01T12:00:00Z\"}")},
		{"charge_payment", "payment.charged",
		 parse("{\"payment_id\": \"p-5531\", \"amount\": 59.9}")},
		{"notify_customer", "notification.sent",
		 parse("{\"message_id\": \"m-1\"}")},
		{"ship", "shipping.scheduled",
		 parse("{\"tracking\": \"1Z999AA10123456784\"}")},
	};
	json_t *trigger = parse(
		"{\"order_id\": \"o-1001\", \"customer_id\": \"c-42\","
		" \"total\": 59.9, \"currency\": \"EUR\","
		" \"items\": [{\"sku\": \"book-1\", \"qty\": 1},"
		" {\"sku\": \"pen-2\", \"qty\": 3}],"
		" \"shipping_address\": {\"country\": \"NL\", \"city\": "
		"\"Delft\", \"street\": \"Mekelweg 4\"}}");
	uint64_t sagas = 0, transitions = 0;
	size_t commands = 0;
	double wall0, cpu0, wall, cpu;
	FILE *f;

	if (budget <= 0)
		budget = 3.0;
	if (orc_definition_load_file(DEFINITION, &def, &issues, &err) !=
	    ORC_OK) {
		fprintf(stderr, "engine_bench: %s: cannot load (%s)\n",
			DEFINITION, err.message);
		for (size_t i = 0; i < issues.n; i++)
			fprintf(stderr, "  %s: %s\n", issues.v[i].pointer,
				issues.v[i].message);
		return 1;
	}
	orc_effects_init(&fx);

	wall0 = seconds(CLOCK_MONOTONIC);
	cpu0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
	do {
		for (int k = 0; k < 256; k++) {
			int t = run_saga(def, sagas, trigger, replies, 4, &fx,
					 &commands);

			if (t == 0)
				return 1;
			transitions += (uint64_t)t;
			sagas++;
		}
		wall = seconds(CLOCK_MONOTONIC) - wall0;
	} while (wall < budget);
	cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0;

	printf("engine_bench: %s, %" PRIu64 " sagas, %" PRIu64
	       " transitions, %zu commands in %.2f s (cpu %.2f s)\n",
	       def->name, sagas, transitions, commands, wall, cpu);
	printf("engine_bench: %.0f transitions/s, %.0f sagas/s, %.2f us per "
	       "transition (one core)\n",
	       (double)transitions / wall, (double)sagas / wall,
	       wall * 1e6 / (double)transitions);

	f = fopen(out, "w");
	if (f == NULL) {
		perror(out);
		return 1;
	}
	fprintf(f,
		"{\"benchmark\": \"engine\", \"definition\": \"%s\","
		" \"scenario\": \"happy_path\", \"seconds\": %.3f,"
		" \"cpu_seconds\": %.3f, \"sagas\": %" PRIu64
		", \"transitions\": %" PRIu64 ", \"commands\": %zu,"
		" \"transitions_per_s\": %.0f, \"sagas_per_s\": %.0f,"
		" \"us_per_transition\": %.3f}\n",
		def->name, wall, cpu, sagas, transitions, commands,
		(double)transitions / wall, (double)sagas / wall,
		wall * 1e6 / (double)transitions);
	if (fclose(f) != 0) {
		perror(out);
		return 1;
	}

	for (size_t k = 0; k < 4; k++)
		json_decref(replies[k].data);
	json_decref(trigger);
	orc_effects_finish(&fx);
	orc_definition_destroy(def);
	orc_definition_issues_finish(&issues);
	return 0;
}
