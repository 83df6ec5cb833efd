/*
 * The C++ wrapper include/whalewatcher.hpp, exercised against real engines.
 *
 * Usage: test_wrapper DOCKER_ENDPOINT DOCKER_EXPECT_ID DOCKER_EXPECT_NAME
 *                     DOCKER_EXPECT_PID PROJECT
 *                     [CONTAINERD_ENDPOINT CTRD_EXPECT_ID CTRD_EXPECT_NAME
 *                      CTRD_EXPECT_PID CTRD_EXPECT_PROJECT CTRD_IGNORED_ID]
 *
 * DOCKER_ENDPOINT is a running Docker engine at a unix socket (e.g. a
 * private dockerd from tests/engines/dockerd.sh) with the image
 * busybox:local and at least one alive container: full ID
 * DOCKER_EXPECT_ID, name DOCKER_EXPECT_NAME (as `docker inspect` reports
 * it; a leading '/' is dropped), initial process DOCKER_EXPECT_PID, label
 * com.docker.compose.project=PROJECT (not ""), image busybox:local. The
 * program leaves that container alone; to see changes happen, it runs,
 * pauses, resumes and removes containers of its own (busybox:local, named
 * ww-cpp-PID-N, label whalewatcher.test=consumers) with the docker CLI,
 * which must be in PATH.
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
 * The containerd tests read what they compare with through ctr, which must
 * be in PATH. Without these arguments, the tests that need a containerd
 * are skipped.
 *
 * The environment adds a podman and a CRI runtime (each group all or none):
 * - WW_TEST_PODMAN_ENDPOINT, a podman API service (unix://PATH) with one
 *   alive container WW_TEST_PODMAN_ID (full ID), initial process
 *   WW_TEST_PODMAN_PID, label com.docker.compose.project=PROJECT; the
 *   podman CLI (podman --url) must be in PATH;
 * - WW_TEST_CRI_ENDPOINT, a containerd with its CRI plugin (unix://PATH)
 *   running one pod WW_TEST_CRI_POD ("NAME/NAMESPACE/UID"): its sandbox
 *   WW_TEST_CRI_SANDBOX_ID with initial process WW_TEST_CRI_SANDBOX_PID,
 *   and its container "app", WW_TEST_CRI_CONTAINER_ID with initial process
 *   WW_TEST_CRI_CONTAINER_PID.
 * Without them, the tests that need them are skipped. The tests that find
 * the engines through discovery or watch them all in one watcher
 * (engine_kind::automatic) need all of them, and look at the whole host:
 * they find these engines among whatever else runs.
 *
 * Other programs may change the engines meanwhile: the checks look at
 * this program's containers and tolerate changes of others.
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
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace ww = whalewatcher;
using namespace std::chrono_literals;
using wall_clock = std::chrono::system_clock;

/* ------------------------------------------------------------------ */
/* What the wrapper hands to ww_new                                    */
/* ------------------------------------------------------------------ */

namespace {

// The ww_options of the latest ww_new call of this program, with copies of
// its strings (NULL: nullopt).
struct new_call {
    ww_options raw{};
    std::optional<std::string> endpoint, tls_ca, tls_cert, tls_key, ignored_namespaces;
};

std::mutex g_new_lock;
std::optional<new_call> g_last_new;

std::optional<std::string> copied(const char *s) {
    return s != nullptr ? std::optional<std::string>(s) : std::nullopt;
}

} // namespace

// This program's ww_new comes first in symbol lookup, also for the calls in
// whalewatcher.hpp: it notes the options, then calls the library's (the
// next ww_new).
extern "C" ww_status ww_new(const ww_options *opts, ww_watcher **out) {
    using new_fn = ww_status (*)(const ww_options *, ww_watcher **);
    static const new_fn library = [] {
        void *symbol = dlsym(RTLD_NEXT, "ww_new");
        new_fn f = nullptr;
        std::memcpy(&f, &symbol, sizeof f);
        if (f == nullptr) {
            std::fprintf(stderr, "test_wrapper: the library's ww_new not found: %s\n", dlerror());
            std::abort();
        }
        return f;
    }();
    if (opts != nullptr && opts->struct_size == sizeof(ww_options)) {
        new_call c;
        c.raw = *opts;
        c.endpoint = copied(opts->endpoint);
        c.tls_ca = copied(opts->tls_ca);
        c.tls_cert = copied(opts->tls_cert);
        c.tls_key = copied(opts->tls_key);
        c.ignored_namespaces = copied(opts->ignored_namespaces);
        std::lock_guard<std::mutex> one(g_new_lock);
        g_last_new = std::move(c);
    }
    return library(opts, out);
}

namespace {

/* ------------------------------------------------------------------ */
/* Command line and scratch state                                      */
/* ------------------------------------------------------------------ */

constexpr std::string_view compose_label = "com.docker.compose.project";
constexpr std::string_view nerdctl_name_label = "nerdctl/name";
constexpr std::string_view docker_image = "busybox:local";

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
std::string g_ctrd_socket;   // the path
expect g_ctrd;
std::string g_ctrd_ns;      // namespace of g_ctrd
std::string g_ctrd_bare_id; // g_ctrd's ID within its namespace
std::string g_ctrd_ignored_id;

bool g_have_podman = false;
std::string g_podman_endpoint;
expect g_podman; // its name is podman's

bool g_have_cri = false;
std::string g_cri_endpoint, g_cri_socket;
std::string g_pod_name, g_pod_namespace, g_pod_uid;
expect g_cri_sandbox, g_cri_container;

// A socket nobody listens on (bound, closed) and a path that does not exist.
std::string g_tmpdir, g_dead_sock, g_dead_endpoint, g_missing_sock, g_missing_endpoint;

/* ------------------------------------------------------------------ */
/* Checks                                                              */
/* ------------------------------------------------------------------ */

struct check_failed {};
struct skipped {};

bool g_mid_line = false;
std::mutex g_note_lock;

void note_start() {
    if (g_mid_line) {
        std::cout.flush();
        std::cerr << '\n';
        g_mid_line = false;
    }
}

void note(const std::string &text) {
    std::lock_guard<std::mutex> one(g_note_lock);
    note_start();
    std::cerr << "    " << text << '\n';
}

[[noreturn]] void fail_at(const char *file, int line, const char *cond, const std::string &why) {
    {
        std::lock_guard<std::mutex> one(g_note_lock);
        note_start();
        std::cerr << "    " << file << ':' << line << ": check failed: " << cond;
        if (!why.empty()) {
            std::cerr << ": " << why;
        }
        std::cerr << '\n';
    }
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

void needs_podman() {
    if (!g_have_podman) {
        throw skipped{};
    }
}

void needs_cri() {
    if (!g_have_cri) {
        throw skipped{};
    }
}

// Every engine: Docker, containerd, podman and CRI.
void needs_all_engines() {
    needs_containerd();
    needs_podman();
    needs_cri();
}

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

int count_dir(const char *path) {
    std::error_code ec;
    int n = 0;
    for (auto it = std::filesystem::directory_iterator(path, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
        n++;
    }
    return ec ? -1 : n;
}

std::string trim(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
        s.pop_back();
    }
    std::size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) {
        i++;
    }
    return s.substr(i);
}

std::vector<std::string> words(std::string_view line) {
    std::vector<std::string> out;
    std::istringstream in{std::string(line)};
    std::string w;
    while (in >> w) {
        out.push_back(w);
    }
    return out;
}

// Wall-clock times as text, for messages.
std::string show(std::optional<wall_clock::time_point> t) {
    if (!t) {
        return "(none)";
    }
    return std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(t->time_since_epoch()).count()) +
           " ns";
}

