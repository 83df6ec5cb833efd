/*
 * The C ABI of libwhalewatcher, exercised from C the way a C caller uses it
 * (in the style of regex-capi's ctest).
 *
 * Usage: test_abi ENDPOINT EXPECT_ID EXPECT_NAME EXPECT_PID EXPECT_PROJECT
 *                 [CONTAINERD_ENDPOINT CTRD_EXPECT_ID CTRD_EXPECT_NAME
 *                  CTRD_EXPECT_PID CTRD_EXPECT_PROJECT CTRD_IGNORED_ID]
 *
 * ENDPOINT is a running Docker engine (e.g. a private dockerd started by
 * tests/engines/dockerd.sh) with at least one alive container: full ID
 * EXPECT_ID, name EXPECT_NAME (as `docker inspect` reports it; a leading '/'
 * is dropped, as the library documents), initial process EXPECT_PID, label
 * com.docker.compose.project=EXPECT_PROJECT.
 *
 * The six optional arguments (all or none) add the containerd engine:
 * CONTAINERD_ENDPOINT is a running containerd's socket, as a path or as
 * unix://PATH (e.g. a private one from tests/engines/containerd.sh), with
 * - one alive container outside the ignored namespaces, as the library names
 *   it: CTRD_EXPECT_ID "NS/ID" (just "ID" in namespace "default"),
 *   CTRD_EXPECT_NAME "NS/NAME" from its label nerdctl/name=NAME (which it
 *   must have), initial process CTRD_EXPECT_PID, label
 *   com.docker.compose.project=CTRD_EXPECT_PROJECT;
 * - one alive container in namespace "moby" (ignored by default),
 *   CTRD_IGNORED_ID "moby/ID".
 * Without them, the tests that need a containerd are skipped; those that
 * need none (argument checks, unreachable sockets) run anyway.
 *
 * Run as root (as tests/c_abi.rs does): the permission test forks a child
 * that becomes user nobody (65534); not as root, it is skipped.
 *
 * Nothing in the engines changes while this program runs.
 *
 * Prints "ok"/"FAILED"/"skipped" per test and finally "N passed, N failed"
 * (skipped tests count as neither); exits 1 if any test failed, 2 on a bad
 * command line.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "whalewatcher.h"

/* ------------------------------------------------------------------ */
/* Command line and scratch state                                      */
/* ------------------------------------------------------------------ */

static const char *g_endpoint;

/* A container the snapshot must hold, exactly. */
struct expect {
    const char *id;
    const char *name;
    int32_t pid;
    const char *project;
    const char *name_label; /* containerd: the value of label nerdctl/name; NULL: not checked */
};

static struct expect g_docker;

/* containerd (optional). */
static bool g_have_ctrd;
static const char *g_ctrd_endpoint;   /* as given */
static char *g_ctrd_url;              /* as the library reports it: unix://PATH */
static char *g_ctrd_other_form;       /* the same socket the other way: PATH or unix://PATH */
static struct expect g_ctrd;
static char *g_ctrd_ns;               /* namespace of g_ctrd ("default" when its ID has no '/') */
static const char *g_ctrd_ignored_id; /* "moby/ID" */

/* A scratch directory with a socket nobody listens on (bound, never
 * listened, closed), a socket that listens but never answers, a path
 * that does not exist, and the path of a socket whose server hangs up
 * (while a test runs). */
static char g_tmpdir[32];
static char g_dead_sock[64], g_dead_endpoint[80];
static char g_silent_sock[64], g_silent_endpoint[80];
static char g_missing_sock[64], g_missing_endpoint[80];
static char g_hangup_sock[64], g_hangup_endpoint[80];
static int g_silent_fd = -1;

#define COMPOSE_LABEL "com.docker.compose.project"
#define NERDCTL_NAME_LABEL "nerdctl/name"

/* The first published layout of ww_options: the first seven fields, without
 * the trailing call_timeout_ms. */
struct ww_options_v1 {
    uint32_t struct_size;
    ww_engine engine;
    const char *endpoint;
    ww_backoff backoff;
    uint32_t backoff_initial_ms;
    uint32_t backoff_max_ms;
    uint32_t backoff_max_elapsed_ms;
};

/* The second published layout: the first plus call_timeout_ms, without the
 * trailing ignored_namespaces (40 bytes on LP64, tail padding included). */
struct ww_options_v2 {
    uint32_t struct_size;
    ww_engine engine;
    const char *endpoint;
    ww_backoff backoff;
    uint32_t backoff_initial_ms;
    uint32_t backoff_max_ms;
    uint32_t backoff_max_elapsed_ms;
    uint32_t call_timeout_ms;
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* A failed check: report where and why, mark the test failed, clean up. */
#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            note_start();                                                  \
            fprintf(stderr, "    %s:%d: check failed: %s\n", __FILE__,     \
                    __LINE__, #cond);                                      \
            ok = false;                                                    \
            goto out;                                                      \
        }                                                                  \
    } while (0)

