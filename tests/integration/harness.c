/*
 * harness.c - integration test helpers over the real local stack.
 */
#include "harness.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOWTO                                                                  \
	"integration tests need the local stack: run them with "               \
	"`deploy/local/stack.sh run -- ctest --test-dir build -L integration`, " \
	"or `source <stack dir>/stack.env` after `deploy/local/stack.sh start`"

static const char *
need(const char *var)
{
	const char *v = getenv(var);

	if (v == NULL || *v == '\0')
		ck_abort_msg("%s is not set; %s", var, HOWTO);
	return v;
}

const char *
orc_it_pg_dsn(void)
{
	return need("ORC_PG_DSN");
}

const char *
orc_it_kafka_brokers(void)
{
	return need("ORC_KAFKA_BROKERS");
}

void
orc_it_unique(const char *prefix, char *buf, size_t len)
{
	static unsigned counter;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(buf, len, "%s_%d_%u_%lx", prefix, (int)getpid(), ++counter,
		 (unsigned long)(ts.tv_nsec ^ ts.tv_sec) & 0xffffff);
}

void
orc_it_dsn_for(const char *dbname, char *buf, size_t len)
{
	PQconninfoOption *opts = PQconninfoParse(orc_it_pg_dsn(), NULL);
	size_t n = 0;

	ck_assert_msg(opts != NULL, "cannot parse ORC_PG_DSN");
	buf[0] = '\0';
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		const char *v = strcmp(o->keyword, "dbname") == 0 ? dbname : o->val;

		if (v == NULL || *v == '\0')
			continue;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s='%s'",
				      n ? " " : "", o->keyword, v);
	}
	PQconninfoFree(opts);
	ck_assert_msg(n < len, "dsn too long");
}

PGconn *
orc_it_pg_connect(const char *dbname)
{
	char dsn[1024];
	PGconn *conn;

	if (dbname != NULL)
		orc_it_dsn_for(dbname, dsn, sizeof(dsn));
	else
		snprintf(dsn, sizeof(dsn), "%s", orc_it_pg_dsn());
	conn = PQconnectdb(dsn);
	if (PQstatus(conn) != CONNECTION_OK)
		ck_abort_msg("cannot connect to %s: %s; %s", dsn,
			     PQerrorMessage(conn), HOWTO);
	return conn;
}

void
orc_it_create_database(char *buf, size_t len)
{
	PGconn *conn = orc_it_pg_connect(NULL);
	char sql[256];
	PGresult *res;

	orc_it_unique("it", buf, len);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", buf);
	res = PQexec(conn, sql);
	ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s: %s", sql,
		      PQerrorMessage(conn));
	PQclear(res);
	PQfinish(conn);
}

char *
orc_it_pg_value(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	char *v;

	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql,
		      PQerrorMessage(conn));
	ck_assert_msg(PQntuples(res) == 1 && PQnfields(res) == 1,
		      "%s: expected one value, got %d rows", sql, PQntuples(res));
	v = strdup(PQgetisnull(res, 0, 0) ? "(null)" : PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

int
orc_it_spawn_prog(const char *logfile, const char *const *env,
		  const char *prog, const char *const *args)
{
	const char *argv[64];
	size_t n = 0;
	pid_t pid;

	argv[n++] = prog;
	for (; args[n - 1] != NULL && n < 63; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	pid = fork();
	ck_assert_msg(pid >= 0, "fork failed");
	if (pid == 0) {
		int fd = open(logfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
			char name[256];
			const char *eq = strchr(env[i], '=');

			if (eq == NULL || (size_t)(eq - env[i]) >= sizeof(name))
				continue;
			memcpy(name, env[i], (size_t)(eq - env[i]));
			name[eq - env[i]] = '\0';
			setenv(name, eq + 1, 1);
		}
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	return (int)pid;
}

int
orc_it_spawn(const char *logfile, const char *const *args)
{
	return orc_it_spawn_prog(logfile, NULL, ORC_BINARY, args);
}

int
orc_it_wait(int pid)
{
	int status;

	if (waitpid((pid_t)pid, &status, 0) < 0)
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int
orc_it_run(char *out, size_t len, const char *const *args)
{
	char logfile[] = "/tmp/orc-it-XXXXXX";
	int fd = mkstemp(logfile);
	int pid, rc;
	ssize_t got;

	ck_assert_msg(fd >= 0, "mkstemp failed");
	pid = orc_it_spawn(logfile, args);
	rc = orc_it_wait(pid);
	got = read(fd, out, len - 1);
	out[got > 0 ? got : 0] = '\0';
	close(fd);
	unlink(logfile);
	return rc;
}
