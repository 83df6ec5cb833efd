/*
 * Bad input: one table of cases, each a call with the status and the
 * message it must get (every row of the README's "Bad input" table, and
 * the NULL arguments of every function). Out-parameters stay untouched on
 * failure, calls with a NULL watcher return at once, and the functions
 * without a status do nothing and leave the last error as it was.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

/* What a row calls. */
enum call {
    NEW,          /* ww_new(options from `build`, &w) */
    NEW_GIVES_UP, /* ww_new OK, then (backoff NONE) ww_ready gives WW_STATUS_ENGINE at once */
    NEW_NULL_OUT, /* ww_new(options, NULL) */
    NEW_NULL_ALL, /* ww_new(NULL, NULL) */
    READY_NULL,   /* ww_ready(NULL, 5000) */
    WAIT_NULL,    /* ww_wait(NULL, 0, 5000) */
    SNAPSHOT_NULL_W,
    SNAPSHOT_NULL_OUT,
    SNAPSHOT_NULL_ALL,
    EVENT_FD_NULL_W,
    EVENT_FD_NULL_FD,
    DIFF_NULL_TO,
    DIFF_NULL_OUT,
    DIFF_NULL_LEN,
    FIND_ID_NULL_P,  /* returns NULL */
    FIND_ID_NULL_ID, /* returns NULL */
    FIND_PID_NULL_P, /* returns NULL */
    DISCOVER_NULL_OUT,
    DISCOVER_NULL_LEN,
    DISCOVER_NULL_ALL,
    CLOSE_NULL,      /* no-ops: nothing happens, the last error stays */
    SHUTDOWN_NULL,
    SNAPSHOT_FREE_NULL,
    CHANGES_FREE_NULL,
    ENDPOINTS_FREE_NULL,
    OPTIONS_INIT_NULL
};

struct bad_input {
    const char *what;
    enum call call;
    /* NEW, NEW_GIVES_UP: edits options fresh from ww_options_init (in a
     * zeroed buffer of NEWER_SIZE bytes), with `arg`. */
    void (*build)(ww_options *o, const char *arg);
    const char *arg;
    ww_status want;
    /* Substrings the last error must contain; NULL: none (for `message`:
     * `arg`, for NEW rows that fail). */
    const char *message;
    const char *message2;
    int os_error; /* NEW_GIVES_UP: the OS error the message names (0: none) */
};

/* ------------------------------------------------------------------ */
/* Builders                                                            */
/* ------------------------------------------------------------------ */

static unsigned long number(const char *arg) {
    return strtoul(arg, NULL, 10);
}

static void docker_endpoint(ww_options *o, const char *arg) {
    o->endpoint = arg;
}

static void ctrd_endpoint(ww_options *o, const char *arg) {
    o->engine = WW_ENGINE_CONTAINERD;
    o->endpoint = arg;
}

static void cri_endpoint(ww_options *o, const char *arg) {
    o->engine = WW_ENGINE_CRI;
    o->endpoint = arg;
}

static void podman_endpoint(ww_options *o, const char *arg) {
    o->engine = WW_ENGINE_PODMAN;
    o->endpoint = arg;
}

/* WW_ENGINE_AUTO with endpoint `arg` (NULL: none). */
static void auto_endpoint(ww_options *o, const char *arg) {
    o->engine = WW_ENGINE_AUTO;
    o->endpoint = arg;
}

static void ctrd_ignored(ww_options *o, const char *arg) {
    o->engine = WW_ENGINE_CONTAINERD;
    o->endpoint = g_missing_sock;
    o->ignored_namespaces = arg;
}

static void engine_number(ww_options *o, const char *arg) {
    o->endpoint = g_missing_endpoint;
    o->engine = (ww_engine)number(arg);
}

static void backoff_number(ww_options *o, const char *arg) {
    o->endpoint = g_missing_endpoint;
    o->backoff = (ww_backoff)number(arg);
}

/* "INITIAL,MAX" of an exponential backoff. */
static void backoff_range(ww_options *o, const char *arg) {
    const char *comma = strchr(arg, ',');
    o->endpoint = g_missing_endpoint;
    o->backoff = WW_BACKOFF_EXPONENTIAL;
    o->backoff_initial_ms = (uint32_t)number(arg);
    o->backoff_max_ms = (uint32_t)number(comma + 1);
}

/* Docker over TLS: "ENDPOINT CA CERT KEY", each file's name or "-" for
 * none (NULL). */
static void tls_files(ww_options *o, const char *arg) {
    static char words[4][160];
    const char **fields[3];
    int i;
    fields[0] = &o->tls_ca;
    fields[1] = &o->tls_cert;
    fields[2] = &o->tls_key;
    for (i = 0; i < 4; i++) {
        const char *space = strchr(arg, ' ');
        size_t len = space != NULL ? (size_t)(space - arg) : strlen(arg);
        snprintf(words[i], sizeof words[i], "%.*s", (int)len, arg);
        arg = space != NULL ? space + 1 : arg + len;
    }
    o->endpoint = words[0];
    for (i = 0; i < 3; i++) {
        *fields[i] = streq(words[i + 1], "-") ? NULL : words[i + 1];
    }
}

static void podman_tls_files(ww_options *o, const char *arg) {
    o->engine = WW_ENGINE_PODMAN;
    tls_files(o, arg);
}

/* Each TLS file, with engine number `arg` at its default endpoint. */
static void tls_files_engine(ww_options *o, const char *arg) {
    o->engine = (ww_engine)number(arg);
    o->endpoint = NULL;
    o->tls_ca = "/etc/ssl/ca.pem";
    o->tls_cert = "/etc/ssl/cert.pem";
    o->tls_key = "/etc/ssl/key.pem";
}

/* A TLS file's name that is not UTF-8. */
static void tls_key_not_utf8(ww_options *o, const char *arg) {
    o->endpoint = "tcp://127.0.0.1:2376";
    o->tls_key = arg;
}

static void audit_interval(ww_options *o, const char *arg) {
    o->endpoint = g_missing_endpoint;
    o->audit_interval_ms = (uint32_t)number(arg);
}

static void struct_size(ww_options *o, const char *arg) {
    o->endpoint = g_missing_endpoint;
    o->struct_size = (uint32_t)number(arg);
}

/* A newer caller's struct: 16 bytes more than this program knows. */
#define NEWER_SIZE (sizeof(ww_options) + 16)

/* A newer caller's struct with byte `arg` (beyond the known ones) set. */
static void larger_with_tail_byte(ww_options *o, const char *arg) {
    o->endpoint = g_missing_endpoint;
    o->struct_size = (uint32_t)NEWER_SIZE;
    ((unsigned char *)o)[number(arg)] = 1;
}

/* ------------------------------------------------------------------ */
/* Running one row                                                     */
/* ------------------------------------------------------------------ */

/* The endpoint a snapshot reports for what a row gave. */
static void reported_endpoint(const ww_options *o, char *out, size_t size) {
    const char *given = o->endpoint;
    bool tls = o->tls_ca != NULL || o->tls_cert != NULL || o->tls_key != NULL;
    if (tls && starts_with(given, "tcp://")) {
        snprintf(out, size, "https://%s", given + strlen("tcp://"));
    } else if (given[0] == '/') {
        snprintf(out, size, "unix://%s", given);
    } else if (starts_with(given, "http://")) {
        size_t n = strlen(given) - strlen("http://");
        snprintf(out, size, "tcp://%.*s", (int)(given[strlen(given) - 1] == '/' ? n - 1 : n), given + 7);
    } else {
        snprintf(out, size, "%s", given);
    }
}

