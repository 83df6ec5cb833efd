/*
 * ww_shutdown: stopping the threads that use a watcher, then joining them,
 * then ww_close. Consumer threads that loop on ww_snapshot and ww_wait
 * with no or short timeouts, threads blocked in ww_wait and ww_ready, and
 * a thread in poll on the event descriptor all end; later waits answer
 * WW_STATUS_CLOSED at once; snapshots keep working. Run under ASan and
 * valgrind, this also shows that nothing touches freed memory.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Consumers                                                           */
/* ------------------------------------------------------------------ */

/* What the threads of one test share: a lock and a condition variable
 * signalled whenever a thread makes progress or ends. */
struct crew {
    pthread_mutex_t lock;
    pthread_cond_t progress;
};

/* A thread looping the way a consumer does: take the snapshot, read it,
 * free it, ww_wait for the next generation (0: just look, else a few ms),
 * until ww_wait says anything but OK or TIMEOUT. */
struct consumer {
    struct crew *crew;
    ww_watcher *w;
    int32_t wait_ms;
    const char *expect_id; /* a container every snapshot must hold; NULL: none */
    /* Under crew->lock: */
    long rounds;
    bool done;
    long bad; /* failed snapshots, snapshots without expect_id, other statuses */
    ww_status last;
    char message[256];
    char example[256];
};

static void *consume(void *arg) {
    struct consumer *c = arg;
    long bad = 0;
    char example[256] = "";
    for (;;) {
        const ww_portfolio *p = NULL;
        uint64_t generation = 0;
        ww_status s = ww_snapshot(c->w, &p);
        if (s != WW_STATUS_OK || p == NULL) {
            bad++;
            snprintf(example, sizeof example, "ww_snapshot: %s: %s", ww_status_str(s), ww_last_error_message());
        } else {
            generation = p->generation;
            if (touch_all_strings(p) == 0 ||
                (c->expect_id != NULL && ww_portfolio_find_id(p, c->expect_id) == NULL)) {
                bad++;
                snprintf(example, sizeof example, "generation %llu: %zu containers, %s missing",
                         (unsigned long long)p->generation, p->containers_len,
                         c->expect_id != NULL ? c->expect_id : "-");
            }
            ww_snapshot_free(p);
        }
        s = ww_wait(c->w, generation, c->wait_ms);
        pthread_mutex_lock(&c->crew->lock);
        if (s == WW_STATUS_OK || s == WW_STATUS_TIMEOUT) {
            c->rounds++;
        } else {
            c->last = s;
            snprintf(c->message, sizeof c->message, "%s", ww_last_error_message());
            c->done = true;
        }
        c->bad = bad;
        snprintf(c->example, sizeof c->example, "%s", example);
        pthread_cond_broadcast(&c->crew->progress);
        pthread_mutex_unlock(&c->crew->lock);
        if (s != WW_STATUS_OK && s != WW_STATUS_TIMEOUT) {
            return NULL;
        }
    }
}

/* A thread in poll() on the event descriptor, at most 10 s. */
struct poller {
    struct crew *crew;
    int fd;
    pid_t tid;
    bool started, done;
    int result; /* poll's: 1 readable, 0 timed out, -1 error */
    short revents;
    double returned_at;
};

static void *poll_fd(void *arg) {
    struct poller *pl = arg;
    struct pollfd pfd;
    int r;
    pthread_mutex_lock(&pl->crew->lock);
    pl->tid = current_tid();
    pl->started = true;
    pthread_cond_broadcast(&pl->crew->progress);
    pthread_mutex_unlock(&pl->crew->lock);
    pfd.fd = pl->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    do {
        r = poll(&pfd, 1, 10000);
    } while (r < 0 && errno == EINTR);
    pthread_mutex_lock(&pl->crew->lock);
    pl->result = r;
    pl->revents = pfd.revents;
    pl->returned_at = now_ms();
    pl->done = true;
    pthread_cond_broadcast(&pl->crew->progress);
    pthread_mutex_unlock(&pl->crew->lock);
    return NULL;
}

/* Waits (at most `timeout_ms`) until every consumer has done `rounds`
 * rounds, or (rounds < 0) has ended; true when they have. */