/* Like CHECK, with a printf-style explanation. */
#define CHECKF(cond, ...)                                                  \
    do {                                                                   \
        if (!(cond)) {                                                     \
            note_start();                                                  \
            fprintf(stderr, "    %s:%d: check failed: %s: ", __FILE__,     \
                    __LINE__, #cond);                                      \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
            ok = false;                                                    \
            goto out;                                                      \
        }                                                                  \
    } while (0)

/* Set by a test that cannot run (no containerd given, not root): counted
 * as neither passed nor failed; g_skip_reason says why. */
static bool g_skipped;
static const char *g_skip_reason;

#define SKIP(reason)                                                       \
    do {                                                                   \
        g_skipped = true;                                                  \
        g_skip_reason = (reason);                                          \
        return true;                                                       \
    } while (0)

#define NEEDS_CONTAINERD()                                                 \
    do {                                                                   \
        if (!g_have_ctrd) {                                                \
            SKIP("no containerd given");                                   \
        }                                                                  \
    } while (0)

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool streq(const char *a, const char *b) {
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static bool contains(const char *haystack, const char *needle) {
    return haystack != NULL && needle != NULL && strstr(haystack, needle) != NULL;
}

static const char *last_error(void) {
    return ww_last_error_message();
}

/* Diagnostics go to stderr; the first of a test starts on a fresh line. */
static bool g_mid_line;

static void note_start(void) {
    if (g_mid_line) {
        fflush(stdout);
        fputc('\n', stderr);
        g_mid_line = false;
    }
}

/* True when `s` is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static bool valid_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p, n, i;
        unsigned long cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        for (i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        p += n + 1;
    }
    return true;
}

/* Options prepared by ww_options_init, for `endpoint`. */
static ww_options options_for(const char *endpoint) {
    ww_options o;
    memset(&o, 0xA5, sizeof o); /* garbage that ww_options_init must overwrite */
    ww_options_init(&o);
    o.endpoint = endpoint;
    return o;
}

/* Number of entries (without . and ..) of a /proc/self directory; -1 on error. */
static int count_dir(const char *path) {
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Lists the threads (with names) and file descriptors (with targets). */
static void dump_threads_and_fds(const char *when) {
    DIR *d;
    struct dirent *e;
    note_start();
    fprintf(stderr, "    threads and fds %s:\n", when);
    if ((d = opendir("/proc/self/task")) != NULL) {
        while ((e = readdir(d)) != NULL) {
            char path[300], comm[64] = "?";
            FILE *f;
            if (e->d_name[0] == '.') {
                continue;
            }
            snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
            if ((f = fopen(path, "r")) != NULL) {
                if (fgets(comm, sizeof comm, f) == NULL) {
                    strcpy(comm, "?");
                }
                fclose(f);
                comm[strcspn(comm, "\n")] = '\0';
            }
            note_start();
            fprintf(stderr, "      task %s (%s)\n", e->d_name, comm);
        }
        closedir(d);
    }
    if ((d = opendir("/proc/self/fd")) != NULL) {
        while ((e = readdir(d)) != NULL) {
            char path[300], target[512];
            ssize_t n;
            if (e->d_name[0] == '.') {
                continue;
            }
            snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
            n = readlink(path, target, sizeof target - 1);
            target[n < 0 ? 0 : n] = '\0';
            note_start();
            fprintf(stderr, "      fd %s -> %s\n", e->d_name, target);
        }
        closedir(d);
    }
}

/* Checks what every snapshot of an engine of type `engine_type` must
 * satisfy. Prints the first violation. */
static bool engine_portfolio_invariants(const ww_portfolio *p, const char *engine_type, const char *endpoint) {
    bool ok = true;
    size_t i, j, at = 0;
    CHECK(p != NULL);
    CHECK(p->engine_type != NULL && p->engine_id != NULL);
    CHECK(p->engine_version != NULL && p->engine_endpoint != NULL);
    CHECKF(streq(p->engine_type, engine_type), "engine_type \"%s\", expected \"%s\"", p->engine_type,
           engine_type);
    CHECKF(endpoint == NULL || streq(p->engine_endpoint, endpoint),
           "engine_endpoint \"%s\", expected \"%s\"", p->engine_endpoint, endpoint);
    CHECK(p->engine_pid >= 0);
    CHECK((p->containers == NULL) == (p->containers_len == 0));
    CHECK(p->projects != NULL && p->projects_len >= 1);
    CHECKF(streq(p->projects[0].name, ""), "projects[0].name \"%s\"", p->projects[0].name);
    for (i = 0; i < p->containers_len; i++) {
        const ww_container *c = &p->containers[i];
        CHECK(c->id != NULL && c->name != NULL && c->project != NULL);
        CHECKF(c->id[0] != '\0', "container %zu has an empty ID", i);
        CHECKF(c->pid > 0, "container %s has PID %d", c->id, (int)c->pid);
        CHECK((c->labels == NULL) == (c->labels_len == 0));
        for (j = 0; j < c->labels_len; j++) {
            CHECK(c->labels[j].key != NULL && c->labels[j].value != NULL);
            if (j > 0) {
                CHECKF(strcmp(c->labels[j - 1].key, c->labels[j].key) < 0,
                       "labels of %s not sorted by key: \"%s\" before \"%s\"", c->name,
                       c->labels[j - 1].key, c->labels[j].key);
            }
        }
        if (i > 0) {
            const ww_container *b = &p->containers[i - 1];
            int cmp = strcmp(b->project, c->project);
            if (cmp == 0) {
                cmp = strcmp(b->name, c->name);
            }
            if (cmp == 0) {
                cmp = strcmp(b->id, c->id);
            }
            CHECKF(cmp < 0, "containers not sorted by (project, name, id) at %zu: (%s, %s) before (%s, %s)",
                   i, b->project, b->name, c->project, c->name);
        }
    }
    /* Projects: "" first, then named ones sorted by name, each a contiguous
     * slice of containers, together covering all containers in order. */
    for (i = 0; i < p->projects_len; i++) {
        const ww_project *pr = &p->projects[i];
        CHECK(pr->name != NULL);
        CHECK((pr->containers == NULL) == (pr->containers_len == 0));
        if (i > 0) {
            CHECKF(pr->name[0] != '\0', "projects[%zu] is unnamed", i);
            CHECKF(pr->containers_len >= 1, "named project \"%s\" without containers", pr->name);
            CHECKF(strcmp(p->projects[i - 1].name, pr->name) < 0, "projects not sorted: \"%s\" before \"%s\"",
                   p->projects[i - 1].name, pr->name);
        }
        if (pr->containers_len > 0) {
            CHECKF(pr->containers == p->containers + at,
                   "project \"%s\" is not the slice at %zu of portfolio->containers", pr->name, at);
        }
        for (j = 0; j < pr->containers_len; j++) {
            CHECKF(streq(pr->containers[j].project, pr->name), "container %s (project \"%s\") in project \"%s\"",
                   pr->containers[j].name, pr->containers[j].project, pr->name);
        }
        at += pr->containers_len;
    }
    CHECKF(at == p->containers_len, "projects hold %zu of %zu containers", at, p->containers_len);
out:
    return ok;
}

/* The same for a Docker engine. */
static bool portfolio_invariants(const ww_portfolio *p, const char *endpoint) {
    return engine_portfolio_invariants(p, "docker.com", endpoint);
}

static const char *label_value(const ww_container *c, const char *key) {
    size_t j;
    for (j = 0; j < c->labels_len; j++) {
        if (streq(c->labels[j].key, key)) {
            return c->labels[j].value;
        }
    }
    return NULL;
}

/* The namespace of a containerd display ID ("NS/ID", or "ID" in "default"),
 * written to `ns` (at most `size` bytes). */
static void namespace_of(const char *id, char *ns, size_t size) {
    const char *slash = strchr(id, '/');
    if (slash == NULL) {
        snprintf(ns, size, "default");
    } else {
        snprintf(ns, size, "%.*s", (int)(slash - id), id);
    }
}

/* Checks how a containerd snapshot names its containers: IDs "NS/ID" (just
 * "ID" in "default"), names from label nerdctl/name namespaced the same way,
 * else the ID; project from the compose label; no container of a namespace
 * in `ignored` (comma-separated, maybe ""). */
static bool containerd_naming_ok(const ww_portfolio *p, const char *ignored) {
    bool ok = true;
    size_t i;
    for (i = 0; i < p->containers_len; i++) {
        const ww_container *c = &p->containers[i];
        const char *slash = strchr(c->id, '/');
        const char *label = label_value(c, NERDCTL_NAME_LABEL);
        const char *project = label_value(c, COMPOSE_LABEL);
        char ns[128], want_name[512];
        namespace_of(c->id, ns, sizeof ns);
        CHECKF(slash == NULL || (slash != c->id && slash[1] != '\0'), "id \"%s\"", c->id);
        CHECKF(slash == NULL || !streq(ns, "default"), "id \"%s\": namespace \"default\" must not be spelled out", c->id);
        if (label != NULL && label[0] != '\0') {
            if (slash == NULL) {
                snprintf(want_name, sizeof want_name, "%s", label);
            } else {
                snprintf(want_name, sizeof want_name, "%s/%s", ns, label);
            }
        } else {
            snprintf(want_name, sizeof want_name, "%s", c->id);
        }
        CHECKF(streq(c->name, want_name), "container %s: name \"%s\", expected \"%s\"", c->id, c->name,
               want_name);
        CHECKF(streq(c->project, project != NULL ? project : ""), "container %s: project \"%s\", label \"%s\"",
               c->id, c->project, project != NULL ? project : "(none)");
        {
            /* ns must not be one of `ignored`. */
            const char *at = ignored;
            size_t len = strlen(ns);
            while (at != NULL && *at != '\0') {
                const char *comma = strchr(at, ',');
                size_t n = comma != NULL ? (size_t)(comma - at) : strlen(at);
                CHECKF(!(n == len && strncmp(at, ns, n) == 0), "container %s of ignored namespace %s", c->id, ns);
                at = comma != NULL ? comma + 1 : NULL;
            }
        }
    }
out:
    return ok;
}

/* Everything a containerd snapshot at `endpoint` must satisfy. */
static bool ctrd_portfolio_invariants(const ww_portfolio *p, const char *endpoint, const char *ignored) {
    return engine_portfolio_invariants(p, "containerd.io", endpoint) && containerd_naming_ok(p, ignored);
}

/* Sums the lengths of every string of a snapshot, touching every byte (so
 * ASan / valgrind see any read of freed memory). */
static size_t touch_all_strings(const ww_portfolio *p) {
    size_t n = strlen(p->engine_type) + strlen(p->engine_id) + strlen(p->engine_version) +
               strlen(p->engine_endpoint);
    size_t i, j;
    for (i = 0; i < p->containers_len; i++) {
        const ww_container *c = &p->containers[i];
        n += strlen(c->id) + strlen(c->name) + strlen(c->project) + (size_t)c->pid + (c->paused ? 1 : 0);
        for (j = 0; j < c->labels_len; j++) {
            n += strlen(c->labels[j].key) + strlen(c->labels[j].value);
        }
    }
    for (i = 0; i < p->projects_len; i++) {
        n += strlen(p->projects[i].name) + p->projects[i].containers_len;
    }
    return n;
}

static const ww_container *find_container(const ww_portfolio *p, const char *id) {
    size_t i;
    for (i = 0; i < p->containers_len; i++) {
        if (strcmp(p->containers[i].id, id) == 0) {
            return &p->containers[i];
        }
    }
    return NULL;
}

/* Checks that the snapshot holds the container `e`, exactly. */
static bool has_container(const ww_portfolio *p, const struct expect *e) {
    bool ok = true, found_label = false, found_name_label = false, found_project = false;
    const ww_container *c = find_container(p, e->id);
    size_t i, j;
    CHECKF(c != NULL, "container %s not in the snapshot (%zu containers, generation %llu)", e->id,
           p->containers_len, (unsigned long long)p->generation);
    CHECKF(streq(c->id, e->id), "id \"%s\"", c->id);
    CHECKF(streq(c->name, e->name), "name \"%s\", expected \"%s\"", c->name, e->name);
    CHECKF(c->pid == e->pid, "pid %d, expected %d", (int)c->pid, (int)e->pid);
    CHECKF(streq(c->project, e->project), "project \"%s\", expected \"%s\"", c->project, e->project);
    CHECK(!c->paused);
    CHECK(c->labels != NULL && c->labels_len >= 1);
    for (j = 0; j < c->labels_len; j++) {
        if (j > 0) {
            CHECK(strcmp(c->labels[j - 1].key, c->labels[j].key) < 0);
        }
        if (streq(c->labels[j].key, COMPOSE_LABEL)) {
            CHECKF(streq(c->labels[j].value, e->project), "label %s=\"%s\"", COMPOSE_LABEL, c->labels[j].value);
            found_label = true;
        }
        if (e->name_label != NULL && streq(c->labels[j].key, NERDCTL_NAME_LABEL)) {
            CHECKF(streq(c->labels[j].value, e->name_label), "label %s=\"%s\", expected \"%s\"", NERDCTL_NAME_LABEL,
                   c->labels[j].value, e->name_label);
            found_name_label = true;
        }
    }
    CHECKF(found_label, "label %s missing", COMPOSE_LABEL);
    CHECKF(e->name_label == NULL || found_name_label, "label %s missing", NERDCTL_NAME_LABEL);
    for (i = 0; i < p->projects_len; i++) {
        const ww_project *pr = &p->projects[i];
        if (!streq(pr->name, e->project)) {
            continue;
        }
        for (j = 0; j < pr->containers_len; j++) {
            found_project = found_project || &pr->containers[j] == c;
        }
    }
    CHECKF(found_project, "container not in the slice of project \"%s\"", e->project);
out:
    return ok;
}

/* Checks that the snapshot holds the expected Docker container, exactly. */
static bool has_expected_container(const ww_portfolio *p) {
    return has_container(p, &g_docker);
}

/* The same for the expected containerd container, and that the one in
 * namespace moby is absent (`ignored_visible` false) or present and alive
 * (true). */
static bool has_ctrd_containers(const ww_portfolio *p, bool ignored_visible) {
    bool ok = true;
    const ww_container *m = find_container(p, g_ctrd_ignored_id);
    CHECK(has_container(p, &g_ctrd));
    if (!ignored_visible) {
        CHECKF(m == NULL, "container %s of an ignored namespace in the snapshot", g_ctrd_ignored_id);
    } else {
        CHECKF(m != NULL, "container %s not in the snapshot (%zu containers, generation %llu)", g_ctrd_ignored_id,
               p->containers_len, (unsigned long long)p->generation);
        CHECKF(m->pid > 0 && !m->paused, "container %s: pid %d, paused %d", m->id, (int)m->pid, (int)m->paused);
    }
out:
    return ok;
}

/* A watcher with options `o`, ready. NULL (after printing why) on failure. */
static ww_watcher *ready_watcher_with(const ww_options *o) {
    ww_watcher *w = NULL;
    ww_status s = ww_new(o, &w);
    if (s != WW_STATUS_OK) {
        note_start();
        fprintf(stderr, "    ww_new: %s: %s\n", ww_status_str(s), last_error());
        return NULL;
    }
    s = ww_ready(w, 30000);
    if (s != WW_STATUS_OK) {
        note_start();
        fprintf(stderr, "    ww_ready: %s: %s\n", ww_status_str(s), last_error());
        ww_close(w);
        return NULL;
    }
    return w;
}

/* A watcher at the real Docker engine, ready. */
static ww_watcher *ready_watcher(void) {
    ww_options o = options_for(g_endpoint);
    return ready_watcher_with(&o);
}

/* Options for a containerd watcher at `endpoint`, ignoring `ignored`
 * (NULL: the default). */
static ww_options ctrd_options(const char *endpoint, const char *ignored) {
    ww_options o = options_for(endpoint);
    o.engine = WW_ENGINE_CONTAINERD;
    o.ignored_namespaces = ignored;
    return o;
}

/* A watcher at the real containerd, ready. */
static ww_watcher *ctrd_ready_watcher(const char *ignored) {
    ww_options o = ctrd_options(g_ctrd_endpoint, ignored);
    return ready_watcher_with(&o);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

/* Runs first: a watcher's whole life (create, sync, snapshot, close) leaves
 * no thread and no file descriptor behind, not even the first watcher of
 * the process. Then a few more lives, to catch per-watcher leaks. */
static bool threads_and_fds_return_to_baseline(ww_watcher *(*make_ready_watcher)(void)) {
    bool ok = true;
    int round;
    int base_tasks = count_dir("/proc/self/task"), base_fds = count_dir("/proc/self/fd");
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    CHECK(base_tasks >= 1 && base_fds >= 1);
    for (round = 0; round < 3; round++) {
        int tasks = -1, fds = -1, during_tasks, during_fds;
        double until;
        w = make_ready_watcher();
        CHECK(w != NULL);
        CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
        CHECK(p->generation >= 1);
        during_tasks = count_dir("/proc/self/task");
        during_fds = count_dir("/proc/self/fd");
        CHECKF(during_tasks > base_tasks, "the watcher runs no thread of its own? %d tasks", during_tasks);
        ww_close(w);
        w = NULL;
        ww_snapshot_free(p);
        p = NULL;
        until = now_ms() + 1000.0;
        for (;;) {
            tasks = count_dir("/proc/self/task");
            fds = count_dir("/proc/self/fd");
            if ((tasks == base_tasks && fds == base_fds) || now_ms() >= until) {
                break;
            }
            sleep_ms(10);
        }
        note_start();
        fprintf(stderr, "    round %d: %d tasks / %d fds before ww_new, %d / %d while watching, %d / %d after ww_close\n",
                round, base_tasks, base_fds, during_tasks, during_fds, tasks, fds);
        if (tasks != base_tasks || fds != base_fds) {
            note_start();
            fprintf(stderr, "    round %d: baseline %d tasks / %d fds, while watching %d / %d, after ww_close %d / %d\n",
                    round, base_tasks, base_fds, during_tasks, during_fds, tasks, fds);
            dump_threads_and_fds("after ww_close");
        }
        CHECK(tasks == base_tasks);
        CHECK(fds == base_fds);
    }
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

static bool test_threads_and_fds_return_to_baseline(void) {
    return threads_and_fds_return_to_baseline(ready_watcher);
}

static bool test_version(void) {
    bool ok = true;
    CHECK(ww_version() != NULL);
    CHECKF(streq(ww_version(), "0.1.0"), "\"%s\"", ww_version());
    CHECK(ww_version() == ww_version());
#if defined(WW_VERSION_MAJOR) && defined(WW_VERSION_MINOR) && defined(WW_VERSION_PATCH)
    {
        char want[64];
        snprintf(want, sizeof want, "%d.%d.%d", WW_VERSION_MAJOR, WW_VERSION_MINOR, WW_VERSION_PATCH);
        CHECKF(streq(ww_version(), want), "\"%s\", the header says %s", ww_version(), want);
    }
#endif
#ifdef WW_ABI_VERSION
    CHECKF(ww_abi_version() == WW_ABI_VERSION, "ww_abi_version() %u, the header says %u", (unsigned)ww_abi_version(),
           (unsigned)WW_ABI_VERSION);
#endif
out:
    return ok;
}

static bool test_status_str(void) {
    bool ok = true;
    ww_status a, b;
    for (a = 0; a <= 7; a++) {
        CHECKF(ww_status_str(a) != NULL, "status %u", (unsigned)a);
        CHECKF(ww_status_str(a)[0] != '\0', "status %u", (unsigned)a);
        CHECKF(!streq(ww_status_str(a), "unknown status"), "status %u", (unsigned)a);
        for (b = 0; b < a; b++) {
            CHECKF(strcmp(ww_status_str(a), ww_status_str(b)) != 0, "status %u and %u are both \"%s\"",
                   (unsigned)a, (unsigned)b, ww_status_str(a));
        }
    }
    CHECK(streq(ww_status_str(99), "unknown status"));
    CHECK(streq(ww_status_str(8), "unknown status"));
    CHECK(streq(ww_status_str(UINT32_MAX), "unknown status"));
out:
    return ok;
}

static bool test_last_error_never_null(void) {
    bool ok = true;
    ww_watcher *w = NULL;
    CHECK(ww_last_error_message() != NULL);
    CHECK(ww_new(NULL, NULL) == WW_STATUS_NULL_ARG);
    CHECK(ww_last_error_message() != NULL);
    CHECK(ww_last_error_message()[0] != '\0');
    /* Successful calls leave it untouched. */
    {
        char before[512];
        ww_options o = options_for(g_missing_endpoint);
        snprintf(before, sizeof before, "%s", last_error());
        CHECK(ww_new(&o, &w) == WW_STATUS_OK);
        ww_options_init(&o);
        CHECK(ww_version() != NULL && ww_status_str(0) != NULL);
        CHECKF(streq(last_error(), before), "\"%s\" became \"%s\"", before, last_error());
    }
out:
    ww_close(w);
    return ok;
}

static bool test_options_init_null_is_a_noop(void) {
    bool ok = true;
    ww_options_init(NULL);
    CHECK(ww_last_error_message() != NULL);
out:
    return ok;
}

static bool test_options_init_defaults(void) {
    bool ok = true;
    ww_options o;
    memset(&o, 0xA5, sizeof o);
    ww_options_init(&o);
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
    /* The three published layouts: 32, 40 and 48 bytes on LP64. */
    CHECKF(offsetof(ww_options, ignored_namespaces) == sizeof(struct ww_options_v2), "offsetof %zu, sizeof v2 %zu",
           offsetof(ww_options, ignored_namespaces), sizeof(struct ww_options_v2));
    CHECKF(offsetof(ww_options, call_timeout_ms) == sizeof(struct ww_options_v1), "offsetof %zu, sizeof v1 %zu",
           offsetof(ww_options, call_timeout_ms), sizeof(struct ww_options_v1));
    if (sizeof(void *) == 8) {
        CHECKF(sizeof(ww_options) == 48, "sizeof %zu", sizeof(ww_options));
    }
out:
    return ok;
}

static bool test_new_null_out(void) {
    bool ok = true;
    ww_options o = options_for(g_endpoint);
    CHECK(ww_new(&o, NULL) == WW_STATUS_NULL_ARG);
    CHECKF(contains(last_error(), "out"), "\"%s\"", last_error());
    CHECK(ww_new(NULL, NULL) == WW_STATUS_NULL_ARG);
out:
    return ok;
}

static bool test_null_watcher_and_out_args(void) {
    bool ok = true;
    ww_watcher *w = NULL;
    const ww_portfolio *sentinel = (const ww_portfolio *)(const void *)&ok;
    const ww_portfolio *p = sentinel;
    ww_options o = options_for(g_missing_endpoint);
    CHECK(ww_ready(NULL, 0) == WW_STATUS_NULL_ARG);
    CHECKF(contains(last_error(), "ww_ready"), "\"%s\"", last_error());
    CHECK(ww_ready(NULL, -1) == WW_STATUS_NULL_ARG);
    CHECK(ww_snapshot(NULL, &p) == WW_STATUS_NULL_ARG);
    CHECKF(contains(last_error(), "ww_snapshot"), "\"%s\"", last_error());
    CHECK(p == sentinel);
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    CHECK(w != NULL);
    CHECK(ww_snapshot(w, NULL) == WW_STATUS_NULL_ARG);
    CHECKF(contains(last_error(), "out"), "\"%s\"", last_error());
    ww_close(NULL);
    ww_snapshot_free(NULL);
out:
    ww_close(w);
    return ok;
}

static bool test_struct_size_mismatch(void) {
    bool ok = true;
    static const uint32_t sizes[] = {0, 1, 12345, 4, 31, 33, 36, 39, 41, 44, 47, 49, 56, 64, UINT32_MAX};
    size_t i;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        ww_options o = options_for(g_endpoint);
        ww_watcher *sentinel = (ww_watcher *)(void *)&o;
        ww_watcher *w = sentinel;
        if (sizes[i] == sizeof(ww_options) || sizes[i] == sizeof(struct ww_options_v1) ||
            sizes[i] == sizeof(struct ww_options_v2)) {
            continue;
        }
        o.struct_size = sizes[i];
        CHECKF(ww_new(&o, &w) == WW_STATUS_ABI_MISMATCH, "struct_size %u", (unsigned)sizes[i]);
        CHECKF(w == sentinel, "struct_size %u: out was written", (unsigned)sizes[i]);
        CHECKF(last_error()[0] != '\0', "struct_size %u: no message", (unsigned)sizes[i]);
        {
            char want[64];
            snprintf(want, sizeof want, "struct_size is %u;", (unsigned)sizes[i]);
            CHECKF(contains(last_error(), want), "message \"%s\" does not say \"%s\"", last_error(), want);
            CHECKF(contains(last_error(), "ww_options_init"), "\"%s\"", last_error());
        }
    }
out:
    return ok;
}

/* ww_new(&o) must fail with `want`, leave out untouched, and (when
 * `needle` is not NULL) say `needle` in its message. */
static bool refused(const ww_options *o, ww_status want, const char *needle) {
    bool ok = true;
    int here = 0;
    ww_watcher *sentinel = (ww_watcher *)(void *)&here;
    ww_watcher *w = sentinel;
    ww_status s = ww_new(o, &w);
    CHECKF(s == want, "status %u (%s), expected %u; message \"%s\"", (unsigned)s, ww_status_str(s),
           (unsigned)want, last_error());
    CHECK(w == sentinel);
    CHECK(last_error()[0] != '\0');
    CHECKF(valid_utf8(last_error()), "message is not UTF-8");
    CHECKF(needle == NULL || contains(last_error(), needle), "message \"%s\" does not name \"%s\"",
           last_error(), needle);
out:
    if (w != sentinel) {
        ww_close(w);
    }
    return ok;
}

static bool test_invalid_engine(void) {
    bool ok = true;
    ww_options o = options_for(g_endpoint);
    o.engine = 0;
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "engine"));
    o.engine = 99;
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "99"));
    o.engine = 3;
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "unknown engine 3"));
    o.engine = UINT32_MAX;
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "unknown engine 4294967295"));
out:
    return ok;
}

