/*
 * A real CRI runtime (WW_ENGINE_CRI; containerd's CRI plugin in the test
 * setup): the engine record, a pod's sandbox and container as kubelet made
 * them, CRI's options in each struct version, CONTAINER_RUNTIME_ENDPOINT
 * and the default endpoint; and the same pod seen by the containerd engine
 * in namespace k8s.io.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECOND_NS ((int64_t)1000000000)
#define K8S_CONTAINER_NAME_LABEL "io.kubernetes.container.name"

static ww_options cri_options(void) {
    return engine_options(WW_ENGINE_CRI, g_cri_endpoint);
}

/* Pod fields of a member of the given pod. */
static bool in_the_pod(const ww_container *c) {
    bool ok = true;
    CHECKF(streq(c->pod_name, g_cri_pod_name) && streq(c->pod_namespace, g_cri_pod_namespace) &&
               streq(c->pod_uid, g_cri_pod_uid),
           "%s: pod \"%s\" \"%s\" \"%s\", expected \"%s\" \"%s\" \"%s\"", c->id, c->pod_name, c->pod_namespace,
           c->pod_uid, g_cri_pod_name, g_cri_pod_namespace, g_cri_pod_uid);
    CHECKF(streq(c->project, ""), "%s: project \"%s\"", c->id, c->project);
    CHECKF(!c->paused, "%s paused", c->id);
out:
    return ok;
}

/* The pod's sandbox (`sandbox_id`) and container (`container_id`), as the
 * snapshot of engine 0 shows them; `names`: also their names (CRI: the
 * pod's name for the sandbox, the Kubernetes name for the container). */
static bool has_the_pod(const ww_portfolio *p, const char *sandbox_id, const char *container_id, bool names) {
    bool ok = true;
    const ww_container *sb = find_container(p, sandbox_id), *c = find_container(p, container_id);
    const char *k8s_name;
    int64_t proc_ns;
    CHECKF(sb != NULL, "sandbox %s not in the snapshot (%zu containers)", sandbox_id, p->containers_len);
    CHECKF(c != NULL, "container %s not in the snapshot (%zu containers)", container_id, p->containers_len);
    CHECK(in_the_pod(sb) && in_the_pod(c));
    CHECKF(sb->pod_sandbox && !c->pod_sandbox, "pod_sandbox %d (sandbox), %d (container)", (int)sb->pod_sandbox,
           (int)c->pod_sandbox);
    CHECKF(sb->pid == g_cri_sandbox_pid, "sandbox pid %d, expected %d", (int)sb->pid, (int)g_cri_sandbox_pid);
    CHECKF(c->pid == g_cri_container_pid, "container pid %d, expected %d", (int)c->pid, (int)g_cri_container_pid);
    CHECK(sb->engine == 0 && c->engine == 0);
    CHECK(ww_portfolio_find_id(p, sandbox_id) == sb && ww_portfolio_find_id(p, container_id) == c);
    CHECK(ww_portfolio_find_pid(p, sb->pid) == sb && ww_portfolio_find_pid(p, c->pid) == c);
    CHECKF(c->image[0] != '\0' && starts_with(c->image_id, "sha256:"), "image \"%s\" (%s)", c->image, c->image_id);
    proc_ns = process_start_ns(c->pid);
    CHECKF(c->started_at_ns > 0 && proc_ns > 0 && llabs((long long)(c->started_at_ns - proc_ns)) < 5 * SECOND_NS,
           "started_at_ns %lld, but process %d started at %lld", (long long)c->started_at_ns, (int)c->pid,
           (long long)proc_ns);
    if (names) {
        k8s_name = label_value(c, K8S_CONTAINER_NAME_LABEL);
        CHECKF(streq(sb->name, g_cri_pod_name), "sandbox name \"%s\", expected the pod's \"%s\"", sb->name,
               g_cri_pod_name);
        CHECKF(k8s_name != NULL && streq(c->name, k8s_name), "container name \"%s\", label %s \"%s\"", c->name,
               K8S_CONTAINER_NAME_LABEL, k8s_name != NULL ? k8s_name : "(none)");
        CHECKF(g_cri_container_name == NULL || streq(c->name, g_cri_container_name),
               "container name \"%s\", expected \"%s\"", c->name, g_cri_container_name);
    }
out:
    return ok;
}