static bool consumers_reach(struct crew *crew, struct consumer *cs, int n, long rounds, double timeout_ms) {
    double until = now_ms() + timeout_ms;
    bool reached = false;
    pthread_mutex_lock(&crew->lock);
    for (;;) {
        int i;
        reached = true;
        for (i = 0; i < n; i++) {
            reached = reached && (rounds < 0 ? cs[i].done : cs[i].rounds >= rounds || cs[i].done);
        }
        if (reached || now_ms() >= until) {
            break;
        }
        {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&crew->progress, &crew->lock, &ts);
        }
    }
    pthread_mutex_unlock(&crew->lock);
    return reached;
}

/* Every consumer ended on WW_STATUS_CLOSED, having seen nothing wrong. */
static bool consumers_closed(struct crew *crew, struct consumer *cs, int n) {
    bool ok = true;
    int i;
    pthread_mutex_lock(&crew->lock);
    for (i = 0; i < n; i++) {
        CHECKF(cs[i].done && cs[i].last == WW_STATUS_CLOSED, "consumer %d (ww_wait %d ms): %s: %s", i,
               (int)cs[i].wait_ms, cs[i].done ? ww_status_str(cs[i].last) : "still running", cs[i].message);
        CHECKF(contains(cs[i].message, "ww_wait") && contains(cs[i].message, "closed"), "consumer %d: \"%s\"", i,
               cs[i].message);
        CHECKF(cs[i].bad == 0, "consumer %d: %ld bad rounds, e.g. %s", i, cs[i].bad, cs[i].example);
    }
out:
    pthread_mutex_unlock(&crew->lock);
    return ok;
}

