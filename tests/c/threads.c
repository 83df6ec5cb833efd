/*
 * Threads: 8 threads taking, reading, looking up in, diffing and freeing
 * snapshots of one watcher at once; the last error is per thread.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <pthread.h>
#include <string.h>

#define SNAP_THREADS 8
#define SNAP_ROUNDS 10000

struct snap_job {
    ww_watcher *w;
    const ww_portfolio *main_snapshot; /* what the main thread holds */
    const char *engine_type;           /* what every snapshot must say */
    const char *id;                    /* a container every snapshot has */
    long failures;
    long rounds;
    size_t bytes;
};

static void *snap_worker(void *arg) {
    struct snap_job *job = arg;
    int i;
    for (i = 0; i < SNAP_ROUNDS; i++) {
        const ww_portfolio *p = NULL;
        const ww_container *c;
        if (ww_snapshot(job->w, &p) != WW_STATUS_OK || p == NULL) {
            job->failures++;
            continue;
        }
        c = ww_portfolio_find_id(p, job->id);
        if (p->generation != job->main_snapshot->generation || !streq(p->engines[0].type, job->engine_type) ||
            p->projects_len < 1 || c == NULL || ww_portfolio_find_pid(p, c->pid) != c) {
            job->failures++;
        }
        if (i % 100 == 0) {
            const ww_change *changes = NULL;
            size_t len = 1;
            if (ww_diff(job->main_snapshot, p, &changes, &len) != WW_STATUS_OK || len != 0 || changes != NULL) {
                job->failures++;
            }
            ww_changes_free(changes);
        }
        job->bytes += p->containers_len + strlen(p->engines[0].endpoint) + strlen(c != NULL ? c->name : "");
        ww_snapshot_free(p);
        job->rounds++;
    }
    return NULL;
}

/* SNAP_THREADS threads work on snapshots of a ready watcher `w` (of type
 * `engine_type`) while the main thread holds one; `expected` must still be
 * in it afterwards. Closes `w`. */
static bool concurrent_snapshots(ww_watcher *w, const char *engine_type, const struct expect *expected) {
    bool ok = true;
    const ww_portfolio *p = NULL;
    struct snap_job jobs[SNAP_THREADS];
    pthread_t threads[SNAP_THREADS];
    int i, started = 0;
    long failures = 0, rounds = 0;
    double t0;
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    t0 = now_ms();
    for (i = 0; i < SNAP_THREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].w = w;
        jobs[i].main_snapshot = p;
        jobs[i].engine_type = engine_type;
        jobs[i].id = expected->id;
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
    note("%d threads x %d snapshots in %.0f ms", started, SNAP_ROUNDS, now_ms() - t0);
    CHECK(started == SNAP_THREADS);
    CHECKF(failures == 0, "%ld failures", failures);
    CHECK(rounds == (long)SNAP_THREADS * SNAP_ROUNDS);
    /* The main thread's reference survived all that, and the watcher too. */
    CHECK(has_container(p, expected));
    ww_close(w);
    w = NULL;
    CHECK(has_container(p, expected));
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

static bool test_concurrent_snapshots(void) {
    return concurrent_snapshots(ready_watcher(), "docker.com", &g_docker);
}

static bool test_containerd_concurrent_snapshots(void) {
    NEEDS_CONTAINERD();
    return concurrent_snapshots(ctrd_ready_watcher(NULL), "containerd.io", &g_ctrd);
}

/* ------------------------------------------------------------------ */
/* The last error is per thread                                        */
/* ------------------------------------------------------------------ */

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
    CHECKF(streq(ww_last_error_message(), mine), "main thread's message changed to \"%s\"", ww_last_error_message());
    CHECK(ww_last_error_message() == before);
out:
    return ok;
}

#define ERROR_THREADS 8
#define ERROR_ROUNDS 2000

struct error_job {
    int index;
    pthread_mutex_t *lock;
    pthread_cond_t *go;
    bool *started;
    long wrong;
    char example[256];
};

/* Each thread fails ww_new with its own struct_size (1..8) and must read
 * back its own message, while the others do the same. */
static void *error_worker(void *arg) {
    struct error_job *job = arg;
    ww_options o;
    char want[64];
    int i;
    pthread_mutex_lock(job->lock);
    while (!*job->started) {
        pthread_cond_wait(job->go, job->lock);
    }
    pthread_mutex_unlock(job->lock);
    ww_options_init(&o, sizeof o);
    o.struct_size = (uint32_t)(job->index + 1);
    snprintf(want, sizeof want, "struct_size is %d;", job->index + 1);
    for (i = 0; i < ERROR_ROUNDS; i++) {
        ww_watcher *w = NULL;
        const char *m;
        if (ww_new(&o, &w) != WW_STATUS_ABI_MISMATCH) {
            job->wrong++;
            ww_close(w);
            continue;
        }
        m = ww_last_error_message();
        if (!contains(m, want)) {
            job->wrong++;
            snprintf(job->example, sizeof job->example, "%s", m != NULL ? m : "(NULL)");
        }
    }
    return NULL;
}

static bool test_last_error_per_thread_under_contention(void) {
    bool ok = true;
    struct error_job jobs[ERROR_THREADS];
    pthread_t threads[ERROR_THREADS];
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t go = PTHREAD_COND_INITIALIZER;
    bool started = false;
    int i, n = 0;
    long wrong = 0;
    char mine[512];
    CHECK(ww_wait(NULL, 0, 0) == WW_STATUS_NULL_ARG);
    snprintf(mine, sizeof mine, "%s", last_error());
    for (i = 0; i < ERROR_THREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].index = i;
        jobs[i].lock = &lock;
        jobs[i].go = &go;
        jobs[i].started = &started;
        if (pthread_create(&threads[i], NULL, error_worker, &jobs[i]) != 0) {
            break;
        }
        n++;
    }
    pthread_mutex_lock(&lock);
    started = true;
    pthread_cond_broadcast(&go);
    pthread_mutex_unlock(&lock);
    for (i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        wrong += jobs[i].wrong;
        if (jobs[i].wrong > 0) {
            note("thread %d: %ld wrong, e.g. \"%s\"", i, jobs[i].wrong, jobs[i].example);
        }
    }
    CHECK(n == ERROR_THREADS);
    CHECKF(wrong == 0, "%ld of %d messages were another thread's", wrong, ERROR_THREADS * ERROR_ROUNDS);
    CHECKF(streq(last_error(), mine), "the main thread's message became \"%s\"", last_error());
out:
    return ok;
}

const struct test threads_tests[] = {
    {test_concurrent_snapshots, "concurrent_snapshots"},
    {test_containerd_concurrent_snapshots, "containerd_concurrent_snapshots"},
    {test_last_error_is_thread_local, "last_error_is_thread_local"},
    {test_last_error_per_thread_under_contention, "last_error_per_thread_under_contention"},
};
DEFINE_SUITE_LEN(threads);
