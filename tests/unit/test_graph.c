/*
 * test_graph.c - Mermaid and dot renderings: a node per step with its kind,
 * start and end nodes, need edges, conditions on edges, dashed
 * compensation edges, escaping, step names that are Mermaid keywords, and
 * map steps (a stack shape; what they map over, how many at once, and how
 * many must succeed), and saga steps (their own shape, the child's
 * definition and version).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_runner.h"
#include "definition.h"
#include "graph.h"

#define EXAMPLE ORC_SOURCE_DIR "/schemas/examples/order_fulfillment.json"

static struct orc_definition *def;
static char *text;

static void
setup(void)
{
	def = NULL;
	text = NULL;
}

static void
teardown(void)
{
	free(text);
	orc_definition_destroy(def);
}

static void
load_example(void)
{
	struct orc_definition_issues issues = {0};
	struct orc_error err;

	ck_assert_int_eq(orc_definition_load_file(EXAMPLE, &def, &issues, &err),
			 ORC_OK);
	orc_definition_issues_finish(&issues);
}

static void
load_inline(const char *json)
{
	struct orc_definition_issues issues = {0};
	char *s = strdup(json);
	json_error_t jerr;
	json_t *body;

	ck_assert_ptr_nonnull(s);
	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	body = json_loads(s, 0, &jerr);
	ck_assert_msg(body != NULL, "%s", jerr.text);
	ck_assert_int_eq(orc_definition_from_json(body, &def, &issues), ORC_OK);
	json_decref(body);
	free(s);
	orc_definition_issues_finish(&issues);
}

static void
render(enum orc_graph_format fmt)
{
	free(text);
	text = orc_graph_render(def, fmt);
	ck_assert_ptr_nonnull(text);
}

/* text has this whole line */
#define ck_line(line)                                                       \
	ck_assert_msg(has_line(text, line), "missing line:\n%s\nin:\n%s", line, \
		      text)

