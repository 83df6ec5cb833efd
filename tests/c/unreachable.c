/*
 * Engines that cannot be reached: retry policies, call timeouts, ww_ready's
 * timeouts and messages, TCP endpoints, permission denied.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static bool test_unreachable_exponential_max_elapsed(void) {
    bool ok = true;
    ww_options o = options_for(g_dead_endpoint);
    ww_watcher *w = NULL;
    ww_status s;
    double t0, took;
    o.backoff = WW_BACKOFF_EXPONENTIAL;
    o.backoff_max_elapsed_ms = 300;
    CHECK_OK(ww_new(&o, &w));
    t0 = now_ms();
    s = ww_ready(w, 10000);
    took = now_ms() - t0;
    note("%s after %.0f ms: %s", ww_status_str(s), took, last_error());
    CHECKF(s == WW_STATUS_ENGINE, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took < 2000.0, "ww_ready took %.0f ms", took);
    CHECKF(contains(last_error(), "gave up") && contains(last_error(), g_dead_sock), "\"%s\"", last_error());
    CHECK(unsynced_snapshot_ok(w, "docker.com", g_dead_endpoint, WW_ENGINE_STATE_GAVE_UP));
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
    CHECK_OK(ww_new(&o, &w));
    t0 = now_ms();
    CHECK(ww_ready(w, 100) == WW_STATUS_TIMEOUT);
    CHECK(unsynced_snapshot_ok(w, "docker.com", g_dead_endpoint, WW_ENGINE_STATE_CONNECTING));
    s = ww_ready(w, 10000);
    took = now_ms() - t0;
    note("%s after %.0f ms: %s", ww_status_str(s), took, last_error());
    CHECKF(s == WW_STATUS_ENGINE, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took >= 300.0 && took < 2000.0, "gave up after %.0f ms", took);
    CHECKF(contains(last_error(), g_dead_sock), "\"%s\"", last_error());
    CHECK(unsynced_snapshot_ok(w, "docker.com", g_dead_endpoint, WW_ENGINE_STATE_GAVE_UP));
out:
    ww_close(w);
    return ok;
}

/* The default backoff never gives up: ww_ready times out naming the
 * trouble, the engine shows CONNECTING with the same trouble, and closing
 * while the watcher sleeps before its next retry is prompt. */
