/*
 * whalewatch: the alive containers of every container engine on this host
 * (Docker, podman, containerd, CRI runtimes), as libwhalewatcher sees them.
 *
 *   whalewatch [--follow] [--json] [--engine KIND [--endpoint URL]] [--timeout MS]
 *   whalewatch engines [--json] [--engine KIND] [--endpoint URL]
 *
 * Without a command it prints one table row per alive container: its
 * engine (kind and endpoint), compose project or Kubernetes/podman pod,
 * name, PID, state (running or paused), image and age. With --follow it
 * then keeps running and prints one line per change as it happens (a
 * container started, exited, paused, resumed or otherwise changed; an
 * engine found, lost, back), until SIGINT or SIGTERM, which end it with
 * exit status 0. With --json it prints JSON lines instead: one object per
 * container, every field of the library's record, then with --follow one
 * object per change ({"change":"started", ...}).
 *
 * `whalewatch engines` lists the engines that discovery (ww_discover)
 * finds on this host, and how it found them.
 *
 * Exit status: 0 when it worked; 1 when no engine was found, or the engine
 * asked for cannot be watched (the message on stderr says why); 2 for bad
 * arguments.
 *
 * How it uses the library, in order (see main):
 *   ww_options_init, ww_new        a watcher of one engine or of all (WW_ENGINE_AUTO)
 *   ww_ready                       the first synchronisation, bounded by --timeout
 *   ww_event_fd, ww_snapshot       the picture, and a descriptor for poll(2)
 *   ww_diff                        --follow: what changed between two pictures
 *   ww_shutdown                    --follow: a signal ends the watch (from a thread
 *                                  that waits for SIGINT and SIGTERM)
 *   ww_close                       last
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "text.h"
#include "whalewatcher.h"

#define PROG "whalewatch"
#define DEFAULT_TIMEOUT_MS 10000

static void usage(FILE *to) {
    fputs("usage: " PROG " [--follow] [--json] [--engine KIND [--endpoint URL]] [--timeout MS]\n"
          "       " PROG " engines [--json] [--engine KIND] [--endpoint URL]\n",
          to);
}

static void help(void) {
    usage(stdout);
    fputs("\n"
          "The alive containers of the container engines on this host (Docker, podman,\n"
          "containerd, CRI runtimes): one row per container with its engine, compose\n"
          "project or pod, name, PID, state, image and age.\n"
          "\n"
          "Commands:\n"
          "  (none)             the containers of every engine found (or of --engine)\n"
          "  engines            the engines found on this host: kind, endpoint, PID,\n"
          "                     owner and how each was found\n"
          "\n"
          "Options:\n"
          "  -f, --follow       keep running and print every change as it happens, until\n"
          "                     SIGINT or SIGTERM (exit status 0)\n"
          "  -j, --json         JSON lines: one object per container (every field, labels\n"
          "                     and engine included), per change ({\"change\":\"started\",...})\n"
          "                     or per engine\n"
          "  --engine KIND      docker, podman, containerd, cri, or auto: every engine\n"
          "                     discovery finds (the default)\n"
          "  --endpoint URL     where the engine listens, e.g. unix:///var/run/docker.sock;\n"
          "                     needs --engine KIND (default: the engine's usual endpoint,\n"
          "                     or DOCKER_HOST, CONTAINER_HOST, CONTAINERD_ADDRESS,\n"
          "                     CONTAINER_RUNTIME_ENDPOINT)\n"
          "  --timeout MS       how long to wait for the engines' first synchronisation\n"
          "                     (default 10000); with --follow an unreachable engine is\n"
          "                     retried until then, without it fails at once\n"
          "  -h, --help         this help\n"
          "  --version          the version of whalewatch and of the library\n"
          "\n"
          "Exit status: 0 ok; 1 no engine found, or the engine cannot be watched;\n"
          "2 bad arguments.\n",
          stdout);
}

/* ---- names ------------------------------------------------------------- */

