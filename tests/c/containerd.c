/*
 * The real containerd: the engine record, the container record against
 * what `ctr` says, endpoint forms, ignored namespaces, CONTAINERD_ADDRESS.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define SECOND_NS ((int64_t)1000000000)
#define HOUR_NS (3600 * SECOND_NS)

/* The value after `key` on the line of `text` following `section` (or
 * anywhere, for NULL), up to the end of the line or `stop`; "" if absent. */
static void find_value(const char *text, const char *section, const char *key, char stop, char *out,
                       size_t size) {
    const char *at = section != NULL ? strstr(text, section) : text;
    size_t n = 0;
    out[0] = '\0';
    if (at == NULL || (at = strstr(at, key)) == NULL) {
        return;
    }
    at += strlen(key);
    while (*at == ' ' || *at == '\t') {
        at++;
    }
    while (at[n] != '\0' && at[n] != '\n' && at[n] != stop && n + 1 < size) {
        n++;
    }
    memcpy(out, at, n);
    out[n] = '\0';
}

/* The engine record after ww_ready against `ctr version`, and the engine's
 * process. */
static bool test_containerd_engine_info(void) {
    bool ok = true;
    ww_options o;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    const ww_engine_info *e;
    char version_text[2048], version[128], uuid[128], comm[64];
    int64_t before, after;
    double t0;
    NEEDS_CONTAINERD();
    CHECK(ctr_cli(version_text, sizeof version_text, "default", "version", NULL, NULL));
    find_value(version_text, "Server:", "Version:", '\0', version, sizeof version);
    find_value(version_text, "Server:", "UUID:", '\0', uuid, sizeof uuid);
    CHECKF(version[0] != '\0' && uuid[0] != '\0', "ctr version says \"%s\"", version_text);
    o = ctrd_options(g_ctrd_endpoint, NULL);
    before = wall_ns();
    CHECK_OK(ww_new(&o, &w));
    CHECK_OK(ww_snapshot(w, &p));
    e = engine0(p);
    CHECK(ctrd_portfolio_invariants(p, g_ctrd_url, "moby,k8s.io"));
    if (p->generation == 0) {
        CHECKF(e->state == WW_ENGINE_STATE_CONNECTING, "state %u at generation 0", (unsigned)e->state);
        CHECK(streq(e->id, "") && streq(e->version, "") && e->pid == 0 && e->synced_at_ns == 0);
    }
    ww_snapshot_free(p);
    p = NULL;
    t0 = now_ms();
    CHECK_OK(ww_ready(w, 30000));
    CHECK_OK(ww_ready(w, 0));
    CHECK_OK(ww_ready(w, -1));
    after = wall_ns();
    CHECK_OK(ww_snapshot(w, &p));
    e = engine0(p);
    CHECK(ctrd_portfolio_invariants(p, g_ctrd_url, "moby,k8s.io"));
    CHECKF(e->state == WW_ENGINE_STATE_SYNCED, "state %u", (unsigned)e->state);
    CHECK(e->kind == WW_ENGINE_CONTAINERD && streq(e->type, "containerd.io"));
    CHECKF(streq(e->endpoint, g_ctrd_url), "endpoint \"%s\", expected \"%s\"", e->endpoint, g_ctrd_url);
    CHECKF(streq(e->id, uuid), "id \"%s\", ctr version says UUID \"%s\"", e->id, uuid);
    CHECKF(contains(e->version, version), "version \"%s\", ctr version says \"%s\"", e->version, version);
    CHECKF(streq(e->last_error, ""), "last_error \"%s\"", e->last_error);
    CHECKF(e->synced_at_ns >= before - SECOND_NS && e->synced_at_ns <= after + SECOND_NS,
           "synced_at_ns %lld, not between ww_new (%lld) and ww_ready (%lld)", (long long)e->synced_at_ns,
           (long long)before, (long long)after);
    CHECKF(e->repairs == 0, "%llu repairs", (unsigned long long)e->repairs);
    CHECKF(e->pid > 0 && (kill((pid_t)e->pid, 0) == 0 || errno == EPERM), "engine pid %d", (int)e->pid);
    comm_of(e->pid, comm, sizeof comm);
    CHECKF(streq(comm, "containerd"), "engine pid %d is \"%s\", not containerd", (int)e->pid, comm);
    CHECK(has_ctrd_containers(p, false));
    CHECK(p->containers_len >= 1 && p->projects_len >= 2);
    note("engine %s %s (ID %s) at %s, PID %d (%s), ready after %.0f ms, generation %llu, %zu containers", e->type,
         e->version, e->id, e->endpoint, (int)e->pid, comm, now_ms() - t0, (unsigned long long)p->generation,
         p->containers_len);
    ww_snapshot_free(p);
    p = NULL;
    t0 = now_ms();
    ww_close(w);
    w = NULL;
    CHECKF(now_ms() - t0 < 1000.0, "ww_close took %.0f ms", now_ms() - t0);
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* The record of the container given on the command line against `ctr`
 * (its image and the digest that image name resolves to) and /proc. */
static bool test_containerd_container_record(void) {
    bool ok = true;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    const ww_container *c;
    char info[8192], image[512], images[4096], digest[128];
    const char *line;
    int64_t proc_ns, now = wall_ns();
    NEEDS_CONTAINERD();
    CHECK(ctr_cli(info, sizeof info, g_ctrd_ns, "containers", "info", g_ctrd_bare_id));
    find_value(info, NULL, "\"Image\": \"", '"', image, sizeof image);
    CHECKF(image[0] != '\0', "no image in: %.300s", info);
    CHECK(ctr_cli(images, sizeof images, g_ctrd_ns, "images", "ls", NULL));
    /* REF TYPE DIGEST ...: the line of our image. */
    digest[0] = '\0';
    for (line = images; line != NULL && *line != '\0'; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char ref[512], type[256];
        if (sscanf(line, "%511s %255s %127s", ref, type, digest) == 3 && streq(ref, image)) {
            break;
        }
        digest[0] = '\0';
    }
    CHECKF(starts_with(digest, "sha256:"), "no digest of %s in: %s", image, images);
    w = ctrd_ready_watcher(NULL);
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(has_ctrd_containers(p, false));
    c = find_container(p, g_ctrd.id);
    note("%s: image \"%s\" (%s), started at %lld, %zu labels", c->name, c->image, c->image_id,
         (long long)c->started_at_ns, c->labels_len);
    CHECKF(streq(c->image, image), "image \"%s\", ctr says \"%s\"", c->image, image);
    CHECKF(streq(c->image_id, digest), "image_id \"%s\", ctr says the image resolves to \"%s\"", c->image_id,
           digest);
    CHECKF(c->started_at_ns <= now + SECOND_NS && c->started_at_ns > now - 6 * HOUR_NS,
           "started_at_ns %lld is not within the last hours (now %lld)", (long long)c->started_at_ns, (long long)now);
    proc_ns = process_start_ns(c->pid);
    CHECKF(proc_ns > 0 && llabs((long long)(c->started_at_ns - proc_ns)) < 5 * SECOND_NS,
           "started_at_ns %lld, but process %d started at %lld", (long long)c->started_at_ns, (int)c->pid,
           (long long)proc_ns);
    CHECK(!c->privileged && !c->paused && c->engine == 0);
    CHECKF(streq(c->pod_name, "") && streq(c->pod_namespace, "") && streq(c->pod_uid, "") && !c->pod_sandbox,
           "pod \"%s\" \"%s\" \"%s\" sandbox %d", c->pod_name, c->pod_namespace, c->pod_uid, (int)c->pod_sandbox);
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* The socket given the other way (PATH or unix://PATH) is the same engine. */
static bool test_containerd_endpoint_forms(void) {
    bool ok = true;
    ww_options o;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    NEEDS_CONTAINERD();
    o = ctrd_options(g_ctrd_other_form, NULL);
    w = ready_watcher_with(&o);
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECKF(streq(engine0(p)->endpoint, g_ctrd_url), "endpoint \"%s\" reported as \"%s\"", g_ctrd_other_form,
           engine0(p)->endpoint);
    CHECK(ctrd_portfolio_invariants(p, g_ctrd_url, "moby,k8s.io"));
    CHECK(has_ctrd_containers(p, false));
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* A ready containerd watcher ignoring `ignored`; its snapshot satisfies the
 * invariants and holds the expected container (or not: `expected_visible`)
 * and the one of namespace moby (or not: `moby_visible`). */
static bool ctrd_sees(const char *ignored, bool expected_visible, bool moby_visible) {
    bool ok = true;
    ww_watcher *w = ctrd_ready_watcher(ignored);
    const ww_portfolio *p = NULL;
    const ww_container *m;
    note("ignored_namespaces \"%.60s\"%s", ignored, strlen(ignored) > 60 ? "..." : "");
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(ctrd_portfolio_invariants(p, g_ctrd_url, ignored));
    if (expected_visible) {
        CHECK(has_container(p, &g_ctrd));
    } else {
        CHECKF(find_container(p, g_ctrd.id) == NULL, "container %s of ignored namespace %s in the snapshot",
               g_ctrd.id, g_ctrd_ns);
    }
    m = find_container(p, g_ctrd_ignored_id);
    CHECKF((m != NULL) == moby_visible, "container %s %s the snapshot (%zu containers)", g_ctrd_ignored_id,
           m != NULL ? "in" : "not in", p->containers_len);
    if (m != NULL) {
        CHECKF(m->pid > 0 && !m->paused, "container %s: pid %d, paused %d", m->id, (int)m->pid, (int)m->paused);
    }
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* ignored_namespaces replaces the default list: "" watches every namespace;
 * a list of 100 000 bytes of names works too. */
static bool test_containerd_ignored_namespaces(void) {
    bool ok = true;
    char ignored_ns[128], list[300];
    char *huge = NULL;
    size_t len = 0;
    int k = 0;
    NEEDS_CONTAINERD();
    namespace_of(g_ctrd_ignored_id, ignored_ns, sizeof ignored_ns);
    CHECK(ctrd_sees("", true, true));
    CHECK(ctrd_sees("moby,k8s.io", true, false));
    CHECK(ctrd_sees(g_ctrd_ns, false, true));
    snprintf(list, sizeof list, "%s,%s", ignored_ns, g_ctrd_ns);
    CHECK(ctrd_sees(list, false, false));
    CHECK(ctrd_sees("no-such-namespace", true, true));
    /* 100 000 bytes: names that are not in use, then the ignored one's. */
    huge = malloc(100000 + 1);
    CHECK(huge != NULL);
    while (len + 8 + strlen(ignored_ns) <= 100000) {
        len += (size_t)sprintf(huge + len, "ns%05d,", k++);
    }
    snprintf(huge + len, 100000 + 1 - len, "%s", ignored_ns);
    CHECK(strlen(huge) > 99000);
    CHECK(ctrd_sees(huge, true, false));
out:
    free(huge);
    return ok;
}

/* A NULL endpoint takes CONTAINERD_ADDRESS, else the default socket. */
static bool test_containerd_default_endpoint_and_containerd_address(void) {
    bool ok = true;
    char *saved = NULL, *saved_docker = NULL;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_options o;
    ww_status s;
    int here = 0;
    ww_watcher *sentinel = (ww_watcher *)(void *)&here, *got = sentinel;
    NEEDS_CONTAINERD();
    saved = getenv("CONTAINERD_ADDRESS") ? strdup(getenv("CONTAINERD_ADDRESS")) : NULL;
    saved_docker = getenv("DOCKER_HOST") ? strdup(getenv("DOCKER_HOST")) : NULL;
    CHECK(unsetenv("CONTAINERD_ADDRESS") == 0);
    o = ctrd_options(NULL, NULL);
    CHECK_OK(ww_new(&o, &w));
    CHECK_OK(ww_snapshot(w, &p));
    CHECKF(streq(engine0(p)->endpoint, "unix:///run/containerd/containerd.sock"), "\"%s\"", engine0(p)->endpoint);
    CHECK(streq(engine0(p)->type, "containerd.io") && engine0(p)->kind == WW_ENGINE_CONTAINERD);
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;

    /* DOCKER_HOST is no business of a containerd watcher. */
    CHECK(setenv("DOCKER_HOST", "ssh://nowhere", 1) == 0);
    CHECK(setenv("CONTAINERD_ADDRESS", g_ctrd_endpoint, 1) == 0);
    o = ctrd_options(NULL, NULL);
    CHECK_OK(ww_new(&o, &w));
    CHECK_OK(ww_ready(w, 30000));
    CHECK_OK(ww_snapshot(w, &p));
    CHECKF(streq(engine0(p)->endpoint, g_ctrd_url), "\"%s\"", engine0(p)->endpoint);
    CHECK(has_ctrd_containers(p, false));
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;

    CHECK(setenv("CONTAINERD_ADDRESS", "tcp://127.0.0.1:1", 1) == 0);
    o = ctrd_options(NULL, NULL);
    s = ww_new(&o, &got);
    CHECKF(s == WW_STATUS_INVALID_ARG && got == sentinel, "%s: %s", ww_status_str(s), last_error());
    CHECKF(contains(last_error(), "tcp://127.0.0.1:1") && contains(last_error(), "CONTAINERD_ADDRESS"), "\"%s\"",
           last_error());
    /* An explicit endpoint wins over CONTAINERD_ADDRESS. */
    o = ctrd_options(g_missing_sock, NULL);
    CHECK_OK(ww_new(&o, &w));
    CHECK(unsynced_snapshot_ok(w, "containerd.io", g_missing_endpoint, WW_ENGINE_STATE_CONNECTING));
    ww_close(w);
    w = NULL;
    /* ... and CONTAINERD_ADDRESS is no business of a Docker watcher. */
    CHECK(setenv("DOCKER_HOST", g_endpoint, 1) == 0);
    CHECK_OK(ww_new(NULL, &w));
    CHECK_OK(ww_snapshot(w, &p));
    CHECKF(streq(engine0(p)->endpoint, g_endpoint), "\"%s\"", engine0(p)->endpoint);
out:
    ww_snapshot_free(p);
    ww_close(w);
    if (saved != NULL) {
        setenv("CONTAINERD_ADDRESS", saved, 1);
        free(saved);
    } else {
        unsetenv("CONTAINERD_ADDRESS");
    }
    if (saved_docker != NULL) {
        setenv("DOCKER_HOST", saved_docker, 1);
        free(saved_docker);
    } else {
        unsetenv("DOCKER_HOST");
    }
    return ok;
}

const struct test containerd_tests[] = {
    {test_containerd_engine_info, "containerd_engine_info"},
    {test_containerd_container_record, "containerd_container_record"},
    {test_containerd_endpoint_forms, "containerd_endpoint_forms"},
    {test_containerd_ignored_namespaces, "containerd_ignored_namespaces"},
    {test_containerd_default_endpoint_and_containerd_address, "containerd_default_endpoint_and_containerd_address"},
};
DEFINE_SUITE_LEN(containerd);
