/*
 * Versions, status names, the last error, ww_options_init and how ww_new
 * reads the options struct by its struct_size.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define CANARY 0xA5

/* The earlier sizes of ww_options within ABI 2 (LP64): up to
 * ignored_namespaces, then up to cri_events, then up to
 * discover_interval_ms (with its padding). */
#define OPTIONS_V1_SIZE offsetof(ww_options, cri_poll_ms)
#define OPTIONS_V2_SIZE offsetof(ww_options, discover_interval_ms)
#define OPTIONS_V3_SIZE offsetof(ww_options, tls_ca)

/* A caller compiled against a newer header: the struct has grown at its end. */
struct ww_options_newer {
    ww_options o;
    uint64_t future_number;
    const char *future_string;
};

static bool test_version(void) {
    bool ok = true;
    char want[64];
    CHECK(ww_version() != NULL);
    CHECK(ww_version() == ww_version());
    CHECKF(streq(ww_version(), WW_VERSION_STRING), "ww_version() \"%s\", the header says \"%s\"", ww_version(),
           WW_VERSION_STRING);
    snprintf(want, sizeof want, "%d.%d.%d", WW_VERSION_MAJOR, WW_VERSION_MINOR, WW_VERSION_PATCH);
    CHECKF(streq(ww_version(), want), "\"%s\", the header's numbers say %s", ww_version(), want);
    CHECKF(ww_abi_version() == WW_ABI_VERSION, "ww_abi_version() %u, the header says %u", (unsigned)ww_abi_version(),
           (unsigned)WW_ABI_VERSION);
    /* This program is written against ABI 2. */
    CHECKF(WW_ABI_VERSION == 2, "WW_ABI_VERSION %d", WW_ABI_VERSION);
out:
    return ok;
}

static bool test_status_str(void) {
    bool ok = true;
    ww_status a, b;
    for (a = WW_STATUS_OK; a <= WW_STATUS_FORKED; a++) {
        CHECKF(ww_status_str(a) != NULL, "status %u", (unsigned)a);
        CHECKF(ww_status_str(a)[0] != '\0', "status %u", (unsigned)a);
        CHECKF(!streq(ww_status_str(a), "unknown status"), "status %u", (unsigned)a);
        CHECKF(ww_status_str(a) == ww_status_str(a), "status %u: not static", (unsigned)a);
        for (b = 0; b < a; b++) {
            CHECKF(strcmp(ww_status_str(a), ww_status_str(b)) != 0, "status %u and %u are both \"%s\"", (unsigned)a,
                   (unsigned)b, ww_status_str(a));
        }
    }
    CHECKF(WW_STATUS_CLOSED == 8, "WW_STATUS_CLOSED is %d", WW_STATUS_CLOSED);
    CHECKF(contains(ww_status_str(WW_STATUS_CLOSED), "closed"), "\"%s\"", ww_status_str(WW_STATUS_CLOSED));
    CHECKF(WW_STATUS_FORKED == 9, "WW_STATUS_FORKED is %d", WW_STATUS_FORKED);
    CHECKF(contains(ww_status_str(WW_STATUS_FORKED), "fork") && contains(ww_status_str(WW_STATUS_FORKED), "parent"),
           "\"%s\"", ww_status_str(WW_STATUS_FORKED));
    CHECK(streq(ww_status_str(10), "unknown status"));
    CHECK(streq(ww_status_str(99), "unknown status"));
    CHECK(streq(ww_status_str(UINT32_MAX), "unknown status"));
out:
    return ok;
}