/* WW_STATUS_CLOSED at once from ww_wait and ww_ready (given 5 s). */
static bool later_waits_closed(ww_watcher *w, uint64_t generation) {
    bool ok = true;
    double t0 = now_ms();
    ww_status s;
    s = ww_wait(w, generation, 5000);
    CHECKF(s == WW_STATUS_CLOSED, "ww_wait(current generation): %s: %s", ww_status_str(s), last_error());
    CHECKF(contains(last_error(), "ww_wait"), "\"%s\"", last_error());
    s = ww_wait(w, 0, 5000);
    CHECKF(s == WW_STATUS_CLOSED, "ww_wait(0): %s: %s", ww_status_str(s), last_error());
    s = ww_wait(w, UINT64_MAX, 0);
    CHECKF(s == WW_STATUS_CLOSED, "ww_wait(UINT64_MAX, 0): %s: %s", ww_status_str(s), last_error());
    s = ww_ready(w, 5000);
    CHECKF(s == WW_STATUS_CLOSED, "ww_ready: %s: %s", ww_status_str(s), last_error());
    CHECKF(contains(last_error(), "ww_ready"), "\"%s\"", last_error());
    s = ww_ready(w, 0);
    CHECKF(s == WW_STATUS_CLOSED, "ww_ready(0): %s: %s", ww_status_str(s), last_error());
    CHECKF(now_ms() - t0 < 1000.0, "the waits after ww_shutdown took %.0f ms", now_ms() - t0);
out:
    return ok;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

#define CONSUMERS 3

/* A synchronised watcher used by consumers looping on ww_snapshot and
 * ww_wait (0, 1 and 5 ms), two threads blocked in ww_wait and one in poll
 * on the event descriptor: ww_shutdown from the main thread ends them
 * all; then they are joined and the watcher closed. The watcher watches
 * no more (a pause is not seen), its snapshot stays, and its life leaves
 * no thread or descriptor behind. */
static bool test_shutdown_stops_consumers_of_a_synced_engine(void) {
    bool ok = true;
    int base_tasks = count_dir("/proc/self/task"), base_fds = count_dir("/proc/self/fd");
    int tasks = -1, fds = -1, fd = -1, again = -1, i, started = 0;
    struct crew crew;
    struct consumer cs[CONSUMERS];
    pthread_t threads[CONSUMERS], poll_thread;
    struct poller pl;
    bool poll_started = false, is_paused = false, joined = false;
    struct waiters ws;
    static const int32_t waits[CONSUMERS] = {0, 1, 5};
    ww_watcher *w = ready_watcher();
    const ww_portfolio *p = NULL, *after = NULL;
    uint64_t generation, n = 0;
    double t0;
    ws.n = 0;
    pthread_mutex_init(&crew.lock, NULL);
    pthread_cond_init(&crew.progress, NULL);
    memset(cs, 0, sizeof cs);
    memset(&pl, 0, sizeof pl);
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(has_docker_container(p));
    generation = p->generation;
    CHECK_OK(ww_event_fd(w, &fd));
    CHECK(read(fd, &n, sizeof n) == (ssize_t)sizeof n); /* acknowledged: not readable now */
    for (i = 0; i < CONSUMERS; i++) {
        cs[i].crew = &crew;
        cs[i].w = w;
        cs[i].wait_ms = waits[i];
        cs[i].expect_id = g_docker.id;
        CHECK(pthread_create(&threads[i], NULL, consume, &cs[i]) == 0);
        started++;
    }
    CHECK(start_waiter(&ws, w, false, generation, -1));
    CHECK(start_waiter(&ws, w, false, generation, 60000));
    pl.crew = &crew;
    pl.fd = fd;
    CHECK(pthread_create(&poll_thread, NULL, poll_fd, &pl) == 0);
    poll_started = true;
    pthread_mutex_lock(&crew.lock);
    while (!pl.started) {
        pthread_cond_wait(&crew.progress, &crew.lock);
    }
    pthread_mutex_unlock(&crew.lock);
    CHECKF(consumers_reach(&crew, cs, CONSUMERS, 20, 10000.0),
           "the consumers did not run: rounds %ld, %ld, %ld; done %d, %d, %d; bad %ld, %ld, %ld (%s)", cs[0].rounds,
           cs[1].rounds, cs[2].rounds, cs[0].done, cs[1].done, cs[2].done, cs[0].bad, cs[1].bad, cs[2].bad,
           cs[0].example[0] ? cs[0].example : cs[1].example[0] ? cs[1].example : cs[2].example);
    t0 = now_ms();
    ww_shutdown(w);
    CHECKF(now_ms() - t0 < 500.0, "ww_shutdown took %.0f ms", now_ms() - t0);
    CHECKF(consumers_reach(&crew, cs, CONSUMERS, -1, 5000.0), "consumers still running 5 s after ww_shutdown");
    for (i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
    }
    started = 0;
    join_waiters(&ws);
    pthread_join(poll_thread, NULL);
    poll_started = false;
    joined = true;
    note("rounds before ww_shutdown stopped them: %ld (0 ms), %ld (1 ms), %ld (5 ms)", cs[0].rounds, cs[1].rounds,
         cs[2].rounds);
    CHECK(consumers_closed(&crew, cs, CONSUMERS));
    for (i = 0; i < 2; i++) {
        CHECKF(ws.wt[i].status == WW_STATUS_CLOSED, "waiter %d: %s: %s", i, ww_status_str(ws.wt[i].status),
               ws.wt[i].message);
        CHECKF(contains(ws.wt[i].message, "ww_wait: the watcher is shut down or closed"), "\"%s\"",
               ws.wt[i].message);
        CHECKF(ws.wt[i].returned_at - t0 < 2000.0, "waiter %d returned %.0f ms after ww_shutdown", i,
               ws.wt[i].returned_at - t0);
    }
    CHECKF(pl.result == 1 && (pl.revents & POLLIN) != 0, "poll: %d, revents 0x%x", pl.result, (unsigned)pl.revents);
    CHECKF(pl.returned_at - t0 < 2000.0, "poll returned %.0f ms after ww_shutdown", pl.returned_at - t0);
    /* Afterwards: waits answer CLOSED at once, the descriptor stays the
     * same, the snapshot stays, and shutting down again changes nothing. */
    CHECK(later_waits_closed(w, generation));
    CHECK_OK(ww_event_fd(w, &again));
    CHECK(again == fd);
    ww_shutdown(w);
    CHECK(later_waits_closed(w, generation));
    CHECK_OK(ww_snapshot(w, &after));
    CHECK(has_docker_container(after));
    CHECK(portfolio_invariants(after, "docker.com", g_endpoint));
    generation = after->generation;
    ww_snapshot_free(after);
    after = NULL;
    /* It watches no more: a pause is not published. */
    CHECK(docker_pause(true));
    is_paused = true;
    sleep_ms(300);
    CHECK_OK(ww_snapshot(w, &after));
    CHECKF(after->generation == generation, "generation %llu after ww_shutdown, then %llu",
           (unsigned long long)generation, (unsigned long long)after->generation);
    CHECK(has_docker_container(after));
    CHECK(docker_pause(false));
    is_paused = false;
    t0 = now_ms();
    ww_close(w);
    w = NULL;
    CHECKF(now_ms() - t0 < 2000.0, "ww_close took %.0f ms", now_ms() - t0);
    ww_snapshot_free(p);
    p = NULL;
    ww_snapshot_free(after);
    after = NULL;
    if (!back_to_baseline(base_tasks, base_fds, &tasks, &fds)) {
        note("baseline %d tasks / %d fds, after ww_close %d / %d", base_tasks, base_fds, tasks, fds);
        dump_threads_and_fds("after ww_close");
    }
    CHECK(tasks == base_tasks && fds == base_fds);
out:
    if (is_paused) {
        docker_pause(false);
    }
    if (!joined && w != NULL) {
        /* Something did not stop: wake it, join, close. */
        ww_shutdown(w);
        for (i = 0; i < started; i++) {
            pthread_join(threads[i], NULL);
        }
        join_waiters(&ws);
        if (poll_started) {
            pthread_join(poll_thread, NULL);
        }
    }
    ww_snapshot_free(p);
    ww_snapshot_free(after);
    ww_close(w);
    pthread_mutex_destroy(&crew.lock);
    pthread_cond_destroy(&crew.progress);
    return ok;
}

struct shutter {
    ww_watcher *w;
    long delay_ms;
};

static void *shut_down_later(void *arg) {
    struct shutter *sh = arg;
    sleep_ms(sh->delay_ms);
    ww_shutdown(sh->w);
    return NULL;
}

/* Threads blocked in ww_ready and ww_wait on a watcher that never reaches
 * its engine, woken by ww_shutdown from another thread: all return
 * WW_STATUS_CLOSED; the descriptor polls readable; then ww_close. */
static bool test_shutdown_from_another_thread_wakes_ready_and_wait(void) {
    bool ok = true;
    ww_options o = options_for(g_dead_endpoint);
    ww_watcher *w = NULL;
    struct waiters ws;
    struct shutter sh;
    pthread_t t;
    bool t_started = false;
    struct pollfd pfd;
    int fd = -1, i;
    uint64_t n = 0;
    double t0;
    ws.n = 0;
    o.backoff = WW_BACKOFF_CONSTANT;
    o.backoff_initial_ms = 50;
    CHECK_OK(ww_new(&o, &w));
    CHECK_OK(ww_event_fd(w, &fd));
    CHECK(ww_ready(w, 200) == WW_STATUS_TIMEOUT);
    while (read(fd, &n, sizeof n) == (ssize_t)sizeof n) {
        /* acknowledge what was published */
    }
    CHECK(start_waiter(&ws, w, true, 0, -1));
    CHECK(start_waiter(&ws, w, true, 0, 60000));
    CHECK(start_waiter(&ws, w, false, UINT64_MAX, -1));
    CHECK(start_waiter(&ws, w, false, UINT64_MAX, 60000));
    sh.w = w;
    sh.delay_ms = 0;
    t0 = now_ms();
    CHECK(pthread_create(&t, NULL, shut_down_later, &sh) == 0);
    t_started = true;
    pthread_join(t, NULL);
    t_started = false;
    join_waiters(&ws);
    for (i = 0; i < 4; i++) {
        const struct waiter *wt = &ws.wt[i];
        CHECKF(wt->status == WW_STATUS_CLOSED, "%s: %s: %s", wt->ready ? "ww_ready" : "ww_wait",
               ww_status_str(wt->status), wt->message);
        CHECKF(contains(wt->message, wt->ready ? "ww_ready: the watcher is shut down or closed"
                                               : "ww_wait: the watcher is shut down or closed"),
               "\"%s\"", wt->message);
        CHECKF(wt->returned_at - t0 < 2000.0, "returned %.0f ms after ww_shutdown", wt->returned_at - t0);
    }
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    CHECKF(poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN) != 0, "the event descriptor is not readable");
    CHECK(later_waits_closed(w, 0));
    CHECK(unsynced_snapshot_ok(w, "docker.com", g_dead_endpoint, WW_ENGINE_STATE_CONNECTING));
out:
    if (t_started) {
        pthread_join(t, NULL);
    }
    if (ws.n > 0) {
        ww_shutdown(w);
        join_waiters(&ws);
    }
    ww_close(w);
    return ok;
}

