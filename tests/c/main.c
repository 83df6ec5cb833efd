/*
 * test_abi: the C ABI of libwhalewatcher, exercised from C the way a C
 * caller uses it (in the style of regex-capi's ctest). One program built
 * from one file per topic (see the Makefile) and the shared harness.
 *
 * Usage: test_abi ENDPOINT EXPECT_ID EXPECT_NAME EXPECT_PID EXPECT_PROJECT
 *                 [CONTAINERD_ENDPOINT CTRD_EXPECT_ID CTRD_EXPECT_NAME
 *                  CTRD_EXPECT_PID CTRD_EXPECT_PROJECT CTRD_IGNORED_ID]
 *
 * ENDPOINT is a running Docker engine (e.g. a private dockerd started by
 * tests/engines/dockerd.sh) with at least one alive, running container: full
 * ID EXPECT_ID, name EXPECT_NAME (as `docker inspect` reports it; a leading
 * '/' is dropped, as the library documents), initial process EXPECT_PID,
 * label com.docker.compose.project=EXPECT_PROJECT. The docker CLI (`docker`
 * in PATH, or $DOCKER_CLI) must reach it as `docker -H ENDPOINT`: the
 * program inspects that container and pauses and resumes it to cause real
 * changes (it leaves it running). Nothing else in the engines may change
 * while this program runs.
 *
 * The six optional arguments (all or none) add the containerd engine:
 * CONTAINERD_ENDPOINT is a running containerd's socket, as a path or as
 * unix://PATH (e.g. a private one from tests/engines/containerd.sh), with
 * - one alive container outside the ignored namespaces, as the library names
 *   it: CTRD_EXPECT_ID "NS/ID" (just "ID" in namespace "default"),
 *   CTRD_EXPECT_NAME "NS/NAME" from its label nerdctl/name=NAME (which it
 *   must have), initial process CTRD_EXPECT_PID, label
 *   com.docker.compose.project=CTRD_EXPECT_PROJECT;
 * - one alive container in namespace "moby" (ignored by default),
 *   CTRD_IGNORED_ID "moby/ID".
 * `ctr` (in PATH) must reach it: the program reads the container's image
 * and pauses and resumes it (it leaves it running). Without these arguments
 * the tests that need a containerd are skipped; those that need none
 * (argument checks, unreachable sockets) run anyway.
 *
 * The environment adds more engines (each group all or none; without one,
 * the tests that need that engine are skipped):
 * - podman: WW_TEST_PODMAN_ENDPOINT (a podman API service, unix://PATH,
 *   which `podman --url` must reach: the program inspects, pauses and
 *   resumes the container and leaves it running), WW_TEST_PODMAN_ID (the
 *   full ID of one of its alive containers, label
 *   com.docker.compose.project=EXPECT_PROJECT as for Docker),
 *   WW_TEST_PODMAN_PID (its initial process); optionally
 *   WW_TEST_PODMAN_NAME (its name; else asked from podman).
 * - a CRI runtime: WW_TEST_CRI_ENDPOINT (unix://PATH), WW_TEST_CRI_POD
 *   ("NAME/NAMESPACE/UID" of one of its pods, as kubelet labels it),
 *   WW_TEST_CRI_SANDBOX_ID and _PID (the pod's sandbox), and
 *   WW_TEST_CRI_CONTAINER_ID and _PID (one running container of the pod);
 *   optionally WW_TEST_CRI_CONTAINER_NAME (its Kubernetes name). When the
 *   runtime is containerd's CRI plugin, the tests also watch the socket as
 *   containerd (namespace k8s.io).
 * - the engines' own PIDs (the processes serving their sockets), checked
 *   where given: WW_TEST_DOCKER_ENGINE_PID, WW_TEST_CONTAINERD_ENGINE_PID,
 *   WW_TEST_PODMAN_ENGINE_PID, WW_TEST_CRI_ENGINE_PID.
 * Discovery (ww_discover, WW_ENGINE_AUTO) sees the whole host: it must find
 * every engine given, through its process (none of them may be named by
 * the environment or sit at a well-known path).
 *
 * Run as root (as tests/c_abi.rs does): the permission test forks a child
 * that becomes user nobody (65534); not as root, it is skipped.
 *
 * TEST_ABI_ONLY=TEXT in the environment runs only the tests whose name
 * contains TEXT (the first one, which needs a process without watchers,
 * included only if it matches).
 *
 * Prints "ok"/"FAILED"/"skipped" per test and finally "N passed, N failed"
 * (skipped tests count as neither); exits 1 if any test failed, 2 on a bad
 * command line.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Parses a PID argument; 0 if it is not one. */
