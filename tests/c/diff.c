/*
 * ww_diff and ww_changes_free: what changed between two snapshots, with
 * real changes (the Docker, containerd and podman containers paused and
 * resumed with their CLIs).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <string.h>

static const char *kind_name(ww_change_kind k) {
    switch (k) {
    case WW_CHANGE_STARTED:
        return "STARTED";
    case WW_CHANGE_EXITED:
        return "EXITED";
    case WW_CHANGE_PAUSED:
        return "PAUSED";
    case WW_CHANGE_UNPAUSED:
        return "UNPAUSED";
    case WW_CHANGE_UPDATED:
        return "UPDATED";
    default:
        return "?";
    }
}

/* `c` points at an element of p->containers. */
static bool points_into(const ww_container *c, const ww_portfolio *p) {
    return c != NULL && p->containers_len > 0 && c >= p->containers && c < p->containers + p->containers_len;
}

static void print_changes(const ww_change *changes, size_t len) {
    size_t i;
    for (i = 0; i < len; i++) {
        const ww_container *c = changes[i].after != NULL ? changes[i].after : changes[i].before;
        note("  %s %s", kind_name(changes[i].kind), c != NULL ? c->id : "(none)");
    }
}

/* ww_diff(from, to) succeeds with no changes: NULL and 0. */
static bool diff_is_empty(const ww_portfolio *from, const ww_portfolio *to) {
    bool ok = true;
    const ww_change *changes = (const ww_change *)(const void *)&ok;
    size_t len = 7;
    CHECK_OK(ww_diff(from, to, &changes, &len));
    if (len != 0) {
        print_changes(changes, len);
    }
    CHECKF(changes == NULL && len == 0, "%zu changes at %p", len, (const void *)changes);
out:
    if (changes != (const ww_change *)(const void *)&ok) {
        ww_changes_free(changes);
    }
    return ok;
}

/* ww_diff(from, to) is exactly one change of `kind` of container `id`,
 * before in `from` and after in `to`, paused as the kind says. */
static bool diff_is_one(const ww_portfolio *from, const ww_portfolio *to, ww_change_kind kind, const char *id) {
    bool ok = true;
    const ww_change *changes = NULL;
    size_t len = 0;
    CHECK_OK(ww_diff(from, to, &changes, &len));
    if (len != 1) {
        print_changes(changes, len);
    }
    CHECKF(len == 1 && changes != NULL, "%zu changes", len);
    CHECKF(changes[0].kind == kind, "%s, expected %s", kind_name(changes[0].kind), kind_name(kind));
    CHECKF(points_into(changes[0].before, from), "before %p is not in `from`", (const void *)changes[0].before);
    CHECKF(points_into(changes[0].after, to), "after %p is not in `to`", (const void *)changes[0].after);
    CHECK(streq(changes[0].before->id, id) && streq(changes[0].after->id, id));
    CHECK(changes[0].before->pid == changes[0].after->pid);
    CHECK(changes[0].before->paused == (kind == WW_CHANGE_UNPAUSED));
    CHECK(changes[0].after->paused == (kind == WW_CHANGE_PAUSED));
out:
    ww_changes_free(changes);
    return ok;
}

/* From NULL ("nothing"): every container STARTED, in snapshot order. */
static bool everything_started(const ww_portfolio *p) {
    bool ok = true;
    const ww_change *changes = NULL;
    size_t len = 0, i;
    CHECK_OK(ww_diff(NULL, p, &changes, &len));
    CHECKF(len == p->containers_len, "%zu changes for %zu containers", len, p->containers_len);
    CHECK((changes == NULL) == (len == 0));
    for (i = 0; i < len; i++) {
        CHECKF(changes[i].kind == WW_CHANGE_STARTED, "change %zu: %s", i, kind_name(changes[i].kind));
        CHECKF(changes[i].before == NULL, "change %zu has a before", i);
        CHECKF(changes[i].after == &p->containers[i], "change %zu is not container %zu", i, i);
    }
out:
    ww_changes_free(changes);
    return ok;
}