static bool
has_line(const char *all, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = all; (p = strstr(p, line)) != NULL; p++)
		if ((p == all || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

START_TEST(test_example_mermaid)
{
	load_example();
	render(ORC_GRAPH_MERMAID);
	ck_assert_msg(strncmp(text, "flowchart TD\n", 13) == 0, "%s", text);
	ck_line("    START([\"start: order.placed\"])");
	ck_line("    reserve_inventory[\"reserve_inventory<br/>command: inventory.reserve\"]");
	ck_line("    charge_payment[\"charge_payment<br/>command: payment.charge\"]");
	ck_line("    notify_customer[\"notify_customer<br/>command: notification.send\"]");
	ck_line("    manual_review{{\"manual_review<br/>wait: review.approved\"}}");
	ck_line("    ship[\"ship<br/>command: shipping.schedule\"]");
	ck_line("    UNDO_reserve_inventory[/\"undo: inventory.release\"/]");
	ck_line("    UNDO_charge_payment[/\"undo: payment.refund\"/]");
	ck_line("    END([\"end\"])");
	ck_line("    START --> reserve_inventory");
	ck_line("    reserve_inventory --> charge_payment");
	ck_line("    reserve_inventory --> notify_customer");
	ck_line("    charge_payment -->|\"gt(${/input/total}, 1000)\"| manual_review");
	ck_line("    charge_payment --> ship");
	ck_line("    manual_review --> ship");
	ck_line("    notify_customer --> ship");
	ck_line("    reserve_inventory -.-> UNDO_reserve_inventory");
	ck_line("    charge_payment -.-> UNDO_charge_payment");
	ck_line("    ship --> END");
	/* only the last step leads to the end; notify_customer has no undo */
	ck_assert(strstr(text, "notify_customer --> END") == NULL);
	ck_assert(strstr(text, "UNDO_notify_customer") == NULL);
}
END_TEST

START_TEST(test_example_dot)
{
	load_example();
	render(ORC_GRAPH_DOT);
	ck_assert_msg(strncmp(text, "digraph \"order_fulfillment\" {\n", 30) == 0,
		      "%s", text);
	ck_assert_msg(strcmp(text + strlen(text) - 2, "}\n") == 0, "%s", text);
	ck_line("    \"START\" [label=\"start: order.placed\", shape=ellipse];");
	ck_line("    \"reserve_inventory\" [label=\"reserve_inventory\\ncommand: inventory.reserve\", shape=box];");
	ck_line("    \"manual_review\" [label=\"manual_review\\nwait: review.approved\", shape=hexagon];");
	ck_line("    \"UNDO_charge_payment\" [label=\"undo: payment.refund\", shape=box, style=dashed];");
	ck_line("    \"END\" [label=\"end\", shape=ellipse];");
	ck_line("    \"START\" -> \"reserve_inventory\";");
	ck_line("    \"reserve_inventory\" -> \"charge_payment\";");
	ck_line("    \"charge_payment\" -> \"manual_review\" [label=\"gt(${/input/total}, 1000)\"];");
	ck_line("    \"notify_customer\" -> \"ship\";");
	ck_line("    \"reserve_inventory\" -> \"UNDO_reserve_inventory\" [style=dashed];");
	ck_line("    \"ship\" -> \"END\";");
}
END_TEST

static const char *const odd =
	"{'name': 'odd', 'version': 1,"
	" 'trigger': {'topic': 't', 'type': 'say \\'hi\\'', 'key': '/k'},"
	" 'steps': ["
	"  {'name': 'nap', 'delay': '24h',"
	"   'when': {'all': [{'exists': '${/input/coupon}'},"
	"     {'not': {'eq': ['${/input/country}', 'US']}}, {'in': [1, [1, 2]]}]}},"
	"  {'name': 'end', 'needs': ['nap'], 'when': true,"
	"   'wait': {'topic': 'w', 'type': 'a<b>', 'key': '/k'}},"
	"  {'name': 'style', 'needs': ['end'], 'when': false, 'command': {'topic': 'c',"
	"   'type': 'c.do'}, 'success': ['ok'],"
	"   'compensation': {'topic': 'c', 'type': 'c.undo', 'success': ['ok']}}"
	" ]}";

START_TEST(test_mermaid_escaping_and_reserved_id)
{
	load_inline(odd);
	render(ORC_GRAPH_MERMAID);
	ck_line("    START([\"start: say #quot;hi#quot;\"])");
	ck_line("    nap(\"nap<br/>delay: 24h\")");
	ck_line("    End{{\"end<br/>wait: a#lt;b#gt;\"}}");
	ck_line("    START -->|\"all(exists(${/input/coupon}), "
		"not(eq(${/input/country}, #quot;US#quot;)), in(1, [1,2]))\"| nap");
	ck_line("    nap --> End"); /* "when": true draws no label */
	ck_line("    Style[\"style<br/>command: c.do\"]");
	ck_line("    End -->|\"false\"| Style");
	ck_line("    Style -.-> UNDO_style");
	ck_line("    Style --> END");
}
END_TEST

START_TEST(test_dot_escaping)
{
	load_inline(odd);
	render(ORC_GRAPH_DOT);
	ck_line("    \"START\" [label=\"start: say \\\"hi\\\"\", shape=ellipse];");
	ck_line("    \"nap\" [label=\"nap\\ndelay: 24h\", shape=box, style=rounded];");
	ck_line("    \"end\" [label=\"end\\nwait: a<b>\", shape=hexagon];");
	ck_line("    \"START\" -> \"nap\" [label=\"all(exists(${/input/coupon}), "
		"not(eq(${/input/country}, \\\"US\\\")), in(1, [1,2]))\"];");
	ck_line("    \"end\" -> \"style\" [label=\"false\"];");
	ck_line("    \"style\" -> \"END\";");
}
END_TEST

#define ITEMS ORC_SOURCE_DIR "/schemas/examples/order_items.json"

START_TEST(test_map_example)
{
	struct orc_definition_issues issues = {0};
	struct orc_error err;

	ck_assert_int_eq(orc_definition_load_file(ITEMS, &def, &issues, &err),
			 ORC_OK);
	orc_definition_issues_finish(&issues);
	render(ORC_GRAPH_MERMAID);
	ck_line("    reserve_items[[\"reserve_items<br/>map: inventory.reserve_item"
		"<br/>each of ${/input/items}, max 10\"]]");
	ck_line("    charge_payment[\"charge_payment<br/>command: payment.charge\"]");
	ck_line("    UNDO_reserve_items[/\"undo each: inventory.release_item\"/]");
	ck_line("    UNDO_charge_payment[/\"undo: payment.refund\"/]");
	ck_line("    START --> reserve_items");
	ck_line("    reserve_items --> charge_payment");
	ck_line("    reserve_items -.-> UNDO_reserve_items");
	render(ORC_GRAPH_DOT);
	ck_line("    \"reserve_items\" [label=\"reserve_items\\nmap: "
		"inventory.reserve_item\\neach of ${/input/items}, max 10\", "
		"shape=box3d];");
	ck_line("    \"charge_payment\" [label=\"charge_payment\\ncommand: "
		"payment.charge\", shape=box];");
	ck_line("    \"UNDO_reserve_items\" [label=\"undo each: "
		"inventory.release_item\", shape=box, style=dashed];");
}
END_TEST

/* max_concurrency from the context, and both kinds of min_success */
static const char *const maps =
	"{'name': 'maps', 'version': 1,"
	" 'trigger': {'topic': 't', 'type': 'go', 'key': '/k'},"
	" 'steps': ["
	"  {'name': 'legs', 'map': {'items': '${/input/legs}',"
	"   'max_concurrency': '${/input/lanes}', 'min_success': 0.75},"
	"   'command': {'topic': 'c', 'type': 'leg.book'}, 'success': ['ok']},"
	"  {'name': 'mails', 'needs': ['legs'], 'map': {'items': '${/steps/legs}',"
	"   'max_concurrency': 2, 'min_success': 3},"
	"   'command': {'topic': 'c', 'type': 'mail.send'}, 'success': ['ok']}"
	" ]}";

START_TEST(test_map_bounds)
{
	load_inline(maps);
	render(ORC_GRAPH_MERMAID);
	ck_line("    legs[[\"legs<br/>map: leg.book<br/>each of ${/input/legs}, "
		"max ${/input/lanes}, at least 75%\"]]");
	ck_line("    mails[[\"mails<br/>map: mail.send<br/>each of ${/steps/legs}, "
		"max 2, at least 3\"]]");
	ck_line("    legs --> mails");
	ck_line("    mails --> END");
	render(ORC_GRAPH_DOT);
	ck_line("    \"legs\" [label=\"legs\\nmap: leg.book\\neach of "
		"${/input/legs}, max ${/input/lanes}, at least 75%\", shape=box3d];");
	ck_line("    \"mails\" [label=\"mails\\nmap: mail.send\\neach of "
		"${/steps/legs}, max 2, at least 3\", shape=box3d];");
}
END_TEST

/* a child of a named version, one of the latest, and a step after both */
static const char *const children =
	"{'name': 'trip', 'version': 1,"
	" 'trigger': {'topic': 't', 'type': 'go', 'key': '/k'},"
	" 'steps': ["
	"  {'name': 'pay', 'saga': {'definition': 'payment', 'version': 2,"
	"   'key': 'pay-${/input/k}'}, 'timeout': '10m'},"
	"  {'name': 'notify', 'saga': {'definition': 'notify_all'}},"
	"  {'name': 'done', 'needs': ['pay', 'notify'],"
	"   'command': {'topic': 'c', 'type': 'trip.close'}, 'success': ['ok']}"
	" ]}";

START_TEST(test_saga_steps)
{
	load_inline(children);
	render(ORC_GRAPH_MERMAID);
	ck_line("    pay[\\\"pay<br/>saga: payment v2\"\\]");
	ck_line("    notify[\\\"notify<br/>saga: notify_all\"\\]");
	ck_line("    done[\"done<br/>command: trip.close\"]");
	ck_line("    START --> pay");
	ck_line("    pay --> done");
	ck_line("    notify --> done");
	ck_assert_ptr_null(strstr(text, "UNDO_pay")); /* the child undoes itself */
	render(ORC_GRAPH_DOT);
	ck_line("    \"pay\" [label=\"pay\\nsaga: payment v2\", "
		"shape=box, peripheries=2];");
	ck_line("    \"notify\" [label=\"notify\\nsaga: notify_all\", "
		"shape=box, peripheries=2];");
}
END_TEST

#define TRIP ORC_SOURCE_DIR "/schemas/examples/trip_with_payment.json"

START_TEST(test_saga_example)
{
	struct orc_definition_issues issues = {0};
	struct orc_error err;

	ck_assert_int_eq(orc_definition_load_file(TRIP, &def, &issues, &err),
			 ORC_OK);
	orc_definition_issues_finish(&issues);
	render(ORC_GRAPH_MERMAID);
	ck_line("    pay[\\\"pay<br/>saga: trip_payment v1\"\\]");
	ck_line("    book_flight --> pay");
	ck_line("    book_hotel --> pay");
	ck_line("    pay --> confirm_trip");
	ck_line("    book_flight -.-> UNDO_book_flight");
	ck_assert_ptr_null(strstr(text, "UNDO_pay"));
	render(ORC_GRAPH_DOT);
	ck_line("    \"pay\" [label=\"pay\\nsaga: trip_payment v1\", "
		"shape=box, peripheries=2];");
}
END_TEST

START_TEST(test_hand_built_delay)
{
	/* no body: the delay is formatted from milliseconds */
	struct orc_step_def steps[1] = {
		{.name = "wait_a_bit", .kind = ORC_STEP_DELAY, .delay_ms = 5401500},
	};
	struct orc_definition d = {.name = "h", .version = 1, .steps = steps,
				   .n_steps = 1};

	text = orc_graph_render(&d, ORC_GRAPH_MERMAID);
	ck_assert_ptr_nonnull(text);
	ck_line("    wait_a_bit(\"wait_a_bit<br/>delay: 1h30m1s500ms\")");
	ck_line("    START --> wait_a_bit");
	ck_line("    wait_a_bit --> END");
}
END_TEST

START_TEST(test_formats)
{
	enum orc_graph_format fmt = ORC_GRAPH_DOT;

	ck_assert(orc_graph_format_parse("mermaid", &fmt));
	ck_assert_int_eq(fmt, ORC_GRAPH_MERMAID);
	ck_assert(orc_graph_format_parse("dot", &fmt));
	ck_assert_int_eq(fmt, ORC_GRAPH_DOT);
	ck_assert(!orc_graph_format_parse("svg", &fmt));
	ck_assert(!orc_graph_format_parse(NULL, &fmt));
	ck_assert_str_eq(orc_graph_format_name(ORC_GRAPH_MERMAID), "mermaid");
	ck_assert_str_eq(orc_graph_format_name(ORC_GRAPH_DOT), "dot");
	ck_assert_ptr_null(orc_graph_render(NULL, ORC_GRAPH_DOT));
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("graph");
	TCase *tc = tcase_create("render");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_example_mermaid);
	tcase_add_test(tc, test_example_dot);
	tcase_add_test(tc, test_mermaid_escaping_and_reserved_id);
	tcase_add_test(tc, test_dot_escaping);
	tcase_add_test(tc, test_map_example);
	tcase_add_test(tc, test_map_bounds);
	tcase_add_test(tc, test_saga_steps);
	tcase_add_test(tc, test_saga_example);
	tcase_add_test(tc, test_hand_built_delay);
	tcase_add_test(tc, test_formats);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return orc_check_run(suite());
}
