/*
 * 8 threads taking, comparing and freeing snapshots while events churn: a
 * workload for thread checkers (valgrind helgrind / drd, ThreadSanitizer).
 *
 * Usage: churn ENDPOINT [ITERATIONS [CHURN_SECONDS]]
 *
 * ENDPOINT is a Docker engine (e.g. unix:///tmp/wwth-d/docker.sock from
 * tests/engines/dockerd.sh) with the image busybox:local. ITERATIONS
 * (default 200) is the least number of snapshots each reader thread takes;
 * CHURN_SECONDS (default 5) how long the main thread changes containers.
 * DOCKER_CLI (default "docker") is the client run, through system(), as
 * `$DOCKER_CLI -H ENDPOINT ...`.
 *
 * What it does:
 *   1. starts SEEDS containers (`--network none`, labelled with this run's
 *      tag, some in a compose project), then ww_new + ww_ready (30 s);
 *   2. starts THREADS threads: THREADS - 1 readers and one follower.
 *      Each reader, at least ITERATIONS times and for as long as the churn
 *      lasts: ww_snapshot, reads every engine and every container (a
 *      checksum, and structural checks), looks every container up again
 *      with ww_portfolio_find_id and ww_portfolio_find_pid, calls
 *      ww_ready(w, 0) and ww_wait(w, generation, 0), and ww_snapshot_free.
 *      Every 8th iteration it swaps a second snapshot through a
 *      mutex-protected slot, so snapshots are also read and freed on a
 *      thread other than the one that took them. The follower, for as long
 *      as the churn lasts: ww_wait for a generation newer than its last
 *      snapshot, ww_snapshot, ww_diff against the last snapshot (every change
 *      checked against both snapshots), ww_changes_free, ww_snapshot_free of
 *      the older one;
 *   3. meanwhile the main thread churns: pause, unpause, kill, run, in turn
 *      over the seeded containers, for CHURN_SECONDS;
 *   4. joins the threads, waits (60 s at most) until the snapshot shows
 *      exactly the run's containers that are alive, with their paused state;
 *   5. holds a snapshot across ww_close and reads it afterwards;
 *   6. removes the run's containers.
 *
 * Prints one line per check, "ok" or "FAILED", and finally
 * "N passed, N failed". Exits 1 if a check failed, 2 on a bad command line.
 *
 *        churn --selftest=c ENDPOINT
 *        churn --selftest=free ENDPOINT
 *
 * Deliberately racy programs, to show that a race detector set up for the
 * run above does see races (a clean run means something only then); they
 * must be reported, and the program itself exits 0:
 *   c     two threads increment one counter without a lock: a race in C;
 *   free  a thread has read a snapshot and still holds it when another
 *         releases the last reference through a second pointer (an API
 *         misuse: that snapshot is released twice, one reference too many),
 *         so the library frees the memory under the reader, with no
 *         synchronisation between them: a race between the reader and
 *         free() in the library's Arc drop (the kind of lifetime bug a
 *         reference counting mistake would make).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "whalewatcher.h"

#define THREADS 8 /* THREADS - 1 readers and one follower */
#define SEEDS 4
#define PROJECT_SEEDS 2 /* seeds 0..PROJECT_SEEDS-1 get a compose project */
#define READY_MS 30000
#define CONVERGE_MS 60000

static const char *g_endpoint;
static const char *g_docker = "docker";
static char g_tag[64]; /* this run's label value and name prefix */
static long g_iterations = 200;
static long g_churn_seconds = 5;

static int g_passed, g_failed;

static void check(bool ok, const char *what, const char *fmt, ...)
{
    if (ok) {
        g_passed++;
        printf("ok      %s\n", what);
    } else {
        g_failed++;
        printf("FAILED  %s", what);
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            printf(": ");
            vprintf(fmt, ap);
            va_end(ap);
        }
        printf("\n");
    }
    fflush(stdout);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ */
/* Docker CLI                                                          */
/* ------------------------------------------------------------------ */

