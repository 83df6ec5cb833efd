/*
 * watch: the alive containers of a Docker or containerd engine, grouped by
 * compose project, as libwhalewatcher sees them: the C++ twin of
 * c-examples/watch.c (same output), using include/whalewatcher.hpp.
 *
 * Usage: watch [--engine docker|containerd] [--watch N] [ENDPOINT]
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
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <whalewatcher.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>

namespace ww = whalewatcher;

namespace {

void usage(std::ostream &to, const char *prog) {
    to << "usage: " << prog << " [--engine docker|containerd] [--watch N] [ENDPOINT]\n";
}

void print_snapshot(const ww::snapshot &s) {
    // Docker's IDs are 64 hex digits, shown abbreviated as docker does;
    // containerd's are names, shown in full.
    const bool abbreviate = s.engine_type() == "docker.com";
    std::cout << "engine " << s.engine_type() << ' ' << s.engine_version() << " at " << s.engine_endpoint()
              << " (PID " << s.engine_pid() << "), generation " << s.generation() << '\n';
    if (s.containers().empty()) {
        std::cout << "no alive containers\n";
    }
    for (ww::project_view project : s.projects()) {
        if (project.unnamed()) {
            if (project.empty()) {
                continue; // the unnamed project is always there, maybe empty
            }
            std::cout << "project \"\" (unnamed):\n";
        } else {
            std::cout << "project \"" << project.name() << "\":\n";
        }
        for (ww::container_view c : project.containers()) {
            std::cout << "  " << (c.paused() ? "paused " : "") << "container '" << c.name() << "' (ID "
                      << (abbreviate ? c.id().substr(0, 12) : c.id()) << ", PID " << c.pid() << ")\n";
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

} // namespace

int main(int argc, char **argv) {
    ww::options opts;
    bool have_endpoint = false;
    long rounds = 0;

    for (int i = 1; i < argc; i++) {
        std::string_view arg = argv[i];
        if (arg == "--watch" && i + 1 < argc) {
            rounds = parse_count(argv[++i]);
            if (rounds < 0) {
                usage(std::cerr, argv[0]);
                return 2;
            }
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

    const char *doing = "cannot watch"; // what failed, for the message
    try {
        ww::watcher w(opts);
        doing = "engine not ready";
        w.wait_ready(std::chrono::seconds(10)); // throws on timeout too
        doing = "no snapshot";

        ww::snapshot s = w.snapshot();
        print_snapshot(s);
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
