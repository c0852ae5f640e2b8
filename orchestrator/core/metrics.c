/*
 * metrics.c - the metrics registry and its text rendering.
 *
 * A registry is a list of families, each a list of series; registries are
 * small (tens of series), so lookups are linear and nothing is hashed.
 * Escaping happens once, when a series is created: a series keeps its
 * label set already rendered ("a=\"x\",b=\"y\""), and a family its help
 * text already escaped, so a scrape only concatenates and formats numbers.
 * Histogram buckets are counted per bucket and made cumulative when
 * rendered.
 *
 * Must not: do I/O, read a clock, or keep a pointer to the caller's
 * strings.
 */
#include "metrics.h"
#include "strbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct family;

struct orc_metric {
	struct family *fam;
	char *labels;		  /* rendered, without braces; "" when none */
	double value;		  /* counter, gauge; a histogram's sum */
	unsigned long long count; /* histogram: samples */
	unsigned long long *buckets; /* histogram: per bucket, n_bounds */
	struct orc_metric *next;
};

struct family {
	char *name;
	char *help; /* escaped */
	enum orc_metric_type type;
	double *bounds;
	size_t n_bounds;
	struct orc_metric *first, *last;
	struct family *next;
};

struct orc_metrics {
	struct family *first, *last;
};

/* ---- text ---- */

/* Append s escaped: backslash and newline always, '"' when quoted. */
static void
sb_escaped(struct orc_strbuf *b, const char *s, bool quoted)
{
	for (; *s; s++) {
		if (*s == '\\')
			orc_strbuf_append(b, "\\\\", 2);
		else if (*s == '\n')
			orc_strbuf_append(b, "\\n", 2);
		else if (*s == '"' && quoted)
			orc_strbuf_append(b, "\\\"", 2);
		else
			orc_strbuf_putc(b, *s);
	}
}

/* ---- names ---- */

static bool
valid_metric_name(const char *s)
{
	if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == ':'))
			return false;
	}
	return true;
}

static bool
valid_label_name(const char *s)
{
	if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9') ||
	    strncmp(s, "__", 2) == 0)
		return false;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

