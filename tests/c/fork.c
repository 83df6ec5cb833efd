/*
 * fork() with a live watcher (a daemon forking workers): in the child,
 * ww_snapshot answers with the last state published before the fork (and
 * no longer changes), ww_ready, ww_wait and ww_event_fd return
 * WW_STATUS_FORKED at once, ww_shutdown does nothing, and ww_close returns
 * at once, also while a thread of the parent was blocked in ww_wait at the
 * fork. The parent goes on seeing changes. The child tells what it found
 * through its exit status (see child_exit).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND_H 1
#endif
#endif

/* How long the child may take in all (valgrind is slow), and what "at
 * once" means for a call given a long timeout. */
#define CHILD_TIMEOUT_MS 60000.0
#define AT_ONCE_MS 1000.0

/* In the child: a failed check says why on stderr and ends the checks with
 * its own exit status. */
#define CHILD_CHECK(cond, code, ...)                                       \
    do {                                                                   \
        if (!(cond)) {                                                     \
            note("child: check failed: %s", #cond);                        \
            note(__VA_ARGS__);                                             \
            status = (code);                                               \
            goto out;                                                      \
        }                                                                  \
    } while (0)

/* The errors valgrind has found in this process so far (0 when not
 * under valgrind, or without its header). */
static unsigned valgrind_errors(void) {
#ifdef HAVE_VALGRIND_H
    return (unsigned)VALGRIND_COUNT_ERRORS;
#else
    return 0;
#endif
}

/* Ends the child with exit status `code`: _exit, so that no exit handler
 * runs (LeakSanitizer's among them) and nothing of the parent's is flushed
 * twice. Under valgrind, whose leak check at the child's exit would count
 * as lost what the watcher's thread holds (that thread exists in the
 * parent only, and valgrind does not scan its stack in the child), the
 * memory errors found in the child since `errors_at_fork` become exit
 * status 40 instead, and the child ends by exec'ing a shell that exits
 * with the status: an exec ends a process without valgrind's leak check. */
static void child_exit(int code, unsigned errors_at_fork) {
    if (under_valgrind()) {
        char status[16];
        if (code == 0 && valgrind_errors() > errors_at_fork) {
            note("child: valgrind found %u memory errors (above)", valgrind_errors() - errors_at_fork);
            code = 40;
        }
        snprintf(status, sizeof status, "%d", code);
        execl("/bin/sh", "sh", "-c", "exit \"$0\"", status, (char *)NULL);
        note("child: exec /bin/sh: %s", strerror(errno));
    }
    _exit(code);
}

/* The containers of `a` and `b` are the same: IDs, PIDs, names, paused. */
static bool same_containers(const ww_portfolio *a, const ww_portfolio *b) {
    size_t i;
    if (a->containers_len != b->containers_len) {
        return false;
    }
    for (i = 0; i < a->containers_len; i++) {
        const ww_container *x = &a->containers[i], *y = &b->containers[i];
        if (!streq(x->id, y->id) || x->pid != y->pid || !streq(x->name, y->name) || x->paused != y->paused) {
            return false;
        }
    }
    return true;
}

/* A status call in the child: WW_STATUS_FORKED at once, the message
 * naming the function and the parent. */
static int forked_at_once(ww_status s, double took, const char *function) {
    int status = 0;
    CHILD_CHECK(s == WW_STATUS_FORKED, 20, "%s: %s: %s", function, ww_status_str(s), last_error());
    CHILD_CHECK(took < AT_ONCE_MS, 21, "%s took %.0f ms", function, took);
    CHILD_CHECK(contains(last_error(), function) && contains(last_error(), "parent process"), 22,
                "%s: message \"%s\"", function, last_error());
out:
    return status;
}

/* What the child checks; 0 when all is well. `before` is the parent's
 * snapshot taken just before the fork; `go` becomes readable once the
 * parent has seen the Docker container paused. */
static int in_child(ww_watcher *w, const ww_portfolio *before, int go) {
    int status = 0, fd = -7;
    const ww_portfolio *p = NULL, *again = NULL;
    const ww_container *c;
    struct pollfd pfd;
    char byte;
    double t0;
    ww_status s;

    /* The last state published before the fork. */
    CHILD_CHECK(ww_snapshot(w, &p) == WW_STATUS_OK, 10, "ww_snapshot: %s", last_error());
    CHILD_CHECK(p->generation >= before->generation, 11, "generation %llu, before the fork %llu",
                (unsigned long long)p->generation, (unsigned long long)before->generation);
    CHILD_CHECK(p->generation != before->generation || same_containers(p, before), 12,
                "generation %llu: other containers than before the fork", (unsigned long long)p->generation);
    CHILD_CHECK(portfolio_invariants(p, "docker.com", g_endpoint) && has_docker_container(p), 13,
                "the snapshot lacks the Docker container");
    /* It no longer changes: the parent's watcher sees the container paused,
     * this one does not. */
    pfd.fd = go;
    pfd.events = POLLIN;
    CHILD_CHECK(poll(&pfd, 1, (int)CHILD_TIMEOUT_MS) == 1 && read(go, &byte, 1) == 1, 14,
                "no word from the parent");
    CHILD_CHECK(ww_snapshot(w, &again) == WW_STATUS_OK, 10, "ww_snapshot: %s", last_error());
    CHILD_CHECK(again->generation == p->generation && same_containers(again, p), 15,
                "generation %llu after the parent's change, %llu before", (unsigned long long)again->generation,
                (unsigned long long)p->generation);
    c = find_container(again, g_docker.id);
    CHILD_CHECK(c != NULL && !c->paused, 16, "the container is %s", c == NULL ? "gone" : "paused");
    ww_snapshot_free(again);
    again = NULL;

    /* The watcher's thread runs in the parent: nothing to wait for here,
     * also without a time limit. */
    t0 = now_ms();
    s = ww_ready(w, 30000);
    if ((status = forked_at_once(s, now_ms() - t0, "ww_ready")) != 0) {
        goto out;
    }
    t0 = now_ms();
    s = ww_ready(w, -1);
    if ((status = forked_at_once(s, now_ms() - t0, "ww_ready")) != 0) {
        goto out;
    }
    t0 = now_ms();
    s = ww_wait(w, p->generation, 30000);
    if ((status = forked_at_once(s, now_ms() - t0, "ww_wait")) != 0) {
        goto out;
    }
    t0 = now_ms();
    s = ww_wait(w, 0, -1); /* older generations exist, but none of this process */
    if ((status = forked_at_once(s, now_ms() - t0, "ww_wait")) != 0) {
        goto out;
    }
    s = ww_event_fd(w, &fd);
    if ((status = forked_at_once(s, 0.0, "ww_event_fd")) != 0) {
        goto out;
    }
    CHILD_CHECK(fd == -7, 23, "ww_event_fd wrote %d", fd);

    /* ww_shutdown does nothing here; the snapshot stays. */
    ww_shutdown(w);
    CHILD_CHECK(ww_snapshot(w, &again) == WW_STATUS_OK, 10, "ww_snapshot after ww_shutdown: %s", last_error());
    CHILD_CHECK(again->generation == p->generation, 17, "generation %llu after ww_shutdown",
                (unsigned long long)again->generation);
    ww_snapshot_free(again);
    again = NULL;
    /* Snapshots taken outlive ww_close, which returns at once. */
    t0 = now_ms();
    ww_close(w);
    w = NULL;
    CHILD_CHECK(now_ms() - t0 < AT_ONCE_MS, 18, "ww_close took %.0f ms", now_ms() - t0);
    CHILD_CHECK(find_container(p, g_docker.id) != NULL && touch_all_strings(p) > 0, 19,
                "the snapshot after ww_close");
out:
    ww_snapshot_free(again);
    ww_snapshot_free(p);
    ww_snapshot_free(before);
    if (w != NULL) {
        ww_close(w);
    }
    return status;
}

/* Waits for child `pid` at most `timeout_ms`; kills it if it hangs. Its
 * wait status, or -1 (after saying why). */
static int wait_child(pid_t pid, double timeout_ms) {
    double until = now_ms() + timeout_ms;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return status;
        }
        if (r < 0 && errno != EINTR) {
            note("waitpid: %s", strerror(errno));
            return -1;
        }
        if (now_ms() >= until) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            note("the child hangs after %.0f ms: killed", timeout_ms);
            return -1;
        }
        sleep_ms(5);
    }
}

