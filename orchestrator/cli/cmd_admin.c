/*
 * cmd_admin.c - operator commands that read: `status`, `list`, `history`,
 * and `dead-letters list|replay`.
 *
 * They print what store_admin returns, as tables that fit an 80-column
 * terminal or, with --json, as the JSON itself (for scripts and jq).  Times
 * are ISO-8601 in UTC; tables drop the milliseconds except in a history,
 * where order within a second matters.  Durations read "3.2s", "42s",
 * "5m", "3h", "2d".
 *
 * `dead-letters replay` is the only one that writes: it re-publishes the
 * stored event to the topic it was read from, as it was received (key,
 * headers, value) plus an `orc_replayed_from: <id>` header, and marks the
 * dead letter replayed only once the broker acknowledged the message.  A
 * failure in between leaves it unmarked, so replaying again is the fix
 * (the orchestrator's inbox makes a double delivery harmless).
 *
 * Exit status: 0 done, 1 not found or failed, 2 usage (including a
 * malformed id, status, duration or limit).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "cmd_common.h"
#include "commands.h"
#include "definition.h"
#include "store_admin.h"

#define TERM_WIDTH 80
#define REPLAY_TIMEOUT_MS 30000
#define REPLAYED_FROM_HEADER "orc_replayed_from"

/* ---- arguments ---- */

static bool
wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

/*
 * Is argv[*i] the option name ("--name V" or "--name=V")?  1 with *value
 * set (and *i past the value), 0 when it is not, -1 when the value is
 * missing.
 */
static int
match_opt(int argc, char **argv, int *i, const char *name,
	  const char **value)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*value = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*value = argv[++*i];
	return 1;
}

/* Print "orchestrator NAME: message" and the usage on stderr; returns 2. */
static int usage_error(const struct orc_cmd *cmd, const char *usage,
		       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
usage_error(const struct orc_cmd *cmd, const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "orchestrator %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage);
	return 2;
}

/* Print the failure; malformed user input is a usage error (2). */
static int
fail(const struct orc_cmd *cmd, const struct orc_error *err)
{
	orc_cmd_fail(cmd, err);
	return err->status == ORC_INVALID ? 2 : 1;
}

static bool
parse_limit(const char *text, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < 1 || v > 100000)
		return false;
	*out = (int)v;
	return true;
}

static int
connect_store(struct orc_cmd *cmd)
{
	struct orc_error err = {0};

	if (orc_store_connect(orc_config_str(&cmd->cfg, ORC_CFG_PG_DSN),
			      orc_config_str(&cmd->cfg, ORC_CFG_PG_SCHEMA),
			      &cmd->store, &err) != ORC_OK)
		return orc_cmd_fail(cmd, &err);
	return 0;
}

static void
print_json(const json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2));
	putchar('\n');
}

/* ---- formatting ---- */

static const char *
str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static long long
num(const json_t *obj, const char *key)
{
	return (long long)json_integer_value(json_object_get(obj, key));
}

/* "2026-11-27T07:00:00.123Z" -> "2026-11-27T07:00:00Z"; NULL -> "-". */
static const char *
short_time(const char *iso, char buf[32])
{
	if (iso == NULL)
		return "-";
	if (strlen(iso) == 24 && iso[19] == '.') {
		memcpy(buf, iso, 19);
		memcpy(buf + 19, "Z", 2);
		return buf;
	}
	snprintf(buf, 32, "%s", iso);
	return buf;
}

/* ---- tables ---- */

struct column {
	const char *title;
	int min;    /* > 0: may be cut down to min when the table is too wide */
	bool right; /* right-aligned (numbers) */
};

/*
 * Rows of text cells, printed with columns as wide as their content.  When
 * that is wider than the terminal, the separators shrink to one space,
 * then the widest shrinkable columns are cut (ending in "~").  With tail,
 * the last column is free text that is never cut: it goes on its own line
 * below its row when it does not fit after the others.  A row's note is
 * printed below it, indented.
 */
struct table {
	const struct column *cols;
	size_t ncols;
	bool tail;
	char **cells; /* nrows * ncols, owned; NULL cells print "-" */
	char **notes; /* one per row, owned, may be NULL */
	size_t nrows, cap;
	bool oom;
};

static void
table_init(struct table *t, const struct column *cols, size_t ncols,
	   bool tail)
{
	memset(t, 0, sizeof(*t));
	t->cols = cols;
	t->ncols = ncols;
	t->tail = tail;
}

