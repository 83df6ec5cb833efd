/*
 * The real podman API service (WW_ENGINE_PODMAN): the engine record, the
 * container record against what `podman inspect` says, exactly the
 * containers podman runs, CONTAINER_HOST and the default endpoint.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECOND_NS ((int64_t)1000000000)

static ww_watcher *podman_ready_watcher(void) {
    ww_options o = engine_options(WW_ENGINE_PODMAN, g_podman_endpoint);
    return ready_watcher_with(&o);
}

/* Splits "a|b|c..." in place into at most `n` fields; the number found. */
static size_t split_fields(char *s, char **fields, size_t n) {
    size_t k = 0;
    while (k < n) {
        char *sep = strchr(s, '|');
        fields[k++] = s;
        if (sep == NULL) {
            break;
        }
        *sep = '\0';
        s = sep + 1;
    }
    return k;
}

/* The engine record once synchronised: podman's identity as the podman
 * CLI reports it, and the service's process. podman has no engine ID of
 * its own: the ID is its host's name and its storage root, the same for
 * every watcher (and across the service's restarts). */
static bool test_podman_engine_info(void) {
    bool ok = true;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    const ww_engine_info *e;
    char version[128], comm[64], host_root[512];
    NEEDS_PODMAN();
    CHECK(podman_cli(version, sizeof version, "version", "-f", "{{.Server.Version}}", NULL));
    CHECK(podman_cli(host_root, sizeof host_root, "info", "-f", "{{.Host.Hostname}}:{{.Store.GraphRoot}}", NULL));
    w = podman_ready_watcher();
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(portfolio_invariants(p, "podman.io", g_podman_endpoint));
    e = engine0(p);
    CHECKF(e->kind == WW_ENGINE_PODMAN && e->state == WW_ENGINE_STATE_SYNCED, "kind %u, state %u",
           (unsigned)e->kind, (unsigned)e->state);
    CHECKF(streq(e->version, version), "version \"%s\", podman says \"%s\"", e->version, version);
    CHECKF(streq(e->id, host_root), "id \"%s\", podman's host and storage root are \"%s\"", e->id, host_root);
    CHECKF(streq(e->last_error, ""), "last_error \"%s\"", e->last_error);
    CHECKF(e->pid > 0, "pid %d", (int)e->pid);
    comm_of(e->pid, comm, sizeof comm);
    CHECKF(streq(comm, "podman"), "engine pid %d is \"%s\", not podman", (int)e->pid, comm);
    CHECKF(g_podman_engine_pid == 0 || e->pid == g_podman_engine_pid, "engine pid %d, the service is %d",
           (int)e->pid, (int)g_podman_engine_pid);
    note("engine %s %s (ID %s) at %s, PID %d (%s), generation %llu, %zu containers", e->type, e->version, e->id,
         e->endpoint, (int)e->pid, comm, (unsigned long long)p->generation, p->containers_len);
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    /* Another watcher: the same ID. */
    w = podman_ready_watcher();
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECKF(streq(engine0(p)->id, host_root), "the next watcher's ID \"%s\", not \"%s\"", engine0(p)->id, host_root);
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* The record of the container given, field by field, against `podman
 * inspect` and /proc; and the snapshot holds exactly what podman runs. */
static bool test_podman_container_record(void) {
    bool ok = true;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    const ww_container *c;
    char inspect[1024], ps[4096], *fields[4], *id, *save = NULL;
    size_t listed = 0;
    int64_t proc_ns;
    NEEDS_PODMAN();
    CHECK(podman_cli(inspect, sizeof inspect, "inspect", "-f",
                     "{{.ImageName}}|{{.Image}}|{{.HostConfig.Privileged}}|{{.Name}}", g_podman.id));
    CHECKF(split_fields(inspect, fields, 4) == 4, "inspect \"%s\"", inspect);
    w = podman_ready_watcher();
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(portfolio_invariants(p, "podman.io", g_podman_endpoint));
    CHECK(has_container(p, &g_podman));
    c = find_container(p, g_podman.id);
    note("%s: image \"%s\" (%s), started at %lld, %zu labels", c->name, c->image, c->image_id,
         (long long)c->started_at_ns, c->labels_len);
    CHECKF(streq(c->name, fields[3]), "name \"%s\", podman says \"%s\"", c->name, fields[3]);
    CHECKF(c->image[0] != '\0' && streq(c->image, fields[0]), "image \"%s\", podman says \"%s\"", c->image,
           fields[0]);
    CHECKF(starts_with(c->image_id, "sha256:") && streq(c->image_id + 7, fields[1]),
           "image_id \"%s\", podman says \"%s\"", c->image_id, fields[1]);
    CHECKF(!c->privileged && streq(fields[2], "false"), "privileged %d, podman says %s", (int)c->privileged,
           fields[2]);
    proc_ns = process_start_ns(c->pid);
    CHECKF(c->started_at_ns > 0 && proc_ns > 0 && llabs((long long)(c->started_at_ns - proc_ns)) < 5 * SECOND_NS,
           "started_at_ns %lld, but process %d started at %lld", (long long)c->started_at_ns, (int)c->pid,
           (long long)proc_ns);
    CHECKF(streq(c->pod_name, "") && streq(c->pod_namespace, "") && streq(c->pod_uid, "") && !c->pod_sandbox,
           "pod \"%s\" \"%s\" \"%s\" sandbox %d", c->pod_name, c->pod_namespace, c->pod_uid, (int)c->pod_sandbox);
    CHECK(ww_portfolio_find_id(p, g_podman.id) == c && ww_portfolio_find_pid(p, g_podman.pid) == c);
    /* Exactly the containers podman runs. */
    CHECK(podman_cli(ps, sizeof ps, "ps", "-q", "--no-trunc", NULL));
    for (id = strtok_r(ps, "\n", &save); id != NULL; id = strtok_r(NULL, "\n", &save)) {
        CHECKF(find_container(p, id) != NULL, "podman runs %s, the snapshot lacks it", id);
        listed++;
    }
    CHECKF(listed == p->containers_len, "podman runs %zu containers, the snapshot has %zu", listed,
           p->containers_len);
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* A NULL endpoint takes CONTAINER_HOST, else the service socket of the
 * caller's user (root: /run/podman/podman.sock). */
static bool test_podman_default_endpoint_and_container_host(void) {
    bool ok = true;
    char *saved = NULL;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_options o;
    char want[256];
    NEEDS_PODMAN();
    saved = getenv("CONTAINER_HOST") ? strdup(getenv("CONTAINER_HOST")) : NULL;
    if (geteuid() == 0) {
        snprintf(want, sizeof want, "unix:///run/podman/podman.sock");
    } else if (getenv("XDG_RUNTIME_DIR") != NULL && getenv("XDG_RUNTIME_DIR")[0] == '/') {
        snprintf(want, sizeof want, "unix://%s/podman/podman.sock", getenv("XDG_RUNTIME_DIR"));
    } else {
        snprintf(want, sizeof want, "unix:///run/user/%u/podman/podman.sock", (unsigned)geteuid());
    }
    CHECK(unsetenv("CONTAINER_HOST") == 0);
    o = engine_options(WW_ENGINE_PODMAN, NULL);
    CHECK_OK(ww_new(&o, &w));
    CHECK_OK(ww_snapshot(w, &p));
    CHECKF(streq(engine0(p)->endpoint, want), "\"%s\", expected \"%s\"", engine0(p)->endpoint, want);
    CHECK(engine0(p)->kind == WW_ENGINE_PODMAN && streq(engine0(p)->type, "podman.io"));
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;

    CHECK(setenv("CONTAINER_HOST", g_podman_endpoint, 1) == 0);
    w = ready_watcher_with(&o);
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(portfolio_invariants(p, "podman.io", g_podman_endpoint));
    CHECK(has_container(p, &g_podman));
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;

    /* A bad CONTAINER_HOST is refused, naming it. */
    CHECK(setenv("CONTAINER_HOST", "ssh://nowhere", 1) == 0);
    {
        int here = 0;
        ww_watcher *sentinel = (ww_watcher *)(void *)&here, *got = sentinel;
        ww_status s = ww_new(&o, &got);
        CHECKF(s == WW_STATUS_INVALID_ARG && got == sentinel, "%s: %s", ww_status_str(s), last_error());
        CHECKF(contains(last_error(), "ssh://nowhere") && contains(last_error(), "CONTAINER_HOST"), "\"%s\"",
               last_error());
    }
out:
    ww_snapshot_free(p);
    ww_close(w);
    if (saved != NULL) {
        setenv("CONTAINER_HOST", saved, 1);
        free(saved);
    } else {
        unsetenv("CONTAINER_HOST");
    }
    return ok;
}

const struct test podman_tests[] = {
    {test_podman_engine_info, "podman_engine_info"},
    {test_podman_container_record, "podman_container_record"},
    {test_podman_default_endpoint_and_container_host, "podman_default_endpoint_and_container_host"},
};
DEFINE_SUITE_LEN(podman);
