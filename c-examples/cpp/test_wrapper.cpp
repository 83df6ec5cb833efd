/*
 * The C++ wrapper include/whalewatcher.hpp, exercised against real engines
 * (the C++ counterpart of tests/c/test_abi.c).
 *
 * Usage: test_wrapper DOCKER_ENDPOINT DOCKER_EXPECT_ID DOCKER_EXPECT_NAME
 *                     DOCKER_EXPECT_PID PROJECT
 *                     [CONTAINERD_ENDPOINT CTRD_EXPECT_ID CTRD_EXPECT_NAME
 *                      CTRD_EXPECT_PID CTRD_EXPECT_PROJECT CTRD_IGNORED_ID]
 *
 * DOCKER_ENDPOINT is a running Docker engine (e.g. a private dockerd from
 * tests/engines/dockerd.sh) with at least one alive container: full ID
 * DOCKER_EXPECT_ID, name DOCKER_EXPECT_NAME (as `docker inspect` reports it;
 * a leading '/' is dropped), initial process DOCKER_EXPECT_PID, label
 * com.docker.compose.project=PROJECT (not "").
 *
 * The six optional arguments (all or none) add containerd:
 * CONTAINERD_ENDPOINT is a running containerd's socket, as a path or as
 * unix://PATH (e.g. a private one from tests/engines/containerd.sh), with
 * - one alive container outside the ignored namespaces, as the library
 *   names it: CTRD_EXPECT_ID "NS/ID" (just "ID" in namespace "default"),
 *   CTRD_EXPECT_NAME "NS/NAME" from its label nerdctl/name=NAME (which it
 *   must have), initial process CTRD_EXPECT_PID, label
 *   com.docker.compose.project=CTRD_EXPECT_PROJECT;
 * - one alive container in namespace "moby" (ignored by default),
 *   CTRD_IGNORED_ID "moby/ID".
 * Without them, the tests that need a containerd are skipped.
 *
 * Nothing in the engines changes while this program runs.
 *
 * Prints "ok"/"FAILED"/"skipped" per test and finally "N passed, N failed"
 * (skipped tests count as neither); exits 1 if any test failed, 2 on a bad
 * command line.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <whalewatcher.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace ww = whalewatcher;
using namespace std::chrono_literals;

namespace {

/* ------------------------------------------------------------------ */
/* Command line and scratch state                                      */
/* ------------------------------------------------------------------ */

constexpr std::string_view compose_label = "com.docker.compose.project";
constexpr std::string_view nerdctl_name_label = "nerdctl/name";

// A container a snapshot must hold, exactly.
struct expect {
    std::string id;
    std::string name;
    int pid = 0;
    std::string project;
    std::optional<std::string> name_label; // containerd: value of nerdctl/name
};

std::string g_endpoint;
expect g_docker;

bool g_have_ctrd = false;
std::string g_ctrd_endpoint; // as given
std::string g_ctrd_url;      // as the library reports it: unix://PATH
expect g_ctrd;
std::string g_ctrd_ns; // namespace of g_ctrd
std::string g_ctrd_ignored_id;

// A socket nobody listens on (bound, closed) and a path that does not exist.
std::string g_tmpdir, g_dead_sock, g_dead_endpoint, g_missing_sock, g_missing_endpoint;

/* ------------------------------------------------------------------ */
/* Checks                                                              */
/* ------------------------------------------------------------------ */

struct check_failed {};
struct skipped {};

bool g_mid_line = false;

void note_start() {
    if (g_mid_line) {
        std::cout.flush();
        std::cerr << '\n';
        g_mid_line = false;
    }
}

void note(const std::string &text) {
    note_start();
    std::cerr << "    " << text << '\n';
}

[[noreturn]] void fail_at(const char *file, int line, const char *cond, const std::string &why) {
    note_start();
    std::cerr << "    " << file << ':' << line << ": check failed: " << cond;
    if (!why.empty()) {
        std::cerr << ": " << why;
    }
    std::cerr << '\n';
    throw check_failed{};
}

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fail_at(__FILE__, __LINE__, #cond, std::string());                                                         \
        }                                                                                                              \
    } while (0)

#define CHECKF(cond, ...)                                                                                              \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            std::ostringstream why_;                                                                                   \
            why_ << __VA_ARGS__;                                                                                       \
            fail_at(__FILE__, __LINE__, #cond, why_.str());                                                            \
        }                                                                                                              \
    } while (0)

void needs_containerd() {
    if (!g_have_ctrd) {
        throw skipped{};
    }
}

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

