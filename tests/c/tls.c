/*
 * Docker over TLS, as far as a C caller chooses it: which endpoints are
 * TLS (https://, tcp:// with a file given or DOCKER_TLS_VERIFY set, as
 * the docker CLI does), and where the files not given come from
 * (DOCKER_CERT_PATH, else ~/.docker), each named when it is missing. The
 * refusals are rows of the bad-input table (args.c); connections to a
 * --tlsverify dockerd are tests/docker_tls.rs'.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The environment variables these tests change, saved and put back. */
static const char *const tls_env[] = {"DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "HOME"};
#define TLS_ENV_LEN (sizeof tls_env / sizeof tls_env[0])

struct saved_env {
    char *value[TLS_ENV_LEN]; /* NULL: unset */
};

static bool save_env(struct saved_env *s) {
    size_t i;
    for (i = 0; i < TLS_ENV_LEN; i++) {
        const char *v = getenv(tls_env[i]);
        s->value[i] = v != NULL ? strdup(v) : NULL;
        if (v != NULL && s->value[i] == NULL) {
            return false;
        }
    }
    return true;
}

static void restore_env(struct saved_env *s) {
    size_t i;
    for (i = 0; i < TLS_ENV_LEN; i++) {
        if (s->value[i] != NULL) {
            setenv(tls_env[i], s->value[i], 1);
        } else {
            unsetenv(tls_env[i]);
        }
        free(s->value[i]);
        s->value[i] = NULL;
    }
}

/* Sets `name` to `value`, or unsets it for NULL. */
static bool set_env(const char *name, const char *value) {
    return value != NULL ? setenv(name, value, 1) == 0 : unsetenv(name) == 0;
}

/* The endpoint a new watcher reports for `o`, into `out`. */
static bool reported(const ww_options *o, char *out, size_t size) {
    bool ok = true;
    ww_watcher *w = NULL;
    const ww_portfolio *p = NULL;
    CHECK_OK(ww_new(o, &w));
    CHECK_OK(ww_snapshot(w, &p));
    snprintf(out, size, "%s", engine0(p)->endpoint);
out:
    ww_snapshot_free(p);
    ww_close(w);
    return ok;
}

/* https:// is TLS; tcp:// is TLS with any of the three files given or with
 * DOCKER_TLS_VERIFY set (not empty); http:// and unix:// never are without
 * a file (unix:// with one is refused: see args.c). The snapshot names the
 * endpoint in use: https://HOST:PORT for TLS. */
static bool test_tls_which_endpoints_are_tls(void) {
    static const struct {
        const char *endpoint, *ca, *cert, *key, *verify, *want;
    } cases[] = {
        {"https://127.0.0.1:2376", NULL, NULL, NULL, NULL, "https://127.0.0.1:2376"},
        {"https://127.0.0.1:2376/", NULL, NULL, NULL, NULL, "https://127.0.0.1:2376"},
        {"https://[::1]:2376", NULL, NULL, NULL, NULL, "https://[::1]:2376"},
        {"tcp://127.0.0.1:2376", NULL, NULL, NULL, NULL, "tcp://127.0.0.1:2376"},
        {"tcp://127.0.0.1:2376", "/etc/ssl/ca.pem", NULL, NULL, NULL, "https://127.0.0.1:2376"},
        {"tcp://127.0.0.1:2376", NULL, "/etc/ssl/cert.pem", NULL, NULL, "https://127.0.0.1:2376"},
        {"tcp://localhost:2376", NULL, NULL, "/etc/ssl/key.pem", NULL, "https://localhost:2376"},
        {"tcp://127.0.0.1:2376", NULL, NULL, NULL, "1", "https://127.0.0.1:2376"},
        {"tcp://127.0.0.1:2376", NULL, NULL, NULL, "", "tcp://127.0.0.1:2376"},
        {"http://127.0.0.1:2376/", NULL, NULL, NULL, NULL, "tcp://127.0.0.1:2376"},
        {"unix:///var/run/docker.sock", NULL, NULL, NULL, "1", "unix:///var/run/docker.sock"},
    };
    bool ok = true;
    struct saved_env saved;
    size_t i;
    memset(&saved, 0, sizeof saved);
    CHECK(save_env(&saved));
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ww_options o = options_for(cases[i].endpoint);
        char got[256];
        o.tls_ca = cases[i].ca;
        o.tls_cert = cases[i].cert;
        o.tls_key = cases[i].key;
        CHECK(set_env("DOCKER_TLS_VERIFY", cases[i].verify));
        CHECK(reported(&o, got, sizeof got));
        CHECKF(streq(got, cases[i].want), "%s (files %s %s %s, DOCKER_TLS_VERIFY %s): \"%s\", expected \"%s\"",
               cases[i].endpoint, cases[i].ca ? cases[i].ca : "-", cases[i].cert ? cases[i].cert : "-",
               cases[i].key ? cases[i].key : "-", cases[i].verify ? cases[i].verify : "unset", got, cases[i].want);
    }
out:
    restore_env(&saved);
    return ok;
}

