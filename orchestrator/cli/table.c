/*
 * table.c - printing the operator commands' tables (see table.h).
 *
 * The widths are settled before anything is printed, from every cell, so
 * the whole table is held in memory: fine for what an operator asks to
 * see (the commands cap their lists with --limit).
 */
#include "table.h"

#include <stdlib.h>
#include <string.h>

void
orc_table_init(struct orc_table *t, const struct orc_table_column *cols,
	       size_t ncols, bool tail)
{
	memset(t, 0, sizeof(*t));
	t->cols = cols;
	t->ncols = ncols;
	t->tail = tail && ncols > 0;
	t->width = ORC_TABLE_WIDTH;
}

void
orc_table_finish(struct orc_table *t)
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
cell_dup(const char *s, bool *oom)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*oom = true;
	for (char *p = d; p != NULL && *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return d;
}

void
orc_table_add(struct orc_table *t, const char *const *cells, const char *note)
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
		t->cells[t->nrows * t->ncols + c] = cell_dup(cells[c], &t->oom);
	t->notes[t->nrows] = cell_dup(note, &t->oom);
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

static void
spaces(FILE *out, size_t n)
{
	fprintf(out, "%*s", (int)n, "");
}

/* Print s in w columns: cut (ending in "~") or padded as the column says. */
static void
put_cell(FILE *out, const char *s, size_t w, bool right, bool pad)
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
		fwrite(s, 1, (size_t)(p - s), out);
		putc('~', out);
		return;
	}
	if (right)
		spaces(out, w - sw);
	fputs(s, out);
	if (!right && pad)
		spaces(out, w - sw);
}

/*
 * Settle the widths w[] of the columns before the tail: each as wide as
 * its content, then cut as table.h says.  Returns the separator's width;
 * *total is the width of a row without its tail.
 */
static size_t
fit(const struct orc_table *t, size_t *w, size_t fixed, size_t *total)
{
	size_t sep = 2, gaps = fixed > 0 ? fixed - 1 : 0;

	*total = 0;
	for (size_t c = 0; c < fixed; c++) {
		w[c] = text_width(t->cols[c].title);
		for (size_t r = 0; r < t->nrows; r++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t sw = text_width(s ? s : "-");

			if (sw > w[c])
				w[c] = sw;
		}
		*total += w[c];
	}
	if (*total + sep * gaps > t->width)
		sep = 1;
	*total += sep * gaps;
	while (*total > t->width) {
		size_t widest = fixed;

		for (size_t c = 0; c < fixed; c++)
			if (t->cols[c].min > 0 &&
			    w[c] > (size_t)t->cols[c].min &&
			    (widest == fixed || w[c] > w[widest]))
				widest = c;
		if (widest == fixed)
			break; /* as narrow as it gets */
		w[widest]--;
		(*total)--;
	}
	return sep;
}

/* Print row (NULL: the titles) with the widths w. */
static void
put_row(const struct orc_table *t, FILE *out, char *const *row,
	const size_t *w, size_t fixed, size_t sep, size_t total)
{
	const char *tail = NULL;
	bool inline_tail = false;

	if (t->tail) {
		tail = row == NULL ? t->cols[fixed].title : row[fixed];
		inline_tail = tail != NULL &&
			      total + sep + text_width(tail) <= t->width;
	}
	for (size_t c = 0; c < fixed; c++) {
		const char *s = row == NULL ? t->cols[c].title : row[c];

		if (c > 0)
			spaces(out, sep);
		/* no trailing blanks: the last cell is padded only when
		 * something follows it */
		put_cell(out, s ? s : "-", w[c], t->cols[c].right,
			 c + 1 < fixed || inline_tail);
	}
	if (inline_tail) {
		if (fixed > 0)
			spaces(out, sep);
		fputs(tail, out);
	}
	putc('\n', out);
	if (tail != NULL && !inline_tail)
		fprintf(out, "    %s\n", tail);
}

void
orc_table_print(const struct orc_table *t, FILE *out)
{
	size_t fixed = t->ncols - (t->tail ? 1 : 0), sep, total;
	size_t *w = t->oom ? NULL : calloc(t->ncols + 1, sizeof(*w));

	if (w == NULL) {
		fputs("(out of memory)\n", out);
		return;
	}
	sep = fit(t, w, fixed, &total);
	put_row(t, out, NULL, w, fixed, sep, total);
	for (size_t r = 0; r < t->nrows; r++) {
		put_row(t, out, &t->cells[r * t->ncols], w, fixed, sep, total);
		if (t->notes[r] != NULL)
			fprintf(out, "  %s\n", t->notes[r]);
	}
	free(w);
}

void
orc_table_print_count(FILE *out, size_t shown, size_t total, const char *one,
		      const char *many)
{
	if (total > shown)
		fprintf(out, "(%zu of %zu %s; --limit N shows more)\n", shown,
			total, many);
	else
		fprintf(out, "(%zu %s)\n", shown, shown == 1 ? one : many);
}

const char *
orc_table_time(const char *iso, char *buf)
{
	if (iso == NULL)
		return "-";
	if (strlen(iso) == 24 && iso[19] == '.') {
		memcpy(buf, iso, 19);
		memcpy(buf + 19, "Z", 2);
		return buf;
	}
	snprintf(buf, ORC_TABLE_TIME_MAX, "%s", iso);
	return buf;
}