static const char *kind_name(ww_engine kind) {
    switch (kind) {
    case WW_ENGINE_DOCKER:
        return "docker";
    case WW_ENGINE_CONTAINERD:
        return "containerd";
    case WW_ENGINE_CRI:
        return "cri";
    case WW_ENGINE_PODMAN:
        return "podman";
    case WW_ENGINE_AUTO:
        return "auto";
    default:
        return "unknown";
    }
}

/* The engine named KIND on the command line, or 0 (no engine is 0). */
static ww_engine parse_kind(const char *name) {
    static const ww_engine kinds[] = {WW_ENGINE_DOCKER, WW_ENGINE_CONTAINERD, WW_ENGINE_CRI, WW_ENGINE_PODMAN,
                                      WW_ENGINE_AUTO};
    size_t i;
    for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(name, kind_name(kinds[i])) == 0) {
            return kinds[i];
        }
    }
    return 0;
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
        return "gave_up";
    default:
        return "unknown";
    }
}

/* Whether the engine's containers are shown: it has synchronised and
 * follows the engine (or, resyncing, shows the last state while it
 * reconnects). */
static int engine_usable(const ww_engine_info *e) {
    return e->state == WW_ENGINE_STATE_SYNCED || e->state == WW_ENGINE_STATE_RESYNCING;
}

/* "KIND:ENDPOINT", the endpoint without "unix://": how the table and the
 * change lines name an engine. Newly allocated. */
static char *engine_label(const ww_engine_info *e) {
    const char *ep = e->endpoint;
    if (strncmp(ep, "unix://", 7) == 0) {
        ep += 7;
    }
    return text_format("%s:%s", kind_name(e->kind), ep);
}

/* ---- the command line -------------------------------------------------- */

enum command { LIST_CONTAINERS, LIST_ENGINES };

struct args {
    enum command command;
    int follow;
    int json;
    ww_engine engine;     /* WW_ENGINE_AUTO unless --engine */
    const char *endpoint; /* NULL unless --endpoint */
    int32_t timeout_ms;
};

/* A non-negative number of milliseconds that fits ww_ready's int32_t. */
static int parse_ms(const char *s, int32_t *ms) {
    char *end = NULL;
    long v;
    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > INT32_MAX) {
        return -1;
    }
    *ms = (int32_t)v;
    return 0;
}

/* Fills a from argv: returns -1 to go on, else the exit status (0 after
 * --help or --version, 2 after a message and the usage on stderr). */
static int parse_args(int argc, char **argv, struct args *a) {
    int i, have_command = 0;

    a->command = LIST_CONTAINERS;
    a->follow = 0;
    a->json = 0;
    a->engine = WW_ENGINE_AUTO;
    a->endpoint = NULL;
    a->timeout_ms = DEFAULT_TIMEOUT_MS;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = NULL, *eq;
        size_t name_len = strlen(arg);
        int takes_value;

        /* --name=value is --name value. */
        if (strncmp(arg, "--", 2) == 0 && (eq = strchr(arg, '=')) != NULL) {
            name_len = (size_t)(eq - arg);
            value = eq + 1;
        }
#define IS(opt) (strlen(opt) == name_len && strncmp(arg, opt, name_len) == 0)
        takes_value = IS("--engine") || IS("--endpoint") || IS("--timeout");
        if (takes_value && value == NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, PROG ": %s needs a value\n", arg);
                usage(stderr);
                return 2;
            }
            value = argv[++i];
        } else if (!takes_value && value != NULL) {
            fprintf(stderr, PROG ": %.*s takes no value\n", (int)name_len, arg);
            usage(stderr);
            return 2;
        }

        if (IS("--help") || IS("-h")) {
            help();
            return 0;
        } else if (IS("--version")) {
            /* The header the program was built with, and the library it loaded. */
            printf(PROG " %s (libwhalewatcher %s, ABI %u)\n", WW_VERSION_STRING, ww_version(),
                   (unsigned)ww_abi_version());
            return 0;
        } else if (IS("--follow") || IS("-f")) {
            a->follow = 1;
        } else if (IS("--json") || IS("-j")) {
            a->json = 1;
        } else if (IS("--engine")) {
            a->engine = parse_kind(value);
            if (a->engine == 0) {
                fprintf(stderr, PROG ": unknown engine '%s': docker, podman, containerd, cri or auto\n", value);
                usage(stderr);
                return 2;
            }
        } else if (IS("--endpoint")) {
            if (value[0] == '\0') {
                fprintf(stderr, PROG ": --endpoint needs a URL\n");
                usage(stderr);
                return 2;
            }
            a->endpoint = value;
        } else if (IS("--timeout")) {
            if (parse_ms(value, &a->timeout_ms) != 0) {
                fprintf(stderr, PROG ": --timeout takes milliseconds (0 to %d), not '%s'\n", INT32_MAX, value);
                usage(stderr);
                return 2;
            }
        } else if (arg[0] == '-') {
            fprintf(stderr, PROG ": unknown option '%s'\n", arg);
            usage(stderr);
            return 2;
        } else if (!have_command && strcmp(arg, "engines") == 0) {
            a->command = LIST_ENGINES;
            have_command = 1;
        } else {
            fprintf(stderr, PROG ": unexpected argument '%s'\n", arg);
            usage(stderr);
            return 2;
        }