/* Writes a file that looks like a PEM certificate. */
static bool write_pem(const char *path) {
    static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n";
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    bool written;
    if (fd < 0) {
        note("create %s: %s", path, strerror(errno));
        return false;
    }
    written = write(fd, pem, sizeof pem - 1) == (ssize_t)(sizeof pem - 1);
    close(fd);
    return written;
}

/* The files not given are DOCKER_CERT_PATH's ca.pem, cert.pem and key.pem,
 * else ~/.docker's (HOME), as for the docker CLI; one missing is named when
 * the watcher connects (here: gives up at once, backoff NONE). */
static bool test_tls_files_not_given_come_from_docker_cert_path(void) {
    bool ok = true;
    struct saved_env saved;
    char certs[96], ca[96], want[160];
    ww_options o = options_for("https://127.0.0.1:1");
    memset(&saved, 0, sizeof saved);
    snprintf(certs, sizeof certs, "%s/certs", g_tmpdir);
    snprintf(ca, sizeof ca, "%s/tls-ca.pem", g_tmpdir);
    CHECK(save_env(&saved));
    CHECK(write_pem(ca));
    CHECK(set_env("DOCKER_TLS_VERIFY", NULL));

    /* DOCKER_CERT_PATH's ca.pem, the first file read. */
    CHECK(set_env("DOCKER_CERT_PATH", certs));
    snprintf(want, sizeof want, "TLS: CA certificate %s/ca.pem", certs);
    CHECK(gives_up_at_once(&o, "https://127.0.0.1:1", want, ENOENT));
    /* The CA given, the certificate from DOCKER_CERT_PATH. */
    o.tls_ca = ca;
    snprintf(want, sizeof want, "TLS: client certificate %s/cert.pem", certs);
    CHECK(gives_up_at_once(&o, "https://127.0.0.1:1", want, ENOENT));
    /* Both given, the key from DOCKER_CERT_PATH; tcp:// is TLS with them. */
    o.tls_cert = ca;
    o.endpoint = "tcp://127.0.0.1:1";
    snprintf(want, sizeof want, "TLS: client key %s/key.pem", certs);
    CHECK(gives_up_at_once(&o, "https://127.0.0.1:1", want, ENOENT));

    /* Without DOCKER_CERT_PATH (or with it empty): ~/.docker. */
    o.endpoint = "https://127.0.0.1:1";
    o.tls_ca = NULL;
    o.tls_cert = NULL;
    CHECK(set_env("HOME", g_tmpdir));
    CHECK(set_env("DOCKER_CERT_PATH", NULL));
    snprintf(want, sizeof want, "TLS: CA certificate %s/.docker/ca.pem", g_tmpdir);
    CHECK(gives_up_at_once(&o, "https://127.0.0.1:1", want, ENOENT));
    CHECK(set_env("DOCKER_CERT_PATH", ""));
    CHECK(gives_up_at_once(&o, "https://127.0.0.1:1", want, ENOENT));
    /* DOCKER_TLS_VERIFY makes tcp:// TLS with those files. */
    CHECK(set_env("DOCKER_TLS_VERIFY", "1"));
    o.endpoint = "tcp://127.0.0.1:1";
    CHECK(gives_up_at_once(&o, "https://127.0.0.1:1", want, ENOENT));
out:
    restore_env(&saved);
    unlink(ca);
    return ok;
}

const struct test tls_tests[] = {
    {test_tls_which_endpoints_are_tls, "tls_which_endpoints_are_tls"},
    {test_tls_files_not_given_come_from_docker_cert_path, "tls_files_not_given_come_from_docker_cert_path"},
};
DEFINE_SUITE_LEN(tls);