static bool test_invalid_backoff(void) {
    bool ok = true;
    ww_options o = options_for(g_endpoint);
    o.backoff = 3;
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "unknown backoff 3"));
    o.backoff = UINT32_MAX;
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "unknown backoff 4294967295"));
    o = options_for(g_endpoint);
    o.backoff = WW_BACKOFF_EXPONENTIAL;
    o.backoff_initial_ms = 1000;
    o.backoff_max_ms = 999;
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "backoff_max_ms (999) is less than backoff_initial_ms (1000)"));
    /* 0 means the default (500 ms initial), so a 100 ms cap is below it. */
    o.backoff_initial_ms = 0;
    o.backoff_max_ms = 100;
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "backoff_max_ms (100) is less than backoff_initial_ms (500)"));
    /* ... and a 0 cap is the default 30000, above a 20000 ms start. */
    o.backoff_initial_ms = 20000;
    o.backoff_max_ms = 0;
    {
        ww_watcher *w = NULL;
        ww_status s = ww_new(&o, &w);
        ww_close(w);
        CHECKF(s == WW_STATUS_OK, "%s: %s", ww_status_str(s), last_error());
    }
out:
    return ok;
}

static bool test_invalid_endpoints(void) {
    bool ok = true;
    static const char *const bad[] = {"ssh://host", "", "unix://", "/var/run/docker.sock",
                                      "unix://relative/docker.sock", "unix://./docker.sock", "docker.sock",
                                      "./docker.sock", "tcp://", "npipe:////./pipe/docker", "fd://",
                                      "https://127.0.0.1:2376"};
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ww_options o = options_for(bad[i]);
        note_start();
        fprintf(stderr, "    endpoint \"%s\"\n", bad[i]);
        CHECK(refused(&o, WW_STATUS_INVALID_ARG, bad[i]));
    }
out:
    return ok;
}

static bool test_invalid_utf8_endpoint(void) {
    bool ok = true;
    ww_options o = options_for("unix:///tmp/\xff\xfe.sock");
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "UTF-8"));
out:
    return ok;
}

/* The first published layout (32 bytes on LP64, without call_timeout_ms)
 * is accepted and works. The struct is heap-allocated with exactly its size,
 * so valgrind catches any read past it. */
static bool test_previous_struct_version(void) {
    bool ok = true;
    struct ww_options_v1 *v1 = malloc(sizeof *v1);
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_status s;
    double t0;
    CHECK(v1 != NULL);
    CHECKF(sizeof *v1 == offsetof(ww_options, call_timeout_ms), "sizeof v1 %zu, offsetof %zu", sizeof *v1,
           offsetof(ww_options, call_timeout_ms));
    if (sizeof(void *) == 8) {
        CHECK(sizeof *v1 == 32);
    }
    /* The real engine. */
    memset(v1, 0, sizeof *v1);
    v1->struct_size = (uint32_t)sizeof *v1;
    v1->engine = WW_ENGINE_DOCKER;
    v1->endpoint = g_endpoint;
    v1->backoff = WW_BACKOFF_EXPONENTIAL;
    v1->backoff_initial_ms = 100;
    v1->backoff_max_ms = 1000;
    s = ww_new((const ww_options *)(const void *)v1, &w);
    CHECKF(s == WW_STATUS_OK, "%s: %s", ww_status_str(s), last_error());
    s = ww_ready(w, 30000);
    CHECKF(s == WW_STATUS_OK, "%s: %s", ww_status_str(s), last_error());
    CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
    CHECK(portfolio_invariants(p, g_endpoint));
    CHECK(p->generation >= 1);
    CHECK(has_expected_container(p));
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;
    /* Its backoff field is read at its own offset: NONE gives up at once. */
    v1->endpoint = g_missing_endpoint;
    v1->backoff = WW_BACKOFF_NONE;
    CHECK(ww_new((const ww_options *)(const void *)v1, &w) == WW_STATUS_OK);
    t0 = now_ms();
    s = ww_ready(w, 5000);
    CHECKF(s == WW_STATUS_ENGINE, "%s: %s", ww_status_str(s), last_error());
    CHECKF(now_ms() - t0 < 2000.0, "%.0f ms", now_ms() - t0);
    ww_close(w);
    w = NULL;
    /* Without call_timeout_ms the default (10 s) applies: an engine that
     * never answers is still being waited for after 1 s. */
    v1->endpoint = g_silent_endpoint;
    CHECK(ww_new((const ww_options *)(const void *)v1, &w) == WW_STATUS_OK);
    s = ww_ready(w, 1000);
    CHECKF(s == WW_STATUS_TIMEOUT, "%s: %s", ww_status_str(s), last_error());
    t0 = now_ms();
    ww_close(w);
    w = NULL;
    CHECKF(now_ms() - t0 < 1500.0, "ww_close with an engine call pending took %.0f ms", now_ms() - t0);
out:
    ww_snapshot_free(p);
    ww_close(w);
    free(v1);
    return ok;
}

/* The snapshot of a watcher that never reached its engine (of type
 * `engine_type`). */
static bool unsynced_engine_snapshot_ok(ww_watcher *w, const char *engine_type, const char *endpoint) {
    bool ok = true;
    const ww_portfolio *p = NULL;
    CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
    CHECK(engine_portfolio_invariants(p, engine_type, endpoint));
    CHECKF(p->generation == 0, "generation %llu", (unsigned long long)p->generation);
    CHECK(p->containers_len == 0 && p->containers == NULL);
    CHECK(p->projects_len == 1);
    CHECK(streq(p->projects[0].name, ""));
    CHECK(p->projects[0].containers_len == 0 && p->projects[0].containers == NULL);
    CHECK(streq(p->engine_type, engine_type));
    CHECKF(streq(p->engine_endpoint, endpoint), "\"%s\"", p->engine_endpoint);
    CHECK(streq(p->engine_id, "") && streq(p->engine_version, ""));
    CHECK(p->engine_pid == 0);
out:
    ww_snapshot_free(p);
    return ok;
}

static bool unsynced_snapshot_ok(ww_watcher *w, const char *endpoint) {
    return unsynced_engine_snapshot_ok(w, "docker.com", endpoint);
}

/* Backoff NONE at an unreachable socket: ENGINE at once, naming the path
 * and the OS error (errno `err`). */
static bool gives_up_at_once(const char *endpoint, const char *path, int err);

/* The same for any engine: `reported` is the endpoint its snapshots name. */
static bool engine_gives_up_at_once(ww_engine engine, const char *endpoint, const char *reported, const char *path,
                                    int err) {
    bool ok = true;
    ww_options o = options_for(endpoint);
    ww_watcher *w = NULL;
    ww_status s;
    double t0, took;
    o.engine = engine;
    o.backoff = WW_BACKOFF_NONE;
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    t0 = now_ms();
    s = ww_ready(w, 5000);
    took = now_ms() - t0;
    note_start();
    fprintf(stderr, "    %s: %s after %.0f ms: %s\n", endpoint, ww_status_str(s), took, last_error());
    CHECKF(s == WW_STATUS_ENGINE, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took < 2000.0, "ww_ready took %.0f ms", took);
    CHECKF(contains(last_error(), path), "message \"%s\" does not name %s", last_error(), path);
    CHECKF(contains(last_error(), strerror(err)), "message \"%s\" does not name the OS error \"%s\"",
           last_error(), strerror(err));
    /* Giving up is final; asking again answers at once. */
    CHECK(ww_ready(w, 0) == WW_STATUS_ENGINE);
    CHECK(ww_ready(w, -1) == WW_STATUS_ENGINE);
    CHECK(unsynced_engine_snapshot_ok(w, engine == WW_ENGINE_CONTAINERD ? "containerd.io" : "docker.com", reported));
out:
    ww_close(w);
    return ok;
}

static bool gives_up_at_once(const char *endpoint, const char *path, int err) {
    return engine_gives_up_at_once(WW_ENGINE_DOCKER, endpoint, endpoint, path, err);
}

static bool test_unreachable_backoff_none_refused(void) {
    return gives_up_at_once(g_dead_endpoint, g_dead_sock, ECONNREFUSED);
}

static bool test_unreachable_backoff_none_missing(void) {
    return gives_up_at_once(g_missing_endpoint, g_missing_sock, ENOENT);
}

static bool test_unreachable_exponential_max_elapsed(void) {
    bool ok = true;
    ww_options o = options_for(g_dead_endpoint);
    ww_watcher *w = NULL;
    ww_status s;
    double t0, took;
    o.backoff = WW_BACKOFF_EXPONENTIAL;
    o.backoff_max_elapsed_ms = 300;
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    t0 = now_ms();
    s = ww_ready(w, 10000);
    took = now_ms() - t0;
    note_start();
    fprintf(stderr, "    %s after %.0f ms: %s\n", ww_status_str(s), took, last_error());
    CHECKF(s == WW_STATUS_ENGINE, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took < 2000.0, "ww_ready took %.0f ms", took);
    CHECKF(contains(last_error(), g_dead_sock), "\"%s\"", last_error());
    CHECK(unsynced_snapshot_ok(w, g_dead_endpoint));
out:
    ww_close(w);
    return ok;
}

static bool test_unreachable_default_backoff_times_out(void) {
    bool ok = true;
    ww_options o = options_for(g_dead_endpoint);
    ww_watcher *w = NULL;
    ww_status s;
    double t0, took;
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    CHECK(unsynced_snapshot_ok(w, g_dead_endpoint));
    t0 = now_ms();
    s = ww_ready(w, 200);
    took = now_ms() - t0;
    note_start();
    fprintf(stderr, "    %s after %.0f ms: %s\n", ww_status_str(s), took, last_error());
    CHECKF(s == WW_STATUS_TIMEOUT, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took >= 190.0 && took < 2000.0, "ww_ready(200) took %.0f ms", took);
    /* The timeout's message names the latest engine trouble. */
    CHECKF(contains(last_error(), g_dead_sock), "\"%s\"", last_error());
    t0 = now_ms();
    s = ww_ready(w, 0);
    CHECK(s == WW_STATUS_TIMEOUT);
    CHECKF(now_ms() - t0 < 250.0, "ww_ready(0) took %.0f ms", now_ms() - t0);
    CHECK(unsynced_snapshot_ok(w, g_dead_endpoint));
    /* Closing while the watcher sleeps before its next retry is prompt. */
    t0 = now_ms();
    ww_close(w);
    w = NULL;
    took = now_ms() - t0;
    CHECKF(took < 1000.0, "ww_close took %.0f ms", took);
out:
    ww_close(w);
    return ok;
}

/* call_timeout_ms bounds each engine call: an engine that accepts the
 * connection but never answers makes a NONE watcher give up quickly. */
static bool test_call_timeout_bounds_engine_calls(void) {
    bool ok = true;
    ww_options o = options_for(g_silent_endpoint);
    ww_watcher *w = NULL;
    ww_status s;
    double t0, took;
    o.backoff = WW_BACKOFF_NONE;
    o.call_timeout_ms = 300;
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    t0 = now_ms();
    s = ww_ready(w, 10000);
    took = now_ms() - t0;
    note_start();
    fprintf(stderr, "    %s after %.0f ms: %s\n", ww_status_str(s), took, last_error());
    CHECKF(s == WW_STATUS_ENGINE, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took >= 250.0 && took < 2000.0, "ww_ready took %.0f ms", took);
    CHECKF(contains(last_error(), g_silent_sock), "\"%s\"", last_error());
    CHECK(unsynced_snapshot_ok(w, g_silent_endpoint));
out:
    ww_close(w);
    return ok;
}