/* The engine record once synchronised, and the pod. */
static bool test_cri_engine_and_pod(void) {
    bool ok = true;
    ww_options o;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    const ww_engine_info *e;
    char host[256], comm[64];
    size_t i;
    NEEDS_CRI();
    CHECK(gethostname(host, sizeof host) == 0);
    host[sizeof host - 1] = '\0';
    o = cri_options();
    w = ready_watcher_with(&o);
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(portfolio_invariants(p, "k8s.io/cri-api", g_cri_endpoint));
    e = engine0(p);
    CHECKF(e->kind == WW_ENGINE_CRI && e->state == WW_ENGINE_STATE_SYNCED, "kind %u, state %u", (unsigned)e->kind,
           (unsigned)e->state);
    /* CRI has no engine ID: the host's name stands in. */
    CHECKF(streq(e->id, host), "id \"%s\", the host is \"%s\"", e->id, host);
    CHECKF(e->version[0] != '\0', "no version");
    CHECKF(e->pid > 0, "pid %d", (int)e->pid);
    comm_of(e->pid, comm, sizeof comm);
    CHECKF(g_cri_engine_pid == 0 || e->pid == g_cri_engine_pid, "engine pid %d (%s), the runtime is %d",
           (int)e->pid, comm, (int)g_cri_engine_pid);
    note("engine %s \"%s\" (ID %s) at %s, PID %d (%s), generation %llu, %zu containers", e->type, e->version, e->id,
         e->endpoint, (int)e->pid, comm, (unsigned long long)p->generation, p->containers_len);
    CHECK(has_the_pod(p, g_cri_sandbox_id, g_cri_container_id, true));
    /* Everything a CRI runtime runs belongs to a pod. */
    for (i = 0; i < p->containers_len; i++) {
        const ww_container *c = &p->containers[i];
        CHECKF(c->pod_name[0] != '\0' && c->pod_uid[0] != '\0', "%s (%s) outside a pod", c->id, c->name);
    }
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* cri_poll_ms and cri_events in each version of the struct: the first
 * (without them: the defaults), the later ones with relisting every
 * 200 ms, and with the runtime's event stream followed too. */
static bool test_cri_options_in_each_struct_version(void) {
    bool ok = true;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_options *o = NULL;
    const size_t v1 = offsetof(ww_options, cri_poll_ms), v2 = offsetof(ww_options, discover_interval_ms);
    const size_t v3 = offsetof(ww_options, tls_ca);
    const size_t sizes[] = {v1, v2, v2, v3, sizeof(ww_options), sizeof(ww_options)};
    const uint32_t events[] = {0, 0, 1, 1, 0, 1};
    size_t i;
    NEEDS_CRI();
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        /* Exactly the caller's size: a read past it is caught. */
        o = malloc(sizes[i]);
        CHECK(o != NULL);
        ww_options_init(o, sizes[i]);
        o->engine = WW_ENGINE_CRI;
        o->endpoint = g_cri_endpoint;
        if (sizes[i] > v1) {
            o->cri_poll_ms = 200;
            o->cri_events = events[i];
        }
        w = ready_watcher_with(o);
        CHECKF(w != NULL, "struct_size %zu, cri_events %u", sizes[i], (unsigned)events[i]);
        CHECK_OK(ww_snapshot(w, &p));
        CHECK(portfolio_invariants(p, "k8s.io/cri-api", g_cri_endpoint));
        CHECK(has_the_pod(p, g_cri_sandbox_id, g_cri_container_id, true));
        ww_snapshot_free(p);
        p = NULL;
        ww_close(w);
        w = NULL;
        free(o);
        o = NULL;
    }
out:
    ww_snapshot_free(p);
    ww_close(w);
    free(o);
    return ok;
}

/* A NULL endpoint takes CONTAINER_RUNTIME_ENDPOINT (as crictl does), else
 * CRI-O's socket. */