static void
table_finish(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	for (size_t i = 0; i < t->nrows; i++)
		free(t->notes[i]);
	free(t->cells);
	free(t->notes);
	memset(t, 0, sizeof(*t));
}

/* A copy of s on one line: control characters become spaces. */
static char *
cell_dup(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	for (char *p = d; p != NULL && *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return d;
}

/* Add a row of t->ncols cells (borrowed, copied) and a note (may be NULL). */
static void
table_add(struct table *t, const char *const *cells, const char *note)
{
	if (t->oom)
		return;
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));
		char **n;

		if (c == NULL) {
			t->oom = true;
			return;
		}
		t->cells = c;
		n = realloc(t->notes, cap * sizeof(*n));
		if (n == NULL) {
			t->oom = true;
			return;
		}
		t->notes = n;
		t->cap = cap;
	}
	for (size_t c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] = cell_dup(cells[c]);
	t->notes[t->nrows] = cell_dup(note);
	t->nrows++;
}

/* Terminal columns of UTF-8 text: one per character. */
static size_t
text_width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* Print s in w columns: cut (ending in "~") or padded as the column says. */
static void
put_cell(const char *s, size_t w, bool right, bool pad)
{
	size_t sw = text_width(s);

	if (sw > w) {
		size_t chars = 0;
		const char *p = s;

		/* w - 1 characters, then the mark */
		while (*p != '\0') {
			if (((unsigned char)*p & 0xc0) != 0x80 &&
			    chars++ == w - 1)
				break;
			p++;
		}
		fwrite(s, 1, (size_t)(p - s), stdout);
		putchar('~');
		return;
	}
	if (right)
		printf("%*s", (int)(w - sw), "");
	fputs(s, stdout);
	if (!right && pad)
		printf("%*s", (int)(w - sw), "");
}

static void
table_print(const struct table *t)
{
	size_t w[16] = {0}, ncols = t->ncols, fixed = ncols - (t->tail ? 1 : 0);
	size_t sep = 2, total;

	if (t->oom) {
		fputs("(out of memory)\n", stdout);
		return;
	}
	for (size_t c = 0; c < ncols && c < 16; c++) {
		w[c] = text_width(t->cols[c].title);
		for (size_t r = 0; r < t->nrows; r++) {
			const char *s = t->cells[r * ncols + c];
			size_t sw = text_width(s ? s : "-");

			if (sw > w[c])
				w[c] = sw;
		}
	}
	total = 0;
	for (size_t c = 0; c < fixed; c++)
		total += w[c];
	if (total + sep * (fixed - 1) > TERM_WIDTH)
		sep = 1;
	total += sep * (fixed - 1);
	while (total > TERM_WIDTH) {
		size_t widest = ncols;

		for (size_t c = 0; c < fixed; c++)
			if (t->cols[c].min > 0 &&
			    w[c] > (size_t)t->cols[c].min &&
			    (widest == ncols || w[c] > w[widest]))
				widest = c;
		if (widest == ncols)
			break; /* as narrow as it gets */
		w[widest]--;
		total--;
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		char *const *row = r == 0 ? NULL : &t->cells[(r - 1) * ncols];
		const char *tail = NULL;
		bool inline_tail = false;

		if (t->tail) {
			tail = r == 0 ? t->cols[ncols - 1].title
				      : row[ncols - 1];
			inline_tail = tail != NULL && total + sep +
				      text_width(tail) <= TERM_WIDTH;
		}
		for (size_t c = 0; c < fixed; c++) {
			const char *s = r == 0 ? t->cols[c].title : row[c];

			if (c > 0)
				printf("%*s", (int)sep, "");
			/* no trailing blanks: the last cell is padded only
			 * when something follows it */
			put_cell(s ? s : "-", w[c], t->cols[c].right,
				 c + 1 < fixed || inline_tail);
		}
		if (inline_tail)
			printf("%*s%s", (int)sep, "", tail);
		putchar('\n');
		if (tail != NULL && !inline_tail)
			printf("    %s\n", tail);
		if (r > 0 && t->notes[r - 1] != NULL)
			printf("  %s\n", t->notes[r - 1]);
	}
}