/* Constant backoff retries every backoff_initial_ms until max_elapsed. */
static bool test_unreachable_constant_max_elapsed(void) {
    bool ok = true;
    ww_options o = options_for(g_dead_endpoint);
    ww_watcher *w = NULL;
    ww_status s;
    double t0, took;
    o.backoff = WW_BACKOFF_CONSTANT;
    o.backoff_initial_ms = 50;
    o.backoff_max_elapsed_ms = 400;
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    t0 = now_ms();
    CHECK(ww_ready(w, 100) == WW_STATUS_TIMEOUT);
    s = ww_ready(w, 10000);
    took = now_ms() - t0;
    note_start();
    fprintf(stderr, "    %s after %.0f ms: %s\n", ww_status_str(s), took, last_error());
    CHECKF(s == WW_STATUS_ENGINE, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took >= 300.0 && took < 2000.0, "gave up after %.0f ms", took);
    CHECKF(contains(last_error(), g_dead_sock), "\"%s\"", last_error());
out:
    ww_close(w);
    return ok;
}

/* A TCP endpoint nobody listens on (port 1 of the loopback): given up at
 * once, and its watcher (name resolution included) leaves no thread or file
 * descriptor behind. */
static bool test_unreachable_tcp(void) {
    bool ok = true;
    static const char *const endpoints[] = {"tcp://127.0.0.1:1", "http://127.0.0.1:1/", "tcp://localhost:1"};
    size_t i;
    int base_tasks = count_dir("/proc/self/task"), base_fds = count_dir("/proc/self/fd");
    ww_watcher *w = NULL;
    for (i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        ww_options o = options_for(endpoints[i]);
        ww_status s;
        double t0, took, until;
        int tasks, fds;
        o.backoff = WW_BACKOFF_NONE;
        CHECKF(ww_new(&o, &w) == WW_STATUS_OK, "%s: %s", endpoints[i], last_error());
        t0 = now_ms();
        s = ww_ready(w, 10000);
        took = now_ms() - t0;
        note_start();
        fprintf(stderr, "    %s: %s after %.0f ms: %s\n", endpoints[i], ww_status_str(s), took, last_error());
        CHECKF(s == WW_STATUS_ENGINE, "%s: %s", ww_status_str(s), last_error());
        CHECKF(took < 2000.0, "ww_ready took %.0f ms", took);
        CHECKF(contains(last_error(), ":1"), "\"%s\"", last_error());
        CHECK(valid_utf8(last_error()));
        t0 = now_ms();
        ww_close(w);
        w = NULL;
        CHECKF(now_ms() - t0 < 1000.0, "ww_close took %.0f ms", now_ms() - t0);
        until = now_ms() + 1000.0;
        for (;;) {
            tasks = count_dir("/proc/self/task");
            fds = count_dir("/proc/self/fd");
            if ((tasks == base_tasks && fds == base_fds) || now_ms() >= until) {
                break;
            }
            sleep_ms(10);
        }
        if (tasks != base_tasks || fds != base_fds) {
            note_start();
            fprintf(stderr, "    %s: baseline %d tasks / %d fds, after ww_close %d / %d\n", endpoints[i],
                    base_tasks, base_fds, tasks, fds);
            dump_threads_and_fds("after ww_close");
        }
        CHECK(tasks == base_tasks && fds == base_fds);
    }
out:
    ww_close(w);
    return ok;
}

/* ww_ready's documented promise for WW_STATUS_ENGINE: "the last error says
 * why: endpoint and OS error", also for a TCP endpoint. */
static bool test_tcp_error_names_os_error(void) {
    bool ok = true;
    ww_options o = options_for("tcp://127.0.0.1:1");
    ww_watcher *w = NULL;
    ww_status s;
    o.backoff = WW_BACKOFF_NONE;
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    s = ww_ready(w, 10000);
    CHECKF(s == WW_STATUS_ENGINE, "%s: %s", ww_status_str(s), last_error());
    CHECKF(contains(last_error(), "tcp://127.0.0.1:1"), "\"%s\"", last_error());
    CHECKF(contains(last_error(), strerror(ECONNREFUSED)), "message \"%s\" does not name the OS error \"%s\"",
           last_error(), strerror(ECONNREFUSED));
out:
    ww_close(w);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Bad inputs: one test (or more) per row of the README's table        */
/* ------------------------------------------------------------------ */

/* NULL for every pointer argument: NULL_ARG naming function and argument,
 * out-parameters untouched, no waiting; the functions without a status do
 * nothing and leave the last error as it was. (NULL options, endpoint and
 * ignored_namespaces mean the defaults: see default_endpoint_and_docker_host
 * and containerd_default_endpoint_and_containerd_address.) */
static bool test_null_args_name_the_argument(void) {
    bool ok = true;
    ww_watcher *w = NULL;
    const ww_portfolio *sentinel = (const ww_portfolio *)(const void *)&ok;
    const ww_portfolio *p = sentinel;
    ww_options o = options_for(g_missing_endpoint);
    double t0;
    CHECK(ww_new(&o, NULL) == WW_STATUS_NULL_ARG);
    CHECKF(contains(last_error(), "ww_new: out is NULL"), "\"%s\"", last_error());
    CHECK(ww_new(NULL, NULL) == WW_STATUS_NULL_ARG);
    CHECKF(contains(last_error(), "ww_new: out is NULL"), "\"%s\"", last_error());
    t0 = now_ms();
    CHECK(ww_ready(NULL, 5000) == WW_STATUS_NULL_ARG);
    CHECKF(now_ms() - t0 < 500.0, "ww_ready(NULL, 5000) took %.0f ms", now_ms() - t0);
    CHECKF(contains(last_error(), "ww_ready: w is NULL"), "\"%s\"", last_error());
    CHECK(ww_snapshot(NULL, &p) == WW_STATUS_NULL_ARG);
    CHECKF(contains(last_error(), "ww_snapshot: w is NULL"), "\"%s\"", last_error());
    CHECK(p == sentinel);
    CHECK(ww_snapshot(NULL, NULL) == WW_STATUS_NULL_ARG);
    CHECKF(contains(last_error(), "ww_snapshot: w is NULL"), "\"%s\"", last_error());
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    CHECK(ww_snapshot(w, NULL) == WW_STATUS_NULL_ARG);
    CHECKF(contains(last_error(), "ww_snapshot: out is NULL"), "\"%s\"", last_error());
    ww_close(NULL);
    ww_snapshot_free(NULL);
    ww_options_init(NULL);
    CHECKF(streq(last_error(), "ww_snapshot: out is NULL"), "the no-ops changed the last error to \"%s\"",
           last_error());
out:
    ww_close(w);
    return ok;
}

/* tcp:// and http:// endpoints without a port, or with a port outside
 * 1..65535, or without a host: refused by ww_new. */
static bool test_invalid_tcp_ports(void) {
    bool ok = true;
    static const char *const bad[] = {"tcp://127.0.0.1",       "tcp://127.0.0.1:",      "http://localhost/",
                                      "tcp://[::1]",           "tcp://127.0.0.1:0",     "http://127.0.0.1:0/",
                                      "tcp://127.0.0.1:99999", "tcp://127.0.0.1:65536", "tcp://127.0.0.1:-1",
                                      "tcp://:2375",           "http://localhost:x/"};
    ww_watcher *w = NULL;
    ww_options o;
    ww_status s;
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = options_for(bad[i]);
        note_start();
        fprintf(stderr, "    endpoint \"%s\"\n", bad[i]);
        CHECK(refused(&o, WW_STATUS_INVALID_ARG, bad[i]));
        CHECKF(contains(last_error(), "port from 1 to 65535"), "\"%s\"", last_error());
    }
    /* The bounds themselves are ports. */
    o = options_for("tcp://127.0.0.1:65535");
    s = ww_new(&o, &w);
    CHECKF(s == WW_STATUS_OK, "%s: %s", ww_status_str(s), last_error());
    ww_close(w);
    w = NULL;
    o = options_for("http://127.0.0.1:1/");
    s = ww_new(&o, &w);
    CHECKF(s == WW_STATUS_OK, "%s: %s", ww_status_str(s), last_error());
out:
    ww_close(w);
    return ok;
}

/* tcp:// endpoints whose port is missing or not a plain number, which no
 * engine call can ever use, are refused by ww_new too (INVALID_ARG, as
 * documented for an unsupported endpoint), not accepted only for every
 * connection attempt to fail (with the default backoff: forever). */
static bool test_unusable_tcp_endpoints_refused(void) {
    bool ok = true;
    static const char *const bad[] = {"tcp://::1", "tcp://localhost:+1", "tcp://127.0.0.1:2375:1"};
    size_t i, accepted = 0;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ww_options o = options_for(bad[i]);
        ww_watcher *w = NULL;
        ww_status s;
        o.backoff = WW_BACKOFF_NONE;
        s = ww_new(&o, &w);
        note_start();
        if (s == WW_STATUS_OK) {
            s = ww_ready(w, 5000);
            fprintf(stderr, "    endpoint \"%s\": accepted by ww_new; ww_ready: %s: %s\n", bad[i], ww_status_str(s),
                    last_error());
            ww_close(w);
            accepted++;
        } else {
            fprintf(stderr, "    endpoint \"%s\": %s: %s\n", bad[i], ww_status_str(s), last_error());
            CHECKF(s == WW_STATUS_INVALID_ARG, "%s: %s", ww_status_str(s), last_error());
            CHECKF(contains(last_error(), bad[i]), "\"%s\"", last_error());
        }
    }
    CHECKF(accepted == 0, "ww_new accepted %zu of %zu endpoints the engine calls cannot parse", accepted,
           sizeof bad / sizeof bad[0]);
out:
    return ok;
}

#define OVERLONG 100000

/* A string of exactly OVERLONG bytes: `prefix`, then 'a's, then `suffix`.
 * NULL if out of memory. */
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

/* Endpoints of 100 000 bytes: a unix socket path longer than the kernel
 * takes (107 bytes) and a host name longer than DNS allows are refused by
 * ww_new, naming the problem (never accepted only to fail every attempt). */
static bool test_overlong_endpoints(void) {
    bool ok = true;
    char *unix_ep = overlong("unix:///", ".sock");
    char *tcp_ep = overlong("tcp://", ":2375");
    ww_options o;
    CHECK(unix_ep != NULL && tcp_ep != NULL);
    CHECK(strlen(unix_ep) == OVERLONG && strlen(tcp_ep) == OVERLONG);
    o = options_for(unix_ep);
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "longer than the 107"));
    o = options_for(unix_ep);
    o.engine = WW_ENGINE_CONTAINERD;
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "longer than the 107"));
    o.endpoint = unix_ep + strlen("unix://");
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "longer than the 107"));
    o = options_for(tcp_ep);
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "HOST:PORT"));
out:
    free(unix_ep);
    free(tcp_ep);
    return ok;
}

/* A comma-separated list of exactly OVERLONG bytes of valid namespace names
 * ending with `last` (which, with the names before it, is not in any real
 * use). NULL if out of memory. */
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

/* ignored_namespaces of 100 000 bytes: a list of valid names is accepted
 * (and works: the real containerd's container of the last listed namespace
 * is ignored); one name that long, or a list with an empty name, is refused
 * naming it. */
static bool test_overlong_ignored_namespaces(void) {
    bool ok = true;
    char ignored_ns[128];
    char *list = NULL, *name = overlong("", ""), *trailing = NULL;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_options o;
    ww_status s;
    double t0;
    namespace_of(g_have_ctrd ? g_ctrd_ignored_id : "moby/x", ignored_ns, sizeof ignored_ns);
    list = overlong_namespace_list(ignored_ns);
    CHECK(list != NULL && name != NULL);
    CHECKF(strlen(list) == OVERLONG, "%zu bytes", strlen(list));
    trailing = strdup(list);
    CHECK(trailing != NULL);
    trailing[OVERLONG - 1] = ','; /* "...,mob," : an empty name at the end */
    o = ctrd_options(g_missing_sock, list);
    t0 = now_ms();
    s = ww_new(&o, &w);
    CHECKF(s == WW_STATUS_OK, "%s: %.200s", ww_status_str(s), last_error());
    note_start();
    fprintf(stderr, "    a list of %zu bytes accepted in %.0f ms\n", strlen(list), now_ms() - t0);
    CHECK(unsynced_engine_snapshot_ok(w, "containerd.io", g_missing_endpoint));
    ww_close(w);
    w = NULL;

    o = ctrd_options(g_missing_sock, name);
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "is not a containerd namespace name"));
    CHECKF(strncmp(strstr(last_error(), "namespace \"") + strlen("namespace \""), name, 100) == 0 &&
               contains(last_error(), "... (100000 bytes)") && strlen(last_error()) < 1000,
           "the message does not name the namespace, shortened");
    note_start();
    fprintf(stderr, "    one name of %zu bytes: %.40s... (%zu bytes)\n", strlen(name), last_error(),
            strlen(last_error()));
    o = ctrd_options(g_missing_sock, trailing);
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "ignored namespace \"\" in \"ns00000,"));
    CHECKF(contains(last_error(), "is not a containerd namespace name"), "%.200s", last_error());

    if (g_have_ctrd) {
        w = ctrd_ready_watcher(list);
        CHECK(w != NULL);
        CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
        CHECK(ctrd_portfolio_invariants(p, g_ctrd_url, list));
        CHECK(has_ctrd_containers(p, false));
    }
out:
    ww_snapshot_free(p);
    ww_close(w);
    free(list);
    free(name);
    free(trailing);
    return ok;
}

/* A directory and a regular file where the socket should be, and a path
 * through a regular file: the kernel refuses the connection (ECONNREFUSED:
 * not a socket; ENOTDIR), and a NONE watcher of either engine gives up at
 * once naming the path and the OS error. */
