/*
 * config.c - the settings table and the three ways to fill it.
 *
 * One table, read top to bottom by everything: adding a setting is adding
 * a row (and its enum constant in config.h).  Values are kept as validated
 * text and converted on read, which keeps set/print trivially consistent.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

extern char **environ;

static const struct orc_config_def table[ORC_CFG_COUNT] = {
	[ORC_CFG_PG_DSN] = {"pg_dsn", "ORC_PG_DSN", ORC_CONFIG_STRING,
		"postgresql:///orchestrator", 0, 0,
		"PostgreSQL connection string or URI (libpq; sslmode etc. go here)"},
	[ORC_CFG_PG_SCHEMA] = {"pg_schema", "ORC_PG_SCHEMA", ORC_CONFIG_STRING,
		"orchestrator", 0, 0, "PostgreSQL schema holding the orchestrator's tables"},
	[ORC_CFG_KAFKA_BROKERS] = {"kafka_brokers", "ORC_KAFKA_BROKERS",
		ORC_CONFIG_STRING, "127.0.0.1:9092", 0, 0,
		"Kafka bootstrap servers (host:port,...)"},
	[ORC_CFG_GROUP] = {"group", "ORC_GROUP", ORC_CONFIG_STRING,
		"orchestrator", 0, 0,
		"Kafka consumer group shared by all orchestrator processes; also the inbox consumer name"},
	[ORC_CFG_REPLY_TOPIC] = {"reply_topic", "ORC_REPLY_TOPIC",
		ORC_CONFIG_STRING, "orchestrator.replies", 0, 0,
		"Topic services reply on (sent as the replyto attribute of every command)"},
	[ORC_CFG_DLQ_TOPIC] = {"dlq_topic", "ORC_DLQ_TOPIC", ORC_CONFIG_STRING,
		NULL, 0, 0, "Dead-letter topic (default: <group>.dlq)"},
	[ORC_CFG_ROLES] = {"roles", "ORC_ROLES", ORC_CONFIG_STRING,
		"worker,relay,timers", 0, 0,
		"Roles `run` performs: any of worker, relay, timers, housekeeping (timers does housekeeping too)"},
	[ORC_CFG_BATCH_SIZE] = {"batch_size", "ORC_BATCH_SIZE", ORC_CONFIG_INT,
		"500", 1, 10000, "Most events applied in one transaction"},
	[ORC_CFG_BATCH_LINGER_MS] = {"batch_linger_ms", "ORC_BATCH_LINGER_MS",
		ORC_CONFIG_INT, "1", 0, 10000,
		"How long to wait for more events before applying a batch"},
	[ORC_CFG_APPLY_OVERLAP] = {"apply_overlap", "ORC_APPLY_OVERLAP",
		ORC_CONFIG_BOOL, "true", 0, 0,
		"Run the next batch while the one before commits, on a second PostgreSQL connection (the worker then has two of its own; false: one batch at a time, on the process's connection)"},
	[ORC_CFG_RELAY_BATCH] = {"relay_batch", "ORC_RELAY_BATCH", ORC_CONFIG_INT,
		"1000", 1, 100000, "Most outbox rows published per relay turn"},
	[ORC_CFG_RELAY_POLL_MS] = {"relay_poll_ms", "ORC_RELAY_POLL_MS",
		ORC_CONFIG_INT, "1000", 10, 600000,
		"Relay polling interval when no NOTIFY arrives (fallback)"},
	[ORC_CFG_TIMER_BATCH] = {"timer_batch", "ORC_TIMER_BATCH", ORC_CONFIG_INT,
		"500", 1, 100000, "Most due sagas woken per timer turn"},
	[ORC_CFG_TIMER_POLL_MS] = {"timer_poll_ms", "ORC_TIMER_POLL_MS",
		ORC_CONFIG_INT, "100", 10, 600000, "Timer polling interval"},
	[ORC_CFG_DEFINITIONS] = {"definitions", "ORC_DEFINITIONS",
		ORC_CONFIG_STRING, NULL, 0, 0,
		"Definition files (comma-separated) to load at start, in addition to those in the database"},
	[ORC_CFG_HTTP_PORT] = {"http_port", "ORC_HTTP_PORT", ORC_CONFIG_INT,
		"8080", 0, 65535, "Port of /healthz, /readyz and /metrics (0 = off)"},
	[ORC_CFG_LOG_LEVEL] = {"log_level", "ORC_LOG_LEVEL", ORC_CONFIG_STRING,
		"info", 0, 0, "debug, info, warn or error"},
	[ORC_CFG_LOG_FORMAT] = {"log_format", "ORC_LOG_FORMAT", ORC_CONFIG_STRING,
		"logfmt", 0, 0, "logfmt or json"},
	[ORC_CFG_INSTANCE_ID] = {"instance_id", "ORC_INSTANCE_ID",
		ORC_CONFIG_STRING, NULL, 0, 0,
		"Static group membership (group.instance.id), unique per process (default: $POD_NAME, else $HOSTNAME, else none; empty: none)"},
	[ORC_CFG_SESSION_TIMEOUT_MS] = {"session_timeout_ms",
		"ORC_SESSION_TIMEOUT_MS", ORC_CONFIG_INT, "10000", 6000, 1800000,
		"How long the group waits for a silent member before its partitions move (session.timeout.ms)"},
	[ORC_CFG_READY_KAFKA_GRACE_MS] = {"ready_kafka_grace_ms",
		"ORC_READY_KAFKA_GRACE_MS", ORC_CONFIG_INT, "10000", 0, 3600000,
		"/readyz turns 503 when no Kafka broker has been up for this long"},
	[ORC_CFG_MAX_COMMAND_BYTES] = {"max_command_bytes",
		"ORC_MAX_COMMAND_BYTES", ORC_CONFIG_INT, "900000", 4096, 100000000,
		"Largest command (rendered data + 1 KB for headers); a step whose command is larger fails at once. Keep it under the producer's message.max.bytes (1000000)"},
	[ORC_CFG_HTTP_ADDRESS] = {"http_address", "ORC_HTTP_ADDRESS",
		ORC_CONFIG_STRING, NULL, 0, 0,
		"Numeric IPv4 or IPv6 address the HTTP endpoints listen on (default: every interface, as probes in a container need; 127.0.0.1: this host only)"},
	[ORC_CFG_HTTP_TOKEN] = {"http_token", "ORC_HTTP_TOKEN",
		ORC_CONFIG_STRING, NULL, 0, 0,
		"Bearer token for HTTP endpoints beyond /healthz, /readyz and /metrics (empty: no other endpoint can be served)"},
	[ORC_CFG_RELAY_THREAD] = {"relay_thread", "ORC_RELAY_THREAD",
		ORC_CONFIG_BOOL, "true", 0, 0,
		"Run the relay on a thread of its own, so the loop never waits for delivery reports (false: on the loop's thread, turns bounded)"},
	[ORC_CFG_RETENTION] = {"retention", "ORC_RETENTION",
		ORC_CONFIG_DURATION, "30d", 0, ORC_DURATION_MAX_MS,
		"How long a finished saga is kept after it finished; then housekeeping deletes it with its steps and history. A definition's \"retention\" wins (0 = keep forever)"},
	[ORC_CFG_ARCHIVE_TOPIC] = {"archive_topic", "ORC_ARCHIVE_TOPIC",
		ORC_CONFIG_STRING, NULL, 0, 0,
		"Topic a saga.archived event (the saga, its steps and history) goes to before housekeeping or purge deletes the saga (empty: no archive)"},
	[ORC_CFG_PARKED_TTL] = {"parked_ttl", "ORC_PARKED_TTL",
		ORC_CONFIG_DURATION, "1h", 1000, ORC_DURATION_MAX_MS,
		"How long an awaited event whose business key has no saga yet is parked for the saga to start (a wait step's early_ttl overrides it); then it is dead-lettered"},
	[ORC_CFG_INBOX_TTL] = {"inbox_ttl", "ORC_INBOX_TTL",
		ORC_CONFIG_DURATION, "7d", 3600000, ORC_DURATION_MAX_MS,
		"How long an applied event's id is kept to recognise a redelivery; must exceed how far back a consumer offset could ever be reset"},
	[ORC_CFG_DEAD_LETTER_RETENTION] = {"dead_letter_retention",
		"ORC_DEAD_LETTER_RETENTION", ORC_CONFIG_DURATION, "30d", 0,
		ORC_DURATION_MAX_MS,
		"How long a dead letter is kept after it was recorded (0 = keep forever)"},
	[ORC_CFG_HOUSEKEEPING_BATCH] = {"housekeeping_batch",
		"ORC_HOUSEKEEPING_BATCH", ORC_CONFIG_INT, "300", 1, 10000,
		"Most rows of one kind (sagas, inbox ids, dead letters) deleted in one housekeeping transaction"},
	[ORC_CFG_HOUSEKEEPING_INTERVAL_MS] = {"housekeeping_interval_ms",
		"ORC_HOUSEKEEPING_INTERVAL_MS", ORC_CONFIG_INT, "5000", 10,
		3600000,
		"How often housekeeping looks for rows to delete when its last turn found less than a batch"},
	[ORC_CFG_LIFECYCLE_TOPIC] = {"lifecycle_topic", "ORC_LIFECYCLE_TOPIC",
		ORC_CONFIG_STRING, NULL, 0, 0,
		"Topic of the sagas' lifecycle events (saga.started, saga.completed, ...), written through the outbox (default: <group>.lifecycle; empty: none)"},
	[ORC_CFG_REQUEST_POLL_MS] = {"request_poll_ms", "ORC_REQUEST_POLL_MS",
		ORC_CONFIG_INT, "500", 10, 600000,
		"How often the timers role looks for operator requests made in SQL and for held triggers that may start (a NOTIFY wakes it sooner)"},
	[ORC_CFG_REQUEST_BATCH] = {"request_batch", "ORC_REQUEST_BATCH",
		ORC_CONFIG_INT, "20", 1, 1000,
		"Most operator requests, and most held triggers, one process applies per turn"},
	[ORC_CFG_CONTROLS_REFRESH_MS] = {"controls_refresh_ms",
		"ORC_CONTROLS_REFRESH_MS", ORC_CONFIG_INT, "2000", 100, 600000,
		"How often a process reads the definition switches (paused, max_running) again"},
};

const struct orc_config_def *
orc_config_table(void)
{
	return table;
}

/* Short flag names that tools of the trade use. */
static const struct {
	const char *alias;
	enum orc_config_key key;
} aliases[] = {
	{"dsn", ORC_CFG_PG_DSN},
	{"schema", ORC_CFG_PG_SCHEMA},
	{"brokers", ORC_CFG_KAFKA_BROKERS},
};

