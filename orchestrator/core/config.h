/*
 * config.h - the orchestrator's settings, from one table.
 *
 * Every setting is one row of the table in config.c: name, environment
 * variable, type, default, bounds, description.  That table drives parsing
 * (command-line flags, a config file, ORC_* environment variables),
 * validation, `--help` and the README's table (`orchestrator config
 * --markdown`).  Precedence, lowest first: default, config file,
 * environment, flags.
 *
 * Kafka client properties pass through untouched: "kafka.<property>" (or
 * ORC_KAFKA_<PROPERTY> with '_' for '.') reaches librdkafka as <property>,
 * so TLS and SASL need no code here.
 */
#ifndef ORC_CONFIG_H
#define ORC_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

enum orc_config_key {
	ORC_CFG_PG_DSN,
	ORC_CFG_PG_SCHEMA,
	ORC_CFG_KAFKA_BROKERS,
	ORC_CFG_GROUP,
	ORC_CFG_REPLY_TOPIC,
	ORC_CFG_DLQ_TOPIC,
	ORC_CFG_ROLES,
	ORC_CFG_BATCH_SIZE,
	ORC_CFG_BATCH_LINGER_MS,
	ORC_CFG_APPLY_OVERLAP,
	ORC_CFG_RELAY_BATCH,
	ORC_CFG_RELAY_POLL_MS,
	ORC_CFG_TIMER_BATCH,
	ORC_CFG_TIMER_POLL_MS,
	ORC_CFG_DEFINITIONS,
	ORC_CFG_HTTP_PORT,
	ORC_CFG_LOG_LEVEL,
	ORC_CFG_LOG_FORMAT,
	ORC_CFG_INSTANCE_ID,
	ORC_CFG_SESSION_TIMEOUT_MS,
	ORC_CFG_READY_KAFKA_GRACE_MS,
	ORC_CFG_MAX_COMMAND_BYTES,
	ORC_CFG_HTTP_ADDRESS,
	ORC_CFG_HTTP_TOKEN,
	ORC_CFG_RELAY_THREAD,
	ORC_CFG_RETENTION,
	ORC_CFG_ARCHIVE_TOPIC,
	ORC_CFG_INBOX_TTL,
	ORC_CFG_DEAD_LETTER_RETENTION,
	ORC_CFG_HOUSEKEEPING_BATCH,
	ORC_CFG_HOUSEKEEPING_INTERVAL_MS,
	ORC_CFG_LIFECYCLE_TOPIC,
	ORC_CFG_PARKED_TTL,
	ORC_CFG_REQUEST_POLL_MS,
	ORC_CFG_REQUEST_BATCH,
	ORC_CFG_CONTROLS_REFRESH_MS,
	ORC_CFG_COUNT
};

enum orc_config_type {
	ORC_CONFIG_STRING,
	ORC_CONFIG_INT,
	ORC_CONFIG_BOOL,
	/*
	 * A duration as util/duration.h writes it ("30d", "1h30m"), kept as
	 * text; min and max bound it in milliseconds, and "0" is taken when
	 * min is 0 (the setting's "never" or "off").
	 */
	ORC_CONFIG_DURATION,
};

struct orc_config_def {
	const char *name; /* "pg_dsn"; flag --pg-dsn, file key pg_dsn */
	const char *env;  /* "ORC_PG_DSN" */
	enum orc_config_type type;
	const char *def;  /* default as text, NULL = unset */
	int64_t min, max; /* bounds for ORC_CONFIG_INT and _DURATION (ms) */
	const char *help;
};

/* The table (static, ORC_CFG_COUNT entries, indexed by enum orc_config_key). */
const struct orc_config_def *orc_config_table(void);

#define ORC_CONFIG_KAFKA_MAX 64

/* Values, owned by the struct; init/finish, the caller owns the struct. */
struct orc_config {
	char *values[ORC_CFG_COUNT];
	char *kafka_names[ORC_CONFIG_KAFKA_MAX]; /* passthrough properties */
	char *kafka_values[ORC_CONFIG_KAFKA_MAX];
	int n_kafka;
};

/* Fill the defaults. ORC_FATAL only when out of memory. */
enum orc_status orc_config_init(struct orc_config *cfg, struct orc_error *err);
void orc_config_finish(struct orc_config *cfg);

/*
 * Set name (a table name, or "kafka.<property>") to value (both borrowed;
 * copied).  Checks type and bounds.  ORC_NOT_FOUND for an unknown name,
 * ORC_INVALID for a bad value; err names the setting and what was expected.
 */
enum orc_status orc_config_set(struct orc_config *cfg, const char *name,
			       const char *value, struct orc_error *err);

/* Apply every ORC_* environment variable of the table and ORC_KAFKA_*. */
enum orc_status orc_config_load_env(struct orc_config *cfg,
				    struct orc_error *err);

/*
 * Apply a file of "name = value" lines ('#' comments, blank lines).  Errors
 * name the file and line.
 */
enum orc_status orc_config_load_file(struct orc_config *cfg, const char *path,
				     struct orc_error *err);

/*
 * Take the flags this module knows out of argv: "--config FILE", and
 * "--<name> VALUE" or "--<name>=VALUE" for every table entry (dashes or
 * underscores) and for "--kafka.<property>".  Recognised flags are removed
 * from argv (order kept); *argc is updated.  The config file is read before
 * the environment and the flags, whatever the order on the command line.
 */
enum orc_status orc_config_from_args(struct orc_config *cfg, int *argc,
				     char **argv, struct orc_error *err);

const char *orc_config_str(const struct orc_config *cfg, enum orc_config_key key);
int64_t orc_config_int(const struct orc_config *cfg, enum orc_config_key key);
bool orc_config_bool(const struct orc_config *cfg, enum orc_config_key key);
/* An ORC_CONFIG_DURATION setting in milliseconds (0 for "0" or unset). */
int64_t orc_config_duration_ms(const struct orc_config *cfg,
			       enum orc_config_key key);

/* The settings as help text (for --help), or as a Markdown table. */
void orc_config_print_help(FILE *out);
void orc_config_print_markdown(FILE *out);

#endif