// "2026-11-29T20:33:52.123456789Z" as Unix nanoseconds.
std::optional<wall_clock::time_point> parse_rfc3339_utc(std::string_view t) {
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    std::string text(t);
    if (text.size() < 20 ||
        std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &year, &month, &day, &hour, &minute, &second) != 6) {
        return std::nullopt;
    }
    std::size_t i = 19;
    std::int64_t frac = 0;
    int digits = 0;
    if (text[i] == '.') {
        for (i++; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); i++) {
            if (digits < 9) {
                frac = frac * 10 + (text[i] - '0');
                digits++;
            }
        }
    }
    for (; digits < 9; digits++) {
        frac *= 10;
    }
    if (i + 1 != text.size() || text[i] != 'Z') {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    std::int64_t secs = timegm(&tm);
    return wall_clock::time_point(std::chrono::duration_cast<wall_clock::duration>(
        std::chrono::nanoseconds(secs * 1000000000 + frac)));
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

/* ------------------------------------------------------------------ */
/* The engines' own tools                                              */
/* ------------------------------------------------------------------ */

struct command_result {
    int status = -1; // the exit status, -1 if it did not exit normally
    std::string out, err;
};

// Runs `argv` (found in PATH) and collects what it prints.
command_result run_command(const std::vector<std::string> &argv) {
    command_result r;
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        r.err = std::strerror(errno);
        return r;
    }
    if (pipe2(err, O_CLOEXEC) != 0) {
        r.err = std::strerror(errno);
        close(out[0]);
        close(out[1]);
        return r;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    std::vector<char *> args;
    for (const std::string &a : argv) {
        args.push_back(const_cast<char *>(a.c_str()));
    }
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(err[1]);
    if (rc != 0) {
        close(out[0]);
        close(err[0]);
        r.err = argv[0] + ": " + std::strerror(rc);
        return r;
    }
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    std::string *into[2] = {&r.out, &r.err};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd >= 0 && fds[i].revents != 0) {
                char buf[4096];
                ssize_t n = read(fds[i].fd, buf, sizeof buf);
                if (n > 0) {
                    into[i]->append(buf, static_cast<std::size_t>(n));
                } else if (n == 0 || errno != EINTR) {
                    close(fds[i].fd);
                    fds[i].fd = -1;
                    open_fds--;
                }
            }
        }
    }
    for (pollfd &p : fds) {
        if (p.fd >= 0) {
            close(p.fd);
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

// Runs the tool; its trimmed output, failing the test unless it succeeds.
std::string tool(std::vector<std::string> argv) {
    command_result r = run_command(argv);
    if (r.status != 0) {
        std::string line;
        for (const std::string &a : argv) {
            line += a + ' ';
        }
        note(line + "failed (" + std::to_string(r.status) + "): " + trim(r.err));
        throw check_failed{};
    }
    return trim(r.out);
}

std::string docker(std::vector<std::string> args) {
    args.insert(args.begin(), {"docker", "-H", g_endpoint});
    return tool(std::move(args));
}

std::string ctr(const std::string &ns, std::vector<std::string> args) {
    args.insert(args.begin(), {"ctr", "-a", g_ctrd_socket, "-n", ns});
    return tool(std::move(args));
}

std::string podman(std::vector<std::string> args) {
    args.insert(args.begin(), {"podman", "--url", g_podman_endpoint});
    return tool(std::move(args));
}

// A container of this program's own in the Docker engine, removed (docker
// rm -f) when it goes.
class scratch {
public:
    explicit scratch(const std::vector<std::string> &extra_args = {}) {
        if (!start(extra_args, true)) {
            throw check_failed{};
        }
    }
    // Runs it with `args` and `extra_args` if the engine can, else with
    // `args` only; then with_extra_args() tells which.
    scratch(const std::vector<std::string> &args, const std::vector<std::string> &extra_args, const char *why_not) {
        std::vector<std::string> all = args;
        all.insert(all.end(), extra_args.begin(), extra_args.end());
        if (start(all, false)) {
            with_extra_ = true;
            return;
        }
        note(std::string(why_not) + ": " + last_error_.substr(0, last_error_.find('\n')));
        if (!start(args, true)) {
            throw check_failed{};
        }
    }
    ~scratch() {
        if (!name_.empty() && !removed_) {
            (void)run_command({"docker", "-H", g_endpoint, "rm", "-f", name_});
        }
    }
    scratch(const scratch &) = delete;
    scratch &operator=(const scratch &) = delete;

    // docker rm -f, now.
    void remove() {
        docker({"rm", "-f", id_});
        removed_ = true;
    }

    [[nodiscard]] const std::string &id() const { return id_; }
    [[nodiscard]] const std::string &name() const { return name_; }
    [[nodiscard]] int pid() const { return pid_; }
    [[nodiscard]] bool with_extra_args() const { return with_extra_; }

private:
    // `docker run`; on failure removes what it may have left (a created
    // container that did not start).
    bool start(const std::vector<std::string> &extra_args, bool must) {
        static std::atomic<int> counter{0};
        std::string name = "ww-cpp-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
        std::vector<std::string> args = {"docker", "-H",     g_endpoint, "run",   "-d",
                                         "--network", "none", "--name",  name, "--label",
                                         "whalewatcher.test=consumers"};
        args.insert(args.end(), extra_args.begin(), extra_args.end());
        args.insert(args.end(), {std::string(docker_image), "/bin/sleep", "100000"});
        command_result r = run_command(args);
        if (r.status != 0) {
            last_error_ = trim(r.err);
            (void)run_command({"docker", "-H", g_endpoint, "rm", "-f", name});
            if (must) {
                note("docker run failed: " + last_error_);
            }
            return false;
        }
        name_ = name;
        id_ = trim(r.out);
        pid_ = std::stoi(docker({"inspect", "-f", "{{.State.Pid}}", id_}));
        return true;
    }

    std::string id_, name_, last_error_;
    int pid_ = 0;
    bool with_extra_ = false, removed_ = false;
};

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

// The first snapshot after `seen` for which `cond` holds, waiting for each
// new generation with wait() (never polling); fails after 20 s.
template <class Cond>
ww::snapshot snapshot_when(const ww::watcher &w, ww::snapshot seen, Cond cond, const char *what) {
    const double until = now_ms() + 20000.0;
    ww::snapshot s = seen.valid() ? seen : w.snapshot();
    while (!cond(s)) {
        const double left = until - now_ms();
        CHECKF(left > 0 && w.wait(s, std::chrono::milliseconds(static_cast<long>(left))),
               "no snapshot " << what << " within 20 s (last: generation " << s.generation() << ')');
        s = w.snapshot();
    }
    return s;
}

// Whether `fd` polls readable within `timeout`.
bool readable(int fd, std::chrono::milliseconds timeout) {
    pollfd p{fd, POLLIN, 0};
    int n;
    while ((n = poll(&p, 1, static_cast<int>(timeout.count()))) < 0 && errno == EINTR) {
    }
    return n == 1 && (p.revents & POLLIN) != 0;
}

// Returns once thread `tid` of this process sleeps (state S): a thread that
// has nothing else to sleep in than the blocking call it made is in it.
void wait_until_asleep(long tid) {
    const std::string stat = "/proc/self/task/" + std::to_string(tid) + "/stat";
    const double until = now_ms() + 10000.0;
    for (;;) {
        std::ifstream f(stat);
        std::string line;
        std::getline(f, line);
        const std::size_t paren = line.rfind(')');
        if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'S') {
            break;
        }
        CHECKF(now_ms() < until, "thread " << tid << " not asleep within 10 s: " << line);
        std::this_thread::sleep_for(1ms);
    }
    std::this_thread::sleep_for(20ms);
}

// The command name of process `pid` (/proc/PID/comm).
std::string comm_of(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
    std::string s;
    std::getline(f, s);
    return s;
}

/* ------------------------------------------------------------------ */
/* Snapshot checks                                                     */
/* ------------------------------------------------------------------ */

// The kind of engine an engine type names ("docker.com", ...).
std::optional<ww::engine_kind> kind_of_type(std::string_view type) {
    if (type == "docker.com") {
        return ww::engine_kind::docker;
    }
    if (type == "containerd.io") {
        return ww::engine_kind::containerd;
    }
    if (type == "podman.io") {
        return ww::engine_kind::podman;
    }
    if (type == "k8s.io/cri-api") {
        return ww::engine_kind::cri;
    }
    return std::nullopt;
}

// Everything every snapshot must satisfy, of one engine or of many (an
// engine_kind::automatic watcher's), checked through the wrapper's views
// (and their raw C structs).
void check_portfolio(const ww::snapshot &s) {
    CHECK(s.valid() && static_cast<bool>(s) && s.get() != nullptr);
    const ww_portfolio *raw = s.get();
    ww::engine_range es = s.engines();
    CHECK(es.size() == raw->engines_len && es.data() == (raw->engines_len != 0 ? raw->engines : nullptr));
    std::vector<std::string_view> endpoints;
    for (ww::engine_view e : es) {
        CHECKF(kind_of_type(e.type()) == e.kind(),
               "engine type \"" << e.type() << "\" of kind " << ww::name(e.kind()) << " at " << e.endpoint());
        CHECK(e.pid() >= 0);
        CHECK(e.state() == ww::engine_state::connecting || e.state() == ww::engine_state::synced ||
              e.state() == ww::engine_state::resyncing || e.state() == ww::engine_state::gave_up);
        CHECK((e.state() == ww::engine_state::connecting || e.state() == ww::engine_state::gave_up) ||
              e.synced_at().has_value());
        CHECKF(std::find(endpoints.begin(), endpoints.end(), e.endpoint()) == endpoints.end(),
               "engine " << e.endpoint() << " twice");
        endpoints.push_back(e.endpoint());
    }

    ww::container_range cs = s.containers();
    ww::project_range ps = s.projects();
    CHECK(cs.size() == raw->containers_len);
    CHECK(ps.size() == raw->projects_len);
    CHECK(cs.data() == raw->containers);
    CHECK(ps.size() >= es.size());
    if (es.empty()) {
        CHECK(ps.empty() && cs.empty() && !s.project(""));
    } else {
        CHECK(ps[0].name().empty() && ps[0].unnamed() && ps[0].engine_index() == 0);
        CHECK(s.project("").has_value() && &s.project("")->raw() == &ps[0].raw());
    }

    std::size_t n = 0;
    std::optional<ww::container_view> prev;
    for (ww::container_view c : cs) {
        CHECK(&c.raw() == &raw->containers[n] && &c.portfolio() == raw);
        CHECKF(!c.id().empty(), "container " << n << " has an empty ID");
        CHECKF(c.pid() > 0, "container " << c.id() << " has PID " << c.pid());
        CHECK(c.engine_index() < es.size() && &c.engine().raw() == &es[c.engine_index()].raw());
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
        const ww::engine_kind kind = c.engine().kind();
        if (kind != ww::engine_kind::cri) { // CRI: pods are not compose projects
            CHECKF(c.project() == c.find_label(compose_label).value_or(""),
                   "container " << c.id() << ": project \"" << c.project() << '"');
        }
        if (kind != ww::engine_kind::podman) { // podman: its own pods
            CHECKF(c.pod_name() == c.find_label("io.kubernetes.pod.name").value_or(""),
                   "container " << c.id() << ": pod \"" << c.pod_name() << '"');
        }
        CHECK(!c.pod_name().empty() || (c.pod_namespace().empty() && c.pod_uid().empty() && !c.pod_sandbox()));
        // The lookups find it, or (an ID or PID several times only across
        // engines) the first of that ID or PID, of the lowest engine index.
        const auto first_with = [&](auto same) -> const ww_container * {
            for (ww::container_view x : cs) {
                if (same(x)) {
                    return &x.raw();
                }
            }
            return nullptr;
        };
        auto by_id = s.find(c.id());
        CHECKF(by_id && &by_id->raw() == first_with([&](ww::container_view x) { return x.id() == c.id(); }),
               "find(\"" << c.id() << "\")");
        auto by_pid = s.find_pid(c.pid());
        CHECKF(by_pid && &by_pid->raw() == first_with([&](ww::container_view x) { return x.pid() == c.pid(); }),
               "find_pid(" << c.pid() << ')');
        if (prev) {
            CHECKF(std::make_tuple(prev->engine_index(), prev->project(), prev->name(), prev->id()) <
                       std::make_tuple(c.engine_index(), c.project(), c.name(), c.id()),
                   "containers not sorted at " << n << ": (" << prev->project() << ", " << prev->name() << ") before ("
                                               << c.project() << ", " << c.name() << ')');
        }
        prev = c;
        n++;
    }
    CHECK(n == cs.size());
    CHECK(cs.empty() == (n == 0));

    // Projects: per engine, in engine order, "" first, then named ones
    // sorted, each a contiguous slice of the containers, together covering
    // all of them in order.
    std::size_t at = 0, i = 0, engines_seen = 0;
    for (ww::project_view p : ps) {
        CHECK(p.engine_index() < es.size() && &p.engine().raw() == &es[p.engine_index()].raw());
        if (i > 0 && p.engine_index() == ps[i - 1].engine_index()) {
            CHECKF(!p.unnamed(), "projects[" << i << "] is a second unnamed one");
            CHECKF(!p.empty(), "named project \"" << p.name() << "\" without containers");
            CHECKF(ps[i - 1].name() < p.name(), "projects not sorted: \"" << ps[i - 1].name() << "\" before \""
                                                                           << p.name() << '"');
        } else {
            CHECKF(p.unnamed(), "projects[" << i << "] starts an engine but is named \"" << p.name() << '"');
            CHECKF(p.engine_index() == engines_seen, "projects[" << i << "] starts engine " << p.engine_index()
                                                                 << ", expected " << engines_seen);
            engines_seen++;
        }
        if (!p.empty()) {
            CHECKF(p.containers().data() == cs.data() + at,
                   "project \"" << p.name() << "\" is not the slice at " << at << " of the containers");
        }
        for (ww::container_view c : p.containers()) {
            CHECKF(c.project() == p.name(), "container " << c.name() << " (project \"" << c.project()
                                                          << "\") in project \"" << p.name() << '"');
            CHECK(c.engine_index() == p.engine_index());
        }
        CHECK(p.size() == p.containers().size());
        at += p.size();
        i++;
    }
    CHECKF(engines_seen == es.size(), engines_seen << " engines with projects of " << es.size());
    CHECKF(at == cs.size(), "projects hold " << at << " of " << cs.size() << " containers");
}

// check_portfolio(), for a watcher of one engine of `type` at `endpoint`.
void check_invariants(const ww::snapshot &s, std::string_view type, std::string_view endpoint) {
    check_portfolio(s);
    ww::engine_range es = s.engines();
    CHECK(es.size() == 1);
    ww::engine_view e = es[0];
    CHECKF(e.type() == type, "engine type \"" << e.type() << "\", expected \"" << type << '"');
    CHECKF(e.endpoint() == endpoint, "engine endpoint \"" << e.endpoint() << "\", expected \"" << endpoint << '"');
}

std::size_t sum(std::string_view v) {
    std::size_t x = 0;
    for (char ch : v) {
        x += static_cast<unsigned char>(ch);
    }
    return x;
}

std::size_t touch(ww::container_view c) {
    std::size_t n = sum(c.id()) + sum(c.name()) + sum(c.project()) + sum(c.image()) + sum(c.image_id()) +
                    sum(c.pod_name()) + sum(c.pod_namespace()) + sum(c.pod_uid()) +
                    static_cast<std::size_t>(c.pid()) + c.paused() + c.privileged() + c.pod_sandbox() +
                    c.engine_index() + sum(c.engine().endpoint());
    if (auto t = c.started_at()) {
        n += static_cast<std::size_t>(t->time_since_epoch().count());
    }
    for (ww::label l : c.labels()) {
        n += sum(l.key()) + sum(l.value());
    }
    return n;
}

// Reads every byte of every string (so ASan sees any read of freed memory).
std::size_t touch_all(const ww::snapshot &s) {
    std::size_t n = 0;
    for (ww::engine_view e : s.engines()) {
        n += sum(e.type()) + sum(e.id()) + sum(e.version()) + sum(e.endpoint()) + sum(e.last_error()) +
             static_cast<std::size_t>(e.pid()) + static_cast<std::size_t>(e.state()) + e.repairs();
    }
    for (ww::container_view c : s.containers()) {
        n += touch(c);
    }
    for (ww::project_view p : s.projects()) {
        n += sum(p.name()) + p.size() + p.engine_index();
    }
    return n;
}

std::size_t touch_all(const ww::changes &d) {
    std::size_t n = 0;
    for (ww::change ch : d) {
        n += static_cast<std::size_t>(ch.kind());
        if (auto b = ch.before()) {
            n += touch(*b);
        }
        if (auto a = ch.after()) {
            n += touch(*a);
        }
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
    CHECK(!c->image().empty() && starts_with(c->image_id(), "sha256:"));
    CHECK(c->engine_index() == 0 && &c->engine().raw() == &s.engines()[0].raw());
    CHECK(!c->labels().empty());
    CHECKF(c->find_label(compose_label) == std::optional<std::string_view>(e.project),
           "label " << compose_label << "=\"" << c->find_label(compose_label).value_or("(none)") << '"');
    if (e.name_label) {
        CHECKF(c->find_label(nerdctl_name_label) == std::optional<std::string_view>(*e.name_label),
               "label " << nerdctl_name_label << "=\"" << c->find_label(nerdctl_name_label).value_or("(none)")
                        << "\", expected \"" << *e.name_label << '"');
    }
    CHECK(!c->find_label("no.such.label/at-all").has_value());
    // The same container (same C struct) by PID, by name and in its project.
    auto by_pid = s.find_pid(e.pid);
    CHECKF(by_pid && &by_pid->raw() == &c->raw(), "find_pid(" << e.pid << ')');
    // Names need not be unique (containerd's come from a label): the first
    // of that name in the snapshot's order.
    auto by_name = s.find_by_name(e.name);
    std::optional<ww::container_view> first_named;
    bool among_named = false;
    for (ww::container_view x : s.containers()) {
        if (x.name() == e.name) {
            if (!first_named) {
                first_named = x;
            }
            among_named = among_named || &x.raw() == &c->raw();
        }
    }
    CHECK(among_named && by_name && &by_name->raw() == &first_named->raw());
    auto p = s.project(e.project);
    CHECKF(p.has_value(), "no project \"" << e.project << '"');
    CHECK(p->name() == e.project && p->engine_index() == 0);
    bool in_slice = false;
    for (ww::container_view pc : p->containers()) {
        in_slice = in_slice || &pc.raw() == &c->raw();
    }
    CHECKF(in_slice, "container not in the slice of project \"" << e.project << '"');
}

// The snapshot of a watcher that never reached its engine: no containers,
// the engine connecting (or given up), never synchronised.
void check_unsynced(const ww::snapshot &s, std::string_view type, std::string_view endpoint) {
    check_invariants(s, type, endpoint);
    CHECK(s.containers().empty() && s.containers().data() == nullptr && s.get()->containers == nullptr);
    CHECK(s.containers().begin() == s.containers().end());
    CHECK(s.projects().size() == 1 && s.projects()[0].unnamed() && s.projects()[0].empty());
    CHECK(s.projects()[0].containers().begin() == s.projects()[0].containers().end());
    ww::engine_view e = s.engines()[0];
    CHECKF(e.state() == ww::engine_state::connecting || e.state() == ww::engine_state::gave_up, ww::name(e.state()));
    CHECK(e.id().empty() && e.version().empty() && e.pid() == 0);
    CHECKF(!e.synced_at().has_value(), show(e.synced_at()));
    CHECK(e.repairs() == 0);
    CHECK(!s.find(g_docker.id).has_value() && !s.find_pid(g_docker.pid).has_value());
    CHECK(ww::diff(s).empty());
}

// An empty (default-constructed or moved-from) snapshot.
void check_empty(const ww::snapshot &s) {
    CHECK(!s.valid() && !s && s.get() == nullptr);
    CHECK(s.generation() == 0);
    CHECK(s.containers().empty() && s.containers().size() == 0 && s.containers().begin() == s.containers().end());
    CHECK(s.projects().empty() && s.projects().begin() == s.projects().end());
    CHECK(s.engines().empty() && s.engines().begin() == s.engines().end() && s.engines().data() == nullptr);
    CHECK(!s.find(g_docker.id) && !s.find_by_name(g_docker.name) && !s.project("") && !s.project(g_docker.project));
    CHECK(!s.find_pid(g_docker.pid) && !s.find_pid(1));
    std::size_t n = 0;
    for (ww::container_view c : s.containers()) {
        n += c.id().size() + 1;
    }
    CHECK(n == 0);
}

// The one change of container `id` in `d` (others' changes are ignored).
ww::change only_change_of(const ww::changes &d, std::string_view id) {
    std::optional<ww::change> found;
    int n = 0;
    for (ww::change ch : d) {
        if (ch.container().id() == id) {
            found = ch;
            n++;
        }
    }
    CHECKF(n == 1, n << " changes of " << id << " among " << d.size());
    return *found;
}

/* ------------------------------------------------------------------ */
/* Tests: lifetime, versions, types, errors                            */
/* ------------------------------------------------------------------ */

// Runs first: RAII ends a watcher's whole life (thread, engine connection
// and event descriptor) and frees its snapshots and changes, for the first
// watcher of the process too, and for ones that outlive their watcher.
void test_raii_threads_and_fds_return_to_baseline() {
    int base_tasks = count_dir("/proc/self/task"), base_fds = count_dir("/proc/self/fd");
    CHECK(base_tasks >= 1 && base_fds >= 1);
    for (int round = 0; round < 3; round++) {
        int during_tasks = -1, during_fds = -1;
        {
            ww::snapshot kept;
            ww::changes kept_changes;
            {
                ww::watcher w = ready_watcher(docker_options(g_endpoint));
                ww::snapshot s = w.snapshot();
                CHECK(s.generation() >= 1);
                int fd = w.event_fd();
                CHECK(fd >= 0 && w.event_fd() == fd);
                during_tasks = count_dir("/proc/self/task");
                during_fds = count_dir("/proc/self/fd");
                CHECKF(during_tasks > base_tasks, "the watcher runs no thread of its own? " << during_tasks);
                if (round == 1) {
                    kept = s; // outlives the watcher
                    kept_changes = ww::diff(s);
                }
            }
            if (round == 1) {
                check_has(kept, g_docker);
                CHECK(kept_changes.size() == kept.containers().size() && touch_all(kept_changes) > 0);
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
    CHECK(ww::abi_version() == 2 && ww::abi_version() == WW_ABI_VERSION && ww::header_abi_version == WW_ABI_VERSION);
    ww::check_abi(); // throws on a mismatch
    CHECK(ww::status_name(WW_STATUS_ENGINE) == ww_status_str(WW_STATUS_ENGINE));
    CHECK(ww::status_name(99) == "unknown status");
    for (ww_status a = 0; a <= WW_STATUS_FORKED; a++) {
        CHECK(!ww::status_name(a).empty() && ww::status_name(a) != "unknown status");
    }
    CHECK(WW_STATUS_FORKED == 9 && contains(ww::status_name(WW_STATUS_FORKED), "fork"));
    CHECK(ww::error(WW_STATUS_FORKED, "x").status_name() == ww_status_str(WW_STATUS_FORKED));
}

void test_enums_match_the_c_api() {
    static_assert(static_cast<ww_engine>(ww::engine_kind::docker) == WW_ENGINE_DOCKER);
    static_assert(static_cast<ww_engine>(ww::engine_kind::containerd) == WW_ENGINE_CONTAINERD);
    static_assert(static_cast<ww_engine>(ww::engine_kind::cri) == WW_ENGINE_CRI);
    static_assert(static_cast<ww_engine>(ww::engine_kind::podman) == WW_ENGINE_PODMAN);
    static_assert(static_cast<ww_engine>(ww::engine_kind::automatic) == WW_ENGINE_AUTO);
    static_assert(static_cast<ww_engine_state>(ww::engine_state::connecting) == WW_ENGINE_STATE_CONNECTING);
    static_assert(static_cast<ww_engine_state>(ww::engine_state::synced) == WW_ENGINE_STATE_SYNCED);
    static_assert(static_cast<ww_engine_state>(ww::engine_state::resyncing) == WW_ENGINE_STATE_RESYNCING);
    static_assert(static_cast<ww_engine_state>(ww::engine_state::gave_up) == WW_ENGINE_STATE_GAVE_UP);
    static_assert(static_cast<ww_change_kind>(ww::change_kind::started) == WW_CHANGE_STARTED);
    static_assert(static_cast<ww_change_kind>(ww::change_kind::exited) == WW_CHANGE_EXITED);
    static_assert(static_cast<ww_change_kind>(ww::change_kind::paused) == WW_CHANGE_PAUSED);
    static_assert(static_cast<ww_change_kind>(ww::change_kind::unpaused) == WW_CHANGE_UNPAUSED);
    static_assert(static_cast<ww_change_kind>(ww::change_kind::updated) == WW_CHANGE_UPDATED);
    static_assert(static_cast<ww_backoff>(ww::backoff_policy::none) == WW_BACKOFF_NONE);
    static_assert(static_cast<ww_backoff>(ww::backoff_policy::constant) == WW_BACKOFF_CONSTANT);
    static_assert(static_cast<ww_backoff>(ww::backoff_policy::exponential) == WW_BACKOFF_EXPONENTIAL);
    static_assert(ww::name(ww::engine_state::gave_up) == "gave up"); // usable at compile time
    CHECK(ww::name(ww::engine_kind::docker) == "docker" && ww::name(ww::engine_kind::containerd) == "containerd");
    CHECK(ww::name(ww::engine_kind::cri) == "cri" && ww::name(ww::engine_kind::podman) == "podman");
    CHECK(ww::name(ww::engine_kind::automatic) == "auto");
    CHECK(ww::name(ww::engine_state::connecting) == "connecting" && ww::name(ww::engine_state::synced) == "synced");
    CHECK(ww::name(ww::engine_state::resyncing) == "resyncing");
    CHECK(ww::name(ww::change_kind::started) == "started" && ww::name(ww::change_kind::exited) == "exited");
    CHECK(ww::name(ww::change_kind::paused) == "paused" && ww::name(ww::change_kind::unpaused) == "unpaused");
    CHECK(ww::name(ww::change_kind::updated) == "updated");
    CHECK(ww::name(static_cast<ww::change_kind>(77)) == "unknown");
    CHECK(ww::name(static_cast<ww::engine_state>(77)) == "unknown");
    CHECK(ww::name(static_cast<ww::engine_kind>(77)) == "unknown");
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
    // Types: move-only watcher, copyable snapshot and changes, nothrow moves.
    static_assert(!std::is_copy_constructible_v<ww::watcher> && !std::is_copy_assignable_v<ww::watcher>);
    static_assert(std::is_nothrow_move_constructible_v<ww::watcher> && std::is_nothrow_move_assignable_v<ww::watcher>);
    static_assert(std::is_nothrow_destructible_v<ww::watcher>);
    static_assert(std::is_copy_constructible_v<ww::snapshot> && std::is_nothrow_move_constructible_v<ww::snapshot>);
    static_assert(std::is_nothrow_default_constructible_v<ww::snapshot>);
    static_assert(std::is_copy_constructible_v<ww::changes> && std::is_nothrow_move_constructible_v<ww::changes>);
    static_assert(std::is_nothrow_default_constructible_v<ww::changes>);
    static_assert(std::is_same_v<std::iterator_traits<ww::container_range::iterator>::iterator_category,
                                 std::random_access_iterator_tag>);
    static_assert(std::is_same_v<std::iterator_traits<ww::changes::iterator>::iterator_category,
                                 std::random_access_iterator_tag>);
    static_assert(std::is_same_v<std::iterator_traits<ww::engine_range::iterator>::value_type, ww::engine_view>);
    // Views are a pointer or two: cheap to pass by value.
    static_assert(sizeof(ww::container_view) == 2 * sizeof(void *) && sizeof(ww::engine_view) == sizeof(void *));
    static_assert(std::is_trivially_copyable_v<ww::container_view> && std::is_trivially_copyable_v<ww::change>);
    // Timestamps are std::chrono wall-clock times.
    static_assert(std::is_same_v<decltype(std::declval<ww::container_view>().started_at()),
                                 std::optional<wall_clock::time_point>>);
    static_assert(std::is_same_v<decltype(std::declval<ww::engine_view>().synced_at()),
                                 std::optional<wall_clock::time_point>>);
    static_assert(std::is_same_v<decltype(std::declval<ww::watcher &>().wait(std::uint64_t{0}, 1s)), bool>);
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
    add("endpoint for every engine", [](ww::options &o) { o.engine = ww::engine_kind::automatic; }, "endpoint");
    add("negative cri_poll", [](ww::options &o) { o.cri_poll = -1ms; }, "cri_poll");
    add("too long cri_poll", [](ww::options &o) { o.cri_poll = std::chrono::hours(24 * 50); }, "cri_poll");
    add("negative discover_interval", [](ww::options &o) { o.discover_interval = -5s; }, "discover_interval");
    add("too long discover_interval",
        [](ww::options &o) { o.discover_interval = ww::options::discover_only_at_start - 1ms; }, "discover_interval");
    add("unknown backoff", [](ww::options &o) { o.backoff = static_cast<ww::backoff_policy>(9); }, nullptr);
    add("negative audit_interval", [](ww::options &o) { o.audit_interval = -1ms; }, "audit_interval");
    add("too long audit_interval", [](ww::options &o) { o.audit_interval = ww::options::audits_off - 1ms; },
        "audit_interval");
    add("NUL in tls_ca", [](ww::options &o) { o.tls_ca = std::string("/etc/a\0b.pem", 13); }, "options.tls_ca");
    add("NUL in tls_cert", [](ww::options &o) { o.tls_cert = std::string("\0", 1); }, "options.tls_cert");
    add("NUL in tls_key", [](ww::options &o) { o.tls_key = std::string("k\0", 2); }, "options.tls_key");
    add("TLS files with unix://", [](ww::options &o) { o.tls_ca = "/etc/ssl/ca.pem"; },
        "TLS needs a tcp:// or https:// endpoint");
    add("TLS files with containerd",
        [](ww::options &o) {
            o.engine = ww::engine_kind::containerd;
            o.endpoint = "/run/containerd/containerd.sock";
            o.tls_key = "/etc/ssl/key.pem";
        },
        "TLS files are for Docker endpoints only");
    add("TLS files with every engine",
        [](ww::options &o) {
            o.engine = ww::engine_kind::automatic;
            o.endpoint.clear();
            o.tls_cert = "/etc/ssl/cert.pem";
        },
        "TLS files are for Docker endpoints only");
    add("podman at https://",
        [](ww::options &o) {
            o.engine = ww::engine_kind::podman;
            o.endpoint = "https://127.0.0.1:2376";
        },
        "podman's API takes no TLS");
    add("socket path too long",
        [](ww::options &o) { o.endpoint = "unix:///tmp/" + std::string(120, 'x') + ".sock"; }, nullptr);
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
    o.cri_poll = std::chrono::milliseconds(1500);
    o.cri_events = true;
    o.audit_interval = ww::options::audits_off;
    ww::watcher w(o);
    CHECK(w.valid());
    o.audit_interval = std::chrono::hours(24 * 49); // just below UINT32_MAX ms
    ww::watcher audited(o);
    CHECK(audited.valid());
    ww::options tls = docker_options("https://127.0.0.1:2376");
    tls.tls_ca = "/etc/ssl/ca.pem";
    ww::watcher over_tls(tls);
    CHECK(over_tls.valid());
    ww::options all;
    all.engine = ww::engine_kind::automatic;
    all.discover_interval = ww::options::discover_only_at_start;
    ww::watcher every(all);
    CHECK(every.valid());
    all.discover_interval = std::chrono::hours(24);
    ww::watcher daily(all);
    CHECK(daily.valid());
}

/* ------------------------------------------------------------------ */
/* Tests: unreachable engines                                          */
/* ------------------------------------------------------------------ */

// Backoff NONE at an unreachable socket: ready() throws ENGINE at once,
// naming the path and the OS error; giving up is final, shows in the
// engine's state, and wait() for anything newer throws ENGINE at once.
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

    ww::snapshot s = w.snapshot();
    const std::string_view type = engine == ww::engine_kind::containerd ? "containerd.io" : "docker.com";
    check_unsynced(s, type, reported);
    ww::engine_view e = s.engines()[0];
    CHECKF(e.state() == ww::engine_state::gave_up, ww::name(e.state()));
    CHECKF(contains(e.last_error(), path), '"' << e.last_error() << '"');
    CHECK(s.generation() >= 1); // giving up was published

    // Nothing newer can come: wait() says so at once, with or without a limit.
    t0 = now_ms();
    caught w1 = expect_error([&] { (void)w.wait(s, 5s); }, "wait");
    caught w2 = expect_error([&] { (void)w.wait(s.generation()); }, "wait without limit");
    took = now_ms() - t0;
    CHECKF(w1.status == WW_STATUS_ENGINE && w2.status == WW_STATUS_ENGINE, w1.status_name << ", " << w2.status_name);
    CHECKF(contains(w1.what, "ww_wait") && contains(w1.what, path), '"' << w1.what << '"');
    CHECKF(took < 2000.0, "wait took " << took << " ms");
    CHECK(w.try_wait(s.generation(), 0ms) == WW_STATUS_ENGINE);
    // What was published stays there to be seen.
    CHECK(w.wait(s.generation() - 1, 0ms) && w.wait(0, 5s));
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
// wait_ready() throws TIMEOUT, try_ready() says TIMEOUT; the engine stays
// connecting, its last error naming the trouble.
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
    ww::snapshot s = w.snapshot();
    check_unsynced(s, "docker.com", g_dead_endpoint);
    ww::engine_view e = s.engines()[0];
    CHECKF(e.state() == ww::engine_state::connecting, ww::name(e.state()));
    CHECKF(contains(e.last_error(), g_dead_sock), '"' << e.last_error() << '"');

    // wait() for a generation that never comes: false after the timeout.
    t0 = now_ms();
    r = w.wait(std::numeric_limits<std::uint64_t>::max(), 150ms);
    took = now_ms() - t0;
    CHECK(!r);
    CHECKF(took >= 140.0 && took < 2000.0, "wait(150ms) took " << took << " ms");
    CHECK(w.try_wait(std::numeric_limits<std::uint64_t>::max(), 0ms) == WW_STATUS_TIMEOUT);
    CHECKF(contains(ww::last_error_message(), "ww_wait"), '"' << ww::last_error_message() << '"');
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
    CHECK(w.snapshot().engines()[0].state() == ww::engine_state::gave_up);
}

/* ------------------------------------------------------------------ */
/* Tests: a real Docker engine                                         */
/* ------------------------------------------------------------------ */

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
    CHECK(!s.find("0000000000000000000000000000000000000000000000000000000000000000"));
    CHECK(!s.find(""));
    CHECK(!s.find(std::string_view(g_docker.id).substr(0, 12))); // IDs are exact, no prefixes
    CHECK(!s.find(g_docker.id + std::string(1, '\0')));          // no NUL in an ID
    CHECK(!s.find(std::string(300, 'a')));                       // longer than any ID
    CHECK(!s.find_pid(0) && !s.find_pid(-1) && !s.find_pid(std::numeric_limits<int>::max()));
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
    note(std::to_string(cs.size()) + " containers in " + std::to_string(s.projects().size()) +
         " projects, generation " + std::to_string(s.generation()));
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

// The engine view: what the docker CLI says of the engine, SYNCED, synced
// while this test watched.
void test_docker_engine_view() {
    const wall_clock::time_point t0 = wall_clock::now();
    ww::watcher w = ready_watcher(docker_options(g_endpoint));
    const wall_clock::time_point t1 = wall_clock::now();
    ww::snapshot s = w.snapshot();
    check_invariants(s, "docker.com", g_endpoint);
    ww::engine_view e = s.engines()[0];
    CHECK(&e.raw() == &s.get()->engines[0]);
    CHECK(e.kind() == ww::engine_kind::docker);
    CHECKF(e.state() == ww::engine_state::synced, ww::name(e.state()));
    CHECKF(e.id() == docker({"info", "-f", "{{.ID}}"}), '"' << e.id() << '"');
    CHECKF(e.version() == docker({"version", "-f", "{{.Server.Version}}"}), '"' << e.version() << '"');
    CHECKF(e.pid() > 0 && comm_of(e.pid()) == "dockerd", "PID " << e.pid() << " (" << comm_of(e.pid()) << ')');
    CHECKF(e.synced_at() && *e.synced_at() >= t0 - 1s && *e.synced_at() <= t1 + 1s,
           "synced at " << show(e.synced_at()) << ", watched from " << show(t0) << " to " << show(t1));
    CHECKF(e.last_error().empty(), '"' << e.last_error() << '"');
    CHECK(e.repairs() == 0);
    CHECK(s.find(g_docker.id)->engine().id() == e.id());
    note("engine " + std::string(e.type()) + " " + std::string(e.version()) + ", PID " + std::to_string(e.pid()) +
         ", " + std::string(ww::name(e.state())));
}

// A container's record as Docker has it: image, image ID, start time, not
// privileged, outside pods.
void test_docker_record_fields() {
    ww::watcher w = ready_watcher(docker_options(g_endpoint));
    ww::snapshot s = w.snapshot();
    auto c = s.find(g_docker.id);
    CHECK(c.has_value());
    CHECKF(c->image() == docker_image, '"' << c->image() << '"');
    std::string image_id = docker({"inspect", "-f", "{{.Image}}", g_docker.id});
    CHECKF(c->image_id() == image_id && starts_with(image_id, "sha256:") && image_id.size() == 71,
           '"' << c->image_id() << "\", docker says \"" << image_id << '"');
    auto started = parse_rfc3339_utc(docker({"inspect", "-f", "{{.State.StartedAt}}", g_docker.id}));
    CHECK(started.has_value());
    CHECKF(c->started_at() == started, show(c->started_at()) << ", docker says " << show(started));
    CHECK(*c->started_at() <= wall_clock::now());
    CHECK(!c->privileged() && !c->paused());
    CHECK(c->pod_name().empty() && c->pod_namespace().empty() && c->pod_uid().empty() && !c->pod_sandbox());
}

// Projects are slices of the containers, found by name.
void test_project_view_slices() {
    ww::watcher w = ready_watcher(docker_options(g_endpoint));
    ww::snapshot s = w.snapshot();
    auto p = s.project(g_docker.project);
    CHECK(p.has_value() && !p->unnamed() && !p->empty());
    CHECK(p->engine_index() == 0 && p->engine().endpoint() == g_endpoint);
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
        CHECK(a.generation() <= b.generation());
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
    CHECK(copy.get() == raw);
    s = ww::snapshot(); // the first handle goes; the copy keeps it alive
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
    c = expect_error([&] { (void)a.wait(0, 0ms); }, "wait of a moved-from watcher");
    CHECKF(c.status == WW_STATUS_NULL_ARG && contains(c.what, "ww_wait"), c.status_name << ": " << c.what);
    c = expect_error([&] { (void)a.event_fd(); }, "event_fd of a moved-from watcher");
    CHECKF(c.status == WW_STATUS_NULL_ARG && contains(c.what, "ww_event_fd"), c.status_name << ": " << c.what);
    c = expect_error([&] { (void)a.acknowledge(); }, "acknowledge of a moved-from watcher");
    CHECK(c.status == WW_STATUS_NULL_ARG);
    CHECK(a.try_ready(0ms) == WW_STATUS_NULL_ARG && a.try_wait(0, 0ms) == WW_STATUS_NULL_ARG);
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
    CHECK(!d.valid() && d.try_ready(0ms) == WW_STATUS_CLOSED);
    // A closed watcher moves as closed; the moved-from one is moved-from.
    ww::watcher f = std::move(d);
    CHECK(!f.valid() && f.try_wait(0, 0ms) == WW_STATUS_CLOSED);
    CHECK(!d.valid() && d.try_wait(0, 0ms) == WW_STATUS_NULL_ARG); // NOLINT(bugprone-use-after-move)
    e.shutdown();                                                  // moved-from: nothing
    f.shutdown();                                                  // closed: nothing
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
        CHECKF(s.engines()[0].endpoint() == g_endpoint, '"' << s.engines()[0].endpoint() << '"');
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

/* ------------------------------------------------------------------ */
/* Tests: changes (wait, event descriptor, diff)                       */
/* ------------------------------------------------------------------ */

// diff() from nothing: every container started, in the snapshot's order;
// from a snapshot to itself: nothing; an empty `to`: NULL_ARG.
void test_diff_from_nothing_and_to_itself() {
    ww::watcher w = ready_watcher(docker_options(g_endpoint));
    ww::snapshot s = w.snapshot();
    ww::changes all = ww::diff(s);
    CHECK(!all.from().valid() && all.to().get() == s.get());
    CHECKF(all.size() == s.containers().size(), all.size() << " changes, " << s.containers().size() << " containers");
    CHECK(!all.empty() && all.data() != nullptr);
    std::size_t i = 0;
    for (ww::change ch : all) {
        CHECK(ch.kind() == ww::change_kind::started && ch.raw().kind == WW_CHANGE_STARTED);
        CHECK(!ch.before().has_value() && ch.raw().before == nullptr);
        CHECK(ch.after().has_value() && &ch.after()->raw() == &s.containers()[i].raw());
        CHECK(&ch.after()->portfolio() == s.get() && &ch.container().raw() == &ch.after()->raw());
        i++;
    }
    CHECK(i == all.size() && &all.front().raw() == &all.data()[0] && &all.back().raw() == &all[all.size() - 1].raw());
    CHECK(static_cast<std::size_t>(all.end() - all.begin()) == all.size());
    ww::change mine = only_change_of(all, g_docker.id);
    CHECK(mine.after()->pid() == g_docker.pid && mine.after()->name() == g_docker.name);
    // An empty `from` is "nothing" too.
    CHECK(ww::diff(ww::snapshot(), s).size() == all.size());

    ww::changes none = ww::diff(s, s);
    CHECK(none.empty() && none.size() == 0 && none.begin() == none.end() && none.data() == nullptr);
    CHECK(none.from().get() == s.get() && none.to().get() == s.get());
    ww::changes nothing;
    CHECK(nothing.empty() && nothing.begin() == nothing.end() && !nothing.from() && !nothing.to());

    caught c = expect_error([&] { (void)ww::diff(s, ww::snapshot()); }, "diff to an empty snapshot");
    CHECKF(c.status == WW_STATUS_NULL_ARG && contains(c.what, "ww_diff"), c.status_name << ": " << c.what);
    c = expect_error([&] { (void)ww::diff(ww::snapshot()); }, "diff from nothing to nothing");
    CHECK(c.status == WW_STATUS_NULL_ARG);
}

// wait(): at once when something newer exists, false after the timeout when
// nothing does, and the same through try_wait().
void test_wait_generations_and_timeouts() {
    ww::watcher w = ready_watcher(docker_options(g_endpoint));
    ww::snapshot s = w.snapshot();
    CHECK(s.generation() >= 1);
    double t0 = now_ms();
    CHECK(w.wait(s.generation() - 1, 0ms));
    CHECK(w.wait(0));        // no limit, but newer exists
    CHECK(w.wait(0, 10min)); // likewise
    CHECK(w.try_wait(0, 0ms) == WW_STATUS_OK);
    CHECKF(now_ms() - t0 < 1000.0, "waits for what exists took " << now_ms() - t0 << " ms");
    t0 = now_ms();
    bool r = w.wait(std::numeric_limits<std::uint64_t>::max(), 150ms);
    double took = now_ms() - t0;
    CHECK(!r);
    CHECKF(took >= 140.0 && took < 2000.0, "wait(150ms) took " << took << " ms");
    CHECK(w.try_wait(std::numeric_limits<std::uint64_t>::max(), 0ms) == WW_STATUS_TIMEOUT);
    CHECKF(contains(ww::last_error_message(), "ww_wait"), '"' << ww::last_error_message() << '"');
    // Generations only grow.
    ww::snapshot later = w.snapshot();
    CHECK(later.generation() >= s.generation());
}

// A thread blocked in wait() wakes when a container is paused with `docker
// pause`, and diff() shows the pause; then the event descriptor becomes
// readable when it is resumed, acknowledge() takes the wake-up, and diff()
// shows the resume.
void test_wait_wakes_on_docker_pause() {
    scratch box;
    ww::watcher w = ready_watcher(docker_options(g_endpoint));
    ww::snapshot s0 = snapshot_when(
        w, ww::snapshot(), [&](const ww::snapshot &s) { return s.find(box.id()).has_value(); }, "with the container");
    CHECK(!s0.find(box.id())->paused());

    std::atomic<long> waiting{0}; // the waiter's thread ID
    std::atomic<int> wake_ups{0};
    ww::snapshot seen;
    std::string failure;
    std::thread waiter([&] {
        try {
            ww::snapshot s = s0;
            waiting = syscall(SYS_gettid);
            for (;;) {
                if (!w.wait(s, 20s)) {
                    failure = "no wake-up within 20 s";
                    return;
                }
                wake_ups++;
                s = w.snapshot();
                auto c = s.find(box.id());
                if (c && c->paused()) {
                    seen = s;
                    return;
                }
            }
        } catch (const std::exception &e) {
            failure = e.what();
        }
    });
    while (waiting == 0) {
        std::this_thread::sleep_for(1ms);
    }
    wait_until_asleep(waiting); // in wait()
    const double t0 = now_ms();
    bool paused = run_command({"docker", "-H", g_endpoint, "pause", box.id()}).status == 0;
    waiter.join();
    const double took = now_ms() - t0;
    CHECK(paused);
    CHECKF(failure.empty(), failure);
    note("woke " + std::to_string(wake_ups.load()) + " time(s); paused seen " + std::to_string(static_cast<long>(took)) +
         " ms after `docker pause` began");
    CHECK(wake_ups >= 1 && seen.generation() > s0.generation());

    // diff: the pause, from the container in s0 to the one in `seen`.
    ww::changes d = ww::diff(s0, seen);
    CHECK(d.from().get() == s0.get() && d.to().get() == seen.get());
    ww::change ch = only_change_of(d, box.id());
    CHECKF(ch.kind() == ww::change_kind::paused, ww::name(ch.kind()));
    CHECK(ch.before() && ch.after());
    CHECK(&ch.before()->raw() == &s0.find(box.id())->raw() && &ch.before()->portfolio() == s0.get());
    CHECK(&ch.after()->raw() == &seen.find(box.id())->raw() && &ch.after()->portfolio() == seen.get());
    CHECK(!ch.before()->paused() && ch.after()->paused());
    CHECK(ch.before()->pid() == box.pid() && ch.after()->pid() == box.pid());
    CHECK(&ch.container().raw() == &ch.after()->raw());
    CHECK(ch.before()->engine().endpoint() == g_endpoint && ch.after()->engine().state() == ww::engine_state::synced);

    // The event descriptor: readable at once (generations were published
    // before the first call), non-blocking and close-on-exec.
    const int fd = w.event_fd();
    CHECK(fd >= 0 && w.event_fd() == fd);
    CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(readable(fd, 0ms));
    ww::snapshot before_ack = w.snapshot();
    CHECK(w.acknowledge());
    const bool still = readable(fd, 0ms);
    const bool more = w.acknowledge();
    // Only a publication after the acknowledgement may leave it readable.
    CHECKF((!still && !more) || w.snapshot().generation() > before_ack.generation(),
           "readable " << still << ", acknowledged again " << more);

    // Resume it from another thread while this one sleeps in poll().
    ww::snapshot shown = w.snapshot();
    std::atomic<int> unpause_status{-2};
    std::thread resumer([&] {
        std::this_thread::sleep_for(100ms);
        unpause_status = run_command({"docker", "-H", g_endpoint, "unpause", box.id()}).status;
    });
    ww::snapshot now;
    int polls = 0;
    std::string poll_failure;
    for (;;) {
        if (!readable(fd, 20s)) {
            poll_failure = "the event descriptor stayed unreadable for 20 s";
            break;
        }
        polls++;
        // First acknowledge, then look: nothing published later is missed.
        if (!w.acknowledge()) {
            poll_failure = "readable, but nothing to acknowledge";
            break;
        }
        now = w.snapshot();
        auto c = now.find(box.id());
        if (c && !c->paused()) {
            break;
        }
    }
    resumer.join();
    CHECK(unpause_status == 0);
    CHECKF(poll_failure.empty(), poll_failure);
    CHECK(polls >= 1 && now.generation() > shown.generation());
    ww::changes resumed = ww::diff(shown, now); // the change borrows from it
    ww::change back = only_change_of(resumed, box.id());
    CHECKF(back.kind() == ww::change_kind::unpaused, ww::name(back.kind()));
    CHECK(back.before()->paused() && !back.after()->paused());
    CHECK(&back.before()->portfolio() == shown.get() && &back.after()->portfolio() == now.get());
}

// A container started: diff() shows it started, with its record as Docker
// has it (image, image ID, start time, privileged, pod); removed: exited.
// The changes outlive their snapshots and the watcher.
void test_diff_shows_started_and_exited() {
    ww::watcher w = ready_watcher(docker_options(g_endpoint));
    ww::snapshot s0 = w.snapshot();
    const wall_clock::time_point t0 = wall_clock::now();
    const std::vector<std::string> pod_labels = {"--label", "io.kubernetes.pod.name=web-0",
                                                 "--label", "io.kubernetes.pod.namespace=shop",
                                                 "--label", "io.kubernetes.pod.uid=4b1f-77",
                                                 "--label", "io.kubernetes.docker.type=podsandbox",
                                                 "--label", std::string(compose_label) + "=ww-cpp-diff"};
    // Where the engine itself lacks the capabilities, a privileged container
    // cannot start: then an unprivileged one shows privileged() false.
    scratch box(pod_labels, {"--privileged"}, "this engine cannot run a privileged container");
    const wall_clock::time_point t1 = wall_clock::now();
    ww::snapshot s1 = snapshot_when(
        w, s0, [&](const ww::snapshot &s) { return s.find(box.id()).has_value(); }, "with the new container");
    check_invariants(s1, "docker.com", g_endpoint);

    ww::changes started = ww::diff(s0, s1);
    ww::change ch = only_change_of(started, box.id());
    CHECKF(ch.kind() == ww::change_kind::started, ww::name(ch.kind()));
    CHECK(!ch.before() && ch.after() && &ch.after()->raw() == &s1.find(box.id())->raw());
    ww::container_view c = ch.container();
    CHECK(c.name() == box.name() && c.pid() == box.pid() && c.project() == "ww-cpp-diff" && !c.paused());
    CHECKF(c.image() == docker_image, '"' << c.image() << '"');
    std::string image_id = docker({"image", "inspect", "-f", "{{.Id}}", std::string(docker_image)});
    CHECKF(c.image_id() == image_id, '"' << c.image_id() << "\", docker says \"" << image_id << '"');
    CHECKF(c.started_at() && *c.started_at() >= t0 - 1s && *c.started_at() <= t1 + 1s,
           "started at " << show(c.started_at()) << ", `docker run` from " << show(t0) << " to " << show(t1));
    CHECK(c.started_at() == parse_rfc3339_utc(docker({"inspect", "-f", "{{.State.StartedAt}}", box.id()})));
    CHECKF(c.privileged() == box.with_extra_args(), "privileged " << c.privileged());
    CHECK(docker({"inspect", "-f", "{{.HostConfig.Privileged}}", box.id()}) == (c.privileged() ? "true" : "false"));
    CHECKF(c.pod_name() == "web-0" && c.pod_namespace() == "shop" && c.pod_uid() == "4b1f-77" && c.pod_sandbox(),
           c.pod_name() << ' ' << c.pod_namespace() << ' ' << c.pod_uid() << ' ' << c.pod_sandbox());
    CHECK(c.engine_index() == 0 && c.engine().kind() == ww::engine_kind::docker);
    CHECK(s1.find_pid(box.pid()) && &s1.find_pid(box.pid())->raw() == &c.raw());
    auto project = s1.project("ww-cpp-diff");
    CHECK(project && project->size() == 1 && &project->containers()[0].raw() == &c.raw());

    box.remove();
    ww::snapshot s2 = snapshot_when(
        w, s1, [&](const ww::snapshot &s) { return !s.find(box.id()).has_value(); }, "without the container");
    ww::changes exited = ww::diff(s1, s2);
    ch = only_change_of(exited, box.id());
    CHECKF(ch.kind() == ww::change_kind::exited, ww::name(ch.kind()));
    CHECK(ch.before() && !ch.after() && &ch.before()->raw() == &s1.find(box.id())->raw());
    CHECK(ch.container().name() == box.name() && ch.container().pid() == box.pid());
    CHECK(&ch.container().portfolio() == s1.get());
    CHECK(!s2.find_pid(box.pid()) && !s2.project("ww-cpp-diff"));

    // The changes keep both snapshots: all of them survive the watcher and
    // every other handle.
    const std::size_t sums = touch_all(started) + touch_all(exited);
    ww::changes copy = exited;
    CHECK(copy.data() == exited.data() && copy.size() == exited.size());
    s0 = s1 = s2 = ww::snapshot();
    w.close();
    exited = ww::changes();
    CHECK(touch_all(started) + touch_all(copy) == sums);
    CHECK(only_change_of(copy, box.id()).before()->image() == docker_image);
}

// Closing (destroying) a watcher wakes the threads blocked in its wait()
// and ready(): they throw CLOSED (try_wait() returns it), at once.
void test_close_wakes_blocked_waiters() {
    auto w = std::make_unique<ww::watcher>(ready_watcher(docker_options(g_endpoint)));
    auto unready = std::make_unique<ww::watcher>(docker_options(g_dead_endpoint)); // never ready
    constexpr std::uint64_t never = std::numeric_limits<std::uint64_t>::max();

    std::atomic<int> entered{0};
    struct result {
        std::atomic<long> tid{0};
        ww_status status = WW_STATUS_OK;
        std::string what;
        double at = 0;
    };
    result in_wait, in_try_wait, in_ready, in_wait_ready;
    auto blocked = [&entered](result &r, auto call) {
        return std::thread([&entered, &r, call] {
            r.tid = syscall(SYS_gettid);
            entered++;
            try {
                call();
                r.what = "returned";
            } catch (const ww::error &e) {
                r.status = e.status();
                r.what = e.what();
            } catch (const std::exception &e) {
                r.what = e.what();
            }
            r.at = now_ms();
        });
    };
    ww::watcher *wp = w.get(), *up = unready.get();
    std::vector<std::thread> threads;
    // (Bounded: should closing not wake a waiter, the test still ends.)
    threads.push_back(blocked(in_wait, [wp] { (void)wp->wait(never, 30s); }));
    threads.push_back(blocked(in_try_wait, [wp, &in_try_wait] {
        in_try_wait.status = wp->try_wait(never, 30s);
        in_try_wait.what = std::string(ww::last_error_message());
        throw ww::error(in_try_wait.status, in_try_wait.what);
    }));
    threads.push_back(blocked(in_ready, [up] { (void)up->ready(30s); }));
    threads.push_back(blocked(in_wait_ready, [up] { up->wait_ready(30s); }));
    while (entered < 4) {
        std::this_thread::sleep_for(1ms);
    }
    // Destroying may begin once every waiter is inside its call.
    for (const result *r : {&in_wait, &in_try_wait, &in_ready, &in_wait_ready}) {
        wait_until_asleep(r->tid);
    }
    const double t0 = now_ms();
    w.reset();
    const double closed_after = now_ms() - t0;
    unready.reset();
    for (std::thread &t : threads) {
        t.join();
    }
    note("closing took " + std::to_string(static_cast<long>(closed_after)) + " ms");
    CHECKF(closed_after < 2000.0, "closing took " << closed_after << " ms");
    for (const result *r : {&in_wait, &in_try_wait, &in_ready, &in_wait_ready}) {
        CHECKF(r->status == WW_STATUS_CLOSED, ww::status_name(r->status) << ": " << r->what);
        CHECKF(contains(r->what, "closed"), '"' << r->what << '"');
        CHECKF(r->at - t0 < 2000.0, "woke " << r->at - t0 << " ms after closing began");
    }
    CHECK(contains(in_wait.what, "ww_wait") && contains(in_ready.what, "ww_ready"));
}

/* ------------------------------------------------------------------ */
/* Tests: threads                                                      */
/* ------------------------------------------------------------------ */

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
                std::uint64_t last = generation;
                for (int i = 0; i < snap_rounds; i++) {
                    ww::snapshot s = w.snapshot();
                    if (s.generation() < last || s.engines().empty() || s.engines()[0].type() != type ||
                        s.projects().empty()) {
                        failures++;
                    }
                    last = s.generation();
                    if ((i + t) % 500 == 0) {
                        ww::snapshot copy = held; // shared count, concurrently
                        auto c = s.find(e.id);
                        auto p = s.find_pid(e.pid);
                        if (!c || c->pid() != e.pid || c->name() != e.name || !p || &p->raw() != &c->raw() ||
                            !copy.find(e.id) || w.try_ready(0ms) != WW_STATUS_OK || !w.wait(0, 0ms) ||
                            ww::diff(copy, s).size() > s.containers().size() + copy.containers().size()) {
                            failures++;
                        }
                    }
                    rounds++;
                }
            } catch (const std::exception &ex) {
                failures++;
                note("thread " + std::to_string(t) + ": " + ex.what());
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

/* ------------------------------------------------------------------ */
/* Tests: a real containerd                                            */
/* ------------------------------------------------------------------ */

// The value after "KEY:" in the "Server:" part of `ctr version`.
std::string ctr_server(const std::string &version, std::string_view key) {
    std::istringstream in(version);
    std::string line;
    bool server = false;
    while (std::getline(in, line)) {
        std::string t = trim(line);
        if (t == "Server:") {
            server = true;
        } else if (server && starts_with(t, std::string(key) + ":")) {
            return trim(t.substr(key.size() + 1));
        }
    }
    return "";
}

void test_containerd_real_engine() {
    needs_containerd();
    const wall_clock::time_point t0 = wall_clock::now();
    ww::watcher w = ready_watcher(ctrd_options());
    const wall_clock::time_point t1 = wall_clock::now();
    ww::snapshot s = w.snapshot();
    CHECK(s.generation() >= 1);
    check_invariants(s, "containerd.io", g_ctrd_url);
    check_has(s, g_ctrd);
    CHECKF(!s.find(g_ctrd_ignored_id), g_ctrd_ignored_id << " of an ignored namespace in the snapshot");
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

    // The engine as ctr sees it.
    ww::engine_view e = s.engines()[0];
    std::string version = ctr("default", {"version"});
    CHECK(e.kind() == ww::engine_kind::containerd);
    CHECKF(e.state() == ww::engine_state::synced, ww::name(e.state()));
    CHECKF(!ctr_server(version, "UUID").empty() && e.id() == ctr_server(version, "UUID"),
           '"' << e.id() << "\" vs\n" << version);
    CHECKF(contains(e.version(), ctr_server(version, "Version")) && contains(e.version(), ctr_server(version, "Revision")),
           '"' << e.version() << "\" vs\n" << version);
    CHECKF(e.pid() > 0 && comm_of(e.pid()) == "containerd", "PID " << e.pid() << " (" << comm_of(e.pid()) << ')');
    CHECKF(e.synced_at() && *e.synced_at() >= t0 - 1s && *e.synced_at() <= t1 + 1s, show(e.synced_at()));
    CHECKF(e.last_error().empty(), '"' << e.last_error() << '"');
    CHECK(e.repairs() == 0);

    // The record: image and digest as ctr lists them, a plausible start.
    auto c = s.find(g_ctrd.id);
    std::string image;
    {
        std::istringstream in(ctr(g_ctrd_ns, {"containers", "ls"}));
        for (std::string line; std::getline(in, line);) {
            std::vector<std::string> f = words(line);
            if (f.size() >= 2 && f[0] == g_ctrd_bare_id) {
                image = f[1];
            }
        }
    }
    CHECKF(!image.empty() && c->image() == image, '"' << c->image() << "\", ctr says \"" << image << '"');
    std::string digest;
    {
        std::istringstream in(ctr(g_ctrd_ns, {"images", "ls"}));
        for (std::string line; std::getline(in, line);) {
            std::vector<std::string> f = words(line);
            if (f.size() >= 3 && f[0] == image) {
                digest = f[2];
            }
        }
    }
    CHECKF(starts_with(digest, "sha256:") && c->image_id() == digest,
           '"' << c->image_id() << "\", ctr says \"" << digest << '"');
    CHECKF(c->started_at() && *c->started_at() <= wall_clock::now() && *c->started_at() > wall_clock::now() - 6h,
           show(c->started_at()));
    CHECK(!c->privileged() && !c->pod_sandbox() && c->pod_name().empty());
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

// Snapshots of different watchers may be compared: from Docker's to
// containerd's, every Docker container exited and every containerd one
// started, each seen with its own engine.
void test_diff_across_watchers() {
    needs_containerd();
    ww::watcher d = ready_watcher(docker_options(g_endpoint));
    ww::watcher c = ready_watcher(ctrd_options());
    ww::snapshot from = d.snapshot(), to = c.snapshot();
    ww::changes ch = ww::diff(from, to);
    CHECK(ch.size() == from.containers().size() + to.containers().size());
    std::size_t exited = 0, started = 0;
    for (ww::change x : ch) {
        if (x.kind() == ww::change_kind::exited) {
            CHECK(started == 0); // every exited first
            CHECK(x.before()->engine().type() == "docker.com" && &x.before()->portfolio() == from.get());
            exited++;
        } else {
            CHECK(x.kind() == ww::change_kind::started);
            CHECK(x.after()->engine().type() == "containerd.io" && &x.after()->portfolio() == to.get());
            started++;
        }
    }
    CHECK(exited == from.containers().size() && started == to.containers().size());
    CHECK(only_change_of(ch, g_docker.id).kind() == ww::change_kind::exited);
    CHECK(only_change_of(ch, g_ctrd.id).kind() == ww::change_kind::started);
}

void test_containerd_concurrent_snapshots() {
    needs_containerd();
    concurrent_snapshots(ready_watcher(ctrd_options()), "containerd.io", g_ctrd);
}

/* ------------------------------------------------------------------ */
/* Tests: podman and CRI                                               */
/* ------------------------------------------------------------------ */

ww::options podman_options() {
    ww::options o;
    o.engine = ww::engine_kind::podman;
    o.endpoint = g_podman_endpoint;
    return o;
}

ww::options cri_options() {
    ww::options o;
    o.engine = ww::engine_kind::cri;
    o.endpoint = g_cri_endpoint;
    return o;
}

// The podman container's name, as podman tells it.
const expect &podman_container() {
    if (g_podman.name.empty()) {
        g_podman.name = podman({"inspect", "-f", "{{.Name}}", g_podman.id});
    }
    return g_podman;
}

// The engine view and the container of a podman watcher: as the podman CLI
// tells them.
void test_podman_real_engine() {
    needs_podman();
    const expect &e = podman_container();
    const wall_clock::time_point t0 = wall_clock::now();
    ww::watcher w = ready_watcher(podman_options());
    const wall_clock::time_point t1 = wall_clock::now();
    ww::snapshot s = w.snapshot();
    CHECK(s.generation() >= 1);
    check_invariants(s, "podman.io", g_podman_endpoint);
    check_has(s, e);

    ww::engine_view engine = s.engines()[0];
    CHECK(engine.kind() == ww::engine_kind::podman && ww::name(engine.kind()) == "podman");
    CHECKF(engine.state() == ww::engine_state::synced, ww::name(engine.state()));
    CHECKF(engine.version() == podman({"version", "-f", "{{.Server.Version}}"}), '"' << engine.version() << '"');
    // podman has no engine ID: its host's name and storage root stand for it.
    const std::string host_root = podman({"info", "-f", "{{.Host.Hostname}}:{{.Store.GraphRoot}}"});
    CHECKF(engine.id() == host_root, '"' << engine.id() << "\", podman's host and storage root \"" << host_root << '"');
    CHECKF(engine.pid() > 0 && comm_of(engine.pid()) == "podman",
           "PID " << engine.pid() << " (" << comm_of(engine.pid()) << ')');
    CHECKF(engine.synced_at() && *engine.synced_at() >= t0 - 1s && *engine.synced_at() <= t1 + 1s,
           show(engine.synced_at()));
    CHECKF(engine.last_error().empty(), '"' << engine.last_error() << '"');

    auto c = s.find(e.id);
    CHECK(c->engine().type() == "podman.io");
    const std::string image = podman({"inspect", "-f", "{{.ImageName}}", e.id});
    CHECKF(c->image() == image, '"' << c->image() << "\", podman says \"" << image << '"');
    const std::string image_id = podman({"inspect", "-f", "{{.Image}}", e.id});
    CHECKF(c->image_id() == "sha256:" + image_id, '"' << c->image_id() << "\", podman says \"" << image_id << '"');
    const std::string started = podman({"inspect", "-f", "{{.State.StartedAt.UnixNano}}", e.id});
    CHECKF(c->started_at() &&
               std::chrono::duration_cast<std::chrono::nanoseconds>(c->started_at()->time_since_epoch()).count() ==
                   std::stoll(started),
           show(c->started_at()) << ", podman says " << started << " ns");
    CHECK(!c->paused() && !c->privileged() && !c->pod_sandbox() && c->pod_name().empty());
}

// The CRI pod in snapshot `s`, its IDs prefixed with `prefix` ("k8s.io/"
// where a containerd watcher shows it): the sandbox under its pod's name,
// the container "app" with its pod, both with their PIDs.
void check_cri_pod(const ww::snapshot &s, const std::string &prefix) {
    auto sandbox = s.find(prefix + g_cri_sandbox.id);
    CHECKF(sandbox.has_value(), "sandbox " << prefix << g_cri_sandbox.id << " not in the snapshot");
    CHECK(sandbox->id() == prefix + g_cri_sandbox.id);
    CHECKF(sandbox->pod_sandbox() && sandbox->name() == g_pod_name, sandbox->name() << ' ' << sandbox->pod_sandbox());
    CHECKF(sandbox->pid() == g_cri_sandbox.pid, "sandbox PID " << sandbox->pid() << ", expected " << g_cri_sandbox.pid);
    auto app = s.find(prefix + g_cri_container.id);
    CHECKF(app.has_value(), "container " << prefix << g_cri_container.id << " not in the snapshot");
    CHECKF(app->name() == g_cri_container.name && !app->pod_sandbox(), app->name() << ' ' << app->pod_sandbox());
    CHECKF(app->pid() == g_cri_container.pid, "container PID " << app->pid() << ", expected " << g_cri_container.pid);
    for (ww::container_view c : {*sandbox, *app}) {
        CHECKF(c.pod_name() == g_pod_name && c.pod_namespace() == g_pod_namespace && c.pod_uid() == g_pod_uid,
               c.id() << ": pod " << c.pod_name() << '/' << c.pod_namespace() << '/' << c.pod_uid());
        CHECKF(c.project().empty(), c.id() << ": project \"" << c.project() << '"'); // pods are no compose projects
        CHECK(!c.paused());
        CHECKF(c.started_at() && *c.started_at() <= wall_clock::now() && *c.started_at() > wall_clock::now() - 6h,
               show(c.started_at()));
        auto by_pid = s.find_pid(c.pid());
        CHECKF(by_pid && &by_pid->raw() == &c.raw(), "find_pid(" << c.pid() << ')');
    }
    // The container's image, as containerd lists it in k8s.io.
    std::string image;
    std::istringstream in(tool({"ctr", "-a", g_cri_socket, "-n", "k8s.io", "containers", "ls"}));
    for (std::string line; std::getline(in, line);) {
        std::vector<std::string> f = words(line);
        if (f.size() >= 2 && f[0] == g_cri_container.id) {
            image = f[1];
        }
    }
    CHECKF(!image.empty() && app->image() == image, '"' << app->image() << "\", ctr says \"" << image << '"');
    CHECKF(starts_with(app->image_id(), "sha256:"), '"' << app->image_id() << '"');
}

// CRI watchers, relisting only and also following the runtime's events:
// the engine as containerd tells it, the pod's sandbox and container.
void test_cri_real_engine() {
    needs_cri();
    char host[256] = {};
    CHECK(gethostname(host, sizeof host - 1) == 0);
    const std::string version = tool({"ctr", "-a", g_cri_socket, "version"});
    for (bool events : {false, true}) {
        ww::options o = cri_options();
        o.cri_events = events;
        o.cri_poll = events ? std::chrono::milliseconds(std::chrono::minutes(1)) : 200ms;
        ww::watcher w = ready_watcher(o);
        ww::snapshot s = w.snapshot();
        CHECK(s.generation() >= 1);
        check_invariants(s, "k8s.io/cri-api", g_cri_endpoint);
        ww::engine_view e = s.engines()[0];
        CHECK(e.kind() == ww::engine_kind::cri && ww::name(e.kind()) == "cri");
        CHECKF(e.state() == ww::engine_state::synced, ww::name(e.state()));
        CHECKF(e.id() == host, '"' << e.id() << "\", the host is \"" << host << '"');
        CHECKF(starts_with(e.version(), "containerd ") && contains(e.version(), ctr_server(version, "Version")),
               '"' << e.version() << "\" vs\n"
                   << version);
        CHECKF(e.pid() > 0 && comm_of(e.pid()) == "containerd", "PID " << e.pid() << " (" << comm_of(e.pid()) << ')');
        CHECKF(e.last_error().empty(), '"' << e.last_error() << '"');
        check_cri_pod(s, "");
    }
}

/* ------------------------------------------------------------------ */
/* Tests: discovery and the watcher of every engine                    */
/* ------------------------------------------------------------------ */

// Sets an environment variable for its life. (Only while no watcher runs:
// the library reads the environment on its own threads.)
class env_override {
public:
    env_override(const char *name, const std::string &value) : name_(name) {
        if (const char *old = std::getenv(name)) {
            old_ = old;
        }
        setenv(name, value.c_str(), 1);
    }
    ~env_override() {
        if (old_) {
            setenv(name_, old_->c_str(), 1);
        } else {
            unsetenv(name_);
        }
    }
    env_override(const env_override &) = delete;
    env_override &operator=(const env_override &) = delete;

private:
    const char *name_;
    std::optional<std::string> old_;
};

// A Docker API that answers only GET /_ping (with its Api-Version header:
// discovery's probe) and GET /info as an engine would, and 404 to
// everything else, at unix socket `path`, served by a thread of this
// process.
class fake_docker {
public:
    explicit fake_docker(std::string path) : path_(std::move(path)) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
        unlink(path_.c_str());
        fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 || listen(fd_, 16) != 0 ||
            pipe2(stop_, O_CLOEXEC) != 0) {
            note(std::string("fake Docker at ") + path_ + ": " + std::strerror(errno));
            cleanup();
            throw check_failed{};
        }
        thread_ = std::thread([this] { serve(); });
    }
    ~fake_docker() {
        ssize_t ignored = write(stop_[1], "x", 1);
        (void)ignored;
        thread_.join();
        cleanup();
    }
    fake_docker(const fake_docker &) = delete;
    fake_docker &operator=(const fake_docker &) = delete;

    [[nodiscard]] std::string endpoint() const { return "unix://" + path_; }
    [[nodiscard]] const std::string &path() const { return path_; }

private:
    void cleanup() {
        for (int fd : {fd_, stop_[0], stop_[1]}) {
            if (fd >= 0) {
                close(fd);
            }
        }
        unlink(path_.c_str());
    }

    void serve() {
        for (;;) {
            pollfd p[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
            if (poll(p, 2, -1) < 0) {
                continue; // EINTR
            }
            if (p[1].revents != 0) {
                return;
            }
            const int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (conn >= 0) {
                answer(conn);
                close(conn);
            }
        }
    }

    // One request, one answer, then the connection closes.
    static void answer(int conn) {
        std::string request;
        while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
            pollfd p{conn, POLLIN, 0};
            char buf[4096];
            if (poll(&p, 1, 2000) != 1) {
                return;
            }
            const ssize_t n = read(conn, buf, sizeof buf);
            if (n <= 0) {
                return;
            }
            request.append(buf, static_cast<std::size_t>(n));
        }
        const std::string line = request.substr(0, request.find("\r\n"));
        const std::vector<std::string> f = words(line);
        // "/PATH", also versioned ("/v1.41/PATH").
        auto is = [&f](std::string_view path) {
            return f.size() == 3 && f[0] == "GET" &&
                   (f[1] == path || (f[1].size() > path.size() && starts_with(f[1], "/v") &&
                                     std::string_view(f[1]).substr(f[1].size() - path.size()) == path));
        };
        const bool info = is("/info"), ping = is("/_ping");
        const std::string body = info   ? R"({"ID":"ww-cpp-fake","Name":"ww-cpp-fake","ServerVersion":"0.0.0-fake"})"
                                 : ping ? "OK"
                                        : R"({"message":"page not found"})";
        const std::string reply = std::string(info || ping ? "HTTP/1.1 200 OK" : "HTTP/1.1 404 Not Found") +
                                  (ping ? "\r\nApi-Version: 1.41\r\nContent-Type: text/plain"
                                        : "\r\nContent-Type: application/json") +
                                  "\r\nContent-Length: " + std::to_string(body.size()) +
                                  "\r\nConnection: close\r\n\r\n" + body;
        std::size_t sent = 0;
        while (sent < reply.size()) {
            const ssize_t n = send(conn, reply.data() + sent, reply.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) {
                return;
            }
            sent += static_cast<std::size_t>(n);
        }
    }

    std::string path_;
    int fd_ = -1;
    int stop_[2] = {-1, -1};
    std::thread thread_;
};

// The entries of `found` at `endpoint`.
std::vector<ww::discovered_endpoint> at_endpoint(const std::vector<ww::discovered_endpoint> &found,
                                                 std::string_view endpoint) {
    std::vector<ww::discovered_endpoint> out;
    for (const ww::discovered_endpoint &d : found) {
        if (d.endpoint == endpoint) {
            out.push_back(d);
        }
    }
    return out;
}

// The owner of the file at `path`.
std::optional<std::uint32_t> owner_of(const std::string &path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
        return std::nullopt;
    }
    return static_cast<std::uint32_t>(st.st_uid);
}

// discover() lists each fixture engine once, of its kind (the CRI runtime,
// a containerd, as containerd), with the PID of the engine serving it (the
// one its watcher names), its socket's owner and how it was found; each
// entry's options() watch it.
void test_discover_lists_every_engine_with_its_pid() {
    needs_all_engines();
    const std::string fixture[] = {g_endpoint, g_ctrd_url, g_podman_endpoint, g_cri_endpoint};
    std::vector<ww::discovered_endpoint> found;
    // What does not answer its probe within WW_DISCOVER_PROBE_TIMEOUT_MS is
    // not listed, and podman's /info can take longer on a busy host: up to
    // five discoveries, until every fixture engine answered in time.
    for (int attempt = 1;; attempt++) {
        const double t0 = now_ms();
        found = ww::discover();
        const double took = now_ms() - t0;
        std::string listed;
        for (const ww::discovered_endpoint &d : found) {
            listed += "\n      " + std::string(ww::name(d.kind)) + ' ' + d.endpoint + " PID " + std::to_string(d.pid) +
                      " uid " + std::to_string(d.uid) + " by " + d.found_by;
        }
        note("discover() took " + std::to_string(static_cast<long>(took)) + " ms:" + listed);
        // The probes run at once, each within WW_DISCOVER_PROBE_TIMEOUT_MS.
        CHECKF(took < 3.0 * WW_DISCOVER_PROBE_TIMEOUT_MS, "took " << took << " ms");
        for (const ww::discovered_endpoint &d : found) {
            CHECKF(d.kind == ww::engine_kind::docker || d.kind == ww::engine_kind::containerd ||
                       d.kind == ww::engine_kind::cri || d.kind == ww::engine_kind::podman,
                   d.endpoint << ": kind " << static_cast<ww_engine>(d.kind));
            CHECKF(d.found_by == "env" || d.found_by == "path" || d.found_by == "process", d.found_by);
            CHECKF(starts_with(d.endpoint, "unix:///") || starts_with(d.endpoint, "tcp://"), d.endpoint);
            CHECK(d.pid >= 0);
            CHECKF(at_endpoint(found, d.endpoint).size() == 1, d.endpoint << " listed more than once");
        }
        std::string missing;
        for (const std::string &endpoint : fixture) {
            if (at_endpoint(found, endpoint).empty()) {
                missing += ' ' + endpoint;
            }
        }
        if (missing.empty()) {
            break;
        }
        CHECKF(attempt < 5, "not listed in " << attempt << " discoveries:" << missing);
    }

    struct engine {
        std::string endpoint;
        ww::engine_kind kind;
        const char *comm;
        ww::options watch;
        const char *env;
    };
    const engine engines[] = {
        {g_endpoint, ww::engine_kind::docker, "dockerd", docker_options(g_endpoint), "DOCKER_HOST"},
        {g_ctrd_url, ww::engine_kind::containerd, "containerd", ctrd_options(), "CONTAINERD_ADDRESS"},
        {g_podman_endpoint, ww::engine_kind::podman, "podman", podman_options(), "CONTAINER_HOST"},
        {g_cri_endpoint, ww::engine_kind::containerd, "containerd", cri_options(), "CONTAINER_RUNTIME_ENDPOINT"},
    };
    for (const engine &want : engines) {
        const std::vector<ww::discovered_endpoint> mine = at_endpoint(found, want.endpoint);
        CHECKF(mine.size() == 1, want.endpoint << " listed " << mine.size() << " times");
        const ww::discovered_endpoint &d = mine[0];
        CHECKF(d.kind == want.kind, want.endpoint << ": " << ww::name(d.kind) << ", expected " << ww::name(want.kind));
        // The PID its watcher names (SO_PEERCRED), of the engine's process.
        ww::watcher w = ready_watcher(want.watch);
        const int pid = w.snapshot().engines()[0].pid();
        CHECKF(d.pid == pid && comm_of(d.pid) == want.comm,
               want.endpoint << ": PID " << d.pid << " (" << comm_of(d.pid) << "), its watcher says " << pid);
        const std::optional<std::uint32_t> owner = owner_of(want.endpoint.substr(7));
        CHECKF(owner && d.uid == *owner, want.endpoint << ": uid " << d.uid);
        // Neither named by the environment nor at a well-known path.
        const char *env = std::getenv(want.env);
        const bool by_env = env != nullptr && (env == want.endpoint || env == want.endpoint.substr(7));
        CHECKF(d.found_by == (by_env ? "env" : "process"), want.endpoint << ": found by " << d.found_by);
        // options(): this engine, the rest the defaults.
        const ww::options o = d.options();
        CHECK(o.engine == d.kind && o.endpoint == d.endpoint && !o.ignored_namespaces && o.call_timeout == 0ms);
    }

    // Watchers from the entries: the podman container; the CRI pod through
    // containerd (namespace k8s.io).
    ww::watcher p = ready_watcher(at_endpoint(found, g_podman_endpoint)[0].options());
    check_has(p.snapshot(), podman_container());
    ww::watcher c = ready_watcher(at_endpoint(found, g_cri_endpoint)[0].options());
    ww::snapshot s = c.snapshot();
    check_invariants(s, "containerd.io", g_cri_endpoint);
    check_cri_pod(s, "k8s.io/");
}

// An engine named by the environment is found "env", with its socket's
// owner and the PID of the process serving it: here this one.
void test_discover_tells_how_and_by_whom() {
    fake_docker fake(g_tmpdir + "/env-docker.sock");
    std::uint32_t uid = static_cast<std::uint32_t>(geteuid());
    if (geteuid() == 0) {
        uid = 4247; // as a rootless engine's socket
        CHECK(chown(fake.path().c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(-1)) == 0);
    }
    std::vector<ww::discovered_endpoint> found;
    {
        env_override env("DOCKER_HOST", fake.endpoint());
        found = ww::discover();
    }
    const std::vector<ww::discovered_endpoint> mine = at_endpoint(found, fake.endpoint());
    CHECKF(mine.size() == 1, fake.endpoint() << " listed " << mine.size() << " times");
    const ww::discovered_endpoint &d = mine[0];
    CHECKF(d.kind == ww::engine_kind::docker && d.found_by == "env", ww::name(d.kind) << " by " << d.found_by);
    CHECKF(d.uid == uid, "uid " << d.uid << ", expected " << uid);
    CHECKF(d.pid == getpid(), "PID " << d.pid << ", this process is " << getpid());
    // Without the environment, nothing finds it.
    CHECK(at_endpoint(ww::discover(), fake.endpoint()).empty());
}

// An engine_kind::automatic watcher shows the container of each fixture
// engine once, with the engine running it: Docker's (not again through
// dockerd's containerd), containerd's (not its ignored namespace), podman's,
// and the CRI pod's through its containerd (namespace k8s.io).
void test_automatic_watcher_shows_every_engine_once() {
    needs_all_engines();
    ww::options o;
    o.engine = ww::engine_kind::automatic;
    // Discovery again every 3 s: an engine slow to answer its probe (podman's
    // /info on a busy host) is found at the next one.
    o.discover_interval = 3s;
    ww::watcher w(o);
    CHECK(w.ready(30s));
    struct want {
        const expect &e;
        std::string id;
        std::string endpoint;
        ww::engine_kind kind;
    };
    const std::string k8s = "k8s.io/";
    const want wants[] = {
        {g_docker, g_docker.id, g_endpoint, ww::engine_kind::docker},
        {g_ctrd, g_ctrd.id, g_ctrd_url, ww::engine_kind::containerd},
        {podman_container(), g_podman.id, g_podman_endpoint, ww::engine_kind::podman},
        {g_cri_sandbox, k8s + g_cri_sandbox.id, g_cri_endpoint, ww::engine_kind::containerd},
        {g_cri_container, k8s + g_cri_container.id, g_cri_endpoint, ww::engine_kind::containerd},
    };
    ww::snapshot s = snapshot_when(
        w, ww::snapshot(),
        [&](const ww::snapshot &x) {
            return std::all_of(std::begin(wants), std::end(wants), [&](const want &c) { return x.find(c.id); });
        },
        "with every fixture container");
    check_portfolio(s);
    std::string engines;
    for (ww::engine_view e : s.engines()) {
        engines += "\n      " + std::string(e.type()) + ' ' + std::string(e.endpoint()) + ' ' +
                   std::string(ww::name(e.state()));
    }
    note(std::to_string(s.engines().size()) + " engines, " + std::to_string(s.containers().size()) +
         " containers:" + engines);
    for (const want &c : wants) {
        std::size_t with_id = 0, with_pid = 0;
        for (ww::container_view x : s.containers()) {
            with_id += x.id() == c.id;
            with_pid += x.pid() == c.e.pid;
        }
        CHECKF(with_id == 1 && with_pid == 1,
               c.id << ": " << with_id << " with its ID, " << with_pid << " with its PID");
        auto x = s.find(c.id);
        CHECKF(x->pid() == c.e.pid && x->name() == c.e.name,
               c.id << ": PID " << x->pid() << ", name \"" << x->name() << "\", expected " << c.e.pid << ", \""
                    << c.e.name << '"');
        ww::engine_view e = x->engine();
        CHECKF(e.endpoint() == c.endpoint && e.kind() == c.kind && e.state() == ww::engine_state::synced,
               c.id << ": engine " << ww::name(e.kind()) << ' ' << e.endpoint() << ' ' << ww::name(e.state()));
        CHECK(&e.raw() == &s.engines()[x->engine_index()].raw());
        // In its engine's project (projects are per engine).
        CHECKF(x->project() == c.e.project, c.id << ": project \"" << x->project() << '"');
        std::size_t in_projects = 0;
        for (ww::project_view p : s.projects()) {
            for (ww::container_view y : p.containers()) {
                if (&y.raw() == &x->raw()) {
                    CHECK(p.name() == c.e.project && p.engine_index() == x->engine_index());
                    in_projects++;
                }
            }
        }
        CHECK(in_projects == 1);
    }
    check_cri_pod(s, k8s);
    CHECKF(!s.find(g_ctrd_ignored_id), g_ctrd_ignored_id << " of the ignored namespace moby shown");
}

// discover_interval: a watcher of every engine finds an engine started
// after it within its interval, and not at all when discovering only at
// its start.
void test_automatic_discover_interval() {
    needs_all_engines(); // an engine to be ready with
    const std::string path = g_tmpdir + "/late-docker.sock", endpoint = "unix://" + path;
    env_override env("DOCKER_HOST", endpoint); // (before any watcher runs, after them all)
    ww::options often;
    often.engine = ww::engine_kind::automatic;
    often.discover_interval = 200ms;
    ww::options once = often;
    once.discover_interval = ww::options::discover_only_at_start;
    ww::watcher w_often(often), w_once(once);
    CHECK(w_often.ready(30s) && w_once.ready(30s));
    auto lists = [&](const ww::snapshot &s) {
        return std::any_of(s.engines().begin(), s.engines().end(),
                           [&](ww::engine_view e) { return e.endpoint() == endpoint; });
    };
    CHECK(!lists(w_often.snapshot()) && !lists(w_once.snapshot()));

    const double t0 = now_ms();
    fake_docker late(path);
    ww::snapshot s = snapshot_when(w_often, ww::snapshot(), lists, "with the engine started later");
    const double found_after = now_ms() - t0;
    note("found after " + std::to_string(static_cast<long>(found_after)) + " ms");
    // Within its interval and a probe, well before the default 10 s.
    CHECKF(found_after < 5000.0, "found after " << found_after << " ms");
    check_portfolio(s);
    for (ww::engine_view e : s.engines()) {
        if (e.endpoint() == endpoint) {
            CHECK(e.kind() == ww::engine_kind::docker && e.type() == "docker.com");
        }
    }
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(3000.0 - (now_ms() - t0)));
    CHECKF(!lists(w_once.snapshot()), "found again although discovering only at start");
}

/* ------------------------------------------------------------------ */
/* Tests: shutdown and close while threads use the watcher             */
/* ------------------------------------------------------------------ */

// shutdown() from another thread wakes the threads blocked in wait(),
// ready() (and their try_ forms) and in poll() on the event descriptor;
// later waits end at once; snapshots keep working.
void test_shutdown_wakes_blocked_threads() {
    ww::watcher w = ready_watcher(docker_options(g_endpoint));
    ww::watcher unready(docker_options(g_dead_endpoint)); // never ready
    constexpr std::uint64_t never = std::numeric_limits<std::uint64_t>::max();
    const ww::snapshot before = w.snapshot();
    const int fd = w.event_fd();
    while (w.acknowledge()) {
    }

    struct result {
        std::atomic<long> tid{0};
        ww_status status = WW_STATUS_OK;
        std::string what;
        double at = 0;
    };
    result in_wait, in_try_wait, in_ready, in_try_ready, in_poll;
    std::vector<std::thread> threads;
    auto blocked = [&threads](result &r, auto call) {
        threads.emplace_back([&r, call] {
            r.tid = syscall(SYS_gettid);
            try {
                call(r);
            } catch (const ww::error &e) {
                r.status = e.status();
                r.what = e.what();
            } catch (const std::exception &e) {
                r.what = e.what();
            }
            r.at = now_ms();
        });
    };
    // (Bounded: should shutting down not wake one, the test still ends.)
    blocked(in_wait, [&w](result &) { (void)w.wait(never, 30s); });
    blocked(in_try_wait, [&w](result &r) {
        r.status = w.try_wait(never, 30s);
        r.what = std::string(ww::last_error_message());
    });
    blocked(in_ready, [&unready](result &) { (void)unready.ready(30s); });
    blocked(in_try_ready, [&unready](result &r) {
        r.status = unready.try_ready(30s);
        r.what = std::string(ww::last_error_message());
    });
    // A poll() loop: readable, acknowledge, look; stopped when a look says CLOSED.
    blocked(in_poll, [&w, fd](result &r) {
        for (;;) {
            if (!readable(fd, 30s)) {
                r.what = "the event descriptor stayed unreadable";
                return;
            }
            (void)w.acknowledge();
            const ww_status st = w.try_wait(never, 0ms);
            if (st != WW_STATUS_TIMEOUT) {
                r.status = st;
                r.what = std::string(ww::last_error_message());
                return;
            }
        }
    });
    result *const all[] = {&in_wait, &in_try_wait, &in_ready, &in_try_ready, &in_poll};
    for (result *r : all) {
        while (r->tid == 0) {
            std::this_thread::sleep_for(1ms);
        }
        wait_until_asleep(r->tid);
    }
    const double t0 = now_ms();
    std::thread([&] {
        w.shutdown();
        unready.shutdown();
    }).join();
    for (std::thread &t : threads) {
        t.join();
    }
    for (const result *r : all) {
        CHECKF(r->status == WW_STATUS_CLOSED, ww::status_name(r->status) << ": " << r->what);
        CHECKF(contains(r->what, "closed"), '"' << r->what << '"');
        CHECKF(r->at - t0 < 2000.0, "woke " << r->at - t0 << " ms after shutdown()");
    }
    CHECK(contains(in_wait.what, "ww_wait") && contains(in_ready.what, "ww_ready"));

    // Still a watcher: the last snapshot, and every wait ends at once with
    // CLOSED, also one for what already exists.
    CHECK(w.valid() && unready.valid());
    ww::snapshot after = w.snapshot();
    CHECK(after.generation() >= before.generation());
    check_invariants(after, "docker.com", g_endpoint);
    check_has(after, g_docker);
    check_unsynced(unready.snapshot(), "docker.com", g_dead_endpoint);
    const double t1 = now_ms();
    CHECK(w.try_ready(10s) == WW_STATUS_CLOSED && w.try_wait(0, 10s) == WW_STATUS_CLOSED);
    CHECK(contains(ww::last_error_message(), "closed"));
    caught c = expect_error([&] { (void)w.wait(0, 10s); }, "wait after shutdown()");
    CHECKF(c.status == WW_STATUS_CLOSED && c.what == c.last_error, c.status_name << ": " << c.what);
    c = expect_error([&] { w.wait_ready(10s); }, "wait_ready after shutdown()");
    CHECK(c.status == WW_STATUS_CLOSED);
    CHECK(unready.try_ready(10s) == WW_STATUS_CLOSED);
    CHECKF(now_ms() - t1 < 2000.0, "waits after shutdown() took " << now_ms() - t1 << " ms");
    w.shutdown(); // again: nothing
    w.close();
    CHECK(!w.valid());
    w.shutdown(); // closed: nothing
}

// shutdown() stops threads that loop over snapshot() and wait() (bounded
// or not) and over the event descriptor, wherever they are in their loop;
// then they are joined, and the watcher destroyed.
void test_shutdown_stops_looping_threads() {
    auto w = std::make_unique<ww::watcher>(ready_watcher(docker_options(g_endpoint)));
    std::atomic<long> rounds{0};
    std::atomic<int> failures{0};
    std::vector<double> stopped_at(4, 0.0);
    std::vector<std::thread> threads;
    auto looping = [&](int i, auto round) {
        threads.emplace_back([&, i, round] {
            try {
                for (;;) {
                    round();
                    rounds++;
                }
            } catch (const ww::error &e) {
                if (e.status() != WW_STATUS_CLOSED) {
                    note(std::string("thread: ") + e.what());
                    failures++;
                }
            } catch (const std::exception &e) {
                note(std::string("thread: ") + e.what());
                failures++;
            }
            stopped_at[static_cast<std::size_t>(i)] = now_ms();
        });
    };
    const ww::watcher &cw = *w;
    looping(0, [&cw] {
        ww::snapshot s = cw.snapshot();
        (void)touch_all(s);
        (void)cw.wait(s, 20ms);
    });
    looping(1, [&cw] {
        ww::snapshot s = cw.snapshot();
        (void)cw.wait(s); // no limit
    });
    looping(2, [&cw] {
        const ww_status st = cw.try_wait(std::numeric_limits<std::uint64_t>::max(), 5ms);
        if (st != WW_STATUS_TIMEOUT) {
            throw ww::error(st, std::string(ww::last_error_message()));
        }
        (void)ww::diff(cw.snapshot());
    });
    looping(3, [&cw] {
        (void)readable(cw.event_fd(), 20ms);
        (void)cw.acknowledge();
        cw.wait_ready(0ms);
    });
    while (rounds < 50) {
        std::this_thread::sleep_for(1ms);
    }
    const double t0 = now_ms();
    w->shutdown();
    for (std::thread &t : threads) {
        t.join();
    }
    note(std::to_string(rounds.load()) + " rounds; stopped within " +
         std::to_string(static_cast<long>(*std::max_element(stopped_at.begin(), stopped_at.end()) - t0)) +
         " ms of shutdown()");
    CHECKF(failures == 0, failures.load() << " failures");
    for (double at : stopped_at) {
        CHECKF(at - t0 < 2000.0, "stopped " << at - t0 << " ms after shutdown()");
    }
    check_has(w->snapshot(), g_docker);
    w.reset();
}

// close() while other threads use the watcher, at any point of their
// loops: their calls in progress end, later ones throw CLOSED; nothing
// touches the released watcher (AddressSanitizer would tell).
void test_close_while_threads_use_it() {
    constexpr std::uint64_t never = std::numeric_limits<std::uint64_t>::max();
    for (int round = 0; round < 8; round++) {
        ww::watcher w = ready_watcher(docker_options(g_endpoint));
        std::atomic<int> started{0}, failures{0};
        std::atomic<long> calls{0};
        std::vector<std::thread> threads;
        auto looping = [&](auto call) {
            threads.emplace_back([&, call] {
                started++;
                const double until = now_ms() + 20000.0;
                try {
                    while (now_ms() < until) {
                        if (call() == WW_STATUS_CLOSED) {
                            return;
                        }
                        calls++;
                    }
                    note("still not closed after 20 s");
                } catch (const ww::error &e) {
                    if (e.status() == WW_STATUS_CLOSED && contains(e.what(), "closed")) {
                        return;
                    }
                    note(std::string("thread: ") + std::string(e.status_name()) + ": " + e.what());
                } catch (const std::exception &e) {
                    note(std::string("thread: ") + e.what());
                }
                failures++;
            });
        };
        looping([&w] {
            ww::snapshot s = w.snapshot();
            (void)w.wait(s, 10ms);
            return WW_STATUS_OK;
        });
        looping([&w] { return w.try_wait(never, 10ms); });
        looping([&w] { return w.try_ready(0ms) == WW_STATUS_OK ? w.try_wait(0, 0ms) : w.try_ready(0ms); });
        looping([&w] {
            (void)w.event_fd();
            (void)w.acknowledge();
            return WW_STATUS_OK;
        });
        while (started < 4) {
            std::this_thread::sleep_for(1ms);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(round));
        w.close();
        CHECK(!w.valid() && w.native_handle() == nullptr);
        for (std::thread &t : threads) {
            t.join();
        }
        CHECKF(failures == 0, "round " << round << ": " << failures.load() << " failures");
        // Closed: every call says so.
        caught c = expect_error([&] { (void)w.snapshot(); }, "snapshot of a closed watcher");
        CHECKF(c.status == WW_STATUS_CLOSED && contains(c.what, "ww_snapshot") && contains(c.what, "closed"),
               c.status_name << ": " << c.what);
        c = expect_error([&] { (void)w.wait(0, 0ms); }, "wait of a closed watcher");
        CHECKF(c.status == WW_STATUS_CLOSED && contains(c.what, "ww_wait"), c.status_name << ": " << c.what);
        c = expect_error([&] { (void)w.ready(0ms); }, "ready of a closed watcher");
        CHECK(c.status == WW_STATUS_CLOSED && contains(c.what, "ww_ready"));
        c = expect_error([&] { (void)w.event_fd(); }, "event_fd of a closed watcher");
        CHECK(c.status == WW_STATUS_CLOSED);
        c = expect_error([&] { (void)w.acknowledge(); }, "acknowledge of a closed watcher");
        CHECK(c.status == WW_STATUS_CLOSED);
        CHECK(w.try_ready(0ms) == WW_STATUS_CLOSED && w.try_wait(0, 0ms) == WW_STATUS_CLOSED);
        w.shutdown();
        w.close();
        if (round == 0) {
            note(std::to_string(calls.load()) + " calls before close()");
        }
    }
}

/* ------------------------------------------------------------------ */
/* Tests: options new in ABI 2's fourth ww_options, fork()             */
/* ------------------------------------------------------------------ */

// The ww_options of the latest watcher this program made.
new_call last_new_call() {
    std::lock_guard<std::mutex> one(g_new_lock);
    CHECK(g_last_new.has_value());
    return *g_last_new;
}

// The options reach the library as the C struct says: audit_interval as
// audit_interval_ms (0: the library's default, 60 s; audits_off: 0), the
// TLS files as strings ("" as NULL), the rest as before.
void test_options_reach_the_library() {
    ww::options o = docker_options(g_missing_endpoint);
    {
        ww::watcher w(o);
    }
    new_call c = last_new_call();
    CHECKF(c.raw.struct_size == sizeof(ww_options) && sizeof(ww_options) == 96, c.raw.struct_size);
    CHECK(c.endpoint == g_missing_endpoint && c.raw.engine == WW_ENGINE_DOCKER);
    CHECKF(c.raw.audit_interval_ms == 60000, c.raw.audit_interval_ms);
    CHECK(!c.tls_ca && !c.tls_cert && !c.tls_key && !c.ignored_namespaces);

    const std::pair<std::chrono::milliseconds, std::uint32_t> audits[] = {
        {0ms, 60000u}, {250ms, 250u}, {std::chrono::seconds(90), 90000u}, {1ms, 1u}, {ww::options::audits_off, 0u}};
    for (const auto &[interval, ms] : audits) {
        o.audit_interval = interval;
        {
            ww::watcher w(o);
        }
        c = last_new_call();
        CHECKF(c.raw.audit_interval_ms == ms,
               "audit_interval " << interval.count() << " ms: audit_interval_ms " << c.raw.audit_interval_ms);
    }

    ww::options tls = docker_options("https://127.0.0.1:1");
    tls.tls_ca = "/etc/docker/ca.pem";
    tls.tls_cert = "/etc/docker/cert.pem";
    tls.tls_key = "/etc/docker/key.pem";
    {
        ww::watcher w(tls);
    }
    c = last_new_call();
    CHECK(c.endpoint == "https://127.0.0.1:1");
    CHECK(c.tls_ca == "/etc/docker/ca.pem" && c.tls_cert == "/etc/docker/cert.pem" &&
          c.tls_key == "/etc/docker/key.pem");
    tls.tls_ca.clear();
    tls.tls_cert.clear();
    {
        ww::watcher w(tls);
    }
    c = last_new_call();
    CHECK(!c.tls_ca && !c.tls_cert && c.tls_key == "/etc/docker/key.pem");
}

// Writes `text` to `path`.
void write_file(const std::string &path, std::string_view text) {
    std::ofstream f(path, std::ios::trunc);
    f << text;
    f.close();
    CHECKF(f.good(), "cannot write " << path);
}

// Docker over TLS without retries: the watcher gives up at once, naming
// `want` (the file at fault); its engine, at https://, says the same.
void tls_gives_up(const ww::options &tls, const std::string &want) {
    ww::options o = tls;
    o.backoff = ww::backoff_policy::none;
    ww::watcher w(o);
    caught c = expect_error([&] { (void)w.ready(5s); }, "ready");
    note(c.status_name + ": " + c.what);
    CHECKF(c.status == WW_STATUS_ENGINE, c.status_name << ": " << c.what);
    CHECKF(contains(c.what, want), '"' << c.what << "\" does not say \"" << want << '"');
    ww::snapshot s = w.snapshot();
    check_unsynced(s, "docker.com", "https://127.0.0.1:1");
    ww::engine_view e = s.engines()[0];
    CHECK(e.state() == ww::engine_state::gave_up && contains(e.last_error(), want));
}

// The TLS files given are the ones read (each named when missing or not
// PEM), and a tcp:// endpoint with any of them is TLS (https://).
void test_tls_files_are_used() {
    const std::string ca = g_tmpdir + "/ca.pem", not_pem = g_tmpdir + "/not.pem";
    const std::string missing = g_tmpdir + "/missing.pem";
    struct remove_files {
        std::vector<std::string> paths;
        ~remove_files() {
            for (const std::string &p : paths) {
                unlink(p.c_str());
            }
        }
    } cleanup{{ca, not_pem}};
    write_file(ca, "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n");
    write_file(not_pem, "not a certificate\n");

    ww::options o = docker_options("tcp://127.0.0.1:1");
    o.tls_ca = missing;
    tls_gives_up(o, "TLS: CA certificate " + missing + ": " + std::strerror(ENOENT));
    o.endpoint = "https://127.0.0.1:1";
    o.tls_ca = ca;
    o.tls_cert = not_pem;
    tls_gives_up(o, "TLS: client certificate " + not_pem + ": no PEM CERTIFICATE in it");
    o.tls_cert = ca;
    o.tls_key = missing;
    tls_gives_up(o, "TLS: client key " + missing + ": " + std::strerror(ENOENT));
    o.tls_key = ca;
    tls_gives_up(o, "TLS: client key " + ca + ": no PEM PRIVATE KEY in it");
}

// Audits at any interval, or none, on a healthy Docker engine: the
// watcher shows its containers, and nothing needs repairing.
void test_audit_interval_on_a_healthy_engine() {
    const std::chrono::milliseconds intervals[] = {0ms, 100ms, ww::options::audits_off};
    for (std::chrono::milliseconds interval : intervals) {
        ww::options o = docker_options(g_endpoint);
        o.audit_interval = interval;
        ww::watcher w = ready_watcher(o);
        CHECK(w.snapshot().engines()[0].repairs() == 0);
        std::this_thread::sleep_for(600ms); // audits every 100 ms: a few of them
        ww::snapshot s = w.snapshot();
        check_has(s, g_docker);
        ww::engine_view e = s.engines()[0];
        CHECKF(e.state() == ww::engine_state::synced && e.repairs() == 0,
               "audit_interval " << interval.count() << " ms: " << ww::name(e.state()) << ", " << e.repairs()
                                 << " repairs, last error \"" << e.last_error() << '"');
    }
}

// What the child checks (see test_fork_child_sees_the_last_snapshot); its
// exit status: 0, or the failed check's number (after a note why).
int in_forked_child(ww::watcher &w, const ww::snapshot &before) noexcept {
    auto says_forked = [](const char *what, auto call) -> bool {
        const double t0 = now_ms();
        try {
            call();
            note(std::string("child: ") + what + " did not throw");
        } catch (const ww::error &e) {
            if (e.status() == WW_STATUS_FORKED && now_ms() - t0 < 1000.0 && contains(e.what(), "parent process")) {
                return true;
            }
            note(std::string("child: ") + what + ": " + std::string(e.status_name()) + " after " +
                 std::to_string(static_cast<long>(now_ms() - t0)) + " ms: " + e.what());
        }
        return false;
    };
    try {
        // The last snapshot before the fork: no newer one comes here.
        ww::snapshot s = w.snapshot();
        if (s.generation() < before.generation() ||
            (s.generation() == before.generation() && s.get() != before.get()) || !s.find(g_docker.id)) {
            note("child: generation " + std::to_string(s.generation()) + ", before the fork " +
                 std::to_string(before.generation()));
            return 10;
        }
        if (!says_forked("ready()", [&] { (void)w.ready(30s); }) ||
            !says_forked("wait_ready()", [&] { w.wait_ready(); })) {
            return 11;
        }
        if (!says_forked("wait()", [&] { (void)w.wait(s, 30s); }) ||
            !says_forked("wait(0)", [&] { (void)w.wait(0); })) {
            return 12;
        }
        if (!says_forked("event_fd()", [&] { (void)w.event_fd(); }) ||
            !says_forked("acknowledge()", [&] { (void)w.acknowledge(); })) {
            return 13;
        }
        if (w.try_ready(-1ms) != WW_STATUS_FORKED || w.try_wait(s.generation(), -1ms) != WW_STATUS_FORKED ||
            !contains(ww::last_error_message(), "ww_wait")) {
            note("child: try_ready / try_wait: " + std::string(ww::last_error_message()));
            return 14;
        }
        w.shutdown(); // does nothing here
        if (w.snapshot().get() != s.get()) {
            return 15;
        }
        // A thread of the parent was in wait() at the fork: close() does not
        // wait for it.
        const double t0 = now_ms();
        w.close();
        if (now_ms() - t0 >= 1000.0 || w.valid()) {
            note("child: close() took " + std::to_string(static_cast<long>(now_ms() - t0)) + " ms");
            return 16;
        }
        if (!s.find(g_docker.id) || touch_all(ww::diff(s)) == 0) {
            return 17;
        }
        return 0;
    } catch (const std::exception &e) {
        note(std::string("child: ") + e.what());
    } catch (const check_failed &) {
    }
    return 9;
}

// fork() with a live watcher, a thread of the parent blocked in its wait():
// in the child, snapshot() gives the last snapshot published before the
// fork, the calls that wait or watch throw WW_STATUS_FORKED at once (try_*
// return it), shutdown() does nothing and close() returns at once. The
// child tells by its exit status (and leaves with _exit: no exit handlers).
// The parent goes on: its waiter wakes for a new container.
void test_fork_child_sees_the_last_snapshot() {
    ww::watcher w = ready_watcher(docker_options(g_endpoint));
    const int fd = w.event_fd();
    ww::snapshot before = w.snapshot();
    std::atomic<long> waiting{0};
    std::atomic<ww_status> waited{WW_STATUS_INTERNAL}; // INTERNAL: still waiting
    std::thread waiter([&] {
        waiting = syscall(SYS_gettid);
        waited = w.try_wait(before.generation(), 60s);
    });
    struct stop_waiter {
        ww::watcher &w;
        std::thread &t;
        ~stop_waiter() {
            if (t.joinable()) {
                w.shutdown();
                t.join();
            }
        }
    } stop{w, waiter};
    while (waiting == 0) {
        std::this_thread::sleep_for(1ms);
    }
    wait_until_asleep(waiting); // in wait()
    std::cout.flush();
    std::cerr.flush();
    const pid_t pid = fork();
    CHECKF(pid >= 0, "fork: " << std::strerror(errno));
    if (pid == 0) {
        _exit(in_forked_child(w, before));
    }
    int status = 0;
    const double until = now_ms() + 30000.0;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (now_ms() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            CHECKF(false, "the child hangs: killed after 30 s");
        }
        std::this_thread::sleep_for(5ms);
    }
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "the child's exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << " (wait status " << status
                                      << ')');
    // The parent: its waiter still waits (or has woken for a change that
    // another test's container made meanwhile: the engine is shared), and
    // wakes for a change.
    const ww_status so_far = waited;
    CHECKF((so_far == WW_STATUS_INTERNAL || so_far == WW_STATUS_OK) && w.ready(0ms) && w.event_fd() == fd,
           "the parent's waiter after the fork: " << ww::status_name(so_far));
    scratch box;
    snapshot_when(
        w, before, [&](const ww::snapshot &s) { return s.find(box.id()).has_value(); }, "with the new container");
    waiter.join();
    CHECKF(waited == WW_STATUS_OK, ww::status_name(waited));
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
        note(std::string("unexpected whalewatcher::error: ") + std::string(e.status_name()) + ": " + e.what());
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
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

// The environment's podman and CRI engines (see the top); false, with a
// message, if a group is given only partly or badly.
bool read_engine_env(const char *prog) {
    auto env = [](const char *name) -> std::optional<std::string> {
        const char *v = std::getenv(name);
        return v != nullptr && *v != '\0' ? std::optional<std::string>(v) : std::nullopt;
    };
    auto pid = [&](const char *name, int &out) {
        std::optional<std::string> v = env(name);
        return v && parse_pid(v->c_str(), out);
    };
    const auto podman_endpoint = env("WW_TEST_PODMAN_ENDPOINT"), podman_id = env("WW_TEST_PODMAN_ID");
    const bool any_podman = podman_endpoint || podman_id || env("WW_TEST_PODMAN_PID");
    if (any_podman) {
        if (!podman_endpoint || !podman_id || !pid("WW_TEST_PODMAN_PID", g_podman.pid) ||
            !starts_with(*podman_endpoint, "unix://")) {
            std::cerr << prog << ": WW_TEST_PODMAN_ENDPOINT (unix://), _ID and _PID go together\n";
            return false;
        }
        g_have_podman = true;
        g_podman_endpoint = *podman_endpoint;
        g_podman.id = *podman_id;
        g_podman.project = g_docker.project;
    }
    const char *const cri_vars[] = {"WW_TEST_CRI_ENDPOINT",    "WW_TEST_CRI_POD",          "WW_TEST_CRI_SANDBOX_ID",
                                    "WW_TEST_CRI_SANDBOX_PID", "WW_TEST_CRI_CONTAINER_ID", "WW_TEST_CRI_CONTAINER_PID"};
    bool any_cri = false;
    for (const char *v : cri_vars) {
        any_cri = any_cri || env(v).has_value();
    }
    if (any_cri) {
        const auto endpoint = env("WW_TEST_CRI_ENDPOINT"), pod = env("WW_TEST_CRI_POD");
        const auto sandbox = env("WW_TEST_CRI_SANDBOX_ID"), container = env("WW_TEST_CRI_CONTAINER_ID");
        const std::size_t slash1 = pod ? pod->find('/') : std::string::npos;
        const std::size_t slash2 = slash1 != std::string::npos ? pod->find('/', slash1 + 1) : std::string::npos;
        if (!endpoint || !starts_with(*endpoint, "unix://") || slash2 == std::string::npos || !sandbox ||
            !container || !pid("WW_TEST_CRI_SANDBOX_PID", g_cri_sandbox.pid) ||
            !pid("WW_TEST_CRI_CONTAINER_PID", g_cri_container.pid)) {
            std::cerr << prog << ": WW_TEST_CRI_ENDPOINT (unix://), _POD (NAME/NAMESPACE/UID), _SANDBOX_ID, "
                      << "_SANDBOX_PID, _CONTAINER_ID and _CONTAINER_PID go together\n";
            return false;
        }
        g_have_cri = true;
        g_cri_endpoint = *endpoint;
        g_cri_socket = endpoint->substr(7);
        g_pod_name = pod->substr(0, slash1);
        g_pod_namespace = pod->substr(slash1 + 1, slash2 - slash1 - 1);
        g_pod_uid = pod->substr(slash2 + 1);
        g_cri_sandbox.id = *sandbox;
        g_cri_sandbox.name = g_pod_name;
        g_cri_container.id = *container;
        g_cri_container.name = "app";
    }
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
    if (!parse_pid(argv[4], g_docker.pid) || g_docker.project.empty() || !starts_with(g_endpoint, "unix://")) {
        std::cerr << argv[0] << ": bad DOCKER_EXPECT_PID \"" << argv[4]
                  << "\", empty PROJECT or DOCKER_ENDPOINT not unix://\n";
        return 2;
    }
    if (argc == 12) {
        g_have_ctrd = true;
        g_ctrd_endpoint = argv[6];
        g_ctrd_url = starts_with(g_ctrd_endpoint, "unix://") ? g_ctrd_endpoint : "unix://" + g_ctrd_endpoint;
        g_ctrd_socket = g_ctrd_url.substr(7);
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
        g_ctrd_bare_id = slash == std::string::npos ? g_ctrd.id : g_ctrd.id.substr(slash + 1);
        std::size_t name_slash = g_ctrd.name.find('/');
        g_ctrd.name_label = name_slash == std::string::npos ? g_ctrd.name : g_ctrd.name.substr(name_slash + 1);
    }
    if (!read_engine_env(argv[0])) {
        return 2;
    }
    if (!setup_sockets()) {
        return 2;
    }

    const std::pair<void (*)(), const char *> tests[] = {
        // First, before any other watcher exists in this process.
        {test_raii_threads_and_fds_return_to_baseline, "raii_threads_and_fds_return_to_baseline"},
        {test_version_and_abi, "version_and_abi"},
        {test_enums_match_the_c_api, "enums_match_the_c_api"},
        {test_error_type, "error_type"},
        {test_bad_endpoint_invalid_arg, "bad_endpoint_invalid_arg"},
        {test_bad_options_invalid_arg, "bad_options_invalid_arg"},
        {test_unreachable_backoff_none_engine, "unreachable_backoff_none_engine"},
        {test_containerd_unreachable_backoff_none_engine, "containerd_unreachable_backoff_none_engine"},
        {test_unreachable_default_backoff_times_out, "unreachable_default_backoff_times_out"},
        {test_unreachable_max_elapsed_engine, "unreachable_max_elapsed_engine"},
        {test_real_engine_docker, "real_engine_docker"},
        {test_docker_engine_view, "docker_engine_view"},
        {test_docker_record_fields, "docker_record_fields"},
        {test_project_view_slices, "project_view_slices"},
        {test_snapshot_outlives_watcher, "snapshot_outlives_watcher"},
        {test_snapshot_copies_and_moves, "snapshot_copies_and_moves"},
        {test_moved_from_watcher_safe, "moved_from_watcher_safe"},
        {test_default_watcher_uses_docker_host, "default_watcher_uses_docker_host"},
        {test_diff_from_nothing_and_to_itself, "diff_from_nothing_and_to_itself"},
        {test_wait_generations_and_timeouts, "wait_generations_and_timeouts"},
        {test_wait_wakes_on_docker_pause, "wait_wakes_on_docker_pause"},
        {test_diff_shows_started_and_exited, "diff_shows_started_and_exited"},
        {test_close_wakes_blocked_waiters, "close_wakes_blocked_waiters"},
        {test_concurrent_snapshots, "concurrent_snapshots"},
        {test_errors_per_thread, "errors_per_thread"},
        {test_containerd_real_engine, "containerd_real_engine"},
        {test_containerd_ignored_namespaces, "containerd_ignored_namespaces"},
        {test_diff_across_watchers, "diff_across_watchers"},
        {test_containerd_concurrent_snapshots, "containerd_concurrent_snapshots"},
        {test_shutdown_wakes_blocked_threads, "shutdown_wakes_blocked_threads"},
        {test_shutdown_stops_looping_threads, "shutdown_stops_looping_threads"},
        {test_close_while_threads_use_it, "close_while_threads_use_it"},
        {test_options_reach_the_library, "options_reach_the_library"},
        {test_tls_files_are_used, "tls_files_are_used"},
        {test_audit_interval_on_a_healthy_engine, "audit_interval_on_a_healthy_engine"},
        {test_fork_child_sees_the_last_snapshot, "fork_child_sees_the_last_snapshot"},
        {test_podman_real_engine, "podman_real_engine"},
        {test_cri_real_engine, "cri_real_engine"},
        {test_discover_lists_every_engine_with_its_pid, "discover_lists_every_engine_with_its_pid"},
        {test_discover_tells_how_and_by_whom, "discover_tells_how_and_by_whom"},
        {test_automatic_watcher_shows_every_engine_once, "automatic_watcher_shows_every_engine_once"},
        {test_automatic_discover_interval, "automatic_discover_interval"},
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