/* "(3 sagas)", "(50 of 1234 sagas; --limit N shows more)" */
static void
print_count(size_t shown, size_t total, const char *one, const char *many)
{
	if (total > shown)
		printf("(%zu of %zu %s; --limit N shows more)\n", shown, total,
		       many);
	else
		printf("(%zu %s)\n", shown, shown == 1 ? one : many);
}

/* ---- status ---- */

static const char status_usage[] =
	"usage: orchestrator status SAGA_ID [--json]\n"
	"       orchestrator status --key KEY [--definition NAME] [--json]\n"
	"Show a saga and its steps.  A business key can belong to sagas of\n"
	"several definitions: then --definition says which one.\n"
	"Settings: --dsn (or ORC_PG_DSN), --pg-schema, --config FILE.\n";

static void
print_saga(const json_t *s)
{
	char t1[32], d[24];
	const char *reason = str(s, "failing_reason");
	const json_t *steps = json_object_get(s, "steps"), *st;
	struct table tab;
	size_t i;
	static const struct column cols[] = {
		{"STEP", 8, false},     {"STATUS", 0, false},
		{"ATT", 0, true},       {"STARTED", 0, false},
		{"FINISHED", 0, false},
	};

	printf("saga        %s\n", str(s, "id"));
	printf("definition  %s@%lld\n", str(s, "definition_name"),
	       num(s, "definition_version"));
	printf("key         %s\n", str(s, "business_key"));
	printf("status      %s", str(s, "status"));
	if (reason != NULL)
		printf(" (%s)", reason);
	printf("\ncreated     %s (%s ago)\n",
	       short_time(str(s, "created_at"), t1),
	       orc_duration_format_rough(num(s, "age_ms"), d, sizeof(d)));
	printf("updated     %s\n", short_time(str(s, "updated_at"), t1));
	printf("finished    %s", short_time(str(s, "finished_at"), t1));
	if (str(s, "finished_at") != NULL)
		printf(" (took %s)", orc_duration_format_rough(num(s, "duration_ms"), d, sizeof(d)));
	putchar('\n');
	if (str(s, "deadline_at") != NULL)
		printf("deadline    %s\n",
		       short_time(str(s, "deadline_at"), t1));
	if (str(s, "wake_at") != NULL)
		printf("next timer  %s\n", short_time(str(s, "wake_at"), t1));
	if (str(s, "failure") != NULL)
		printf("failure     %s\n", str(s, "failure"));
	putchar('\n');

	table_init(&tab, cols, sizeof(cols) / sizeof(cols[0]), false);
	json_array_foreach(steps, i, st) {
		char att[24], s1[32], s2[32], note[1024];
		const char *cells[5];
		size_t n = 0;

		snprintf(att, sizeof(att), "%lld", num(st, "attempt"));
		cells[0] = str(st, "name");
		cells[1] = str(st, "status");
		cells[2] = att;
		cells[3] = short_time(str(st, "started_at"), s1);
		cells[4] = short_time(str(st, "finished_at"), s2);
		note[0] = '\0';
		if (num(st, "compensation_attempt") > 0)
			n += (size_t)snprintf(note + n, sizeof(note) - n,
					      "%scompensation attempt %lld",
					      n ? "; " : "",
					      num(st, "compensation_attempt"));
		if (str(st, "wake_at") != NULL && n < sizeof(note))
			n += (size_t)snprintf(
				note + n, sizeof(note) - n, "%stimer %s (%s)",
				n ? "; " : "",
				short_time(str(st, "wake_at"), t1),
				str(st, "wake_reason") ? str(st, "wake_reason")
						       : "?");
		if (str(st, "last_error") != NULL && n < sizeof(note))
			snprintf(note + n, sizeof(note) - n,
				 "%slast error: %s", n ? "; " : "",
				 str(st, "last_error"));
		table_add(&tab, cells, note[0] ? note : NULL);
	}
	if (tab.nrows == 0)
		printf("(no steps yet)\n");
	else
		table_print(&tab);
	table_finish(&tab);
}

