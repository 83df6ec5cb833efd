/*
 * watch: the alive containers of a Docker or containerd engine, grouped by
 * engine and compose project, as libwhalewatcher sees them; with --follow,
 * every change as it happens. The C++ twin of c-examples/watch.c (same
 * command line, same output), using include/whalewatcher.hpp.
 *
 * Usage: watch [--engine docker|containerd] [--watch N | --follow] [ENDPOINT]
 *
 * --engine: which engine to watch; docker by default.
 * ENDPOINT: for Docker e.g. unix:///var/run/docker.sock or
 * tcp://127.0.0.1:2375; without it, DOCKER_HOST if set, else
 * unix:///var/run/docker.sock. For containerd a socket path or unix://PATH,
 * e.g. /run/containerd/containerd.sock; without it, CONTAINERD_ADDRESS if
 * set, else /run/containerd/containerd.sock. containerd containers are
 * watched in all namespaces but moby and k8s.io, and show as NAMESPACE/ID
 * (just ID in namespace "default").
 * --watch N: afterwards, look again every second, N times, and print the
 * containers again whenever they changed (their generation grew).
 * --follow: afterwards, keep running and print one line per change as it
 * happens, until SIGINT or SIGTERM (exit status 0):
 *   + started NAME (ID ID, PID PID)
 *   - exited NAME (ID ID, PID PID)
 *   ~ paused NAME (...), ~ unpaused NAME (...), ~ updated NAME (...)
 *   ! engine ENDPOINT STATE[: LAST ERROR]   (STATE: connecting, synced,
 *                                            resyncing, gave up)
 * It exits with status 1 when nothing can change anymore (every engine gave
 * up under the backoff policy).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <whalewatcher.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace ww = whalewatcher;

namespace {

void usage(std::ostream &to, const char *prog) {
    to << "usage: " << prog << " [--engine docker|containerd] [--watch N | --follow] [ENDPOINT]\n";
}

// Docker's IDs are 64 hex digits, shown abbreviated as docker does;
// containerd's are names, shown in full.
std::string_view shown_id(ww::container_view c) {
    return c.engine().kind() == ww::engine_kind::docker ? c.id().substr(0, 12) : c.id();
}

void print_engine(ww::engine_view e, std::uint64_t generation) {
    // Version and PID are unknown until the first contact (the PID also
    // over TCP).
    std::cout << "engine " << e.type() << (e.version().empty() ? "" : " ") << e.version() << " at " << e.endpoint();
    if (e.pid() > 0) {
        std::cout << " (PID " << e.pid() << ')';
    }
    std::cout << ", " << ww::name(e.state()) << (e.last_error().empty() ? "" : ": ") << e.last_error()
              << ", generation " << generation << '\n';
}

void print_snapshot(const ww::snapshot &s) {
    for (std::size_t e = 0; e < s.engines().size(); e++) {
        std::size_t shown = 0;
        print_engine(s.engines()[e], s.generation());
        for (ww::project_view project : s.projects()) {
            // Each engine's unnamed project is always there, maybe empty.
            if (project.engine_index() != e || project.empty()) {
                continue;
            }
            if (project.unnamed()) {
                std::cout << "project \"\" (unnamed):\n";
            } else {
                std::cout << "project \"" << project.name() << "\":\n";
            }
            for (ww::container_view c : project.containers()) {
                std::cout << "  " << (c.paused() ? "paused " : "") << "container '" << c.name() << "' (ID "
                          << shown_id(c) << ", PID " << c.pid() << ")\n";
            }
            shown += project.size();
        }
        if (shown == 0) {
            std::cout << "no alive containers\n";
        }
    }
    std::cout.flush();
}

// A non-negative decimal number, or -1.
long parse_count(std::string_view text) {
    long n = 0;
    if (text.empty()) {
        return -1;
    }
    for (char ch : text) {
        if (ch < '0' || ch > '9' || n > 100000000L) {
            return -1;
        }
        n = n * 10 + (ch - '0');
    }
    return n;
}

/* ---- --follow --------------------------------------------------------- */

// SIGINT and SIGTERM write to this pipe. The signal may land on any thread,
// the library's too, and a handler that only writes to a pipe is safe on
// every one of them; poll(2) below then wakes up, wherever the signal ran.
int stop_pipe[2] = {-1, -1};

extern "C" void on_stop_signal(int) {
    const int saved_errno = errno;
    // The pipe is non-blocking: when it is full, a wake-up is pending anyway.
    ssize_t ignored = write(stop_pipe[1], "", 1);
    (void)ignored;
    errno = saved_errno;
}