static bool test_last_error_never_null(void) {
    bool ok = true;
    ww_watcher *w = NULL;
    char before[512];
    ww_options o = options_for(g_missing_endpoint);
    int fd = -1;
    const ww_portfolio *p = NULL;
    const ww_change *changes = NULL;
    size_t len = 0;
    CHECK(ww_last_error_message() != NULL);
    CHECK(ww_new(NULL, NULL) == WW_STATUS_NULL_ARG);
    CHECK(ww_last_error_message() != NULL);
    CHECK(ww_last_error_message()[0] != '\0');
    /* Successful calls leave it untouched. */
    snprintf(before, sizeof before, "%s", last_error());
    CHECK_OK(ww_new(&o, &w));
    ww_options_init(&o, sizeof o);
    CHECK(ww_version() != NULL && ww_status_str(0) != NULL && ww_abi_version() == WW_ABI_VERSION);
    CHECK_OK(ww_event_fd(w, &fd));
    CHECK_OK(ww_snapshot(w, &p));
    CHECK_OK(ww_diff(NULL, p, &changes, &len));
    CHECK(ww_portfolio_find_id(p, "no-such-container") == NULL);
    CHECK(ww_portfolio_find_pid(p, 1) == NULL);
    ww_changes_free(changes);
    changes = NULL;
    ww_snapshot_free(p);
    p = NULL;
    CHECKF(streq(last_error(), before), "\"%s\" became \"%s\"", before, last_error());
out:
    ww_changes_free(changes);
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

static bool test_options_init_defaults(void) {
    bool ok = true;
    ww_options o;
    memset(&o, CANARY, sizeof o);
    ww_options_init(&o, sizeof o);
    CHECKF(o.struct_size == sizeof(ww_options), "struct_size %u, sizeof %zu", (unsigned)o.struct_size,
           sizeof(ww_options));
    CHECK(o.engine == WW_ENGINE_DOCKER);
    CHECK(o.endpoint == NULL);
    CHECK(o.backoff == WW_BACKOFF_EXPONENTIAL);
    CHECKF(o.backoff_initial_ms == 500, "%u", (unsigned)o.backoff_initial_ms);
    CHECKF(o.backoff_max_ms == 30000, "%u", (unsigned)o.backoff_max_ms);
    CHECKF(o.backoff_max_elapsed_ms == 0, "%u", (unsigned)o.backoff_max_elapsed_ms);
    CHECKF(o.call_timeout_ms == 10000, "%u", (unsigned)o.call_timeout_ms);
    CHECK(o.ignored_namespaces == NULL);
    CHECKF(o.cri_poll_ms == 1000, "%u", (unsigned)o.cri_poll_ms);
    CHECKF(o.cri_events == 0, "%u", (unsigned)o.cri_events);
    /* 0 and 10000 both mean the default interval. */
    CHECKF(o.discover_interval_ms == 0 || o.discover_interval_ms == 10000, "%u", (unsigned)o.discover_interval_ms);
    CHECK(o.tls_ca == NULL && o.tls_cert == NULL && o.tls_key == NULL);
    /* Audits on, every minute (here 0 would mean off). */
    CHECKF(o.audit_interval_ms == 60000, "%u", (unsigned)o.audit_interval_ms);
    /* ABI 2's fourth layout: 96 bytes on LP64, the three before it its
     * prefixes (48 bytes up to ignored_namespaces, 56 up to cri_events, 64
     * up to discover_interval_ms and its padding). */
    if (sizeof(void *) == 8) {
        CHECKF(sizeof(ww_options) == 96, "sizeof %zu", sizeof(ww_options));
        CHECKF(offsetof(ww_options, endpoint) == 8 && offsetof(ww_options, call_timeout_ms) == 32 &&
                   offsetof(ww_options, ignored_namespaces) == 40,
               "offsets %zu %zu %zu", offsetof(ww_options, endpoint), offsetof(ww_options, call_timeout_ms),
               offsetof(ww_options, ignored_namespaces));
        CHECKF(offsetof(ww_options, cri_poll_ms) == OPTIONS_V1_SIZE && offsetof(ww_options, cri_events) == 52 &&
                   offsetof(ww_options, discover_interval_ms) == OPTIONS_V2_SIZE,
               "offsets %zu %zu %zu", offsetof(ww_options, cri_poll_ms), offsetof(ww_options, cri_events),
               offsetof(ww_options, discover_interval_ms));
        CHECKF(OPTIONS_V1_SIZE == 48 && OPTIONS_V2_SIZE == 56 && OPTIONS_V3_SIZE == 64, "sizes %zu %zu %zu",
               OPTIONS_V1_SIZE, OPTIONS_V2_SIZE, OPTIONS_V3_SIZE);
        CHECKF(offsetof(ww_options, tls_ca) == 64 && offsetof(ww_options, tls_cert) == 72 &&
                   offsetof(ww_options, tls_key) == 80 && offsetof(ww_options, audit_interval_ms) == 88,
               "offsets %zu %zu %zu %zu", offsetof(ww_options, tls_ca), offsetof(ww_options, tls_cert),
               offsetof(ww_options, tls_key), offsetof(ww_options, audit_interval_ms));
    }
out:
    return ok;
}

/* True when bytes [from, to) of `buf` are all `value`; says where not. */
static bool bytes_are(const unsigned char *buf, size_t from, size_t to, unsigned char value) {
    size_t i;
    for (i = from; i < to; i++) {
        if (buf[i] != value) {
            note("byte %zu is 0x%02X, expected 0x%02X", i, buf[i], value);
            return false;
        }
    }
    return true;
}

/* ww_options_init(opts, size) writes exactly `size` bytes: the defaults in
 * the fields it knows, zero beyond them, nothing past `size`; sizes below
 * the first version of the struct write nothing. The buffers are
 * heap-allocated with exactly the size given, so ASan and valgrind catch a
 * write past it. */
static bool test_options_init_writes_exactly_size_bytes(void) {
    bool ok = true;
    static const size_t too_small[] = {0, 1, 4, 8, 31, 32, 40, 47};
    static const size_t sizes[] = {sizeof(ww_options), sizeof(ww_options) + 1, sizeof(struct ww_options_newer), 100,
                                   4096};
    unsigned char frame[160];
    unsigned char *buf = NULL;
    size_t i;
    for (i = 0; i < sizeof too_small / sizeof too_small[0]; i++) {
        memset(frame, CANARY, sizeof frame);
        ww_options_init((ww_options *)(void *)frame, too_small[i]);
        CHECKF(bytes_are(frame, 0, sizeof frame, CANARY), "ww_options_init(opts, %zu) wrote", too_small[i]);
    }
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        ww_options o;
        buf = malloc(n);
        CHECK(buf != NULL);
        memset(buf, CANARY, n);
        ww_options_init((ww_options *)(void *)buf, n);
        memcpy(&o, buf, sizeof o);
        CHECKF(o.struct_size == n, "size %zu: struct_size %u", n, (unsigned)o.struct_size);
        CHECK(o.engine == WW_ENGINE_DOCKER && o.endpoint == NULL && o.backoff == WW_BACKOFF_EXPONENTIAL);
        CHECK(o.backoff_initial_ms == 500 && o.backoff_max_ms == 30000 && o.backoff_max_elapsed_ms == 0);
        CHECK(o.call_timeout_ms == 10000 && o.ignored_namespaces == NULL);
        CHECK(o.tls_ca == NULL && o.tls_cert == NULL && o.tls_key == NULL && o.audit_interval_ms == 60000);
        CHECKF(bytes_are(buf, sizeof(ww_options), n, 0), "size %zu: the unknown tail is not zeroed", n);
        free(buf);
        buf = NULL;
    }
    /* Inside a larger frame: nothing past the size. */
    memset(frame, CANARY, sizeof frame);
    ww_options_init((ww_options *)(void *)frame, 100);
    CHECK(bytes_are(frame, sizeof(ww_options), 100, 0));
    CHECKF(bytes_are(frame, 100, sizeof frame, CANARY), "ww_options_init(opts, 100) wrote past 100 bytes");
    memset(frame, CANARY, sizeof frame);
    ww_options_init((ww_options *)(void *)frame, sizeof(ww_options));
    CHECKF(bytes_are(frame, sizeof(ww_options), sizeof frame, CANARY), "wrote past sizeof(ww_options)");
out:
    free(buf);
    return ok;
}

