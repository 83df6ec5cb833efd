/*
 * 8 threads taking and freeing snapshots while events churn: a workload for
 * thread checkers (valgrind helgrind / drd, ThreadSanitizer).
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
 *   2. starts THREADS reader threads; each, at least ITERATIONS times and for
 *      as long as the churn lasts: ww_snapshot, reads every container's id,
 *      name, project and labels (a checksum, and structural checks), calls
 *      ww_ready(w, 0), and ww_snapshot_free. Every 8th iteration it swaps a
 *      second snapshot through a mutex-protected slot, so snapshots are also
 *      read and freed on a thread other than the one that took them;
 *   3. meanwhile the main thread churns: pause, unpause, kill, run, in turn
 *      over the seeded containers, for CHURN_SECONDS;
 *   4. joins the readers, waits (60 s at most) until the snapshot shows
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

#define THREADS 8
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
    if (!p->engine_type || strcmp(p->engine_type, "docker.com") != 0)
        return "engine_type is not docker.com";
    if (!p->engine_id || !p->engine_version || !p->engine_endpoint)
        return "an engine string is NULL";
    h = fnv(h, p->engine_id);
    h = fnv(h, p->engine_version);
    h = fnv(h, p->engine_endpoint);
    if ((p->containers_len == 0) != (p->containers == NULL))
        return "containers NULL-ness does not match containers_len";
    if (p->projects_len < 1 || !p->projects || !p->projects[0].name || p->projects[0].name[0] != '\0')
        return "projects[0] is not the unnamed project";
    size_t in_projects = 0;
    for (size_t i = 0; i < p->projects_len; i++) {
        const ww_project *pr = &p->projects[i];
        if (!pr->name)
            return "a project name is NULL";
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
        if (!c->id || !c->name || !c->project)
            return "a container string is NULL";
        if (c->id[0] == '\0' || c->name[0] == '\0')
            return "a container id or name is empty";
        if (c->pid <= 0)
            return "a container pid is not > 0";
        if ((c->labels_len == 0) != (c->labels == NULL))
            return "labels NULL-ness does not match labels_len";
        h = fnv(h, c->id);
        h = fnv(h, c->name);
        h = fnv(h, c->project);
        h ^= (uint64_t)(uint32_t)c->pid + (c->paused ? 0x100000000ULL : 0);
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

static int selftest_free(void)
{
    ww_options opts;
    ww_options_init(&opts);
    opts.endpoint = g_endpoint;
    ww_watcher *w = NULL;
    if (ww_new(&opts, &w) != WW_STATUS_OK || ww_ready(w, READY_MS) != WW_STATUS_OK) {
        fprintf(stderr, "churn: selftest free: no watcher: %s\n", ww_last_error_message());
        return 1;
    }
    const ww_portfolio *p1 = NULL, *p2 = NULL;
    if (ww_snapshot(w, &p1) != WW_STATUS_OK || ww_snapshot(w, &p2) != WW_STATUS_OK || p1 != p2) {
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
    ww_options_init(&opts);
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

    /* 2. Readers. */
    struct reader readers[THREADS];
    memset(readers, 0, sizeof readers);
    int started = 0;
    for (int i = 0; i < THREADS; i++) {
        readers[i].index = i;
        if (pthread_create(&readers[i].thread, NULL, reader_main, &readers[i]) != 0)
            break;
        started++;
    }
    check(started == THREADS, "reader threads started", "%d of %d", started, THREADS);

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
    check(started == THREADS && total_fail == 0, "readers saw consistent snapshots, ww_ready OK", "thread %d: %s",
          first_failure_thread, first_failure ? first_failure : "too few iterations");
    check(max_gen > gen_before, "readers saw the churn (generation grew)", "generation stayed %llu",
          (unsigned long long)gen_before);

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