int
orc_cmd_status(int argc, char **argv)
{
	struct orc_cmd cmd;
	struct orc_error err = {0};
	const char *key = NULL, *definition = NULL, *id = NULL;
	json_t *res = NULL;
	enum orc_status st;
	int rc;

	if (wants_help(argc, argv)) {
		fputs(status_usage, stdout);
		return 0;
	}
	rc = orc_cmd_init(&cmd, "status", &argc, argv, 0);
	if (rc != 0)
		goto done;
	for (int i = 1; i < argc; i++) {
		int m;

		if ((m = match_opt(argc, argv, &i, "--key", &key)) == 0)
			m = match_opt(argc, argv, &i, "--definition",
				      &definition);
		if (m < 0) {
			rc = usage_error(&cmd, status_usage,
					 "option %s needs a value", argv[i]);
			goto done;
		}
		if (m > 0)
			continue;
		if (strncmp(argv[i], "--", 2) == 0 || id != NULL) {
			rc = usage_error(&cmd, status_usage,
					 "unexpected \"%s\"", argv[i]);
			goto done;
		}
		id = argv[i];
	}
	if (id != NULL && key != NULL) {
		rc = usage_error(&cmd, status_usage,
				 "give a saga id or --key, not both");
		goto done;
	}
	if (id == NULL && key == NULL) {
		rc = usage_error(&cmd, status_usage,
				 "which saga? give its id or --key");
		goto done;
	}
	if (definition != NULL && key == NULL) {
		rc = usage_error(&cmd, status_usage,
				 "--definition goes with --key");
		goto done;
	}
	/* checked before connecting: a typo needs no database */
	if (id != NULL && orc_store_admin_check_id(id, &err) != ORC_OK) {
		rc = fail(&cmd, &err);
		goto done;
	}
	rc = connect_store(&cmd);
	if (rc != 0)
		goto done;
	if (id != NULL) {
		st = orc_store_admin_saga(cmd.store, id, &res, &err);
	} else {
		json_t *all = NULL;

		st = orc_store_admin_sagas_by_key(cmd.store, key, definition,
						  &all, &err);
		if (st == ORC_OK && json_array_size(all) > 1) {
			char names[ORC_ERROR_DETAIL_MAX] = "";
			size_t i, n = 0;
			json_t *s;

			json_array_foreach(all, i, s)
				if (n < sizeof(names))
					n += (size_t)snprintf(
						names + n, sizeof(names) - n,
						"%s%s", i ? ", " : "",
						str(s, "definition_name"));
			orc_error_set(&err, ORC_NOT_FOUND,
				      "business key \"%s\" belongs to %zu "
				      "sagas", key, json_array_size(all));
			orc_error_detail(&err, "Definitions: %s.", names);
			orc_cmd_fail(&cmd, &err);
			fprintf(stderr, "HINT: Name one with --definition, or "
					"give the saga id.\n");
			json_decref(all);
			rc = 1;
			goto done;
		}
		if (st == ORC_OK)
			res = json_incref(json_array_get(all, 0));
		json_decref(all);
	}
	if (st != ORC_OK) {
		rc = fail(&cmd, &err);
		goto done;
	}
	if (cmd.json)
		print_json(res);
	else
		print_saga(res);
	rc = 0;
done:
	json_decref(res);
	orc_cmd_finish(&cmd);
	return rc;
}

/* ---- list ---- */

static const char list_usage[] =
	"usage: orchestrator list [--definition NAME] [--status S[,S...]]\n"
	"           [--older-than DURATION] [--newer-than DURATION]\n"
	"           [--limit N] [--json]\n"
	"List sagas, newest first (at most 50 unless --limit).  --status\n"
	"takes running, completed, compensating, compensated, failed, stuck,\n"
	"cancelled, timed_out (comma-separated or repeated).  --older-than\n"
	"and --newer-than compare the saga's start with now: 10m, 1h30m, 2d.\n"
	"Settings: --dsn (or ORC_PG_DSN), --pg-schema, --config FILE.\n";

#define MAX_STATUSES 16

static int
bad_limit(const struct orc_cmd *cmd, const char *usage, const char *text)
{
	return usage_error(cmd, usage, "invalid limit \"%s\": expected a "
			   "number from 1 to 100000", text);
}

static int
bad_duration(const struct orc_cmd *cmd, const char *text)
{
	return usage_error(cmd, list_usage,
			   "invalid duration \"%s\": expected e.g. 30s, 10m, "
			   "1h30m, 2d", text);
}

/*
 * Fill f from the list options; the --status values are split in buf
 * (size len) and pointed to from statuses.  Returns 0 or the exit status.
 */