/* The last error says what the row expects. */
static bool message_ok(const struct bad_input *c) {
    bool ok = true;
    const char *m = last_error();
    const char *want = c->message != NULL ? c->message : c->call == NEW ? c->arg : NULL;
    CHECKF(m != NULL && m[0] != '\0', "no message");
    CHECKF(valid_utf8(m), "the message is not UTF-8");
    CHECKF(want == NULL || contains(m, want), "message \"%.300s\" does not say \"%.120s\"", m, want);
    CHECKF(c->message2 == NULL || contains(m, c->message2), "message \"%.300s\" does not say \"%.120s\"", m,
           c->message2);
    /* Namespaces are named shortened, however long the input. */
    CHECKF(c->build != ctrd_ignored || strlen(m) < 1000, "a message of %zu bytes", strlen(m));
out:
    return ok;
}

/* A watcher and a snapshot of it for the rows that need real ones. */
struct fixture {
    ww_watcher *w;
    const ww_portfolio *p;
};

static bool run_case(const struct bad_input *c, const struct fixture *f) {
    bool ok = true;
    int here = 0;
    void *sentinel = &here;
    ww_watcher *w = (ww_watcher *)sentinel;
    const ww_portfolio *p = (const ww_portfolio *)sentinel;
    const ww_change *changes = (const ww_change *)sentinel;
    const ww_endpoint *endpoints = (const ww_endpoint *)sentinel;
    size_t len = 7;
    int fd = -7;
    const ww_container *found = NULL;
    ww_status s = WW_STATUS_OK;
    double t0 = now_ms(), took;
    union {
        ww_options o;
        unsigned char bytes[NEWER_SIZE];
    } opts;
    char before[512];

    memset(&opts, 0, sizeof opts);
    ww_options_init(&opts.o, sizeof opts.o);
    if (c->build != NULL) {
        c->build(&opts.o, c->arg);
    }
    switch (c->call) {
    case NEW:
        s = ww_new(&opts.o, &w);
        break;
    case NEW_GIVES_UP: {
        char reported[256];
        reported_endpoint(&opts.o, reported, sizeof reported);
        return gives_up_at_once(&opts.o, reported, c->message, c->os_error);
    }
    case NEW_NULL_OUT:
        s = ww_new(&opts.o, NULL);
        break;
    case NEW_NULL_ALL:
        s = ww_new(NULL, NULL);
        break;
    case READY_NULL:
        s = ww_ready(NULL, 5000);
        break;
    case WAIT_NULL:
        s = ww_wait(NULL, 0, 5000);
        break;
    case SNAPSHOT_NULL_W:
        s = ww_snapshot(NULL, &p);
        break;
    case SNAPSHOT_NULL_OUT:
        s = ww_snapshot(f->w, NULL);
        break;
    case SNAPSHOT_NULL_ALL:
        s = ww_snapshot(NULL, NULL);
        break;
    case EVENT_FD_NULL_W:
        s = ww_event_fd(NULL, &fd);
        break;
    case EVENT_FD_NULL_FD:
        s = ww_event_fd(f->w, NULL);
        break;
    case DIFF_NULL_TO:
        s = ww_diff(f->p, NULL, &changes, &len);
        break;
    case DIFF_NULL_OUT:
        s = ww_diff(NULL, f->p, NULL, &len);
        break;
    case DIFF_NULL_LEN:
        s = ww_diff(NULL, f->p, &changes, NULL);
        break;
    case FIND_ID_NULL_P:
        found = ww_portfolio_find_id(NULL, g_docker.id);
        break;
    case FIND_ID_NULL_ID:
        found = ww_portfolio_find_id(f->p, NULL);
        break;
    case FIND_PID_NULL_P:
        found = ww_portfolio_find_pid(NULL, g_docker.pid);
        break;
    case DISCOVER_NULL_OUT:
        s = ww_discover(NULL, &len);
        break;
    case DISCOVER_NULL_LEN:
        s = ww_discover(&endpoints, NULL);
        break;
    case DISCOVER_NULL_ALL:
        s = ww_discover(NULL, NULL);
        break;
    case CLOSE_NULL:
    case SHUTDOWN_NULL:
    case SNAPSHOT_FREE_NULL:
    case CHANGES_FREE_NULL:
    case ENDPOINTS_FREE_NULL:
    case OPTIONS_INIT_NULL:
        /* A known last error first: the no-op must leave it. */
        CHECK(ww_ready(NULL, 0) == WW_STATUS_NULL_ARG);
        snprintf(before, sizeof before, "%s", last_error());
        if (c->call == CLOSE_NULL) {
            ww_close(NULL);
        } else if (c->call == SHUTDOWN_NULL) {
            ww_shutdown(NULL);
        } else if (c->call == SNAPSHOT_FREE_NULL) {
            ww_snapshot_free(NULL);
        } else if (c->call == CHANGES_FREE_NULL) {
            ww_changes_free(NULL);
        } else if (c->call == ENDPOINTS_FREE_NULL) {
            ww_endpoints_free(NULL);
        } else {
            ww_options_init(NULL, sizeof(ww_options));
            ww_options_init(NULL, 0);
        }
        CHECKF(streq(last_error(), before), "the last error became \"%s\"", last_error());
        return ok;
    }
    took = now_ms() - t0;
    if (c->call == FIND_ID_NULL_P || c->call == FIND_ID_NULL_ID || c->call == FIND_PID_NULL_P) {
        CHECKF(found == NULL, "found %p", (const void *)found);
    } else {
        CHECKF(s == c->want, "status %u (%s), expected %u (%s); message \"%.300s\"", (unsigned)s, ww_status_str(s),
               (unsigned)c->want, ww_status_str(c->want), last_error());
    }
    /* Out-parameters are written only on success; NULL arguments never wait. */
    if (c->call == NEW && s == WW_STATUS_OK) {
        CHECK(w != (ww_watcher *)sentinel && w != NULL);
        goto out;
    }
    CHECK(w == (ww_watcher *)sentinel);
    CHECK(p == (const ww_portfolio *)sentinel);
    CHECK(changes == (const ww_change *)sentinel && len == 7);
    CHECK(endpoints == (const ww_endpoint *)sentinel);
    CHECK(fd == -7);
    CHECKF(c->call == NEW || took < 500.0, "took %.0f ms", took);
    CHECK(message_ok(c));
out:
    /* What a wrongly successful call handed out. */
    if (w != (ww_watcher *)sentinel) {
        ww_close(w);
    }
    if (p != (const ww_portfolio *)sentinel) {
        ww_snapshot_free(p);
    }
    if (changes != (const ww_change *)sentinel) {
        ww_changes_free(changes);
    }
    if (endpoints != (const ww_endpoint *)sentinel) {
        ww_endpoints_free(endpoints);
    }
    return ok;
}