int count_dir(const char *path) {
    std::error_code ec;
    int n = 0;
    for (auto it = std::filesystem::directory_iterator(path, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
        n++;
    }
    return ec ? -1 : n;
}

// What a ww::error thrown by `f` said, plus this thread's last error
// message right after the throw; fails if `f` throws nothing (or else).
struct caught {
    ww_status status;
    std::string what;
    std::string status_name;
    std::string last_error;
};

template <class F>
caught expect_error(F &&f, const char *what) {
    try {
        f();
    } catch (const ww::error &e) {
        caught c{e.status(), e.what(), std::string(e.status_name()), std::string(ww::last_error_message())};
        return c;
    }
    note(std::string(what) + ": threw nothing");
    throw check_failed{};
}

ww::options docker_options(const std::string &endpoint) {
    ww::options o;
    o.endpoint = endpoint;
    return o;
}

ww::options ctrd_options(std::optional<std::vector<std::string>> ignored = std::nullopt) {
    ww::options o;
    o.engine = ww::engine_kind::containerd;
    o.endpoint = g_ctrd_endpoint;
    o.ignored_namespaces = std::move(ignored);
    return o;
}

// A watcher with `o`, ready (within 30 s).
ww::watcher ready_watcher(const ww::options &o) {
    ww::watcher w(o);
    CHECK(w.valid());
    CHECK(w.ready(30s));
    return w;
}

/* ------------------------------------------------------------------ */
/* Snapshot checks                                                     */
/* ------------------------------------------------------------------ */

// Everything every snapshot of an engine of `type` at `endpoint` must satisfy,
// checked through the wrapper's views (and their raw C structs).
void check_invariants(const ww::snapshot &s, std::string_view type, std::string_view endpoint) {
    CHECK(s.valid() && static_cast<bool>(s) && s.get() != nullptr);
    CHECKF(s.engine_type() == type, "engine_type \"" << s.engine_type() << "\", expected \"" << type << '"');
    CHECKF(s.engine_endpoint() == endpoint,
           "engine_endpoint \"" << s.engine_endpoint() << "\", expected \"" << endpoint << '"');
    CHECK(s.engine_pid() >= 0);
    const ww_portfolio *raw = s.get();
    ww::container_range cs = s.containers();
    ww::project_range ps = s.projects();
    CHECK(cs.size() == raw->containers_len);
    CHECK(ps.size() == raw->projects_len);
    CHECK(cs.data() == raw->containers);
    CHECK(ps.size() >= 1 && ps[0].name().empty() && ps[0].unnamed());
    CHECK(s.project("").has_value() && &s.project("")->raw() == &ps[0].raw());

    std::size_t n = 0;
    std::optional<ww::container_view> prev;
    for (ww::container_view c : cs) {
        CHECK(&c.raw() == &raw->containers[n]);
        CHECKF(!c.id().empty(), "container " << n << " has an empty ID");
        CHECKF(c.pid() > 0, "container " << c.id() << " has PID " << c.pid());
        std::optional<std::string_view> prev_key;
        std::size_t nl = 0;
        for (ww::label l : c.labels()) {
            CHECKF(!prev_key || *prev_key < l.key(),
                   "labels of " << c.name() << " not sorted: \"" << *prev_key << "\" before \"" << l.key() << '"');
            CHECKF(c.find_label(l.key()) == l.value(), "find_label(\"" << l.key() << "\")");
            prev_key = l.key();
            nl++;
        }
        CHECK(nl == c.labels().size() && nl == c.raw().labels_len);
        CHECKF(c.project() == c.find_label(compose_label).value_or(""),
               "container " << c.id() << ": project \"" << c.project() << '"');
        if (prev) {
            CHECKF(std::make_tuple(prev->project(), prev->name(), prev->id()) <
                       std::make_tuple(c.project(), c.name(), c.id()),
                   "containers not sorted at " << n << ": (" << prev->project() << ", " << prev->name() << ") before ("
                                               << c.project() << ", " << c.name() << ')');
        }
        prev = c;
        n++;
    }
    CHECK(n == cs.size());
    CHECK(cs.empty() == (n == 0));

    // Projects: "" first, then named ones sorted, each a contiguous slice of
    // the containers, together covering all of them in order.
    std::size_t at = 0, i = 0;
    for (ww::project_view p : ps) {
        if (i > 0) {
            CHECKF(!p.unnamed(), "projects[" << i << "] is unnamed");
            CHECKF(!p.empty(), "named project \"" << p.name() << "\" without containers");
            CHECKF(ps[i - 1].name() < p.name(), "projects not sorted: \"" << ps[i - 1].name() << "\" before \""
                                                                           << p.name() << '"');
        }
        if (!p.empty()) {
            CHECKF(p.containers().data() == cs.data() + at,
                   "project \"" << p.name() << "\" is not the slice at " << at << " of the containers");
        }
        for (ww::container_view c : p.containers()) {
            CHECKF(c.project() == p.name(), "container " << c.name() << " (project \"" << c.project()
                                                          << "\") in project \"" << p.name() << '"');
        }
        CHECK(p.size() == p.containers().size());
        auto found = s.project(p.name());
        CHECK(found && &found->raw() == &p.raw());
        at += p.size();
        i++;
    }
    CHECKF(at == cs.size(), "projects hold " << at << " of " << cs.size() << " containers");
}

// Reads every byte of every string (so ASan sees any read of freed memory).
std::size_t touch_all(const ww::snapshot &s) {
    std::size_t n = s.engine_type().size() + s.engine_id().size() + s.engine_version().size() +
                    s.engine_endpoint().size() + static_cast<std::size_t>(s.engine_pid());
    auto sum = [](std::string_view v) {
        std::size_t x = 0;
        for (char ch : v) {
            x += static_cast<unsigned char>(ch);
        }
        return x;
    };
    for (ww::container_view c : s.containers()) {
        n += sum(c.id()) + sum(c.name()) + sum(c.project()) + static_cast<std::size_t>(c.pid()) + c.paused();
        for (ww::label l : c.labels()) {
            n += sum(l.key()) + sum(l.value());
        }
    }
    for (ww::project_view p : s.projects()) {
        n += sum(p.name()) + p.size();
    }
    return n;
}

// The snapshot holds container `e`, exactly, also in its project's slice.
void check_has(const ww::snapshot &s, const expect &e) {
    std::optional<ww::container_view> c = s.find(e.id);
    CHECKF(c.has_value(),
           "container " << e.id << " not in the snapshot (" << s.containers().size() << " containers, generation "
                        << s.generation() << ')');
    CHECKF(c->id() == e.id, "id \"" << c->id() << '"');
    CHECKF(c->name() == e.name, "name \"" << c->name() << "\", expected \"" << e.name << '"');
    CHECKF(c->pid() == e.pid, "pid " << c->pid() << ", expected " << e.pid);
    CHECKF(c->project() == e.project, "project \"" << c->project() << "\", expected \"" << e.project << '"');
    CHECK(!c->paused());
    CHECK(!c->labels().empty());
    CHECKF(c->find_label(compose_label) == std::optional<std::string_view>(e.project),
           "label " << compose_label << "=\"" << c->find_label(compose_label).value_or("(none)") << '"');
    if (e.name_label) {
        CHECKF(c->find_label(nerdctl_name_label) == std::optional<std::string_view>(*e.name_label),
               "label " << nerdctl_name_label << "=\"" << c->find_label(nerdctl_name_label).value_or("(none)")
                        << "\", expected \"" << *e.name_label << '"');
    }
    CHECK(!c->find_label("no.such.label/at-all").has_value());
    bool sorted = true;
    for (std::size_t i = 1; i < c->labels().size(); i++) {
        sorted = sorted && c->labels()[i - 1].key() < c->labels()[i].key();
    }
    CHECK(sorted);
    // The same container (same C struct) through find_by_name and its project.
    auto by_name = s.find_by_name(e.name);
    CHECK(by_name && &by_name->raw() == &c->raw());
    auto p = s.project(e.project);
    CHECKF(p.has_value(), "no project \"" << e.project << '"');
    CHECK(p->name() == e.project);
    bool in_slice = false;
    for (ww::container_view pc : p->containers()) {
        in_slice = in_slice || &pc.raw() == &c->raw();
    }
    CHECKF(in_slice, "container not in the slice of project \"" << e.project << '"');
}

// The snapshot of a watcher that never reached its engine.
void check_unsynced(const ww::snapshot &s, std::string_view type, std::string_view endpoint) {
    check_invariants(s, type, endpoint);
    CHECKF(s.generation() == 0, "generation " << s.generation());
    CHECK(s.containers().empty() && s.containers().data() == nullptr && s.get()->containers == nullptr);
    CHECK(s.containers().begin() == s.containers().end());
    CHECK(s.projects().size() == 1 && s.projects()[0].unnamed() && s.projects()[0].empty());
    CHECK(s.projects()[0].containers().begin() == s.projects()[0].containers().end());
    CHECK(s.engine_id().empty() && s.engine_version().empty() && s.engine_pid() == 0);
    CHECK(!s.find(g_docker.id).has_value());
}

// An empty (default-constructed or moved-from) snapshot.
void check_empty(const ww::snapshot &s) {
    CHECK(!s.valid() && !s && s.get() == nullptr);
    CHECK(s.generation() == 0);
    CHECK(s.containers().empty() && s.containers().size() == 0 && s.containers().begin() == s.containers().end());
    CHECK(s.projects().empty() && s.projects().begin() == s.projects().end());
    CHECK(s.engine_type().empty() && s.engine_id().empty() && s.engine_version().empty());
    CHECK(s.engine_endpoint().empty() && s.engine_pid() == 0);
    CHECK(!s.find(g_docker.id) && !s.find_by_name(g_docker.name) && !s.project("") && !s.project(g_docker.project));
    std::size_t n = 0;
    for (ww::container_view c : s.containers()) {
        n += c.id().size() + 1;
    }
    CHECK(n == 0);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

// Runs first: RAII ends a watcher's whole life (thread and engine
// connection) and frees its snapshot, for the first watcher of the process
// too, and for a snapshot that outlives its watcher.
void test_raii_threads_and_fds_return_to_baseline() {
    int base_tasks = count_dir("/proc/self/task"), base_fds = count_dir("/proc/self/fd");
    CHECK(base_tasks >= 1 && base_fds >= 1);
    for (int round = 0; round < 3; round++) {
        int during_tasks = -1, during_fds = -1;
        {
            ww::snapshot kept;
            {
                ww::watcher w = ready_watcher(docker_options(g_endpoint));
                ww::snapshot s = w.snapshot();
                CHECK(s.generation() >= 1);
                during_tasks = count_dir("/proc/self/task");
                during_fds = count_dir("/proc/self/fd");
                CHECKF(during_tasks > base_tasks, "the watcher runs no thread of its own? " << during_tasks);
                if (round == 1) {
                    kept = s; // outlives the watcher
                }
            }
            if (round == 1) {
                check_has(kept, g_docker);
            }
        }
        int tasks = -1, fds = -1;
        double until = now_ms() + 1000.0;
        for (;;) {
            tasks = count_dir("/proc/self/task");
            fds = count_dir("/proc/self/fd");
            if ((tasks == base_tasks && fds == base_fds) || now_ms() >= until) {
                break;
            }
            std::this_thread::sleep_for(10ms);
        }
        std::ostringstream m;
        m << "round " << round << ": " << base_tasks << " tasks / " << base_fds << " fds before, " << during_tasks
          << " / " << during_fds << " while watching, " << tasks << " / " << fds << " after";
        note(m.str());
        CHECK(tasks == base_tasks);
        CHECK(fds == base_fds);
    }
}

void test_version_and_abi() {
    CHECKF(ww::version() == WW_VERSION_STRING, '"' << ww::version() << '"');
    CHECK(ww::header_version == WW_VERSION_STRING);
    CHECK(ww::version().data() == ww::version().data());
    CHECK(ww::abi_version() == WW_ABI_VERSION && ww::header_abi_version == WW_ABI_VERSION);
    ww::check_abi(); // throws on a mismatch
    CHECK(ww::status_name(WW_STATUS_ENGINE) == ww_status_str(WW_STATUS_ENGINE));
    CHECK(ww::status_name(99) == "unknown status");
    for (ww_status a = 0; a <= 7; a++) {
        CHECK(!ww::status_name(a).empty() && ww::status_name(a) != "unknown status");
    }
}

void test_error_type() {
    static_assert(std::is_base_of_v<std::runtime_error, ww::error>);
    static_assert(std::is_nothrow_copy_constructible_v<ww::error>);
    ww::error e(WW_STATUS_ENGINE, std::string("gave up"));
    CHECK(e.status() == WW_STATUS_ENGINE);
    CHECK(std::string_view(e.what()) == "gave up");
    CHECK(e.status_name() == ww_status_str(WW_STATUS_ENGINE));
    try {
        throw ww::error(WW_STATUS_INTERNAL, "x");
    } catch (const std::exception &ex) {
        CHECK(std::string_view(ex.what()) == "x");
        CHECK(dynamic_cast<const ww::error *>(&ex) != nullptr);
    }
    // Types: move-only watcher, copyable snapshot, nothrow moves.
    static_assert(!std::is_copy_constructible_v<ww::watcher> && !std::is_copy_assignable_v<ww::watcher>);
    static_assert(std::is_nothrow_move_constructible_v<ww::watcher> && std::is_nothrow_move_assignable_v<ww::watcher>);
    static_assert(std::is_nothrow_destructible_v<ww::watcher>);
    static_assert(std::is_copy_constructible_v<ww::snapshot> && std::is_nothrow_move_constructible_v<ww::snapshot>);
    static_assert(std::is_nothrow_default_constructible_v<ww::snapshot>);
    static_assert(std::is_same_v<std::iterator_traits<ww::container_range::iterator>::iterator_category,
                                 std::random_access_iterator_tag>);
    static_assert(sizeof(ww::container_view) == sizeof(void *));
}

// Bad endpoints are refused by the constructor with INVALID_ARG, the
// library's message naming the endpoint, read on this thread.
void test_bad_endpoint_invalid_arg() {
    static const char *const bad[] = {"ssh://host", "unix://", "/var/run/docker.sock", "unix://relative/docker.sock",
                                      "tcp://", "npipe:////./pipe/docker"};
    for (const char *endpoint : bad) {
        caught c = expect_error([&] { ww::watcher w(docker_options(endpoint)); }, endpoint);
        CHECKF(c.status == WW_STATUS_INVALID_ARG, endpoint << ": status " << c.status << " (" << c.status_name << ')');
        CHECKF(contains(c.what, endpoint), "message \"" << c.what << "\" does not name \"" << endpoint << '"');
        CHECKF(c.what == c.last_error, '"' << c.what << "\" vs last error \"" << c.last_error << '"');
        CHECK(c.status_name == ww::status_name(WW_STATUS_INVALID_ARG));
    }
    caught c = expect_error([] { ww::watcher w(docker_options("unix:///tmp/\xff\xfe.sock")); }, "bad UTF-8");
    CHECKF(c.status == WW_STATUS_INVALID_ARG && contains(c.what, "UTF-8"), c.status << ": " << c.what);
}

// Options the wrapper or the library refuses: INVALID_ARG, nothing leaks.
void test_bad_options_invalid_arg() {
    struct bad_case {
        const char *what;
        ww::options o;
        const char *needle;
    };
    std::vector<bad_case> cases;
    auto add = [&](const char *what, auto change, const char *needle) {
        ww::options o = docker_options(g_endpoint);
        change(o);
        cases.push_back({what, std::move(o), needle});
    };
    add("NUL in endpoint", [](ww::options &o) { o.endpoint = std::string("unix:///tmp/a\0b", 15); }, "NUL");
    add("comma in namespace", [](ww::options &o) { o.ignored_namespaces = std::vector<std::string>{"a,b"}; },
        "a,b");
    add("empty namespace", [](ww::options &o) { o.ignored_namespaces = std::vector<std::string>{"moby", ""}; },
        "namespace");
    add("negative duration", [](ww::options &o) { o.backoff_initial = -1ms; }, "backoff_initial");
    add("too long duration", [](ww::options &o) { o.call_timeout = std::chrono::hours(24 * 50); }, "call_timeout");
    add("max below initial",
        [](ww::options &o) {
            o.backoff_initial = 2s;
            o.backoff_max = 1s;
        },
        nullptr);
    add("unknown engine", [](ww::options &o) { o.engine = static_cast<ww::engine_kind>(9); }, nullptr);
    add("unknown backoff", [](ww::options &o) { o.backoff = static_cast<ww::backoff_policy>(9); }, nullptr);
    for (const bad_case &bc : cases) {
        caught c = expect_error([&] { ww::watcher w(bc.o); }, bc.what);
        CHECKF(c.status == WW_STATUS_INVALID_ARG, bc.what << ": status " << c.status << ": " << c.what);
        CHECKF(!c.what.empty(), bc.what);
        CHECKF(bc.needle == nullptr || contains(c.what, bc.needle), bc.what << ": \"" << c.what << '"');
    }
    // Valid ones pass: durations in any unit, a namespace list.
    ww::options o = docker_options(g_missing_endpoint);
    o.backoff = ww::backoff_policy::constant;
    o.backoff_initial = 1s;
    o.backoff_max = std::chrono::minutes(1);
    o.call_timeout = 5s;
    o.ignored_namespaces = std::vector<std::string>{"moby", "k8s.io"};
    ww::watcher w(o);
    CHECK(w.valid());
}

// Backoff NONE at an unreachable socket: ready() throws ENGINE at once,
// naming the path and the OS error; giving up is final.
void gives_up_at_once(ww::engine_kind engine, const std::string &endpoint, const std::string &reported,
                      const std::string &path, int err) {
    ww::options o;
    o.engine = engine;
    o.endpoint = endpoint;
    o.backoff = ww::backoff_policy::none;
    ww::watcher w(o);
    double t0 = now_ms();
    caught c = expect_error([&] { (void)w.ready(5s); }, "ready");
    double took = now_ms() - t0;
    note(endpoint + ": " + c.status_name + " after " + std::to_string(static_cast<long>(took)) + " ms: " + c.what);
    CHECKF(c.status == WW_STATUS_ENGINE, c.status_name << ": " << c.what);
    CHECKF(took < 2000.0, "ready took " << took << " ms");
    CHECKF(contains(c.what, path), "message \"" << c.what << "\" does not name " << path);
    CHECKF(contains(c.what, std::strerror(err)), "message \"" << c.what << "\" does not name \"" << std::strerror(err)
                                                               << '"');
    CHECK(c.what == c.last_error);
    CHECK(w.try_ready(0ms) == WW_STATUS_ENGINE);
    CHECK(w.try_ready(-1ms) == WW_STATUS_ENGINE);
    caught again = expect_error([&] { w.wait_ready(); }, "wait_ready");
    CHECK(again.status == WW_STATUS_ENGINE);
    check_unsynced(w.snapshot(), engine == ww::engine_kind::containerd ? "containerd.io" : "docker.com", reported);
}

void test_unreachable_backoff_none_engine() {
    gives_up_at_once(ww::engine_kind::docker, g_dead_endpoint, g_dead_endpoint, g_dead_sock, ECONNREFUSED);
    gives_up_at_once(ww::engine_kind::docker, g_missing_endpoint, g_missing_endpoint, g_missing_sock, ENOENT);
}

void test_containerd_unreachable_backoff_none_engine() {
    // Needs no containerd: a path and unix://PATH, both reported as unix://PATH.
    gives_up_at_once(ww::engine_kind::containerd, g_dead_sock, g_dead_endpoint, g_dead_sock, ECONNREFUSED);
    gives_up_at_once(ww::engine_kind::containerd, g_missing_endpoint, g_missing_endpoint, g_missing_sock, ENOENT);
}

// The default backoff never gives up: ready() returns false on timeout,
// wait_ready() throws TIMEOUT, try_ready() says TIMEOUT.
void test_unreachable_default_backoff_times_out() {
    ww::watcher w(docker_options(g_dead_endpoint));
    check_unsynced(w.snapshot(), "docker.com", g_dead_endpoint);
    double t0 = now_ms();
    bool r = w.ready(200ms);
    double took = now_ms() - t0;
    CHECK(!r);
    CHECKF(took >= 190.0 && took < 2000.0, "ready(200ms) took " << took << " ms");
    CHECKF(!ww::last_error_message().empty(), "no message after a timeout");
    CHECK(w.try_ready(0ms) == WW_STATUS_TIMEOUT);
    t0 = now_ms();
    caught c = expect_error([&] { w.wait_ready(100ms); }, "wait_ready(100ms)");
    took = now_ms() - t0;
    CHECKF(c.status == WW_STATUS_TIMEOUT, c.status_name << ": " << c.what);
    CHECKF(!c.what.empty() && c.what == c.last_error, '"' << c.what << '"');
    CHECKF(took >= 90.0 && took < 2000.0, "wait_ready(100ms) took " << took << " ms");
    check_unsynced(w.snapshot(), "docker.com", g_dead_endpoint);
}

// Exponential backoff with a deadline: ENGINE once the time is up.
void test_unreachable_max_elapsed_engine() {
    ww::options o = docker_options(g_dead_endpoint);
    o.backoff_initial = 50ms;
    o.backoff_max_elapsed = 300ms;
    ww::watcher w(o);
    double t0 = now_ms();
    caught c = expect_error([&] { (void)w.ready(10s); }, "ready");
    double took = now_ms() - t0;
    CHECKF(c.status == WW_STATUS_ENGINE, c.status_name << ": " << c.what);
    CHECKF(took >= 250.0 && took < 5000.0, "gave up after " << took << " ms");
    CHECK(contains(c.what, g_dead_sock));
}

void test_real_engine_docker() {
    ww::watcher w = ready_watcher(docker_options(g_endpoint));
    CHECK(w.ready(0ms));
    CHECK(w.try_ready(-1ms) == WW_STATUS_OK);
    CHECK(w.ready(std::chrono::milliseconds::max())); // clamped, not wrapped to "no limit" or negative
    CHECK(w.ready(std::chrono::hours(24 * 365)));
    CHECK(w.ready(-1ms));
    w.wait_ready();
    w.wait_ready(0ms);
    ww::snapshot s = w.snapshot();
    CHECK(s.generation() >= 1);
    check_invariants(s, "docker.com", g_endpoint);
    check_has(s, g_docker);
    CHECK(!s.engine_id().empty() && !s.engine_version().empty());
    if (g_endpoint.rfind("unix://", 0) == 0) {
        CHECKF(s.engine_pid() > 0, "engine_pid " << s.engine_pid());
    }
    CHECK(!s.find("0000000000000000000000000000000000000000000000000000000000000000"));
    CHECK(!s.find(""));
    CHECK(!s.find(std::string_view(g_docker.id).substr(0, 12))); // IDs are exact, no prefixes
    CHECK(!s.project("no-such-project"));

    // The ranges: range-for, iterator arithmetic, indexing, ->.
    ww::container_range cs = s.containers();
    CHECK(static_cast<std::size_t>(std::distance(cs.begin(), cs.end())) == cs.size());
    CHECK(static_cast<std::size_t>(cs.end() - cs.begin()) == cs.size());
    CHECK(!cs.empty() && cs.front().id() == cs[0].id() && cs.back().id() == cs[cs.size() - 1].id());
    std::size_t i = 0;
    for (auto it = cs.begin(); it != cs.end(); ++it, ++i) {
        CHECK(it->id() == cs[i].id() && (*it).pid() == cs.begin()[static_cast<std::ptrdiff_t>(i)].pid());
        CHECK(cs.begin() + static_cast<std::ptrdiff_t>(i) == it && it - cs.begin() == static_cast<std::ptrdiff_t>(i));
        CHECK(it < cs.end() && it >= cs.begin());
    }
    auto back = cs.end();
    --back;
    CHECK(&(*back).raw() == &cs.back().raw());
    auto found = std::find_if(cs.begin(), cs.end(), [](ww::container_view c) { return c.id() == g_docker.id; });
    CHECK(found != cs.end() && found->name() == g_docker.name);
    std::vector<std::string> ids;
    for (ww::container_view c : cs) {
        ids.emplace_back(c.id());
    }
    CHECK(ids.size() == cs.size() && std::find(ids.begin(), ids.end(), g_docker.id) != ids.end());
    note(std::to_string(cs.size()) + " containers in " + std::to_string(s.projects().size()) +
         " projects, generation " + std::to_string(s.generation()) + ", engine " + std::string(s.engine_version()) +
         " PID " + std::to_string(s.engine_pid()));
    // The expected container's labels, as a sorted list of pairs.
    auto c = s.find(g_docker.id);
    std::vector<std::pair<std::string_view, std::string_view>> labels;
    for (ww::label l : c->labels()) {
        labels.emplace_back(l.key(), l.value());
    }
    CHECK(std::is_sorted(labels.begin(), labels.end()));
    CHECK(std::find(labels.begin(), labels.end(), std::make_pair(compose_label, std::string_view(g_docker.project))) !=
          labels.end());
}

// Projects are slices of the containers, found by name.
void test_project_view_slices() {
    ww::watcher w = ready_watcher(docker_options(g_endpoint));
    ww::snapshot s = w.snapshot();
    auto p = s.project(g_docker.project);
    CHECK(p.has_value() && !p->unnamed() && !p->empty());
    auto first = s.containers().begin();
    std::ptrdiff_t offset = p->containers().data() - s.containers().data();
    CHECK(offset >= 0 && static_cast<std::size_t>(offset) + p->size() <= s.containers().size());
    std::size_t k = 0;
    for (ww::container_view c : p->containers()) {
        CHECK(&c.raw() == &first[offset + static_cast<std::ptrdiff_t>(k)].raw());
        CHECK(c.project() == g_docker.project);
        k++;
    }
    CHECK(k == p->size());
    // Outside the slice, no container of the project.
    std::size_t members = 0;
    for (ww::container_view c : s.containers()) {
        members += c.project() == g_docker.project;
    }
    CHECK(members == p->size());
    std::size_t total = 0;
    for (ww::project_view pv : s.projects()) {
        total += pv.size();
    }
    CHECK(total == s.containers().size());
    CHECK(s.project("")->raw().name == s.projects()[0].raw().name);
}

// A snapshot outlives its watcher: after the destructor, after close(), and
// freed in either order.
void test_snapshot_outlives_watcher() {
    ww::snapshot a, b;
    {
        ww::watcher w = ready_watcher(docker_options(g_endpoint));
        a = w.snapshot();
        b = w.snapshot();
        CHECK(a.generation() == b.generation());
    }
    check_has(a, g_docker);
    CHECK(touch_all(a) > 0);
    a = ww::snapshot();
    check_has(b, g_docker);

    ww::watcher w = ready_watcher(docker_options(g_endpoint));
    ww::snapshot c = w.snapshot();
    w.close();
    CHECK(!w.valid());
    w.close(); // idempotent
    check_invariants(c, "docker.com", g_endpoint);
    check_has(c, g_docker);
    CHECK(touch_all(c) == touch_all(ww::snapshot(c)));
}

// Copies share one portfolio (freed once, by the last); moved-from and
// default snapshots are empty and safe.
void test_snapshot_copies_and_moves() {
    ww::watcher w = ready_watcher(docker_options(g_endpoint));
    ww::snapshot s = w.snapshot();
    const ww_portfolio *raw = s.get();
    ww::snapshot copy = s;
    CHECK(copy.get() == raw);
    ww::snapshot assigned;
    check_empty(assigned);
    assigned = copy;
    CHECK(assigned.get() == raw);
    ww::snapshot &alias = assigned;
    assigned = alias; // self-copy
    CHECK(assigned.get() == raw);
    ww::snapshot moved = std::move(copy);
    CHECK(moved.get() == raw);
    check_empty(copy); // NOLINT(bugprone-use-after-move): moved-from is documented as empty
    copy = std::move(moved);
    check_empty(moved);
    CHECK(copy.get() == raw);
    copy = std::move(alias); // moves from `assigned`
    check_empty(assigned);
    CHECK(copy.get() == raw);
    ww::snapshot &self = copy;
    copy = std::move(self); // self-move
    s = ww::snapshot();      // the first handle goes; the copy keeps it alive
    check_empty(s);
    w.close();
    check_has(copy, g_docker);
    // A snapshot from the wrapper's raw constructor: NULL is empty.
    check_empty(ww::snapshot(nullptr));
    // Many copies, freed out of order.
    std::vector<ww::snapshot> many(100, copy);
    for (std::size_t i = 0; i < many.size(); i += 2) {
        many[i] = ww::snapshot();
    }
    copy = ww::snapshot();
    check_has(many[1], g_docker);
}

// A moved-from or closed watcher holds nothing: its calls throw NULL_ARG
// (or do nothing), the new owner works; move-assignment closes the old one.
void test_moved_from_watcher_safe() {
    ww::watcher a(docker_options(g_endpoint));
    ww_watcher *raw = a.native_handle();
    CHECK(raw != nullptr && a.valid() && static_cast<bool>(a));
    ww::watcher b = std::move(a);
    CHECK(b.native_handle() == raw);
    CHECK(!a.valid() && !a && a.native_handle() == nullptr); // NOLINT(bugprone-use-after-move)
    caught c = expect_error([&] { (void)a.snapshot(); }, "snapshot of a moved-from watcher");
    CHECKF(c.status == WW_STATUS_NULL_ARG, c.status_name << ": " << c.what);
    CHECKF(contains(c.what, "ww_snapshot"), '"' << c.what << '"');
    c = expect_error([&] { (void)a.ready(0ms); }, "ready of a moved-from watcher");
    CHECKF(c.status == WW_STATUS_NULL_ARG && contains(c.what, "ww_ready"), c.status_name << ": " << c.what);
    c = expect_error([&] { a.wait_ready(); }, "wait_ready of a moved-from watcher");
    CHECK(c.status == WW_STATUS_NULL_ARG);
    CHECK(a.try_ready(0ms) == WW_STATUS_NULL_ARG);
    a.close();
    CHECK(b.ready(30s));
    check_has(b.snapshot(), g_docker);

    // Move-assignment into a live watcher closes that one first.
    ww::watcher d(docker_options(g_missing_endpoint));
    d = std::move(b);
    CHECK(d.native_handle() == raw && !b.valid()); // NOLINT(bugprone-use-after-move)
    CHECK(d.ready(0ms));
    // Back into the moved-from one, swap, self-move.
    a = std::move(d);
    CHECK(a.native_handle() == raw && !d.valid()); // NOLINT(bugprone-use-after-move)
    swap(a, d);
    CHECK(d.native_handle() == raw && !a.valid());
    ww::watcher &self = d;
    d = std::move(self);
    CHECK(d.native_handle() == raw);
    check_has(d.snapshot(), g_docker);
    ww::watcher e = std::move(a); // moving an empty one
    CHECK(!e.valid() && !a.valid());
    d.close();
    CHECK(!d.valid() && d.try_ready(0ms) == WW_STATUS_NULL_ARG);
}

// The default constructor watches Docker at DOCKER_HOST.
void test_default_watcher_uses_docker_host() {
    const char *old = std::getenv("DOCKER_HOST");
    std::optional<std::string> saved = old != nullptr ? std::optional<std::string>(old) : std::nullopt;
    setenv("DOCKER_HOST", g_endpoint.c_str(), 1);
    bool ok = false;
    try {
        ww::watcher w;
        CHECK(w.ready(30s));
        ww::snapshot s = w.snapshot();
        CHECKF(s.engine_endpoint() == g_endpoint, '"' << s.engine_endpoint() << '"');
        check_has(s, g_docker);
        ok = true;
    } catch (...) {
        if (saved) {
            setenv("DOCKER_HOST", saved->c_str(), 1);
        } else {
            unsetenv("DOCKER_HOST");
        }
        throw;
    }
    if (saved) {
        setenv("DOCKER_HOST", saved->c_str(), 1);
    } else {
        unsetenv("DOCKER_HOST");
    }
    CHECK(ok);
}

constexpr int snap_threads = 8;
constexpr int snap_rounds = 10000;

// 8 std::threads take snapshots of one ready watcher (and copy the main
// thread's) while the main thread holds one; `e` must still be in it.
void concurrent_snapshots(ww::watcher w, std::string_view type, const expect &e) {
    ww::snapshot held = w.snapshot();
    const std::uint64_t generation = held.generation();
    std::atomic<long> failures{0}, rounds{0};
    std::vector<std::thread> threads;
    double t0 = now_ms();
    for (int t = 0; t < snap_threads; t++) {
        threads.emplace_back([&, t] {
            try {
                for (int i = 0; i < snap_rounds; i++) {
                    ww::snapshot s = w.snapshot();
                    if (s.generation() != generation || s.engine_type() != type || s.projects().empty()) {
                        failures++;
                    }
                    if ((i + t) % 500 == 0) {
                        ww::snapshot copy = held; // shared count, concurrently
                        auto c = s.find(e.id);
                        if (!c || c->pid() != e.pid || c->name() != e.name || !copy.find(e.id) ||
                            w.try_ready(0ms) != WW_STATUS_OK) {
                            failures++;
                        }
                    }
                    rounds++;
                }
            } catch (const std::exception &ex) {
                failures++;
                std::cerr << "    thread " << t << ": " << ex.what() << '\n';
            }
        });
    }
    for (std::thread &t : threads) {
        t.join();
    }
    note(std::to_string(snap_threads) + " threads x " + std::to_string(snap_rounds) + " snapshots in " +
         std::to_string(static_cast<long>(now_ms() - t0)) + " ms");
    CHECKF(failures.load() == 0, failures.load() << " failures");
    CHECK(rounds.load() == static_cast<long>(snap_threads) * snap_rounds);
    check_has(held, e);
    w.close();
    check_has(held, e);
}

void test_concurrent_snapshots() {
    concurrent_snapshots(ready_watcher(docker_options(g_endpoint)), "docker.com", g_docker);
}

// Errors in 8 threads at once: each thread's error carries its own message.
void test_errors_per_thread() {
    std::atomic<long> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < snap_threads; t++) {
        threads.emplace_back([&failures, t] {
            for (int i = 0; i < 200; i++) {
                std::string endpoint = "ssh://host-" + std::to_string(t) + "-" + std::to_string(i);
                try {
                    ww::watcher w(docker_options(endpoint));
                    failures++;
                } catch (const ww::error &e) {
                    if (e.status() != WW_STATUS_INVALID_ARG || !contains(e.what(), endpoint) ||
                        ww::last_error_message() != e.what()) {
                        failures++;
                    }
                } catch (...) {
                    failures++;
                }
            }
        });
    }
    for (std::thread &t : threads) {
        t.join();
    }
    CHECKF(failures.load() == 0, failures.load() << " failures");
}

void test_containerd_real_engine() {
    needs_containerd();
    ww::watcher w = ready_watcher(ctrd_options());
    ww::snapshot s = w.snapshot();
    CHECK(s.generation() >= 1);
    check_invariants(s, "containerd.io", g_ctrd_url);
    check_has(s, g_ctrd);
    CHECKF(!s.find(g_ctrd_ignored_id), g_ctrd_ignored_id << " of an ignored namespace in the snapshot");
    CHECK(!s.engine_version().empty());
    // Every name is the nerdctl/name label (namespaced like the ID), else the ID.
    for (ww::container_view c : s.containers()) {
        std::string_view id = c.id();
        std::size_t slash = id.find('/');
        std::string want(id);
        if (auto label = c.find_label(nerdctl_name_label); label && !label->empty()) {
            want = slash == std::string_view::npos ? std::string(*label)
                                                   : std::string(id.substr(0, slash + 1)) + std::string(*label);
        }
        CHECKF(c.name() == want, "container " << id << ": name \"" << c.name() << "\", expected \"" << want << '"');
        CHECKF(id.substr(0, slash == std::string_view::npos ? 0 : slash) != "moby", id);
    }
}

// ignored_namespaces: an empty list watches all; a list is joined with ','.
void test_containerd_ignored_namespaces() {
    needs_containerd();
    {
        ww::watcher w = ready_watcher(ctrd_options(std::vector<std::string>{}));
        ww::snapshot s = w.snapshot();
        check_invariants(s, "containerd.io", g_ctrd_url);
        check_has(s, g_ctrd);
        auto m = s.find(g_ctrd_ignored_id);
        CHECKF(m.has_value(), g_ctrd_ignored_id << " not in the snapshot of all namespaces");
        CHECK(m->pid() > 0 && !m->paused() && m->name() == g_ctrd_ignored_id);
    }
    {
        ww::watcher w = ready_watcher(ctrd_options(std::vector<std::string>{"k8s.io", g_ctrd_ns}));
        ww::snapshot s = w.snapshot();
        check_invariants(s, "containerd.io", g_ctrd_url);
        CHECKF(!s.find(g_ctrd.id), g_ctrd.id << " of ignored namespace " << g_ctrd_ns << " in the snapshot");
        CHECKF(s.find(g_ctrd_ignored_id).has_value(), g_ctrd_ignored_id << " (moby not ignored) missing");
    }
}

void test_containerd_concurrent_snapshots() {
    needs_containerd();
    concurrent_snapshots(ready_watcher(ctrd_options()), "containerd.io", g_ctrd);
}

/* ------------------------------------------------------------------ */
/* Runner                                                              */
/* ------------------------------------------------------------------ */

enum class outcome { passed, failed, skipped };

outcome run_test(void (*test)(), const char *name) {
    double t0 = now_ms();
    std::cout << "test " << name << " ... " << std::flush;
    g_mid_line = true;
    outcome result = outcome::passed;
    try {
        test();
    } catch (const check_failed &) {
        result = outcome::failed;
    } catch (const skipped &) {
        result = outcome::skipped;
    } catch (const ww::error &e) {
        note(std::string("unexpected whalewatcher::error: ") + e.status_name().data() + ": " + e.what());
        result = outcome::failed;
    } catch (const std::exception &e) {
        note(std::string("unexpected exception: ") + e.what());
        result = outcome::failed;
    }
    std::cerr.flush();
    if (!g_mid_line) {
        std::cout << "test " << name << " ... "; // notes were printed in between
    }
    g_mid_line = false;
    std::cout << (result == outcome::passed ? "ok" : result == outcome::failed ? "FAILED" : "skipped") << " ("
              << static_cast<long>(now_ms() - t0) << " ms)" << std::endl;
    return result;
}

bool setup_sockets() {
    char dir[] = "/tmp/ww-cpp-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
        std::perror("mkdtemp");
        return false;
    }
    g_tmpdir = dir;
    g_dead_sock = g_tmpdir + "/dead.sock";
    g_missing_sock = g_tmpdir + "/missing.sock";
    g_dead_endpoint = "unix://" + g_dead_sock;
    g_missing_endpoint = "unix://" + g_missing_sock;
    // Bound but never listened, then closed: connecting is refused.
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", g_dead_sock.c_str());
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
        std::perror("dead socket");
        return false;
    }
    close(fd);
    return true;
}