static bool test_diff_from_nothing_and_with_itself(void) {
    bool ok = true;
    ww_watcher *w = ready_watcher();
    const ww_portfolio *p = NULL, *q = NULL;
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(p->containers_len >= 1);
    CHECK(everything_started(p));
    CHECK(diff_is_empty(p, p));
    CHECK_OK(ww_snapshot(w, &q));
    CHECK(diff_is_empty(p, q));
    CHECK(diff_is_empty(q, p));
    /* Snapshots and their diffs outlive the watcher. */
    ww_close(w);
    w = NULL;
    CHECK(everything_started(q));
out:
    ww_snapshot_free(p);
    ww_snapshot_free(q);
    ww_close(w);
    return ok;
}

/* A pause and a resume through the engine: one PAUSED, then one UNPAUSED,
 * the round trip nothing; the reverse diffs say the opposite. */
static bool test_diff_of_a_pause_and_a_resume(void) {
    bool ok = true;
    ww_watcher *w = ready_watcher();
    const ww_portfolio *before = NULL, *paused = NULL, *resumed = NULL;
    bool is_paused = false;
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &before));
    CHECK(has_docker_container(before));
    CHECK(docker_pause(true));
    is_paused = true;
    CHECK(await_container(w, g_docker.id, true, 10000, &paused));
    CHECK(paused->generation > before->generation);
    CHECK(diff_is_one(before, paused, WW_CHANGE_PAUSED, g_docker.id));
    CHECK(diff_is_one(paused, before, WW_CHANGE_UNPAUSED, g_docker.id));
    CHECK(docker_pause(false));
    is_paused = false;
    CHECK(await_container(w, g_docker.id, false, 10000, &resumed));
    CHECK(diff_is_one(paused, resumed, WW_CHANGE_UNPAUSED, g_docker.id));
    CHECK(diff_is_empty(before, resumed));
    /* ... also after ww_close. */
    ww_close(w);
    w = NULL;
    CHECK(diff_is_one(before, paused, WW_CHANGE_PAUSED, g_docker.id));
    CHECK(has_docker_container(resumed));
out:
    if (is_paused) {
        docker_pause(false);
    }
    ww_snapshot_free(before);
    ww_snapshot_free(paused);
    ww_snapshot_free(resumed);
    ww_close(w);
    return ok;
}

/* The same with containerd (ctr tasks pause and resume). */
static bool test_containerd_diff_of_a_pause_and_a_resume(void) {
    bool ok = true;
    ww_watcher *w = NULL;
    const ww_portfolio *before = NULL, *paused = NULL, *resumed = NULL;
    bool is_paused = false;
    NEEDS_CONTAINERD();
    w = ctrd_ready_watcher(NULL);
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &before));
    CHECK(has_ctrd_containers(before, false));
    CHECK(ctrd_pause(true));
    is_paused = true;
    CHECK(await_container(w, g_ctrd.id, true, 10000, &paused));
    CHECK(diff_is_one(before, paused, WW_CHANGE_PAUSED, g_ctrd.id));
    CHECK(ctrd_pause(false));
    is_paused = false;
    CHECK(await_container(w, g_ctrd.id, false, 10000, &resumed));
    CHECK(diff_is_one(paused, resumed, WW_CHANGE_UNPAUSED, g_ctrd.id));
    CHECK(diff_is_empty(before, resumed));
out:
    if (is_paused) {
        ctrd_pause(false);
    }
    ww_snapshot_free(before);
    ww_snapshot_free(paused);
    ww_snapshot_free(resumed);
    ww_close(w);
    return ok;
}

/* The same with podman (podman pause and unpause). */
static bool test_podman_diff_of_a_pause_and_a_resume(void) {
    bool ok = true;
    ww_watcher *w = NULL;
    ww_options o;
    const ww_portfolio *before = NULL, *paused = NULL, *resumed = NULL;
    bool is_paused = false;
    NEEDS_PODMAN();
    o = engine_options(WW_ENGINE_PODMAN, g_podman_endpoint);
    w = ready_watcher_with(&o);
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &before));
    CHECK(has_container(before, &g_podman));
    CHECK(podman_cli(NULL, 0, "pause", g_podman.id, NULL, NULL));
    is_paused = true;
    CHECK(await_container(w, g_podman.id, true, 10000, &paused));
    CHECK(diff_is_one(before, paused, WW_CHANGE_PAUSED, g_podman.id));
    CHECK(podman_cli(NULL, 0, "unpause", g_podman.id, NULL, NULL));
    is_paused = false;
    CHECK(await_container(w, g_podman.id, false, 10000, &resumed));
    CHECK(diff_is_one(paused, resumed, WW_CHANGE_UNPAUSED, g_podman.id));
    CHECK(diff_is_empty(before, resumed));