static bool test_socket_path_not_a_socket(void) {
    bool ok = true;
    char dir[80], dir_ep[96], file[80], file_ep[96], through[96], through_ep[112];
    int fd;
    bool made_dir = false, made_file = false;
    snprintf(dir, sizeof dir, "%s/dir.sock", g_tmpdir);
    snprintf(file, sizeof file, "%s/file.sock", g_tmpdir);
    snprintf(through, sizeof through, "%s/engine.sock", file);
    snprintf(dir_ep, sizeof dir_ep, "unix://%s", dir);
    snprintf(file_ep, sizeof file_ep, "unix://%s", file);
    snprintf(through_ep, sizeof through_ep, "unix://%s", through);
    CHECKF(mkdir(dir, 0755) == 0, "mkdir %s: %s", dir, strerror(errno));
    made_dir = true;
    fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0666);
    CHECKF(fd >= 0, "create %s: %s", file, strerror(errno));
    made_file = true;
    CHECK(write(fd, "not a socket\n", 13) == 13);
    close(fd);
    CHECK(engine_gives_up_at_once(WW_ENGINE_DOCKER, dir_ep, dir_ep, dir, ECONNREFUSED));
    CHECK(engine_gives_up_at_once(WW_ENGINE_CONTAINERD, dir, dir_ep, dir, ECONNREFUSED));
    CHECK(engine_gives_up_at_once(WW_ENGINE_DOCKER, file_ep, file_ep, file, ECONNREFUSED));
    CHECK(engine_gives_up_at_once(WW_ENGINE_CONTAINERD, file, file_ep, file, ECONNREFUSED));
    CHECK(engine_gives_up_at_once(WW_ENGINE_DOCKER, through_ep, through_ep, through, ENOTDIR));
    CHECK(engine_gives_up_at_once(WW_ENGINE_CONTAINERD, through, through_ep, through, ENOTDIR));
out:
    if (made_file) {
        unlink(file);
    }
    if (made_dir) {
        rmdir(dir);
    }
    return ok;
}

/* A unix socket listening at `path`; -1 (after saying why) on failure. */
static int listening_socket(const char *path) {
    struct sockaddr_un addr;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 64) != 0) {
        note_start();
        fprintf(stderr, "    socket %s: %s\n", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

/* In the forked child: become nobody, then neither engine may be reached
 * through a root-only directory nor at a socket of mode 000. */
static bool permission_denied_as_nobody(const char *hidden, const char *hidden_ep, const char *closed,
                                        const char *closed_ep) {
    bool ok = true;
    CHECKF(setgid(65534) == 0, "setgid(65534): %s", strerror(errno));
    CHECKF(setuid(65534) == 0, "setuid(65534): %s", strerror(errno));
    CHECK(geteuid() == 65534 && getegid() == 65534);
    CHECK(engine_gives_up_at_once(WW_ENGINE_DOCKER, hidden_ep, hidden_ep, hidden, EACCES));
    CHECKF(contains(last_error(), "Permission denied"), "\"%s\"", last_error());
    CHECK(engine_gives_up_at_once(WW_ENGINE_CONTAINERD, hidden, hidden_ep, hidden, EACCES));
    CHECKF(contains(last_error(), "Permission denied"), "\"%s\"", last_error());
    CHECK(engine_gives_up_at_once(WW_ENGINE_DOCKER, closed_ep, closed_ep, closed, EACCES));
    CHECKF(contains(last_error(), "Permission denied"), "\"%s\"", last_error());
    CHECK(engine_gives_up_at_once(WW_ENGINE_CONTAINERD, closed, closed_ep, closed, EACCES));
    CHECKF(contains(last_error(), "Permission denied"), "\"%s\"", last_error());
out:
    return ok;
}

/* Permission denied: root listens on a socket in a 0700 directory and on
 * one of mode 000; a child that became nobody (65534) is refused both
 * (EACCES) by either engine's watcher. The child reports by its exit code
 * (0: passed); it leaves by _exit, its checks done. */
static bool test_permission_denied(void) {
    bool ok = true;
    char dir[32], hidden_dir[48], hidden[64], hidden_ep[80], closed[48], closed_ep[64];
    int hidden_fd = -1, closed_fd = -1, status = 0;
    bool made_dir = false, made_hidden_dir = false;
    pid_t pid;
    if (geteuid() != 0) {
        SKIP("not root: cannot become user nobody");
    }
    snprintf(dir, sizeof dir, "/tmp/ww-perm-XXXXXX");
    CHECKF(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    made_dir = true;
    snprintf(hidden_dir, sizeof hidden_dir, "%s/root-only", dir);
    snprintf(hidden, sizeof hidden, "%s/engine.sock", hidden_dir);
    snprintf(closed, sizeof closed, "%s/mode-000.sock", dir);
    snprintf(hidden_ep, sizeof hidden_ep, "unix://%s", hidden);
    snprintf(closed_ep, sizeof closed_ep, "unix://%s", closed);
    CHECK(chmod(dir, 0755) == 0);
    CHECK(mkdir(hidden_dir, 0700) == 0);
    made_hidden_dir = true;
    CHECK(chmod(hidden_dir, 0700) == 0);
    hidden_fd = listening_socket(hidden);
    closed_fd = listening_socket(closed);
    CHECK(hidden_fd >= 0 && closed_fd >= 0);
    CHECK(chmod(closed, 0) == 0);
    fflush(NULL);
    pid = fork();
    CHECKF(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        bool passed = permission_denied_as_nobody(hidden, hidden_ep, closed, closed_ep);
        fflush(NULL);
        _exit(passed ? 0 : 1);
    }
    while (waitpid(pid, &status, 0) < 0) {
        CHECKF(errno == EINTR, "waitpid: %s", strerror(errno));
    }
    g_mid_line = false; /* the child wrote its notes */
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child (user nobody) %s %d",
           WIFEXITED(status) ? "exited with" : "was killed by signal",
           WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? WTERMSIG(status) : -1);
out:
    if (hidden_fd >= 0) {
        close(hidden_fd);
    }
    if (closed_fd >= 0) {
        close(closed_fd);
    }
    unlink(hidden);
    unlink(closed);
    if (made_hidden_dir) {
        rmdir(hidden_dir);
    }
    if (made_dir) {
        rmdir(dir);
    }
    return ok;
}

/* ww_ready with 0 and with a small positive timeout on an unreachable
 * engine (default backoff: it keeps retrying): TIMEOUT, saying how long it
 * waited; 0 answers at once; once the first attempt failed, the message
 * names the engine's trouble (endpoint and OS error). */
static bool ready_times_out(ww_engine engine, const char *endpoint, const char *path) {
    bool ok = true;
    ww_options o = options_for(endpoint);
    ww_watcher *w = NULL;
    ww_status s;
    double t0, took;
    o.engine = engine;
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    t0 = now_ms();
    s = ww_ready(w, 0);
    took = now_ms() - t0;
    note_start();
    fprintf(stderr, "    %s: ww_ready(0) at once: %s after %.0f ms: %s\n", endpoint, ww_status_str(s), took,
            last_error());
    CHECKF(s == WW_STATUS_TIMEOUT, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took < 250.0, "ww_ready(0) took %.0f ms", took);
    CHECKF(contains(last_error(), "ww_ready: timed out after 0 ms: not synchronised yet"), "\"%s\"", last_error());
    t0 = now_ms();
    s = ww_ready(w, 200);
    took = now_ms() - t0;
    note_start();
    fprintf(stderr, "    %s: ww_ready(200): %s after %.0f ms: %s\n", endpoint, ww_status_str(s), took, last_error());
    CHECKF(s == WW_STATUS_TIMEOUT, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took >= 190.0 && took < 2000.0, "ww_ready(200) took %.0f ms", took);
    CHECKF(contains(last_error(), "ww_ready: timed out after 200 ms: not synchronised yet; last engine error: "),
           "\"%s\"", last_error());
    CHECKF(contains(last_error(), path), "\"%s\"", last_error());
    CHECKF(contains(last_error(), strerror(ENOENT)), "\"%s\"", last_error());
    t0 = now_ms();
    s = ww_ready(w, 0);
    took = now_ms() - t0;
    CHECKF(s == WW_STATUS_TIMEOUT, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took < 250.0, "ww_ready(0) took %.0f ms", took);
    CHECKF(contains(last_error(), "ww_ready: timed out after 0 ms: not synchronised yet; last engine error: "),
           "\"%s\"", last_error());
    CHECKF(contains(last_error(), path), "\"%s\"", last_error());
out:
    ww_close(w);
    return ok;
}

static bool test_ready_timeouts_unreachable(void) {
    bool ok = true;
    CHECK(ready_times_out(WW_ENGINE_DOCKER, g_missing_endpoint, g_missing_sock));
    CHECK(ready_times_out(WW_ENGINE_CONTAINERD, g_missing_sock, g_missing_sock));
out:
    return ok;
}

static bool test_real_engine(void) {
    bool ok = true;
    ww_options o = options_for(NULL);
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_status s;
    double t0;
    size_t len = strlen(g_endpoint);
    char *endpoint = malloc(len + 1);
    CHECK(endpoint != NULL);
    memcpy(endpoint, g_endpoint, len + 1);
    o.endpoint = endpoint;
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    CHECK(w != NULL);
    /* The endpoint string and the options are only read during ww_new. */
    memset(endpoint, 'x', len);
    free(endpoint);
    endpoint = NULL;
    memset(&o, 0xA5, sizeof o);
    s = ww_ready(w, 30000);
    CHECKF(s == WW_STATUS_OK, "%s: %s", ww_status_str(s), last_error());
    /* Ready stays ready; 0 just looks, < 0 waits without limit. */
    CHECK(ww_ready(w, 0) == WW_STATUS_OK);
    CHECK(ww_ready(w, -1) == WW_STATUS_OK);
    CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
    CHECK(p != NULL);
    CHECKF(p->generation >= 1, "generation %llu", (unsigned long long)p->generation);
    CHECK(portfolio_invariants(p, g_endpoint));
    CHECK(has_expected_container(p));
    CHECK(p->containers_len >= 1 && p->projects_len >= 2);
    CHECK(streq(p->projects[0].name, ""));
    CHECK(streq(p->engine_type, "docker.com"));
    CHECKF(p->engine_id[0] != '\0', "empty engine_id");
    CHECKF(p->engine_version[0] != '\0', "empty engine_version");
    CHECKF(streq(p->engine_endpoint, g_endpoint), "\"%s\"", p->engine_endpoint);
    CHECKF(p->engine_pid > 0, "engine_pid %d", (int)p->engine_pid);
    CHECKF(kill((pid_t)p->engine_pid, 0) == 0 || errno == EPERM, "engine_pid %d: no such process",
           (int)p->engine_pid);
    note_start();
    fprintf(stderr, "    engine %s %s (ID %s) at %s, PID %d, generation %llu, %zu containers, %zu projects\n",
            p->engine_type, p->engine_version, p->engine_id, p->engine_endpoint, (int)p->engine_pid,
            (unsigned long long)p->generation, p->containers_len, p->projects_len);
    ww_snapshot_free(p);
    p = NULL;
    /* Closing a synchronised watcher, whose event stream is open, is prompt. */
    t0 = now_ms();
    ww_close(w);
    w = NULL;
    CHECKF(now_ms() - t0 < 1000.0, "ww_close took %.0f ms", now_ms() - t0);
out:
    free(endpoint);
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* ww_new(NULL) and a NULL endpoint take DOCKER_HOST, else the default. */
static bool test_default_endpoint_and_docker_host(void) {
    bool ok = true;
    char *saved = getenv("DOCKER_HOST") ? strdup(getenv("DOCKER_HOST")) : NULL;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_options o;
    ww_status s;
    CHECK(unsetenv("DOCKER_HOST") == 0);
    CHECK(ww_new(NULL, &w) == WW_STATUS_OK);
    CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
    CHECKF(streq(p->engine_endpoint, "unix:///var/run/docker.sock"), "\"%s\"", p->engine_endpoint);
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;

    CHECK(setenv("DOCKER_HOST", g_endpoint, 1) == 0);
    CHECK(ww_new(NULL, &w) == WW_STATUS_OK);
    s = ww_ready(w, 30000);
    CHECKF(s == WW_STATUS_OK, "%s: %s", ww_status_str(s), last_error());
    CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
    CHECKF(streq(p->engine_endpoint, g_endpoint), "\"%s\"", p->engine_endpoint);
    CHECK(has_expected_container(p));
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;

    o = options_for(NULL);
    CHECK(setenv("DOCKER_HOST", "ssh://nowhere", 1) == 0);
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "ssh://nowhere"));
    CHECKF(contains(last_error(), "DOCKER_HOST"), "\"%s\"", last_error());
    CHECK(refused(NULL, WW_STATUS_INVALID_ARG, "DOCKER_HOST"));
    /* An explicit endpoint wins over DOCKER_HOST. */
    o = options_for(g_missing_endpoint);
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    CHECK(unsynced_snapshot_ok(w, g_missing_endpoint));
out:
    ww_snapshot_free(p);
    ww_close(w);
    if (saved != NULL) {
        setenv("DOCKER_HOST", saved, 1);
        free(saved);
    } else {
        unsetenv("DOCKER_HOST");
    }
    return ok;
}

static bool test_snapshot_outlives_close(void) {
    bool ok = true;
    ww_watcher *w = ready_watcher();
    const ww_portfolio *p = NULL, *unsynced = NULL;
    size_t before, after;
    ww_options o = options_for(g_dead_endpoint);
    CHECK(w != NULL);
    CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
    before = touch_all_strings(p);
    ww_close(w);
    w = NULL;
    after = touch_all_strings(p);
    CHECK(before == after);
    CHECK(portfolio_invariants(p, g_endpoint));
    CHECK(has_expected_container(p));
    ww_snapshot_free(p);
    p = NULL;
    /* The same for the empty snapshot of a watcher that never synchronised. */
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    CHECK(ww_snapshot(w, &unsynced) == WW_STATUS_OK);
    ww_close(w);
    w = NULL;
    CHECK(portfolio_invariants(unsynced, g_dead_endpoint));
    CHECK(unsynced->generation == 0 && streq(unsynced->projects[0].name, ""));
out:
    ww_snapshot_free(unsynced);
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

static bool test_back_to_back_snapshots(void) {
    bool ok = true;
    ww_watcher *w = ready_watcher();
    const ww_portfolio *a = NULL, *b = NULL;
    CHECK(w != NULL);
    CHECK(ww_snapshot(w, &a) == WW_STATUS_OK);
    CHECK(ww_snapshot(w, &b) == WW_STATUS_OK);
    CHECK(a != NULL && b != NULL);
    CHECKF(a->generation == b->generation, "%llu then %llu", (unsigned long long)a->generation,
           (unsigned long long)b->generation);
    CHECK(a->containers_len == b->containers_len);
    if (a == b) {
        note_start();
        fprintf(stderr, "    (both snapshots are the same object)\n");
    }
    /* Freed in the other order, one of them after ww_close. */
    ww_snapshot_free(b);
    b = NULL;
    ww_close(w);
    w = NULL;
    CHECK(has_expected_container(a));
out:
    ww_snapshot_free(a);
    ww_snapshot_free(b);
    ww_close(w);
    return ok;
}

#define SNAP_THREADS 8
#define SNAP_ROUNDS 10000

struct snap_job {
    ww_watcher *w;
    const char *engine_type; /* what every snapshot must say */
    uint64_t generation; /* what the main thread saw */
    long failures;
    long rounds;
    size_t bytes;
};

static void *snap_worker(void *arg) {
    struct snap_job *job = arg;
    int i;
    for (i = 0; i < SNAP_ROUNDS; i++) {
        const ww_portfolio *p = NULL;
        if (ww_snapshot(job->w, &p) != WW_STATUS_OK || p == NULL) {
            job->failures++;
            continue;
        }
        if (p->generation != job->generation || !streq(p->engine_type, job->engine_type) || p->projects_len < 1) {
            job->failures++;
        }
        job->bytes += p->containers_len + strlen(p->engine_endpoint);
        ww_snapshot_free(p);
        job->rounds++;
    }
    return NULL;
}

/* SNAP_THREADS threads take and free snapshots of a ready watcher `w` (of
 * type `engine_type`) while the main thread holds one; `expected` must
 * still be in it afterwards. Closes `w`. */
static bool concurrent_snapshots(ww_watcher *w, const char *engine_type, const struct expect *expected) {
    bool ok = true;
    const ww_portfolio *p = NULL;
    struct snap_job jobs[SNAP_THREADS];
    pthread_t threads[SNAP_THREADS];
    int i, started = 0;
    long failures = 0, rounds = 0;
    double t0;
    CHECK(w != NULL);
    CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
    t0 = now_ms();
    for (i = 0; i < SNAP_THREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].w = w;
        jobs[i].engine_type = engine_type;
        jobs[i].generation = p->generation;
        if (pthread_create(&threads[i], NULL, snap_worker, &jobs[i]) != 0) {
            break;
        }
        started++;
    }
    for (i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
        failures += jobs[i].failures;
        rounds += jobs[i].rounds;
    }
    note_start();
    fprintf(stderr, "    %d threads x %d snapshots in %.0f ms\n", started, SNAP_ROUNDS, now_ms() - t0);
    CHECK(started == SNAP_THREADS);
    CHECKF(failures == 0, "%ld failures", failures);
    CHECK(rounds == (long)SNAP_THREADS * SNAP_ROUNDS);
    /* The main thread's reference survived all that. */
    CHECK(has_container(p, expected));
    ww_close(w);
    w = NULL;
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

static bool test_concurrent_snapshots(void) {
    return concurrent_snapshots(ready_watcher(), "docker.com", &g_docker);
}

struct error_probe {
    char seen_first[512];
    char seen_after[512];
    bool null_seen;
};

static void *error_probe(void *arg) {
    struct error_probe *probe = arg;
    const char *m = ww_last_error_message();
    probe->null_seen = (m == NULL);
    snprintf(probe->seen_first, sizeof probe->seen_first, "%s", m ? m : "");
    /* Fail differently on this thread. */
    if (ww_snapshot(NULL, NULL) == WW_STATUS_NULL_ARG) {
        m = ww_last_error_message();
        snprintf(probe->seen_after, sizeof probe->seen_after, "%s", m ? m : "");
    }
    return NULL;
}

static bool test_last_error_is_thread_local(void) {
    bool ok = true;
    char mine[512];
    struct error_probe probe;
    pthread_t t;
    const char *before;
    memset(&probe, 0, sizeof probe);
    CHECK(ww_ready(NULL, 123) == WW_STATUS_NULL_ARG);
    before = ww_last_error_message();
    snprintf(mine, sizeof mine, "%s", before);
    CHECK(mine[0] != '\0');
    CHECK(pthread_create(&t, NULL, error_probe, &probe) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(!probe.null_seen);
    CHECKF(probe.seen_first[0] == '\0', "a new thread sees \"%s\"", probe.seen_first);
    CHECKF(contains(probe.seen_after, "ww_snapshot"), "\"%s\"", probe.seen_after);
    CHECKF(!streq(probe.seen_after, mine), "\"%s\"", probe.seen_after);
    CHECKF(streq(ww_last_error_message(), mine), "main thread's message changed to \"%s\"",
           ww_last_error_message());
    CHECK(ww_last_error_message() == before);
out:
    return ok;
}

/* ------------------------------------------------------------------ */
/* The second published layout of ww_options                           */
/* ------------------------------------------------------------------ */

/* The second published layout (40 bytes on LP64: with call_timeout_ms,
 * without ignored_namespaces) is accepted and works, and its
 * call_timeout_ms is read at its own offset. Heap-allocated with exactly its
 * size, so valgrind and ASan catch any read past it. */
static bool test_second_struct_version(void) {
    bool ok = true;
    struct ww_options_v2 *v2 = malloc(sizeof *v2);
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_status s;
    double t0, took;
    CHECK(v2 != NULL);
    CHECKF(sizeof *v2 == offsetof(ww_options, ignored_namespaces), "sizeof v2 %zu, offsetof %zu", sizeof *v2,
           offsetof(ww_options, ignored_namespaces));
    if (sizeof(void *) == 8) {
        CHECK(sizeof *v2 == 40);
    }
    /* The real engine. */
    memset(v2, 0, sizeof *v2);
    v2->struct_size = (uint32_t)sizeof *v2;
    v2->engine = WW_ENGINE_DOCKER;
    v2->endpoint = g_endpoint;
    v2->backoff = WW_BACKOFF_EXPONENTIAL;
    v2->backoff_initial_ms = 100;
    v2->backoff_max_ms = 1000;
    v2->call_timeout_ms = 5000;
    s = ww_new((const ww_options *)(const void *)v2, &w);
    CHECKF(s == WW_STATUS_OK, "%s: %s", ww_status_str(s), last_error());
    s = ww_ready(w, 30000);
    CHECKF(s == WW_STATUS_OK, "%s: %s", ww_status_str(s), last_error());
    CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
    CHECK(portfolio_invariants(p, g_endpoint));
    CHECK(p->generation >= 1);
    CHECK(has_expected_container(p));
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;
    /* Its call_timeout_ms is read: an engine that never answers makes a
     * NONE watcher give up after 300 ms, not after the default 10 s. */
    v2->endpoint = g_silent_endpoint;
    v2->backoff = WW_BACKOFF_NONE;
    v2->call_timeout_ms = 300;
    CHECK(ww_new((const ww_options *)(const void *)v2, &w) == WW_STATUS_OK);
    t0 = now_ms();
    s = ww_ready(w, 10000);
    took = now_ms() - t0;
    CHECKF(s == WW_STATUS_ENGINE, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took >= 250.0 && took < 2000.0, "ww_ready took %.0f ms", took);
    CHECK(unsynced_snapshot_ok(w, g_silent_endpoint));
    ww_close(w);
    w = NULL;
    /* A containerd watcher without ignored_namespaces is accepted (the
     * default list applies; see containerd_previous_struct_versions). */
    v2->engine = WW_ENGINE_CONTAINERD;
    v2->endpoint = g_missing_sock;
    CHECK(ww_new((const ww_options *)(const void *)v2, &w) == WW_STATUS_OK);
    CHECK(unsynced_engine_snapshot_ok(w, "containerd.io", g_missing_endpoint));
out:
    ww_snapshot_free(p);
    ww_close(w);
    free(v2);
    return ok;
}

/* ------------------------------------------------------------------ */
/* containerd: without an engine                                       */
/* ------------------------------------------------------------------ */

static bool test_containerd_invalid_ignored_namespaces(void) {
    bool ok = true;
    static const char *const bad[] = {"a,,b", "x/y", "moby,", "-a", "a..b", "a b", "moby,k8s.io/x"};
    static const char *const good[] = {"", "moby", "moby,k8s.io", "a-b_c.d", "default", "x1,y2,z3"};
    ww_watcher *w = NULL;
    ww_options o;
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = ctrd_options(g_missing_sock, bad[i]);
        note_start();
        fprintf(stderr, "    ignored_namespaces \"%s\"\n", bad[i]);
        CHECK(refused(&o, WW_STATUS_INVALID_ARG, bad[i]));
    }
    o = ctrd_options(g_missing_sock, "moby,\xff\xfe");
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "UTF-8"));
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        ww_status s;
        o = ctrd_options(g_missing_sock, good[i]);
        s = ww_new(&o, &w);
        CHECKF(s == WW_STATUS_OK, "ignored_namespaces \"%s\": %s: %s", good[i], ww_status_str(s), last_error());
        ww_close(w);
        w = NULL;
    }
