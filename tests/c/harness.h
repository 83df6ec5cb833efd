/*
 * The shared harness of test_abi: the command line's expectations, scratch
 * sockets, CHECK macros, the test runner and helpers used by several topics.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef WW_TEST_HARNESS_H
#define WW_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/types.h>

#include "whalewatcher.h"

/* ------------------------------------------------------------------ */
/* Tests and suites                                                    */
/* ------------------------------------------------------------------ */

struct test {
    bool (*fn)(void);
    const char *name;
};

/* Each topic file defines its table and its length. */
#define DECLARE_SUITE(topic)                                               \
    extern const struct test topic##_tests[];                              \
    extern const size_t topic##_tests_len

#define DEFINE_SUITE_LEN(topic)                                            \
    const size_t topic##_tests_len = sizeof topic##_tests / sizeof topic##_tests[0]

DECLARE_SUITE(lifecycle);
DECLARE_SUITE(options);
DECLARE_SUITE(args);
DECLARE_SUITE(unreachable);
DECLARE_SUITE(docker);
DECLARE_SUITE(containerd);
DECLARE_SUITE(lookup);
DECLARE_SUITE(diff);
DECLARE_SUITE(notify);
DECLARE_SUITE(threads);
DECLARE_SUITE(shutdown);
DECLARE_SUITE(podman);
DECLARE_SUITE(cri);
DECLARE_SUITE(discover);
DECLARE_SUITE(sigpipe);
DECLARE_SUITE(tls);
DECLARE_SUITE(fork);
DECLARE_SUITE(audit);

enum outcome { PASSED, FAILED, SKIPPED };

/* Runs one test, printing "test NAME ... ok|FAILED|skipped". */
enum outcome run_test(const struct test *t);

/* ------------------------------------------------------------------ */
/* Checks                                                              */
/* ------------------------------------------------------------------ */

/* Diagnostics go to stderr; the first of a test starts on a fresh line. */
extern bool g_mid_line;
void note_start(void);