/* A caller compiled against an earlier header of ABI 2 passes a shorter
 * struct: ww_options_init writes exactly its bytes (the defaults of the
 * fields it has), and ww_new reads exactly those and takes the defaults
 * for the rest. Each struct is heap-allocated with exactly its size, so
 * ASan and valgrind catch a byte written or read past it. */
static bool test_each_earlier_struct_size_works(void) {
    bool ok = true;
    const size_t sizes[] = {OPTIONS_V1_SIZE, OPTIONS_V2_SIZE, OPTIONS_V3_SIZE, sizeof(ww_options)};
    unsigned char frame[160];
    unsigned char *buf = NULL;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    size_t i;
    CHECKF(OPTIONS_V1_SIZE < OPTIONS_V2_SIZE && OPTIONS_V2_SIZE < OPTIONS_V3_SIZE &&
               OPTIONS_V3_SIZE < sizeof(ww_options),
           "sizes %zu %zu %zu %zu", OPTIONS_V1_SIZE, OPTIONS_V2_SIZE, OPTIONS_V3_SIZE, sizeof(ww_options));
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        ww_options o;
        memset(frame, CANARY, sizeof frame);
        ww_options_init((ww_options *)(void *)frame, n);
        CHECKF(bytes_are(frame, n, sizeof frame, CANARY), "ww_options_init(opts, %zu) wrote past %zu bytes", n, n);
        buf = malloc(n);
        CHECK(buf != NULL);
        memset(buf, CANARY, n);
        ww_options_init((ww_options *)(void *)buf, n);
        /* The known prefix, read field by field from the bytes written. */
        memset(&o, 0, sizeof o);
        memcpy(&o, buf, n);
        CHECKF(o.struct_size == n, "size %zu: struct_size %u", n, (unsigned)o.struct_size);
        CHECK(o.engine == WW_ENGINE_DOCKER && o.endpoint == NULL && o.backoff == WW_BACKOFF_EXPONENTIAL);
        CHECK(o.backoff_initial_ms == 500 && o.backoff_max_ms == 30000 && o.backoff_max_elapsed_ms == 0);
        CHECK(o.call_timeout_ms == 10000 && o.ignored_namespaces == NULL);
        if (n >= OPTIONS_V2_SIZE) {
            CHECKF(o.cri_poll_ms == 1000 && o.cri_events == 0, "size %zu: cri_poll_ms %u, cri_events %u", n,
                   (unsigned)o.cri_poll_ms, (unsigned)o.cri_events);
        }
        if (n >= OPTIONS_V3_SIZE) {
            CHECKF(o.discover_interval_ms == 0 || o.discover_interval_ms == 10000, "size %zu: discover_interval_ms %u",
                   n, (unsigned)o.discover_interval_ms);
        }
        if (n >= sizeof(ww_options)) {
            CHECKF(o.tls_ca == NULL && o.tls_cert == NULL && o.tls_key == NULL && o.audit_interval_ms == 60000,
                   "size %zu: audit_interval_ms %u", n, (unsigned)o.audit_interval_ms);
        }
        /* A watcher from it works. */
        ((ww_options *)(void *)buf)->endpoint = g_endpoint;
        w = ready_watcher_with((const ww_options *)(const void *)buf);
        CHECKF(w != NULL, "struct_size %zu", n);
        CHECK_OK(ww_snapshot(w, &p));
        CHECK(portfolio_invariants(p, "docker.com", g_endpoint));
        CHECK(has_docker_container(p));
        ww_snapshot_free(p);
        p = NULL;
        ww_close(w);
        w = NULL;
        free(buf);
        buf = NULL;
    }
    /* Sizes between the known ones are no version of the struct. */
    for (i = OPTIONS_V1_SIZE + 1; i < sizeof(ww_options); i++) {
        union {
            ww_options o;
            unsigned char bytes[sizeof(ww_options)];
        } u;
        ww_watcher *sentinel = (ww_watcher *)(void *)&u, *got = sentinel;
        char want[64];
        ww_status s;
        if (i == OPTIONS_V2_SIZE || i == OPTIONS_V3_SIZE) {
            continue;
        }
        memset(&u, 0, sizeof u);
        ww_options_init(&u.o, sizeof u.o);
        u.o.endpoint = g_missing_endpoint;
        u.o.struct_size = (uint32_t)i;
        s = ww_new(&u.o, &got);
        CHECKF(s == WW_STATUS_ABI_MISMATCH && got == sentinel, "struct_size %zu: %s: %s", i, ww_status_str(s),
               last_error());
        snprintf(want, sizeof want, "struct_size is %zu;", i);
        CHECKF(contains(last_error(), want), "\"%s\"", last_error());
    }
