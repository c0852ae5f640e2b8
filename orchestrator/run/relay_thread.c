/*
 * relay_thread.c - the relay on a thread of its own (see the header).
 *
 * The thread turns the relay whenever it wants a turn or has a batch in
 * flight (a turn then waits, at most turn_wait_ms, for the batch's
 * delivery reports: here that wait holds up nothing else).  Between turns
 * it sleeps in poll() on the relay's connection, which a NOTIFY from a
 * committed outbox insert wakes, for at most IDLE_WAIT_MS, so that the
 * relay's own poll interval and claims still come round and a stop is
 * seen quickly.  Signals stay with the loop's thread: the relay thread
 * blocks them.
 *
 * Shared state, under mu: stats (copied after every turn), the topics to
 * learn next, stop, and the fatal error.  The relay itself is only ever
 * touched by the thread while it runs.
 */
#include "relay_thread.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define IDLE_WAIT_MS 10

struct orc_relay_thread {
	struct orc_relay *relay; /* borrowed; the thread's while it runs */
	pthread_t thread;
	pthread_mutex_t mu;
	/* under mu */
	struct orc_relay_stats stats;
	char **topics; /* owned copies, NULL when none wait */
	size_t n_topics;
	bool stop;
	bool failed;
	struct orc_error fatal;
};

static void
free_topics(char **topics, size_t n)
{
	for (size_t i = 0; topics != NULL && i < n; i++)
		free(topics[i]);
	free(topics);
}

/* Hand the topics that wait to the relay (on the thread). */
static void
learn_topics(struct orc_relay_thread *t)
{
	char **topics;
	size_t n;

	pthread_mutex_lock(&t->mu);
	topics = t->topics;
	n = t->n_topics;
	t->topics = NULL;
	t->n_topics = 0;
	pthread_mutex_unlock(&t->mu);
	if (topics == NULL)
		return;
	orc_relay_know_topics(t->relay, (const char *const *)topics, n);
	free_topics(topics, n);
}

static bool
stopping(struct orc_relay_thread *t)
{
	bool stop;

	pthread_mutex_lock(&t->mu);
	stop = t->stop;
	pthread_mutex_unlock(&t->mu);
	return stop;
}

/* Sleep until the relay's connection has something, or IDLE_WAIT_MS. */
static void
idle(struct orc_relay_thread *t)
{
	struct pollfd pfd = {.fd = orc_relay_socket(t->relay), .events = POLLIN};

	if (pfd.fd < 0 || poll(&pfd, 1, IDLE_WAIT_MS) < 0)
		orc_clock_sleep_ms(IDLE_WAIT_MS, NULL);
}

static void *
run(void *arg)
{
	struct orc_relay_thread *t = arg;

	while (!stopping(t)) {
		struct orc_error err = {0};
		enum orc_status st = ORC_OK;
		bool turned = false;

		learn_topics(t);
		if (orc_relay_in_flight(t->relay) ||
		    orc_relay_wants_turn(t->relay, orc_clock_mono_ms())) {
			/* the relay logs its failures itself, once */
			st = orc_relay_turn(t->relay, NULL, &err);
			turned = true;
		}
		pthread_mutex_lock(&t->mu);
		t->stats = *orc_relay_get_stats(t->relay);
		if (st != ORC_OK && err.status == ORC_FATAL) {
			t->failed = true;
			t->fatal = err;
		}
		pthread_mutex_unlock(&t->mu);
		if (st != ORC_OK && err.status == ORC_FATAL)
			break;
		if (!turned)
			idle(t);
	}
	return NULL;
}

enum orc_status
orc_relay_thread_start(struct orc_relay *relay, struct orc_relay_thread **out,
		       struct orc_error *err)
{
	struct orc_relay_thread *t = calloc(1, sizeof(*t));
	sigset_t all, old;
	int e;

	*out = NULL;
	if (t == NULL)
		return orc_error_set(err, ORC_FATAL, "out of memory");
	t->relay = relay;
	t->stats = *orc_relay_get_stats(relay);
	if ((e = pthread_mutex_init(&t->mu, NULL)) != 0) {
		free(t);
		return orc_error_set(err, ORC_FATAL,
				     "cannot make the relay's mutex: %s",
				     strerror(e));
	}
	/* the new thread inherits the mask: signals stay with the loop */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&t->thread, NULL, run, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		pthread_mutex_destroy(&t->mu);
		free(t);
		return orc_error_set(err, ORC_FATAL,
				     "cannot start the relay's thread: %s",
				     strerror(e));
	}
	*out = t;
	return ORC_OK;
}

void
orc_relay_thread_stats(struct orc_relay_thread *t, struct orc_relay_stats *out)
{
	pthread_mutex_lock(&t->mu);
	*out = t->stats;
	pthread_mutex_unlock(&t->mu);
}

void
orc_relay_thread_know_topics(struct orc_relay_thread *t,
			     const char *const *topics, size_t n)
{
	char **copy = calloc(n > 0 ? n : 1, sizeof(*copy));
	size_t k = 0;

	if (copy == NULL)
		return; /* learnt at its first command instead */
	for (; k < n; k++)
		if ((copy[k] = strdup(topics[k])) == NULL)
			break;
	pthread_mutex_lock(&t->mu);
	free_topics(t->topics, t->n_topics);
	t->topics = copy;
	t->n_topics = k;
	pthread_mutex_unlock(&t->mu);
}

bool
orc_relay_thread_failed(struct orc_relay_thread *t, struct orc_error *err)
{
	bool failed;

	pthread_mutex_lock(&t->mu);
	failed = t->failed;
	if (failed && err != NULL)
		*err = t->fatal;
	pthread_mutex_unlock(&t->mu);
	return failed;
}

void
orc_relay_thread_stop(struct orc_relay_thread *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = true;
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	free_topics(t->topics, t->n_topics);
	pthread_mutex_destroy(&t->mu);
	free(t);
}
