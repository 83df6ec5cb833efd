/*
 * A peer that hangs up (an engine, or a candidate discovery probes): the
 * library must get EPIPE as an error, never as a SIGPIPE, whose default
 * action kills a C program (Rust programs ignore SIGPIPE, C programs do
 * not).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A server that accepts every connection, reads the first bytes a client
 * sends (an HTTP/2 preface is 24) and hangs up: the client's next write
 * fails with EPIPE. */
struct hangup_server {
    int listen_fd;
    int stop[2]; /* a pipe: written to stop the thread */
    pthread_t thread;
    bool running;
    long served;
};

static volatile sig_atomic_t g_sigpipes;

static void count_sigpipe(int sig) {
    (void)sig;
    g_sigpipes++;
}

static void *hangup_server_run(void *arg) {
    struct hangup_server *h = arg;
    for (;;) {
        struct pollfd fds[2];
        char buf[24];
        size_t got = 0;
        int c;
        fds[0].fd = h->listen_fd;
        fds[0].events = POLLIN;
        fds[1].fd = h->stop[0];
        fds[1].events = POLLIN;
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return NULL;
        }
        if (fds[1].revents != 0) {
            return NULL;
        }
        c = accept(h->listen_fd, NULL, NULL);
        if (c < 0) {
            continue;
        }
        while (got < sizeof buf) {
            ssize_t n = read(c, buf + got, sizeof buf - got);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                break;
            }
            got += (size_t)n;
        }
        close(c);
        h->served++;
    }
}

static bool hangup_server_start(struct hangup_server *h, const char *path) {
    memset(h, 0, sizeof *h);
    h->stop[0] = h->stop[1] = -1;
    unlink(path);
    h->listen_fd = listening_socket(path);
    if (h->listen_fd < 0 || pipe(h->stop) != 0) {
        note("hang-up socket: %s", strerror(errno));
        return false;
    }
    if (pthread_create(&h->thread, NULL, hangup_server_run, h) != 0) {
        return false;
    }
    h->running = true;
    return true;
}

static void hangup_server_stop(struct hangup_server *h, const char *path) {
    if (h->running) {
        ssize_t n;
        do {
            n = write(h->stop[1], "x", 1);
        } while (n < 0 && errno == EINTR);
        pthread_join(h->thread, NULL);
        h->running = false;
    }
    if (h->listen_fd >= 0) {
        close(h->listen_fd);
    }
    if (h->stop[0] >= 0) {
        close(h->stop[0]);
        close(h->stop[1]);
    }
    unlink(path);
}

#define HANGUP_ROUNDS 10

/* HANGUP_ROUNDS watchers of `engine` at a server that hangs up: each gives
 * up (backoff NONE) with an error naming the socket, and SIGPIPE is never
 * raised (counted by a handler, so the test survives to tell). */
static bool no_sigpipe_when_peer_hangs_up(ww_engine engine, const char *endpoint) {
    bool ok = true;
    struct hangup_server h;
    struct sigaction sa, old;
    bool handler_set = false;
    ww_watcher *w = NULL;
    int round;
    CHECK(hangup_server_start(&h, g_hangup_sock));
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_sigpipe;
    sigemptyset(&sa.sa_mask);
    g_sigpipes = 0;
    CHECK(sigaction(SIGPIPE, &sa, &old) == 0);
    handler_set = true;
    for (round = 0; round < HANGUP_ROUNDS; round++) {
        ww_options o = options_for(endpoint);
        ww_status s;
        double t0, took;
        o.engine = engine;
        o.backoff = WW_BACKOFF_NONE;
        CHECK_OK(ww_new(&o, &w));
        t0 = now_ms();
        s = ww_ready(w, 10000);
        took = now_ms() - t0;
        if (round == 0) {
            note("%s after %.0f ms: %s", ww_status_str(s), took, last_error());
        }
        CHECKF(s == WW_STATUS_ENGINE, "%s: %s", ww_status_str(s), last_error());
        /* Generous: under valgrind, the first gRPC connection of the
         * process alone takes over a second. */
        CHECKF(took < 5000.0, "ww_ready took %.0f ms", took);
        CHECKF(contains(last_error(), g_hangup_sock), "\"%s\"", last_error());
        ww_close(w);
        w = NULL;
    }
    note("%d watchers, %ld connections hung up on, %d SIGPIPE", HANGUP_ROUNDS, h.served, (int)g_sigpipes);
    CHECKF(g_sigpipes == 0,
           "the library raised SIGPIPE %d times in %d watchers (without a handler, the default action kills "
           "the process)",
           (int)g_sigpipes, HANGUP_ROUNDS);
out:
    ww_close(w);
    if (handler_set) {
        sigaction(SIGPIPE, &old, NULL);
    }
    hangup_server_stop(&h, g_hangup_sock);
    return ok;
}