out:
    ww_snapshot_free(p);
    ww_close(w);
    free(buf);
    return ok;
}

/* An earlier caller's struct is read only as far as its struct_size: what
 * follows it in memory is not taken for the fields it lacks, which keep
 * their defaults. Observable for the TLS files: a tcp:// endpoint stays
 * plain for a caller of 48, 56 or 64 bytes even when the bytes after its
 * struct hold a tls_ca (and becomes TLS for a caller of 96 bytes with
 * that tls_ca). (The audits' default, every 60 s, does not show within a
 * test; tests/audit.rs covers audits.) */
static bool test_earlier_struct_size_fields_beyond_take_defaults(void) {
    bool ok = true;
    const size_t sizes[] = {OPTIONS_V1_SIZE, OPTIONS_V2_SIZE, OPTIONS_V3_SIZE, sizeof(ww_options)};
    char *saved = NULL;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    size_t i;
    /* As for any caller, DOCKER_TLS_VERIFY would make tcp:// TLS. */
    saved = getenv("DOCKER_TLS_VERIFY") != NULL ? strdup(getenv("DOCKER_TLS_VERIFY")) : NULL;
    CHECK(unsetenv("DOCKER_TLS_VERIFY") == 0);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const size_t n = sizes[i];
        const char *want = n == sizeof(ww_options) ? "https://127.0.0.1:1" : "tcp://127.0.0.1:1";
        ww_options o;
        ww_options_init(&o, sizeof o);
        o.endpoint = "tcp://127.0.0.1:1";
        o.tls_ca = "/nonexistent/ca.pem";
        o.audit_interval_ms = 0;
        o.struct_size = (uint32_t)n;
        CHECK_OK(ww_new(&o, &w));
        CHECK_OK(ww_snapshot(w, &p));
        CHECKF(streq(engine0(p)->endpoint, want), "struct_size %zu: endpoint \"%s\", expected \"%s\"", n,
               engine0(p)->endpoint, want);
        ww_snapshot_free(p);
        p = NULL;
        ww_close(w);
        w = NULL;
    }