static int
list_args(const struct orc_cmd *cmd, int argc, char **argv,
	  struct orc_admin_list_filter *f, const char **statuses, char *buf,
	  size_t len)
{
	size_t n = 0;
	char *save = NULL;

	buf[0] = '\0';
	for (int i = 1; i < argc; i++) {
		const char *v = NULL;
		int m;

		if ((m = match_opt(argc, argv, &i, "--definition", &v)) > 0) {
			f->definition = v;
		} else if (m == 0 && (m = match_opt(argc, argv, &i, "--status",
						    &v)) > 0) {
			if (n < len)
				n += (size_t)snprintf(buf + n, len - n, "%s%s",
						      n ? "," : "", v);
		} else if (m == 0 && (m = match_opt(argc, argv, &i,
						    "--older-than", &v)) > 0) {
			if (!orc_duration_parse(v, &f->older_than_ms))
				return bad_duration(cmd, v);
		} else if (m == 0 && (m = match_opt(argc, argv, &i,
						    "--newer-than", &v)) > 0) {
			if (!orc_duration_parse(v, &f->newer_than_ms))
				return bad_duration(cmd, v);
		} else if (m == 0 &&
			   (m = match_opt(argc, argv, &i, "--limit", &v)) > 0) {
			if (!parse_limit(v, &f->limit))
				return bad_limit(cmd, list_usage, v);
		} else if (m < 0) {
			return usage_error(cmd, list_usage,
					   "option %s needs a value", argv[i]);
		} else {
			return usage_error(cmd, list_usage, "unexpected \"%s\"",
					   argv[i]);
		}
	}
	if (n >= len)
		return usage_error(cmd, list_usage, "too many statuses");
	for (char *tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (f->n_statuses == MAX_STATUSES)
			return usage_error(cmd, list_usage,
					   "too many statuses");
		statuses[f->n_statuses++] = tok;
	}
	f->statuses = statuses;
	return 0;
}

int
orc_cmd_list(int argc, char **argv)
{
	struct orc_cmd cmd;
	struct orc_error err = {0};
	struct orc_admin_list_filter f = {0};
	const char *statuses[MAX_STATUSES];
	char status_buf[512];
	json_t *list = NULL, *s;
	size_t total, k;
	int rc;

	if (wants_help(argc, argv)) {
		fputs(list_usage, stdout);
		return 0;
	}
	rc = orc_cmd_init(&cmd, "list", &argc, argv, 0);
	if (rc != 0)
		goto done;
	rc = list_args(&cmd, argc, argv, &f, statuses, status_buf,
		       sizeof(status_buf));
	if (rc != 0)
		goto done;
	rc = connect_store(&cmd);
	if (rc != 0)
		goto done;
	if (orc_store_admin_list(cmd.store, &f, &list, &total, &err) !=
	    ORC_OK) {
		rc = fail(&cmd, &err);
		goto done;
	}
	if (cmd.json) {
		print_json(list);
	} else {
		static const struct column cols[] = {
			{"ID", 0, false},     {"DEFINITION", 10, false},
			{"KEY", 6, false},    {"STATUS", 0, false},
			{"AGE", 0, true},
		};
		struct table tab;

		table_init(&tab, cols, sizeof(cols) / sizeof(cols[0]), false);
		json_array_foreach(list, k, s) {
			char def[160], age[24];
			const char *cells[5];

			snprintf(def, sizeof(def), "%s@%lld",
				 str(s, "definition_name"),
				 num(s, "definition_version"));
			cells[0] = str(s, "id");
			cells[1] = def;
			cells[2] = str(s, "business_key");
			cells[3] = str(s, "status");
			cells[4] = orc_duration_format_rough(num(s, "age_ms"), age, sizeof(age));
			table_add(&tab, cells, NULL);
		}
		table_print(&tab);
		table_finish(&tab);
		print_count(json_array_size(list), total, "saga", "sagas");
	}
	rc = 0;
done:
	json_decref(list);
	orc_cmd_finish(&cmd);
	return rc;
}

/* ---- history ---- */

static const char history_usage[] =
	"usage: orchestrator history SAGA_ID [--json]\n"
	"The saga's timeline, oldest first: every event, transition and\n"
	"operator action, with its details as JSON.\n"
	"Settings: --dsn (or ORC_PG_DSN), --pg-schema, --config FILE.\n";