void teardown_sockets() {
    unlink(g_dead_sock.c_str());
    rmdir(g_tmpdir.c_str());
}

bool parse_pid(const char *text, int &pid) {
    char *end = nullptr;
    errno = 0;
    long v = std::strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v <= 0 || v > INT32_MAX) {
        return false;
    }
    pid = static_cast<int>(v);
    return true;
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 6 && argc != 12) {
        std::cerr << "usage: " << argv[0]
                  << " DOCKER_ENDPOINT DOCKER_EXPECT_ID DOCKER_EXPECT_NAME DOCKER_EXPECT_PID PROJECT\n"
                     "       [CONTAINERD_ENDPOINT CTRD_EXPECT_ID CTRD_EXPECT_NAME CTRD_EXPECT_PID "
                     "CTRD_EXPECT_PROJECT CTRD_IGNORED_ID]\n";
        return 2;
    }
    g_endpoint = argv[1];
    g_docker.id = argv[2];
    g_docker.name = argv[3][0] == '/' ? argv[3] + 1 : argv[3];
    g_docker.project = argv[5];
    if (!parse_pid(argv[4], g_docker.pid) || g_docker.project.empty()) {
        std::cerr << argv[0] << ": bad DOCKER_EXPECT_PID \"" << argv[4] << "\" or empty PROJECT\n";
        return 2;
    }
    if (argc == 12) {
        g_have_ctrd = true;
        g_ctrd_endpoint = argv[6];
        g_ctrd_url = g_ctrd_endpoint.rfind("unix://", 0) == 0 ? g_ctrd_endpoint : "unix://" + g_ctrd_endpoint;
        g_ctrd.id = argv[7];
        g_ctrd.name = argv[8];
        g_ctrd.project = argv[10];
        g_ctrd_ignored_id = argv[11];
        if (!parse_pid(argv[9], g_ctrd.pid)) {
            std::cerr << argv[0] << ": bad CTRD_EXPECT_PID \"" << argv[9] << "\"\n";
            return 2;
        }
        std::size_t slash = g_ctrd.id.find('/');
        g_ctrd_ns = slash == std::string::npos ? "default" : g_ctrd.id.substr(0, slash);
        std::size_t name_slash = g_ctrd.name.find('/');
        g_ctrd.name_label = name_slash == std::string::npos ? g_ctrd.name : g_ctrd.name.substr(name_slash + 1);
    }
    if (!setup_sockets()) {
        return 2;
    }

    const std::pair<void (*)(), const char *> tests[] = {
        // First, before any other watcher exists in this process.
        {test_raii_threads_and_fds_return_to_baseline, "raii_threads_and_fds_return_to_baseline"},
        {test_version_and_abi, "version_and_abi"},
        {test_error_type, "error_type"},
        {test_bad_endpoint_invalid_arg, "bad_endpoint_invalid_arg"},
        {test_bad_options_invalid_arg, "bad_options_invalid_arg"},
        {test_unreachable_backoff_none_engine, "unreachable_backoff_none_engine"},
        {test_containerd_unreachable_backoff_none_engine, "containerd_unreachable_backoff_none_engine"},
        {test_unreachable_default_backoff_times_out, "unreachable_default_backoff_times_out"},
        {test_unreachable_max_elapsed_engine, "unreachable_max_elapsed_engine"},
        {test_real_engine_docker, "real_engine_docker"},
        {test_project_view_slices, "project_view_slices"},
        {test_snapshot_outlives_watcher, "snapshot_outlives_watcher"},
        {test_snapshot_copies_and_moves, "snapshot_copies_and_moves"},
        {test_moved_from_watcher_safe, "moved_from_watcher_safe"},
        {test_default_watcher_uses_docker_host, "default_watcher_uses_docker_host"},
        {test_concurrent_snapshots, "concurrent_snapshots"},
        {test_errors_per_thread, "errors_per_thread"},
        {test_containerd_real_engine, "containerd_real_engine"},
        {test_containerd_ignored_namespaces, "containerd_ignored_namespaces"},
        {test_containerd_concurrent_snapshots, "containerd_concurrent_snapshots"},
    };

    int passed = 0, failed = 0;
    for (const auto &[fn, name] : tests) {
        switch (run_test(fn, name)) {
        case outcome::passed:
            passed++;
            break;
        case outcome::failed:
            failed++;
            break;
        case outcome::skipped:
            break;
        }
    }
    teardown_sockets();
    std::cout << passed << " passed, " << failed << " failed" << std::endl;
    return failed == 0 ? 0 : 1;
}