/* Runs `DOCKER -H ENDPOINT ARGS >/dev/null 2>&1`; true on exit status 0. */
static bool docker(const char *fmt, ...)
{
    char args[1024], cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s -H '%s' %s >/dev/null 2>&1", g_docker, g_endpoint, args);
    int rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        fprintf(stderr, "churn: command failed (%d): %s\n", rc, cmd);
        return false;
    }
    return true;
}

/* The seeded containers as the churn left them. */
struct slot {
    char name[128];
    bool alive;
    bool paused;
    unsigned incarnation;
};
static struct slot g_slots[SEEDS];

static bool run_slot(int i)
{
    struct slot *s = &g_slots[i];
    snprintf(s->name, sizeof s->name, "%s-%d-%u", g_tag, i, s->incarnation++);
    char project[128] = "";
    if (i < PROJECT_SEEDS)
        snprintf(project, sizeof project, "--label com.docker.compose.project=%s-p", g_tag);
    bool ok = docker("run -d --network none --name %s --label wwth.run=%s --label wwth.slot=%d "
                     "--label wwth.empty= %s busybox:local sleep 3600",
                     s->name, g_tag, i, project);
    s->alive = ok;
    s->paused = false;
    return ok;
}

/* One churn step on slot i; each slot goes round
 * run -> pause -> unpause -> kill -> run (a new container, a new name) ... */
static bool churn_step(int i)
{
    static bool kill_next[SEEDS]; /* running: pause first, kill after the unpause */
    struct slot *s = &g_slots[i];
    bool ok;
    if (!s->alive) {
        kill_next[i] = false;
        return run_slot(i);
    }
    if (s->paused) {
        ok = docker("unpause %s", s->name);
        if (ok) {
            s->paused = false;
            kill_next[i] = true;
        }
    } else if (!kill_next[i]) {
        ok = docker("pause %s", s->name);
        if (ok)
            s->paused = true;
    } else {
        ok = docker("kill %s", s->name);
        if (ok)
            s->alive = false;
    }
    return ok;
}

static void remove_run_containers(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s -H '%s' ps -aq --filter label=wwth.run=%s | xargs -r %s -H '%s' rm -f >/dev/null 2>&1",
             g_docker, g_endpoint, g_tag, g_docker, g_endpoint);
    if (system(cmd) != 0)
        fprintf(stderr, "churn: cleanup failed: %s\n", cmd);
}

/* ------------------------------------------------------------------ */
/* Reading a snapshot                                                  */
/* ------------------------------------------------------------------ */

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    h ^= 0xff; /* separator */
    h *= 1099511628211ULL;
    return h;
}

/* Reads all of p: returns NULL when consistent, else what is wrong (static
 * text). *sum receives a checksum over every string read. */