#undef IS
    }

    if (a->command == LIST_ENGINES && a->follow) {
        fprintf(stderr, PROG ": engines lists what is found now: no --follow\n");
        usage(stderr);
        return 2;
    }
    /* A watcher of every engine finds the endpoints itself; for the engine
     * list, --endpoint just selects. */
    if (a->command == LIST_CONTAINERS && a->endpoint != NULL && a->engine == WW_ENGINE_AUTO) {
        fprintf(stderr, PROG ": --endpoint needs --engine docker, podman, containerd or cri\n");
        usage(stderr);
        return 2;
    }
    return -1;
}

/* ---- JSON -------------------------------------------------------------- */

/* Writes ,"key": (or just "key": for the first member of an object). */
static void json_key(FILE *out, int *first, const char *key) {
    if (!*first) {
        putc(',', out);
    }
    *first = 0;
    fprintf(out, "\"%s\":", key);
}

static void json_str_member(FILE *out, int *first, const char *key, const char *value) {
    json_key(out, first, key);
    json_string(out, value);
}

static void json_int_member(FILE *out, int *first, const char *key, long long value) {
    json_key(out, first, key);
    fprintf(out, "%lld", value);
}

static void json_bool_member(FILE *out, int *first, const char *key, bool value) {
    json_key(out, first, key);
    fputs(value ? "true" : "false", out);
}

static void json_engine(FILE *out, const ww_engine_info *e) {
    int first = 1;
    putc('{', out);
    json_str_member(out, &first, "kind", kind_name(e->kind));
    json_str_member(out, &first, "type", e->type);
    json_str_member(out, &first, "endpoint", e->endpoint);
    json_str_member(out, &first, "id", e->id);
    json_str_member(out, &first, "version", e->version);
    json_int_member(out, &first, "pid", e->pid);
    json_str_member(out, &first, "state", state_name(e->state));
    json_str_member(out, &first, "last_error", e->last_error);
    putc('}', out);
}

/* One line: the container's every field, its engine, and when `change` is
 * not NULL, first "change":CHANGE. */