int
orc_cmd_history(int argc, char **argv)
{
	static const struct column cols[] = {
		{"TIME", 0, false},
		{"KIND", 0, false},
		{"STEP", 8, false},
		{"DETAIL", 0, false},
	};
	struct orc_cmd cmd;
	struct orc_error err = {0};
	json_t *hist = NULL, *h;
	struct table tab;
	size_t i;
	int rc;

	if (wants_help(argc, argv)) {
		fputs(history_usage, stdout);
		return 0;
	}
	rc = orc_cmd_init(&cmd, "history", &argc, argv, 0);
	if (rc != 0)
		goto done;
	if (argc != 2 || strncmp(argv[1], "--", 2) == 0) {
		rc = argc < 2 ? usage_error(&cmd, history_usage,
					    "which saga? give its id")
			      : usage_error(&cmd, history_usage,
					    "unexpected \"%s\"",
					    strncmp(argv[1], "--", 2) == 0
						    ? argv[1]
						    : argv[2]);
		goto done;
	}
	if (orc_store_admin_check_id(argv[1], &err) != ORC_OK) {
		rc = fail(&cmd, &err);
		goto done;
	}
	rc = connect_store(&cmd);
	if (rc != 0)
		goto done;
	if (orc_store_admin_history(cmd.store, argv[1], &hist, &err) !=
	    ORC_OK) {
		rc = fail(&cmd, &err);
		goto done;
	}
	if (cmd.json) {
		print_json(hist);
		goto done;
	}
	table_init(&tab, cols, sizeof(cols) / sizeof(cols[0]), true);
	json_array_foreach(hist, i, h) {
		json_t *detail = json_object_get(h, "detail");
		char *text = NULL;
		const char *cells[4];

		if (detail != NULL && !json_is_null(detail))
			text = json_dumps(detail,
					  JSON_COMPACT | JSON_ENCODE_ANY);
		cells[0] = str(h, "at");
		cells[1] = str(h, "kind");
		cells[2] = str(h, "step");
		cells[3] = text;
		table_add(&tab, cells, NULL);
		free(text);
	}
	if (tab.nrows == 0)
		printf("(no history)\n");
	else
		table_print(&tab);
	table_finish(&tab);
done:
	json_decref(hist);
	orc_cmd_finish(&cmd);
	return rc;
}

/* ---- dead letters ---- */

static const char dead_letters_usage[] =
	"usage: orchestrator dead-letters list [--all] [--limit N] [--json]\n"
	"       orchestrator dead-letters replay ID [--json]\n"
	"list shows the events that could not be applied and why, newest\n"
	"first: those not replayed yet, or every one with --all.  replay\n"
	"publishes one again to the topic it came from, as received (key,\n"
	"headers, value) plus the header orc_replayed_from: ID, waits for the\n"
	"broker's acknowledgement, then records it as replayed.\n"
	"Settings: --dsn (or ORC_PG_DSN), --pg-schema, --kafka-brokers (or\n"
	"ORC_KAFKA_BROKERS), --kafka.<property>, --config FILE.\n";

static int
dead_letters_list(struct orc_cmd *cmd, int argc, char **argv)
{
	static const struct column cols[] = {
		{"ID", 0, true},      {"TOPIC", 8, false},
		{"PART", 0, true},    {"OFFSET", 0, true},
		{"CREATED", 0, false}, {"REPLAYED", 0, false},
	};
	struct orc_error err = {0};
	bool all = false;
	int limit = 0, rc;
	json_t *list = NULL, *d;
	struct table tab;
	size_t total, i;

	for (int j = 2; j < argc; j++) {
		const char *v = NULL;
		int m;

		if (strcmp(argv[j], "--all") == 0) {
			all = true;
			continue;
		}
		m = match_opt(argc, argv, &j, "--limit", &v);
		if (m < 0)
			return usage_error(cmd, dead_letters_usage,
					   "option %s needs a value", argv[j]);
		if (m == 0)
			return usage_error(cmd, dead_letters_usage,
					   "unexpected \"%s\"", argv[j]);
		if (!parse_limit(v, &limit))
			return bad_limit(cmd, dead_letters_usage, v);
	}
	rc = connect_store(cmd);
	if (rc != 0)
		return rc;
	if (orc_store_admin_dead_letters(cmd->store, !all, limit, &list,
					 &total, &err) != ORC_OK)
		return fail(cmd, &err);
	if (cmd->json) {
		print_json(list);
		json_decref(list);
		return 0;
	}
	table_init(&tab, cols, sizeof(cols) / sizeof(cols[0]), false);
	json_array_foreach(list, i, d) {
		char id[24], part[16], off[24], t1[32], t2[32], note[1024];
		const char *cells[6];

		snprintf(id, sizeof(id), "%lld", num(d, "id"));
		snprintf(part, sizeof(part), "%lld", num(d, "partition"));
		snprintf(off, sizeof(off), "%lld", num(d, "offset"));
		cells[0] = id;
		cells[1] = str(d, "topic");
		cells[2] = part;
		cells[3] = off;
		cells[4] = short_time(str(d, "created_at"), t1);
		cells[5] = short_time(str(d, "replayed_at"), t2);
		snprintf(note, sizeof(note), "%s: %s", str(d, "consumer"),
			 str(d, "error"));
		table_add(&tab, cells, note);
	}
	table_print(&tab);
	table_finish(&tab);
	print_count(json_array_size(list), total,
		    all ? "dead letter" : "dead letter not replayed",
		    all ? "dead letters" : "dead letters not replayed");
	json_decref(list);
	return 0;
}