/* ------------------------------------------------------------------ */
/* The table                                                           */
/* ------------------------------------------------------------------ */

#define OVERLONG 100000

/* A string of exactly OVERLONG bytes: `prefix`, then 'a's, then `suffix`. */
static char *overlong(const char *prefix, const char *suffix) {
    size_t pre = strlen(prefix), suf = strlen(suffix);
    char *s = malloc(OVERLONG + 1);
    if (s != NULL) {
        memcpy(s, prefix, pre);
        memset(s + pre, 'a', OVERLONG - pre - suf);
        memcpy(s + OVERLONG - suf, suffix, suf + 1);
    }
    return s;
}

/* A comma-separated list of exactly OVERLONG bytes of valid namespace names,
 * the last one `last`. */
static char *overlong_namespace_list(const char *last) {
    size_t tail = strlen(last), len = 0, rest;
    int k = 0;
    char *s = malloc(OVERLONG + 1);
    if (s == NULL) {
        return NULL;
    }
    while (OVERLONG - tail - len > 77) {
        len += (size_t)sprintf(s + len, "ns%05d,", k++); /* 8 bytes */
    }
    rest = OVERLONG - tail - len; /* 70..77: one name of at most 76 bytes and a comma */
    memset(s + len, 'x', rest - 1);
    s[len + rest - 1] = ',';
    memcpy(s + len + rest, last, tail + 1);
    return s;
}

/* Scratch files of the "not a socket" rows, and of the TLS rows: a
 * file that looks like a PEM certificate, and the rows' arguments
 * (see tls_files) and messages. */
struct not_sockets {
    char dir[80], dir_ep[96], file[80], file_ep[96], through[96], through_ep[112];
    char cert[80];
    char tls_ca_missing[320], tls_cert_not_pem[320], tls_key_missing[320], tls_key_is_cert[320];
    char want_ca_missing[160], want_cert_not_pem[160], want_key_missing[160], want_key_is_cert[160];
    bool made_dir, made_file, made_cert;
};

static bool make_not_sockets(struct not_sockets *n) {
    static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n";
    int fd;
    snprintf(n->cert, sizeof n->cert, "%s/cert.pem", g_tmpdir);
    snprintf(n->tls_ca_missing, sizeof n->tls_ca_missing, "tcp://127.0.0.1:1 %s - -", g_missing_sock);
    snprintf(n->want_ca_missing, sizeof n->want_ca_missing, "TLS: CA certificate %s", g_missing_sock);
    snprintf(n->tls_cert_not_pem, sizeof n->tls_cert_not_pem, "https://127.0.0.1:1 %s %s/file.sock -", n->cert,
             g_tmpdir);
    snprintf(n->want_cert_not_pem, sizeof n->want_cert_not_pem,
             "TLS: client certificate %s/file.sock: no PEM CERTIFICATE in it", g_tmpdir);
    snprintf(n->tls_key_missing, sizeof n->tls_key_missing, "https://127.0.0.1:1 %s %s %s", n->cert, n->cert,
             g_missing_sock);
    snprintf(n->want_key_missing, sizeof n->want_key_missing, "TLS: client key %s", g_missing_sock);
    snprintf(n->tls_key_is_cert, sizeof n->tls_key_is_cert, "https://127.0.0.1:1 %s %s %s", n->cert, n->cert,
             n->cert);
    snprintf(n->want_key_is_cert, sizeof n->want_key_is_cert, "TLS: client key %s: no PEM PRIVATE KEY in it",
             n->cert);
    fd = open(n->cert, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        note("create %s: %s", n->cert, strerror(errno));
        return false;
    }
    n->made_cert = true;
    if (write(fd, pem, sizeof pem - 1) != (ssize_t)(sizeof pem - 1)) {
        close(fd);
        return false;
    }
    close(fd);
    snprintf(n->dir, sizeof n->dir, "%s/dir.sock", g_tmpdir);
    snprintf(n->file, sizeof n->file, "%s/file.sock", g_tmpdir);
    snprintf(n->through, sizeof n->through, "%s/engine.sock", n->file);
    snprintf(n->dir_ep, sizeof n->dir_ep, "unix://%s", n->dir);
    snprintf(n->file_ep, sizeof n->file_ep, "unix://%s", n->file);
    snprintf(n->through_ep, sizeof n->through_ep, "unix://%s", n->through);
    if (mkdir(n->dir, 0755) != 0) {
        note("mkdir %s: %s", n->dir, strerror(errno));
        return false;
    }
    n->made_dir = true;
    fd = open(n->file, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0) {
        note("create %s: %s", n->file, strerror(errno));
        return false;
    }
    n->made_file = true;
    if (write(fd, "not a socket\n", 13) != 13) {
        close(fd);
        return false;
    }
    close(fd);
    return true;
}

static void remove_not_sockets(struct not_sockets *n) {
    if (n->made_cert) {
        unlink(n->cert);
    }
    if (n->made_file) {
        unlink(n->file);
    }
    if (n->made_dir) {
        rmdir(n->dir);
    }
}

#define PORT_RANGE "port from 1 to 65535"
#define NOT_A_NAMESPACE "is not a containerd namespace name"
#define SOCKET_TOO_LONG "longer than the 107 a unix socket takes"
#define KNOWN_SIZES "this library knows [48, 56, 64, 96]"
#define TLS_NOT_UNIX "TLS needs a tcp:// or https:// endpoint"
#define TLS_DOCKER_ONLY "TLS files are for Docker endpoints only"

