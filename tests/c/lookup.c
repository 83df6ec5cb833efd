/*
 * Lookups in a snapshot: ww_portfolio_find_id and ww_portfolio_find_pid
 * find every container (the very array element) and nothing else.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <string.h>
#include <unistd.h>

/* Every container of `p` is found by its ID and by its PID, as a pointer to
 * its element of p->containers. */
static bool every_container_found(const ww_portfolio *p) {
    bool ok = true;
    size_t i;
    for (i = 0; i < p->containers_len; i++) {
        const ww_container *c = &p->containers[i];
        const ww_container *by_id = ww_portfolio_find_id(p, c->id);
        const ww_container *by_pid = ww_portfolio_find_pid(p, c->pid);
        CHECKF(by_id == c, "find_id(%s): %p, expected element %zu (%p)", c->id, (const void *)by_id, i,
               (const void *)c);
        CHECKF(by_pid == c, "find_pid(%d): %p, expected element %zu (%p)", (int)c->pid, (const void *)by_pid, i,
               (const void *)c);
    }
out:
    return ok;
}

/* Nothing is found that is not there; a lookup that finds nothing is no
 * failure (the last error stays). */
static bool absent_not_found(const ww_portfolio *p, const char *some_id) {
    bool ok = true;
    char before[512], prefix[13], longer[200], upper[200];
    size_t i;
    static const int32_t pids[] = {0, -1, INT32_MIN, INT32_MAX};
    CHECK(ww_ready(NULL, 0) == WW_STATUS_NULL_ARG);
    snprintf(before, sizeof before, "%s", last_error());
    CHECK(ww_portfolio_find_id(p, "no-such-container") == NULL);
    CHECK(ww_portfolio_find_id(p, "") == NULL);
    CHECK(ww_portfolio_find_id(p, "\xff\xfe") == NULL);
    if (some_id != NULL) {
        /* IDs match exactly: no prefixes (short IDs), no extensions, no case folding. */
        snprintf(prefix, sizeof prefix, "%.12s", some_id);
        snprintf(longer, sizeof longer, "%sx", some_id);
        snprintf(upper, sizeof upper, "%s", some_id);
        for (i = 0; upper[i] != '\0'; i++) {
            if (upper[i] >= 'a' && upper[i] <= 'z') {
                upper[i] = (char)(upper[i] - 'a' + 'A');
            }
        }
        CHECKF(ww_portfolio_find_id(p, prefix) == NULL, "found by the prefix %s", prefix);
        CHECKF(ww_portfolio_find_id(p, longer) == NULL, "found by %s", longer);
        CHECKF(strcmp(upper, some_id) == 0 || ww_portfolio_find_id(p, upper) == NULL, "found by %s", upper);
    }
    for (i = 0; i < sizeof pids / sizeof pids[0]; i++) {
        CHECKF(ww_portfolio_find_pid(p, pids[i]) == NULL, "found PID %d", (int)pids[i]);
    }
    /* This process is no container's initial process. */
    CHECK(ww_portfolio_find_pid(p, (int32_t)getpid()) == NULL);
    CHECKF(streq(last_error(), before), "the last error became \"%s\"", last_error());
out:
    return ok;
}

static bool test_docker_lookups(void) {
    bool ok = true;
    ww_watcher *w = ready_watcher();
    const ww_portfolio *p = NULL;
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(has_docker_container(p));
    CHECK(every_container_found(p));
    CHECK(ww_portfolio_find_id(p, g_docker.id) == find_container(p, g_docker.id));
    CHECK(ww_portfolio_find_pid(p, g_docker.pid) == find_container(p, g_docker.id));
    /* The name is not an ID. */
    CHECK(ww_portfolio_find_id(p, g_docker.name) == NULL);
    CHECK(absent_not_found(p, g_docker.id));
    /* The results live as long as the snapshot, also after ww_close. */
    ww_close(w);
    w = NULL;
    CHECK(every_container_found(p));
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

static bool test_containerd_lookups(void) {
    bool ok = true;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    const ww_container *m;
    char moby_bare[256];
    NEEDS_CONTAINERD();
    /* Every namespace watched: the moby container is there too. */
    w = ctrd_ready_watcher("");
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(has_ctrd_containers(p, true));
    CHECK(every_container_found(p));
    CHECK(ww_portfolio_find_id(p, g_ctrd.id) == find_container(p, g_ctrd.id));
    CHECK(ww_portfolio_find_pid(p, g_ctrd.pid) == find_container(p, g_ctrd.id));
    m = find_container(p, g_ctrd_ignored_id);
    CHECK(m != NULL && ww_portfolio_find_id(p, g_ctrd_ignored_id) == m && ww_portfolio_find_pid(p, m->pid) == m);
    /* The ID as the snapshot shows it: outside "default", with its namespace. */
    if (strcmp(g_ctrd_ns, "default") != 0) {
        CHECKF(ww_portfolio_find_id(p, g_ctrd_bare_id) == NULL, "found by the bare ID %s", g_ctrd_bare_id);
    }
    snprintf(moby_bare, sizeof moby_bare, "%s", strchr(g_ctrd_ignored_id, '/') + 1);
    CHECK(ww_portfolio_find_id(p, moby_bare) == NULL);
    CHECK(absent_not_found(p, g_ctrd.id));
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;
    /* With the default ignored namespaces, the moby container is not found. */
    w = ctrd_ready_watcher(NULL);
    CHECK(w != NULL);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(every_container_found(p));
    CHECK(ww_portfolio_find_id(p, g_ctrd_ignored_id) == NULL);
    CHECK(ww_portfolio_find_id(p, g_ctrd.id) != NULL);
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* The empty snapshot of a watcher that never synchronised finds nothing. */
static bool test_lookups_in_an_empty_snapshot(void) {
    bool ok = true;
    ww_options o = options_for(g_missing_endpoint);
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    CHECK_OK(ww_new(&o, &w));
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(p->containers_len == 0);
    CHECK(ww_portfolio_find_id(p, g_docker.id) == NULL);
    CHECK(ww_portfolio_find_pid(p, g_docker.pid) == NULL);
    CHECK(absent_not_found(p, NULL));
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

const struct test lookup_tests[] = {
    {test_docker_lookups, "docker_lookups"},
    {test_containerd_lookups, "containerd_lookups"},
    {test_lookups_in_an_empty_snapshot, "lookups_in_an_empty_snapshot"},
};
DEFINE_SUITE_LEN(lookup);