static void json_container(FILE *out, const ww_portfolio *p, const ww_container *c, const char *change) {
    int first = 1;
    size_t i;

    putc('{', out);
    if (change != NULL) {
        json_str_member(out, &first, "change", change);
    }
    json_str_member(out, &first, "id", c->id);
    json_str_member(out, &first, "name", c->name);
    json_str_member(out, &first, "project", c->project);
    json_int_member(out, &first, "pid", c->pid);
    json_bool_member(out, &first, "paused", c->paused);
    json_bool_member(out, &first, "privileged", c->privileged);
    json_str_member(out, &first, "image", c->image);
    json_str_member(out, &first, "image_id", c->image_id);
    json_int_member(out, &first, "started_at_ns", (long long)c->started_at_ns);
    json_str_member(out, &first, "pod_name", c->pod_name);
    json_str_member(out, &first, "pod_namespace", c->pod_namespace);
    json_str_member(out, &first, "pod_uid", c->pod_uid);
    json_bool_member(out, &first, "pod_sandbox", c->pod_sandbox);
    json_key(out, &first, "labels");
    putc('{', out);
    for (i = 0; i < c->labels_len; i++) {
        /* Sorted by key, keys unique: a JSON object as it is. */
        if (i > 0) {
            putc(',', out);
        }
        json_string(out, c->labels[i].key);
        putc(':', out);
        json_string(out, c->labels[i].value);
    }
    putc('}', out);
    json_key(out, &first, "engine");
    json_engine(out, &p->engines[c->engine]);
    fputs("}\n", out);
}

/* ---- the table ----------------------------------------------------------- */

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* How long ago the container's process started, in its two largest units
 * ("42s", "5m03s", "3h12m", "4d05h"); "-" when the engine did not say. */
