/*
 * Discovery: ww_discover and ww_endpoints_free (the test's own engines are
 * found through their processes, each once, with the PID serving them,
 * and each endpoint found is usable as a watcher's), and the watcher of
 * every engine (WW_ENGINE_AUTO), which shows each of the test's
 * containers once, under the engine running it. Discovery sees the whole
 * host: only the test's own engines and containers are checked exactly.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One of the engines given to the program, as discovery must list it. */
struct own_engine {
    const char *what;
    char endpoint[256]; /* unix://PATH */
    ww_engine kind;     /* a containerd serving CRI is listed as containerd */
    int32_t pid;        /* 0: not given */
    const char *comm;   /* its process' name; NULL: not checked */
};

#define MAX_OWN 4

/* The CRI runtime's endpoint as unix://PATH. */
static void cri_url(char *buf, size_t size) {
    snprintf(buf, size, "%s%s", starts_with(g_cri_endpoint, "unix://") ? "" : "unix://", g_cri_endpoint);
}

/* The engines given: Docker always, the others when given. */
static int own_engines(struct own_engine *own) {
    int n = 0;
    memset(own, 0, sizeof(struct own_engine) * MAX_OWN);
    own[n].what = "Docker";
    snprintf(own[n].endpoint, sizeof own[n].endpoint, "%s", g_endpoint);
    own[n].kind = WW_ENGINE_DOCKER;
    own[n].pid = g_docker_engine_pid;
    own[n++].comm = "dockerd";
    if (g_have_ctrd) {
        own[n].what = "containerd";
        snprintf(own[n].endpoint, sizeof own[n].endpoint, "%s", g_ctrd_url);
        own[n].kind = WW_ENGINE_CONTAINERD;
        own[n].pid = g_ctrd_engine_pid;
        own[n++].comm = "containerd";
    }
    if (g_have_cri) {
        own[n].what = "the CRI runtime (containerd)";
        cri_url(own[n].endpoint, sizeof own[n].endpoint);
        own[n].kind = WW_ENGINE_CONTAINERD;
        own[n].pid = g_cri_engine_pid;
        own[n++].comm = "containerd";
    }
    if (g_have_podman) {
        own[n].what = "podman";
        snprintf(own[n].endpoint, sizeof own[n].endpoint, "%s", g_podman_endpoint);
        own[n].kind = WW_ENGINE_PODMAN;
        own[n].pid = g_podman_engine_pid;
        own[n++].comm = "podman";
    }
    return n;
}

