/*
 * watch: the alive containers of a Docker or containerd engine, grouped by
 * compose project, as libwhalewatcher sees them (the C twin of the Go
 * original's example).
 *
 * Usage: watch [--engine docker|containerd] [--watch N] [ENDPOINT]
 *
 * --engine: which engine to watch; docker by default.
 * ENDPOINT: for Docker e.g. unix:///var/run/docker.sock or
 * tcp://127.0.0.1:2375; without it, DOCKER_HOST if set, else
 * unix:///var/run/docker.sock. For containerd a socket path or unix://PATH,
 * e.g. /run/containerd/containerd.sock; without it, CONTAINERD_ADDRESS if
 * set, else /run/containerd/containerd.sock. containerd containers are
 * watched in all namespaces but moby and k8s.io, and show as NAMESPACE/ID
 * (just ID in namespace "default").
 * --watch N: afterwards, look again every second, N times, and print the
 * containers again whenever they changed (their generation grew).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "whalewatcher.h"

static void usage(FILE *to, const char *prog) {
    fprintf(to, "usage: %s [--engine docker|containerd] [--watch N] [ENDPOINT]\n", prog);
}

static void print_portfolio(const ww_portfolio *p) {
    size_t i, j;
    int abbreviate = strcmp(p->engine_type, "docker.com") == 0;
    printf("engine %s %s at %s (PID %d), generation %llu\n", p->engine_type, p->engine_version,
           p->engine_endpoint, (int)p->engine_pid, (unsigned long long)p->generation);
    if (p->containers_len == 0) {
        printf("no alive containers\n");
    }
    for (i = 0; i < p->projects_len; i++) {
        const ww_project *project = &p->projects[i];
        if (project->name[0] == '\0') {
            if (project->containers_len == 0) {
                continue; /* the unnamed project is always there, maybe empty */
            }
            printf("project \"\" (unnamed):\n");
        } else {
            printf("project \"%s\":\n", project->name);
        }
        for (j = 0; j < project->containers_len; j++) {
            const ww_container *c = &project->containers[j];
            /* Docker's IDs are 64 hex digits, shown abbreviated as docker
             * does; containerd's are names, shown in full. */
            printf("  %scontainer '%s' (ID %.*s, PID %d)\n", c->paused ? "paused " : "", c->name,
                   abbreviate ? 12 : (int)strlen(c->id), c->id, (int)c->pid);
        }
    }
    fflush(stdout);
}

static void sleep_one_second(void) {
    struct timespec ts = {1, 0};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int main(int argc, char **argv) {
    const char *endpoint = NULL;
    ww_engine engine = WW_ENGINE_DOCKER;
    long rounds = 0;
    int i;
    ww_options opts;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_status s;
    uint64_t shown;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--watch") == 0 && i + 1 < argc) {
            char *end = NULL;
            errno = 0;
            rounds = strtol(argv[++i], &end, 10);
            if (errno != 0 || end == argv[i] || *end != '\0' || rounds < 0) {
                usage(stderr, argv[0]);
                return 2;
            }
        } else if (strcmp(argv[i], "--engine") == 0 && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "docker") == 0) {
                engine = WW_ENGINE_DOCKER;
            } else if (strcmp(argv[i], "containerd") == 0) {
                engine = WW_ENGINE_CONTAINERD;
            } else {
                fprintf(stderr, "%s: unknown engine '%s'\n", argv[0], argv[i]);
                usage(stderr, argv[0]);
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout, argv[0]);
            return 0;
        } else if (argv[i][0] == '-' || endpoint != NULL) {
            usage(stderr, argv[0]);
            return 2;
        } else {
            endpoint = argv[i];
        }
    }

    ww_options_init(&opts);
    opts.engine = engine;
    opts.endpoint = endpoint; /* NULL: the engine's default */
    s = ww_new(&opts, &w);
    if (s != WW_STATUS_OK) {
        fprintf(stderr, "cannot watch: %s: %s\n", ww_status_str(s), ww_last_error_message());
        return 1;
    }
    s = ww_ready(w, 10000);
    if (s != WW_STATUS_OK) {
        fprintf(stderr, "engine not ready: %s: %s\n", ww_status_str(s), ww_last_error_message());
        ww_close(w);
        return 1;
    }

    s = ww_snapshot(w, &p);
    if (s != WW_STATUS_OK) {
        fprintf(stderr, "no snapshot: %s: %s\n", ww_status_str(s), ww_last_error_message());
        ww_close(w);
        return 1;
    }
    print_portfolio(p);
    shown = p->generation;
    ww_snapshot_free(p);

    for (; rounds > 0; rounds--) {
        sleep_one_second();
        p = NULL;
        if (ww_snapshot(w, &p) != WW_STATUS_OK) {
            fprintf(stderr, "no snapshot: %s\n", ww_last_error_message());
            ww_close(w);
            return 1;
        }
        if (p->generation != shown) {
            printf("\n");
            print_portfolio(p);
            shown = p->generation;
        }
        ww_snapshot_free(p);
    }

    ww_close(w);
    return 0;
}