static bool test_no_sigpipe_when_peer_hangs_up(void) {
    return no_sigpipe_when_peer_hangs_up(WW_ENGINE_DOCKER, g_hangup_endpoint);
}

static bool test_containerd_no_sigpipe_when_peer_hangs_up(void) {
    return no_sigpipe_when_peer_hangs_up(WW_ENGINE_CONTAINERD, g_hangup_sock);
}

/* ww_discover probes a candidate at a well-known path (a rootless
 * containerd socket under /run/user/UID) that hangs up after the first
 * bytes: it is not listed, and SIGPIPE is never raised. Root only (it
 * makes the directories). */
static bool test_discover_no_sigpipe_when_a_candidate_hangs_up(void) {
    bool ok = true;
    struct hangup_server h;
    bool started = false, counting = false, made_user = false, made_dir = false;
    char user[64], dir[96], path[128], endpoint[144];
    int round, sigpipes = 0;
    const ww_endpoint *eps = NULL;
    size_t n = 0, i;
    memset(&h, 0, sizeof h);
    h.listen_fd = h.stop[0] = h.stop[1] = -1;
    if (geteuid() != 0) {
        SKIP("not root");
    }
    /* A user ID of its own: the first free one from a number unlikely to be taken. */
    CHECKF(mkdir("/run/user", 0755) == 0 || errno == EEXIST, "mkdir /run/user: %s", strerror(errno));
    for (round = 0; round < 100 && !made_user; round++) {
        snprintf(user, sizeof user, "/run/user/%d", 61000 + (int)((getpid() + round) % 4000));
        made_user = mkdir(user, 0700) == 0;
    }
    CHECKF(made_user, "mkdir %s: %s", user, strerror(errno));
    snprintf(dir, sizeof dir, "%s/containerd", user);
    snprintf(path, sizeof path, "%s/containerd.sock", dir);
    snprintf(endpoint, sizeof endpoint, "unix://%s", path);
    CHECKF(mkdir(dir, 0700) == 0, "mkdir %s: %s", dir, strerror(errno));
    made_dir = true;
    started = true; /* stopping cleans up what starting got to */
    CHECK(hangup_server_start(&h, path));
    CHECK(sigpipe_counting_begin());
    counting = true;
    for (round = 0; round < 3; round++) {
        CHECK_OK(ww_discover(&eps, &n));
        for (i = 0; i < n; i++) {
            CHECKF(!streq(eps[i].endpoint, endpoint), "%s listed (kind %u)", endpoint, (unsigned)eps[i].kind);
        }
        ww_endpoints_free(eps);
        eps = NULL;
    }
    sigpipes = sigpipe_counting_end();
    counting = false;
    note("3 discoveries, %ld connections hung up on, %d SIGPIPE", h.served, sigpipes);
    CHECKF(h.served >= 3, "the candidate at %s was probed %ld times", path, h.served);
    CHECKF(sigpipes == 0,
           "ww_discover raised SIGPIPE %d times in 3 calls (without a handler, the default action kills the "
           "process)",
           sigpipes);
out:
    ww_endpoints_free(eps);
    if (counting) {
        sigpipe_counting_end();
    }
    if (started) {
        hangup_server_stop(&h, path);
    }
    if (made_dir) {
        rmdir(dir);
    }
    if (made_user) {
        rmdir(user);
    }
    return ok;
}

const struct test sigpipe_tests[] = {
    {test_no_sigpipe_when_peer_hangs_up, "no_sigpipe_when_peer_hangs_up"},
    {test_containerd_no_sigpipe_when_peer_hangs_up, "containerd_no_sigpipe_when_peer_hangs_up"},
    {test_discover_no_sigpipe_when_a_candidate_hangs_up, "discover_no_sigpipe_when_a_candidate_hangs_up"},
};
DEFINE_SUITE_LEN(sigpipe);