static bool test_fork_child_answers_from_the_last_state(void) {
    bool ok = true, paused = false;
    ww_watcher *w = NULL;
    const ww_portfolio *before = NULL, *p = NULL;
    struct waiters ws;
    int fd = -1, again = -1, go[2] = {-1, -1}, status;
    pid_t pid = -1;

    ws.n = 0;
    w = ready_watcher();
    CHECK(w != NULL);
    CHECK_OK(ww_event_fd(w, &fd)); /* the descriptor exists before the fork */
    CHECK_OK(ww_snapshot(w, &before));
    /* A thread of the parent is blocked in ww_wait when the process forks. */
    CHECK(start_waiter(&ws, w, false, before->generation, 60000));
    CHECK(pipe(go) == 0);
    fflush(NULL);
    pid = fork();
    CHECKF(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        const unsigned errors = valgrind_errors();
        close(go[1]);
        child_exit(in_child(w, before, go[0]), errors);
    }
    close(go[0]);
    go[0] = -1;
    /* The parent goes on: it sees the container paused, and so does its
     * waiter. */
    CHECK(docker_pause(true));
    paused = true;
    CHECK(await_container(w, g_docker.id, true, 20000, &p));
    ww_snapshot_free(p);
    p = NULL;
    CHECK(write(go[1], "x", 1) == 1);
    status = wait_child(pid, CHILD_TIMEOUT_MS);
    pid = -1;
    CHECKF(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's wait status 0x%x (exit %d)",
           (unsigned)status, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    join_waiters(&ws);
    CHECKF(ws.wt[0].status == WW_STATUS_OK, "the parent's waiter: %s: %s", ww_status_str(ws.wt[0].status),
           ws.wt[0].message);
    /* Unchanged for the parent: ready, the same descriptor, changes seen. */
    CHECK_OK(ww_ready(w, 0));
    CHECK_OK(ww_event_fd(w, &again));
    CHECKF(again == fd, "descriptor %d, before the fork %d", again, fd);
    CHECK(docker_pause(false));
    paused = false;
    CHECK(await_container(w, g_docker.id, false, 20000, &p));
out:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (go[0] >= 0) {
        close(go[0]);
    }
    if (go[1] >= 0) {
        close(go[1]);
    }
    if (paused) {
        docker_pause(false);
    }
    if (ws.n > 0) {
        ww_shutdown(w);
        join_waiters(&ws);
    }
    ww_snapshot_free(p);
    ww_snapshot_free(before);
    ww_close(w);
    return ok;
}

/* Several forks in a row, each child closing its copy at once: the
 * parent's watcher is untouched, its snapshots current. */
static bool test_fork_repeatedly_parent_unaffected(void) {
    bool ok = true;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    int round, status;
    w = ready_watcher();
    CHECK(w != NULL);
    for (round = 0; round < 5; round++) {
        pid_t pid;
        fflush(NULL);
        pid = fork();
        CHECKF(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            const unsigned errors = valgrind_errors();
            int code = 0;
            if (ww_snapshot(w, &p) != WW_STATUS_OK || !has_docker_container(p)) {
                code = 30;
            } else if (ww_wait(w, p->generation, 30000) != WW_STATUS_FORKED) {
                code = 31;
            }
            ww_snapshot_free(p);
            ww_close(w);
            child_exit(code, errors);
        }
        status = wait_child(pid, CHILD_TIMEOUT_MS);
        CHECKF(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
               "round %d: the child's wait status 0x%x (exit %d)", round, (unsigned)status,
               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        CHECK_OK(ww_ready(w, 0));
        CHECK_OK(ww_snapshot(w, &p));
        CHECK(has_docker_container(p));
        ww_snapshot_free(p);
        p = NULL;
    }
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

const struct test fork_tests[] = {
    {test_fork_child_answers_from_the_last_state, "fork_child_answers_from_the_last_state"},
    {test_fork_repeatedly_parent_unaffected, "fork_repeatedly_parent_unaffected"},
};
DEFINE_SUITE_LEN(fork);