out:
    ww_snapshot_free(p);
    ww_close(w);
    if (saved != NULL) {
        setenv("DOCKER_TLS_VERIFY", saved, 1);
        free(saved);
    }
    return ok;
}

/* A caller compiled against a newer header (a larger struct) is accepted
 * while the fields this library does not know are zero, and the watcher
 * works; any non-zero byte in that tail is an ABI mismatch that names the
 * byte, and nothing is created. Heap-allocated with exactly the struct's
 * size, so ASan and valgrind catch a read past it. */
static bool test_larger_struct_zero_tail_works_nonzero_tail_refused(void) {
    bool ok = true;
    struct ww_options_newer *n = malloc(sizeof *n);
    unsigned char *big = NULL;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    size_t at;
    CHECK(n != NULL);
    memset(n, CANARY, sizeof *n);
    ww_options_init(&n->o, sizeof *n);
    CHECK(n->o.struct_size == sizeof *n);
    CHECK(n->future_number == 0 && n->future_string == NULL);
    n->o.endpoint = g_endpoint;
    w = ready_watcher_with(&n->o);
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(portfolio_invariants(p, "docker.com", g_endpoint));
    CHECK(has_docker_container(p));
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;
    /* Each byte of the unknown tail, set alone. */
    for (at = sizeof(ww_options); at < sizeof *n; at++) {
        ww_watcher *sentinel = (ww_watcher *)(void *)n, *got = sentinel;
        char want[64];
        ww_status s;
        ((unsigned char *)n)[at] = 1;
        s = ww_new(&n->o, &got);
        ((unsigned char *)n)[at] = 0;
        CHECKF(s == WW_STATUS_ABI_MISMATCH, "byte %zu set: %s: %s", at, ww_status_str(s), last_error());
        CHECK(got == sentinel);
        snprintf(want, sizeof want, "byte %zu", at);
        CHECKF(contains(last_error(), want), "\"%s\" does not name %s", last_error(), want);
        CHECKF(contains(last_error(), "struct_size is"), "\"%s\"", last_error());
    }
    /* A much larger struct: 12345 bytes, all zero beyond what is known. */
    big = malloc(12345);
    CHECK(big != NULL);
    ww_options_init((ww_options *)(void *)big, 12345);
    ((ww_options *)(void *)big)->endpoint = g_missing_endpoint;
    CHECK_OK(ww_new((const ww_options *)(const void *)big, &w));
    CHECK(unsynced_snapshot_ok(w, "docker.com", g_missing_endpoint, WW_ENGINE_STATE_CONNECTING));
    ww_close(w);
    w = NULL;
    big[12344] = 0x80;
    {
        ww_watcher *sentinel = (ww_watcher *)(void *)big, *got = sentinel;
        ww_status s = ww_new((const ww_options *)(const void *)big, &got);
        CHECKF(s == WW_STATUS_ABI_MISMATCH, "%s: %s", ww_status_str(s), last_error());
        CHECK(got == sentinel);
        CHECKF(contains(last_error(), "struct_size is 12345") && contains(last_error(), "byte 12344"), "\"%s\"",
               last_error());
    }
out:
    ww_snapshot_free(p);
    ww_close(w);
    free(n);
    free(big);
    return ok;
}

