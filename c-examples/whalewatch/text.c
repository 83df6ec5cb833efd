/*
 * text: JSON strings and terminal-safe table cells from untrusted bytes
 * (see text.h).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "text.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t size) {
    void *q = realloc(p, size);
    if (q == NULL) {
        fputs("whalewatch: out of memory\n", stderr);
        exit(1);
    }
    return q;
}

static int is_continuation(unsigned char c) {
    return (c & 0xC0) == 0x80;
}

size_t utf8_sequence_length(const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned char lo = 0x80, hi = 0xBF;

    if (s[0] < 0x80) {
        return 1;
    }
    /* 0xC0 and 0xC1 could only start overlong forms of ASCII. */
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        return is_continuation(s[1]) ? 2 : 0;
    }
    /* The second byte's range rules out overlong forms (after 0xE0 and
     * 0xF0), UTF-16 surrogates (after 0xED) and code points above U+10FFFF
     * (after 0xF4). A NUL ends the checks before any byte after it is read. */
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        if (s[0] == 0xE0) {
            lo = 0xA0;
        } else if (s[0] == 0xED) {
            hi = 0x9F;
        }
        return s[1] >= lo && s[1] <= hi && is_continuation(s[2]) ? 3 : 0;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        if (s[0] == 0xF0) {
            lo = 0x90;
        } else if (s[0] == 0xF4) {
            hi = 0x8F;
        }
        return s[1] >= lo && s[1] <= hi && is_continuation(s[2]) && is_continuation(s[3]) ? 4 : 0;
    }
    return 0;
}

void json_string(FILE *out, const char *s) {
    putc('"', out);
    while (*s != '\0') {
        unsigned char c = (unsigned char)*s;
        size_t n = utf8_sequence_length(s);
        if (n == 0) {
            fputs("\\ufffd", out);
            s++;
        } else if (c == '"' || c == '\\') {
            putc('\\', out);
            putc(c, out);
            s++;
        } else if (c < 0x20 || c == 0x7F) {
            fprintf(out, "\\u%04x", c);
            s++;
        } else {
            fwrite(s, 1, n, out);
            s += n;
        }
    }
    putc('"', out);
}

/* Appends the terminal-safe form of s to out (when out is not NULL);
 * returns how many characters that is. */
static size_t safe_copy(const char *s, char *out) {
    size_t chars = 0, len = 0;
    while (*s != '\0') {
        unsigned char c = (unsigned char)*s;
        size_t n = utf8_sequence_length(s);
        /* C1 controls, U+0080 to U+009F, are 0xC2 0x80 to 0xC2 0x9F. */
        int control = c < 0x20 || c == 0x7F || (c == 0xC2 && (unsigned char)s[1] < 0xA0);
        if (n == 0 || control) {
            if (out != NULL) {
                out[len] = '?';
            }
            len++;
            s += n == 0 ? 1 : n;
        } else {
            if (out != NULL) {
                memcpy(out + len, s, n);
            }
            len += n;
            s += n;
        }
        chars++;
    }
    if (out != NULL) {
        out[len] = '\0';
    }
    return chars;
}

void text_put(FILE *out, const char *s) {
    char *safe = xrealloc(NULL, strlen(s) + 1);
    safe_copy(s, safe);
    fputs(safe, out);
    free(safe);
}

char *text_cell(const char *s) {
    char *cell;
    if (s[0] == '\0') {
        s = "-";
    }
    /* The safe form is never longer than s: each replacement '?' stands
     * for at least one byte. */
    cell = xrealloc(NULL, strlen(s) + 1);
    safe_copy(s, cell);
    return cell;
}

char *text_format(const char *fmt, ...) {
    va_list ap;
    size_t size = 128;
    char *s = NULL;

    /* Formats into a buffer that grows until the text fits. */
    for (;;) {
        int n;
        s = xrealloc(s, size);
        va_start(ap, fmt);
        n = vsnprintf(s, size, fmt, ap);
        va_end(ap);
        if (n < 0) {
            fputs("whalewatch: cannot format text\n", stderr);
            exit(1);
        }
        if ((size_t)n < size) {
            return s;
        }
        size = (size_t)n + 1;
    }
}

void table_init(struct table *t, size_t columns) {
    t->columns = columns;
    t->rows = 0;
    t->capacity = 0;
    t->cells = NULL;
}

void table_add(struct table *t, const char *const *cells) {
    size_t i;
    if (t->rows == t->capacity) {
        t->capacity = t->capacity == 0 ? 16 : t->capacity * 2;
        t->cells = xrealloc(t->cells, t->capacity * t->columns * sizeof *t->cells);
    }
    for (i = 0; i < t->columns; i++) {
        t->cells[t->rows * t->columns + i] = text_cell(cells[i]);
    }
    t->rows++;
}

/* Cells are terminal-safe already: every character is printable, and
 * counting characters counts columns (East Asian wide characters aside). */
static size_t width(const char *cell) {
    return safe_copy(cell, NULL);
}

void table_print(const struct table *t, FILE *out) {
    size_t *widths = xrealloc(NULL, (t->columns ? t->columns : 1) * sizeof *widths);
    size_t r, c;

    for (c = 0; c < t->columns; c++) {
        widths[c] = 0;
        for (r = 0; r < t->rows; r++) {
            size_t w = width(t->cells[r * t->columns + c]);
            if (w > widths[c]) {
                widths[c] = w;
            }
        }
    }
    for (r = 0; r < t->rows; r++) {
        for (c = 0; c < t->columns; c++) {
            const char *cell = t->cells[r * t->columns + c];
            fputs(cell, out);
            if (c + 1 < t->columns) {
                size_t pad = widths[c] - width(cell) + 2;
                while (pad-- > 0) {
                    putc(' ', out);
                }
            }
        }
        putc('\n', out);
    }
    free(widths);
}

void table_free(struct table *t) {
    size_t i;
    for (i = 0; i < t->rows * t->columns; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    table_init(t, t->columns);
}