/* The socket path of a unix:// endpoint. */
static const char *socket_of(const char *endpoint) {
    return endpoint + strlen("unix://");
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Every entry well-formed, each endpoint once. */
static bool endpoints_well_formed(const ww_endpoint *eps, size_t n) {
    bool ok = true;
    size_t i, j;
    CHECK((eps == NULL) == (n == 0));
    for (i = 0; i < n; i++) {
        const ww_endpoint *e = &eps[i];
        CHECKF(e->endpoint != NULL && e->found_by != NULL, "entry %zu has a NULL string", i);
        CHECKF(valid_utf8(e->endpoint) && (starts_with(e->endpoint, "unix:///") || starts_with(e->endpoint, "tcp://")),
               "entry %zu: endpoint \"%s\"", i, e->endpoint);
        CHECKF(e->kind == WW_ENGINE_DOCKER || e->kind == WW_ENGINE_CONTAINERD || e->kind == WW_ENGINE_CRI ||
                   e->kind == WW_ENGINE_PODMAN,
               "%s: kind %u", e->endpoint, (unsigned)e->kind);
        CHECKF(streq(e->found_by, "env") || streq(e->found_by, "path") || streq(e->found_by, "process"),
               "%s: found_by \"%s\"", e->endpoint, e->found_by);
        CHECKF(e->pid >= 0, "%s: pid %d", e->endpoint, (int)e->pid);
        CHECKF(!ends_with(e->endpoint, ".ttrpc"), "%s: containerd's ttrpc socket is no engine", e->endpoint);
        for (j = 0; j < i; j++) {
            CHECKF(!streq(eps[j].endpoint, e->endpoint), "%s listed twice (%zu and %zu)", e->endpoint, j, i);
        }
    }
out:
    return ok;
}

/* A watcher of `kind` at `endpoint` sees the container the program was
 * given for that engine. */
static bool usable(const struct own_engine *own) {
    bool ok = true;
    ww_options o = engine_options(own->kind, own->endpoint);
    ww_watcher *w = ready_watcher_with(&o);
    const ww_portfolio *p = NULL;
    char id[256];
    CHECKF(w != NULL, "%s at %s", own->what, own->endpoint);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(portfolio_invariants(p, engine_type_of(own->kind), own->endpoint));
    if (streq(own->endpoint, g_endpoint)) {
        CHECK(has_docker_container(p));
    } else if (g_have_ctrd && streq(own->endpoint, g_ctrd_url)) {
        CHECK(has_ctrd_containers(p, false));
    } else if (g_have_podman && streq(own->endpoint, g_podman_endpoint)) {
        CHECK(has_container(p, &g_podman));
    } else {
        snprintf(id, sizeof id, "k8s.io/%s", g_cri_sandbox_id);
        CHECKF(find_container(p, id) != NULL, "the pod's sandbox %s not in the snapshot", id);
    }
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* Engine `o` as `eps` lists it: once (by no other path either), found by
 * its process, of its kind, with its PID and its socket's owner. NULL
 * (said) if it is not listed. */
static const ww_endpoint *listed_once(const ww_endpoint *eps, size_t n, const struct own_engine *o) {
    bool ok = true;
    const ww_endpoint *e = NULL;
    struct stat st;
    size_t same_socket = 0, i;
    char comm[64];
    for (i = 0; i < n; i++) {
        if (streq(eps[i].endpoint, o->endpoint)) {
            e = &eps[i];
        }
        /* The same socket by another path (e.g. /proc/PID/root/...). */
        same_socket += ends_with(eps[i].endpoint, socket_of(o->endpoint)) ? 1 : 0;
    }
    CHECKF(e != NULL, "%s at %s not found", o->what, o->endpoint);
    CHECKF(same_socket == 1, "%s's socket listed %zu times", o->what, same_socket);
    CHECKF(e->kind == o->kind, "%s: kind %u, expected %u", o->what, (unsigned)e->kind, (unsigned)o->kind);
    CHECKF(streq(e->found_by, "process"), "%s found by \"%s\", not by its process", o->what, e->found_by);
    comm_of(e->pid, comm, sizeof comm);
    CHECKF(e->pid > 0 && (o->comm == NULL || streq(comm, o->comm)), "%s: pid %d (%s)", o->what, (int)e->pid, comm);
    CHECKF(o->pid == 0 || e->pid == o->pid, "%s: pid %d, its process is %d", o->what, (int)e->pid, (int)o->pid);
    CHECKF(stat(socket_of(o->endpoint), &st) == 0 && e->uid == (uint32_t)st.st_uid, "%s: uid %u, socket owner %u",
           o->what, (unsigned)e->uid, (unsigned)st.st_uid);
out:
    return ok ? e : NULL;
}

/* Each engine given is found, once, with its kind, PID and owner, by its
 * process; and is usable as a watcher's kind and endpoint. A probe's bound
 * counts the caller's own work too: under valgrind, which slows that many
 * times and runs the probes one after the other, an engine may miss it, so
 * there discovery runs up to 5 times until each engine was listed once,
 * and an engine that missed every time is told, not failed (the plain and
 * AddressSanitizer runs check it), as long as one engine was listed. */
static bool test_discover_finds_the_given_engines(void) {
    bool ok = true;
    const ww_endpoint *eps = NULL;
    size_t n = 0, i;
    struct own_engine own[MAX_OWN];
    bool found[MAX_OWN] = {false, false, false, false};
    int n_own = own_engines(own), k, attempt, attempts = under_valgrind() ? 5 : 1, sigpipes = 0, missing = n_own;
    double t0, took;
    ww_status s;
    for (attempt = 1; attempt <= attempts && missing > 0; attempt++) {
        /* Probes meet sockets that hang up (dockerd's libnetwork socket,
         * for one): SIGPIPE is counted, not fatal, so that the test can
         * tell. */
        CHECK(sigpipe_counting_begin());
        t0 = now_ms();
        s = ww_discover(&eps, &n);
        took = now_ms() - t0;
        sigpipes += sigpipe_counting_end();
        CHECKF(s == WW_STATUS_OK, "%s: %s", ww_status_str(s), last_error());
        note("ww_discover: %zu endpoints in %.0f ms, %d SIGPIPE so far", n, took, sigpipes);
        for (i = 0; i < n; i++) {
            note("  %s: kind %u, pid %d, uid %u, found by %s", eps[i].endpoint, (unsigned)eps[i].kind,
                 (int)eps[i].pid, (unsigned)eps[i].uid, eps[i].found_by);
        }
        /* The probes run at once, each bounded. */
        CHECKF(attempts > 1 || took < 10.0 * WW_DISCOVER_PROBE_TIMEOUT_MS, "ww_discover took %.0f ms", took);
        CHECK(endpoints_well_formed(eps, n));
        for (k = 0; k < n_own; k++) {
            bool listed = false;
            if (found[k]) {
                continue;
            }
            for (i = 0; i < n; i++) {
                listed = listed || streq(eps[i].endpoint, own[k].endpoint);
            }
            if (!listed && attempt < attempts) {
                note("%s not listed in attempt %d: discovering again", own[k].what, attempt);
                continue;
            }
            if (!listed && attempts > 1) {
                note("%s not listed in %d attempts under valgrind: its probe missed its bound each time", own[k].what,
                     attempts);
                missing--;
                continue;
            }
            CHECK(listed_once(eps, n, &own[k]) != NULL);
            found[k] = true;
            missing--;
        }
        ww_endpoints_free(eps);
        eps = NULL;
    }
    for (k = 0; k < n_own; k++) {
        CHECK(usable(&own[k]));
    }
    CHECKF(n_own == 0 || found[0] || found[1] || found[2] || found[3], "none of the %d engines given was listed", n_own);
    CHECKF(sigpipes == 0,
           "ww_discover raised SIGPIPE %d times (without a handler, the default action kills the process)",
           sigpipes);
out:
    ww_endpoints_free(eps);
    return ok;
}

/* The containers whose ID is `id`, or NS/`id` (a containerd's view). */
static size_t count_id(const ww_portfolio *p, const char *id) {
    size_t i, n = 0;
    for (i = 0; i < p->containers_len; i++) {
        const char *c = p->containers[i].id;
        const char *slash = strrchr(c, '/');
        n += streq(c, id) || (slash != NULL && streq(slash + 1, id)) ? 1 : 0;
    }
    return n;
}

/* The container `id` is there once (counting other engines' views of it),
 * of the engine at `endpoint`, which is of `kind` and synchronised;
 * *engine is its index. */
static bool once_under(const ww_portfolio *p, const char *id, const char *bare_id, const char *endpoint,
                       ww_engine kind, uint32_t *engine) {
    bool ok = true;
    const ww_container *c = find_container(p, id);
    const ww_engine_info *e;
    size_t n = count_id(p, bare_id);
    CHECKF(c != NULL, "%s not in the snapshot (%zu containers, %zu engines)", id, p->containers_len, p->engines_len);
    CHECKF(n == 1, "%s shown %zu times", id, n);
    e = &p->engines[c->engine];
    CHECKF(streq(e->endpoint, endpoint) && e->kind == kind && streq(e->type, engine_type_of(kind)),
           "%s of engine %u: %s at %s, expected %s at %s", id, (unsigned)c->engine, e->type, e->endpoint,
           engine_type_of(kind), endpoint);
    CHECKF(e->state == WW_ENGINE_STATE_SYNCED, "%s: state %u", endpoint, (unsigned)e->state);
    *engine = c->engine;
out:
    return ok;
}

/* All the given containers are in the snapshot. */
static bool all_there(const ww_portfolio *p) {
    char id[256];
    if (find_container(p, g_docker.id) == NULL) {
        return false;
    }
    if (g_have_ctrd && find_container(p, g_ctrd.id) == NULL) {
        return false;
    }
    if (g_have_podman && find_container(p, g_podman.id) == NULL) {
        return false;
    }
    snprintf(id, sizeof id, "k8s.io/%s", g_have_cri ? g_cri_sandbox_id : "");
    return !g_have_cri || find_container(p, id) != NULL;
}

/* One watcher of every engine the host runs: ready once the engines found
 * at start have synchronised; each given container shown once, under its
 * engine (engines[c->engine]): its kind, endpoint and PID. */
static bool test_auto_watcher_shows_each_container_once(void) {
    bool ok = true;
    ww_options o = options_for(NULL);
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    struct own_engine own[MAX_OWN];
    int n_own = own_engines(own), k;
    uint32_t engine = 0;
    double t0, until;
    size_t i;
    char id[256];
    o.engine = WW_ENGINE_AUTO;
    /* Another's engine on this host that breaks must not hold ww_ready up forever. */
    o.backoff_max_elapsed_ms = 20000;
    CHECK_OK(ww_new(&o, &w));
    t0 = now_ms();
    CHECK_OK(ww_ready(w, 60000));
    note("ready after %.0f ms", now_ms() - t0);
    until = now_ms() + 20000.0;
    for (;;) {
        uint64_t g;
        CHECK_OK(ww_snapshot(w, &p));
        if (all_there(p) || now_ms() >= until) {
            break;
        }
        g = p->generation;
        ww_snapshot_free(p);
        p = NULL;
        if (ww_wait(w, g, 1000) == WW_STATUS_CLOSED) {
            break;
        }
    }
    CHECK(p != NULL);
    note("generation %llu: %zu engines, %zu containers", (unsigned long long)p->generation, p->engines_len,
         p->containers_len);
    for (i = 0; i < p->engines_len; i++) {
        note("  engine %zu: %s at %s, PID %d, state %u%s%s", i, p->engines[i].type, p->engines[i].endpoint,
             (int)p->engines[i].pid, (unsigned)p->engines[i].state, p->engines[i].last_error[0] ? ": " : "",
             p->engines[i].last_error);
    }
    CHECK(portfolio_shape_ok(p));
    CHECKF(p->engines_len >= (size_t)n_own, "%zu engines", p->engines_len);
    /* Each given engine once (portfolio_shape_ok: no endpoint twice), with its PID. */
    for (k = 0; k < n_own; k++) {
        const ww_engine_info *e = NULL;
        for (i = 0; i < p->engines_len; i++) {
            if (streq(p->engines[i].endpoint, own[k].endpoint)) {
                e = &p->engines[i];
            }
        }
        CHECKF(e != NULL, "%s at %s is not among the engines", own[k].what, own[k].endpoint);
        CHECKF(e->kind == own[k].kind, "%s: kind %u", own[k].what, (unsigned)e->kind);
        CHECKF(own[k].pid == 0 || e->pid == own[k].pid, "%s: pid %d, its process is %d", own[k].what, (int)e->pid,
               (int)own[k].pid);
    }
    CHECK(once_under(p, g_docker.id, g_docker.id, g_endpoint, WW_ENGINE_DOCKER, &engine));
    CHECK(has_container_of(p, &g_docker, engine));
    CHECK(ww_portfolio_find_id(p, g_docker.id) == find_container(p, g_docker.id));
    CHECK(ww_portfolio_find_pid(p, g_docker.pid) == find_container(p, g_docker.id));
    if (g_have_ctrd) {
        CHECK(once_under(p, g_ctrd.id, g_ctrd_bare_id, g_ctrd_url, WW_ENGINE_CONTAINERD, &engine));
        CHECK(has_container_of(p, &g_ctrd, engine));
        CHECKF(find_container(p, g_ctrd_ignored_id) == NULL, "%s of an ignored namespace shown", g_ctrd_ignored_id);
    }
    if (g_have_cri) {
        const ww_container *c;
        char url[256];
        cri_url(url, sizeof url);
        snprintf(id, sizeof id, "k8s.io/%s", g_cri_sandbox_id);
        CHECK(once_under(p, id, g_cri_sandbox_id, url, WW_ENGINE_CONTAINERD, &engine));
        c = find_container(p, id);
        CHECK(c->pod_sandbox && c->pid == g_cri_sandbox_pid && streq(c->pod_uid, g_cri_pod_uid));
        snprintf(id, sizeof id, "k8s.io/%s", g_cri_container_id);
        CHECK(once_under(p, id, g_cri_container_id, url, WW_ENGINE_CONTAINERD, &engine));
        c = find_container(p, id);
        CHECK(!c->pod_sandbox && c->pid == g_cri_container_pid && streq(c->pod_uid, g_cri_pod_uid));
    }
    if (g_have_podman) {
        CHECK(once_under(p, g_podman.id, g_podman.id, g_podman_endpoint, WW_ENGINE_PODMAN, &engine));
        CHECK(has_container_of(p, &g_podman, engine));
    }
    CHECK_OK(ww_ready(w, 0));
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

const struct test discover_tests[] = {
    {test_discover_finds_the_given_engines, "discover_finds_the_given_engines"},
    {test_auto_watcher_shows_each_container_once, "auto_watcher_shows_each_container_once"},
};
DEFINE_SUITE_LEN(discover);
