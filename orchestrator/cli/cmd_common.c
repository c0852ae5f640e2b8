/*
 * cmd_common.c - setting up and tearing down an operator command.
 */
#include "cmd_common.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store_saga.h"

int
orc_cmd_fail(const struct orc_cmd *cmd, const struct orc_error *err)
{
	fprintf(stderr, "orchestrator %s: %s\n", cmd->name, err->message);
	if (err->detail[0] != '\0')
		fprintf(stderr, "DETAIL: %s\n", err->detail);
	if (err->hint[0] != '\0')
		fprintf(stderr, "HINT: %s\n", err->hint);
	return 1;
}

int
orc_cmd_fail_input(const struct orc_cmd *cmd, const struct orc_error *err)
{
	orc_cmd_fail(cmd, err);
	return err->status == ORC_INVALID ? 2 : 1;
}

void
orc_cmd_print_json(const json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2));
	putchar('\n');
}

const char *
orc_cmd_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

long long
orc_cmd_int(const json_t *obj, const char *key)
{
	return (long long)json_integer_value(json_object_get(obj, key));
}

int
orc_cmd_init(struct orc_cmd *cmd, const char *name, int *argc, char **argv,
	     unsigned needs)
{
	struct orc_error err = {0};
	enum orc_log_level level;
	enum orc_log_format format;
	int out = 1;

	memset(cmd, 0, sizeof(*cmd));
	cmd->name = name;
	if (orc_config_init(&cmd->cfg, &err) != ORC_OK)
		return orc_cmd_fail(cmd, &err);
	if (orc_config_from_args(&cmd->cfg, argc, argv, &err) != ORC_OK) {
		orc_cmd_fail(cmd, &err);
		return 2;
	}
	if (!orc_log_level_parse(orc_config_str(&cmd->cfg, ORC_CFG_LOG_LEVEL),
				 &level)) {
		orc_error_set(&err, ORC_INVALID,
			      "invalid log_level \"%s\": expected debug, info, "
			      "warn or error",
			      orc_config_str(&cmd->cfg, ORC_CFG_LOG_LEVEL));
		orc_cmd_fail(cmd, &err);
		return 2;
	}
	orc_log_set_level(level);
	if (!orc_log_format_parse(orc_config_str(&cmd->cfg, ORC_CFG_LOG_FORMAT),
				  &format)) {
		orc_error_set(&err, ORC_INVALID,
			      "invalid log_format \"%s\": expected logfmt or json",
			      orc_config_str(&cmd->cfg, ORC_CFG_LOG_FORMAT));
		orc_cmd_fail(cmd, &err);
		return 2;
	}
	orc_log_set_format(format);
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			cmd->json = true;
		else
			argv[out++] = argv[i];
	}
	argv[out] = NULL;
	*argc = out;
	return orc_cmd_open(cmd, needs);
}

int
orc_cmd_open(struct orc_cmd *cmd, unsigned needs)
{
	struct orc_error err = {0};

	if (needs & ORC_CMD_APPLY)
		needs |= ORC_CMD_STORE | ORC_CMD_CATALOG;
	if ((needs & ORC_CMD_STORE) && cmd->store == NULL &&
	    orc_store_connect(orc_config_str(&cmd->cfg, ORC_CFG_PG_DSN),
			      orc_config_str(&cmd->cfg, ORC_CFG_PG_SCHEMA),
			      &cmd->store, &err) != ORC_OK)
		return orc_cmd_fail(cmd, &err);
	if ((needs & ORC_CMD_CATALOG) && cmd->cat == NULL) {
		int skipped;

		cmd->cat = orc_catalog_create();
		if (cmd->cat == NULL) {
			orc_error_set(&err, ORC_FATAL, "out of memory");
			return orc_cmd_fail(cmd, &err);
		}
		if (orc_store_load_definitions(cmd->store, cmd->cat, &skipped,
					       &err) != ORC_OK)
			return orc_cmd_fail(cmd, &err);
	}
	if ((needs & ORC_CMD_APPLY) && cmd->ap == NULL) {
		char lifecycle[ORC_CMD_TOPIC_MAX];
		struct orc_apply_config acfg = {
			.consumer = orc_config_str(&cmd->cfg, ORC_CFG_GROUP),
			.reply_to = NULL, /* the relay's reply_topic */
			.max_command_bytes = (size_t)orc_config_int(
				&cmd->cfg, ORC_CFG_MAX_COMMAND_BYTES),
			.parked_ttl_ms = orc_config_duration_ms(
				&cmd->cfg, ORC_CFG_PARKED_TTL),
			.lifecycle_topic = orc_cmd_lifecycle_topic(
				cmd, lifecycle, sizeof(lifecycle)),
		};

		if (orc_apply_create(cmd->store, cmd->cat, &acfg, &cmd->ap,
				     &err) != ORC_OK)
			return orc_cmd_fail(cmd, &err);
	}
	return 0;
}

const char *
orc_cmd_lifecycle_topic(const struct orc_cmd *cmd, char *buf, size_t len)
{
	const char *topic = orc_config_str(&cmd->cfg, ORC_CFG_LIFECYCLE_TOPIC);

	if (topic == NULL) {
		snprintf(buf, len, "%s.lifecycle",
			 orc_config_str(&cmd->cfg, ORC_CFG_GROUP));
		return buf;
	}
	return *topic != '\0' ? topic : NULL;
}

void
orc_cmd_finish(struct orc_cmd *cmd)
{
	orc_apply_destroy(cmd->ap);
	orc_catalog_destroy(cmd->cat);
	orc_store_destroy(cmd->store);
	orc_config_finish(&cmd->cfg);
	memset(cmd, 0, sizeof(*cmd));
}

const char *
orc_cmd_who(const char *by, char *buf, size_t len)
{
	struct passwd *pw;
	const char *user;
	char host[256];

	if (by != NULL)
		return by;
	pw = getpwuid(geteuid());
	user = pw != NULL ? pw->pw_name : getenv("USER");
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown-host");
	host[sizeof(host) - 1] = '\0';
	if (user != NULL)
		snprintf(buf, len, "%s@%s", user, host);
	else
		snprintf(buf, len, "uid %ld@%s", (long)geteuid(), host);
	return buf;
}

