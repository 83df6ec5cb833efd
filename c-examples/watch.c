/*
 * watch: the alive containers of a Docker or containerd engine, grouped by
 * engine and compose project, as libwhalewatcher sees them (the C twin of
 * the Go original's example); with --follow, every change as it happens.
 *
 * Usage: watch [--engine docker|containerd] [--watch N | --follow] [ENDPOINT]
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
 * --follow: afterwards, keep running and print one line per change as it
 * happens, until SIGINT or SIGTERM (exit status 0):
 *   + started NAME (ID ID, PID PID)
 *   - exited NAME (ID ID, PID PID)
 *   ~ paused NAME (...), ~ unpaused NAME (...), ~ updated NAME (...)
 *   ! engine ENDPOINT STATE[: LAST ERROR]   (STATE: connecting, synced,
 *                                            resyncing, gave up)
 * It exits with status 1 when nothing can change anymore (every engine gave
 * up under the backoff policy).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "whalewatcher.h"

static void usage(FILE *to, const char *prog) {
    fprintf(to, "usage: %s [--engine docker|containerd] [--watch N | --follow] [ENDPOINT]\n", prog);
}

static const char *state_name(ww_engine_state state) {
    switch (state) {
    case WW_ENGINE_STATE_CONNECTING:
        return "connecting";
    case WW_ENGINE_STATE_SYNCED:
        return "synced";
    case WW_ENGINE_STATE_RESYNCING:
        return "resyncing";
    case WW_ENGINE_STATE_GAVE_UP:
        return "gave up";
    default:
        return "in a state this example does not know";
    }
}

/* How many characters of a container's ID to show: Docker's IDs are 64 hex
 * digits, shown abbreviated as docker does; containerd's are names, shown in
 * full. */
static int id_width(const ww_portfolio *p, const ww_container *c) {
    return p->engines[c->engine].kind == WW_ENGINE_DOCKER ? 12 : (int)strlen(c->id);
}

static void print_engine(const ww_engine_info *e, uint64_t generation) {
    /* Version and PID are unknown until the first contact (the PID also
     * over TCP). */
    printf("engine %s%s%s at %s", e->type, e->version[0] ? " " : "", e->version, e->endpoint);
    if (e->pid > 0) {
        printf(" (PID %d)", (int)e->pid);
    }
    printf(", %s%s%s, generation %llu\n", state_name(e->state), e->last_error[0] ? ": " : "", e->last_error,
           (unsigned long long)generation);
}

static void print_portfolio(const ww_portfolio *p) {
    size_t e, i, j;
    for (e = 0; e < p->engines_len; e++) {
        size_t shown = 0;
        print_engine(&p->engines[e], p->generation);
        for (i = 0; i < p->projects_len; i++) {
            const ww_project *project = &p->projects[i];
            /* Each engine's unnamed project is always there, maybe empty. */
            if (project->engine != e || project->containers_len == 0) {
                continue;
            }
            if (project->name[0] == '\0') {
                printf("project \"\" (unnamed):\n");
            } else {
                printf("project \"%s\":\n", project->name);
            }
            for (j = 0; j < project->containers_len; j++) {
                const ww_container *c = &project->containers[j];
                printf("  %scontainer '%s' (ID %.*s, PID %d)\n", c->paused ? "paused " : "", c->name,
                       id_width(p, c), c->id, (int)c->pid);
            }
            shown += project->containers_len;
        }
        if (shown == 0) {
            printf("no alive containers\n");
        }
    }
    fflush(stdout);
}

