/*
 * The real Docker engine: the engine record through its states, the
 * container record against what `docker inspect` says, DOCKER_HOST and the
 * default endpoint.
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

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    int64_t era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "2026-11-29T20:30:21.96650835Z" as Unix ns; 0 if it is not that form. */
static int64_t parse_rfc3339_utc(const char *s) {
    int y, mo, d, h, mi, sec, used = 0;
    int64_t frac = 0, scale = 100000000;
    const char *p;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 || used != 19) {
        return 0;
    }
    p = s + used;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            frac += (*p - '0') * scale;
            scale /= 10;
        }
    }
    if (strcmp(p, "Z") != 0) {
        return 0;
    }
    return (days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec) * SECOND_NS + frac;
}

/* The engine record from ww_new (CONNECTING) to ww_ready (SYNCED): the
 * engine's identity as the docker CLI reports it, its process, and when it
 * was synchronised. */
static bool test_docker_engine_info(void) {
    bool ok = true;
    ww_options o = options_for(g_endpoint);
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    const ww_engine_info *e;
    char version[128], id[128], comm[64];
    int64_t before, after;
    double t0;
    CHECK(docker_cli(version, sizeof version, "version", "-f", "{{.Server.Version}}", NULL));
    CHECK(docker_cli(id, sizeof id, "info", "-f", "{{.ID}}", NULL));
    before = wall_ns();
    CHECK_OK(ww_new(&o, &w));
    CHECK_OK(ww_snapshot(w, &p));
    e = engine0(p);
    CHECK(portfolio_invariants(p, "docker.com", g_endpoint));
    if (p->generation == 0) {
        CHECKF(e->state == WW_ENGINE_STATE_CONNECTING, "state %u at generation 0", (unsigned)e->state);
        CHECK(streq(e->id, "") && streq(e->version, "") && streq(e->last_error, ""));
        CHECK(e->pid == 0 && e->synced_at_ns == 0 && p->containers_len == 0);
    } else {
        note("(synchronised before the first snapshot: generation %llu)", (unsigned long long)p->generation);
    }
    ww_snapshot_free(p);
    p = NULL;
    CHECK_OK(ww_ready(w, 30000));
    /* Ready stays ready; 0 just looks, < 0 waits without limit. */
    CHECK_OK(ww_ready(w, 0));
    CHECK_OK(ww_ready(w, -1));
    after = wall_ns();
    CHECK_OK(ww_snapshot(w, &p));
    e = engine0(p);
    CHECK(portfolio_invariants(p, "docker.com", g_endpoint));
    CHECKF(p->generation >= 1, "generation %llu", (unsigned long long)p->generation);
    CHECKF(e->state == WW_ENGINE_STATE_SYNCED, "state %u", (unsigned)e->state);
    CHECK(e->kind == WW_ENGINE_DOCKER && streq(e->type, "docker.com"));
    CHECKF(streq(e->endpoint, g_endpoint), "endpoint \"%s\"", e->endpoint);
    CHECKF(streq(e->version, version), "version \"%s\", the CLI says \"%s\"", e->version, version);
    CHECKF(streq(e->id, id), "id \"%s\", the CLI says \"%s\"", e->id, id);
    CHECKF(streq(e->last_error, ""), "last_error \"%s\"", e->last_error);
    CHECKF(e->synced_at_ns >= before - SECOND_NS && e->synced_at_ns <= after + SECOND_NS,
           "synced_at_ns %lld, not between ww_new (%lld) and ww_ready (%lld)", (long long)e->synced_at_ns,
           (long long)before, (long long)after);
    CHECKF(e->repairs == 0, "%llu repairs", (unsigned long long)e->repairs);
    CHECKF(e->pid > 0, "pid %d", (int)e->pid);
    CHECKF(kill((pid_t)e->pid, 0) == 0 || errno == EPERM, "engine pid %d: no such process", (int)e->pid);
    comm_of(e->pid, comm, sizeof comm);
    CHECKF(streq(comm, "dockerd"), "engine pid %d is \"%s\", not dockerd", (int)e->pid, comm);
    CHECK(has_docker_container(p));
    CHECK(p->containers_len >= 1 && p->projects_len >= 2);
    note("engine %s %s (ID %s) at %s, PID %d (%s), generation %llu, %zu containers, %zu projects", e->type,
         e->version, e->id, e->endpoint, (int)e->pid, comm, (unsigned long long)p->generation, p->containers_len,
         p->projects_len);
    ww_snapshot_free(p);
    p = NULL;
    /* Closing a synchronised watcher, whose event stream is open, is prompt. */
    t0 = now_ms();
    ww_close(w);
    w = NULL;
    CHECKF(now_ms() - t0 < 1000.0, "ww_close took %.0f ms", now_ms() - t0);
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* The record of the container given on the command line, field by field,
 * against `docker inspect` and /proc. */
static bool test_docker_container_record(void) {
    bool ok = true;
    ww_watcher *w = ready_watcher();
    const ww_portfolio *p = NULL;
    const ww_container *c;
    char inspect[1024], *image, *image_id, *started, *privileged, *sep;
    int64_t started_ns, proc_ns, now = wall_ns();
    CHECK(w != NULL);
    CHECK(docker_cli(inspect, sizeof inspect, "inspect", "-f",
                     "{{.Config.Image}}|{{.Image}}|{{.State.StartedAt}}|{{.HostConfig.Privileged}}", g_docker.id));
    image = inspect;
    CHECKF((sep = strchr(image, '|')) != NULL, "inspect \"%s\"", inspect);
    *sep = '\0';
    image_id = sep + 1;
    CHECKF((sep = strchr(image_id, '|')) != NULL, "inspect \"%s\"", inspect);
    *sep = '\0';
    started = sep + 1;
    CHECKF((sep = strchr(started, '|')) != NULL, "inspect \"%s\"", inspect);
    *sep = '\0';
    privileged = sep + 1;
    started_ns = parse_rfc3339_utc(started);
    CHECKF(started_ns > 0, "StartedAt \"%s\"", started);
    CHECK_OK(ww_snapshot(w, &p));
    CHECK(has_docker_container(p));
    c = find_container(p, g_docker.id);
    note("%s: image \"%s\" (%s), started at %lld, privileged %d, %zu labels", c->name, c->image, c->image_id,
         (long long)c->started_at_ns, (int)c->privileged, c->labels_len);
    CHECKF(c->image[0] != '\0' && streq(c->image, image), "image \"%s\", docker inspect says \"%s\"", c->image,
           image);
    CHECKF(starts_with(c->image_id, "sha256:") && streq(c->image_id, image_id),
           "image_id \"%s\", docker inspect says \"%s\"", c->image_id, image_id);
    CHECKF(c->started_at_ns == started_ns, "started_at_ns %lld, docker inspect says %s (%lld)",
           (long long)c->started_at_ns, started, (long long)started_ns);
    CHECKF(c->started_at_ns <= now + SECOND_NS && c->started_at_ns > now - 6 * HOUR_NS,
           "started_at_ns %lld is not within the last hours (now %lld)", (long long)c->started_at_ns, (long long)now);
    proc_ns = process_start_ns(c->pid);
    CHECKF(proc_ns > 0 && llabs((long long)(c->started_at_ns - proc_ns)) < 5 * SECOND_NS,
           "started_at_ns %lld, but process %d started at %lld", (long long)c->started_at_ns, (int)c->pid,
           (long long)proc_ns);
    CHECKF(!c->privileged && streq(privileged, "false"), "privileged %d, docker inspect says %s", (int)c->privileged,
           privileged);
    CHECKF(streq(c->pod_name, "") && streq(c->pod_namespace, "") && streq(c->pod_uid, "") && !c->pod_sandbox,
           "pod \"%s\" \"%s\" \"%s\" sandbox %d", c->pod_name, c->pod_namespace, c->pod_uid, (int)c->pod_sandbox);
    CHECK(c->engine == 0 && !c->paused);
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* ww_new(NULL) and a NULL endpoint take DOCKER_HOST, else the default. */
static bool test_default_endpoint_and_docker_host(void) {
    bool ok = true;
    char *saved = getenv("DOCKER_HOST") ? strdup(getenv("DOCKER_HOST")) : NULL;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    ww_options o;
    ww_status s;
    int here = 0;
    ww_watcher *sentinel = (ww_watcher *)(void *)&here, *got = sentinel;
    CHECK(unsetenv("DOCKER_HOST") == 0);
    CHECK_OK(ww_new(NULL, &w));
    CHECK_OK(ww_snapshot(w, &p));
    CHECKF(streq(engine0(p)->endpoint, "unix:///var/run/docker.sock"), "\"%s\"", engine0(p)->endpoint);
    CHECK(engine0(p)->kind == WW_ENGINE_DOCKER);
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;

    CHECK(setenv("DOCKER_HOST", g_endpoint, 1) == 0);
    CHECK_OK(ww_new(NULL, &w));
    CHECK_OK(ww_ready(w, 30000));
    CHECK_OK(ww_snapshot(w, &p));
    CHECKF(streq(engine0(p)->endpoint, g_endpoint), "\"%s\"", engine0(p)->endpoint);
    CHECK(has_docker_container(p));
    ww_snapshot_free(p);
    p = NULL;
    ww_close(w);
    w = NULL;

    o = options_for(NULL);
    CHECK(setenv("DOCKER_HOST", "ssh://nowhere", 1) == 0);
    s = ww_new(&o, &got);
    CHECKF(s == WW_STATUS_INVALID_ARG && got == sentinel, "%s: %s", ww_status_str(s), last_error());
    CHECKF(contains(last_error(), "ssh://nowhere") && contains(last_error(), "DOCKER_HOST"), "\"%s\"", last_error());
    s = ww_new(NULL, &got);
    CHECKF(s == WW_STATUS_INVALID_ARG && got == sentinel, "%s: %s", ww_status_str(s), last_error());
    CHECKF(contains(last_error(), "DOCKER_HOST"), "\"%s\"", last_error());
    /* An explicit endpoint wins over DOCKER_HOST. */
    o = options_for(g_missing_endpoint);
    CHECK_OK(ww_new(&o, &w));
    CHECK(unsynced_snapshot_ok(w, "docker.com", g_missing_endpoint, WW_ENGINE_STATE_CONNECTING));
out:
    ww_snapshot_free(p);
    ww_close(w);
    if (saved != NULL) {
        setenv("DOCKER_HOST", saved, 1);
        free(saved);
    } else {
        unsetenv("DOCKER_HOST");
    }
    return ok;
}

const struct test docker_tests[] = {
    {test_docker_engine_info, "docker_engine_info"},
    {test_docker_container_record, "docker_container_record"},
    {test_default_endpoint_and_docker_host, "default_endpoint_and_docker_host"},
};
DEFINE_SUITE_LEN(docker);
