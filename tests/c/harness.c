/*
 * The shared harness of test_abi: see harness.h.
 *
 * SPDX-License-Identifier: Apache-2.0
 */

/* syscall(SYS_gettid), for telling whether a thread sleeps in a futex. */
#define _GNU_SOURCE

#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* State                                                               */
/* ------------------------------------------------------------------ */

const char *g_endpoint;
struct expect g_docker;

bool g_have_ctrd;
const char *g_ctrd_endpoint;
char *g_ctrd_url;
char *g_ctrd_socket;
char *g_ctrd_other_form;
struct expect g_ctrd;
char *g_ctrd_ns;
const char *g_ctrd_bare_id;
const char *g_ctrd_ignored_id;

bool g_have_podman;
const char *g_podman_endpoint;
struct expect g_podman;

bool g_have_cri;
const char *g_cri_endpoint;
const char *g_cri_pod_name, *g_cri_pod_namespace, *g_cri_pod_uid;
const char *g_cri_sandbox_id;
int32_t g_cri_sandbox_pid;
const char *g_cri_container_id;
int32_t g_cri_container_pid;
const char *g_cri_container_name;

int32_t g_docker_engine_pid, g_ctrd_engine_pid, g_podman_engine_pid, g_cri_engine_pid;

char g_tmpdir[32];
char g_dead_sock[64], g_dead_endpoint[80];
char g_silent_sock[64], g_silent_endpoint[80];
char g_missing_sock[64], g_missing_endpoint[80];
char g_hangup_sock[64], g_hangup_endpoint[80];
static int g_silent_fd = -1;

bool g_mid_line;
bool g_skipped;
const char *g_skip_reason;

/* ------------------------------------------------------------------ */
/* Notes and the runner                                                */
/* ------------------------------------------------------------------ */

void note_start(void) {
    if (g_mid_line) {
        fflush(stdout);
        fputc('\n', stderr);
        g_mid_line = false;
    }
}