out:
    ww_close(w);
    return ok;
}

static bool test_containerd_invalid_endpoints(void) {
    bool ok = true;
    static const char *const bad[] = {"tcp://127.0.0.1:1", "http://127.0.0.1:1/", "", "unix://", "ssh://host",
                                      "npipe:////./pipe/containerd", "containerd.sock", "./containerd.sock",
                                      "unix://containerd.sock", "unix://./containerd.sock"};
    ww_watcher *w = NULL;
    ww_options o;
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = ctrd_options(bad[i], NULL);
        note_start();
        fprintf(stderr, "    endpoint \"%s\"\n", bad[i]);
        CHECK(refused(&o, WW_STATUS_INVALID_ARG, bad[i]));
    }
    o = ctrd_options("/tmp/\xff\xfe.sock", NULL);
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "UTF-8"));
    /* A path and unix://PATH are the same endpoint, reported as unix://PATH. */
    o = ctrd_options(g_missing_sock, NULL);
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    CHECK(unsynced_engine_snapshot_ok(w, "containerd.io", g_missing_endpoint));
    ww_close(w);
    w = NULL;
    o = ctrd_options(g_missing_endpoint, NULL);
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    CHECK(unsynced_engine_snapshot_ok(w, "containerd.io", g_missing_endpoint));
out:
    ww_close(w);
    return ok;
}

static bool test_containerd_unreachable_backoff_none_missing(void) {
    return engine_gives_up_at_once(WW_ENGINE_CONTAINERD, g_missing_sock, g_missing_endpoint, g_missing_sock, ENOENT);
}

static bool test_containerd_unreachable_backoff_none_refused(void) {
    return engine_gives_up_at_once(WW_ENGINE_CONTAINERD, g_dead_endpoint, g_dead_endpoint, g_dead_sock,
                                   ECONNREFUSED);
}

/* call_timeout_ms bounds the containerd calls too; closing while one is
 * pending is prompt. */
static bool test_containerd_call_timeout_bounds_engine_calls(void) {
    bool ok = true;
    ww_options o = ctrd_options(g_silent_sock, NULL);
    ww_watcher *w = NULL;
    ww_status s;
    double t0, took;
    o.backoff = WW_BACKOFF_NONE;
    o.call_timeout_ms = 300;
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    t0 = now_ms();
    s = ww_ready(w, 10000);
    took = now_ms() - t0;
    note_start();
    fprintf(stderr, "    %s after %.0f ms: %s\n", ww_status_str(s), took, last_error());
    CHECKF(s == WW_STATUS_ENGINE, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took >= 250.0 && took < 2000.0, "ww_ready took %.0f ms", took);
    CHECKF(contains(last_error(), g_silent_sock), "\"%s\"", last_error());
    CHECK(unsynced_engine_snapshot_ok(w, "containerd.io", g_silent_endpoint));
    ww_close(w);
    w = NULL;
    /* The default backoff and call timeout: still waiting after 200 ms. */
    o = ctrd_options(g_silent_sock, NULL);
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    s = ww_ready(w, 200);
    CHECKF(s == WW_STATUS_TIMEOUT, "%s: %s", ww_status_str(s), last_error());
    t0 = now_ms();
    ww_close(w);
    w = NULL;
    took = now_ms() - t0;
    CHECKF(took < 1500.0, "ww_close with a containerd call pending took %.0f ms", took);
out:
    ww_close(w);
    return ok;
}

/* ------------------------------------------------------------------ */
/* containerd: the real engine                                         */
/* ------------------------------------------------------------------ */

static ww_watcher *ctrd_default_ready_watcher(void) {
    return ctrd_ready_watcher(NULL);
}

static bool test_containerd_threads_and_fds_return_to_baseline(void) {
    NEEDS_CONTAINERD();
    return threads_and_fds_return_to_baseline(ctrd_default_ready_watcher);
}

/* A process's command name, "?" if unknown. */
static void comm_of(int32_t pid, char *comm, size_t size) {
    char path[64];
    FILE *f;
    snprintf(comm, size, "?");
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    if ((f = fopen(path, "r")) != NULL) {
        if (fgets(comm, (int)size, f) == NULL) {
            snprintf(comm, size, "?");
        }
        fclose(f);
        comm[strcspn(comm, "\n")] = '\0';
    }
}