static const char *read_portfolio(const ww_portfolio *p, uint64_t *sum)
{
    uint64_t h = 1469598103934665603ULL;
    if (!p)
        return "snapshot is NULL";
    if (p->engines_len != 1 || !p->engines)
        return "not exactly one engine";
    const ww_engine_info *e = &p->engines[0];
    if (!e->type || strcmp(e->type, "docker.com") != 0 || e->kind != WW_ENGINE_DOCKER)
        return "the engine is not docker.com";
    if (!e->id || !e->version || !e->endpoint || !e->last_error)
        return "an engine string is NULL";
    if (strcmp(e->endpoint, g_endpoint) != 0)
        return "the engine's endpoint is not the one watched";
    if (e->state != WW_ENGINE_STATE_SYNCED && e->state != WW_ENGINE_STATE_RESYNCING)
        return "the engine is neither synced nor resyncing after ww_ready";
    if (e->synced_at_ns <= 0)
        return "the engine has no synchronisation time after ww_ready";
    h = fnv(h, e->id);
    h = fnv(h, e->version);
    h = fnv(h, e->endpoint);
    h = fnv(h, e->last_error);
    h ^= (uint64_t)e->synced_at_ns ^ e->repairs ^ (uint64_t)(uint32_t)e->pid;
    if ((p->containers_len == 0) != (p->containers == NULL))
        return "containers NULL-ness does not match containers_len";
    if (p->projects_len < p->engines_len || !p->projects || !p->projects[0].name ||
        p->projects[0].name[0] != '\0' || p->projects[0].engine != 0)
        return "projects[0] is not the engine's unnamed project";
    size_t in_projects = 0;
    for (size_t i = 0; i < p->projects_len; i++) {
        const ww_project *pr = &p->projects[i];
        if (!pr->name)
            return "a project name is NULL";
        if (pr->engine >= p->engines_len)
            return "a project's engine index is out of range";
        if ((pr->containers_len == 0) != (pr->containers == NULL))
            return "project containers NULL-ness does not match containers_len";
        if (pr->containers_len && (pr->containers < p->containers ||
                                   pr->containers + pr->containers_len > p->containers + p->containers_len))
            return "project containers are not a slice of containers";
        for (size_t j = 0; j < pr->containers_len; j++)
            if (strcmp(pr->containers[j].project, pr->name) != 0)
                return "a container sits in the wrong project";
        in_projects += pr->containers_len;
        h = fnv(h, pr->name);
    }
    if (in_projects != p->containers_len)
        return "projects do not add up to containers_len";
    for (size_t i = 0; i < p->containers_len; i++) {
        const ww_container *c = &p->containers[i];
        if (!c->id || !c->name || !c->project || !c->image || !c->image_id || !c->pod_name ||
            !c->pod_namespace || !c->pod_uid)
            return "a container string is NULL";
        if (c->id[0] == '\0' || c->name[0] == '\0')
            return "a container id or name is empty";
        if (c->pid <= 0)
            return "a container pid is not > 0";
        if (c->engine >= p->engines_len)
            return "a container's engine index is out of range";
        if ((c->labels_len == 0) != (c->labels == NULL))
            return "labels NULL-ness does not match labels_len";
        if (ww_portfolio_find_id(p, c->id) != c)
            return "ww_portfolio_find_id does not find the container";
        if (ww_portfolio_find_pid(p, c->pid) != c)
            return "ww_portfolio_find_pid does not find the container";
        h = fnv(h, c->id);
        h = fnv(h, c->name);
        h = fnv(h, c->project);
        h = fnv(h, c->image);
        h = fnv(h, c->image_id);
        h = fnv(h, c->pod_name);
        h = fnv(h, c->pod_namespace);
        h = fnv(h, c->pod_uid);
        h ^= (uint64_t)c->started_at_ns;
        h ^= (uint64_t)(uint32_t)c->pid + (c->paused ? 0x100000000ULL : 0) + (c->privileged ? 0x200000000ULL : 0) +
             (c->pod_sandbox ? 0x400000000ULL : 0);
        for (size_t k = 0; k < c->labels_len; k++) {
            const ww_label *l = &c->labels[k];
            if (!l->key || !l->value)
                return "a label key or value is NULL";
            if (k > 0 && strcmp(c->labels[k - 1].key, l->key) >= 0)
                return "labels are not sorted by key";
            h = fnv(h, l->key);
            h = fnv(h, l->value);
        }
    }
    *sum = h;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Reader threads                                                      */
/* ------------------------------------------------------------------ */

static ww_watcher *g_w;

static pthread_mutex_t g_stop_mu = PTHREAD_MUTEX_INITIALIZER;
static bool g_stop;

static bool stopping(void)
{
    pthread_mutex_lock(&g_stop_mu);
    bool s = g_stop;
    pthread_mutex_unlock(&g_stop_mu);
    return s;
}

/* A snapshot handed from one thread to another. */
static pthread_mutex_t g_handoff_mu = PTHREAD_MUTEX_INITIALIZER;
static const ww_portfolio *g_handoff;

struct reader {
    pthread_t thread;
    int index;
    long iterations;
    long handoffs;  /* snapshots freed here that another thread took */
    long failures;
    char first_failure[200];
    uint64_t checksum;
    uint64_t first_gen, max_gen;
};

static void reader_fail(struct reader *r, const char *what, const char *detail)
{
    if (r->failures++ == 0)
        snprintf(r->first_failure, sizeof r->first_failure, "iteration %ld: %s%s%s", r->iterations, what,
                 detail ? ": " : "", detail ? detail : "");
}

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    uint64_t last_gen = 0;
    while (r->iterations < g_iterations || !stopping()) {
        const ww_portfolio *p = NULL;
        ww_status st = ww_snapshot(g_w, &p);
        if (st != WW_STATUS_OK || !p) {
            reader_fail(r, "ww_snapshot", ww_status_str(st));
        } else {
            uint64_t sum = 0;
            const char *bad = read_portfolio(p, &sum);
            if (bad)
                reader_fail(r, "inconsistent snapshot", bad);
            if (p->generation < last_gen)
                reader_fail(r, "generation went backwards", NULL);
            if (p->generation == 0)
                reader_fail(r, "generation 0 after ww_ready", NULL);
            last_gen = p->generation;
            if (r->iterations == 0)
                r->first_gen = p->generation;
            if (p->generation > r->max_gen)
                r->max_gen = p->generation;
            r->checksum = r->checksum * 31 + sum;
            ww_snapshot_free(p);
        }
        st = ww_ready(g_w, 0);
        if (st != WW_STATUS_OK)
            reader_fail(r, "ww_ready(w, 0)", ww_last_error_message());
        st = ww_wait(g_w, last_gen, 0);
        if (st != WW_STATUS_OK && st != WW_STATUS_TIMEOUT)
            reader_fail(r, "ww_wait(w, generation, 0)", ww_status_str(st));

        if (r->iterations % 8 == (long)r->index % 8) {
            const ww_portfolio *mine = NULL, *theirs;
            if (ww_snapshot(g_w, &mine) != WW_STATUS_OK || !mine) {
                reader_fail(r, "ww_snapshot (handoff)", NULL);
            } else {
                pthread_mutex_lock(&g_handoff_mu);
                theirs = g_handoff;
                g_handoff = mine;
                pthread_mutex_unlock(&g_handoff_mu);
                if (theirs) {
                    uint64_t sum = 0;
                    const char *bad = read_portfolio(theirs, &sum);
                    if (bad)
                        reader_fail(r, "inconsistent handed-over snapshot", bad);
                    r->checksum ^= sum;
                    ww_snapshot_free(theirs);
                    r->handoffs++;
                }
            }
        }
        r->iterations++;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The follower: ww_wait and ww_diff                                   */
/* ------------------------------------------------------------------ */

struct follower {
    pthread_t thread;
    long rounds;  /* newer generations waited for */
    long changes; /* changes ww_diff reported */
    long failures;
    char first_failure[200];
    uint64_t first_gen, last_gen;
};

static void follower_fail(struct follower *f, const char *what, const char *detail)
{
    if (f->failures++ == 0)
        snprintf(f->first_failure, sizeof f->first_failure, "round %ld: %s%s%s", f->rounds, what,
                 detail ? ": " : "", detail ? detail : "");
}

static bool points_into(const ww_portfolio *p, const ww_container *c)
{
    return c && p->containers_len > 0 && c >= p->containers && c < p->containers + p->containers_len;
}

/* Is the incarnation of c (its ID and PID) in p? */
static bool has_incarnation(const ww_portfolio *p, const ww_container *c)
{
    const ww_container *same = ww_portfolio_find_id(p, c->id);
    return same && same->pid == c->pid;
}

/* Checks one change of ww_diff(from, to): NULL when it agrees with both
 * snapshots, else what is wrong (static text). */
static const char *check_change(const ww_change *ch, const ww_portfolio *from, const ww_portfolio *to)
{
    switch (ch->kind) {
    case WW_CHANGE_STARTED:
        if (ch->before || !points_into(to, ch->after))
            return "STARTED: before is set, or after is not a container of `to`";
        if (has_incarnation(from, ch->after))
            return "STARTED: the same incarnation is already in `from`";
        return NULL;
    case WW_CHANGE_EXITED:
        if (ch->after || !points_into(from, ch->before))
            return "EXITED: after is set, or before is not a container of `from`";
        if (has_incarnation(to, ch->before))
            return "EXITED: the same incarnation is still in `to`";
        return NULL;
    case WW_CHANGE_PAUSED:
    case WW_CHANGE_UNPAUSED:
    case WW_CHANGE_UPDATED:
        if (!points_into(from, ch->before) || !points_into(to, ch->after))
            return "a change of one incarnation does not point into both snapshots";
        if (strcmp(ch->before->id, ch->after->id) != 0 || ch->before->pid != ch->after->pid)
            return "a change of one incarnation compares two incarnations";
        if (ch->kind == WW_CHANGE_PAUSED && (ch->before->paused || !ch->after->paused))
            return "PAUSED, but not from running to paused";
        if (ch->kind == WW_CHANGE_UNPAUSED && (!ch->before->paused || ch->after->paused))
            return "UNPAUSED, but not from paused to running";
        return NULL;
    default:
        return "an unknown change kind";
    }
}

/* Waits for each newer generation with ww_wait, and compares each snapshot
 * with the one before with ww_diff, while the readers take snapshots of the
 * same generations. */
static void *follower_main(void *arg)
{
    struct follower *f = arg;
    const ww_portfolio *last = NULL;
    if (ww_snapshot(g_w, &last) != WW_STATUS_OK || !last) {
        follower_fail(f, "ww_snapshot", NULL);
        return NULL;
    }
    f->first_gen = last->generation;
    while (!stopping()) {
        ww_status st = ww_wait(g_w, last->generation, 100); /* 100 ms: to notice the stop */
        if (st == WW_STATUS_TIMEOUT)
            continue;
        if (st != WW_STATUS_OK) {
            follower_fail(f, "ww_wait", ww_status_str(st));
            break;
        }
        const ww_portfolio *now = NULL;
        if (ww_snapshot(g_w, &now) != WW_STATUS_OK || !now) {
            follower_fail(f, "ww_snapshot", NULL);
            break;
        }
        if (now->generation <= last->generation)
            follower_fail(f, "ww_wait said newer, the snapshot after it is not", NULL);
        const ww_change *changes = NULL;
        size_t n = 0;
        st = ww_diff(last, now, &changes, &n);
        if (st != WW_STATUS_OK) {
            follower_fail(f, "ww_diff", ww_last_error_message());
        } else {
            size_t started = 0, exited = 0;
            if ((n == 0) != (changes == NULL))
                follower_fail(f, "ww_diff: NULL-ness of the array does not match its length", NULL);
            for (size_t i = 0; i < n; i++) {
                const char *bad = check_change(&changes[i], last, now);
                if (bad)
                    follower_fail(f, "ww_diff", bad);
                started += changes[i].kind == WW_CHANGE_STARTED;
                exited += changes[i].kind == WW_CHANGE_EXITED;
            }
            if (last->containers_len + started != now->containers_len + exited)
                follower_fail(f, "ww_diff: the starts and exits do not add up to the snapshots", NULL);
            f->changes += (long)n;
            ww_changes_free(changes);
        }
        ww_snapshot_free(last);
        last = now;
        f->rounds++;
    }
    f->last_gen = last->generation;
    ww_snapshot_free(last);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The run                                                             */
/* ------------------------------------------------------------------ */

/* Does p show exactly the run's alive slots, with their paused state? On a
 * mismatch, writes why into why. */
static bool shows_slots(const ww_portfolio *p, char *why, size_t why_len)
{
    size_t seen = 0;
    size_t tag_len = strlen(g_tag);
    for (size_t i = 0; i < p->containers_len; i++) {
        const ww_container *c = &p->containers[i];
        if (strncmp(c->name, g_tag, tag_len) != 0 || c->name[tag_len] != '-')
            continue;
        int k;
        for (k = 0; k < SEEDS; k++)
            if (g_slots[k].alive && strcmp(g_slots[k].name, c->name) == 0)
                break;
        if (k == SEEDS) {
            snprintf(why, why_len, "%s is shown but not alive", c->name);
            return false;
        }
        if (c->paused != g_slots[k].paused) {
            snprintf(why, why_len, "%s shown %s", c->name, c->paused ? "paused" : "not paused");
            return false;
        }
        bool has_label = false;
        for (size_t j = 0; j < c->labels_len; j++)
            if (strcmp(c->labels[j].key, "wwth.run") == 0 && strcmp(c->labels[j].value, g_tag) == 0)
                has_label = true;
        if (!has_label) {
            snprintf(why, why_len, "%s lacks label wwth.run=%s", c->name, g_tag);
            return false;
        }
        seen++;
    }
    size_t alive = 0;
    for (int k = 0; k < SEEDS; k++)
        alive += g_slots[k].alive;
    if (seen != alive) {
        snprintf(why, why_len, "%zu of the run's containers shown, %zu alive", seen, alive);
        return false;
    }
    return true;
}

/* Waits until the snapshot shows the slots; true if it did in time. */
static bool converge(int timeout_ms, char *why, size_t why_len)
{
    double deadline = now_s() + timeout_ms / 1000.0;
    for (;;) {
        const ww_portfolio *p = NULL;
        if (ww_snapshot(g_w, &p) != WW_STATUS_OK || !p) {
            snprintf(why, why_len, "ww_snapshot failed");
            return false;
        }
        bool ok = shows_slots(p, why, why_len);
        ww_snapshot_free(p);
        if (ok)
            return true;
        if (now_s() > deadline)
            return false;
        sleep_ms(50);
    }
}

/* ------------------------------------------------------------------ */
/* Self-tests: deliberate races                                        */
/* ------------------------------------------------------------------ */

static long g_racy_counter; /* written by two threads without a lock, on purpose */

static void *racy_increment(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++)
        g_racy_counter++;
    return NULL;
}

static int selftest_c(void)
{
    pthread_t a, b;
    pthread_create(&a, NULL, racy_increment, NULL);
    pthread_create(&b, NULL, racy_increment, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("#       selftest c: counter %ld (a race detector must have reported a race)\n", g_racy_counter);
    return 0;
}

/* Reads the snapshot once (scalar fields only: it is freed under it), then
 * stays alive, idle, while the other thread frees it. A thread that goes on
 * calling functions would push its read out of TSan's per-thread history,
 * and TSan drops a report whose earlier access it cannot show. */
static void *read_then_idle(void *arg)
{
    const ww_portfolio *p = arg;
    volatile uint64_t sink = p->generation + p->containers_len + p->projects_len;
    (void)sink;
    sleep_ms(400);
    return NULL;
}

struct two_snapshots {
    ww_watcher *w;
    const ww_portfolio *p1, *p2;
    ww_status s1, s2;
};

/* Takes two snapshots of one generation on a thread of its own, whose end
 * drops what the library keeps per thread: then the two references are all
 * that keeps the snapshot. */
static void *take_two(void *arg)
{
    struct two_snapshots *t = arg;
    t->s1 = ww_snapshot(t->w, &t->p1);
    t->s2 = ww_snapshot(t->w, &t->p2);
    return NULL;
}

static int selftest_free(void)
{
    ww_options opts;
    ww_options_init(&opts, sizeof opts);
    opts.endpoint = g_endpoint;
    ww_watcher *w = NULL;
    if (ww_new(&opts, &w) != WW_STATUS_OK || ww_ready(w, READY_MS) != WW_STATUS_OK) {
        fprintf(stderr, "churn: selftest free: no watcher: %s\n", ww_last_error_message());
        return 1;
    }
    struct two_snapshots two = {w, NULL, NULL, WW_STATUS_INTERNAL, WW_STATUS_INTERNAL};
    pthread_t taker;
    pthread_create(&taker, NULL, take_two, &two);
    pthread_join(taker, NULL);
    const ww_portfolio *p1 = two.p1, *p2 = two.p2;
    if (two.s1 != WW_STATUS_OK || two.s2 != WW_STATUS_OK || p1 != p2) {
        fprintf(stderr, "churn: selftest free: two snapshots of one generation expected\n");
        return 1;
    }
    ww_close(w); /* now p1 and p2 hold the only two references */
    pthread_t reader;
    pthread_create(&reader, NULL, read_then_idle, (void *)p1);
    sleep_ms(200);
    ww_snapshot_free(p2);
    ww_snapshot_free(p2); /* misuse: p1's reference, released here, under the reader */
    pthread_join(reader, NULL);
    printf("#       selftest free: done (a race detector must have reported a race with free)\n");
    return 0; /* p1 is not freed again: it is gone */
}

static long parse_long(const char *s, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0) {
        fprintf(stderr, "churn: bad %s '%s'\n", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strncmp(argv[1], "--selftest=", 11) == 0) {
        g_endpoint = argv[2];
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (strcmp(argv[1] + 11, "c") == 0)
            return selftest_c();
        if (strcmp(argv[1] + 11, "free") == 0)
            return selftest_free();
    }
    if (argc < 2 || argc > 4 || argv[1][0] == '-') {
        fprintf(stderr, "usage: %s ENDPOINT [ITERATIONS [CHURN_SECONDS]]\n"
                        "       %s --selftest=c|free ENDPOINT\n", argv[0], argv[0]);
        return 2;
    }
    g_endpoint = argv[1];
    if (argc > 2)
        g_iterations = parse_long(argv[2], "ITERATIONS");
    if (argc > 3)
        g_churn_seconds = parse_long(argv[3], "CHURN_SECONDS");
    const char *cli = getenv("DOCKER_CLI");
    if (cli && *cli)
        g_docker = cli;
    snprintf(g_tag, sizeof g_tag, "wwth%ld", (long)getpid());
    setvbuf(stdout, NULL, _IOLBF, 0);
    double t0 = now_s();

    /* 1. Seed containers, then the watcher. */
    bool seeded = true;
    for (int i = 0; i < SEEDS; i++)
        seeded &= run_slot(i);
    check(seeded, "seed containers started", "see stderr");

    ww_options opts;
    ww_options_init(&opts, sizeof opts);
    opts.endpoint = g_endpoint;
    ww_status st = ww_new(&opts, &g_w);
    check(st == WW_STATUS_OK && g_w, "ww_new", "%s: %s", ww_status_str(st), ww_last_error_message());
    if (st != WW_STATUS_OK || !g_w) {
        remove_run_containers();
        printf("%d passed, %d failed\n", g_passed, g_failed);
        return 1;
    }
    double t_ready = now_s();
    st = ww_ready(g_w, READY_MS);
    check(st == WW_STATUS_OK, "ww_ready (30 s)", "%s: %s", ww_status_str(st), ww_last_error_message());
    printf("#       ready after %.2f s\n", now_s() - t_ready);

    char why[256] = "";
    bool conv = st == WW_STATUS_OK && converge(CONVERGE_MS, why, sizeof why);
    check(conv, "the snapshot shows the seeded containers", "%s", why);

    uint64_t gen_before = 0;
    {
        const ww_portfolio *p = NULL;
        if (ww_snapshot(g_w, &p) == WW_STATUS_OK && p) {
            gen_before = p->generation;
            ww_snapshot_free(p);
        }
    }

    /* 2. Readers and the follower. */
    struct reader readers[THREADS - 1];
    struct follower follower;
    memset(readers, 0, sizeof readers);
    memset(&follower, 0, sizeof follower);
    int started = 0;
    for (int i = 0; i < THREADS - 1; i++) {
        readers[i].index = i;
        if (pthread_create(&readers[i].thread, NULL, reader_main, &readers[i]) != 0)
            break;
        started++;
    }
    bool following = pthread_create(&follower.thread, NULL, follower_main, &follower) == 0;
    check(started == THREADS - 1 && following, "threads started", "%d readers of %d, follower %s", started,
          THREADS - 1, following ? "started" : "not started");

    /* 3. Churn. */
    double t_churn = now_s();
    long steps = 0, step_failures = 0;
    while (now_s() - t_churn < (double)g_churn_seconds) {
        if (!churn_step((int)(steps % SEEDS)))
            step_failures++;
        steps++;
    }
    double churn_took = now_s() - t_churn;
    check(steps > 0 && step_failures == 0, "churn commands succeeded", "%ld of %ld failed", step_failures, steps);
    printf("#       churn: %ld docker commands in %.2f s\n", steps, churn_took);

    pthread_mutex_lock(&g_stop_mu);
    g_stop = true;
    pthread_mutex_unlock(&g_stop_mu);
    long total_iter = 0, total_fail = 0, total_handoffs = 0;
    uint64_t max_gen = 0, checksum = 0;
    const char *first_failure = NULL;
    int first_failure_thread = -1;
    for (int i = 0; i < started; i++) {
        pthread_join(readers[i].thread, NULL);
        struct reader *r = &readers[i];
        total_iter += r->iterations;
        total_handoffs += r->handoffs;
        total_fail += r->failures;
        checksum ^= r->checksum;
        if (r->max_gen > max_gen)
            max_gen = r->max_gen;
        if (r->failures && !first_failure) {
            first_failure = r->first_failure;
            first_failure_thread = i;
        }
        if (r->iterations < g_iterations)
            total_fail++;
        printf("#       thread %d: %ld iterations, %ld handed-over frees, generations %llu..%llu, %ld failures\n", i,
               r->iterations, r->handoffs, (unsigned long long)r->first_gen, (unsigned long long)r->max_gen,
               r->failures);
    }
    pthread_mutex_lock(&g_handoff_mu);
    ww_snapshot_free(g_handoff);
    g_handoff = NULL;
    pthread_mutex_unlock(&g_handoff_mu);
    printf("#       readers: %ld iterations, %ld handed-over frees, checksum %016llx, %.2f s\n", total_iter,
           total_handoffs, (unsigned long long)checksum, now_s() - t_churn);
    check(started == THREADS - 1 && total_fail == 0, "readers saw consistent snapshots, ww_ready and ww_wait OK",
          "thread %d: %s", first_failure_thread, first_failure ? first_failure : "too few iterations");
    check(max_gen > gen_before, "readers saw the churn (generation grew)", "generation stayed %llu",
          (unsigned long long)gen_before);

    if (following) {
        pthread_join(follower.thread, NULL);
        printf("#       follower: %ld newer generations (%llu..%llu), %ld changes, %ld failures\n", follower.rounds,
               (unsigned long long)follower.first_gen, (unsigned long long)follower.last_gen, follower.changes,
               follower.failures);
    }
    check(following && follower.failures == 0, "the follower's diffs agree with the snapshots compared", "%s",
          follower.first_failure);
    check(following && follower.rounds > 0 && follower.changes > 0 && follower.last_gen > follower.first_gen,
          "the follower saw the churn (ww_wait woke, ww_diff found changes)", "%ld rounds, %ld changes",
          follower.rounds, follower.changes);

    /* 4. Converge on the final state. */
    why[0] = '\0';
    check(converge(CONVERGE_MS, why, sizeof why), "the snapshot converged on the final state", "%s", why);

    /* 5. A snapshot outlives its watcher. */
    const ww_portfolio *kept = NULL;
    st = ww_snapshot(g_w, &kept);
    double t_close = now_s();
    ww_close(g_w);
    g_w = NULL;
    printf("#       ww_close took %.2f s\n", now_s() - t_close);
    if (st == WW_STATUS_OK && kept) {
        uint64_t sum = 0;
        const char *bad = read_portfolio(kept, &sum);
        check(bad == NULL, "a snapshot taken before ww_close reads fine after it", "%s", bad);
        ww_snapshot_free(kept);
    } else {
        check(false, "a snapshot taken before ww_close reads fine after it", "ww_snapshot failed");
    }

    /* 6. Clean up. */
    remove_run_containers();
    printf("#       total %.2f s\n", now_s() - t0);
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