void note(const char *fmt, ...) {
    va_list ap;
    note_start();
    fputs("    ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

enum outcome run_test(const struct test *t) {
    double t0 = now_ms();
    bool ok;
    enum outcome result;
    fprintf(stdout, "test %s ... ", t->name);
    fflush(stdout);
    g_mid_line = true;
    g_skipped = false;
    g_skip_reason = "";
    ok = t->fn();
    fflush(stderr);
    if (!g_mid_line) {
        fprintf(stdout, "test %s ... ", t->name); /* notes were printed in between */
    }
    g_mid_line = false;
    result = !ok ? FAILED : g_skipped ? SKIPPED : PASSED;
    if (result == SKIPPED) {
        fprintf(stdout, "skipped (%s)\n", g_skip_reason);
    } else {
        fprintf(stdout, "%s (%.0f ms)\n", ok ? "ok" : "FAILED", now_ms() - t0);
    }
    fflush(stdout);
    return result;
}

/* ------------------------------------------------------------------ */
/* Scratch sockets                                                     */
/* ------------------------------------------------------------------ */

bool setup_sockets(void) {
    struct sockaddr_un addr;
    int fd;
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/ww-abi-XXXXXX");
    if (mkdtemp(g_tmpdir) == NULL) {
        perror("mkdtemp");
        return false;
    }
    snprintf(g_dead_sock, sizeof g_dead_sock, "%s/dead.sock", g_tmpdir);
    snprintf(g_silent_sock, sizeof g_silent_sock, "%s/silent.sock", g_tmpdir);
    snprintf(g_missing_sock, sizeof g_missing_sock, "%s/missing.sock", g_tmpdir);
    snprintf(g_hangup_sock, sizeof g_hangup_sock, "%s/hangup.sock", g_tmpdir);
    snprintf(g_dead_endpoint, sizeof g_dead_endpoint, "unix://%s", g_dead_sock);
    snprintf(g_silent_endpoint, sizeof g_silent_endpoint, "unix://%s", g_silent_sock);
    snprintf(g_missing_endpoint, sizeof g_missing_endpoint, "unix://%s", g_missing_sock);
    snprintf(g_hangup_endpoint, sizeof g_hangup_endpoint, "unix://%s", g_hangup_sock);

    /* Bound but never listened, then closed: connecting is refused. */
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", g_dead_sock);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("dead socket");
        return false;
    }
    close(fd);

    /* Listening, never accepting: connecting works, nothing ever answers. */
    g_silent_fd = listening_socket(g_silent_sock);
    return g_silent_fd >= 0;
}

void teardown_sockets(void) {
    if (g_silent_fd >= 0) {
        close(g_silent_fd);
    }
    unlink(g_dead_sock);
    unlink(g_silent_sock);
    rmdir(g_tmpdir);
}

int listening_socket(const char *path) {
    struct sockaddr_un addr;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    if (fd < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(fd, 64) != 0) {
        note("socket %s: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int64_t wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + (int64_t)ts.tv_nsec;
}

void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

bool streq(const char *a, const char *b) {
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

bool contains(const char *haystack, const char *needle) {
    return haystack != NULL && needle != NULL && strstr(haystack, needle) != NULL;
}

bool starts_with(const char *s, const char *prefix) {
    return s != NULL && prefix != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

const char *last_error(void) {
    return ww_last_error_message();
}

/* Well-formed UTF-8: no overlongs, surrogates or code points > U+10FFFF. */
bool valid_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p, n, i;
        unsigned long cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        for (i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        p += n + 1;
    }
    return true;
}

ww_options options_for(const char *endpoint) {
    ww_options o;
    memset(&o, 0xA5, sizeof o); /* garbage that ww_options_init must overwrite */
    ww_options_init(&o, sizeof o);
    o.endpoint = endpoint;
    return o;
}

ww_options engine_options(ww_engine engine, const char *endpoint) {
    ww_options o = options_for(endpoint);
    o.engine = engine;
    return o;
}

ww_options ctrd_options(const char *endpoint, const char *ignored) {
    ww_options o = options_for(endpoint);
    o.engine = WW_ENGINE_CONTAINERD;
    o.ignored_namespaces = ignored;
    return o;
}

/* ------------------------------------------------------------------ */
/* Threads and descriptors                                             */
/* ------------------------------------------------------------------ */

int count_dir(const char *path) {
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    /* opendir's own descriptor is among the entries of /proc/self/fd. */
    return strcmp(path, "/proc/self/fd") == 0 ? n - 1 : n;
}

void dump_threads_and_fds(const char *when) {
    DIR *d;
    struct dirent *e;
    note("threads and fds %s:", when);
    if ((d = opendir("/proc/self/task")) != NULL) {
        while ((e = readdir(d)) != NULL) {
            char comm[64];
            if (e->d_name[0] == '.') {
                continue;
            }
            {
                char path[300];
                FILE *f;
                snprintf(comm, sizeof comm, "?");
                snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
                if ((f = fopen(path, "r")) != NULL) {
                    if (fgets(comm, sizeof comm, f) == NULL) {
                        snprintf(comm, sizeof comm, "?");
                    }
                    fclose(f);
                    comm[strcspn(comm, "\n")] = '\0';
                }
            }
            note("  task %s (%s)", e->d_name, comm);
        }
        closedir(d);
    }
    if ((d = opendir("/proc/self/fd")) != NULL) {
        while ((e = readdir(d)) != NULL) {
            char path[300], target[512];
            ssize_t n;
            if (e->d_name[0] == '.') {
                continue;
            }
            snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
            n = readlink(path, target, sizeof target - 1);
            target[n < 0 ? 0 : n] = '\0';
            note("  fd %s -> %s", e->d_name, target);
        }
        closedir(d);
    }
}

bool back_to_baseline(int tasks, int fds, int *tasks_now, int *fds_now) {
    double until = now_ms() + 1000.0;
    for (;;) {
        *tasks_now = count_dir("/proc/self/task");
        *fds_now = count_dir("/proc/self/fd");
        if (*tasks_now == tasks && *fds_now == fds) {
            return true;
        }
        if (now_ms() >= until) {
            return false;
        }
        sleep_ms(10);
    }
}

static volatile sig_atomic_t g_sigpipe_count;
static struct sigaction g_sigpipe_old;

static void count_sigpipes(int sig) {
    (void)sig;
    g_sigpipe_count++;
}

bool sigpipe_counting_begin(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_sigpipes;
    sigemptyset(&sa.sa_mask);
    g_sigpipe_count = 0;
    return sigaction(SIGPIPE, &sa, &g_sigpipe_old) == 0;
}

int sigpipe_counting_end(void) {
    sigaction(SIGPIPE, &g_sigpipe_old, NULL);
    return (int)g_sigpipe_count;
}

bool under_valgrind(void) {
    return contains(getenv("LD_PRELOAD"), "vgpreload");
}

pid_t current_tid(void) {
    return (pid_t)syscall(SYS_gettid);
}

/* What /proc says thread `tid` is doing: 1 in a futex wait, 0 not, -1 unknown. */
static int in_futex_wait(pid_t tid) {
    char path[64], line[256];
    FILE *f;
    long nr = -1;
    unsigned long long uaddr = 0, op = 0;
    int n;
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    if ((f = fopen(path, "r")) == NULL) {
        return -1;
    }
    if (fgets(line, sizeof line, f) == NULL) {
        fclose(f);
        return -1;
    }
    fclose(f);
    if (starts_with(line, "running")) {
        return 0;
    }
    n = sscanf(line, "%ld %llx %llx", &nr, &uaddr, &op);
    if (n < 1) {
        return -1;
    }
    /* FUTEX_WAIT (0) or FUTEX_WAIT_BITSET (9), private or not. */
    return nr == SYS_futex && n == 3 && ((op & 0x7F) == 0 || (op & 0x7F) == 9) ? 1 : 0;
}

bool wait_until_blocked(pid_t tid, double timeout_ms) {
    double until = now_ms() + timeout_ms;
    int asleep = 0;
    for (;;) {
        int r = in_futex_wait(tid);
        if (r == 1) {
            return true;
        }
        if (r < 0) {
            /* No /proc/TID/syscall: settle for the thread sleeping for a while. */
            char path[64], stat[512];
            FILE *f;
            const char *after;
            snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
            if ((f = fopen(path, "r")) == NULL) {
                return false;
            }
            if (fgets(stat, sizeof stat, f) == NULL) {
                stat[0] = '\0';
            }
            fclose(f);
            after = strrchr(stat, ')');
            asleep = after != NULL && after[1] == ' ' && after[2] == 'S' ? asleep + 1 : 0;
            if (asleep >= 10) {
                return true;
            }
        }
        if (now_ms() >= until) {
            return false;
        }
        sleep_ms(r < 0 ? 50 : 5);
    }
}

int64_t process_start_ns(int32_t pid) {
    char path[64], stat[1024];
    FILE *f;
    const char *after;
    unsigned long long ticks = 0;
    double uptime = 0;
    long hz = sysconf(_SC_CLK_TCK);
    int field;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (hz <= 0 || (f = fopen(path, "r")) == NULL) {
        return 0;
    }
    if (fgets(stat, sizeof stat, f) == NULL) {
        stat[0] = '\0';
    }
    fclose(f);
    /* Field 22 (start time in ticks after boot); the command (field 2) may
     * hold spaces and parentheses, so count after its last ')'. */
    after = strrchr(stat, ')');
    if (after == NULL) {
        return 0;
    }
    after++;
    for (field = 3; field < 22 && after != NULL; field++) {
        after = strchr(after + 1, ' ');
    }
    if (after == NULL || sscanf(after, " %llu", &ticks) != 1) {
        return 0;
    }
    if ((f = fopen("/proc/uptime", "r")) == NULL) {
        return 0;
    }
    if (fscanf(f, "%lf", &uptime) != 1) {
        uptime = 0;
    }
    fclose(f);
    if (uptime <= 0) {
        return 0;
    }
    return wall_ns() - (int64_t)(uptime * 1e9) + (int64_t)(ticks * 1000000000ULL / (unsigned long long)hz);
}

void comm_of(int32_t pid, char *comm, size_t size) {
    char path[64];
    FILE *f;
    snprintf(comm, size, "?");
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    if ((f = fopen(path, "r")) != NULL) {
        if (fgets(comm, (int)size, f) == NULL) {
            snprintf(comm, size, "?");
        }
        fclose(f);
        comm[strcspn(comm, "\n")] = '\0';
    }
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */
/* ------------------------------------------------------------------ */

int run_command(char *const argv[], char *out, size_t size) {
    int fds[2], status = 0;
    size_t got = 0;
    pid_t pid;
    out[0] = '\0';
    if (pipe(fds) != 0) {
        snprintf(out, size, "pipe: %s", strerror(errno));
        return -1;
    }
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        snprintf(out, size, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls: other threads may hold locks. */
        if (dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0) {
            _exit(126);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        char buf[512];
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if (got + 1 < size) {
            size_t take = (size_t)n < size - 1 - got ? (size_t)n : size - 1 - got;
            memcpy(out + got, buf, take);
            got += take;
        }
    }
    close(fds[0]);
    out[got] = '\0';
    while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == '\r')) {
        out[--got] = '\0';
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && got == 0) {
        snprintf(out, size, "%s: not found in PATH", argv[0]);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs `argv` (at most 9 words and NULL); says why when it fails. */
static bool run_ok(char **argv, char *out, size_t size) {
    char scratch[256];
    char *buf = out != NULL ? out : scratch;
    size_t len = out != NULL ? size : sizeof scratch;
    int status = run_command(argv, buf, len);
    if (status != 0) {
        char line[512];
        size_t at = 0;
        int i;
        line[0] = '\0';
        for (i = 0; argv[i] != NULL && at < sizeof line; i++) {
            at += (size_t)snprintf(line + at, sizeof line - at, "%s%s", i > 0 ? " " : "", argv[i]);
        }
        note("`%s` exited with %d: %s", line, status, buf);
        return false;
    }
    return true;
}

bool docker_cli(char *out, size_t size, const char *a1, const char *a2, const char *a3, const char *a4) {
    const char *cli = getenv("DOCKER_CLI") != NULL ? getenv("DOCKER_CLI") : "docker";
    const char *argv[] = {cli, "-H", g_endpoint, a1, a2, a3, a4, NULL};
    return run_ok((char **)(void *)argv, out, size);
}

bool ctr_cli(char *out, size_t size, const char *ns, const char *a1, const char *a2, const char *a3) {
    const char *argv[] = {"ctr", "-a", g_ctrd_socket, "-n", ns, a1, a2, a3, NULL};
    return run_ok((char **)(void *)argv, out, size);
}

bool podman_cli(char *out, size_t size, const char *a1, const char *a2, const char *a3, const char *a4) {
    const char *argv[] = {"podman", "--url", g_podman_endpoint, a1, a2, a3, a4, NULL};
    return run_ok((char **)(void *)argv, out, size);
}

bool docker_pause(bool pause) {
    return docker_cli(NULL, 0, pause ? "pause" : "unpause", g_docker.id, NULL, NULL);
}

bool ctrd_pause(bool pause) {
    return ctr_cli(NULL, 0, g_ctrd_ns, "tasks", pause ? "pause" : "resume", g_ctrd_bare_id);
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */
/* ------------------------------------------------------------------ */

const ww_engine_info *engine0(const ww_portfolio *p) {
    return &p->engines[0];
}

static const struct {
    ww_engine kind;
    const char *type;
} engine_types[] = {
    {WW_ENGINE_DOCKER, "docker.com"},
    {WW_ENGINE_CONTAINERD, "containerd.io"},
    {WW_ENGINE_CRI, "k8s.io/cri-api"},
    {WW_ENGINE_PODMAN, "podman.io"},
};

const char *engine_type_of(ww_engine kind) {
    size_t i;
    for (i = 0; i < sizeof engine_types / sizeof engine_types[0]; i++) {
        if (engine_types[i].kind == kind) {
            return engine_types[i].type;
        }
    }
    return NULL;
}

ww_engine engine_kind_of(const char *type) {
    size_t i;
    for (i = 0; i < sizeof engine_types / sizeof engine_types[0]; i++) {
        if (streq(engine_types[i].type, type)) {
            return engine_types[i].kind;
        }
    }
    return 0;
}

/* Snapshot order: (engine, project, name, id). */
static int container_order(const ww_container *a, const ww_container *b) {
    int cmp;
    if (a->engine != b->engine) {
        return a->engine < b->engine ? -1 : 1;
    }
    if ((cmp = strcmp(a->project, b->project)) != 0) {
        return cmp;
    }
    if ((cmp = strcmp(a->name, b->name)) != 0) {
        return cmp;
    }
    return strcmp(a->id, b->id);
}

/* One engine record: strings set and UTF-8, type and kind agreeing, a
 * synchronised engine with its identity and no trouble. */
static bool engine_record_ok(const ww_engine_info *e, size_t i) {
    bool ok = true;
    CHECKF(e->type != NULL && e->id != NULL && e->version != NULL && e->endpoint != NULL && e->last_error != NULL,
           "engine %zu has a NULL string", i);
    CHECK(valid_utf8(e->id) && valid_utf8(e->version) && valid_utf8(e->last_error) && valid_utf8(e->endpoint));
    CHECKF(engine_kind_of(e->type) != 0 && e->kind == engine_kind_of(e->type), "engine %zu: type \"%s\", kind %u", i,
           e->type, (unsigned)e->kind);
    CHECKF(starts_with(e->endpoint, "unix://") || starts_with(e->endpoint, "tcp://") ||
               (starts_with(e->endpoint, "https://") && e->kind == WW_ENGINE_DOCKER),
           "engine %zu: endpoint \"%s\"", i, e->endpoint);
    CHECKF(e->state <= WW_ENGINE_STATE_GAVE_UP, "engine %zu: state %u", i, (unsigned)e->state);
    CHECK(e->pid >= 0 && e->synced_at_ns >= 0);
    if (e->state == WW_ENGINE_STATE_SYNCED) {
        CHECKF(e->synced_at_ns > 0 && e->id[0] != '\0' && e->version[0] != '\0' && e->last_error[0] == '\0',
               "engine %zu (%s) synced, but synced_at_ns %lld, id \"%s\", version \"%s\", last_error \"%s\"", i,
               e->endpoint, (long long)e->synced_at_ns, e->id, e->version, e->last_error);
    }
out:
    return ok;
}

bool portfolio_shape_ok(const ww_portfolio *p) {
    bool ok = true;
    size_t i, j, at = 0;
    uint32_t engine = 0;
    CHECK(p != NULL);
    CHECK((p->engines == NULL) == (p->engines_len == 0));
    CHECK((p->containers == NULL) == (p->containers_len == 0));
    CHECKF(p->projects_len >= p->engines_len, "%zu projects for %zu engines", p->projects_len, p->engines_len);
    CHECK((p->projects == NULL) == (p->projects_len == 0));
    for (i = 0; i < p->engines_len; i++) {
        CHECK(engine_record_ok(&p->engines[i], i));
        for (j = 0; j < i; j++) {
            CHECKF(!streq(p->engines[i].endpoint, p->engines[j].endpoint), "engines %zu and %zu are both %s", j, i,
                   p->engines[i].endpoint);
        }
    }
    for (i = 0; i < p->containers_len; i++) {
        const ww_container *c = &p->containers[i];
        CHECK(c->id != NULL && c->name != NULL && c->project != NULL && c->image != NULL && c->image_id != NULL);
        CHECK(c->pod_name != NULL && c->pod_namespace != NULL && c->pod_uid != NULL);
        CHECK(valid_utf8(c->id) && valid_utf8(c->name) && valid_utf8(c->project) && valid_utf8(c->image));
        CHECK(valid_utf8(c->image_id) && valid_utf8(c->pod_name) && valid_utf8(c->pod_namespace) &&
              valid_utf8(c->pod_uid));
        CHECKF(c->id[0] != '\0', "container %zu has an empty ID", i);
        CHECKF(c->pid > 0, "container %s has PID %d", c->id, (int)c->pid);
        CHECKF(c->engine < p->engines_len, "container %s of engine %u (of %zu)", c->id, (unsigned)c->engine,
               p->engines_len);
        CHECKF(p->engines[c->engine].synced_at_ns > 0, "container %s of engine %u, never synchronised", c->id,
               (unsigned)c->engine);
        CHECKF(c->started_at_ns >= 0, "container %s started at %lld", c->id, (long long)c->started_at_ns);
        CHECK((c->labels == NULL) == (c->labels_len == 0));
        for (j = 0; j < c->labels_len; j++) {
            CHECK(c->labels[j].key != NULL && c->labels[j].value != NULL);
            if (j > 0) {
                CHECKF(strcmp(c->labels[j - 1].key, c->labels[j].key) < 0,
                       "labels of %s not sorted by key: \"%s\" before \"%s\"", c->name, c->labels[j - 1].key,
                       c->labels[j].key);
            }
        }
        if (i > 0) {
            const ww_container *b = &p->containers[i - 1];
            CHECKF(container_order(b, c) < 0,
                   "containers not sorted by (engine, project, name, id) at %zu: (%u, %s, %s) before (%u, %s, %s)",
                   i, (unsigned)b->engine, b->project, b->name, (unsigned)c->engine, c->project, c->name);
        }
    }
    /* Projects: per engine, in engine order, its unnamed project "" first,
     * then its named ones sorted by name; each a contiguous slice of
     * containers, together covering all containers in order. */
    for (i = 0; i < p->projects_len; i++) {
        const ww_project *pr = &p->projects[i];
        CHECK(pr->name != NULL);
        CHECK((pr->containers == NULL) == (pr->containers_len == 0));
        if (pr->name[0] == '\0') {
            /* The next engine starts. */
            CHECKF(pr->engine == (i == 0 ? 0 : engine + 1), "projects[%zu] \"\" of engine %u after engine %u", i,
                   (unsigned)pr->engine, (unsigned)engine);
            engine = pr->engine;
        } else {
            CHECKF(i > 0 && pr->engine == engine, "projects[%zu] \"%s\" of engine %u, expected %u", i, pr->name,
                   (unsigned)pr->engine, (unsigned)engine);
            CHECKF(pr->containers_len >= 1, "named project \"%s\" without containers", pr->name);
            CHECKF(strcmp(p->projects[i - 1].name, pr->name) < 0, "projects not sorted: \"%s\" before \"%s\"",
                   p->projects[i - 1].name, pr->name);
        }
        if (pr->containers_len > 0) {
            CHECKF(pr->containers == p->containers + at,
                   "project \"%s\" is not the slice at %zu of portfolio->containers", pr->name, at);
        }
        for (j = 0; j < pr->containers_len; j++) {
            CHECKF(streq(pr->containers[j].project, pr->name) && pr->containers[j].engine == pr->engine,
                   "container %s (project \"%s\", engine %u) in project \"%s\" of engine %u", pr->containers[j].name,
                   pr->containers[j].project, (unsigned)pr->containers[j].engine, pr->name, (unsigned)pr->engine);
        }
        at += pr->containers_len;
    }
    CHECKF(p->engines_len == 0 || engine + 1 == p->engines_len, "projects end at engine %u of %zu", (unsigned)engine,
           p->engines_len);
    CHECKF(at == p->containers_len, "projects hold %zu of %zu containers", at, p->containers_len);
out:
    return ok;
}

bool portfolio_invariants(const ww_portfolio *p, const char *engine_type, const char *endpoint) {
    bool ok = true;
    const ww_engine_info *e;
    CHECK(p != NULL);
    CHECKF(p->engines != NULL && p->engines_len == 1, "%zu engines", p->engines_len);
    e = engine0(p);
    CHECKF(streq(e->type, engine_type), "type \"%s\", expected \"%s\"", e->type, engine_type);
    CHECKF(endpoint == NULL || streq(e->endpoint, endpoint), "endpoint \"%s\", expected \"%s\"", e->endpoint,
           endpoint);
    CHECK(portfolio_shape_ok(p));
out:
    return ok;
}

const char *label_value(const ww_container *c, const char *key) {
    size_t j;
    for (j = 0; j < c->labels_len; j++) {
        if (streq(c->labels[j].key, key)) {
            return c->labels[j].value;
        }
    }
    return NULL;
}

void namespace_of(const char *id, char *ns, size_t size) {
    const char *slash = strchr(id, '/');
    if (slash == NULL) {
        snprintf(ns, size, "default");
    } else {
        snprintf(ns, size, "%.*s", (int)(slash - id), id);
    }
}

/* How a containerd snapshot names its containers: IDs "NS/ID" (just "ID"
 * in "default"), names from label nerdctl/name namespaced the same way,
 * else the ID; project from the compose label; no container of a
 * namespace in `ignored`. */
static bool containerd_naming_ok(const ww_portfolio *p, const char *ignored) {
    bool ok = true;
    size_t i;
    for (i = 0; i < p->containers_len; i++) {
        const ww_container *c = &p->containers[i];
        const char *slash = strchr(c->id, '/');
        const char *label = label_value(c, NERDCTL_NAME_LABEL);
        const char *project = label_value(c, COMPOSE_LABEL);
        char ns[128], want_name[512];
        const char *at = ignored;
        size_t len;
        namespace_of(c->id, ns, sizeof ns);
        len = strlen(ns);
        CHECKF(slash == NULL || (slash != c->id && slash[1] != '\0'), "id \"%s\"", c->id);
        CHECKF(slash == NULL || !streq(ns, "default"), "id \"%s\": namespace \"default\" must not be spelled out",
               c->id);
        if (label != NULL && label[0] != '\0') {
            if (slash == NULL) {
                snprintf(want_name, sizeof want_name, "%s", label);
            } else {
                snprintf(want_name, sizeof want_name, "%s/%s", ns, label);
            }
        } else {
            snprintf(want_name, sizeof want_name, "%s", c->id);
        }
        CHECKF(streq(c->name, want_name), "container %s: name \"%s\", expected \"%s\"", c->id, c->name, want_name);
        CHECKF(streq(c->project, project != NULL ? project : ""), "container %s: project \"%s\", label \"%s\"",
               c->id, c->project, project != NULL ? project : "(none)");
        while (at != NULL && *at != '\0') {
            const char *comma = strchr(at, ',');
            size_t n = comma != NULL ? (size_t)(comma - at) : strlen(at);
            CHECKF(!(n == len && strncmp(at, ns, n) == 0), "container %s of ignored namespace %s", c->id, ns);
            at = comma != NULL ? comma + 1 : NULL;
        }
    }
out:
    return ok;
}

bool ctrd_portfolio_invariants(const ww_portfolio *p, const char *endpoint, const char *ignored) {
    return portfolio_invariants(p, "containerd.io", endpoint) && containerd_naming_ok(p, ignored);
}

const ww_container *find_container(const ww_portfolio *p, const char *id) {
    size_t i;
    for (i = 0; i < p->containers_len; i++) {
        if (strcmp(p->containers[i].id, id) == 0) {
            return &p->containers[i];
        }
    }
    return NULL;
}

bool has_container(const ww_portfolio *p, const struct expect *e) {
    return has_container_of(p, e, 0);
}

bool has_container_of(const ww_portfolio *p, const struct expect *e, uint32_t engine) {
    bool ok = true, found_label = false, found_name_label = false, found_project = false;
    const ww_container *c = find_container(p, e->id);
    size_t i, j;
    CHECKF(c != NULL, "container %s not in the snapshot (%zu containers, generation %llu)", e->id, p->containers_len,
           (unsigned long long)p->generation);
    CHECKF(streq(c->name, e->name), "name \"%s\", expected \"%s\"", c->name, e->name);
    CHECKF(c->pid == e->pid, "pid %d, expected %d", (int)c->pid, (int)e->pid);
    CHECKF(streq(c->project, e->project), "project \"%s\", expected \"%s\"", c->project, e->project);
    CHECKF(c->engine == engine, "engine %u, expected %u", (unsigned)c->engine, (unsigned)engine);
    CHECK(!c->paused);
    CHECK(c->labels != NULL && c->labels_len >= 1);
    for (j = 0; j < c->labels_len; j++) {
        if (streq(c->labels[j].key, COMPOSE_LABEL)) {
            CHECKF(streq(c->labels[j].value, e->project), "label %s=\"%s\"", COMPOSE_LABEL, c->labels[j].value);
            found_label = true;
        }
        if (e->name_label != NULL && streq(c->labels[j].key, NERDCTL_NAME_LABEL)) {
            CHECKF(streq(c->labels[j].value, e->name_label), "label %s=\"%s\", expected \"%s\"", NERDCTL_NAME_LABEL,
                   c->labels[j].value, e->name_label);
            found_name_label = true;
        }
    }
    CHECKF(found_label, "label %s missing", COMPOSE_LABEL);
    CHECKF(e->name_label == NULL || found_name_label, "label %s missing", NERDCTL_NAME_LABEL);
    for (i = 0; i < p->projects_len; i++) {
        const ww_project *pr = &p->projects[i];
        if (!streq(pr->name, e->project) || pr->engine != engine) {
            continue;
        }
        for (j = 0; j < pr->containers_len; j++) {
            found_project = found_project || &pr->containers[j] == c;
        }
    }
    CHECKF(found_project, "container not in the slice of project \"%s\"", e->project);
out:
    return ok;
}

bool has_docker_container(const ww_portfolio *p) {
    return has_container(p, &g_docker);
}

bool has_ctrd_containers(const ww_portfolio *p, bool ignored_visible) {
    bool ok = true;
    const ww_container *m = find_container(p, g_ctrd_ignored_id);
    CHECK(has_container(p, &g_ctrd));
    if (!ignored_visible) {
        CHECKF(m == NULL, "container %s of an ignored namespace in the snapshot", g_ctrd_ignored_id);
    } else {
        CHECKF(m != NULL, "container %s not in the snapshot (%zu containers, generation %llu)", g_ctrd_ignored_id,
               p->containers_len, (unsigned long long)p->generation);
        CHECKF(m->pid > 0 && !m->paused, "container %s: pid %d, paused %d", m->id, (int)m->pid, (int)m->paused);
    }
out:
    return ok;
}

size_t touch_all_strings(const ww_portfolio *p) {
    size_t n = 0, i, j;
    for (i = 0; i < p->engines_len; i++) {
        const ww_engine_info *e = &p->engines[i];
        n += strlen(e->type) + strlen(e->id) + strlen(e->version) + strlen(e->endpoint) + strlen(e->last_error) +
             (size_t)e->pid + (size_t)e->state;
    }
    for (i = 0; i < p->containers_len; i++) {
        const ww_container *c = &p->containers[i];
        n += strlen(c->id) + strlen(c->name) + strlen(c->project) + strlen(c->image) + strlen(c->image_id) +
             strlen(c->pod_name) + strlen(c->pod_namespace) + strlen(c->pod_uid) + (size_t)c->pid +
             (c->paused ? 1 : 0);
        for (j = 0; j < c->labels_len; j++) {
            n += strlen(c->labels[j].key) + strlen(c->labels[j].value);
        }
    }
    for (i = 0; i < p->projects_len; i++) {
        n += strlen(p->projects[i].name) + p->projects[i].containers_len;
    }
    return n;
}

ww_watcher *ready_watcher_with(const ww_options *o) {
    ww_watcher *w = NULL;
    ww_status s = ww_new(o, &w);
    if (s != WW_STATUS_OK) {
        note("ww_new: %s: %s", ww_status_str(s), last_error());
        return NULL;
    }
    s = ww_ready(w, 30000);
    if (s != WW_STATUS_OK) {
        note("ww_ready: %s: %s", ww_status_str(s), last_error());
        ww_close(w);
        return NULL;
    }
    return w;
}

ww_watcher *ready_watcher(void) {
    ww_options o = options_for(g_endpoint);
    return ready_watcher_with(&o);
}

ww_watcher *ctrd_ready_watcher(const char *ignored) {
    ww_options o = ctrd_options(g_ctrd_endpoint, ignored);
    return ready_watcher_with(&o);
}

bool unsynced_snapshot_ok(ww_watcher *w, const char *engine_type, const char *endpoint, ww_engine_state state) {
    bool ok = true;
    const ww_portfolio *p = NULL;
    const ww_engine_info *e;
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(portfolio_invariants(p, engine_type, endpoint));
    e = engine0(p);
    CHECK(p->containers_len == 0 && p->containers == NULL);
    CHECK(p->projects_len == 1);
    CHECK(p->projects[0].containers_len == 0 && p->projects[0].containers == NULL);
    CHECKF(e->state == state, "state %u, expected %u", (unsigned)e->state, (unsigned)state);
    CHECKF(streq(e->id, "") && streq(e->version, ""), "id \"%s\", version \"%s\"", e->id, e->version);
    CHECKF(e->pid == 0 && e->synced_at_ns == 0 && e->repairs == 0, "pid %d, synced_at_ns %lld, repairs %llu",
           (int)e->pid, (long long)e->synced_at_ns, (unsigned long long)e->repairs);
    if (state == WW_ENGINE_STATE_CONNECTING && p->generation == 0) {
        CHECKF(streq(e->last_error, ""), "last_error \"%s\" at generation 0", e->last_error);
    }
    if (state == WW_ENGINE_STATE_GAVE_UP) {
        CHECKF(p->generation >= 1, "generation %llu", (unsigned long long)p->generation);
        CHECKF(e->last_error[0] != '\0', "gave up without saying why");
    }
out:
    ww_snapshot_free(p);
    return ok;
}

bool engine_gives_up_at_once(ww_engine engine, const char *endpoint, const char *reported, const char *path,
                             int err) {
    ww_options o = options_for(endpoint);
    o.engine = engine;
    return gives_up_at_once(&o, reported, path, err);
}

bool gives_up_at_once(const ww_options *options, const char *reported, const char *path, int err) {
    bool ok = true;
    ww_options o = *options;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_status s;
    double t0, took;
    const char *os_error = err != 0 ? strerror(err) : "";
    o.backoff = WW_BACKOFF_NONE;
    CHECK_OK(ww_new(&o, &w));
    t0 = now_ms();
    s = ww_ready(w, 5000);
    took = now_ms() - t0;
    note("%s: %s after %.0f ms: %s", reported, ww_status_str(s), took, last_error());
    CHECKF(s == WW_STATUS_ENGINE, "%s: %s", ww_status_str(s), last_error());
    CHECKF(took < 2000.0, "ww_ready took %.0f ms", took);
    CHECKF(contains(last_error(), path), "message \"%s\" does not name %s", last_error(), path);
    CHECKF(contains(last_error(), os_error), "message \"%s\" does not name the OS error \"%s\"", last_error(),
           os_error);
    CHECK(valid_utf8(last_error()));
    /* Giving up is final; asking again answers at once. */
    CHECK(ww_ready(w, 0) == WW_STATUS_ENGINE);
    CHECK(ww_ready(w, -1) == WW_STATUS_ENGINE);
    CHECK(unsynced_snapshot_ok(w, engine_type_of(o.engine), reported, WW_ENGINE_STATE_GAVE_UP));
    /* The engine record tells the same reason. */
    CHECK_OK(ww_snapshot(w, &p));
    CHECKF(contains(engine0(p)->last_error, path) && contains(engine0(p)->last_error, os_error),
           "last_error \"%s\"", engine0(p)->last_error);
    /* Nothing can change anymore: ww_wait says so at once; an older
     * generation is still newer. */
    t0 = now_ms();
    s = ww_wait(w, p->generation, 5000);
    took = now_ms() - t0;
    CHECKF(s == WW_STATUS_ENGINE, "ww_wait: %s: %s", ww_status_str(s), last_error());
    CHECKF(took < 1000.0, "ww_wait took %.0f ms", took);
    CHECKF(contains(last_error(), "ww_wait") && contains(last_error(), path), "\"%s\"", last_error());
    CHECK_OK(ww_wait(w, p->generation - 1, 5000));
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

bool await_container(ww_watcher *w, const char *id, bool paused, double timeout_ms, const ww_portfolio **out) {
    double until = now_ms() + timeout_ms;
    const ww_portfolio *p = NULL;
    for (;;) {
        const ww_container *c;
        uint64_t generation;
        ww_status s;
        double left;
        if (ww_snapshot(w, &p) != WW_STATUS_OK) {
            note("ww_snapshot: %s", last_error());
            return false;
        }
        c = find_container(p, id);
        if (c != NULL && c->paused == paused) {
            *out = p;
            return true;
        }
        generation = p->generation;
        ww_snapshot_free(p);
        p = NULL;
        left = until - now_ms();
        s = left > 0 ? ww_wait(w, generation, (int32_t)left + 1) : WW_STATUS_TIMEOUT;
        if (s != WW_STATUS_OK) {
            note("container %s not seen %s within %.0f ms: %s: %s", id, paused ? "paused" : "running", timeout_ms,
                 ww_status_str(s), last_error());
            return false;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Threads blocked in ww_ready / ww_wait                               */
/* ------------------------------------------------------------------ */

static void *waiter_run(void *arg) {
    struct waiter *wt = arg;
    ww_status s;
    pthread_mutex_lock(&wt->lock);
    wt->tid = current_tid();
    wt->started = true;
    pthread_cond_signal(&wt->cond);
    pthread_mutex_unlock(&wt->lock);
    s = wt->ready ? ww_ready(wt->w, wt->timeout_ms) : ww_wait(wt->w, wt->after, wt->timeout_ms);
    pthread_mutex_lock(&wt->lock);
    wt->status = s;
    snprintf(wt->message, sizeof wt->message, "%s", s == WW_STATUS_OK ? "" : ww_last_error_message());
    wt->returned_at = now_ms();
    wt->done = true;
    pthread_mutex_unlock(&wt->lock);
    return NULL;
}

/* Starts a thread in ww_ready (`ready`) or ww_wait, and returns once it is
 * blocked inside the call (asleep in a futex wait, not returned). */
bool start_waiter(struct waiters *ws, ww_watcher *w, bool ready, uint64_t after, int32_t timeout_ms) {
    bool ok = true, blocked;
    struct waiter *wt = &ws->wt[ws->n];
    CHECK(ws->n < MAX_WAITERS);
    memset(wt, 0, sizeof *wt);
    wt->w = w;
    wt->ready = ready;
    wt->after = after;
    wt->timeout_ms = timeout_ms;
    pthread_mutex_init(&wt->lock, NULL);
    pthread_cond_init(&wt->cond, NULL);
    CHECK(pthread_create(&ws->thread[ws->n], NULL, waiter_run, wt) == 0);
    ws->n++;
    pthread_mutex_lock(&wt->lock);
    while (!wt->started) {
        pthread_cond_wait(&wt->cond, &wt->lock);
    }
    pthread_mutex_unlock(&wt->lock);
    blocked = wait_until_blocked(wt->tid, 10000);
    pthread_mutex_lock(&wt->lock);
    blocked = blocked && !wt->done;
    pthread_mutex_unlock(&wt->lock);
    CHECKF(blocked, "the thread in %s did not block (returned: %s, %s)", ready ? "ww_ready" : "ww_wait",
           wt->done ? ww_status_str(wt->status) : "no", wt->message);
out:
    return ok;
}

/* Joins every thread started. */
void join_waiters(struct waiters *ws) {
    int i;
    for (i = 0; i < ws->n; i++) {
        pthread_join(ws->thread[i], NULL);
        pthread_mutex_destroy(&ws->wt[i].lock);
        pthread_cond_destroy(&ws->wt[i].cond);
    }
    ws->n = 0;
}