static bool test_containerd_real_engine(void) {
    bool ok = true;
    ww_options o = ctrd_options(NULL, NULL);
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_status s;
    double t0, took;
    char comm[64];
    size_t len;
    char *endpoint = NULL, *ignored = NULL;
    NEEDS_CONTAINERD();
    len = strlen(g_ctrd_endpoint);
    endpoint = malloc(len + 1);
    ignored = strdup("moby,k8s.io");
    CHECK(endpoint != NULL && ignored != NULL);
    memcpy(endpoint, g_ctrd_endpoint, len + 1);
    o.endpoint = endpoint;
    o.ignored_namespaces = ignored;
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    CHECK(w != NULL);
    /* The strings and the options are only read during ww_new. */
    memset(endpoint, 'x', len);
    free(endpoint);
    endpoint = NULL;
    memset(ignored, 'x', strlen(ignored));
    free(ignored);
    ignored = NULL;
    memset(&o, 0xA5, sizeof o);
    t0 = now_ms();
    s = ww_ready(w, 30000);
    took = now_ms() - t0;
    CHECKF(s == WW_STATUS_OK, "%s: %s", ww_status_str(s), last_error());
    CHECK(ww_ready(w, 0) == WW_STATUS_OK);
    CHECK(ww_ready(w, -1) == WW_STATUS_OK);
    CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
    CHECK(p != NULL);
    CHECKF(p->generation >= 1, "generation %llu", (unsigned long long)p->generation);
    CHECK(ctrd_portfolio_invariants(p, g_ctrd_url, "moby,k8s.io"));
    CHECK(has_ctrd_containers(p, false));
    CHECK(p->containers_len >= 1 && p->projects_len >= 2);
    CHECK(streq(p->engine_type, "containerd.io"));
    CHECKF(p->engine_id[0] != '\0', "empty engine_id");
    CHECKF(p->engine_version[0] != '\0', "empty engine_version");
    CHECKF(streq(p->engine_endpoint, g_ctrd_url), "\"%s\", expected \"%s\"", p->engine_endpoint, g_ctrd_url);
    CHECKF(p->engine_pid > 0, "engine_pid %d", (int)p->engine_pid);
    CHECKF(kill((pid_t)p->engine_pid, 0) == 0 || errno == EPERM, "engine_pid %d: no such process",
           (int)p->engine_pid);
    comm_of(p->engine_pid, comm, sizeof comm);
    note_start();
    fprintf(stderr,
            "    engine %s %s (ID %s) at %s, PID %d (%s), ready after %.0f ms, generation %llu, %zu containers, "
            "%zu projects\n",
            p->engine_type, p->engine_version, p->engine_id, p->engine_endpoint, (int)p->engine_pid, comm, took,
            (unsigned long long)p->generation, p->containers_len, p->projects_len);
    ww_snapshot_free(p);
    p = NULL;
    /* Closing a synchronised watcher, whose event stream is open, is prompt. */
    t0 = now_ms();
    ww_close(w);
    w = NULL;
    CHECKF(now_ms() - t0 < 1000.0, "ww_close took %.0f ms", now_ms() - t0);
out:
    free(endpoint);
    free(ignored);
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* The socket given the other way (PATH or unix://PATH) is the same engine. */
static bool test_containerd_endpoint_forms(void) {
    bool ok = true;
    ww_options o = ctrd_options(NULL, NULL);
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    NEEDS_CONTAINERD();
    o.endpoint = g_ctrd_other_form;
    w = ready_watcher_with(&o);
    CHECK(w != NULL);
    CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
    CHECKF(streq(p->engine_endpoint, g_ctrd_url), "endpoint \"%s\" reported as \"%s\"", g_ctrd_other_form,
           p->engine_endpoint);
    CHECK(ctrd_portfolio_invariants(p, g_ctrd_url, "moby,k8s.io"));
    CHECK(has_ctrd_containers(p, false));
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* A ready containerd watcher ignoring `ignored`; its snapshot satisfies the
 * invariants and holds the expected container (or not: `expected_visible`)
 * and the one of namespace moby (or not: `moby_visible`). */
static bool ctrd_sees(const char *ignored, bool expected_visible, bool moby_visible) {
    bool ok = true;
    ww_watcher *w = ctrd_ready_watcher(ignored);
    const ww_portfolio *p = NULL;
    const ww_container *m;
    note_start();
    fprintf(stderr, "    ignored_namespaces \"%s\"\n", ignored);
    CHECK(w != NULL);
    CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
    CHECK(ctrd_portfolio_invariants(p, g_ctrd_url, ignored));
    if (expected_visible) {
        CHECK(has_container(p, &g_ctrd));
    } else {
        CHECKF(find_container(p, g_ctrd.id) == NULL, "container %s of ignored namespace %s in the snapshot",
               g_ctrd.id, g_ctrd_ns);
    }
    m = find_container(p, g_ctrd_ignored_id);
    CHECKF((m != NULL) == moby_visible, "container %s %s the snapshot (%zu containers)", g_ctrd_ignored_id,
           m != NULL ? "in" : "not in", p->containers_len);
    if (m != NULL) {
        CHECKF(m->pid > 0 && !m->paused, "container %s: pid %d, paused %d", m->id, (int)m->pid, (int)m->paused);
    }
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* ignored_namespaces replaces the default list: "" watches every namespace. */
static bool test_containerd_ignored_namespaces(void) {
    bool ok = true;
    char ignored_ns[128], list[300];
    NEEDS_CONTAINERD();
    namespace_of(g_ctrd_ignored_id, ignored_ns, sizeof ignored_ns);
    CHECK(ctrd_sees("", true, true));
    CHECK(ctrd_sees("moby,k8s.io", true, false));
    CHECK(ctrd_sees(g_ctrd_ns, false, true));
    snprintf(list, sizeof list, "%s,%s", ignored_ns, g_ctrd_ns);
    CHECK(ctrd_sees(list, false, false));
    CHECK(ctrd_sees("no-such-namespace", true, true));
out:
    return ok;
}

/* A NULL endpoint takes CONTAINERD_ADDRESS, else the default socket. */
static bool test_containerd_default_endpoint_and_containerd_address(void) {
    bool ok = true;
    char *saved = NULL, *saved_docker = NULL;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_options o;
    ww_status s;
    NEEDS_CONTAINERD();
    saved = getenv("CONTAINERD_ADDRESS") ? strdup(getenv("CONTAINERD_ADDRESS")) : NULL;
    saved_docker = getenv("DOCKER_HOST") ? strdup(getenv("DOCKER_HOST")) : NULL;
    CHECK(unsetenv("CONTAINERD_ADDRESS") == 0);
    o = ctrd_options(NULL, NULL);
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
    CHECKF(streq(p->engine_endpoint, "unix:///run/containerd/containerd.sock"), "\"%s\"", p->engine_endpoint);
    CHECK(streq(p->engine_type, "containerd.io"));
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;

    /* DOCKER_HOST is no business of a containerd watcher. */
    CHECK(setenv("DOCKER_HOST", "ssh://nowhere", 1) == 0);
    CHECK(setenv("CONTAINERD_ADDRESS", g_ctrd_endpoint, 1) == 0);
    o = ctrd_options(NULL, NULL);
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    s = ww_ready(w, 30000);
    CHECKF(s == WW_STATUS_OK, "%s: %s", ww_status_str(s), last_error());
    CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
    CHECKF(streq(p->engine_endpoint, g_ctrd_url), "\"%s\"", p->engine_endpoint);
    CHECK(has_ctrd_containers(p, false));
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;

    CHECK(setenv("CONTAINERD_ADDRESS", "tcp://127.0.0.1:1", 1) == 0);
    o = ctrd_options(NULL, NULL);
    CHECK(refused(&o, WW_STATUS_INVALID_ARG, "tcp://127.0.0.1:1"));
    CHECKF(contains(last_error(), "CONTAINERD_ADDRESS"), "\"%s\"", last_error());
    /* An explicit endpoint wins over CONTAINERD_ADDRESS. */
    o = ctrd_options(g_missing_sock, NULL);
    CHECK(ww_new(&o, &w) == WW_STATUS_OK);
    CHECK(unsynced_engine_snapshot_ok(w, "containerd.io", g_missing_endpoint));
    ww_close(w);
    w = NULL;
    /* ... and CONTAINERD_ADDRESS is no business of a Docker watcher. */
    CHECK(setenv("DOCKER_HOST", g_endpoint, 1) == 0);
    CHECK(ww_new(NULL, &w) == WW_STATUS_OK);
    CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
    CHECKF(streq(p->engine_endpoint, g_endpoint), "\"%s\"", p->engine_endpoint);
out:
    ww_snapshot_free(p);
    ww_close(w);
    if (saved != NULL) {
        setenv("CONTAINERD_ADDRESS", saved, 1);
        free(saved);
    } else {
        unsetenv("CONTAINERD_ADDRESS");
    }
    if (saved_docker != NULL) {
        setenv("DOCKER_HOST", saved_docker, 1);
        free(saved_docker);
    } else {
        unsetenv("DOCKER_HOST");
    }
    return ok;
}

static bool test_containerd_snapshot_outlives_close(void) {
    bool ok = true;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    size_t before, after;
    NEEDS_CONTAINERD();
    w = ctrd_ready_watcher(NULL);
    CHECK(w != NULL);
    CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
    before = touch_all_strings(p);
    ww_close(w);
    w = NULL;
    after = touch_all_strings(p);
    CHECK(before == after);
    CHECK(ctrd_portfolio_invariants(p, g_ctrd_url, "moby,k8s.io"));
    CHECK(has_ctrd_containers(p, false));
    CHECK(streq(p->engine_type, "containerd.io") && p->engine_pid > 0);
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

static bool test_containerd_concurrent_snapshots(void) {
    NEEDS_CONTAINERD();
    return concurrent_snapshots(ctrd_ready_watcher(NULL), "containerd.io", &g_ctrd);
}

/* The first two layouts of ww_options (32 and 40 bytes on LP64, exactly
 * allocated) watch containerd too, with the default ignored namespaces. */
static bool test_containerd_previous_struct_versions(void) {
    bool ok = true;
    struct ww_options_v1 *v1 = NULL;
    struct ww_options_v2 *v2 = NULL;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_status s;
    int version;
    NEEDS_CONTAINERD();
    v1 = malloc(sizeof *v1);
    v2 = malloc(sizeof *v2);
    CHECK(v1 != NULL && v2 != NULL);
    memset(v1, 0, sizeof *v1);
    v1->struct_size = (uint32_t)sizeof *v1;
    v1->engine = WW_ENGINE_CONTAINERD;
    v1->endpoint = g_ctrd_endpoint;
    v1->backoff = WW_BACKOFF_EXPONENTIAL;
    v1->backoff_initial_ms = 100;
    v1->backoff_max_ms = 1000;
    memset(v2, 0, sizeof *v2);
    v2->struct_size = (uint32_t)sizeof *v2;
    v2->engine = WW_ENGINE_CONTAINERD;
    v2->endpoint = g_ctrd_endpoint;
    v2->backoff = WW_BACKOFF_EXPONENTIAL;
    v2->backoff_initial_ms = 100;
    v2->backoff_max_ms = 1000;
    v2->call_timeout_ms = 5000;
    for (version = 1; version <= 2; version++) {
        const ww_options *o = version == 1 ? (const ww_options *)(const void *)v1
                                           : (const ww_options *)(const void *)v2;
        s = ww_new(o, &w);
        CHECKF(s == WW_STATUS_OK, "version %d: %s: %s", version, ww_status_str(s), last_error());
        s = ww_ready(w, 30000);
        CHECKF(s == WW_STATUS_OK, "version %d: %s: %s", version, ww_status_str(s), last_error());
        CHECK(ww_snapshot(w, &p) == WW_STATUS_OK);
        CHECK(p->generation >= 1);
        CHECK(ctrd_portfolio_invariants(p, g_ctrd_url, "moby,k8s.io"));
        CHECKF(has_ctrd_containers(p, false), "version %d", version);
        ww_snapshot_free(p);
        p = NULL;
        ww_close(w);
        w = NULL;
    }
out:
    ww_snapshot_free(p);
    ww_close(w);
    free(v1);
    free(v2);
    return ok;
}

/* ------------------------------------------------------------------ */
/* A peer that hangs up: no SIGPIPE                                    */
/* ------------------------------------------------------------------ */

/* A server that accepts every connection, reads the first bytes a client
 * sends (an HTTP/2 preface is 24) and hangs up: the client's next write
 * fails with EPIPE. A library must get that as an error, never as a SIGPIPE,
 * whose default action kills a C program (Rust programs ignore SIGPIPE, C
 * programs do not). */
struct hangup_server {
    int listen_fd;
    int stop[2]; /* a pipe: written to stop the thread */
    pthread_t thread;
    bool running;
    long served;
};

static volatile sig_atomic_t g_sigpipes;

static void count_sigpipe(int sig) {
    (void)sig;
    g_sigpipes++;
}

static void *hangup_server_run(void *arg) {
    struct hangup_server *h = arg;
    for (;;) {
        struct pollfd fds[2];
        char buf[24];
        size_t got = 0;
        int c;
        fds[0].fd = h->listen_fd;
        fds[0].events = POLLIN;
        fds[1].fd = h->stop[0];
        fds[1].events = POLLIN;
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return NULL;
        }
        if (fds[1].revents != 0) {
            return NULL;
        }
        c = accept(h->listen_fd, NULL, NULL);
        if (c < 0) {
            continue;
        }
        while (got < sizeof buf) {
            ssize_t n = read(c, buf + got, sizeof buf - got);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                break;
            }
            got += (size_t)n;
        }
        close(c);
        h->served++;
    }
}

static bool hangup_server_start(struct hangup_server *h, const char *path) {
    struct sockaddr_un addr;
    memset(h, 0, sizeof *h);
    h->stop[0] = h->stop[1] = -1;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    unlink(path);
    h->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (h->listen_fd < 0 || bind(h->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(h->listen_fd, 64) != 0 || pipe(h->stop) != 0) {
        perror("hang-up socket");
        return false;
    }
    if (pthread_create(&h->thread, NULL, hangup_server_run, h) != 0) {
        return false;
    }
    h->running = true;
    return true;
}

static void hangup_server_stop(struct hangup_server *h, const char *path) {
    if (h->running) {
        ssize_t n;
        do {
            n = write(h->stop[1], "x", 1);
        } while (n < 0 && errno == EINTR);
        pthread_join(h->thread, NULL);
        h->running = false;
    }
    if (h->listen_fd >= 0) {
        close(h->listen_fd);
    }
    if (h->stop[0] >= 0) {
        close(h->stop[0]);
        close(h->stop[1]);
    }
    unlink(path);
}

#define HANGUP_ROUNDS 10

/* HANGUP_ROUNDS watchers of `engine` at a server that hangs up: each gives
 * up (backoff NONE) with an error naming the socket, and SIGPIPE is never
 * raised (counted by a handler, so the test survives to tell). */
static bool no_sigpipe_when_peer_hangs_up(ww_engine engine, const char *endpoint) {
    bool ok = true;
    struct hangup_server h;
    struct sigaction sa, old;
    bool handler_set = false;
    ww_watcher *w = NULL;
    int round;
    CHECK(hangup_server_start(&h, g_hangup_sock));
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_sigpipe;
    sigemptyset(&sa.sa_mask);
    g_sigpipes = 0;
    CHECK(sigaction(SIGPIPE, &sa, &old) == 0);
    handler_set = true;
    for (round = 0; round < HANGUP_ROUNDS; round++) {
        ww_options o = options_for(endpoint);
        ww_status s;
        double t0, took;
        o.engine = engine;
        o.backoff = WW_BACKOFF_NONE;
        CHECK(ww_new(&o, &w) == WW_STATUS_OK);
        t0 = now_ms();
        s = ww_ready(w, 10000);
        took = now_ms() - t0;
        if (round == 0) {
            note_start();
            fprintf(stderr, "    %s after %.0f ms: %s\n", ww_status_str(s), took, last_error());
        }
        CHECKF(s == WW_STATUS_ENGINE, "%s: %s", ww_status_str(s), last_error());
        /* Generous: under valgrind, the first gRPC connection of the
         * process alone takes over a second. */
        CHECKF(took < 5000.0, "ww_ready took %.0f ms", took);
        CHECKF(contains(last_error(), g_hangup_sock), "\"%s\"", last_error());
        ww_close(w);
        w = NULL;
    }
    note_start();
    fprintf(stderr, "    %d watchers, %ld connections hung up on, %d SIGPIPE\n", HANGUP_ROUNDS, h.served,
            (int)g_sigpipes);
    CHECKF(g_sigpipes == 0,
           "the library raised SIGPIPE %d times in %d watchers (without a handler, the default action kills "
           "the process)",
           (int)g_sigpipes, HANGUP_ROUNDS);
out:
    ww_close(w);
    if (handler_set) {
        sigaction(SIGPIPE, &old, NULL);
    }
    hangup_server_stop(&h, g_hangup_sock);
    return ok;
}

static bool test_no_sigpipe_when_peer_hangs_up(void) {
    return no_sigpipe_when_peer_hangs_up(WW_ENGINE_DOCKER, g_hangup_endpoint);
}

static bool test_containerd_no_sigpipe_when_peer_hangs_up(void) {
    return no_sigpipe_when_peer_hangs_up(WW_ENGINE_CONTAINERD, g_hangup_sock);
}

/* ------------------------------------------------------------------ */
/* Runner                                                              */
/* ------------------------------------------------------------------ */

enum outcome { PASSED, FAILED, SKIPPED };

static enum outcome run_test(bool (*test)(void), const char *name) {
    double t0 = now_ms();
    bool ok;
    enum outcome result;
    fprintf(stdout, "test %s ... ", name);
    fflush(stdout);
    g_mid_line = true;
    g_skipped = false;
    g_skip_reason = "";
    ok = test();
    fflush(stderr);
    if (!g_mid_line) {
        fprintf(stdout, "test %s ... ", name); /* notes were printed in between */
    }
    g_mid_line = false;
    result = !ok ? FAILED : g_skipped ? SKIPPED : PASSED;
    if (result == SKIPPED) {
        fprintf(stdout, "skipped (%s)\n", g_skip_reason);
    } else {
        fprintf(stdout, "%s (%.0f ms)\n", ok ? "ok" : "FAILED", now_ms() - t0);
    }
    fflush(stdout);
    return result;
}

static bool setup_sockets(void) {
    struct sockaddr_un addr;
    int fd;
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/ww-abi-XXXXXX");
    if (mkdtemp(g_tmpdir) == NULL) {
        perror("mkdtemp");
        return false;
    }
    snprintf(g_dead_sock, sizeof g_dead_sock, "%s/dead.sock", g_tmpdir);
    snprintf(g_silent_sock, sizeof g_silent_sock, "%s/silent.sock", g_tmpdir);
    snprintf(g_missing_sock, sizeof g_missing_sock, "%s/missing.sock", g_tmpdir);
    snprintf(g_dead_endpoint, sizeof g_dead_endpoint, "unix://%s", g_dead_sock);
    snprintf(g_silent_endpoint, sizeof g_silent_endpoint, "unix://%s", g_silent_sock);
    snprintf(g_missing_endpoint, sizeof g_missing_endpoint, "unix://%s", g_missing_sock);
    snprintf(g_hangup_sock, sizeof g_hangup_sock, "%s/hangup.sock", g_tmpdir);
    snprintf(g_hangup_endpoint, sizeof g_hangup_endpoint, "unix://%s", g_hangup_sock);

    /* Bound but never listened, then closed: connecting is refused. */
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", g_dead_sock);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("dead socket");
        return false;
    }
    close(fd);

    /* Listening, never accepting: connecting works, nothing ever answers. */
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", g_silent_sock);
    g_silent_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (g_silent_fd < 0 || bind(g_silent_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(g_silent_fd, 64) != 0) {
        perror("silent socket");
        return false;
    }
    return true;
}

static void teardown_sockets(void) {
    if (g_silent_fd >= 0) {
        close(g_silent_fd);
    }
    unlink(g_dead_sock);
    unlink(g_silent_sock);
    rmdir(g_tmpdir);
}

/* Parses a PID argument; 0 if it is not one. */
static int32_t parse_pid(const char *arg) {
    char *end = NULL;
    long pid;
    errno = 0;
    pid = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || pid <= 0 || pid > INT32_MAX) {
        return 0;
    }
    return (int32_t)pid;
}

/* Takes the six containerd arguments; false (after saying why) if bad. */
static bool parse_containerd_args(const char *prog, char **argv) {
    static char name_label[256], ignored_ns[128];
    size_t ns_len;
    g_ctrd_endpoint = argv[0];
    if (strncmp(g_ctrd_endpoint, "unix://", 7) == 0) {
        g_ctrd_url = strdup(g_ctrd_endpoint);
        g_ctrd_other_form = strdup(g_ctrd_endpoint + 7);
    } else {
        g_ctrd_url = malloc(strlen(g_ctrd_endpoint) + 8);
        if (g_ctrd_url != NULL) {
            sprintf(g_ctrd_url, "unix://%s", g_ctrd_endpoint);
        }
        g_ctrd_other_form = g_ctrd_url != NULL ? strdup(g_ctrd_url) : NULL;
    }
    g_ctrd_ns = malloc(strlen(argv[1]) + 8);
    if (g_ctrd_url == NULL || g_ctrd_other_form == NULL || g_ctrd_ns == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return false;
    }
    g_ctrd.id = argv[1];
    g_ctrd.name = argv[2];
    g_ctrd.pid = parse_pid(argv[3]);
    g_ctrd.project = argv[4];
    g_ctrd_ignored_id = argv[5];
    if (g_ctrd.pid == 0) {
        fprintf(stderr, "%s: bad CTRD_EXPECT_PID \"%s\"\n", prog, argv[3]);
        return false;
    }
    namespace_of(g_ctrd.id, g_ctrd_ns, strlen(argv[1]) + 8);
    ns_len = strlen(g_ctrd_ns);
    /* The name is "NS/NAME" from label nerdctl/name=NAME ("NAME" in default). */
    if (strchr(g_ctrd.id, '/') == NULL) {
        snprintf(name_label, sizeof name_label, "%s", g_ctrd.name);
    } else if (strncmp(g_ctrd.name, g_ctrd_ns, ns_len) == 0 && g_ctrd.name[ns_len] == '/') {
        snprintf(name_label, sizeof name_label, "%s", g_ctrd.name + ns_len + 1);
    } else {
        fprintf(stderr, "%s: CTRD_EXPECT_NAME \"%s\" is not in the namespace of CTRD_EXPECT_ID \"%s\"\n", prog,
                g_ctrd.name, g_ctrd.id);
        return false;
    }
    g_ctrd.name_label = name_label;
    if (streq(g_ctrd_ns, "moby") || streq(g_ctrd_ns, "k8s.io")) {
        fprintf(stderr, "%s: CTRD_EXPECT_ID \"%s\" is in a namespace ignored by default\n", prog, g_ctrd.id);
        return false;
    }
    namespace_of(g_ctrd_ignored_id, ignored_ns, sizeof ignored_ns);
    if (!streq(ignored_ns, "moby") && !streq(ignored_ns, "k8s.io")) {
        fprintf(stderr, "%s: CTRD_IGNORED_ID \"%s\" is not in a namespace ignored by default (moby, k8s.io)\n",
                prog, g_ctrd_ignored_id);
        return false;
    }
    g_have_ctrd = true;
    return true;
}

int main(int argc, char **argv) {
    bool passed = true;
    int npassed = 0, nfailed = 0, nskipped = 0;
    size_t i;
    struct {
        bool (*fn)(void);
        const char *name;
    } tests[] = {
        /* First, before any other watcher exists in this process. */
        {test_threads_and_fds_return_to_baseline, "threads_and_fds_return_to_baseline"},
        {test_version, "version"},
        {test_status_str, "status_str"},
        {test_last_error_never_null, "last_error_never_null"},
        {test_options_init_null_is_a_noop, "options_init_null_is_a_noop"},
        {test_options_init_defaults, "options_init_defaults"},
        {test_new_null_out, "new_null_out"},
        {test_null_watcher_and_out_args, "null_watcher_and_out_args"},
        {test_struct_size_mismatch, "struct_size_mismatch"},
        {test_invalid_engine, "invalid_engine"},
        {test_invalid_backoff, "invalid_backoff"},
        {test_invalid_endpoints, "invalid_endpoints"},
        {test_invalid_utf8_endpoint, "invalid_utf8_endpoint"},
        {test_previous_struct_version, "previous_struct_version"},
        {test_second_struct_version, "second_struct_version"},
        {test_unreachable_backoff_none_refused, "unreachable_backoff_none_refused"},
        {test_unreachable_backoff_none_missing, "unreachable_backoff_none_missing"},
        {test_unreachable_exponential_max_elapsed, "unreachable_exponential_max_elapsed"},
        {test_unreachable_default_backoff_times_out, "unreachable_default_backoff_times_out"},
        {test_call_timeout_bounds_engine_calls, "call_timeout_bounds_engine_calls"},
        {test_unreachable_constant_max_elapsed, "unreachable_constant_max_elapsed"},
        {test_unreachable_tcp, "unreachable_tcp"},
        {test_tcp_error_names_os_error, "tcp_error_names_os_error"},
        {test_null_args_name_the_argument, "null_args_name_the_argument"},
        {test_invalid_tcp_ports, "invalid_tcp_ports"},
        {test_unusable_tcp_endpoints_refused, "unusable_tcp_endpoints_refused"},
        {test_overlong_endpoints, "overlong_endpoints"},
        {test_overlong_ignored_namespaces, "overlong_ignored_namespaces"},
        {test_socket_path_not_a_socket, "socket_path_not_a_socket"},
        {test_permission_denied, "permission_denied"},
        {test_ready_timeouts_unreachable, "ready_timeouts_unreachable"},
        {test_real_engine, "real_engine"},
        {test_default_endpoint_and_docker_host, "default_endpoint_and_docker_host"},
        {test_snapshot_outlives_close, "snapshot_outlives_close"},
        {test_back_to_back_snapshots, "back_to_back_snapshots"},
        {test_concurrent_snapshots, "concurrent_snapshots"},
        {test_last_error_is_thread_local, "last_error_is_thread_local"},
        {test_no_sigpipe_when_peer_hangs_up, "no_sigpipe_when_peer_hangs_up"},
        /* containerd: these need no engine. */
        {test_containerd_invalid_ignored_namespaces, "containerd_invalid_ignored_namespaces"},
        {test_containerd_invalid_endpoints, "containerd_invalid_endpoints"},
        {test_containerd_unreachable_backoff_none_missing, "containerd_unreachable_backoff_none_missing"},
        {test_containerd_unreachable_backoff_none_refused, "containerd_unreachable_backoff_none_refused"},
        {test_containerd_no_sigpipe_when_peer_hangs_up, "containerd_no_sigpipe_when_peer_hangs_up"},
        {test_containerd_call_timeout_bounds_engine_calls, "containerd_call_timeout_bounds_engine_calls"},
        /* containerd: skipped without one. */
        {test_containerd_threads_and_fds_return_to_baseline, "containerd_threads_and_fds_return_to_baseline"},
        {test_containerd_real_engine, "containerd_real_engine"},
        {test_containerd_endpoint_forms, "containerd_endpoint_forms"},
        {test_containerd_ignored_namespaces, "containerd_ignored_namespaces"},
        {test_containerd_default_endpoint_and_containerd_address,
         "containerd_default_endpoint_and_containerd_address"},
        {test_containerd_snapshot_outlives_close, "containerd_snapshot_outlives_close"},
        {test_containerd_concurrent_snapshots, "containerd_concurrent_snapshots"},
        {test_containerd_previous_struct_versions, "containerd_previous_struct_versions"},
    };

    if (argc != 6 && argc != 12) {
        fprintf(stderr,
                "usage: %s ENDPOINT EXPECT_ID EXPECT_NAME EXPECT_PID EXPECT_PROJECT\n"
                "       [CONTAINERD_ENDPOINT CTRD_EXPECT_ID CTRD_EXPECT_NAME CTRD_EXPECT_PID CTRD_EXPECT_PROJECT "
                "CTRD_IGNORED_ID]\n",
                argv[0]);
        return 2;
    }
    g_endpoint = argv[1];
    g_docker.id = argv[2];
    g_docker.name = argv[3][0] == '/' ? argv[3] + 1 : argv[3];
    g_docker.pid = parse_pid(argv[4]);
    if (g_docker.pid == 0) {
        fprintf(stderr, "%s: bad EXPECT_PID \"%s\"\n", argv[0], argv[4]);
        return 2;
    }
    g_docker.project = argv[5];
    g_docker.name_label = NULL;
    if (argc == 12 && !parse_containerd_args(argv[0], argv + 6)) {
        return 2;
    }
    if (!setup_sockets()) {
        return 2;
    }

    for (i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        switch (run_test(tests[i].fn, tests[i].name)) {
        case PASSED:
            npassed++;
            break;
        case FAILED:
            nfailed++;
            passed = false;
            break;
        case SKIPPED:
            nskipped++;
            break;
        }
    }
    teardown_sockets();
    free(g_ctrd_url);
    free(g_ctrd_other_form);
    free(g_ctrd_ns);
    if (nskipped > 0) {
        printf("%d skipped: see why above (and the usage at the top of test_abi.c)\n", nskipped);
    }
    printf("%d passed, %d failed\n", npassed, nfailed);
    return passed ? 0 : 1;
}