out:
    if (is_paused) {
        podman_cli(NULL, 0, "unpause", g_podman.id, NULL, NULL);
    }
    ww_snapshot_free(before);
    ww_snapshot_free(paused);
    ww_snapshot_free(resumed);
    ww_close(w);
    return ok;
}

/* Two watchers of the same engine, both synchronised, see the same
 * containers: no change between their snapshots either way. */
static bool same_engine_two_watchers(ww_watcher *a, ww_watcher *b) {
    bool ok = true;
    const ww_portfolio *pa = NULL, *pb = NULL;
    CHECK(a != NULL && b != NULL);
    CHECK_OK(ww_snapshot(a, &pa));
    CHECK_OK(ww_snapshot(b, &pb));
    CHECK(pa != pb && pa->containers_len == pb->containers_len && pa->containers_len >= 1);
    CHECK(diff_is_empty(pa, pb));
    CHECK(diff_is_empty(pb, pa));
out:
    ww_snapshot_free(pa);
    ww_snapshot_free(pb);
    ww_close(a);
    ww_close(b);
    return ok;
}

static bool test_diff_between_two_watchers_of_one_engine(void) {
    return same_engine_two_watchers(ready_watcher(), ready_watcher());
}

/* One given the socket as a path, the other as unix://PATH: the same engine. */
static bool test_containerd_diff_between_two_watchers_of_one_engine(void) {
    ww_options o;
    NEEDS_CONTAINERD();
    o = ctrd_options(g_ctrd_other_form, NULL);
    return same_engine_two_watchers(ctrd_ready_watcher(NULL), ready_watcher_with(&o));
}

/* Engines are told apart by endpoint: from a synchronised snapshot to the
 * empty one of a watcher of another endpoint, every container EXITED (in
 * snapshot order, `before` set); the other way, every one STARTED. */
static bool test_diff_against_another_endpoint(void) {
    bool ok = true;
    ww_watcher *w = ready_watcher(), *other = NULL;
    ww_options o = options_for(g_missing_endpoint);
    const ww_portfolio *p = NULL, *empty = NULL;
    const ww_change *changes = NULL;
    size_t len = 0, i;
    CHECK(w != NULL);
    CHECK_OK(ww_new(&o, &other));
    CHECK_OK(ww_snapshot(w, &p));
    CHECK_OK(ww_snapshot(other, &empty));
    CHECK(empty->containers_len == 0);
    CHECK_OK(ww_diff(p, empty, &changes, &len));
    CHECKF(len == p->containers_len, "%zu changes for %zu containers", len, p->containers_len);
    for (i = 0; i < len; i++) {
        CHECKF(changes[i].kind == WW_CHANGE_EXITED, "change %zu: %s", i, kind_name(changes[i].kind));
        CHECKF(changes[i].before == &p->containers[i] && changes[i].after == NULL, "change %zu", i);
    }
    ww_changes_free(changes);
    changes = NULL;
    CHECK(everything_started(p));
    CHECK_OK(ww_diff(empty, p, &changes, &len));
    CHECK(len == p->containers_len);
    for (i = 0; i < len; i++) {
        CHECK(changes[i].kind == WW_CHANGE_STARTED && changes[i].after == &p->containers[i]);
    }
    CHECK(diff_is_empty(empty, empty));
    CHECK(diff_is_empty(NULL, empty));
out:
    ww_changes_free(changes);
    ww_snapshot_free(p);
    ww_snapshot_free(empty);
    ww_close(w);
    ww_close(other);
    return ok;
}

const struct test diff_tests[] = {
    {test_diff_from_nothing_and_with_itself, "diff_from_nothing_and_with_itself"},
    {test_diff_of_a_pause_and_a_resume, "diff_of_a_pause_and_a_resume"},
    {test_containerd_diff_of_a_pause_and_a_resume, "containerd_diff_of_a_pause_and_a_resume"},
    {test_podman_diff_of_a_pause_and_a_resume, "podman_diff_of_a_pause_and_a_resume"},
    {test_diff_between_two_watchers_of_one_engine, "diff_between_two_watchers_of_one_engine"},
    {test_containerd_diff_between_two_watchers_of_one_engine, "containerd_diff_between_two_watchers_of_one_engine"},
    {test_diff_against_another_endpoint, "diff_against_another_endpoint"},
};
DEFINE_SUITE_LEN(diff);