/* The options are read only during ww_new: the strings and the struct may
 * be overwritten and freed at once. */
static bool test_options_read_only_during_new(void) {
    bool ok = true;
    ww_options *o = malloc(sizeof *o);
    size_t len = strlen(g_endpoint);
    char *endpoint = malloc(len + 1);
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    CHECK(o != NULL && endpoint != NULL);
    memcpy(endpoint, g_endpoint, len + 1);
    ww_options_init(o, sizeof *o);
    o->endpoint = endpoint;
    CHECK_OK(ww_new(o, &w));
    memset(endpoint, 'x', len);
    free(endpoint);
    endpoint = NULL;
    memset(o, CANARY, sizeof *o);
    free(o);
    o = NULL;
    CHECK_OK(ww_ready(w, 30000));
    CHECK_OK(ww_snapshot(w, &p));
    CHECKF(streq(engine0(p)->endpoint, g_endpoint), "\"%s\"", engine0(p)->endpoint);
    CHECK(has_docker_container(p));
out:
    free(o);
    free(endpoint);
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

const struct test options_tests[] = {
    {test_version, "version"},
    {test_status_str, "status_str"},
    {test_last_error_never_null, "last_error_never_null"},
    {test_options_init_defaults, "options_init_defaults"},
    {test_options_init_writes_exactly_size_bytes, "options_init_writes_exactly_size_bytes"},
    {test_each_earlier_struct_size_works, "each_earlier_struct_size_works"},
    {test_earlier_struct_size_fields_beyond_take_defaults, "earlier_struct_size_fields_beyond_take_defaults"},
    {test_larger_struct_zero_tail_works_nonzero_tail_refused, "larger_struct_zero_tail_works_nonzero_tail_refused"},
    {test_options_read_only_during_new, "options_read_only_during_new"},
};
DEFINE_SUITE_LEN(options);