static int32_t parse_pid(const char *arg) {
    char *end = NULL;
    long pid;
    errno = 0;
    pid = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || pid <= 0 || pid > INT32_MAX) {
        return 0;
    }
    return (int32_t)pid;
}

static char *concat(const char *a, const char *b) {
    char *s = malloc(strlen(a) + strlen(b) + 1);
    if (s != NULL) {
        strcpy(s, a);
        strcat(s, b);
    }
    return s;
}

/* Takes the six containerd arguments; false (after saying why) if bad. */
static bool parse_containerd_args(const char *prog, char **argv) {
    static char name_label[256], ignored_ns[128];
    size_t ns_len;
    const char *slash;
    g_ctrd_endpoint = argv[0];
    if (strncmp(g_ctrd_endpoint, "unix://", 7) == 0) {
        g_ctrd_url = concat(g_ctrd_endpoint, "");
        g_ctrd_socket = concat(g_ctrd_endpoint + 7, "");
        g_ctrd_other_form = concat(g_ctrd_endpoint + 7, "");
    } else {
        g_ctrd_url = concat("unix://", g_ctrd_endpoint);
        g_ctrd_socket = concat(g_ctrd_endpoint, "");
        g_ctrd_other_form = concat("unix://", g_ctrd_endpoint);
    }
    g_ctrd_ns = malloc(strlen(argv[1]) + 8);
    if (g_ctrd_url == NULL || g_ctrd_socket == NULL || g_ctrd_other_form == NULL || g_ctrd_ns == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return false;
    }
    g_ctrd.id = argv[1];
    g_ctrd.name = argv[2];
    g_ctrd.pid = parse_pid(argv[3]);
    g_ctrd.project = argv[4];
    g_ctrd_ignored_id = argv[5];
    if (g_ctrd.pid == 0) {
        fprintf(stderr, "%s: bad CTRD_EXPECT_PID \"%s\"\n", prog, argv[3]);
        return false;
    }
    namespace_of(g_ctrd.id, g_ctrd_ns, strlen(argv[1]) + 8);
    slash = strchr(g_ctrd.id, '/');
    g_ctrd_bare_id = slash != NULL ? slash + 1 : g_ctrd.id;
    ns_len = strlen(g_ctrd_ns);
    /* The name is "NS/NAME" from label nerdctl/name=NAME ("NAME" in default). */
    if (slash == NULL) {
        snprintf(name_label, sizeof name_label, "%s", g_ctrd.name);
    } else if (strncmp(g_ctrd.name, g_ctrd_ns, ns_len) == 0 && g_ctrd.name[ns_len] == '/') {
        snprintf(name_label, sizeof name_label, "%s", g_ctrd.name + ns_len + 1);
    } else {
        fprintf(stderr, "%s: CTRD_EXPECT_NAME \"%s\" is not in the namespace of CTRD_EXPECT_ID \"%s\"\n", prog,
                g_ctrd.name, g_ctrd.id);
        return false;
    }
    g_ctrd.name_label = name_label;
    if (streq(g_ctrd_ns, "moby") || streq(g_ctrd_ns, "k8s.io")) {
        fprintf(stderr, "%s: CTRD_EXPECT_ID \"%s\" is in a namespace ignored by default\n", prog, g_ctrd.id);
        return false;
    }
    namespace_of(g_ctrd_ignored_id, ignored_ns, sizeof ignored_ns);
    if (!streq(ignored_ns, "moby") && !streq(ignored_ns, "k8s.io")) {
        fprintf(stderr, "%s: CTRD_IGNORED_ID \"%s\" is not in a namespace ignored by default (moby, k8s.io)\n",
                prog, g_ctrd_ignored_id);
        return false;
    }
    g_have_ctrd = true;
    return true;
}