struct delivery {
	bool done;
	enum orc_status status;
	char error[256];
	int32_t partition;
	int64_t offset;
};

static void
on_delivery(void *opaque, enum orc_status status, const char *err,
	    int32_t partition, int64_t offset, void *ctx)
{
	struct delivery *d = ctx;

	d->done = true;
	d->status = status;
	d->partition = partition;
	d->offset = offset;
	snprintf(d->error, sizeof(d->error), "%s", err ? err : "");
}

/* Give up on a delivery within the replay timeout unless told otherwise. */
static enum orc_status
bound_delivery_time(struct orc_config *cfg, struct orc_error *err)
{
	char ms[16];

	for (int i = 0; i < cfg->n_kafka; i++)
		if (strcmp(cfg->kafka_names[i], "message.timeout.ms") == 0 ||
		    strcmp(cfg->kafka_names[i], "delivery.timeout.ms") == 0)
			return ORC_OK;
	snprintf(ms, sizeof(ms), "%d", REPLAY_TIMEOUT_MS);
	return orc_config_set(cfg, "kafka.message.timeout.ms", ms, err);
}

/* The dead letter id in text: > 0, or ORC_INVALID. */
static enum orc_status
dead_letter_id(const char *text, long long *out, struct orc_error *err)
{
	char *end;

	errno = 0;
	*out = strtoll(text, &end, 10);
	if (errno == 0 && end != text && *end == '\0' && *out >= 1)
		return ORC_OK;
	orc_error_set(err, ORC_INVALID, "invalid dead letter id \"%s\"", text);
	orc_error_detail(err, "A dead letter id is a positive integer, as "
			      "`orchestrator dead-letters list` shows.");
	return ORC_INVALID;
}

/*
 * Publish dl (borrowed) to its topic with its key, value and headers, the
 * orc_replayed_from header replaced by ours, and wait for the broker's
 * acknowledgement: ORC_OK with *d filled, or the failure.
 */
static enum orc_status
publish(struct orc_config *cfg, const struct orc_admin_dead_letter *dl,
	const char *idtext, struct delivery *d, size_t *n_sent,
	struct orc_error *err)
{
	struct orc_producer *p = NULL;
	struct orc_header *h = calloc(dl->n_headers + 1, sizeof(*h));
	enum orc_status st;
	size_t n = 0;