const char *
orc_metric_type_name(enum orc_metric_type type)
{
	switch (type) {
	case ORC_METRIC_COUNTER:
		return "counter";
	case ORC_METRIC_GAUGE:
		return "gauge";
	case ORC_METRIC_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

/* ---- registry ---- */

struct orc_metrics *
orc_metrics_create(void)
{
	return calloc(1, sizeof(struct orc_metrics));
}

static void
series_free(struct orc_metric *m)
{
	free(m->labels);
	free(m->buckets);
	free(m);
}

static void
family_clear(struct family *f)
{
	struct orc_metric *m = f->first, *next;

	for (; m != NULL; m = next) {
		next = m->next;
		series_free(m);
	}
	f->first = f->last = NULL;
}

void
orc_metrics_destroy(struct orc_metrics *reg)
{
	struct family *f, *next;

	if (reg == NULL)
		return;
	for (f = reg->first; f != NULL; f = next) {
		next = f->next;
		family_clear(f);
		free(f->name);
		free(f->help);
		free(f->bounds);
		free(f);
	}
	free(reg);
}

static struct family *
find_family(const struct orc_metrics *reg, const char *name)
{
	for (struct family *f = reg->first; f != NULL; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static bool
same_bounds(const struct family *f, const double *bounds, size_t n)
{
	if (f->n_bounds != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (f->bounds[i] != bounds[i])
			return false;
	return true;
}

static struct family *
get_family(struct orc_metrics *reg, const char *name, const char *help,
	   enum orc_metric_type type, const double *bounds, size_t n_bounds)
{
	struct family *f = find_family(reg, name);
	struct orc_strbuf hb = {0};

	if (f != NULL) {
		if (f->type != type || (type == ORC_METRIC_HISTOGRAM &&
					!same_bounds(f, bounds, n_bounds)))
			return NULL;
		return f;
	}
	if (!valid_metric_name(name))
		return NULL;
	if (type == ORC_METRIC_HISTOGRAM) {
		for (size_t i = 0; i < n_bounds; i++)
			if (!isfinite(bounds[i]) ||
			    (i > 0 && !(bounds[i] > bounds[i - 1])))
				return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->type = type;
	f->name = strdup(name);
	sb_escaped(&hb, help ? help : "", false);
	orc_strbuf_reserve(&hb, 0);
	f->help = hb.data;
	if (n_bounds > 0) {
		f->bounds = malloc(n_bounds * sizeof(*f->bounds));
		if (f->bounds != NULL)
			memcpy(f->bounds, bounds, n_bounds * sizeof(*bounds));
	}
	f->n_bounds = n_bounds;
	if (f->name == NULL || hb.oom || f->help == NULL ||
	    (n_bounds > 0 && f->bounds == NULL)) {
		free(f->name);
		free(f->help);
		free(f->bounds);
		free(f);
		return NULL;
	}
	if (reg->last != NULL)
		reg->last->next = f;
	else
		reg->first = f;
	reg->last = f;
	return f;
}

/* Render labels into a new string; NULL when invalid or out of memory. */
static char *
render_labels(const char *const *labels, enum orc_metric_type type)
{
	struct orc_strbuf b = {0};

	orc_strbuf_reserve(&b, 0);
	for (size_t i = 0; labels != NULL && labels[i] != NULL; i += 2) {
		if (labels[i + 1] == NULL || !valid_label_name(labels[i]) ||
		    (type == ORC_METRIC_HISTOGRAM &&
		     strcmp(labels[i], "le") == 0)) {
			orc_strbuf_finish(&b);
			return NULL;
		}
		for (size_t j = 0; j < i; j += 2)
			if (strcmp(labels[j], labels[i]) == 0) {
				orc_strbuf_finish(&b);
				return NULL; /* a label twice */
			}
		if (i > 0)
			orc_strbuf_putc(&b, ',');
		orc_strbuf_puts(&b, labels[i]);
		orc_strbuf_append(&b, "=\"", 2);
		sb_escaped(&b, labels[i + 1], true);
		orc_strbuf_putc(&b, '"');
	}
	if (b.oom) {
		orc_strbuf_finish(&b);
		return NULL;
	}
	return b.data;
}

static struct orc_metric *
get_series(struct orc_metrics *reg, const char *name, const char *help,
	   enum orc_metric_type type, const char *const *labels,
	   const double *bounds, size_t n_bounds)
{
	struct family *f;
	struct orc_metric *m;
	char *rendered;

	if (reg == NULL)
		return NULL;
	f = get_family(reg, name, help, type, bounds, n_bounds);
	if (f == NULL)
		return NULL;
	rendered = render_labels(labels, type);
	if (rendered == NULL)
		return NULL;
	for (m = f->first; m != NULL; m = m->next)
		if (strcmp(m->labels, rendered) == 0) {
			free(rendered);
			return m;
		}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		free(rendered);
		return NULL;
	}
	m->fam = f;
	m->labels = rendered;
	if (type == ORC_METRIC_HISTOGRAM && n_bounds > 0) {
		m->buckets = calloc(n_bounds, sizeof(*m->buckets));
		if (m->buckets == NULL) {
			series_free(m);
			return NULL;
		}
	}
	if (f->last != NULL)
		f->last->next = m;
	else
		f->first = m;
	f->last = m;
	return m;
}

struct orc_metric *
orc_metrics_counter(struct orc_metrics *reg, const char *name, const char *help,
		    const char *const *labels)
{
	return get_series(reg, name, help, ORC_METRIC_COUNTER, labels, NULL, 0);
}

struct orc_metric *
orc_metrics_gauge(struct orc_metrics *reg, const char *name, const char *help,
		  const char *const *labels)
{
	return get_series(reg, name, help, ORC_METRIC_GAUGE, labels, NULL, 0);
}

struct orc_metric *
orc_metrics_histogram(struct orc_metrics *reg, const char *name,
		      const char *help, const char *const *labels,
		      const double *bounds, size_t n_bounds)
{
	if (n_bounds > 0 && bounds == NULL)
		return NULL;
	return get_series(reg, name, help, ORC_METRIC_HISTOGRAM, labels, bounds,
			  n_bounds);
}

void
orc_metrics_remove(struct orc_metrics *reg, const char *name)
{
	struct family *f = reg ? find_family(reg, name) : NULL;

	if (f != NULL)
		family_clear(f);
}

/* ---- values ---- */

void
orc_metric_set(struct orc_metric *m, double value)
{
	if (m == NULL)
		return;
	if (m->fam->type == ORC_METRIC_GAUGE)
		m->value = value;
	else if (m->fam->type == ORC_METRIC_COUNTER && value > m->value)
		m->value = value;
}

void
orc_metric_add(struct orc_metric *m, double amount)
{
	if (m == NULL)
		return;
	if (m->fam->type == ORC_METRIC_GAUGE ||
	    (m->fam->type == ORC_METRIC_COUNTER && amount > 0))
		m->value += amount;
}

void
orc_metric_observe(struct orc_metric *m, double value)
{
	struct family *f;

	if (m == NULL || m->fam->type != ORC_METRIC_HISTOGRAM || isnan(value))
		return;
	f = m->fam;
	for (size_t i = 0; i < f->n_bounds; i++)
		if (value <= f->bounds[i]) {
			m->buckets[i]++;
			break;
		}
	m->count++;
	m->value += value;
}

double
orc_metric_value(const struct orc_metric *m)
{
	return m ? m->value : 0.0;
}

unsigned long long
orc_metric_count(const struct orc_metric *m)
{
	return m && m->fam->type == ORC_METRIC_HISTOGRAM ? m->count : 0;
}

/* ---- rendering ---- */

const char *
orc_metrics_format_value(double v, char *buf)
{
	if (isnan(v))
		return strcpy(buf, "NaN");
	if (isinf(v))
		return strcpy(buf, v > 0 ? "+Inf" : "-Inf");
	if (v == floor(v) && fabs(v) < 1e17) { /* counts: all digits, "10" */
		snprintf(buf, 32, "%.0f", v);
		return buf;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, 32, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

/* name{labels[,extra]} value\n */
static void
sample(struct orc_strbuf *b, const char *name, const char *suffix, const char *labels,
       const char *extra, double value)
{
	char num[32];

	orc_strbuf_puts(b, name);
	orc_strbuf_puts(b, suffix);
	if (labels[0] != '\0' || extra != NULL) {
		orc_strbuf_putc(b, '{');
		orc_strbuf_puts(b, labels);
		if (extra != NULL) {
			if (labels[0] != '\0')
				orc_strbuf_putc(b, ',');
			orc_strbuf_puts(b, extra);
		}
		orc_strbuf_putc(b, '}');
	}
	orc_strbuf_putc(b, ' ');
	orc_strbuf_puts(b, orc_metrics_format_value(value, num));
	orc_strbuf_putc(b, '\n');
}

static void
render_histogram(struct orc_strbuf *b, const struct family *f,
		 const struct orc_metric *m)
{
	unsigned long long cum = 0;
	char le[48], num[32];

	for (size_t i = 0; i < f->n_bounds; i++) {
		cum += m->buckets[i];
		snprintf(le, sizeof(le), "le=\"%s\"",
			 orc_metrics_format_value(f->bounds[i], num));
		sample(b, f->name, "_bucket", m->labels, le, (double)cum);
	}
	sample(b, f->name, "_bucket", m->labels, "le=\"+Inf\"",
	       (double)m->count);
	sample(b, f->name, "_sum", m->labels, NULL, m->value);
	sample(b, f->name, "_count", m->labels, NULL, (double)m->count);
}

enum orc_status
orc_metrics_render(const struct orc_metrics *reg, char **out, size_t *len,
		   struct orc_error *err)
{
	struct orc_strbuf b = {0};

	*out = NULL;
	*len = 0;
	orc_strbuf_reserve(&b, 0);
	for (const struct family *f = reg ? reg->first : NULL; f != NULL;
	     f = f->next) {
		if (f->first == NULL)
			continue;
		orc_strbuf_puts(&b, "# HELP ");
		orc_strbuf_puts(&b, f->name);
		orc_strbuf_putc(&b, ' ');
		orc_strbuf_puts(&b, f->help);
		orc_strbuf_puts(&b, "\n# TYPE ");
		orc_strbuf_puts(&b, f->name);
		orc_strbuf_putc(&b, ' ');
		orc_strbuf_puts(&b, orc_metric_type_name(f->type));
		orc_strbuf_putc(&b, '\n');
		for (const struct orc_metric *m = f->first; m != NULL;
		     m = m->next) {
			if (f->type == ORC_METRIC_HISTOGRAM)
				render_histogram(&b, f, m);
			else
				sample(&b, f->name, "", m->labels, NULL,
				       m->value);
		}
	}
	if (b.oom) {
		orc_strbuf_finish(&b);
		return orc_error_set(err, ORC_FATAL, "out of memory");
	}
	*out = b.data;
	*len = b.len;
	return ORC_OK;
}
