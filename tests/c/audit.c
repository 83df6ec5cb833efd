/*
 * The audit's counter as a C caller reads it: ww_engine_info.repairs, a
 * 64-bit count that is 0 on a healthy engine, also while audits run
 * often and the engine changes (there is nothing to repair when the
 * events told everything). What audits repair and when is
 * tests/audit.rs's.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

/* Every engine of the snapshot: synchronised, nothing repaired. */
static bool no_repairs(const ww_portfolio *p, const char *when) {
    bool ok = true;
    size_t i;
    CHECK(p->engines_len >= 1);
    for (i = 0; i < p->engines_len; i++) {
        const ww_engine_info *e = &p->engines[i];
        CHECKF(e->state == WW_ENGINE_STATE_SYNCED, "%s: %s at %s: state %u", when, e->type, e->endpoint,
               (unsigned)e->state);
        CHECKF(e->repairs == 0, "%s: %s at %s: %llu repairs (%s)", when, e->type, e->endpoint,
               (unsigned long long)e->repairs, e->last_error);
    }
out:
    return ok;
}

/* A watcher of `engine` at `endpoint`, auditing every `audit_ms`, ready;
 * its engine repaired nothing. */
static bool healthy(ww_engine engine, const char *endpoint, uint32_t audit_ms) {
    bool ok = true;
    ww_options o = engine_options(engine, endpoint);
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    o.audit_interval_ms = audit_ms;
    w = ready_watcher_with(&o);
    CHECKF(w != NULL, "%s", endpoint);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(no_repairs(p, endpoint));
    /* A few audits later, still none. */
    ww_snapshot_free(p);
    p = NULL;
    sleep_ms(5 * (long)audit_ms);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(no_repairs(p, endpoint));
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

static bool test_repairs_start_at_zero_on_each_engine(void) {
    bool ok = true;
    CHECKF(sizeof(((const ww_engine_info *)NULL)->repairs) == 8, "repairs has %zu bytes",
           sizeof(((const ww_engine_info *)NULL)->repairs));
    CHECK(healthy(WW_ENGINE_DOCKER, g_endpoint, 100));
    if (g_have_ctrd) {
        CHECK(healthy(WW_ENGINE_CONTAINERD, g_ctrd_endpoint, 100));
    }
    if (g_have_podman) {
        CHECK(healthy(WW_ENGINE_PODMAN, g_podman_endpoint, 100));
    }
    if (g_have_cri) {
        CHECK(healthy(WW_ENGINE_CRI, g_cri_endpoint, 100));
    }
out:
    return ok;
}

/* Audits every 100 ms while the container is paused and resumed: the
 * events tell it, the audits find nothing to repair, the count stays 0.
 * The same with audits off. */
static bool test_repairs_stay_zero_while_the_engine_changes(void) {
    bool ok = true, paused = false;
    const uint32_t intervals[] = {100, 0};
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    size_t i;
    for (i = 0; i < sizeof intervals / sizeof intervals[0]; i++) {
        ww_options o = options_for(g_endpoint);
        o.audit_interval_ms = intervals[i];
        w = ready_watcher_with(&o);
        CHECK(w != NULL);
        CHECK(docker_pause(true));
        paused = true;
        CHECK(await_container(w, g_docker.id, true, 20000, &p));
        CHECK(no_repairs(p, "paused"));
        ww_snapshot_free(p);
        p = NULL;
        CHECK(docker_pause(false));
        paused = false;
        CHECK(await_container(w, g_docker.id, false, 20000, &p));
        ww_snapshot_free(p);
        p = NULL;
        sleep_ms(500);
        CHECK_OK(ww_snapshot(w, &p));
        CHECK(has_docker_container(p));
        CHECKF(no_repairs(p, "resumed"), "audit_interval_ms %u", (unsigned)intervals[i]);
        ww_snapshot_free(p);
        p = NULL;
        ww_close(w);
        w = NULL;
    }
out:
    if (paused) {
        docker_pause(false);
    }
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

const struct test audit_tests[] = {
    {test_repairs_start_at_zero_on_each_engine, "repairs_start_at_zero_on_each_engine"},
    {test_repairs_stay_zero_while_the_engine_changes, "repairs_stay_zero_while_the_engine_changes"},
};
DEFINE_SUITE_LEN(audit);
