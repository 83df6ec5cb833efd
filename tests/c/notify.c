/*
 * Change notification: ww_wait (generations, timeouts, wake-ups on real
 * changes, WW_STATUS_CLOSED for the threads waiting when ww_close comes)
 * and ww_event_fd (its properties, and poll, epoll and select waking on
 * real changes: the Docker container paused and resumed with the docker
 * CLI).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* ww_wait                                                             */
/* ------------------------------------------------------------------ */

static bool test_wait_generations_and_timeouts(void) {
    bool ok = true;
    ww_watcher *w = ready_watcher();
    const ww_portfolio *p = NULL;
    uint64_t g;
    ww_status s;
    double t0, took;
    char want[128];
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    g = p->generation;
    CHECK(g >= 1);
    /* An older generation: at once. */
    t0 = now_ms();
    CHECK_OK(ww_wait(w, g - 1, 5000));
    CHECK_OK(ww_wait(w, 0, 0));
    CHECK_OK(ww_wait(w, 0, -1));
    CHECKF(now_ms() - t0 < 500.0, "took %.0f ms", now_ms() - t0);
    /* The current one, nothing changing: TIMEOUT after the time given. */
    t0 = now_ms();
    s = ww_wait(w, g, 0);
    took = now_ms() - t0;
    CHECKF(s == WW_STATUS_TIMEOUT, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took < 250.0, "ww_wait(0) took %.0f ms", took);
    snprintf(want, sizeof want, "ww_wait: no generation after %llu within 0 ms", (unsigned long long)g);
    CHECKF(contains(last_error(), want), "\"%s\"", last_error());
    t0 = now_ms();
    s = ww_wait(w, g, 300);
    took = now_ms() - t0;
    note("ww_wait(%llu, 300): %s after %.0f ms: %s", (unsigned long long)g, ww_status_str(s), took, last_error());
    CHECKF(s == WW_STATUS_TIMEOUT, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took >= 290.0 && took < 2000.0, "ww_wait(300) took %.0f ms", took);
    snprintf(want, sizeof want, "ww_wait: no generation after %llu within 300 ms", (unsigned long long)g);
    CHECKF(contains(last_error(), want), "\"%s\"", last_error());
    s = ww_wait(w, UINT64_MAX, 50);
    CHECKF(s == WW_STATUS_TIMEOUT, "%s: %s", ww_status_str(s), last_error());
    /* Nothing was published meanwhile. */
    ww_snapshot_free(p);
    CHECK_OK(ww_snapshot(w, &p));
    CHECKF(p->generation == g, "generation %llu, then %llu", (unsigned long long)g,
           (unsigned long long)p->generation);
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* Threads blocked in ww_wait wake when the engine changes. */
static bool test_wait_wakes_on_a_change(void) {
    bool ok = true;
    ww_watcher *w = ready_watcher();
    const ww_portfolio *p = NULL;
    struct waiters ws;
    bool is_paused = false;
    double paused_at;
    int i;
    ws.n = 0;
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(has_docker_container(p));
    for (i = 0; i < 3; i++) {
        CHECK(start_waiter(&ws, w, false, p->generation, 20000));
    }
    CHECK(docker_pause(true));
    is_paused = true;
    paused_at = now_ms();
    join_waiters(&ws);
    for (i = 0; i < 3; i++) {
        CHECKF(ws.wt[i].status == WW_STATUS_OK, "waiter %d: %s: %s", i, ww_status_str(ws.wt[i].status),
               ws.wt[i].message);
        note("waiter %d woke %.0f ms after `docker pause` returned", i, ws.wt[i].returned_at - paused_at);
    }
    ww_snapshot_free(p);
    p = NULL;
    CHECK(await_container(w, g_docker.id, true, 10000, &p));
    CHECK(docker_pause(false));
    is_paused = false;
    CHECK_OK(ww_wait(w, p->generation, 10000));
    ww_snapshot_free(p);
    p = NULL;
    CHECK(await_container(w, g_docker.id, false, 10000, &p));
out:
    join_waiters(&ws);
    if (is_paused) {
        docker_pause(false);
    }
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* ww_close while threads wait in ww_ready and ww_wait (with and without a
 * time limit): they all return WW_STATUS_CLOSED, promptly, and ww_close
 * returns once they have left. Run under ASan and valgrind, this also
 * shows that neither the waiters nor ww_close touch freed memory. */
static bool close_wakes(ww_watcher *w, bool with_ready, uint64_t generation) {
    bool ok = true;
    struct waiters ws;
    double t0, took;
    int i;
    ws.n = 0;
    if (with_ready) {
        CHECK(start_waiter(&ws, w, true, 0, -1));
        CHECK(start_waiter(&ws, w, true, 0, -1));
        CHECK(start_waiter(&ws, w, true, 0, 60000));
    }
    CHECK(start_waiter(&ws, w, false, generation, -1));
    CHECK(start_waiter(&ws, w, false, generation, -1));
    CHECK(start_waiter(&ws, w, false, generation, 60000));
    t0 = now_ms();
    ww_close(w);
    w = NULL;
    took = now_ms() - t0;
    join_waiters(&ws);
    note("ww_close with %d threads waiting took %.0f ms", with_ready ? 6 : 3, took);
    CHECKF(took < 2000.0, "ww_close took %.0f ms", took);
    for (i = 0; i < (with_ready ? 6 : 3); i++) {
        const struct waiter *wt = &ws.wt[i];
        CHECKF(wt->status == WW_STATUS_CLOSED, "%s: %s: %s", wt->ready ? "ww_ready" : "ww_wait",
               ww_status_str(wt->status), wt->message);
        CHECKF(contains(wt->message, wt->ready ? "ww_ready: the watcher is shut down or closed"
                                               : "ww_wait: the watcher is shut down or closed"),
               "\"%s\"", wt->message);
        CHECKF(wt->returned_at - t0 < 2000.0, "returned %.0f ms after ww_close began", wt->returned_at - t0);
    }
out:
    if (w != NULL) {
        /* A waiter failed to block: closing now wakes the others. */
        ww_close(w);
    }
    join_waiters(&ws);
    return ok;
}

static bool test_close_wakes_waiters_of_an_unreachable_engine(void) {
    bool ok = true;
    ww_options o = options_for(g_dead_endpoint);
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    uint64_t g;
    o.backoff = WW_BACKOFF_CONSTANT;
    o.backoff_initial_ms = 50;
    CHECK_OK(ww_new(&o, &w));
    /* The first failure is published; retries that fail the same way are not. */
    CHECK(ww_ready(w, 300) == WW_STATUS_TIMEOUT);
    CHECK_OK(ww_snapshot(w, &p));
    g = p->generation;
    CHECK(engine0(p)->state == WW_ENGINE_STATE_CONNECTING && g >= 1);
    ww_snapshot_free(p);
    p = NULL;
    ok = close_wakes(w, true, g);
    w = NULL;
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

static bool test_close_wakes_waiters_of_a_synced_engine(void) {
    bool ok = true;
    ww_watcher *w = ready_watcher();
    const ww_portfolio *p = NULL;
    uint64_t g;
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    g = p->generation;
    ww_snapshot_free(p);
    p = NULL;
    ok = close_wakes(w, false, g);
    w = NULL;
    /* Still the engine it was: a new watcher sees the same container. */
    w = ready_watcher();
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(has_docker_container(p));
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* ------------------------------------------------------------------ */
/* ww_event_fd                                                         */
/* ------------------------------------------------------------------ */

enum method { POLL, EPOLL, SELECT };

static const char *method_name(enum method m) {
    return m == POLL ? "poll" : m == EPOLL ? "epoll" : "select";
}

/* Waits with `m` until `fd` is readable, at most `timeout_ms`: 1 readable,
 * 0 not, -1 error (said). */
static int readable(enum method m, int fd, int timeout_ms) {
    int r;
    if (m == POLL) {
        struct pollfd pfd;
        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        do {
            r = poll(&pfd, 1, timeout_ms);
        } while (r < 0 && errno == EINTR);
        if (r < 0) {
            note("poll: %s", strerror(errno));
            return -1;
        }
        return r > 0 && (pfd.revents & POLLIN) != 0;
    } else if (m == EPOLL) {
        struct epoll_event ev, got;
        int ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0) {
            note("epoll_create1: %s", strerror(errno));
            return -1;
        }
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            note("epoll_ctl: %s", strerror(errno));
            close(ep);
            return -1;
        }
        do {
            r = epoll_wait(ep, &got, 1, timeout_ms);
        } while (r < 0 && errno == EINTR);
        close(ep);
        if (r < 0) {
            note("epoll_wait: %s", strerror(errno));
            return -1;
        }
        return r == 1 && got.data.fd == fd && (got.events & EPOLLIN) != 0;
    } else {
        fd_set set;
        struct timeval tv;
        if (fd >= FD_SETSIZE) {
            note("fd %d too large for select", fd);
            return -1;
        }
        FD_ZERO(&set);
        FD_SET(fd, &set);
        tv.tv_sec = timeout_ms / 1000;
        tv.tv_usec = (timeout_ms % 1000) * 1000;
        do {
            r = select(fd + 1, &set, NULL, NULL, &tv);
        } while (r < 0 && errno == EINTR);
        if (r < 0) {
            note("select: %s", strerror(errno));
            return -1;
        }
        return r == 1 && FD_ISSET(fd, &set);
    }
}

/* Reads the 8 bytes that acknowledge; true when it did. */
static bool acknowledge(int fd) {
    uint64_t n = 0;
    ssize_t r;
    do {
        r = read(fd, &n, sizeof n);
    } while (r < 0 && errno == EINTR);
    if (r != (ssize_t)sizeof n || n == 0) {
        note("read of the event descriptor: %zd (%s), value %llu", r, r < 0 ? strerror(errno) : "", (unsigned long long)n);
        return false;
    }
    return true;
}

/* Nothing to acknowledge: the read fails with EAGAIN at once. */
static bool nothing_to_read(int fd) {
    uint64_t n = 0;
    ssize_t r = read(fd, &n, sizeof n);
    if (r != -1 || errno != EAGAIN) {
        note("read: %zd (%s), expected EAGAIN", r, r < 0 ? strerror(errno) : "data");
        return false;
    }
    return true;
}

/* The race-free loop users write: wait for `fd` with `m`, acknowledge, take
 * the snapshot, until the container is `paused`. The snapshot is written to
 * *out; `after` is the generation already seen. */
static bool event_loop_until(ww_watcher *w, int fd, enum method m, bool paused, uint64_t after,
                             const ww_portfolio **out) {
    bool ok = true;
    double t0 = now_ms(), until = t0 + 10000.0;
    int wakeups = 0;
    const ww_portfolio *p = NULL;
    for (;;) {
        const ww_container *c;
        int r = readable(m, fd, (int)(until - now_ms() > 0 ? until - now_ms() : 0));
        CHECKF(r == 1, "%s: the event descriptor did not become readable (%d) within 10 s", method_name(m), r);
        wakeups++;
        CHECK(acknowledge(fd));
        CHECK_OK(ww_snapshot(w, &p));
        CHECKF(p->generation > after, "woken, but generation %llu is not newer than %llu",
               (unsigned long long)p->generation, (unsigned long long)after);
        after = p->generation;
        c = find_container(p, g_docker.id);
        CHECK(c != NULL);
        if (c->paused == paused) {
            break;
        }
        ww_snapshot_free(p);
        p = NULL;
    }
    note("%s: %s seen after %d wake-up(s), %.0f ms", method_name(m), paused ? "pause" : "resume", wakeups,
         now_ms() - t0);
    *out = p;
    p = NULL;
out:
    ww_snapshot_free(p);
    return ok;
}

/* The descriptor: the same on every call (from any thread), non-blocking
 * and close-on-exec, readable at once when something was published before
 * the first call, acknowledged by reading 8 bytes (then EAGAIN). */
struct fd_job {
    ww_watcher *w;
    int fd;
    ww_status status;
};

static void *event_fd_of(void *arg) {
    struct fd_job *job = arg;
    job->status = ww_event_fd(job->w, &job->fd);
    return NULL;
}

static bool test_event_fd_properties(void) {
    bool ok = true;
    ww_watcher *w = ready_watcher();
    int fd = -1, again = -1, flags, fdflags;
    pthread_t t;
    struct fd_job job;
    CHECK(w != NULL);
    CHECK_OK(ww_event_fd(w, &fd));
    CHECK(fd >= 0);
    CHECK_OK(ww_event_fd(w, &again));
    CHECKF(again == fd, "%d, then %d", fd, again);
    job.w = w;
    job.fd = -1;
    job.status = WW_STATUS_INTERNAL;
    CHECK(pthread_create(&t, NULL, event_fd_of, &job) == 0);
    pthread_join(t, NULL);
    CHECKF(job.status == WW_STATUS_OK && job.fd == fd, "from another thread: %s, fd %d (not %d)",
           ww_status_str(job.status), job.fd, fd);
    flags = fcntl(fd, F_GETFL);
    fdflags = fcntl(fd, F_GETFD);
    CHECKF(flags >= 0 && (flags & O_NONBLOCK) != 0, "flags 0x%x: not O_NONBLOCK", flags);
    CHECKF(fdflags >= 0 && (fdflags & FD_CLOEXEC) != 0, "fd flags 0x%x: not FD_CLOEXEC", fdflags);
    /* Generation >= 1 was published before the first call: readable at once. */
    CHECK(readable(POLL, fd, 0) == 1);
    CHECK(readable(EPOLL, fd, 0) == 1);
    CHECK(readable(SELECT, fd, 0) == 1);
    CHECK(acknowledge(fd));
    CHECK(readable(POLL, fd, 0) == 0);
    CHECK(readable(EPOLL, fd, 0) == 0);
    CHECK(readable(SELECT, fd, 0) == 0);
    CHECK(nothing_to_read(fd));
out:
    ww_close(w);
    return ok;
}

/* Nothing published yet (generation 0: an engine that never answers):
 * not readable. A watcher that gave up has published that: readable. */
static bool test_event_fd_before_and_after_giving_up(void) {
    bool ok = true;
    ww_options o = options_for(g_silent_endpoint);
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    int fd = -1;
    CHECK_OK(ww_new(&o, &w));
    CHECK_OK(ww_snapshot(w, &p));
    CHECKF(p->generation == 0, "generation %llu", (unsigned long long)p->generation);
    ww_snapshot_free(p);
    p = NULL;
    CHECK_OK(ww_event_fd(w, &fd));
    CHECK(readable(POLL, fd, 100) == 0);
    CHECK(nothing_to_read(fd));
    CHECK_OK(ww_snapshot(w, &p));
    CHECKF(p->generation == 0, "generation %llu", (unsigned long long)p->generation);
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;

    o = options_for(g_dead_endpoint);
    o.backoff = WW_BACKOFF_NONE;
    CHECK_OK(ww_new(&o, &w));
    CHECK(ww_ready(w, 5000) == WW_STATUS_ENGINE);
    CHECK_OK(ww_event_fd(w, &fd));
    CHECK(readable(EPOLL, fd, 0) == 1);
    CHECK(acknowledge(fd));
    CHECK(nothing_to_read(fd));
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(engine0(p)->state == WW_ENGINE_STATE_GAVE_UP);
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* Out of descriptors, no event descriptor can be made: WW_STATUS_INTERNAL
 * naming the OS error, fd untouched; once descriptors are available again,
 * the call succeeds. */
static bool test_event_fd_out_of_descriptors(void) {
    bool ok = true;
    ww_options o = options_for(g_dead_endpoint);
    ww_watcher *w = NULL;
    struct rlimit saved, low;
    bool lowered = false;
    int fd = -7, lowest;
    ww_status s;
    o.backoff = WW_BACKOFF_NONE;
    CHECK_OK(ww_new(&o, &w));
    CHECK(ww_ready(w, 5000) == WW_STATUS_ENGINE);
    /* The watcher thread may still be closing what its attempt opened: wait
     * until the descriptors of the process stay as they are. */
    {
        int same = 0, before = count_dir("/proc/self/fd");
        double until = now_ms() + 3000.0;
        while (same < 10 && now_ms() < until) {
            int now;
            sleep_ms(20);
            now = count_dir("/proc/self/fd");
            same = now == before ? same + 1 : 0;
            before = now;
        }
        CHECK(same >= 10);
    }
    /* Every descriptor below the lowest free one is taken: a limit there
     * leaves none to make. */
    lowest = dup(0);
    CHECK(lowest >= 0);
    close(lowest);
    CHECK(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    low = saved;
    low.rlim_cur = (rlim_t)lowest;
    CHECKF(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit: %s", strerror(errno));
    lowered = true;
    s = ww_event_fd(w, &fd);
    CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
    lowered = false;
    note("with RLIMIT_NOFILE %d: %s: %s", lowest, ww_status_str(s), last_error());
    CHECKF(s == WW_STATUS_INTERNAL, "%s: %s", ww_status_str(s), last_error());
    CHECK(fd == -7);
    CHECKF(contains(last_error(), "ww_event_fd") && contains(last_error(), strerror(EMFILE)), "\"%s\"",
           last_error());
    CHECK_OK(ww_event_fd(w, &fd));
    CHECK(fd >= 0);
    CHECK(readable(POLL, fd, 0) == 1);
out:
    if (lowered) {
        setrlimit(RLIMIT_NOFILE, &saved);
    }
    ww_close(w);
    return ok;
}

/* Real changes wake poll, epoll and select: pause (poll), resume (epoll),
 * pause (select), resume (poll). After the last one is acknowledged and
 * nothing changes, nothing is readable. */
static bool test_event_fd_wakes_poll_epoll_select(void) {
    bool ok = true;
    ww_watcher *w = ready_watcher();
    const ww_portfolio *p = NULL;
    int fd = -1, step;
    bool is_paused = false;
    uint64_t seen;
    static const enum method methods[] = {POLL, EPOLL, SELECT, POLL};
    CHECK(w != NULL);
    CHECK_OK(ww_event_fd(w, &fd));
    /* The race-free order: acknowledge, then take the snapshot. */
    CHECK(acknowledge(fd));
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(has_docker_container(p));
    seen = p->generation;
    for (step = 0; step < 4; step++) {
        bool pause = step % 2 == 0;
        ww_snapshot_free(p);
        p = NULL;
        CHECK(docker_pause(pause));
        is_paused = pause;
        CHECK(event_loop_until(w, fd, methods[step], pause, seen, &p));
        seen = p->generation;
    }
    /* Quiet again: once acknowledged, nothing more to read. */
    CHECKF(ww_wait(w, seen, 200) == WW_STATUS_TIMEOUT, "published again after the resume");
    CHECK(readable(POLL, fd, 0) == 0);
    CHECK(nothing_to_read(fd));
out:
    if (is_paused) {
        docker_pause(false);
    }
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

const struct test notify_tests[] = {
    {test_wait_generations_and_timeouts, "wait_generations_and_timeouts"},
    {test_wait_wakes_on_a_change, "wait_wakes_on_a_change"},
    {test_close_wakes_waiters_of_an_unreachable_engine, "close_wakes_waiters_of_an_unreachable_engine"},
    {test_close_wakes_waiters_of_a_synced_engine, "close_wakes_waiters_of_a_synced_engine"},
    {test_event_fd_properties, "event_fd_properties"},
    {test_event_fd_before_and_after_giving_up, "event_fd_before_and_after_giving_up"},
    {test_event_fd_out_of_descriptors, "event_fd_out_of_descriptors"},
    {test_event_fd_wakes_poll_epoll_select, "event_fd_wakes_poll_epoll_select"},
};
DEFINE_SUITE_LEN(notify);
