/* bench/baseline.c: what a program without the library does to learn the
 * alive containers of a Docker engine: one HTTP/1.1 connection to the unix
 * socket (kept alive), GET /containers/json, then GET /containers/ID/json
 * for each container, one after the other, each reply read in full.
 *
 *   baseline SOCKET_PATH [REPEATS]
 *
 * prints one line per repeat: "containers=N ms=T". */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
    perror(what);
    exit(1);
}

struct conn {
    int fd;
    char buf[65536];
    size_t start, end;
};

static int fill(struct conn *c) {
    if (c->start > 0) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    if (c->end == sizeof c->buf)
        return -1;
    ssize_t n = read(c->fd, c->buf + c->end, sizeof c->buf - c->end);
    if (n <= 0)
        return -1;
    c->end += (size_t)n;
    return 0;
}

/* One line (without CRLF) into line; 0 on success. */
static int read_line(struct conn *c, char *line, size_t cap) {
    for (;;) {
        char *nl = memchr(c->buf + c->start, '\n', c->end - c->start);
        if (nl) {
            size_t len = (size_t)(nl - (c->buf + c->start));
            if (len > 0 && c->buf[c->start + len - 1] == '\r')
                len--;
            if (len >= cap)
                return -1;
            memcpy(line, c->buf + c->start, len);
            line[len] = 0;
            c->start = (size_t)(nl - c->buf) + 1;
            return 0;
        }
        if (fill(c))
            return -1;
    }
}

/* Appends n body bytes to *body. */
static int read_n(struct conn *c, size_t n, char **body, size_t *len, size_t *cap) {
    while (n > 0) {
        if (c->start == c->end && fill(c))
            return -1;
        size_t take = c->end - c->start < n ? c->end - c->start : n;
        if (*len + take + 1 > *cap) {
            *cap = (*len + take + 1) * 2;
            *body = realloc(*body, *cap);
            if (!*body)
                die("realloc");
        }
        memcpy(*body + *len, c->buf + c->start, take);
        *len += take;
        c->start += take;
        n -= take;
    }
    (*body)[*len] = 0;
    return 0;
}

/* GET path; the body, NUL-terminated, in *body (reused). */
static int get(struct conn *c, const char *path, char **body, size_t *cap) {
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: docker\r\n\r\n", path);
    if (write(c->fd, req, (size_t)n) != n)
        return -1;
    char line[4096];
    if (read_line(c, line, sizeof line) || strncmp(line, "HTTP/1.1 200", 12) != 0)
        return -1;
    long length = -1;
    int chunked = 0;
    for (;;) {
        if (read_line(c, line, sizeof line))
            return -1;
        if (!line[0])
            break;
        if (!strncasecmp(line, "Content-Length:", 15))
            length = atol(line + 15);
        if (!strncasecmp(line, "Transfer-Encoding:", 18) && strstr(line, "chunked"))
            chunked = 1;
    }
    size_t len = 0;
    if (!chunked)
        return length < 0 ? -1 : read_n(c, (size_t)length, body, &len, cap);
    for (;;) {
        if (read_line(c, line, sizeof line))
            return -1;
        size_t size = (size_t)strtoul(line, NULL, 16);
        if (size == 0)
            return read_line(c, line, sizeof line); /* the empty line after the last chunk */
        if (read_n(c, size, body, &len, cap) || read_line(c, line, sizeof line))
            return -1;
    }
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: baseline SOCKET_PATH [REPEATS]\n");
        return 2;
    }
    int repeats = argc > 2 ? atoi(argv[2]) : 1;
    char *body = NULL, *list = NULL;
    size_t cap = 0, list_cap = 0;
    for (int r = 0; r < repeats; r++) {
        double t0 = now_ms();
        struct conn *c = calloc(1, sizeof *c);
        if (!c)
            die("calloc");
        c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a))
            die("connect");
        if (get(c, "/containers/json", &list, &list_cap)) {
            fprintf(stderr, "list failed\n");
            return 1;
        }
        int n = 0;
        for (char *p = list; (p = strstr(p, "\"Id\":\"")) != NULL;) {
            p += 6;
            char path[128];
            char *q = strchr(p, '"');
            if (!q || q - p > 80)
                break;
            snprintf(path, sizeof path, "/containers/%.*s/json", (int)(q - p), p);
            if (get(c, path, &body, &cap)) {
                fprintf(stderr, "inspect failed\n");
                return 1;
            }
            if (!strstr(body, "\"Pid\":")) {
                fprintf(stderr, "no PID in an inspection\n");
                return 1;
            }
            n++;
            p = q;
        }
        close(c->fd);
        free(c);
        printf("containers=%d ms=%.3f\n", n, now_ms() - t0);
    }
    free(body);
    free(list);
    return 0;
}