static bool test_bad_input_matrix(void) {
    bool ok = true;
    struct fixture f = {NULL, NULL};
    struct not_sockets ns;
    char *unix_long = overlong("unix:///", ".sock");
    char *tcp_long = overlong("tcp://", ":2375");
    char *one_long_name = overlong("", "");
    char *valid_list = overlong_namespace_list("moby");
    char *trailing_comma = valid_list != NULL ? malloc(OVERLONG + 1) : NULL;
    char first_100[101], path_bytes[64];
    size_t i, failed = 0, n;
    ww_options o = options_for(g_missing_endpoint);

    memset(&ns, 0, sizeof ns);
    CHECK(unix_long != NULL && tcp_long != NULL && one_long_name != NULL && valid_list != NULL &&
          trailing_comma != NULL);
    CHECK(strlen(unix_long) == OVERLONG && strlen(tcp_long) == OVERLONG && strlen(valid_list) == OVERLONG);
    memcpy(trailing_comma, valid_list, OVERLONG + 1);
    trailing_comma[OVERLONG - 1] = ','; /* "...,mob," : an empty name at the end */
    snprintf(first_100, sizeof first_100, "%.100s", one_long_name);
    snprintf(path_bytes, sizeof path_bytes, "socket path of %zu bytes", strlen(unix_long) - strlen("unix://"));
    CHECK(make_not_sockets(&ns));
    CHECK_OK(ww_new(&o, &f.w));
    CHECK_OK(ww_snapshot(f.w, &f.p));
    {
        const struct bad_input cases[] = {
            /* NULL pointers. */
            {"ww_new(opts, NULL)", NEW_NULL_OUT, NULL, NULL, WW_STATUS_NULL_ARG, "ww_new: out is NULL", NULL, 0},
            {"ww_new(NULL, NULL)", NEW_NULL_ALL, NULL, NULL, WW_STATUS_NULL_ARG, "ww_new: out is NULL", NULL, 0},
            {"ww_ready(NULL, 5000) returns at once", READY_NULL, NULL, NULL, WW_STATUS_NULL_ARG,
             "ww_ready: w is NULL", NULL, 0},
            {"ww_wait(NULL, 0, 5000) returns at once", WAIT_NULL, NULL, NULL, WW_STATUS_NULL_ARG, "ww_wait: w is NULL",
             NULL, 0},
            {"ww_snapshot(NULL, &p)", SNAPSHOT_NULL_W, NULL, NULL, WW_STATUS_NULL_ARG, "ww_snapshot: w is NULL", NULL,
             0},
            {"ww_snapshot(w, NULL)", SNAPSHOT_NULL_OUT, NULL, NULL, WW_STATUS_NULL_ARG, "ww_snapshot: out is NULL",
             NULL, 0},
            {"ww_snapshot(NULL, NULL)", SNAPSHOT_NULL_ALL, NULL, NULL, WW_STATUS_NULL_ARG, "ww_snapshot: w is NULL",
             NULL, 0},
            {"ww_event_fd(NULL, &fd)", EVENT_FD_NULL_W, NULL, NULL, WW_STATUS_NULL_ARG, "ww_event_fd: w is NULL", NULL,
             0},
            {"ww_event_fd(w, NULL)", EVENT_FD_NULL_FD, NULL, NULL, WW_STATUS_NULL_ARG, "ww_event_fd: fd is NULL",
             NULL, 0},
            {"ww_diff(p, NULL, &out, &len)", DIFF_NULL_TO, NULL, NULL, WW_STATUS_NULL_ARG, "ww_diff: to is NULL",
             NULL, 0},
            {"ww_diff(NULL, p, NULL, &len)", DIFF_NULL_OUT, NULL, NULL, WW_STATUS_NULL_ARG, "ww_diff: out is NULL",
             NULL, 0},
            {"ww_diff(NULL, p, &out, NULL)", DIFF_NULL_LEN, NULL, NULL, WW_STATUS_NULL_ARG, "ww_diff: len is NULL",
             NULL, 0},
            {"ww_portfolio_find_id(NULL, id) is NULL", FIND_ID_NULL_P, NULL, NULL, WW_STATUS_NULL_ARG,
             "ww_portfolio_find_id: p is NULL", NULL, 0},
            {"ww_portfolio_find_id(p, NULL) is NULL", FIND_ID_NULL_ID, NULL, NULL, WW_STATUS_NULL_ARG,
             "ww_portfolio_find_id: id is NULL", NULL, 0},
            {"ww_portfolio_find_pid(NULL, pid) is NULL", FIND_PID_NULL_P, NULL, NULL, WW_STATUS_NULL_ARG,
             "ww_portfolio_find_pid: p is NULL", NULL, 0},
            {"ww_discover(NULL, &len)", DISCOVER_NULL_OUT, NULL, NULL, WW_STATUS_NULL_ARG, "ww_discover: out is NULL",
             NULL, 0},
            {"ww_discover(&out, NULL)", DISCOVER_NULL_LEN, NULL, NULL, WW_STATUS_NULL_ARG, "ww_discover: len is NULL",
             NULL, 0},
            {"ww_discover(NULL, NULL)", DISCOVER_NULL_ALL, NULL, NULL, WW_STATUS_NULL_ARG, "ww_discover: out is NULL",
             NULL, 0},
            {"ww_close(NULL) does nothing", CLOSE_NULL, NULL, NULL, WW_STATUS_OK, NULL, NULL, 0},
            {"ww_shutdown(NULL) does nothing", SHUTDOWN_NULL, NULL, NULL, WW_STATUS_OK, NULL, NULL, 0},
            {"ww_snapshot_free(NULL) does nothing", SNAPSHOT_FREE_NULL, NULL, NULL, WW_STATUS_OK, NULL, NULL, 0},
            {"ww_changes_free(NULL) does nothing", CHANGES_FREE_NULL, NULL, NULL, WW_STATUS_OK, NULL, NULL, 0},
            {"ww_endpoints_free(NULL) does nothing", ENDPOINTS_FREE_NULL, NULL, NULL, WW_STATUS_OK, NULL, NULL, 0},
            {"ww_options_init(NULL, n) does nothing", OPTIONS_INIT_NULL, NULL, NULL, WW_STATUS_OK, NULL, NULL, 0},

            /* struct_size: ABI 2 knows four sizes (48, 56, 64 and 96 bytes:
             * the struct grew three times at its end); sizes in between, and
             * the layouts of ABI 1 (32 and 40 bytes), are refused. */
            {"struct_size 0", NEW, struct_size, "0", WW_STATUS_ABI_MISMATCH, "struct_size is 0;",
             "ww_options_init", 0},
            {"struct_size 1", NEW, struct_size, "1", WW_STATUS_ABI_MISMATCH, "struct_size is 1;", KNOWN_SIZES, 0},
            {"struct_size 4", NEW, struct_size, "4", WW_STATUS_ABI_MISMATCH, "struct_size is 4;", KNOWN_SIZES, 0},
            {"struct_size 31", NEW, struct_size, "31", WW_STATUS_ABI_MISMATCH, "struct_size is 31;", KNOWN_SIZES, 0},
            {"struct_size 32 (ABI 1's first layout)", NEW, struct_size, "32", WW_STATUS_ABI_MISMATCH,
             "struct_size is 32;", KNOWN_SIZES, 0},
            {"struct_size 33", NEW, struct_size, "33", WW_STATUS_ABI_MISMATCH, "struct_size is 33;", KNOWN_SIZES, 0},
            {"struct_size 39", NEW, struct_size, "39", WW_STATUS_ABI_MISMATCH, "struct_size is 39;", KNOWN_SIZES, 0},
            {"struct_size 40 (ABI 1's second layout)", NEW, struct_size, "40", WW_STATUS_ABI_MISMATCH,
             "struct_size is 40;", KNOWN_SIZES, 0},
            {"struct_size 41", NEW, struct_size, "41", WW_STATUS_ABI_MISMATCH, "struct_size is 41;", KNOWN_SIZES, 0},
            {"struct_size 47", NEW, struct_size, "47", WW_STATUS_ABI_MISMATCH, "struct_size is 47;", KNOWN_SIZES, 0},
            {"struct_size 48 (ABI 2's first layout)", NEW, struct_size, "48", WW_STATUS_OK, NULL, NULL, 0},
            {"struct_size 49", NEW, struct_size, "49", WW_STATUS_ABI_MISMATCH, "struct_size is 49;", KNOWN_SIZES, 0},
            {"struct_size 52 (half of the second layout's addition)", NEW, struct_size, "52", WW_STATUS_ABI_MISMATCH,
             "struct_size is 52;", KNOWN_SIZES, 0},
            {"struct_size 55", NEW, struct_size, "55", WW_STATUS_ABI_MISMATCH, "struct_size is 55;", KNOWN_SIZES, 0},
            {"struct_size 56 (ABI 2's second layout)", NEW, struct_size, "56", WW_STATUS_OK, NULL, NULL, 0},
            {"struct_size 57", NEW, struct_size, "57", WW_STATUS_ABI_MISMATCH, "struct_size is 57;", KNOWN_SIZES, 0},
            {"struct_size 60 (the third layout without its padding)", NEW, struct_size, "60",
             WW_STATUS_ABI_MISMATCH, "struct_size is 60;", KNOWN_SIZES, 0},
            {"struct_size 63", NEW, struct_size, "63", WW_STATUS_ABI_MISMATCH, "struct_size is 63;", KNOWN_SIZES, 0},
            {"struct_size 64 (ABI 2's third layout)", NEW, struct_size, "64", WW_STATUS_OK, NULL, NULL, 0},
            {"struct_size 65", NEW, struct_size, "65", WW_STATUS_ABI_MISMATCH, "struct_size is 65;", KNOWN_SIZES, 0},
            {"struct_size 72 (the fourth layout up to tls_ca)", NEW, struct_size, "72", WW_STATUS_ABI_MISMATCH,
             "struct_size is 72;", KNOWN_SIZES, 0},
            {"struct_size 80 (up to tls_cert)", NEW, struct_size, "80", WW_STATUS_ABI_MISMATCH, "struct_size is 80;",
             KNOWN_SIZES, 0},
            {"struct_size 88 (up to tls_key)", NEW, struct_size, "88", WW_STATUS_ABI_MISMATCH, "struct_size is 88;",
             KNOWN_SIZES, 0},
            {"struct_size 92 (the fourth layout without its padding)", NEW, struct_size, "92",
             WW_STATUS_ABI_MISMATCH, "struct_size is 92;", KNOWN_SIZES, 0},
            {"struct_size 95", NEW, struct_size, "95", WW_STATUS_ABI_MISMATCH, "struct_size is 95;", KNOWN_SIZES, 0},
            {"struct_size 96 (ABI 2's fourth layout)", NEW, struct_size, "96", WW_STATUS_OK, NULL, NULL, 0},
            {"a newer caller's 112-byte struct, its tail zero", NEW, struct_size, "112", WW_STATUS_OK, NULL, NULL,
             0},
            {"a newer caller's 112-byte struct with byte 96 set", NEW, larger_with_tail_byte, "96",
             WW_STATUS_ABI_MISMATCH, "struct_size is 112;", "byte 96 beyond them is set", 0},
            {"a newer caller's 112-byte struct with byte 111 set", NEW, larger_with_tail_byte, "111",
             WW_STATUS_ABI_MISMATCH, "struct_size is 112;", "byte 111 beyond them is set", 0},

            /* engine and backoff. */
            {"engine 0", NEW, engine_number, "0", WW_STATUS_INVALID_ARG, "unknown engine 0",
             "(known: WW_ENGINE_DOCKER = 1, WW_ENGINE_CONTAINERD = 2, WW_ENGINE_CRI = 3, WW_ENGINE_PODMAN = 4, "
             "WW_ENGINE_AUTO = 5)",
             0},
            {"engine 1 (Docker)", NEW, engine_number, "1", WW_STATUS_OK, NULL, NULL, 0},
            {"engine 2 (containerd)", NEW, engine_number, "2", WW_STATUS_OK, NULL, NULL, 0},
            {"engine 3 (CRI)", NEW, engine_number, "3", WW_STATUS_OK, NULL, NULL, 0},
            {"engine 4 (podman)", NEW, engine_number, "4", WW_STATUS_OK, NULL, NULL, 0},
            {"engine 5 (AUTO) with an endpoint", NEW, engine_number, "5", WW_STATUS_INVALID_ARG,
             "WW_ENGINE_AUTO finds its endpoints itself", "endpoint must be NULL", 0},
            {"engine 5 (AUTO) with endpoint \"\"", NEW, auto_endpoint, "", WW_STATUS_INVALID_ARG,
             "WW_ENGINE_AUTO finds its endpoints itself", "endpoint must be NULL", 0},
            {"engine 5 (AUTO) without an endpoint", NEW, auto_endpoint, NULL, WW_STATUS_OK, NULL, NULL, 0},
            {"engine 6", NEW, engine_number, "6", WW_STATUS_INVALID_ARG, "ww_new: unknown engine 6", NULL, 0},
            {"engine 99", NEW, engine_number, "99", WW_STATUS_INVALID_ARG, "ww_new: unknown engine 99", NULL, 0},
            {"engine UINT32_MAX", NEW, engine_number, "4294967295", WW_STATUS_INVALID_ARG,
             "unknown engine 4294967295", NULL, 0},
            {"backoff 3", NEW, backoff_number, "3", WW_STATUS_INVALID_ARG, "ww_new: unknown backoff 3",
             "NONE = 0, CONSTANT = 1, EXPONENTIAL = 2", 0},
            {"backoff UINT32_MAX", NEW, backoff_number, "4294967295", WW_STATUS_INVALID_ARG,
             "unknown backoff 4294967295", NULL, 0},
            {"backoff_max_ms below backoff_initial_ms", NEW, backoff_range, "1000,999", WW_STATUS_INVALID_ARG,
             "ww_new: backoff_max_ms (999) is less than backoff_initial_ms (1000)", NULL, 0},
            {"backoff_max_ms below the default initial 500", NEW, backoff_range, "0,100", WW_STATUS_INVALID_ARG,
             "backoff_max_ms (100) is less than backoff_initial_ms (500)", NULL, 0},
            {"the default cap 30000 above an initial 20000", NEW, backoff_range, "20000,0", WW_STATUS_OK, NULL, NULL,
             0},

            /* Docker endpoints. */
            {"Docker endpoint not UTF-8", NEW, docker_endpoint, "unix:///tmp/\xff\xfe.sock", WW_STATUS_INVALID_ARG,
             "ww_new: endpoint", "is not valid UTF-8", 0},
            {"Docker: ssh://", NEW, docker_endpoint, "ssh://host", WW_STATUS_INVALID_ARG, NULL, "unknown scheme", 0},
            {"Docker: empty", NEW, docker_endpoint, "", WW_STATUS_INVALID_ARG, "unsupported Docker endpoint \"\"",
             NULL, 0},
            {"Docker: unix:// without a path", NEW, docker_endpoint, "unix://", WW_STATUS_INVALID_ARG, NULL, NULL, 0},
            {"Docker: a bare path", NEW, docker_endpoint, "/var/run/docker.sock", WW_STATUS_INVALID_ARG, NULL,
             "unknown scheme", 0},
            {"Docker: a relative socket path", NEW, docker_endpoint, "unix://relative/docker.sock",
             WW_STATUS_INVALID_ARG, NULL, "socket path must be absolute", 0},
            {"Docker: unix://./", NEW, docker_endpoint, "unix://./docker.sock", WW_STATUS_INVALID_ARG, NULL,
             "must be absolute", 0},
            {"Docker: a bare file name", NEW, docker_endpoint, "docker.sock", WW_STATUS_INVALID_ARG, NULL, NULL, 0},
            {"Docker: a relative path", NEW, docker_endpoint, "./docker.sock", WW_STATUS_INVALID_ARG, NULL, NULL, 0},
            {"Docker: tcp:// alone", NEW, docker_endpoint, "tcp://", WW_STATUS_INVALID_ARG, NULL, PORT_RANGE, 0},
            {"Docker: npipe://", NEW, docker_endpoint, "npipe:////./pipe/docker", WW_STATUS_INVALID_ARG, NULL, NULL,
             0},
            {"Docker: fd://", NEW, docker_endpoint, "fd://", WW_STATUS_INVALID_ARG, NULL, NULL, 0},
            {"Docker: https://HOST:PORT (TLS)", NEW, docker_endpoint, "https://127.0.0.1:2376", WW_STATUS_OK, NULL,
             NULL, 0},
            {"Docker: https:// without a port", NEW, docker_endpoint, "https://127.0.0.1", WW_STATUS_INVALID_ARG,
             NULL, PORT_RANGE, 0},
            {"Docker: https:// alone", NEW, docker_endpoint, "https://", WW_STATUS_INVALID_ARG, NULL, PORT_RANGE, 0},
            {"Docker: tcp without a port", NEW, docker_endpoint, "tcp://127.0.0.1", WW_STATUS_INVALID_ARG, NULL,
             PORT_RANGE, 0},
            {"Docker: tcp with an empty port", NEW, docker_endpoint, "tcp://127.0.0.1:", WW_STATUS_INVALID_ARG, NULL,
             PORT_RANGE, 0},
            {"Docker: http without a port", NEW, docker_endpoint, "http://localhost/", WW_STATUS_INVALID_ARG, NULL,
             PORT_RANGE, 0},
            {"Docker: IPv6 without a port", NEW, docker_endpoint, "tcp://[::1]", WW_STATUS_INVALID_ARG, NULL,
             PORT_RANGE, 0},
            {"Docker: port 0", NEW, docker_endpoint, "tcp://127.0.0.1:0", WW_STATUS_INVALID_ARG, NULL, PORT_RANGE, 0},
            {"Docker: http port 0", NEW, docker_endpoint, "http://127.0.0.1:0/", WW_STATUS_INVALID_ARG, NULL,
             PORT_RANGE, 0},
            {"Docker: port 99999", NEW, docker_endpoint, "tcp://127.0.0.1:99999", WW_STATUS_INVALID_ARG, NULL,
             PORT_RANGE, 0},
            {"Docker: port 65536", NEW, docker_endpoint, "tcp://127.0.0.1:65536", WW_STATUS_INVALID_ARG, NULL,
             PORT_RANGE, 0},
            {"Docker: port -1", NEW, docker_endpoint, "tcp://127.0.0.1:-1", WW_STATUS_INVALID_ARG, NULL, PORT_RANGE,
             0},
            {"Docker: no host", NEW, docker_endpoint, "tcp://:2375", WW_STATUS_INVALID_ARG, NULL, PORT_RANGE, 0},
            {"Docker: port not a number", NEW, docker_endpoint, "http://localhost:x/", WW_STATUS_INVALID_ARG, NULL,
             PORT_RANGE, 0},
            {"Docker: IPv6 unbracketed", NEW, docker_endpoint, "tcp://::1", WW_STATUS_INVALID_ARG, NULL, PORT_RANGE,
             0},
            {"Docker: port +1", NEW, docker_endpoint, "tcp://localhost:+1", WW_STATUS_INVALID_ARG, NULL, PORT_RANGE,
             0},
            {"Docker: two ports", NEW, docker_endpoint, "tcp://127.0.0.1:2375:1", WW_STATUS_INVALID_ARG, NULL,
             PORT_RANGE, 0},
            {"Docker: port 65535 is a port", NEW, docker_endpoint, "tcp://127.0.0.1:65535", WW_STATUS_OK, NULL, NULL,
             0},
            {"Docker: http port 1 is a port", NEW, docker_endpoint, "http://127.0.0.1:1/", WW_STATUS_OK, NULL, NULL,
             0},
            {"Docker: unix path of 100 000 bytes", NEW, docker_endpoint, unix_long, WW_STATUS_INVALID_ARG,
             SOCKET_TOO_LONG, path_bytes, 0},
            {"Docker: tcp host of 100 000 bytes", NEW, docker_endpoint, tcp_long, WW_STATUS_INVALID_ARG, "HOST:PORT",
             PORT_RANGE, 0},

            /* containerd endpoints. */
            {"containerd endpoint not UTF-8", NEW, ctrd_endpoint, "/tmp/\xff\xfe.sock", WW_STATUS_INVALID_ARG,
             "ww_new: endpoint", "is not valid UTF-8", 0},
            {"containerd: tcp://", NEW, ctrd_endpoint, "tcp://127.0.0.1:1", WW_STATUS_INVALID_ARG, NULL,
             "expected an absolute socket path or unix:///PATH", 0},
            {"containerd: http://", NEW, ctrd_endpoint, "http://127.0.0.1:1/", WW_STATUS_INVALID_ARG, NULL, NULL, 0},
            {"containerd: empty", NEW, ctrd_endpoint, "", WW_STATUS_INVALID_ARG, "unsupported containerd endpoint",
             NULL, 0},
            {"containerd: unix:// without a path", NEW, ctrd_endpoint, "unix://", WW_STATUS_INVALID_ARG, NULL, NULL,
             0},
            {"containerd: ssh://", NEW, ctrd_endpoint, "ssh://host", WW_STATUS_INVALID_ARG, NULL, NULL, 0},
            {"containerd: npipe://", NEW, ctrd_endpoint, "npipe:////./pipe/containerd", WW_STATUS_INVALID_ARG, NULL,
             NULL, 0},
            {"containerd: a bare file name", NEW, ctrd_endpoint, "containerd.sock", WW_STATUS_INVALID_ARG, NULL, NULL,
             0},
            {"containerd: a relative path", NEW, ctrd_endpoint, "./containerd.sock", WW_STATUS_INVALID_ARG, NULL,
             NULL, 0},
            {"containerd: a relative unix:// path", NEW, ctrd_endpoint, "unix://containerd.sock",
             WW_STATUS_INVALID_ARG, NULL, NULL, 0},
            {"containerd: unix://./", NEW, ctrd_endpoint, "unix://./containerd.sock", WW_STATUS_INVALID_ARG, NULL,
             NULL, 0},
            {"containerd: unix path of 100 000 bytes", NEW, ctrd_endpoint, unix_long, WW_STATUS_INVALID_ARG,
             SOCKET_TOO_LONG, "unsupported containerd endpoint", 0},
            {"containerd: bare path of 100 000 bytes", NEW, ctrd_endpoint, unix_long + strlen("unix://"),
             WW_STATUS_INVALID_ARG, SOCKET_TOO_LONG, NULL, 0},

            /* podman endpoints: as Docker's. */
            {"podman endpoint not UTF-8", NEW, podman_endpoint, "unix:///tmp/\xff\xfe.sock", WW_STATUS_INVALID_ARG,
             "ww_new: endpoint", "is not valid UTF-8", 0},
            {"podman: ssh://", NEW, podman_endpoint, "ssh://host", WW_STATUS_INVALID_ARG, NULL, "unknown scheme", 0},
            {"podman: a bare path", NEW, podman_endpoint, "/run/podman/podman.sock", WW_STATUS_INVALID_ARG, NULL,
             "unknown scheme", 0},
            {"podman: a relative socket path", NEW, podman_endpoint, "unix://podman.sock", WW_STATUS_INVALID_ARG,
             NULL, "socket path must be absolute", 0},
            {"podman: tcp without a port", NEW, podman_endpoint, "tcp://127.0.0.1", WW_STATUS_INVALID_ARG, NULL,
             PORT_RANGE, 0},
            {"podman: unix path of 100 000 bytes", NEW, podman_endpoint, unix_long, WW_STATUS_INVALID_ARG,
             SOCKET_TOO_LONG, path_bytes, 0},
            {"podman: tcp://HOST:PORT", NEW, podman_endpoint, "tcp://127.0.0.1:1", WW_STATUS_OK, NULL, NULL, 0},
            {"podman: https:// (no TLS)", NEW, podman_endpoint, "https://127.0.0.1:2376", WW_STATUS_INVALID_ARG,
             "ww_new: podman's API takes no TLS: https://127.0.0.1:2376", NULL, 0},

            /* Docker over TLS: files only with a tcp:// or https:// endpoint
             * of Docker. */
            {"TLS CA with unix://", NEW, tls_files, "unix:///var/run/docker.sock /etc/ssl/ca.pem - -",
             WW_STATUS_INVALID_ARG, "ww_new: TLS files given for unix:///var/run/docker.sock", TLS_NOT_UNIX, 0},
            {"TLS certificate with unix://", NEW, tls_files, "unix:///var/run/docker.sock - /etc/ssl/cert.pem -",
             WW_STATUS_INVALID_ARG, "TLS files given for unix:///var/run/docker.sock", TLS_NOT_UNIX, 0},
            {"TLS key with unix://", NEW, tls_files, "unix:///var/run/docker.sock - - /etc/ssl/key.pem",
             WW_STATUS_INVALID_ARG, "TLS files given for unix:///var/run/docker.sock", TLS_NOT_UNIX, 0},
            {"TLS files with containerd", NEW, tls_files_engine, "2", WW_STATUS_INVALID_ARG,
             "ww_new: " TLS_DOCKER_ONLY, NULL, 0},
            {"TLS files with CRI", NEW, tls_files_engine, "3", WW_STATUS_INVALID_ARG, TLS_DOCKER_ONLY, NULL, 0},
            {"TLS files with podman", NEW, tls_files_engine, "4", WW_STATUS_INVALID_ARG, TLS_DOCKER_ONLY, NULL, 0},
            {"TLS files with WW_ENGINE_AUTO", NEW, tls_files_engine, "5", WW_STATUS_INVALID_ARG, TLS_DOCKER_ONLY,
             NULL, 0},
            {"TLS files with podman at tcp://", NEW, podman_tls_files, "tcp://127.0.0.1:2376 /etc/ssl/ca.pem - -",
             WW_STATUS_INVALID_ARG, TLS_DOCKER_ONLY, NULL, 0},
            {"TLS key not UTF-8", NEW, tls_key_not_utf8, "/tmp/\xff\xfe.pem", WW_STATUS_INVALID_ARG, "ww_new: tls_key",
             "is not valid UTF-8", 0},
            {"TLS CA with tcp:// (becomes https://)", NEW, tls_files, "tcp://127.0.0.1:2376 /etc/ssl/ca.pem - -",
             WW_STATUS_OK, NULL, NULL, 0},
            {"TLS files with https://", NEW, tls_files,
             "https://localhost:2376 /etc/ssl/ca.pem /etc/ssl/cert.pem /etc/ssl/key.pem", WW_STATUS_OK, NULL, NULL,
             0},

            /* audit_interval_ms: any value; 0 turns audits off. */
            {"audit_interval_ms 0 (audits off)", NEW, audit_interval, "0", WW_STATUS_OK, NULL, NULL, 0},
            {"audit_interval_ms 1", NEW, audit_interval, "1", WW_STATUS_OK, NULL, NULL, 0},
            {"audit_interval_ms UINT32_MAX", NEW, audit_interval, "4294967295", WW_STATUS_OK, NULL, NULL, 0},

            /* CRI endpoints: as containerd's. */
            {"CRI endpoint not UTF-8", NEW, cri_endpoint, "/tmp/\xff\xfe.sock", WW_STATUS_INVALID_ARG,
             "ww_new: endpoint", "is not valid UTF-8", 0},
            {"CRI: tcp://", NEW, cri_endpoint, "tcp://127.0.0.1:1", WW_STATUS_INVALID_ARG,
             "unsupported CRI endpoint \"tcp://127.0.0.1:1\"", "expected an absolute socket path or unix:///PATH",
             0},
            {"CRI: empty", NEW, cri_endpoint, "", WW_STATUS_INVALID_ARG, "unsupported CRI endpoint \"\"", NULL, 0},
            {"CRI: a relative path", NEW, cri_endpoint, "./crio.sock", WW_STATUS_INVALID_ARG, NULL, NULL, 0},
            {"CRI: a relative unix:// path", NEW, cri_endpoint, "unix://crio.sock", WW_STATUS_INVALID_ARG, NULL, NULL,
             0},
            {"CRI: unix path of 100 000 bytes", NEW, cri_endpoint, unix_long, WW_STATUS_INVALID_ARG,
             "unsupported CRI endpoint", NULL, 0},
            {"CRI: a socket path", NEW, cri_endpoint, "/run/crio/crio.sock", WW_STATUS_OK, NULL, NULL, 0},

            /* containerd ignored_namespaces. */
            {"ignored_namespaces not UTF-8", NEW, ctrd_ignored, "moby,\xff\xfe", WW_STATUS_INVALID_ARG,
             "ww_new: ignored_namespaces", "is not valid UTF-8", 0},
            {"ignored_namespaces with an empty name", NEW, ctrd_ignored, "a,,b", WW_STATUS_INVALID_ARG,
             "ww_new: ignored namespace \"\" in \"a,,b\"", NOT_A_NAMESPACE, 0},
            {"ignored namespace with a slash", NEW, ctrd_ignored, "x/y", WW_STATUS_INVALID_ARG, NULL, NOT_A_NAMESPACE,
             0},
            {"ignored_namespaces with a trailing comma", NEW, ctrd_ignored, "moby,", WW_STATUS_INVALID_ARG, NULL,
             NOT_A_NAMESPACE, 0},
            {"ignored namespace starting with '-'", NEW, ctrd_ignored, "-a", WW_STATUS_INVALID_ARG, NULL,
             NOT_A_NAMESPACE, 0},
            {"ignored namespace with '..'", NEW, ctrd_ignored, "a..b", WW_STATUS_INVALID_ARG, NULL, NOT_A_NAMESPACE,
             0},
            {"ignored namespace with a space", NEW, ctrd_ignored, "a b", WW_STATUS_INVALID_ARG, NULL, NOT_A_NAMESPACE,
             0},
            {"ignored namespaces, the second bad", NEW, ctrd_ignored, "moby,k8s.io/x", WW_STATUS_INVALID_ARG, NULL,
             NOT_A_NAMESPACE, 0},
            {"one ignored namespace of 100 000 bytes (named, shortened)", NEW, ctrd_ignored, one_long_name,
             WW_STATUS_INVALID_ARG, first_100, "... (100000 bytes)", 0},
            {"100 000 bytes of names ending in an empty one", NEW, ctrd_ignored, trailing_comma,
             WW_STATUS_INVALID_ARG, "ignored namespace \"\" in \"ns00000,", NOT_A_NAMESPACE, 0},
            {"ignored_namespaces \"\" (watch all)", NEW, ctrd_ignored, "", WW_STATUS_OK, NULL, NULL, 0},
            {"ignored_namespaces moby", NEW, ctrd_ignored, "moby", WW_STATUS_OK, NULL, NULL, 0},
            {"ignored_namespaces moby,k8s.io", NEW, ctrd_ignored, "moby,k8s.io", WW_STATUS_OK, NULL, NULL, 0},
            {"ignored namespace a-b_c.d", NEW, ctrd_ignored, "a-b_c.d", WW_STATUS_OK, NULL, NULL, 0},
            {"ignored namespace default", NEW, ctrd_ignored, "default", WW_STATUS_OK, NULL, NULL, 0},
            {"ignored_namespaces x1,y2,z3", NEW, ctrd_ignored, "x1,y2,z3", WW_STATUS_OK, NULL, NULL, 0},
            {"ignored_namespaces with a space after the comma", NEW, ctrd_ignored, "moby, k8s.io", WW_STATUS_OK, NULL,
             NULL, 0},
            {"100 000 bytes of valid names", NEW, ctrd_ignored, valid_list, WW_STATUS_OK, NULL, NULL, 0},

            /* Accepted, then given up at once (backoff NONE). */
            {"Docker: a directory as the socket", NEW_GIVES_UP, docker_endpoint, ns.dir_ep, WW_STATUS_ENGINE, ns.dir,
             NULL, ECONNREFUSED},
            {"containerd: a directory as the socket", NEW_GIVES_UP, ctrd_endpoint, ns.dir, WW_STATUS_ENGINE, ns.dir,
             NULL, ECONNREFUSED},
            {"Docker: a regular file as the socket", NEW_GIVES_UP, docker_endpoint, ns.file_ep, WW_STATUS_ENGINE,
             ns.file, NULL, ECONNREFUSED},
            {"containerd: a regular file as the socket", NEW_GIVES_UP, ctrd_endpoint, ns.file, WW_STATUS_ENGINE,
             ns.file, NULL, ECONNREFUSED},
            {"Docker: a path through a regular file", NEW_GIVES_UP, docker_endpoint, ns.through_ep, WW_STATUS_ENGINE,
             ns.through, NULL, ENOTDIR},
            {"containerd: a path through a regular file", NEW_GIVES_UP, ctrd_endpoint, ns.through, WW_STATUS_ENGINE,
             ns.through, NULL, ENOTDIR},
            {"Docker: no socket at the path", NEW_GIVES_UP, docker_endpoint, g_missing_endpoint, WW_STATUS_ENGINE,
             g_missing_sock, NULL, ENOENT},
            {"containerd: no socket at the path", NEW_GIVES_UP, ctrd_endpoint, g_missing_sock, WW_STATUS_ENGINE,
             g_missing_sock, NULL, ENOENT},
            {"Docker: a socket nobody listens on", NEW_GIVES_UP, docker_endpoint, g_dead_endpoint, WW_STATUS_ENGINE,
             g_dead_sock, NULL, ECONNREFUSED},
            {"containerd: a socket nobody listens on (unix://)", NEW_GIVES_UP, ctrd_endpoint, g_dead_endpoint,
             WW_STATUS_ENGINE, g_dead_sock, NULL, ECONNREFUSED},
            {"Docker: nothing listening at tcp://127.0.0.1:1", NEW_GIVES_UP, docker_endpoint, "tcp://127.0.0.1:1",
             WW_STATUS_ENGINE, "tcp://127.0.0.1:1", NULL, ECONNREFUSED},
            {"Docker: nothing listening at http://127.0.0.1:1/", NEW_GIVES_UP, docker_endpoint,
             "http://127.0.0.1:1/", WW_STATUS_ENGINE, "127.0.0.1:1", NULL, ECONNREFUSED},
            {"Docker: nothing listening at tcp://localhost:1", NEW_GIVES_UP, docker_endpoint, "tcp://localhost:1",
             WW_STATUS_ENGINE, "localhost:1", NULL, ECONNREFUSED},
            {"podman: no socket at the path", NEW_GIVES_UP, podman_endpoint, g_missing_endpoint, WW_STATUS_ENGINE,
             g_missing_sock, NULL, ENOENT},
            {"podman: a socket nobody listens on", NEW_GIVES_UP, podman_endpoint, g_dead_endpoint, WW_STATUS_ENGINE,
             g_dead_sock, NULL, ECONNREFUSED},
            {"podman: a regular file as the socket", NEW_GIVES_UP, podman_endpoint, ns.file_ep, WW_STATUS_ENGINE,
             ns.file, NULL, ECONNREFUSED},
            {"CRI: no socket at the path", NEW_GIVES_UP, cri_endpoint, g_missing_sock, WW_STATUS_ENGINE,
             g_missing_sock, NULL, ENOENT},
            {"CRI: a socket nobody listens on (unix://)", NEW_GIVES_UP, cri_endpoint, g_dead_endpoint,
             WW_STATUS_ENGINE, g_dead_sock, NULL, ECONNREFUSED},
            {"CRI: a path through a regular file", NEW_GIVES_UP, cri_endpoint, ns.through, WW_STATUS_ENGINE,
             ns.through, NULL, ENOTDIR},
            {"Docker over TLS: the CA file missing (tcp:// with a file is https://)", NEW_GIVES_UP, tls_files,
             ns.tls_ca_missing, WW_STATUS_ENGINE, ns.want_ca_missing, NULL, ENOENT},
            {"Docker over TLS: a client certificate that is no PEM", NEW_GIVES_UP, tls_files, ns.tls_cert_not_pem,
             WW_STATUS_ENGINE, ns.want_cert_not_pem, NULL, 0},
            {"Docker over TLS: the client key missing", NEW_GIVES_UP, tls_files, ns.tls_key_missing,
             WW_STATUS_ENGINE, ns.want_key_missing, NULL, ENOENT},
            {"Docker over TLS: a certificate as the client key", NEW_GIVES_UP, tls_files, ns.tls_key_is_cert,
             WW_STATUS_ENGINE, ns.want_key_is_cert, NULL, 0},
        };
        n = sizeof cases / sizeof cases[0];
        for (i = 0; i < n; i++) {
            note("%s", cases[i].what);
            if (!run_case(&cases[i], &f)) {
                note("  ^ FAILED: %s", cases[i].what);
                failed++;
            }
        }
    }
    note("%zu cases, %zu failed", n, failed);
    CHECK(failed == 0);
out:
    ww_snapshot_free(f.p);
    ww_close(f.w);
    remove_not_sockets(&ns);
    free(unix_long);
    free(tcp_long);
    free(one_long_name);
    free(valid_list);
    free(trailing_comma);
    return ok;
}

const struct test args_tests[] = {
    {test_bad_input_matrix, "bad_input_matrix"},
};
DEFINE_SUITE_LEN(args);