static void format_age(char *buf, size_t size, int64_t started_at_ns, int64_t now) {
    long long s;
    if (started_at_ns <= 0) {
        snprintf(buf, size, "-");
        return;
    }
    s = now > started_at_ns ? (long long)((now - started_at_ns) / 1000000000) : 0;
    if (s < 60) {
        snprintf(buf, size, "%llds", s);
    } else if (s < 3600) {
        snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
    } else if (s < 86400) {
        snprintf(buf, size, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    } else {
        snprintf(buf, size, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    }
}

/* The PROJECT/POD cell: the compose project, else the pod as
 * "pod:NAMESPACE/NAME" (Kubernetes) or "pod:NAME" (podman), else "". */
static char *group_of(const ww_container *c) {
    if (c->project[0] != '\0') {
        return text_format("%s", c->project);
    }
    if (c->pod_name[0] != '\0') {
        return text_format("pod:%s%s%s", c->pod_namespace, c->pod_namespace[0] ? "/" : "", c->pod_name);
    }
    return text_format("%s", "");
}

static void print_table(const ww_portfolio *p) {
    static const char *const header[] = {"ENGINE", "PROJECT/POD", "NAME", "PID", "STATE", "IMAGE", "AGE"};
    struct table t;
    int64_t now = now_ns();
    size_t i;

    table_init(&t, sizeof header / sizeof header[0]);
    table_add(&t, header);
    /* The snapshot is sorted by engine, project, name and ID already. */
    for (i = 0; i < p->containers_len; i++) {
        const ww_container *c = &p->containers[i];
        char pid[16], age[32];
        char *engine = engine_label(&p->engines[c->engine]), *group = group_of(c);
        const char *row[7];
        snprintf(pid, sizeof pid, "%d", (int)c->pid);
        format_age(age, sizeof age, c->started_at_ns, now);
        row[0] = engine;
        row[1] = group;
        row[2] = c->name;
        row[3] = pid;
        row[4] = c->paused ? "paused" : "running";
        row[5] = c->image;
        row[6] = age;
        table_add(&t, row);
        free(engine);
        free(group);
    }
    table_print(&t, stdout);
    table_free(&t);
}

static void print_containers(const ww_portfolio *p, const struct args *a) {
    if (a->json) {
        size_t i;
        for (i = 0; i < p->containers_len; i++) {
            json_container(stdout, p, &p->containers[i], NULL);
        }
    } else {
        print_table(p);
    }
}

/* ---- changes (--follow) ------------------------------------------------ */

/* "+ started NAME (ENGINE, PID N, ...)": one line per container change. */
static void text_change(const ww_portfolio *p, const ww_container *c, const char *what) {
    char *engine = engine_label(&p->engines[c->engine]);
    char mark = strcmp(what, "started") == 0 ? '+' : strcmp(what, "exited") == 0 ? '-' : '~';
    printf("%c %s ", mark, what);
    text_put(stdout, c->name);
    fputs(" (", stdout);
    text_put(stdout, engine);
    printf(", PID %d", (int)c->pid);
    if (mark == '+') {
        char *group = group_of(c);
        if (group[0] != '\0') {
            fputs(c->project[0] ? ", project " : ", ", stdout);
            text_put(stdout, group);
        }
        fputs(", image ", stdout);
        text_put(stdout, c->image[0] ? c->image : "-");
        free(group);
    }
    fputs(")\n", stdout);
    free(engine);
}

/* "! engine ENGINE STATE[: LAST ERROR]", or {"change":"engine","engine":{...}}. */
static void print_engine_change(const ww_engine_info *e, const struct args *a) {
    if (a->json) {
        fputs("{\"change\":\"engine\",\"engine\":", stdout);
        json_engine(stdout, e);
        fputs("}\n", stdout);
    } else {
        char *engine = engine_label(e);
        fputs("! engine ", stdout);
        text_put(stdout, engine);
        printf(" %s", e->state == WW_ENGINE_STATE_GAVE_UP ? "gave up" : state_name(e->state));
        if (e->last_error[0] != '\0') {
            fputs(": ", stdout);
            text_put(stdout, e->last_error);
        }
        putc('\n', stdout);
        free(engine);
    }
}

/* Prints what changed from `from` to `to`: engines first, then containers
 * in ww_diff's order (exits, starts, the rest). Returns 0, or -1 after a
 * message when ww_diff fails. */
static int print_changes(const ww_portfolio *from, const ww_portfolio *to, const struct args *a) {
    const ww_change *changes = NULL;
    size_t n = 0, i;
    ww_status s;

    /* An engine keeps its index for the watcher's life; a watcher of all
     * engines adds those found later at the end. */
    for (i = 0; i < to->engines_len; i++) {
        const ww_engine_info *now = &to->engines[i];
        if (i >= from->engines_len || from->engines[i].state != now->state ||
            strcmp(from->engines[i].last_error, now->last_error) != 0) {
            print_engine_change(now, a);
        }
    }

    s = ww_diff(from, to, &changes, &n);
    if (s != WW_STATUS_OK) {
        fprintf(stderr, PROG ": cannot compare snapshots: %s: %s\n", ww_status_str(s), ww_last_error_message());
        return -1;
    }
    for (i = 0; i < n; i++) {
        const ww_change *ch = &changes[i];
        /* EXITED has only `before` (in from), every other kind `after` (in to). */
        const ww_portfolio *p = ch->kind == WW_CHANGE_EXITED ? from : to;
        const ww_container *c = ch->kind == WW_CHANGE_EXITED ? ch->before : ch->after;
        const char *what;
        switch (ch->kind) {
        case WW_CHANGE_STARTED:
            what = "started";
            break;
        case WW_CHANGE_EXITED:
            what = "exited";
            break;
        case WW_CHANGE_PAUSED:
            what = "paused";
            break;
        case WW_CHANGE_UNPAUSED:
            what = "unpaused";
            break;
        case WW_CHANGE_UPDATED:
            what = "updated";
            break;
        default:
            continue; /* a kind of change this program does not know */
        }
        if (a->json) {
            json_container(stdout, p, c, what);
        } else {
            text_change(p, c, what);
        }
    }
    ww_changes_free(changes);
    return 0;
}

/* ---- signals (--follow) -------------------------------------------------- */

/* SIGINT and SIGTERM are blocked in every thread (the library's threads
 * inherit the mask from the thread that calls ww_new) and taken by one
 * thread that waits for them with sigwait(2). It is a plain thread, not a
 * signal handler, so it may call the library: ww_shutdown, which wakes the
 * main thread wherever it waits (ww_ready, poll on the event descriptor,
 * ww_wait) with WW_STATUS_CLOSED. The main thread then joins it and closes
 * the watcher: ww_close is never called while another call might start. */
static sigset_t stop_signals;

static void block_stop_signals(void) {
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
}

static void *stop_on_signal(void *watcher) {
    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0) {
    }
    ww_shutdown((ww_watcher *)watcher);
    return NULL;
}

/* ---- following ------------------------------------------------------------ */

/* Prints every change after `shown` (which it frees) until the watch is
 * shut down: returns the exit status. */
static int follow(ww_watcher *w, int event_fd, const ww_portfolio *shown, const struct args *a, int *closed) {
    struct pollfd pfd;
    int rc = 0;

    pfd.fd = event_fd;
    pfd.events = POLLIN;
    for (;;) {
        const ww_portfolio *now = NULL;
        uint64_t ack;
        ww_status s;

        if (poll(&pfd, 1, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror(PROG ": poll");
            rc = 1;
            break;
        }
        /* First acknowledge, then look: whatever is published after the
         * read makes the descriptor readable again, so nothing is missed.
         * Several changes may have folded into this one wake-up. */
        if (read(event_fd, &ack, sizeof ack) < 0 && errno != EAGAIN) {
            perror(PROG ": read the event descriptor");
            rc = 1;
            break;
        }
        s = ww_snapshot(w, &now);
        if (s != WW_STATUS_OK) {
            fprintf(stderr, PROG ": no snapshot: %s: %s\n", ww_status_str(s), ww_last_error_message());
            rc = 1;
            break;
        }
        if (print_changes(shown, now, a) != 0) {
            ww_snapshot_free(now);
            rc = 1;
            break;
        }
        if (fflush(stdout) != 0) {
            perror(PROG ": write");
            ww_snapshot_free(now);
            rc = 1;
            break;
        }
        ww_snapshot_free(shown);
        shown = now;

        /* The same wake-up also comes from ww_shutdown (a stop signal), and
         * when nothing can change anymore (every engine gave up, or the
         * background work failed), the descriptor would never wake us again:
         * a look without waiting tells. */
        s = ww_wait(w, shown->generation, 0);
        if (s == WW_STATUS_CLOSED) {
            *closed = 1;
            break;
        }
        if (s != WW_STATUS_OK && s != WW_STATUS_TIMEOUT) {
            fprintf(stderr, PROG ": nothing changes anymore: %s: %s\n", ww_status_str(s), ww_last_error_message());
            rc = 1;
            break;
        }
    }
    ww_snapshot_free(shown);
    return rc;
}

/* ---- engines ------------------------------------------------------------ */

/* Whether endpoint `want` (as given: unix://PATH, PATH, tcp://...) names `have`. */
static int same_endpoint(const char *want, const char *have) {
    if (want[0] == '/' && strncmp(have, "unix://", 7) == 0) {
        have += 7;
    }
    return strcmp(want, have) == 0;
}

/* `whalewatch engines`: what ww_discover finds, maybe narrowed to one kind
 * or one endpoint. */
static int list_engines(const struct args *a) {
    static const char *const header[] = {"KIND", "ENDPOINT", "PID", "UID", "FOUND-BY"};
    const ww_endpoint *found = NULL;
    size_t n = 0, i, shown = 0;
    struct table t;
    sigset_t pipe_signal, mask;
    ww_status s;

    /* ww_discover probes sockets from a thread of its own, which inherits
     * this thread's signal mask; a probed socket that hangs up makes a
     * write fail with EPIPE, and SIGPIPE then must not end the program.
     * Blocked only for the call: whalewatch itself ends on SIGPIPE, as
     * command-line tools do, when the reader of its output goes away. */
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, &mask);
    s = ww_discover(&found, &n);
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
    if (s != WW_STATUS_OK) {
        fprintf(stderr, PROG ": cannot discover engines: %s: %s\n", ww_status_str(s), ww_last_error_message());
        return 1;
    }
    table_init(&t, sizeof header / sizeof header[0]);
    table_add(&t, header);
    for (i = 0; i < n; i++) {
        const ww_endpoint *e = &found[i];
        if ((a->engine != WW_ENGINE_AUTO && e->kind != a->engine) ||
            (a->endpoint != NULL && !same_endpoint(a->endpoint, e->endpoint))) {
            continue;
        }
        shown++;
        if (a->json) {
            int first = 1;
            putchar('{');
            json_str_member(stdout, &first, "kind", kind_name(e->kind));
            json_str_member(stdout, &first, "endpoint", e->endpoint);
            json_int_member(stdout, &first, "pid", e->pid);
            json_int_member(stdout, &first, "uid", e->uid);
            json_str_member(stdout, &first, "found_by", e->found_by);
            fputs("}\n", stdout);
        } else {
            char pid[16], uid[16];
            const char *row[5];
            /* The PID is unknown for TCP endpoints, and for sockets whose
             * owner the kernel does not tell. */
            if (e->pid > 0) {
                snprintf(pid, sizeof pid, "%d", (int)e->pid);
            } else {
                snprintf(pid, sizeof pid, "-");
            }
            snprintf(uid, sizeof uid, "%u", (unsigned)e->uid);
            row[0] = kind_name(e->kind);
            row[1] = e->endpoint;
            row[2] = pid;
            row[3] = uid;
            row[4] = e->found_by;
            table_add(&t, row);
        }
    }
    ww_endpoints_free(found);
    if (shown == 0) {
        table_free(&t);
        fprintf(stderr, PROG ": no %s engine found on this host%s%s\n",
                a->engine == WW_ENGINE_AUTO ? "container" : kind_name(a->engine), a->endpoint ? " at " : "",
                a->endpoint ? a->endpoint : "");
        return 1;
    }
    if (!a->json) {
        table_print(&t, stdout);
    }
    table_free(&t);
    return 0;
}

/* Tells on stderr about each engine whose containers are not shown: still
 * connecting, or given up. Returns how many engines are usable. */
static size_t warn_unusable_engines(const ww_portfolio *p) {
    size_t i, usable = 0;
    for (i = 0; i < p->engines_len; i++) {
        const ww_engine_info *e = &p->engines[i];
        char *engine;
        if (engine_usable(e)) {
            usable++;
            continue;
        }
        engine = engine_label(e);
        fputs(PROG ": engine ", stderr);
        text_put(stderr, engine);
        fprintf(stderr, " %s, its containers are not shown%s",
                e->state == WW_ENGINE_STATE_GAVE_UP ? "gave up" : "is not synchronised", e->last_error[0] ? ": " : "");
        text_put(stderr, e->last_error);
        putc('\n', stderr);
        free(engine);
    }
    return usable;
}

/* ---- main ------------------------------------------------------------------ */

/* What the engine to watch is called in messages. */
static void describe_target(const struct args *a, char *buf, size_t size) {
    if (a->engine == WW_ENGINE_AUTO) {
        snprintf(buf, size, "the engines on this host");
    } else if (a->endpoint != NULL) {
        snprintf(buf, size, "%s at %s", kind_name(a->engine), a->endpoint);
    } else {
        snprintf(buf, size, "%s at its default endpoint", kind_name(a->engine));
    }
}

int main(int argc, char **argv) {
    struct args a;
    ww_options opts;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    pthread_t stopper;
    int rc, closed = 0, event_fd = -1;
    char target[512];
    ww_status s;

    rc = parse_args(argc, argv, &a);
    if (rc >= 0) {
        return rc;
    }
    /* The header this program was compiled with must describe the library
     * it loaded. */
    if (ww_abi_version() != WW_ABI_VERSION) {
        fprintf(stderr, PROG ": built for libwhalewatcher ABI %d, but loaded ABI %u (libwhalewatcher %s)\n",
                WW_ABI_VERSION, (unsigned)ww_abi_version(), ww_version());
        return 1;
    }
    if (a.command == LIST_ENGINES) {
        rc = list_engines(&a);
        return fflush(stdout) == 0 && !ferror(stdout) ? rc : 1;
    }
    describe_target(&a, target, sizeof target);

    /* sizeof tells the library which version of the struct this program
     * was compiled with. */
    ww_options_init(&opts, sizeof opts);
    opts.engine = a.engine;
    opts.endpoint = a.endpoint; /* NULL: the engine's default */
    if (!a.follow) {
        /* One look: an engine that cannot be reached fails at once rather
         * than being retried until the timeout. --follow keeps the default,
         * exponential backoff without end, and so rides out engine restarts. */
        opts.backoff = WW_BACKOFF_NONE;
    } else {
        /* Before ww_new: the library's threads inherit the signal mask. */
        block_stop_signals();
    }
    s = ww_new(&opts, &w);
    if (s != WW_STATUS_OK) {
        fprintf(stderr, PROG ": cannot watch %s: %s\n", target, ww_last_error_message());
        /* An endpoint the library refuses (its scheme, its length) is a bad argument. */
        if (s == WW_STATUS_INVALID_ARG) {
            usage(stderr);
            return 2;
        }
        return 1;
    }
    if (a.follow && pthread_create(&stopper, NULL, stop_on_signal, w) != 0) {
        fprintf(stderr, PROG ": cannot start the signal thread\n");
        ww_close(w);
        return 1;
    }

    s = ww_ready(w, a.timeout_ms);
    if (s == WW_STATUS_CLOSED) {
        closed = 1; /* a stop signal while waiting */
    } else if (s == WW_STATUS_TIMEOUT && a.engine == WW_ENGINE_AUTO) {
        /* Some engines may be synchronised while others still connect:
         * shown below (if any is usable), the others warned about. */
    } else if (s != WW_STATUS_OK) {
        if (s == WW_STATUS_TIMEOUT) {
            fprintf(stderr, PROG ": %s not synchronised within %ld ms: %s\n", target, (long)a.timeout_ms,
                    ww_last_error_message());
        } else {
            fprintf(stderr, PROG ": cannot watch %s: %s\n", target, ww_last_error_message());
        }
        rc = 1;
    }

    if (rc < 0 && !closed && a.follow) {
        s = ww_event_fd(w, &event_fd);
        if (s != WW_STATUS_OK) {
            fprintf(stderr, PROG ": no event descriptor: %s: %s\n", ww_status_str(s), ww_last_error_message());
            rc = 1;
        } else {
            /* The listing below shows everything published so far: it
             * needs no wake-up of its own (EAGAIN: there was none). */
            uint64_t ack;
            if (read(event_fd, &ack, sizeof ack) < 0 && errno != EAGAIN) {
                perror(PROG ": read the event descriptor");
                rc = 1;
            }
        }
    }
    if (rc < 0 && !closed) {
        s = ww_snapshot(w, &p);
        if (s != WW_STATUS_OK) {
            fprintf(stderr, PROG ": no snapshot: %s: %s\n", ww_status_str(s), ww_last_error_message());
            rc = 1;
        } else if (warn_unusable_engines(p) == 0) {
            fprintf(stderr, PROG ": no engine synchronised within %ld ms: %s\n", (long)a.timeout_ms,
                    ww_last_error_message());
            ww_snapshot_free(p);
            rc = 1;
        } else {
            print_containers(p, &a);
            if (fflush(stdout) != 0) {
                perror(PROG ": write");
                ww_snapshot_free(p);
                rc = 1;
            } else if (a.follow) {
                rc = follow(w, event_fd, p, &a, &closed);
            } else {
                ww_snapshot_free(p);
                rc = 0;
            }
        }
    }
    if (closed) {
        rc = 0; /* SIGINT or SIGTERM: the way --follow ends */
    }

    if (a.follow) {
        /* Unless a signal already ended it, end the signal thread the same
         * way; then no other thread uses the watcher anymore. */
        if (!closed) {
            pthread_kill(stopper, SIGTERM);
        }
        pthread_join(stopper, NULL);
    }
    /* ww_close closes the event descriptor too: poll() is done with it. */
    ww_close(w);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, PROG ": cannot write the output\n");
        return 1;
    }
    return rc;
}
