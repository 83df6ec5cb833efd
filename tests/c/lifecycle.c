/*
 * Lifecycle: a watcher's life leaves no thread and no descriptor behind
 * (its event descriptor included), and snapshots outlive their watcher.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* A watcher's whole life (create, sync, snapshot, close) leaves no thread
 * and no file descriptor behind, not even the first watcher of the
 * process; from the second round on the watcher's event descriptor is used
 * too, and ww_close must close it. */
static bool threads_and_fds_return_to_baseline(ww_watcher *(*make_ready_watcher)(void)) {
    bool ok = true;
    int round;
    int base_tasks = count_dir("/proc/self/task"), base_fds = count_dir("/proc/self/fd");
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    CHECK(base_tasks >= 1 && base_fds >= 1);
    for (round = 0; round < 3; round++) {
        int tasks = -1, fds = -1, during_tasks, during_fds, event_fd = -1;
        bool back;
        w = make_ready_watcher();
        CHECK(w != NULL);
        CHECK_OK(ww_snapshot(w, &p));
        CHECK(p->generation >= 1);
        if (round > 0) {
            uint64_t n = 0;
            CHECK_OK(ww_event_fd(w, &event_fd));
            CHECK(event_fd >= 0);
            CHECKF(read(event_fd, &n, sizeof n) == (ssize_t)sizeof n, "read: %s", strerror(errno));
        }
        during_tasks = count_dir("/proc/self/task");
        during_fds = count_dir("/proc/self/fd");
        CHECKF(during_tasks > base_tasks, "the watcher runs no thread of its own? %d tasks", during_tasks);
        ww_close(w);
        w = NULL;
        if (event_fd >= 0) {
            /* Nothing else runs now, so nothing can have reused the number. */
            CHECKF(fcntl(event_fd, F_GETFD) == -1 && errno == EBADF, "event descriptor %d still open after ww_close",
                   event_fd);
        }
        ww_snapshot_free(p);
        p = NULL;
        back = back_to_baseline(base_tasks, base_fds, &tasks, &fds);
        note("round %d%s: %d tasks / %d fds before ww_new, %d / %d while watching, %d / %d after ww_close", round,
             event_fd >= 0 ? " (event fd used)" : "", base_tasks, base_fds, during_tasks, during_fds, tasks, fds);
        if (!back) {
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

static ww_watcher *ctrd_default_ready_watcher(void) {
    return ctrd_ready_watcher(NULL);
}

static bool test_containerd_threads_and_fds_return_to_baseline(void) {
    NEEDS_CONTAINERD();
    return threads_and_fds_return_to_baseline(ctrd_default_ready_watcher);
}

/* A watcher that never reached its engine, closed while it retries, with
 * its event descriptor in use: nothing left behind either. */
static bool test_unsynced_watcher_returns_to_baseline(void) {
    bool ok = true;
    int base_tasks = count_dir("/proc/self/task"), base_fds = count_dir("/proc/self/fd");
    int tasks = -1, fds = -1, event_fd = -1;
    ww_options o = options_for(g_dead_endpoint);
    ww_watcher *w = NULL;
    double t0;
    o.backoff = WW_BACKOFF_CONSTANT;
    o.backoff_initial_ms = 50;
    CHECK_OK(ww_new(&o, &w));
    CHECK_OK(ww_event_fd(w, &event_fd));
    CHECK(ww_ready(w, 200) == WW_STATUS_TIMEOUT);
    t0 = now_ms();
    ww_close(w);
    w = NULL;
    CHECKF(now_ms() - t0 < 1000.0, "ww_close took %.0f ms", now_ms() - t0);
    CHECKF(fcntl(event_fd, F_GETFD) == -1 && errno == EBADF, "event descriptor %d still open after ww_close",
           event_fd);
    if (!back_to_baseline(base_tasks, base_fds, &tasks, &fds)) {
        note("baseline %d tasks / %d fds, after ww_close %d / %d", base_tasks, base_fds, tasks, fds);
        dump_threads_and_fds("after ww_close");
    }
    CHECK(tasks == base_tasks && fds == base_fds);
out:
    ww_close(w);
    return ok;
}

static bool test_snapshot_outlives_close(void) {
    bool ok = true;
    ww_watcher *w = ready_watcher();
    const ww_portfolio *p = NULL, *unsynced = NULL;
    size_t before, after;
    ww_options o = options_for(g_dead_endpoint);
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    before = touch_all_strings(p);
    ww_close(w);
    w = NULL;
    after = touch_all_strings(p);
    CHECK(before == after);
    CHECK(portfolio_invariants(p, "docker.com", g_endpoint));
    CHECK(has_docker_container(p));
    CHECK(engine0(p)->state == WW_ENGINE_STATE_SYNCED);
    /* Lookups work on it too. */
    CHECK(ww_portfolio_find_id(p, g_docker.id) == find_container(p, g_docker.id));
    ww_snapshot_free(p);
    p = NULL;
    /* The same for the empty snapshot of a watcher that never synchronised. */
    CHECK_OK(ww_new(&o, &w));
    CHECK_OK(ww_snapshot(w, &unsynced));
    ww_close(w);
    w = NULL;
    CHECK(portfolio_invariants(unsynced, "docker.com", g_dead_endpoint));
    CHECK(unsynced->containers_len == 0 && streq(unsynced->projects[0].name, ""));
    CHECK(engine0(unsynced)->state == WW_ENGINE_STATE_CONNECTING);
    touch_all_strings(unsynced);
out:
    ww_snapshot_free(unsynced);
    ww_snapshot_free(p);
    ww_close(w);
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
    CHECK_OK(ww_snapshot(w, &p));
    before = touch_all_strings(p);
    ww_close(w);
    w = NULL;
    after = touch_all_strings(p);
    CHECK(before == after);
    CHECK(ctrd_portfolio_invariants(p, g_ctrd_url, "moby,k8s.io"));
    CHECK(has_ctrd_containers(p, false));
    CHECK(engine0(p)->pid > 0 && engine0(p)->state == WW_ENGINE_STATE_SYNCED);
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

static bool test_back_to_back_snapshots(void) {
    bool ok = true;
    ww_watcher *w = ready_watcher();
    const ww_portfolio *a = NULL, *b = NULL;
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &a));
    CHECK_OK(ww_snapshot(w, &b));
    CHECK(a != NULL && b != NULL);
    CHECKF(a->generation == b->generation, "%llu then %llu", (unsigned long long)a->generation,
           (unsigned long long)b->generation);
    CHECK(a->containers_len == b->containers_len);
    if (a == b) {
        note("(both snapshots are the same object)");
    }
    /* Freed in the other order, one of them after ww_close. */
    ww_snapshot_free(b);
    b = NULL;
    ww_close(w);
    w = NULL;
    CHECK(has_docker_container(a));
out:
    ww_snapshot_free(a);
    ww_snapshot_free(b);
    ww_close(w);
    return ok;
}

const struct test lifecycle_tests[] = {
    /* First, before any other watcher exists in this process. */
    {test_threads_and_fds_return_to_baseline, "threads_and_fds_return_to_baseline"},
    {test_containerd_threads_and_fds_return_to_baseline, "containerd_threads_and_fds_return_to_baseline"},
    {test_unsynced_watcher_returns_to_baseline, "unsynced_watcher_returns_to_baseline"},
    {test_snapshot_outlives_close, "snapshot_outlives_close"},
    {test_containerd_snapshot_outlives_close, "containerd_snapshot_outlives_close"},
    {test_back_to_back_snapshots, "back_to_back_snapshots"},
};
DEFINE_SUITE_LEN(lifecycle);