/* A consumer whose thread gets to ww_event_fd only after ww_shutdown (of
 * a watcher that has published nothing: its engine never answers) must
 * still find the descriptor readable, or its poll would never return. */
static bool test_event_fd_taken_after_shutdown_is_readable(void) {
    bool ok = true;
    ww_options o = options_for(g_silent_endpoint);
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    struct pollfd pfd;
    int fd = -1, r;
    CHECK_OK(ww_new(&o, &w));
    ww_shutdown(w);
    CHECK_OK(ww_snapshot(w, &p));
    note("generation %llu at ww_shutdown", (unsigned long long)p->generation);
    CHECK(ww_wait(w, p->generation, 0) == WW_STATUS_CLOSED);
    CHECK_OK(ww_event_fd(w, &fd));
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    r = poll(&pfd, 1, 1000);
    CHECKF(r == 1 && (pfd.revents & POLLIN) != 0,
           "poll of a descriptor taken after ww_shutdown: %d (not readable within 1 s): a consumer polling it "
           "would never learn that the watcher was shut down",
           r);
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* Rounds of test_shutdown_at_any_moment (fewer under valgrind, which
 * slows each many times). */
#define RACE_ROUNDS 20
#define RACE_ROUNDS_VALGRIND 8

/* ww_shutdown at any moment of a watcher's life (just made, connecting,
 * synchronising, synchronised), from two threads at once, while
 * consumers loop on it: every consumer ends with WW_STATUS_CLOSED, then
 * the watcher is closed. Half the rounds at the real engine, half at a
 * socket nobody listens on (retried every 5 ms). */
static bool test_shutdown_at_any_moment(void) {
    bool ok = true;
    struct crew crew;
    struct consumer cs[CONSUMERS];
    pthread_t threads[CONSUMERS], t;
    struct shutter sh;
    static const int32_t waits[CONSUMERS] = {0, 1, 0};
    ww_watcher *w = NULL;
    int round, i, started = 0, n_rounds = under_valgrind() ? RACE_ROUNDS_VALGRIND : RACE_ROUNDS;
    bool t_started = false;
    long rounds = 0;
    pthread_mutex_init(&crew.lock, NULL);
    pthread_cond_init(&crew.progress, NULL);
    for (round = 0; round < n_rounds; round++) {
        ww_options o = options_for(round % 2 == 0 ? g_endpoint : g_dead_endpoint);
        o.backoff = WW_BACKOFF_CONSTANT;
        o.backoff_initial_ms = 5;
        CHECK_OK(ww_new(&o, &w));
        memset(cs, 0, sizeof cs);
        for (i = 0; i < CONSUMERS; i++) {
            cs[i].crew = &crew;
            cs[i].w = w;
            cs[i].wait_ms = waits[i];
            CHECK(pthread_create(&threads[i], NULL, consume, &cs[i]) == 0);
            started++;
        }
        sh.w = w;
        sh.delay_ms = round % 5;
        CHECK(pthread_create(&t, NULL, shut_down_later, &sh) == 0);
        t_started = true;
        sleep_ms(round % 4);
        ww_shutdown(w);
        pthread_join(t, NULL);
        t_started = false;
        CHECKF(consumers_reach(&crew, cs, CONSUMERS, -1, 5000.0), "round %d: consumers still running 5 s after "
               "ww_shutdown", round);
        for (i = 0; i < started; i++) {
            pthread_join(threads[i], NULL);
        }
        started = 0;
        CHECKF(consumers_closed(&crew, cs, CONSUMERS), "round %d", round);
        for (i = 0; i < CONSUMERS; i++) {
            rounds += cs[i].rounds;
        }
        ww_close(w);
        w = NULL;
    }
    note("%d watchers shut down, their consumers' rounds %ld in all", n_rounds, rounds);
out:
    if (w != NULL) {
        ww_shutdown(w);
        if (t_started) {
            pthread_join(t, NULL);
        }
        for (i = 0; i < started; i++) {
            pthread_join(threads[i], NULL);
        }
        ww_close(w);
    }
    pthread_mutex_destroy(&crew.lock);
    pthread_cond_destroy(&crew.progress);
    return ok;
}

const struct test shutdown_tests[] = {
    {test_shutdown_stops_consumers_of_a_synced_engine, "shutdown_stops_consumers_of_a_synced_engine"},
    {test_shutdown_from_another_thread_wakes_ready_and_wait, "shutdown_from_another_thread_wakes_ready_and_wait"},
    {test_event_fd_taken_after_shutdown_is_readable, "event_fd_taken_after_shutdown_is_readable"},
    {test_shutdown_at_any_moment, "shutdown_at_any_moment"},
};
DEFINE_SUITE_LEN(shutdown);