bool catch_stop_signals() {
    if (pipe2(stop_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        return false;
    }
    struct sigaction sa = {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    // The library's threads need not see their system calls fail with EINTR.
    sa.sa_flags = SA_RESTART;
    return sigaction(SIGINT, &sa, nullptr) == 0 && sigaction(SIGTERM, &sa, nullptr) == 0;
}

// The lines for what changed from snapshot `from` to snapshot `to`; false
// (with a message) if they cannot be compared.
bool print_changes(const ww::snapshot &from, const ww::snapshot &to) {
    // A watcher's engines stay the same, at the same index, for its life.
    for (std::size_t i = 0; i < to.engines().size() && i < from.engines().size(); i++) {
        ww::engine_view was = from.engines()[i], now = to.engines()[i];
        if (was.state() != now.state() || was.last_error() != now.last_error()) {
            std::cout << "! engine " << now.endpoint() << ' ' << ww::name(now.state())
                      << (now.last_error().empty() ? "" : ": ") << now.last_error() << '\n';
        }
    }
    ww::changes changes;
    try {
        changes = ww::diff(from, to);
    } catch (const ww::error &e) {
        std::cerr << "cannot compare snapshots: " << e.status_name() << ": " << e.what() << '\n';
        return false;
    }
    for (ww::change ch : changes) {
        char mark = '~';
        switch (ch.kind()) {
        case ww::change_kind::started:
            mark = '+';
            break;
        case ww::change_kind::exited:
            mark = '-';
            break;
        case ww::change_kind::paused:
        case ww::change_kind::unpaused:
        case ww::change_kind::updated:
            break;
        default:
            continue; // a kind of change this example does not know
        }
        ww::container_view c = ch.container(); // exited: as it was
        std::cout << mark << ' ' << ww::name(ch.kind()) << ' ' << c.name() << " (ID " << shown_id(c) << ", PID "
                  << c.pid() << ")\n";
    }
    return true;
}

// Prints every change after `shown` until a stop signal; returns the exit
// status. Throws ww::error when nothing can change anymore.
int follow(const ww::watcher &w, ww::snapshot shown) {
    pollfd fds[2] = {{w.event_fd(), POLLIN, 0}, {stop_pipe[0], POLLIN, 0}};
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue; // the stop pipe tells whether to stop
            }
            std::perror("poll");
            return 1;
        }
        if (fds[1].revents != 0) {
            return 0;
        }
        if (fds[0].revents == 0) {
            continue;
        }
        // First acknowledge, then look: whatever is published after it makes
        // the descriptor readable again, so nothing is missed. Several
        // changes may have folded into this one wake-up.
        (void)w.acknowledge();
        ww::snapshot now = w.snapshot();
        if (!print_changes(shown, now)) {
            return 1;
        }
        std::cout.flush();
        shown = now;

        // When nothing newer exists and nothing can change anymore (every
        // engine gave up), the descriptor would never wake us again: wait()
        // throws ENGINE then.
        (void)w.wait(shown, std::chrono::milliseconds(0));
    }
}

} // namespace

int main(int argc, char **argv) {
    ww::options opts;
    bool have_endpoint = false, following = false;
    long rounds = 0;

    for (int i = 1; i < argc; i++) {
        std::string_view arg = argv[i];
        if (arg == "--watch" && i + 1 < argc) {
            rounds = parse_count(argv[++i]);
            if (rounds < 0) {
                usage(std::cerr, argv[0]);
                return 2;
            }
        } else if (arg == "--follow") {
            following = true;
        } else if (arg == "--engine" && i + 1 < argc) {
            std::string_view engine = argv[++i];
            if (engine == "docker") {
                opts.engine = ww::engine_kind::docker;
            } else if (engine == "containerd") {
                opts.engine = ww::engine_kind::containerd;
            } else {
                std::cerr << argv[0] << ": unknown engine '" << engine << "'\n";
                usage(std::cerr, argv[0]);
                return 2;
            }
        } else if (arg == "--help" || arg == "-h") {
            usage(std::cout, argv[0]);
            return 0;
        } else if (arg.empty() || arg[0] == '-' || have_endpoint) {
            usage(std::cerr, argv[0]);
            return 2;
        } else {
            opts.endpoint = arg; // "" (not given): the default
            have_endpoint = true;
        }
    }
    if (following && rounds > 0) {
        usage(std::cerr, argv[0]);
        return 2;
    }

    const char *doing = "cannot watch"; // what failed, for the message
    try {
        ww::watcher w(opts);
        doing = "engine not ready";
        w.wait_ready(std::chrono::seconds(10)); // throws on timeout too

        if (following) {
            if (!catch_stop_signals()) {
                std::perror("cannot catch SIGINT and SIGTERM");
                return 1;
            }
            // The listing below shows everything published so far: it needs
            // no wake-up of its own.
            doing = "no event descriptor";
            (void)w.acknowledge();
        }

        doing = "no snapshot";
        ww::snapshot s = w.snapshot();
        print_snapshot(s);

        if (following) {
            doing = "nothing changes anymore";
            // The watcher's destructor closes the event descriptor after
            // follow() is done polling it.
            return follow(w, s);
        }

        std::uint64_t shown = s.generation();
        for (; rounds > 0; rounds--) {
            std::this_thread::sleep_for(std::chrono::seconds(1));
            s = w.snapshot(); // the previous one is freed here
            if (s.generation() != shown) {
                std::cout << '\n';
                print_snapshot(s);
                shown = s.generation();
            }
        }
    } catch (const ww::error &e) {
        std::cerr << doing << ": " << e.status_name() << ": " << e.what() << '\n';
        return 1;
    } catch (const std::exception &e) {
        std::cerr << doing << ": " << e.what() << '\n';
        return 1;
    }
    return 0;
}