static void sleep_one_second(void) {
    struct timespec ts = {1, 0};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- --follow --------------------------------------------------------- */

/* SIGINT and SIGTERM write to this pipe. The signal may land on any thread,
 * the library's too, and a handler that only writes to a pipe is safe on
 * every one of them; poll(2) below then wakes up, wherever the signal ran. */
static int stop_pipe[2] = {-1, -1};

static void on_stop_signal(int sig) {
    int saved_errno = errno;
    ssize_t ignored;
    (void)sig;
    /* The pipe is non-blocking: when it is full, a wake-up is pending anyway. */
    ignored = write(stop_pipe[1], "", 1);
    (void)ignored;
    errno = saved_errno;
}

static int catch_stop_signals(void) {
    struct sigaction sa;
    int i;
    if (pipe(stop_pipe) != 0) {
        return -1;
    }
    for (i = 0; i < 2; i++) {
        if (fcntl(stop_pipe[i], F_SETFL, O_NONBLOCK) != 0 || fcntl(stop_pipe[i], F_SETFD, FD_CLOEXEC) != 0) {
            return -1;
        }
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    /* The library's threads need not see their system calls fail with EINTR. */
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        return -1;
    }
    return 0;
}

static void print_change(char mark, const char *what, const ww_portfolio *p, const ww_container *c) {
    printf("%c %s %s (ID %.*s, PID %d)\n", mark, what, c->name, id_width(p, c), c->id, (int)c->pid);
}

/* The lines for what changed from snapshot `from` to snapshot `to`. */
static int print_changes(const ww_portfolio *from, const ww_portfolio *to) {
    const ww_change *changes = NULL;
    size_t n = 0, i;
    ww_status s;

    /* A watcher's engines stay the same, at the same index, for its life. */
    for (i = 0; i < to->engines_len && i < from->engines_len; i++) {
        const ww_engine_info *was = &from->engines[i], *now = &to->engines[i];
        if (was->state != now->state || strcmp(was->last_error, now->last_error) != 0) {
            printf("! engine %s %s%s%s\n", now->endpoint, state_name(now->state), now->last_error[0] ? ": " : "",
                   now->last_error);
        }
    }

    s = ww_diff(from, to, &changes, &n);
    if (s != WW_STATUS_OK) {
        fprintf(stderr, "cannot compare snapshots: %s: %s\n", ww_status_str(s), ww_last_error_message());
        return -1;
    }
    for (i = 0; i < n; i++) {
        const ww_change *ch = &changes[i];
        switch (ch->kind) {
        case WW_CHANGE_STARTED:
            print_change('+', "started", to, ch->after);
            break;
        case WW_CHANGE_EXITED:
            print_change('-', "exited", from, ch->before);
            break;
        case WW_CHANGE_PAUSED:
            print_change('~', "paused", to, ch->after);
            break;
        case WW_CHANGE_UNPAUSED:
            print_change('~', "unpaused", to, ch->after);
            break;
        case WW_CHANGE_UPDATED:
            print_change('~', "updated", to, ch->after);
            break;
        default:
            break; /* a kind of change this example does not know */
        }
    }
    ww_changes_free(changes);
    return 0;
}

/* Prints every change after `shown` (which it frees) until a stop signal:
 * returns the exit status. */
static int follow(ww_watcher *w, int event_fd, const ww_portfolio *shown) {
    struct pollfd fds[2];
    int rc = 0;

    fds[0].fd = event_fd;
    fds[0].events = POLLIN;
    fds[1].fd = stop_pipe[0];
    fds[1].events = POLLIN;
    for (;;) {
        const ww_portfolio *now = NULL;
        uint64_t ack;
        ww_status s;

        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue; /* the stop pipe tells whether to stop */
            }
            perror("poll");
            rc = 1;
            break;
        }
        if (fds[1].revents != 0) {
            break;
        }
        if (fds[0].revents == 0) {
            continue;
        }
        /* First acknowledge, then look: whatever is published after the
         * read makes the descriptor readable again, so nothing is missed.
         * Several changes may have folded into this one wake-up. */
        if (read(event_fd, &ack, sizeof ack) < 0 && errno != EAGAIN) {
            perror("read event descriptor");
            rc = 1;
            break;
        }
        s = ww_snapshot(w, &now);
        if (s != WW_STATUS_OK) {
            fprintf(stderr, "no snapshot: %s: %s\n", ww_status_str(s), ww_last_error_message());
            rc = 1;
            break;
        }
        if (print_changes(shown, now) != 0) {
            ww_snapshot_free(now);
            rc = 1;
            break;
        }
        fflush(stdout);
        ww_snapshot_free(shown);
        shown = now;

        /* When nothing newer exists and nothing can change anymore (every
         * engine gave up, or the watcher's background work failed), the
         * descriptor would never wake us again. */
        s = ww_wait(w, shown->generation, 0);
        if (s != WW_STATUS_OK && s != WW_STATUS_TIMEOUT) {
            fprintf(stderr, "nothing changes anymore: %s: %s\n", ww_status_str(s), ww_last_error_message());
            rc = 1;
            break;
        }
    }
    ww_snapshot_free(shown);
    return rc;
}

int main(int argc, char **argv) {
    const char *endpoint = NULL;
    ww_engine engine = WW_ENGINE_DOCKER;
    long rounds = 0;
    int following = 0, event_fd = -1, rc = 0;
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
        } else if (strcmp(argv[i], "--follow") == 0) {
            following = 1;
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
    if (following && rounds > 0) {
        usage(stderr, argv[0]);
        return 2;
    }

    /* sizeof tells the library which version of the struct this program was
     * compiled with. */
    ww_options_init(&opts, sizeof opts);
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

    if (following) {
        if (catch_stop_signals() != 0) {
            perror("cannot catch SIGINT and SIGTERM");
            ww_close(w);
            return 1;
        }
        s = ww_event_fd(w, &event_fd);
        if (s != WW_STATUS_OK) {
            fprintf(stderr, "no event descriptor: %s: %s\n", ww_status_str(s), ww_last_error_message());
            ww_close(w);
            return 1;
        }
        {
            /* The listing below shows everything published so far: it
             * needs no wake-up of its own (EAGAIN: there was none). */
            uint64_t ack;
            if (read(event_fd, &ack, sizeof ack) < 0 && errno != EAGAIN) {
                perror("read event descriptor");
                ww_close(w);
                return 1;
            }
        }
    }

    s = ww_snapshot(w, &p);
    if (s != WW_STATUS_OK) {
        fprintf(stderr, "no snapshot: %s: %s\n", ww_status_str(s), ww_last_error_message());
        ww_close(w);
        return 1;
    }
    print_portfolio(p);

    if (following) {
        rc = follow(w, event_fd, p);
        /* ww_close closes the event descriptor: poll() is done with it. */
        ww_close(w);
        return rc;
    }

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
