/*
 * table.h - the operator commands' tables: rows of text cells printed in
 * columns that fit a terminal.
 *
 * Columns are as wide as their widest cell (or title).  When the table is
 * wider than t->width (80 columns unless the caller sets it), the
 * separators shrink from two spaces to one, then the widest of the columns
 * that may shrink (min > 0) loses a column at a time, down to its min;
 * a cut cell ends in "~".  With tail, the last column is free text that is
 * never cut: it goes on its own line, indented four spaces, below a row
 * where it does not fit after the others.  A row's note is printed below
 * it, indented two spaces.  A NULL cell prints "-".
 *
 * Cells are UTF-8: a character is one column (no double-width forms).
 * Control characters in cells and notes print as spaces, so a row stays on
 * its line.  The last cell of a line is not padded.
 *
 * The printer writes to the FILE * it is given and nothing else; it owns
 * copies of every cell.  Running out of memory latches t->oom, and the
 * table then prints "(out of memory)".
 */
#ifndef ORC_TABLE_H
#define ORC_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define ORC_TABLE_WIDTH 80
#define ORC_TABLE_TIME_MAX 32 /* the size of orc_table_time()'s buffer */

struct orc_table_column {
	const char *title;
	int min;    /* > 0: may be cut down to min when the table is too wide */
	bool right; /* right-aligned (numbers) */
};

struct orc_table {
	const struct orc_table_column *cols; /* borrowed */
	size_t ncols;
	bool tail;
	size_t width; /* the terminal's columns */
	char **cells; /* nrows * ncols, owned; NULL cells print "-" */
	char **notes; /* one per row, owned, may be NULL */
	size_t nrows, cap;
	bool oom;
};

/* An empty table of ncols columns (cols borrowed), width ORC_TABLE_WIDTH. */
void orc_table_init(struct orc_table *t, const struct orc_table_column *cols,
		    size_t ncols, bool tail);

/* Free the cells and zero the struct. */
void orc_table_finish(struct orc_table *t);

/* Add a row of t->ncols cells (borrowed, copied) and a note (may be NULL). */
void orc_table_add(struct orc_table *t, const char *const *cells,
		   const char *note);

/* Print the titles and the rows to out. */
void orc_table_print(const struct orc_table *t, FILE *out);

/*
 * The line under a list: "(3 sagas)", "(1 saga)", or, when the list shows
 * fewer than total, "(50 of 1234 sagas; --limit N shows more)".
 */
void orc_table_print_count(FILE *out, size_t shown, size_t total,
			   const char *one, const char *many);

/*
 * A time cell: "2026-11-27T07:00:00.123Z" becomes "2026-11-27T07:00:00Z"
 * in buf (ORC_TABLE_TIME_MAX bytes), other text is copied, NULL is "-".
 * Returns buf or a static string.
 */
const char *orc_table_time(const char *iso, char *buf);

#endif
