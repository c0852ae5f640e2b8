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
 * Then runs the map saga of tests/bench/definitions/bench_map100.json with
 * 1,000 and with 10,000 items, every item answered as soon as its command
 * is out, and reports the time per item for each and their ratio: near 1
 * when the engine's work per item does not grow with the map (a quadratic
 * step would make it near 10).
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
#define MAP_DEFINITION ORC_SOURCE_DIR "/tests/bench/definitions/bench_map100.json"
#define MAP_SMALL 1000
#define MAP_LARGE 10000

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

static struct orc_definition *
load(const char *path)
{
	struct orc_definition_issues issues = {0};
	struct orc_definition *def = NULL;
	struct orc_error err;

	if (orc_definition_load_file(path, &def, &issues, &err) != ORC_OK) {
		fprintf(stderr, "engine_bench: %s: cannot load (%s)\n", path,
			err.message);
		for (size_t i = 0; i < issues.n; i++)
			fprintf(stderr, "  %s: %s\n", issues.v[i].pointer,
				issues.v[i].message);
		def = NULL;
	}
	orc_definition_issues_finish(&issues);
	return def;
}

/* Queue the map items the last apply sent commands for; the new tail. */
static size_t
queue_items(const struct orc_effects *fx, int64_t *queue, size_t tail,
	    size_t n)
{
	for (size_t e = 0; e < fx->n; e++)
		if (fx->v[e].kind == ORC_EFFECT_COMMAND && fx->v[e].item >= 0 &&
		    tail < n)
			queue[tail++] = fx->v[e].item;
	return tail;
}

/*
 * One map saga of n items from start to completed, every item's reply
 * applied as soon as its command is out; the seconds it took, or -1.
 */
static double
run_map(const struct orc_definition *def, size_t n, struct orc_effects *fx)
{
	json_t *items = json_array(), *input = json_object();
	int64_t *queue = malloc(n * sizeof(*queue));
	struct orc_engine_input in = {.kind = ORC_INPUT_START,
				      .saga_id = "map-saga",
				      .event_id = "map-start"};
	struct orc_saga saga;
	struct orc_error err;
	size_t head = 0, tail = 0;
	int64_t now = 1700000000000;
	double t0 = -1, secs = -1;
	char step[48];

	orc_error_clear(&err);
	if (items == NULL || input == NULL || queue == NULL ||
	    orc_saga_init(&saga, def) != ORC_OK) {
		fprintf(stderr, "engine_bench: out of memory\n");
		exit(1);
	}
	for (size_t k = 0; k < n; k++)
		json_array_append_new(items, json_pack("{s:I}", "sku",
						       (json_int_t)k));
	json_object_set_new(input, "id", json_string("map-saga"));
	json_object_set_new(input, "total", json_integer(1));
	json_object_set_new(input, "items", items);
	in.data = input;
	t0 = seconds(CLOCK_MONOTONIC);
	if (orc_engine_apply(&saga, &in, now, fx, &err) != ORC_OK)
		goto out;
	tail = queue_items(fx, queue, tail, n);
	while (head < tail) {
		snprintf(step, sizeof(step), "reserve[%" PRId64 "]",
			 queue[head++]);
		in = (struct orc_engine_input){
			.kind = ORC_INPUT_REPLY,
			.step = step,
			.type = "service.succeeded",
			.event_id = step,
		};
		now++;
		if (orc_engine_apply(&saga, &in, now, fx, &err) != ORC_OK)
			goto out;
		if (fx->result != ORC_RESULT_APPLIED) {
			fprintf(stderr, "engine_bench: map of %zu: the reply "
				"of %s was not applied\n", n, step);
			goto out;
		}
		tail = queue_items(fx, queue, tail, n);
	}
	in = (struct orc_engine_input){.kind = ORC_INPUT_REPLY,
				       .step = "ship",
				       .type = "service.succeeded",
				       .event_id = "ship"};
	if (tail != n ||
	    orc_engine_apply(&saga, &in, now, fx, &err) != ORC_OK ||
	    saga.status != ORC_SAGA_COMPLETED) {
		fprintf(stderr, "engine_bench: map of %zu ended %s after %zu "
			"items\n", n, orc_saga_status_name(saga.status), tail);
		goto out;
	}
	secs = seconds(CLOCK_MONOTONIC) - t0;
out:
	if (secs < 0 && err.message[0] != '\0')
		fprintf(stderr, "engine_bench: map of %zu: %s %s\n", n,
			err.message, err.detail);
	orc_saga_finish(&saga);
	json_decref(input);
	free(queue);
	return secs;
}

int
main(int argc, char **argv)
{
	const char *out = argc > 1 ? argv[1] : "engine-bench.json";
	double budget = argc > 2 ? atof(argv[2]) : 3.0;
	struct orc_definition *def, *map_def;
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
	double wall0, cpu0, wall, cpu, map_small, map_large, us_small, us_large;
	FILE *f;

	if (budget <= 0)
		budget = 3.0;
	def = load(DEFINITION);
	map_def = load(MAP_DEFINITION);
	if (def == NULL || map_def == NULL)
		return 1;
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

	/* the smaller map first, once to warm up, then once measured */
	if (run_map(map_def, MAP_SMALL, &fx) < 0)
		return 1;
	map_small = run_map(map_def, MAP_SMALL, &fx);
	map_large = run_map(map_def, MAP_LARGE, &fx);
	if (map_small < 0 || map_large < 0)
		return 1;
	us_small = map_small * 1e6 / MAP_SMALL;
	us_large = map_large * 1e6 / MAP_LARGE;
	printf("engine_bench: %s, %d items in %.3f s (%.2f us per item), "
	       "%d items in %.3f s (%.2f us per item): ratio %.2f\n",
	       map_def->name, MAP_SMALL, map_small, us_small, MAP_LARGE,
	       map_large, us_large, us_large / us_small);

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
		" \"us_per_transition\": %.3f,"
		" \"map\": {\"definition\": \"%s\", \"items\": [%d, %d],"
		" \"seconds\": [%.4f, %.4f], \"us_per_item\": [%.3f, %.3f],"
		" \"per_item_ratio\": %.3f}}\n",
		def->name, wall, cpu, sagas, transitions, commands,
		(double)transitions / wall, (double)sagas / wall,
		wall * 1e6 / (double)transitions, map_def->name, MAP_SMALL,
		MAP_LARGE, map_small, map_large, us_small, us_large,
		us_large / us_small);
	if (fclose(f) != 0) {
		perror(out);
		return 1;
	}

	for (size_t k = 0; k < 4; k++)
		json_decref(replies[k].data);
	json_decref(trigger);
	orc_effects_finish(&fx);
	orc_definition_destroy(def);
	orc_definition_destroy(map_def);
	return 0;
}