static bool test_cri_default_endpoint_and_container_runtime_endpoint(void) {
    bool ok = true;
    char *saved = NULL;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_options o = engine_options(WW_ENGINE_CRI, NULL);
    NEEDS_CRI();
    saved = getenv("CONTAINER_RUNTIME_ENDPOINT") ? strdup(getenv("CONTAINER_RUNTIME_ENDPOINT")) : NULL;
    CHECK(unsetenv("CONTAINER_RUNTIME_ENDPOINT") == 0);
    CHECK_OK(ww_new(&o, &w));
    CHECK_OK(ww_snapshot(w, &p));
    CHECKF(streq(engine0(p)->endpoint, "unix:///run/crio/crio.sock"), "\"%s\"", engine0(p)->endpoint);
    CHECK(engine0(p)->kind == WW_ENGINE_CRI && streq(engine0(p)->type, "k8s.io/cri-api"));
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;

    CHECK(setenv("CONTAINER_RUNTIME_ENDPOINT", g_cri_endpoint, 1) == 0);
    w = ready_watcher_with(&o);
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(portfolio_invariants(p, "k8s.io/cri-api", g_cri_endpoint));
    CHECK(has_the_pod(p, g_cri_sandbox_id, g_cri_container_id, true));
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;

    CHECK(setenv("CONTAINER_RUNTIME_ENDPOINT", "tcp://127.0.0.1:1", 1) == 0);
    {
        int here = 0;
        ww_watcher *sentinel = (ww_watcher *)(void *)&here, *got = sentinel;
        ww_status s = ww_new(&o, &got);
        CHECKF(s == WW_STATUS_INVALID_ARG && got == sentinel, "%s: %s", ww_status_str(s), last_error());
        CHECKF(contains(last_error(), "tcp://127.0.0.1:1") && contains(last_error(), "CONTAINER_RUNTIME_ENDPOINT"),
               "\"%s\"", last_error());
    }
out:
    ww_snapshot_free(p);
    ww_close(w);
    if (saved != NULL) {
        setenv("CONTAINER_RUNTIME_ENDPOINT", saved, 1);
        free(saved);
    } else {
        unsetenv("CONTAINER_RUNTIME_ENDPOINT");
    }
    return ok;
}

/* containerd's CRI plugin keeps the pod in namespace k8s.io, which the
 * containerd engine watches by default: the same sandbox and container,
 * with the same pod fields and PIDs, under IDs "k8s.io/ID". */
static bool test_containerd_engine_sees_the_pod_in_k8s_io(void) {
    bool ok = true;
    ww_options o;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    char sandbox[256], container[256];
    bool is_containerd;
    NEEDS_CRI();
    /* CRI names the runtime first in its version. */
    o = cri_options();
    w = ready_watcher_with(&o);
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    is_containerd = starts_with(engine0(p)->version, "containerd ");
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;
    if (!is_containerd) {
        SKIP("the CRI runtime is not containerd");
    }
    o = engine_options(WW_ENGINE_CONTAINERD, g_cri_endpoint);
    w = ready_watcher_with(&o);
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(portfolio_invariants(p, "containerd.io", g_cri_endpoint));
    snprintf(sandbox, sizeof sandbox, "k8s.io/%s", g_cri_sandbox_id);
    snprintf(container, sizeof container, "k8s.io/%s", g_cri_container_id);
    CHECK(has_the_pod(p, sandbox, container, false));
    CHECK(find_container(p, g_cri_sandbox_id) == NULL && find_container(p, g_cri_container_id) == NULL);
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

const struct test cri_tests[] = {
    {test_cri_engine_and_pod, "cri_engine_and_pod"},
    {test_cri_options_in_each_struct_version, "cri_options_in_each_struct_version"},
    {test_cri_default_endpoint_and_container_runtime_endpoint, "cri_default_endpoint_and_container_runtime_endpoint"},
    {test_containerd_engine_sees_the_pod_in_k8s_io, "containerd_engine_sees_the_pod_in_k8s_io"},
};
DEFINE_SUITE_LEN(cri);
