/*
 * metrics.h - a registry of counters, gauges and histograms, rendered in
 * the Prometheus text exposition format, version 0.0.4.
 *
 * Pure: no I/O, no clock, no threads.  The owner sets values (usually by
 * copying the counters the processes keep anyway) and renders the text
 * when /metrics is scraped.  A family is one metric name with its help
 * text and type; a series is one label set of a family.  Series are found
 * or created by (name, labels), so calling orc_metrics_gauge() with the
 * same arguments again returns the same series; that is how label sets
 * that come and go (partitions, statuses) are kept up to date.
 *
 * Names and label names are checked when a series is created (metric
 * names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* not
 * starting with "__", and "le" is reserved for histograms); label values
 * and help texts may be any UTF-8 and are escaped once, at creation.
 *
 * Not thread-safe: one thread owns a registry.
 */
#ifndef ORC_METRICS_H
#define ORC_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* The Content-Type of orc_metrics_render()'s output. */
#define ORC_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum orc_metric_type {
	ORC_METRIC_COUNTER,
	ORC_METRIC_GAUGE,
	ORC_METRIC_HISTOGRAM,
};

/* "counter", "gauge", "histogram" (as in # TYPE lines). */
const char *orc_metric_type_name(enum orc_metric_type type);

struct orc_metrics;
struct orc_metric; /* one series; owned by its registry */

/* An empty registry (new; NULL when out of memory). */
struct orc_metrics *orc_metrics_create(void);
void orc_metrics_destroy(struct orc_metrics *reg); /* accepts NULL */

/*
 * Find or create the series of family name with labels: NULL, or a
 * NULL-terminated list of name, value, name, value, ... (all borrowed;
 * copied).  help is borrowed and copied the first time the family is
 * seen.  Returns the series (owned by reg, valid until it is removed or
 * reg destroyed), or NULL when a name is invalid, the family exists with
 * another type (or, for histograms, other bounds), or memory ran out.
 *
 * Histogram bounds[0..n_bounds) are the upper bounds of the buckets,
 * strictly increasing and finite (borrowed; copied); the +Inf bucket is
 * implicit.
 */
struct orc_metric *orc_metrics_counter(struct orc_metrics *reg,
				       const char *name, const char *help,
				       const char *const *labels);
struct orc_metric *orc_metrics_gauge(struct orc_metrics *reg, const char *name,
				     const char *help,
				     const char *const *labels);
struct orc_metric *orc_metrics_histogram(struct orc_metrics *reg,
					 const char *name, const char *help,
					 const char *const *labels,
					 const double *bounds, size_t n_bounds);

/*
 * Remove every series of family name (the family's help and type stay
 * known; a family without series is not rendered).  Handles to them are
 * invalid afterwards.  Does nothing for an unknown name.
 */
void orc_metrics_remove(struct orc_metrics *reg, const char *name);

/*
 * Values.  set: a gauge's value, or a counter's total when the owner keeps
 * the count itself (a counter never goes down: a lower value is ignored).
 * add: increase (counters ignore negative amounts).  observe: one sample
 * of a histogram.  Each accepts NULL and ignores a series of another type.
 */
void orc_metric_set(struct orc_metric *m, double value);
void orc_metric_add(struct orc_metric *m, double amount);
void orc_metric_observe(struct orc_metric *m, double value);

/* A counter's or gauge's value; a histogram's sum of samples. */
double orc_metric_value(const struct orc_metric *m);

/* A histogram's number of samples (0 for other types). */
unsigned long long orc_metric_count(const struct orc_metric *m);

/*
 * The whole registry as text: families in the order they were first
 * created, series in the order they were created, each family with one
 * # HELP and one # TYPE line.  *out is new (NUL-terminated; free()), *len
 * its length.  ORC_FATAL only when out of memory.
 */
enum orc_status orc_metrics_render(const struct orc_metrics *reg, char **out,
				   size_t *len, struct orc_error *err);

/*
 * Format a sample value as the format wants it: "+Inf", "-Inf", "NaN",
 * whole numbers below 1e17 with all their digits ("42", "10"), others as
 * the shortest decimal that reads back as the same double ("0.005",
 * "1e+20").  buf must hold 32 bytes.  Returns buf.
 */
const char *orc_metrics_format_value(double value, char *buf);

#endif