	if (h == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	for (size_t i = 0; i < dl->n_headers; i++)
		if (strcmp(dl->headers[i].name, REPLAYED_FROM_HEADER) != 0)
			h[n++] = dl->headers[i];
	h[n++] = (struct orc_header){REPLAYED_FROM_HEADER, idtext,
				     strlen(idtext)};
	*n_sent = n;
	st = bound_delivery_time(cfg, err);
	if (st == ORC_OK)
		st = orc_producer_create(cfg, on_delivery, d, &p, err);
	if (st == ORC_OK)
		st = orc_producer_send(p, dl->topic, dl->key, dl->key_len, h, n,
				       dl->payload, dl->payload_len, NULL, err);
	if (st == ORC_OK)
		st = orc_producer_flush(p, REPLAY_TIMEOUT_MS + 5000, err);
	if (st == ORC_OK && !d->done)
		st = orc_error_set(err, ORC_TRANSIENT, "no acknowledgement");
	else if (st == ORC_OK && d->status != ORC_OK)
		st = orc_error_set(err, d->status, "%s", d->error);
	orc_producer_destroy(p);
	free(h);
	return st;
}

static void
print_replay(const struct orc_cmd *cmd, const struct orc_admin_dead_letter *dl,
	     const struct delivery *d, size_t n_sent, const char *at)
{
	json_t *o;

	if (cmd->json) {
		o = json_pack("{sI ss si sI si sI ss}",
			      "id", (json_int_t)dl->id,
			      "topic", dl->topic,
			      "partition", (int)d->partition,
			      "offset", (json_int_t)d->offset,
			      "original_partition",
			      (int)num(dl->info, "partition"),
			      "original_offset",
			      (json_int_t)num(dl->info, "offset"),
			      "replayed_at", at);
		print_json(o);
		json_decref(o);
		return;
	}
	printf("dead letter %lld replayed to %s: partition %d, offset %lld\n",
	       (long long)dl->id, dl->topic, (int)d->partition,
	       (long long)d->offset);
	printf("  originally partition %lld, offset %lld\n",
	       num(dl->info, "partition"), num(dl->info, "offset"));
	if (dl->key != NULL)
		printf("  key %zu bytes, ", dl->key_len);
	else
		printf("  no key, ");
	if (dl->payload != NULL)
		printf("value %zu bytes, ", dl->payload_len);
	else
		printf("no value, ");
	printf("%zu headers + %s: %lld\n", n_sent - 1, REPLAYED_FROM_HEADER,
	       (long long)dl->id);
	printf("  marked replayed at %s\n", at);
}

static int
dead_letters_replay(struct orc_cmd *cmd, int argc, char **argv)
{
	struct orc_error err = {0};
	struct orc_admin_dead_letter dl = {0};
	struct delivery d = {false, ORC_OK, "", -1, -1};
	char idtext[24], at[32];
	size_t n_sent = 0;
	long long id;
	int rc;

	if (argc != 3)
		return argc < 3 ? usage_error(cmd, dead_letters_usage,
					      "which dead letter? give its id")
				: usage_error(cmd, dead_letters_usage,
					      "replay takes one id");
	if (dead_letter_id(argv[2], &id, &err) != ORC_OK)
		return fail(cmd, &err);
	snprintf(idtext, sizeof(idtext), "%lld", id);
	rc = connect_store(cmd);
	if (rc != 0)
		return rc;
	if (orc_store_admin_dead_letter(cmd->store, id, &dl, &err) != ORC_OK) {
		rc = fail(cmd, &err);
		goto done;
	}
	rc = 1;
	if (publish(&cmd->cfg, &dl, idtext, &d, &n_sent, &err) != ORC_OK) {
		orc_error_prefix(&err, "cannot publish dead letter %lld to "
				 "topic \"%s\"", id, dl.topic);
		orc_error_detail(&err, "The dead letter is not marked "
				       "replayed.");
		orc_cmd_fail(cmd, &err);
		goto done;
	}
	if (orc_store_admin_mark_replayed(cmd->store, id, at, &err) !=
	    ORC_OK) {
		orc_error_prefix(&err, "dead letter %lld was published to "
				 "\"%s\" (partition %d, offset %lld) but not "
				 "marked replayed", id, dl.topic,
				 (int)d.partition, (long long)d.offset);
		orc_cmd_fail(cmd, &err);
		goto done;
	}
	print_replay(cmd, &dl, &d, n_sent, at);
	rc = 0;
done:
	orc_admin_dead_letter_finish(&dl);
	return rc;
}

int
orc_cmd_dead_letters(int argc, char **argv)
{
	struct orc_cmd cmd;
	int rc;

	if (wants_help(argc, argv)) {
		fputs(dead_letters_usage, stdout);
		return 0;
	}
	rc = orc_cmd_init(&cmd, "dead-letters", &argc, argv, 0);
	if (rc != 0)
		goto done;
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		rc = dead_letters_list(&cmd, argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "replay") == 0)
		rc = dead_letters_replay(&cmd, argc, argv);
	else
		rc = argc < 2 ? usage_error(&cmd, dead_letters_usage,
					    "list or replay?")
			      : usage_error(&cmd, dead_letters_usage,
					    "unknown subcommand \"%s\"",
					    argv[1]);
done:
	orc_cmd_finish(&cmd);
	return rc;
}