static int
find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strlen(aliases[i].alias) == len &&
		    strncmp(aliases[i].alias, name, len) == 0)
			return (int)aliases[i].key;
	for (int i = 0; i < ORC_CFG_COUNT; i++) {
		const char *t = table[i].name;
		size_t j;

		for (j = 0; j < len && t[j] != '\0'; j++) {
			char c = name[j] == '-' ? '_' : name[j];

			if (c != t[j])
				break;
		}
		if (j == len && t[j] == '\0')
			return i;
	}
	return -1;
}

/* A duration within the row's bounds, or "0" when they start at 0. */
static enum orc_status
check_duration(const struct orc_config_def *d, const char *value,
	       struct orc_error *err)
{
	char lo[32], hi[32];
	int64_t ms = 0;

	if (strcmp(value, "0") == 0 && d->min == 0)
		return ORC_OK;
	if (orc_duration_parse(value, &ms) && ms >= d->min && ms <= d->max)
		return ORC_OK;
	orc_duration_format(d->min, lo, sizeof(lo));
	orc_duration_format(d->max, hi, sizeof(hi));
	return orc_error_set(err, ORC_INVALID,
			     "invalid value \"%s\" for %s: expected a duration "
			     "from %s to %s%s",
			     value, d->name, d->min == 0 ? "0" : lo, hi,
			     d->min == 0 ? "" : " (such as \"7d\" or \"12h\")");
}

