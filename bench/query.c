/* bench/query.c: cost of ww_snapshot + ww_snapshot_free from C, and of the
 * lookups ww_portfolio_find_id and ww_portfolio_find_pid.
 * Usage: query ENGINE(docker|containerd) ENDPOINT THREADS_LIST(e.g. 1,8) REPEATS MS_PER_REPEAT [lookups]
 * Prints lines "RSS before_kb=.. ready_kb=.. heap_before_kb=.. heap_ready_kb=..
 * containers=.." (heap: bytes malloc has handed out and not got back, all
 * arenas, glibc's mallinfo2) and
 * "RESULT threads=T ns=v1,v2,..." (per-thread ns/call, one value per repeat: the mean
 * over all threads of that repeat). With "lookups", also
 * "LOOKUP id_ns=v1,v2,... pid_ns=v1,v2,..." (one thread, ns/call, one value per
 * repeat): lookups of every container's ID (copied out of the snapshot) and PID
 * in turn; with no containers, of an ID and a PID that are not there.
 * C99 + pthreads. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <whalewatcher.h>

static ww_watcher *W;
static volatile int go, stop;
static volatile size_t sink;

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) { kb = atol(line + 6); break; }
    fclose(f);
    return kb;
}

static long heap_kb(void) {
    struct mallinfo2 mi = mallinfo2();
    return (long)((mi.uordblks + mi.hblkhd) / 1024);
}

typedef struct { unsigned long calls; double ns; double cpu; } result;

/* ns per lookup over about ms milliseconds: by ID (by_pid 0) or by PID. */
static double lookup_ns(const ww_portfolio *p, char **ids, const int32_t *pids, size_t n, int by_pid, int ms) {
    size_t acc = 0, k = 0;
    unsigned long calls = 0;
    double t0 = now_ns(), until = t0 + ms * 1e6, t;
    do {
        for (int i = 0; i < 256; i++) {
            const ww_container *c = by_pid ? ww_portfolio_find_pid(p, pids[k]) : ww_portfolio_find_id(p, ids[k]);
            acc += c != NULL;
            if (++k == n) k = 0;
        }
        calls += 256;
    } while ((t = now_ns()) < until);
    sink += acc;
    return (t - t0) / (double)calls;
}

static void lookups(int repeats, int ms) {
    const ww_portfolio *p = NULL;
    if (ww_snapshot(W, &p) != WW_STATUS_OK) { fprintf(stderr, "ww_snapshot failed\n"); exit(2); }
    size_t n = p->containers_len ? p->containers_len : 1;
    char **ids = calloc(n, sizeof *ids);
    int32_t *pids = calloc(n, sizeof *pids);
    if (!ids || !pids) { fprintf(stderr, "out of memory\n"); exit(2); }
    if (p->containers_len == 0) {
        ids[0] = strdup("0123456789ab");
        pids[0] = 1;
    }
    for (size_t i = 0; i < p->containers_len; i++) {
        ids[i] = strdup(p->containers[i].id);
        pids[i] = p->containers[i].pid;
    }
    for (size_t i = 0; i < n; i++)
        if (!ids[i]) { fprintf(stderr, "out of memory\n"); exit(2); }
    printf("LOOKUP id_ns=");
    for (int r = 0; r < repeats; r++) printf("%s%.2f", r ? "," : "", lookup_ns(p, ids, pids, n, 0, ms));
    printf(" pid_ns=");
    for (int r = 0; r < repeats; r++) printf("%s%.2f", r ? "," : "", lookup_ns(p, ids, pids, n, 1, ms));
    printf("\n");
    fflush(stdout);
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
    free(pids);
    ww_snapshot_free(p);
}

static double cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *worker(void *arg) {
    result *r = arg;
    unsigned long n = 0;
    size_t acc = 0;
    while (!go) { }
    double t0 = now_ns(), c0 = cpu_ns();
    while (!stop) {
        for (int i = 0; i < 256; i++) {
            const ww_portfolio *p = NULL;
            if (ww_snapshot(W, &p) != WW_STATUS_OK) { fprintf(stderr, "ww_snapshot failed\n"); exit(2); }
            acc += p->containers_len;
            ww_snapshot_free(p);
        }
        n += 256;
    }
    r->ns = now_ns() - t0;
    r->cpu = cpu_ns() - c0;
    r->calls = n;
    sink += acc;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: %s docker|containerd ENDPOINT THREADS REPEATS MS [lookups]\n", argv[0]); return 2; }
    long before = rss_kb(), heap_before = heap_kb();
    ww_options o;
    ww_options_init(&o, sizeof o);
    o.engine = strcmp(argv[1], "containerd") == 0 ? WW_ENGINE_CONTAINERD : WW_ENGINE_DOCKER;
    o.endpoint = argv[2];
    if (ww_new(&o, &W) != WW_STATUS_OK || ww_ready(W, 120000) != WW_STATUS_OK) {
        fprintf(stderr, "watcher: %s\n", ww_last_error_message());
        return 1;
    }
    const ww_portfolio *p = NULL;
    if (ww_snapshot(W, &p) != WW_STATUS_OK) return 1;
    size_t n = p->containers_len;
    ww_snapshot_free(p);
    long ready = rss_kb(), heap_ready = heap_kb();
    printf("RSS before_kb=%ld ready_kb=%ld heap_before_kb=%ld heap_ready_kb=%ld containers=%zu\n", before, ready,
           heap_before, heap_ready, n);
    fflush(stdout);
    int repeats = atoi(argv[4]);
    int ms = atoi(argv[5]);
    char *list = strdup(argv[3]);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int t = atoi(tok);
        pthread_t *th = calloc((size_t)t, sizeof *th);
        result *res = calloc((size_t)t, sizeof *res);
        char cpubuf[4096] = "";
        size_t cpulen = 0;
        printf("RESULT threads=%d ns=", t);
        for (int r = 0; r < repeats; r++) {
            go = 0; stop = 0;
            for (int i = 0; i < t; i++) pthread_create(&th[i], NULL, worker, &res[i]);
            go = 1;
            struct timespec d = { ms / 1000, (long)(ms % 1000) * 1000000L };
            nanosleep(&d, NULL);
            stop = 1;
            double sum = 0, csum = 0;
            for (int i = 0; i < t; i++) {
                pthread_join(th[i], NULL);
                sum += res[i].ns / (double)res[i].calls;
                csum += res[i].cpu / (double)res[i].calls;
            }
            printf("%s%.2f", r ? "," : "", sum / t);
            cpulen += (size_t)snprintf(cpubuf + cpulen, sizeof cpubuf - cpulen, "%s%.2f", r ? "," : "", csum / t);
        }
        printf(" cpu=%s\n", cpubuf);
        fflush(stdout);
        free(th); free(res);
    }
    free(list);
    if (argc > 6 && strcmp(argv[6], "lookups") == 0) lookups(repeats, ms);
    ww_close(W);
    return 0;
}