/* A note on stderr (printf-style), on its own line. */
void note(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* A failed check: report where and why, mark the test failed, clean up.
 * Every test function has `bool ok = true;` and an `out:` label. */
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

/* A call that must return WW_STATUS_OK; says the status and message if not. */
#define CHECK_OK(call)                                                     \
    do {                                                                   \
        ww_status check_ok_status_ = (call);                               \
        CHECKF(check_ok_status_ == WW_STATUS_OK, "%s: %s",                 \
               ww_status_str(check_ok_status_), ww_last_error_message());  \
    } while (0)

/* Set by a test that cannot run (no containerd given, not root): counted
 * as neither passed nor failed; g_skip_reason says why. */
extern bool g_skipped;
extern const char *g_skip_reason;

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

#define NEEDS_PODMAN()                                                     \
    do {                                                                   \
        if (!g_have_podman) {                                              \
            SKIP("no podman given (WW_TEST_PODMAN_ENDPOINT)");             \
        }                                                                  \
    } while (0)

#define NEEDS_CRI()                                                        \
    do {                                                                   \
        if (!g_have_cri) {                                                 \
            SKIP("no CRI runtime given (WW_TEST_CRI_ENDPOINT)");           \
        }                                                                  \
    } while (0)

/* ------------------------------------------------------------------ */
/* The command line                                                    */
/* ------------------------------------------------------------------ */

/* A container the snapshot must hold, exactly. */
struct expect {
    const char *id;
    const char *name;
    int32_t pid;
    const char *project;
    const char *name_label; /* containerd: the value of label nerdctl/name; NULL: not checked */
};

extern const char *g_endpoint; /* the Docker engine, unix://PATH */
extern struct expect g_docker;

/* containerd (optional). */
extern bool g_have_ctrd;
extern const char *g_ctrd_endpoint;   /* as given */
extern char *g_ctrd_url;              /* as the library reports it: unix://PATH */
extern char *g_ctrd_socket;           /* the socket path */
extern char *g_ctrd_other_form;       /* the same socket the other way: PATH or unix://PATH */
extern struct expect g_ctrd;
extern char *g_ctrd_ns;               /* namespace of g_ctrd ("default" when its ID has no '/') */
extern const char *g_ctrd_bare_id;    /* g_ctrd.id without its namespace */
extern const char *g_ctrd_ignored_id; /* "moby/ID" */

/* podman (optional, from the environment: see main.c). */
extern bool g_have_podman;
extern const char *g_podman_endpoint; /* unix://PATH */
extern struct expect g_podman;        /* its project is the Docker container's */

/* A CRI runtime (optional, from the environment: see main.c). */
extern bool g_have_cri;
extern const char *g_cri_endpoint;  /* unix://PATH */
extern const char *g_cri_pod_name, *g_cri_pod_namespace, *g_cri_pod_uid;
extern const char *g_cri_sandbox_id;
extern int32_t g_cri_sandbox_pid;
extern const char *g_cri_container_id;
extern int32_t g_cri_container_pid;
extern const char *g_cri_container_name; /* its Kubernetes name; NULL: not given */

/* The engines' own PIDs (the process serving each socket); 0: not given. */
extern int32_t g_docker_engine_pid, g_ctrd_engine_pid, g_podman_engine_pid, g_cri_engine_pid;

/* Parses the command line (see main.c); false (after saying why) if bad. */
bool parse_args(int argc, char **argv);
void free_args(void);

/* ------------------------------------------------------------------ */
/* Scratch sockets                                                     */
/* ------------------------------------------------------------------ */

/* A scratch directory with a socket nobody listens on (bound, never
 * listened, closed), a socket that listens but never answers, a path
 * that does not exist, and the path of a socket whose server hangs up
 * (while a test runs). */
extern char g_tmpdir[32];
extern char g_dead_sock[64], g_dead_endpoint[80];
extern char g_silent_sock[64], g_silent_endpoint[80];
extern char g_missing_sock[64], g_missing_endpoint[80];
extern char g_hangup_sock[64], g_hangup_endpoint[80];

bool setup_sockets(void);
void teardown_sockets(void);

/* A unix socket listening at `path`; -1 (after saying why) on failure. */
int listening_socket(const char *path);

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

#define COMPOSE_LABEL "com.docker.compose.project"
#define NERDCTL_NAME_LABEL "nerdctl/name"

double now_ms(void);          /* monotonic */
int64_t wall_ns(void);        /* CLOCK_REALTIME, Unix ns */
void sleep_ms(long ms);
bool streq(const char *a, const char *b);
bool contains(const char *haystack, const char *needle);
bool starts_with(const char *s, const char *prefix);
bool valid_utf8(const char *s);
const char *last_error(void);

/* Options prepared by ww_options_init (over garbage), for `endpoint`. */
ww_options options_for(const char *endpoint);
/* The same for engine `engine`. */
ww_options engine_options(ww_engine engine, const char *endpoint);
/* The same for a containerd watcher ignoring `ignored` (NULL: the default). */
ww_options ctrd_options(const char *endpoint, const char *ignored);

/* ------------------------------------------------------------------ */
/* Threads and descriptors of this process                             */
/* ------------------------------------------------------------------ */

/* Number of entries (without . and ..) of a /proc/self directory; -1 on error. */
int count_dir(const char *path);
/* Lists the threads (with names) and file descriptors (with targets). */
void dump_threads_and_fds(const char *when);
/* Waits (at most 1 s) until this process has `tasks` threads and `fds`
 * descriptors again; writes what it has at the end; true when it does. */
bool back_to_baseline(int tasks, int fds, int *tasks_now, int *fds_now);

/* Counts SIGPIPE with a handler (so that a test raising it survives to
 * tell) until sigpipe_counting_end, which restores the old action and
 * returns the count. */
bool sigpipe_counting_begin(void);
int sigpipe_counting_end(void);

/* True when this program runs under valgrind (whose preload it carries). */
bool under_valgrind(void);

/* This thread's kernel ID. */
pid_t current_tid(void);
/* Waits (at most `timeout_ms`) until thread `tid` of this process sleeps in
 * a futex wait (a lock or condition variable); true once it does. */
bool wait_until_blocked(pid_t tid, double timeout_ms);

/* When process `pid` started (wall clock, Unix ns, to 1/CLK_TCK s); 0 if unknown. */
int64_t process_start_ns(int32_t pid);
/* The command name of a process; "?" if unknown. */
void comm_of(int32_t pid, char *comm, size_t size);

/* ------------------------------------------------------------------ */
/* Commands                                                            */
/* ------------------------------------------------------------------ */

/* Runs argv[0] (searched in PATH) with `argv`, its stdout and stderr into
 * `out` (at most `size` bytes, NUL-terminated, trailing newline removed).
 * Returns its exit status, or -1 if it could not run or was killed. */
int run_command(char *const argv[], char *out, size_t size);

/* `docker -H g_endpoint ARG1 ARG2 ARG3 ARG4` (NULL ends the list early);
 * output into `out` like run_command. True on exit status 0; otherwise says
 * why. */
bool docker_cli(char *out, size_t size, const char *a1, const char *a2, const char *a3, const char *a4);
/* `ctr -a SOCKET -n NS ARG1 ARG2 ARG3` against the given containerd. */
bool ctr_cli(char *out, size_t size, const char *ns, const char *a1, const char *a2, const char *a3);
/* `podman --url g_podman_endpoint ARG1 ARG2 ARG3 ARG4` against the given podman. */
bool podman_cli(char *out, size_t size, const char *a1, const char *a2, const char *a3, const char *a4);

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */
/* ------------------------------------------------------------------ */

/* The only engine of a one-engine snapshot. */
const ww_engine_info *engine0(const ww_portfolio *p);

/* The type (ww_engine_info.type) of an engine kind, and back; NULL / 0 if unknown. */
const char *engine_type_of(ww_engine kind);
ww_engine engine_kind_of(const char *type);

/* Everything a snapshot of any number of engines must satisfy (engine
 * records, container order, projects per engine as slices of the
 * containers). Prints the first violation. */
bool portfolio_shape_ok(const ww_portfolio *p);
/* The same for a snapshot of one engine of type `engine_type` at
 * `endpoint` (NULL: not checked). */
bool portfolio_invariants(const ww_portfolio *p, const char *engine_type, const char *endpoint);
/* The same for containerd, plus its naming rules and no container of a
 * namespace in `ignored` (comma-separated, maybe ""). */
bool ctrd_portfolio_invariants(const ww_portfolio *p, const char *endpoint, const char *ignored);

const char *label_value(const ww_container *c, const char *key);
/* The namespace of a containerd display ID ("NS/ID", or "ID" in "default"). */
void namespace_of(const char *id, char *ns, size_t size);
/* Linear search by ID (independent of ww_portfolio_find_id). */
const ww_container *find_container(const ww_portfolio *p, const char *id);
/* The snapshot holds the container `e`, exactly (not paused), of engine 0. */
bool has_container(const ww_portfolio *p, const struct expect *e);
/* The same, of engine `engine`. */
bool has_container_of(const ww_portfolio *p, const struct expect *e, uint32_t engine);
bool has_docker_container(const ww_portfolio *p);
/* The containerd container, and the one of namespace moby absent
 * (`ignored_visible` false) or present and alive (true). */
bool has_ctrd_containers(const ww_portfolio *p, bool ignored_visible);

/* Sums the lengths of every string of a snapshot, touching every byte (so
 * ASan / valgrind see any read of freed memory). */
size_t touch_all_strings(const ww_portfolio *p);

/* A watcher with options `o`, ready. NULL (after printing why) on failure. */
ww_watcher *ready_watcher_with(const ww_options *o);
/* A watcher at the real Docker engine, ready. */
ww_watcher *ready_watcher(void);
/* A watcher at the real containerd ignoring `ignored` (NULL: default), ready. */
ww_watcher *ctrd_ready_watcher(const char *ignored);

/* The snapshot of a watcher that has not reached its engine (of type
 * `engine_type`, reported as `endpoint`): no containers, the engine in
 * state `state`, without identity, never synchronised. */
bool unsynced_snapshot_ok(ww_watcher *w, const char *engine_type, const char *endpoint, ww_engine_state state);

/* Backoff NONE at an unreachable socket: ww_ready gives ENGINE at once,
 * naming `path` and the OS error `err`; the engine shows GAVE_UP with the
 * same reason; ww_wait says ENGINE at once. `reported` is the endpoint the
 * snapshot names. */
bool engine_gives_up_at_once(ww_engine engine, const char *endpoint, const char *reported, const char *path,
                             int err);
/* The same for a watcher made from `o` (with backoff NONE instead of its
 * own); `err` 0: the message names no OS error. */
bool gives_up_at_once(const ww_options *o, const char *reported, const char *path, int err);

/* Takes snapshots of `w` until container `id` is there with `paused`,
 * waiting with ww_wait in between, at most `timeout_ms`. The snapshot is
 * written to *out (the caller frees it); false (after saying why) on timeout. */
bool await_container(ww_watcher *w, const char *id, bool paused, double timeout_ms, const ww_portfolio **out);

/* ------------------------------------------------------------------ */
/* Threads blocked in ww_ready / ww_wait                               */
/* ------------------------------------------------------------------ */

/* A thread in ww_wait or ww_ready, and what it got. */
struct waiter {
    ww_watcher *w;
    bool ready; /* ww_ready(w, timeout) instead of ww_wait(w, after, timeout) */
    uint64_t after;
    int32_t timeout_ms;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool started; /* about to call */
    bool done;    /* returned */
    pid_t tid;
    ww_status status;
    char message[256];
    double returned_at;
};

#define MAX_WAITERS 8

struct waiters {
    struct waiter wt[MAX_WAITERS];
    pthread_t thread[MAX_WAITERS];
    int n; /* started */
};

/* Starts a thread in ww_ready (`ready`) or ww_wait, and returns once it is
 * blocked inside the call (asleep in a futex wait, not returned). */
bool start_waiter(struct waiters *ws, ww_watcher *w, bool ready, uint64_t after, int32_t timeout_ms);
/* Joins every thread started. */
void join_waiters(struct waiters *ws);

/* `docker pause|unpause` of the Docker container given on the command line. */
bool docker_pause(bool pause);
/* `ctr tasks pause|resume` of the containerd container given on the command line. */
bool ctrd_pause(bool pause);

#endif /* WW_TEST_HARNESS_H */