/* An environment variable; NULL when unset or empty. */
static const char *env(const char *name) {
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* An optional PID from the environment: 0 when unset; false if bad. */
static bool env_pid(const char *prog, const char *name, int32_t *pid) {
    const char *v = env(name);
    *pid = 0;
    if (v != NULL && (*pid = parse_pid(v)) == 0) {
        fprintf(stderr, "%s: bad %s \"%s\"\n", prog, name, v);
        return false;
    }
    return true;
}

/* A required variable of a group; says so if missing. */
static const char *required(const char *prog, const char *group, const char *name) {
    const char *v = env(name);
    if (v == NULL) {
        fprintf(stderr, "%s: %s is set, but %s is not\n", prog, group, name);
    }
    return v;
}

static bool parse_podman_env(const char *prog) {
    static char name[256];
    const char *pid;
    g_podman_endpoint = env("WW_TEST_PODMAN_ENDPOINT");
    if (g_podman_endpoint == NULL) {
        return true;
    }
    g_podman.id = required(prog, "WW_TEST_PODMAN_ENDPOINT", "WW_TEST_PODMAN_ID");
    pid = required(prog, "WW_TEST_PODMAN_ENDPOINT", "WW_TEST_PODMAN_PID");
    if (g_podman.id == NULL || pid == NULL) {
        return false;
    }
    if ((g_podman.pid = parse_pid(pid)) == 0) {
        fprintf(stderr, "%s: bad WW_TEST_PODMAN_PID \"%s\"\n", prog, pid);
        return false;
    }
    g_podman.project = g_docker.project;
    g_podman.name_label = NULL;
    g_podman.name = env("WW_TEST_PODMAN_NAME");
    if (g_podman.name == NULL) {
        if (!podman_cli(name, sizeof name, "inspect", "-f", "{{.Name}}", g_podman.id)) {
            fprintf(stderr, "%s: cannot ask podman for the name of %s\n", prog, g_podman.id);
            return false;
        }
        g_podman.name = name;
    }
    g_have_podman = true;
    return true;
}

static bool parse_cri_env(const char *prog) {
    static char pod[512];
    const char *pod_env, *sandbox_pid, *container_pid;
    char *slash, *slash2;
    g_cri_endpoint = env("WW_TEST_CRI_ENDPOINT");
    if (g_cri_endpoint == NULL) {
        return true;
    }
    pod_env = required(prog, "WW_TEST_CRI_ENDPOINT", "WW_TEST_CRI_POD");
    g_cri_sandbox_id = required(prog, "WW_TEST_CRI_ENDPOINT", "WW_TEST_CRI_SANDBOX_ID");
    sandbox_pid = required(prog, "WW_TEST_CRI_ENDPOINT", "WW_TEST_CRI_SANDBOX_PID");
    g_cri_container_id = required(prog, "WW_TEST_CRI_ENDPOINT", "WW_TEST_CRI_CONTAINER_ID");
    container_pid = required(prog, "WW_TEST_CRI_ENDPOINT", "WW_TEST_CRI_CONTAINER_PID");
    if (pod_env == NULL || g_cri_sandbox_id == NULL || sandbox_pid == NULL || g_cri_container_id == NULL ||
        container_pid == NULL) {
        return false;
    }
    snprintf(pod, sizeof pod, "%s", pod_env);
    slash = strchr(pod, '/');
    slash2 = slash != NULL ? strchr(slash + 1, '/') : NULL;
    if (slash == NULL || slash2 == NULL || strchr(slash2 + 1, '/') != NULL || slash == pod || slash2 == slash + 1 ||
        slash2[1] == '\0') {
        fprintf(stderr, "%s: WW_TEST_CRI_POD \"%s\" is not NAME/NAMESPACE/UID\n", prog, pod_env);
        return false;
    }
    *slash = '\0';
    *slash2 = '\0';
    g_cri_pod_name = pod;
    g_cri_pod_namespace = slash + 1;
    g_cri_pod_uid = slash2 + 1;
    g_cri_sandbox_pid = parse_pid(sandbox_pid);
    g_cri_container_pid = parse_pid(container_pid);
    if (g_cri_sandbox_pid == 0 || g_cri_container_pid == 0) {
        fprintf(stderr, "%s: bad WW_TEST_CRI_SANDBOX_PID \"%s\" or WW_TEST_CRI_CONTAINER_PID \"%s\"\n", prog,
                sandbox_pid, container_pid);
        return false;
    }
    g_cri_container_name = env("WW_TEST_CRI_CONTAINER_NAME");
    g_have_cri = true;
    return true;
}

/* The environment's engines (see the top of this file). */
static bool parse_env(const char *prog) {
    return env_pid(prog, "WW_TEST_DOCKER_ENGINE_PID", &g_docker_engine_pid) &&
           env_pid(prog, "WW_TEST_CONTAINERD_ENGINE_PID", &g_ctrd_engine_pid) &&
           env_pid(prog, "WW_TEST_PODMAN_ENGINE_PID", &g_podman_engine_pid) &&
           env_pid(prog, "WW_TEST_CRI_ENGINE_PID", &g_cri_engine_pid) && parse_podman_env(prog) &&
           parse_cri_env(prog);
}

bool parse_args(int argc, char **argv) {
    if (argc != 6 && argc != 12) {
        fprintf(stderr,
                "usage: %s ENDPOINT EXPECT_ID EXPECT_NAME EXPECT_PID EXPECT_PROJECT\n"
                "       [CONTAINERD_ENDPOINT CTRD_EXPECT_ID CTRD_EXPECT_NAME CTRD_EXPECT_PID CTRD_EXPECT_PROJECT "
                "CTRD_IGNORED_ID]\n",
                argv[0]);
        return false;
    }
    g_endpoint = argv[1];
    g_docker.id = argv[2];
    g_docker.name = argv[3][0] == '/' ? argv[3] + 1 : argv[3];
    g_docker.pid = parse_pid(argv[4]);
    g_docker.project = argv[5];
    g_docker.name_label = NULL;
    if (g_docker.pid == 0) {
        fprintf(stderr, "%s: bad EXPECT_PID \"%s\"\n", argv[0], argv[4]);
        return false;
    }
    if (strlen(g_docker.id) != 64) {
        fprintf(stderr, "%s: EXPECT_ID \"%s\" is not a full container ID\n", argv[0], g_docker.id);
        return false;
    }
    return (argc == 6 || parse_containerd_args(argv[0], argv + 6)) && parse_env(argv[0]);
}

void free_args(void) {
    free(g_ctrd_url);
    free(g_ctrd_socket);
    free(g_ctrd_other_form);
    free(g_ctrd_ns);
}

/* The suites, in the order they run. lifecycle comes first: its first test
 * needs a process in which no watcher has existed yet. */
static const struct {
    const struct test *tests;
    const size_t *len;
} suites[] = {
    {lifecycle_tests, &lifecycle_tests_len},
    {options_tests, &options_tests_len},
    {args_tests, &args_tests_len},
    {unreachable_tests, &unreachable_tests_len},
    {docker_tests, &docker_tests_len},
    {containerd_tests, &containerd_tests_len},
    {podman_tests, &podman_tests_len},
    {cri_tests, &cri_tests_len},
    {lookup_tests, &lookup_tests_len},
    {diff_tests, &diff_tests_len},
    {notify_tests, &notify_tests_len},
    {threads_tests, &threads_tests_len},
    {shutdown_tests, &shutdown_tests_len},
    {discover_tests, &discover_tests_len},
    {sigpipe_tests, &sigpipe_tests_len},
    {tls_tests, &tls_tests_len},
    {fork_tests, &fork_tests_len},
    {audit_tests, &audit_tests_len},
};

int main(int argc, char **argv) {
    int npassed = 0, nfailed = 0, nskipped = 0;
    size_t i, j;
    const char *only = getenv("TEST_ABI_ONLY");

    if (!parse_args(argc, argv)) {
        free_args();
        return 2;
    }
    if (!setup_sockets()) {
        free_args();
        return 2;
    }
    for (i = 0; i < sizeof suites / sizeof suites[0]; i++) {
        for (j = 0; j < *suites[i].len; j++) {
            const struct test *t = &suites[i].tests[j];
            if (only != NULL && !contains(t->name, only)) {
                continue;
            }
            switch (run_test(t)) {
            case PASSED:
                npassed++;
                break;
            case FAILED:
                nfailed++;
                break;
            case SKIPPED:
                nskipped++;
                break;
            }
        }
    }
    teardown_sockets();
    free_args();
    if (nskipped > 0) {
        printf("%d skipped: see why above (and the usage at the top of main.c)\n", nskipped);
    }
    printf("%d passed, %d failed\n", npassed, nfailed);
    return nfailed == 0 ? 0 : 1;
}