static bool test_unreachable_default_backoff_times_out(void) {
    bool ok = true;
    ww_options o = options_for(g_dead_endpoint);
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_status s;
    double t0, took;
    CHECK_OK(ww_new(&o, &w));
    t0 = now_ms();
    s = ww_ready(w, 200);
    took = now_ms() - t0;
    note("%s after %.0f ms: %s", ww_status_str(s), took, last_error());
    CHECKF(s == WW_STATUS_TIMEOUT, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took >= 190.0 && took < 2000.0, "ww_ready(200) took %.0f ms", took);
    CHECKF(contains(last_error(), g_dead_sock), "\"%s\"", last_error());
    t0 = now_ms();
    CHECK(ww_ready(w, 0) == WW_STATUS_TIMEOUT);
    CHECKF(now_ms() - t0 < 250.0, "ww_ready(0) took %.0f ms", now_ms() - t0);
    CHECK(unsynced_snapshot_ok(w, "docker.com", g_dead_endpoint, WW_ENGINE_STATE_CONNECTING));
    CHECK_OK(ww_snapshot(w, &p));
    CHECKF(p->generation >= 1, "the first failure was not published: generation %llu",
           (unsigned long long)p->generation);
    CHECKF(contains(engine0(p)->last_error, g_dead_sock) && contains(engine0(p)->last_error, strerror(ECONNREFUSED)),
           "last_error \"%s\"", engine0(p)->last_error);
    t0 = now_ms();
    ww_close(w);
    w = NULL;
    took = now_ms() - t0;
    CHECKF(took < 1000.0, "ww_close took %.0f ms", took);
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* An engine that accepts the connection but never answers: with the
 * default call timeout (10 s) the watcher is still connecting, with no
 * error and nothing published (generation 0), after 1 s; closing it with
 * the call pending is prompt. */
static bool silent_engine_keeps_connecting(ww_engine engine) {
    bool ok = true;
    ww_options o = options_for(engine == WW_ENGINE_CONTAINERD ? g_silent_sock : g_silent_endpoint);
    ww_watcher *w = NULL;
    ww_status s;
    double t0;
    o.engine = engine;
    CHECK_OK(ww_new(&o, &w));
    s = ww_ready(w, 1000);
    CHECKF(s == WW_STATUS_TIMEOUT, "%s: %s", ww_status_str(s), last_error());
    CHECKF(contains(last_error(), "ww_ready: timed out after 1000 ms: not synchronised yet"), "\"%s\"",
           last_error());
    CHECK(unsynced_snapshot_ok(w, engine == WW_ENGINE_CONTAINERD ? "containerd.io" : "docker.com", g_silent_endpoint,
                               WW_ENGINE_STATE_CONNECTING));
    t0 = now_ms();
    ww_close(w);
    w = NULL;
    CHECKF(now_ms() - t0 < 1500.0, "ww_close with an engine call pending took %.0f ms", now_ms() - t0);
out:
    ww_close(w);
    return ok;
}

static bool test_silent_engine_keeps_connecting(void) {
    bool ok = true;
    CHECK(silent_engine_keeps_connecting(WW_ENGINE_DOCKER));
    CHECK(silent_engine_keeps_connecting(WW_ENGINE_CONTAINERD));
out:
    return ok;
}

/* call_timeout_ms bounds each engine call: an engine that accepts the
 * connection but never answers makes a NONE watcher give up quickly. */
static bool call_timeout_bounds_engine_calls(ww_engine engine) {
    bool ok = true;
    ww_options o = options_for(engine == WW_ENGINE_CONTAINERD ? g_silent_sock : g_silent_endpoint);
    ww_watcher *w = NULL;
    ww_status s;
    double t0, took;
    o.engine = engine;
    o.backoff = WW_BACKOFF_NONE;
    o.call_timeout_ms = 300;
    /* From before ww_new: the first call may begin before ww_new returns. */
    t0 = now_ms();
    CHECK_OK(ww_new(&o, &w));
    s = ww_ready(w, 10000);
    took = now_ms() - t0;
    note("%s after %.0f ms: %s", ww_status_str(s), took, last_error());
    CHECKF(s == WW_STATUS_ENGINE, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took >= 250.0 && took < 2000.0, "ww_ready took %.0f ms", took);
    CHECKF(contains(last_error(), g_silent_sock), "\"%s\"", last_error());
    CHECK(unsynced_snapshot_ok(w, engine == WW_ENGINE_CONTAINERD ? "containerd.io" : "docker.com", g_silent_endpoint,
                               WW_ENGINE_STATE_GAVE_UP));
out:
    ww_close(w);
    return ok;
}

static bool test_call_timeout_bounds_engine_calls(void) {
    return call_timeout_bounds_engine_calls(WW_ENGINE_DOCKER);
}

static bool test_containerd_call_timeout_bounds_engine_calls(void) {
    return call_timeout_bounds_engine_calls(WW_ENGINE_CONTAINERD);
}

/* A TCP endpoint nobody listens on: its watcher (name resolution included)
 * leaves no thread or file descriptor behind. */
static bool test_unreachable_tcp_leaves_nothing_behind(void) {
    bool ok = true;
    static const char *const endpoints[] = {"tcp://127.0.0.1:1", "http://127.0.0.1:1/", "tcp://localhost:1"};
    size_t i;
    int base_tasks = count_dir("/proc/self/task"), base_fds = count_dir("/proc/self/fd");
    ww_watcher *w = NULL;
    for (i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        ww_options o = options_for(endpoints[i]);
        ww_status s;
        double t0;
        int tasks, fds;
        o.backoff = WW_BACKOFF_NONE;
        CHECK_OK(ww_new(&o, &w));
        s = ww_ready(w, 10000);
        CHECKF(s == WW_STATUS_ENGINE, "%s: %s: %s", endpoints[i], ww_status_str(s), last_error());
        t0 = now_ms();
        ww_close(w);
        w = NULL;
        CHECKF(now_ms() - t0 < 1000.0, "ww_close took %.0f ms", now_ms() - t0);
        if (!back_to_baseline(base_tasks, base_fds, &tasks, &fds)) {
            note("%s: baseline %d tasks / %d fds, after ww_close %d / %d", endpoints[i], base_tasks, base_fds, tasks,
                 fds);
            dump_threads_and_fds("after ww_close");
        }
        CHECK(tasks == base_tasks && fds == base_fds);
    }
out:
    ww_close(w);
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
    CHECK_OK(ww_new(&o, &w));
    t0 = now_ms();
    s = ww_ready(w, 0);
    took = now_ms() - t0;
    note("%s: ww_ready(0) at once: %s after %.0f ms: %s", endpoint, ww_status_str(s), took, last_error());
    CHECKF(s == WW_STATUS_TIMEOUT, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took < 250.0, "ww_ready(0) took %.0f ms", took);
    CHECKF(contains(last_error(), "ww_ready: timed out after 0 ms: not synchronised yet"), "\"%s\"", last_error());
    t0 = now_ms();
    s = ww_ready(w, 200);
    took = now_ms() - t0;
    note("%s: ww_ready(200): %s after %.0f ms: %s", endpoint, ww_status_str(s), took, last_error());
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
    CHECK(engine_gives_up_at_once(WW_ENGINE_DOCKER, closed_ep, closed_ep, closed, EACCES));
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

const struct test unreachable_tests[] = {
    {test_unreachable_exponential_max_elapsed, "unreachable_exponential_max_elapsed"},
    {test_unreachable_constant_max_elapsed, "unreachable_constant_max_elapsed"},
    {test_unreachable_default_backoff_times_out, "unreachable_default_backoff_times_out"},
    {test_silent_engine_keeps_connecting, "silent_engine_keeps_connecting"},
    {test_call_timeout_bounds_engine_calls, "call_timeout_bounds_engine_calls"},
    {test_containerd_call_timeout_bounds_engine_calls, "containerd_call_timeout_bounds_engine_calls"},
    {test_unreachable_tcp_leaves_nothing_behind, "unreachable_tcp_leaves_nothing_behind"},
    {test_ready_timeouts_unreachable, "ready_timeouts_unreachable"},
    {test_permission_denied, "permission_denied"},
};
DEFINE_SUITE_LEN(unreachable);