static enum orc_status
check_value(const struct orc_config_def *d, const char *value,
	    struct orc_error *err)
{
	char *end;
	long long v;

	switch (d->type) {
	case ORC_CONFIG_STRING:
		return ORC_OK;
	case ORC_CONFIG_BOOL:
		if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
			return ORC_OK;
		return orc_error_set(err, ORC_INVALID,
				     "invalid value \"%s\" for %s: expected true or false",
				     value, d->name);
	case ORC_CONFIG_INT:
		errno = 0;
		v = strtoll(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0')
			return orc_error_set(err, ORC_INVALID,
					     "invalid value \"%s\" for %s: expected an integer",
					     value, d->name);
		if (v < d->min || v > d->max)
			return orc_error_set(err, ORC_INVALID,
					     "invalid value %lld for %s: expected %lld to %lld",
					     v, d->name, (long long)d->min,
					     (long long)d->max);
		return ORC_OK;
	case ORC_CONFIG_DURATION:
		return check_duration(d, value, err);
	}
	return ORC_OK;
}

static enum orc_status
replace(char **slot, const char *value, struct orc_error *err)
{
	char *copy = value ? strdup(value) : NULL;

	if (value != NULL && copy == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	free(*slot);
	*slot = copy;
	return ORC_OK;
}

enum orc_status
orc_config_init(struct orc_config *cfg, struct orc_error *err)
{
	memset(cfg, 0, sizeof(*cfg));
	for (int i = 0; i < ORC_CFG_COUNT; i++) {
		if (replace(&cfg->values[i], table[i].def, err) != ORC_OK) {
			orc_config_finish(cfg);
			return ORC_FATAL;
		}
	}
	return ORC_OK;
}

void
orc_config_finish(struct orc_config *cfg)
{
	for (int i = 0; i < ORC_CFG_COUNT; i++)
		free(cfg->values[i]);
	for (int i = 0; i < cfg->n_kafka; i++) {
		free(cfg->kafka_names[i]);
		free(cfg->kafka_values[i]);
	}
	memset(cfg, 0, sizeof(*cfg));
}

static enum orc_status
set_kafka(struct orc_config *cfg, const char *prop, const char *value,
	  struct orc_error *err)
{
	int i;

	if (*prop == '\0')
		return orc_error_set(err, ORC_INVALID,
				     "empty Kafka property name in \"kafka.\"");
	for (i = 0; i < cfg->n_kafka; i++)
		if (strcmp(cfg->kafka_names[i], prop) == 0)
			return replace(&cfg->kafka_values[i], value, err);
	if (cfg->n_kafka == ORC_CONFIG_KAFKA_MAX)
		return orc_error_set(err, ORC_INVALID,
				     "too many Kafka properties (at most %d)",
				     ORC_CONFIG_KAFKA_MAX);
	cfg->kafka_names[i] = strdup(prop);
	cfg->kafka_values[i] = strdup(value);
	if (cfg->kafka_names[i] == NULL || cfg->kafka_values[i] == NULL) {
		free(cfg->kafka_names[i]);
		free(cfg->kafka_values[i]);
		return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	cfg->n_kafka++;
	return ORC_OK;
}

enum orc_status
orc_config_set(struct orc_config *cfg, const char *name, const char *value,
	       struct orc_error *err)
{
	int i;
	enum orc_status st;

	if (strncmp(name, "kafka.", 6) == 0)
		return set_kafka(cfg, name + 6, value, err);
	i = find(name, strlen(name));
	if (i < 0)
		return orc_error_set(err, ORC_NOT_FOUND, "unknown setting \"%s\"",
				     name);
	st = check_value(&table[i], value, err);
	if (st != ORC_OK)
		return st;
	return replace(&cfg->values[i], value, err);
}

enum orc_status
orc_config_load_env(struct orc_config *cfg, struct orc_error *err)
{
	enum orc_status st;

	for (int i = 0; i < ORC_CFG_COUNT; i++) {
		const char *v = getenv(table[i].env);

		if (v == NULL)
			continue;
		st = orc_config_set(cfg, table[i].name, v, err);
		if (st != ORC_OK) {
			orc_error_prefix(err, "environment variable %s",
					 table[i].env);
			return st;
		}
	}
	/* ORC_KAFKA_SECURITY_PROTOCOL=SSL -> security.protocol=SSL */
	for (char **e = environ; *e != NULL; e++) {
		char prop[256];
		const char *eq;
		size_t n;

		if (strncmp(*e, "ORC_KAFKA_", 10) != 0 ||
		    strncmp(*e, "ORC_KAFKA_BROKERS=", 18) == 0)
			continue;
		eq = strchr(*e, '=');
		if (eq == NULL || (size_t)(eq - *e - 10) >= sizeof(prop))
			continue;
		n = (size_t)(eq - *e - 10);
		for (size_t j = 0; j < n; j++) {
			char c = (*e)[10 + j];

			prop[j] = c == '_' ? '.' : (char)tolower((unsigned char)c);
		}
		prop[n] = '\0';
		st = set_kafka(cfg, prop, eq + 1, err);
		if (st != ORC_OK)
			return st;
	}
	return ORC_OK;
}

static char *
trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

enum orc_status
orc_config_load_file(struct orc_config *cfg, const char *path,
		     struct orc_error *err)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int lineno = 0;
	enum orc_status st = ORC_OK;

	if (f == NULL)
		return orc_error_set(err, ORC_NOT_FOUND, "cannot open %s: %s",
				     path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s = trim(line), *eq;

		lineno++;
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (eq == NULL) {
			st = orc_error_set(err, ORC_INVALID,
					   "%s:%d: expected \"name = value\"",
					   path, lineno);
			break;
		}
		*eq = '\0';
		st = orc_config_set(cfg, trim(s), trim(eq + 1), err);
		if (st != ORC_OK) {
			orc_error_prefix(err, "%s:%d", path, lineno);
			break;
		}
	}
	fclose(f);
	return st;
}

/* Is arg one of ours?  Sets name, nlen and value (NULL: next arg). */
static bool
parse_flag(const char *arg, const char **name, size_t *nlen,
	   const char **value)
{
	const char *eq;

	if (strncmp(arg, "--", 2) != 0)
		return false;
	arg += 2;
	eq = strchr(arg, '=');
	*name = arg;
	*nlen = eq ? (size_t)(eq - arg) : strlen(arg);
	*value = eq ? eq + 1 : NULL;
	if (*nlen == 6 && strncmp(arg, "config", 6) == 0)
		return true;
	if (*nlen > 6 && strncmp(arg, "kafka.", 6) == 0)
		return true;
	return find(arg, *nlen) >= 0;
}

enum orc_status
orc_config_from_args(struct orc_config *cfg, int *argc, char **argv,
		     struct orc_error *err)
{
	enum orc_status st;
	int out = 1;

	/* The file first, so that the environment and flags override it. */
	for (int i = 1; i < *argc; i++) {
		const char *name, *value;
		size_t nlen;

		if (strcmp(argv[i], "--") == 0)
			break;
		if (!parse_flag(argv[i], &name, &nlen, &value) || nlen != 6 ||
		    strncmp(name, "config", 6) != 0)
			continue;
		if (value == NULL && i + 1 >= *argc)
			return orc_error_set(err, ORC_INVALID,
					     "option --config needs a value");
		st = orc_config_load_file(cfg, value ? value : argv[i + 1], err);
		if (st != ORC_OK)
			return st;
	}
	st = orc_config_load_env(cfg, err);
	if (st != ORC_OK)
		return st;
	for (int i = 1; i < *argc; i++) {
		const char *name, *value;
		char key[256];
		size_t nlen;

		if (strcmp(argv[i], "--") == 0) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (!parse_flag(argv[i], &name, &nlen, &value)) {
			argv[out++] = argv[i];
			continue;
		}
		if (value == NULL) {
			if (i + 1 >= *argc)
				return orc_error_set(err, ORC_INVALID,
						     "option %s needs a value",
						     argv[i]);
			value = argv[++i];
		}
		if (nlen == 6 && strncmp(name, "config", 6) == 0)
			continue;
		if (nlen >= sizeof(key))
			return orc_error_set(err, ORC_INVALID, "option too long");
		memcpy(key, name, nlen);
		key[nlen] = '\0';
		st = orc_config_set(cfg, key, value, err);
		if (st != ORC_OK) {
			orc_error_prefix(err, "option --%s", key);
			return st;
		}
	}
	argv[out] = NULL;
	*argc = out;
	return ORC_OK;
}

const char *
orc_config_str(const struct orc_config *cfg, enum orc_config_key key)
{
	return cfg->values[key];
}

int64_t
orc_config_int(const struct orc_config *cfg, enum orc_config_key key)
{
	return cfg->values[key] ? strtoll(cfg->values[key], NULL, 10) : 0;
}

bool
orc_config_bool(const struct orc_config *cfg, enum orc_config_key key)
{
	return cfg->values[key] && strcmp(cfg->values[key], "true") == 0;
}

int64_t
orc_config_duration_ms(const struct orc_config *cfg, enum orc_config_key key)
{
	int64_t ms;

	if (cfg->values[key] == NULL || !orc_duration_parse(cfg->values[key], &ms))
		return 0;
	return ms;
}

static void
flag_name(const char *name, char *buf, size_t len)
{
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < len; i++)
		buf[i] = name[i] == '_' ? '-' : name[i];
	buf[i] = '\0';
}

void
orc_config_print_help(FILE *out)
{
	fprintf(out, "Settings (flag, environment variable; default):\n");
	for (int i = 0; i < ORC_CFG_COUNT; i++) {
		char flag[64];

		flag_name(table[i].name, flag, sizeof(flag));
		fprintf(out, "  --%-18s %-22s %s%s%s\n", flag, table[i].env,
			table[i].help, table[i].def ? "; default " : "",
			table[i].def ? table[i].def : "");
	}
	fprintf(out, "  --config FILE        read \"name = value\" lines first\n"
		     "  --kafka.PROP VALUE   any librdkafka property "
		     "(ORC_KAFKA_PROP_NAME in the environment)\n");
}

void
orc_config_print_markdown(FILE *out)
{
	static const char *types[] = {"string", "integer", "boolean",
				      "duration"};

	fprintf(out, "| setting | flag | environment | type | default | description |\n"
		     "|---|---|---|---|---|---|\n");
	for (int i = 0; i < ORC_CFG_COUNT; i++) {
		char flag[64];

		flag_name(table[i].name, flag, sizeof(flag));
		fprintf(out, "| `%s` | `--%s` | `%s` | %s", table[i].name, flag,
			table[i].env, types[table[i].type]);
		if (table[i].type == ORC_CONFIG_INT)
			fprintf(out, " (%lld..%lld)", (long long)table[i].min,
				(long long)table[i].max);
		if (table[i].type == ORC_CONFIG_DURATION) {
			char lo[32], hi[32];

			orc_duration_format(table[i].min, lo, sizeof(lo));
			orc_duration_format(table[i].max, hi, sizeof(hi));
			fprintf(out, " (%s..%s)", table[i].min == 0 ? "0" : lo,
				hi);
		}
		fprintf(out, " | %s%s%s | %s |\n", table[i].def ? "`" : "",
			table[i].def ? table[i].def : "", table[i].def ? "`" : "",
			table[i].help);
	}
}
