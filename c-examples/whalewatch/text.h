/*
 * text: how whalewatch writes strings it did not make itself (container
 * names, labels, image references, engine errors): as JSON strings, or as
 * terminal-safe text in aligned table columns.
 *
 * The library hands out NUL-terminated UTF-8, but these functions take any
 * bytes: a byte that is not part of a valid UTF-8 sequence becomes U+FFFD in
 * JSON and '?' on the terminal, so that neither a JSON parser nor a terminal
 * ever sees what an engine sent raw.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef WHALEWATCH_TEXT_H
#define WHALEWATCH_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* The length (1 to 4) of the valid UTF-8 sequence at s, or 0 if the byte at
 * s starts none (a stray continuation byte, an overlong form, a surrogate, a
 * code point above U+10FFFF, or a sequence cut short). s[0] must not be NUL. */
size_t utf8_sequence_length(const char *s);

/* Writes s as a JSON string, quotes included: '"' and '\' escaped, every
 * control character (U+0000 to U+001F, and DEL) as \u00XX, every byte
 * that is not part of a valid UTF-8 sequence as \ufffd; the rest verbatim. */
void json_string(FILE *out, const char *s);

/* Writes s for a terminal: control characters (C0, DEL and C1) and invalid
 * UTF-8 bytes become '?', so that a name cannot move the cursor, end the
 * line or switch the terminal's character set. */
void text_put(FILE *out, const char *s);

/* A newly allocated, terminal-safe copy of s (as text_put writes it); an
 * empty s gives "-". Exits the program when memory runs out. */
char *text_cell(const char *s);

/* A newly allocated string formatted like printf. Exits the program when
 * memory runs out. */
char *text_format(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* A table whose columns are as wide as their widest cell (counted in
 * characters, not bytes), separated by two spaces. Cells are terminal-safe
 * copies (text_cell), so a cell never holds a control character and never
 * spans two lines. */
struct table {
    size_t columns;
    size_t rows;      /* rows added, the header included */
    size_t capacity;  /* rows there is room for in cells */
    char **cells;     /* rows x columns, row by row */
};

void table_init(struct table *t, size_t columns);
/* Adds a row of t->columns cells (copied). */
void table_add(struct table *t, const char *const *cells);
/* Writes every row, without trailing blanks. */
void table_print(const struct table *t, FILE *out);
void table_free(struct table *t);

#endif /* WHALEWATCH_TEXT_H */
