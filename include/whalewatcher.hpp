/*
 * libwhalewatcher for C++17: a header-only wrapper of the C API in
 * whalewatcher.h (which it includes; link with -lwhalewatcher as for C).
 *
 *   #include <whalewatcher.hpp>
 *   namespace ww = whalewatcher;
 *
 *   ww::options opts;                       // Docker at its default endpoint
 *   opts.endpoint = "unix:///run/docker.sock";
 *   ww::watcher w{opts};                    // starts watching; throws ww::error
 *   if (!w.ready(std::chrono::seconds(10))) // first sync; false on timeout,
 *       return 1;                           // throws once the watcher gave up
 *   ww::snapshot s = w.snapshot();          // cheap: takes a reference
 *   for (ww::container_view c : s.containers())
 *       std::cout << c.engine().type() << ' ' << c.project() << ' ' << c.name() << ' ' << c.pid() << '\n';
 *   if (auto c = s.find(id)) std::cout << c->image() << '\n';
 *
 *   std::thread follower([&w, s]() mutable {  // follow the changes
 *       try {
 *           for (;;) {
 *               if (!w.wait(s, std::chrono::seconds(5)))
 *                   continue;               // nothing new within 5 s
 *               ww::snapshot next = w.snapshot();
 *               for (ww::change ch : ww::diff(s, next))
 *                   std::cout << ww::name(ch.kind()) << ' ' << ch.container().name() << '\n';
 *               s = next;
 *           }
 *       } catch (const ww::error &e) {      // WW_STATUS_CLOSED after shutdown()
 *           if (e.status() != WW_STATUS_CLOSED) std::cerr << e.what() << '\n';
 *       }
 *   });
 *   ...
 *   w.shutdown();                           // any thread: the follower's wait() throws
 *   follower.join();                        // then w may go
 *
 *   for (const ww::discovered_endpoint &e : ww::discover())  // the engines this host runs
 *       std::cout << ww::name(e.kind) << ' ' << e.endpoint << " PID " << e.pid << '\n';
 *   ww::options all;                        // or all of them in one watcher,
 *   all.engine = ww::engine_kind::automatic; // found again every 10 s
 *
 *   ww::options tls;                        // Docker over TLS (dockerd --tlsverify)
 *   tls.endpoint = "https://docker.example:2376";
 *   tls.tls_ca = "/etc/docker/ca.pem";      // "": from DOCKER_CERT_PATH, else ~/.docker
 *   tls.audit_interval = std::chrono::seconds(10); // audits (default 60 s; audits_off)
 *
 * Ownership
 * - `watcher` owns one ww_watcher: move-only; its destructor (or close())
 *   calls ww_close. A moved-from watcher holds nothing: ready*(), wait(),
 *   snapshot(), event_fd() and acknowledge() then throw `error` with
 *   WW_STATUS_NULL_ARG (try_*() return it), shutdown(), close() and the
 *   destructor do nothing. A closed watcher holds nothing either; its calls
 *   throw `error` with WW_STATUS_CLOSED (try_*() return it).
 * - `snapshot` shares one ww_portfolio (std::shared_ptr whose deleter is
 *   ww_snapshot_free): copying is cheap (a reference count), the last copy
 *   frees it, also long after the watcher is gone. A default-constructed or
 *   moved-from snapshot is empty: generation 0, no containers, projects or
 *   engines.
 * - `changes` (what diff() returns) shares one array of ww_diff (freed with
 *   ww_changes_free by the last copy) and holds copies of both snapshots
 *   compared, so the changes' containers stay valid as long as it.
 * - `container_view`, `project_view`, `engine_view`, `label`, `change`, the
 *   ranges and every std::string_view they hand out BORROW from the
 *   snapshot (or `changes`) they came from: keep (a copy of) that alive
 *   while using them.
 * - discover() returns values (`discovered_endpoint`, owning their strings):
 *   the library's array is copied and freed at once.
 *
 * Errors
 * - Failures throw `whalewatcher::error` (a std::runtime_error): status() is
 *   the ww_status, what() the library's message (ww_last_error_message(),
 *   read on the failing thread right after the failing call), or the
 *   wrapper's own message for arguments it refuses before calling the
 *   library (status WW_STATUS_INVALID_ARG) and for calls of a closed
 *   watcher (WW_STATUS_CLOSED).
 * - In a child process forked after the watcher was made, the calls that
 *   wait or watch (ready*(), wait(), event_fd(), acknowledge()) throw
 *   `error` WW_STATUS_FORKED (try_*() return it): the watcher's thread runs
 *   in the parent only (see Threads).
 * - watcher::ready() and watcher::wait() return false on timeout instead of
 *   throwing; watcher::wait_ready() throws on timeout too; try_ready() and
 *   try_wait() never throw and return the raw status (then
 *   last_error_message() tells why, unless the watcher was closed).
 * - Accessors of snapshots, views and changes never throw and never fail.
 *
 * Threads
 * - A watcher may be used (ready*, wait, snapshot, event_fd, acknowledge,
 *   shutdown, close) from any number of threads at the same time.
 * - shutdown() stops a watcher from any thread at any time without
 *   releasing it: the threads blocked in its ready*() or wait() wake and
 *   throw `error` WW_STATUS_CLOSED (try_* return it), and so does every
 *   later ready*() or wait(), at once; snapshot() keeps working. To stop
 *   threads that use a watcher: shutdown(), join them, destroy it.
 * - close() may also run while other threads use the watcher: it shuts it
 *   down, waits until the calls in progress have returned (at once), then
 *   releases it (ww_close); later calls throw `error` WW_STATUS_CLOSED.
 * - Destroying, moving, assigning or swapping a watcher object must be the
 *   last use of it, with one exception: it may be destroyed while other
 *   threads are inside its calls, e.g. blocked in wait(). Those end with
 *   WW_STATUS_CLOSED and touch the object no more; the destructor returns
 *   once they have left. A thread that may still begin a call (e.g. one
 *   that loops over wait() and snapshot()) is stopped first: shutdown()
 *   (or close()), then join it.
 * - A snapshot is immutable: read it from any thread; distinct snapshot
 *   objects sharing one portfolio may be copied and destroyed concurrently
 *   (std::shared_ptr rules). The same holds for `changes`.
 * - event_fd() serves one consumer: acknowledge() from one thread only.
 * - fork(): a process may fork while watchers live. In the child,
 *   snapshot() answers with the last snapshot published before the fork
 *   (it changes no more); ready*(), wait(), event_fd() and acknowledge()
 *   throw `error` WW_STATUS_FORKED at once (try_* return it); shutdown()
 *   does nothing; close() and the destructor release the watcher at once,
 *   without waiting for the calls the parent's threads had in progress at
 *   the fork (they are not in the child), so in the child close() must not
 *   run while other threads of the child use the watcher. The parent's
 *   watcher is unaffected.
 *
 * SPDX-License-Identifier: Apache-2.0
 */

#ifndef WHALEWATCHER_HPP
#define WHALEWATCHER_HPP

#if !defined(__cplusplus) || (__cplusplus < 201703L && !(defined(_MSVC_LANG) && _MSVC_LANG >= 201703L))
#error "whalewatcher.hpp needs C++17 or later"
#endif

#include "whalewatcher.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

/* The wrapper is written against this ABI of the C header; a header with a
 * different one needs a matching whalewatcher.hpp. */
static_assert(WW_ABI_VERSION == 2, "whalewatcher.hpp does not match the ABI version of whalewatcher.h");

namespace whalewatcher {

/* ------------------------------------------------------------------ */
/* Versions and statuses                                               */
/* ------------------------------------------------------------------ */

/// The version of the header compiled against, e.g. "0.2.0".
inline constexpr std::string_view header_version = WW_VERSION_STRING;

/// The ABI version of the header compiled against (WW_ABI_VERSION).
inline constexpr std::uint32_t header_abi_version = WW_ABI_VERSION;

/// The version of the library actually loaded, e.g. "0.2.0" (ww_version()).
[[nodiscard]] inline std::string_view version() noexcept {
    const char *v = ww_version();
    return v != nullptr ? std::string_view(v) : std::string_view();
}

/// The ABI version of the library actually loaded (ww_abi_version()).
[[nodiscard]] inline std::uint32_t abi_version() noexcept { return ww_abi_version(); }

/// The static name of a status, e.g. "engine" (ww_status_str()).
[[nodiscard]] inline std::string_view status_name(ww_status s) noexcept {
    const char *n = ww_status_str(s);
    return n != nullptr ? std::string_view(n) : std::string_view();
}

/// The library's message about the last failed ww_* call on this thread
/// ("" if none); valid until the next failing call on this thread.
[[nodiscard]] inline std::string_view last_error_message() noexcept {
    const char *m = ww_last_error_message();
    return m != nullptr ? std::string_view(m) : std::string_view();
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/// A failed call: the ww_status and the message why.
class error : public std::runtime_error {
public:
    error(ww_status status, const std::string &message) : std::runtime_error(message), status_(status) {}
    error(ww_status status, const char *message) : std::runtime_error(message), status_(status) {}

    /// The WW_STATUS_* of the failure (never WW_STATUS_OK).
    [[nodiscard]] ww_status status() const noexcept { return status_; }

    /// The static name of status(), e.g. "engine".
    [[nodiscard]] std::string_view status_name() const noexcept { return whalewatcher::status_name(status_); }

private:
    ww_status status_;
};

/* ------------------------------------------------------------------ */
/* Enumerations                                                        */
/* ------------------------------------------------------------------ */

/// Which container engine to watch (ww_engine).
enum class engine_kind : ww_engine {
    docker = WW_ENGINE_DOCKER,         ///< Docker, or another engine speaking the Docker API
    containerd = WW_ENGINE_CONTAINERD, ///< containerd, in all namespaces but the ignored ones
    cri = WW_ENGINE_CRI,               ///< a runtime speaking Kubernetes' CRI API (CRI-O, containerd's CRI plugin)
    podman = WW_ENGINE_PODMAN,         ///< podman's API service (`podman system service`)
    /// Options only (an engine_view is never of this kind): every engine
    /// this host runs, as discover() finds them, at start and every
    /// options::discover_interval, in one watcher; the endpoint must be "".
    automatic = WW_ENGINE_AUTO,
};

/// Where a watcher stands with one engine (ww_engine_state).
enum class engine_state : ww_engine_state {
    connecting = WW_ENGINE_STATE_CONNECTING, ///< not synchronised yet: none of its containers shown
    synced = WW_ENGINE_STATE_SYNCED,         ///< following its events: its containers are current
    resyncing = WW_ENGINE_STATE_RESYNCING,   ///< lost it: the last synchronised state, reconnecting
    gave_up = WW_ENGINE_STATE_GAVE_UP,       ///< no retries left: the last synchronised state, final
};

/// How a container changed between two snapshots (ww_change_kind).
enum class change_kind : ww_change_kind {
    started = WW_CHANGE_STARTED,   ///< in `to` only, or a new incarnation: after() is set
    exited = WW_CHANGE_EXITED,     ///< in `from` only, or the old incarnation: before() is set
    paused = WW_CHANGE_PAUSED,     ///< paused in `to`, not in `from`: both set
    unpaused = WW_CHANGE_UNPAUSED, ///< paused in `from`, not in `to`: both set
    updated = WW_CHANGE_UPDATED,   ///< another name, project, labels or other details: both set
};

/// How the watcher retries after the engine went away or failed (ww_backoff).
enum class backoff_policy : ww_backoff {
    none = WW_BACKOFF_NONE,               ///< the first failure ends the watch
    constant = WW_BACKOFF_CONSTANT,       ///< every backoff_initial
    exponential = WW_BACKOFF_EXPONENTIAL, ///< from backoff_initial, x1.5, up to backoff_max
};

/// "docker", "containerd", "cri", "podman", "auto"; "unknown" for other values.
[[nodiscard]] constexpr std::string_view name(engine_kind k) noexcept {
    switch (k) {
    case engine_kind::docker:
        return "docker";
    case engine_kind::containerd:
        return "containerd";
    case engine_kind::cri:
        return "cri";
    case engine_kind::podman:
        return "podman";
    case engine_kind::automatic:
        return "auto";
    }
    return "unknown";
}

/// "connecting", "synced", "resyncing", "gave up"; "unknown" for other values.
[[nodiscard]] constexpr std::string_view name(engine_state s) noexcept {
    switch (s) {
    case engine_state::connecting:
        return "connecting";
    case engine_state::synced:
        return "synced";
    case engine_state::resyncing:
        return "resyncing";
    case engine_state::gave_up:
        return "gave up";
    }
    return "unknown";
}

/// "started", "exited", "paused", "unpaused", "updated"; "unknown" for other values.
[[nodiscard]] constexpr std::string_view name(change_kind k) noexcept {
    switch (k) {
    case change_kind::started:
        return "started";
    case change_kind::exited:
        return "exited";
    case change_kind::paused:
        return "paused";
    case change_kind::unpaused:
        return "unpaused";
    case change_kind::updated:
        return "updated";
    }
    return "unknown";
}

namespace detail {

/// Throws `error` for status `s` with this thread's last error message,
/// which must be read before any other ww_* call on this thread.
[[noreturn]] inline void throw_last_error(ww_status s) {
    const char *m = ww_last_error_message();
    if (m == nullptr || *m == '\0') {
        m = ww_status_str(s);
    }
    throw error(s, m != nullptr ? m : "unknown error");
}

[[noreturn]] inline void throw_invalid(const std::string &message) {
    throw error(WW_STATUS_INVALID_ARG, "whalewatcher: " + message);
}

/// A library string as a view; NULL (never handed out) becomes "".
[[nodiscard]] inline std::string_view sv(const char *s) noexcept {
    return s != nullptr ? std::string_view(s) : std::string_view();
}

/// A timeout for ww_ready / ww_wait: negative = no limit, clamped to INT32_MAX ms.
[[nodiscard]] inline std::int32_t timeout_ms(std::chrono::milliseconds t) noexcept {
    if (t.count() < 0) {
        return -1;
    }
    if (t.count() > std::numeric_limits<std::int32_t>::max()) {
        return std::numeric_limits<std::int32_t>::max();
    }
    return static_cast<std::int32_t>(t.count());
}

/// A duration option as the uint32_t milliseconds of ww_options.
[[nodiscard]] inline std::uint32_t option_ms(std::chrono::milliseconds t, const char *what) {
    if (t.count() < 0 || t.count() > std::numeric_limits<std::uint32_t>::max()) {
        throw_invalid(std::string("options.") + what + " out of range: " + std::to_string(t.count()) + " ms");
    }
    return static_cast<std::uint32_t>(t.count());
}

/// A string option as the NUL-terminated string of ww_options: NULL for
/// "" (not given); one with a NUL byte is refused.
[[nodiscard]] inline const char *option_string(const std::string &s, const char *what) {
    if (s.find('\0') != std::string::npos) {
        throw_invalid(std::string("options.") + what + " contains a NUL byte");
    }
    return s.empty() ? nullptr : s.c_str();
}

/// Unix nanoseconds as a wall-clock time; 0 ("unknown", "never") is nullopt.
[[nodiscard]] inline std::optional<std::chrono::system_clock::time_point> wall_clock(std::int64_t ns) noexcept {
    if (ns == 0) {
        return std::nullopt;
    }
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(ns)));
}

/// Blocks SIGPIPE on the calling thread for its life; the threads it starts
/// meanwhile inherit that mask. A SIGPIPE raised on such a thread (a write
/// to a socket whose peer hung up) stays pending there instead of ending
/// the program, and goes with the thread.
class sigpipe_blocked {
public:
    sigpipe_blocked() noexcept {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        blocked_ = pthread_sigmask(SIG_BLOCK, &set, &old_) == 0;
    }
    ~sigpipe_blocked() {
        if (blocked_) {
            pthread_sigmask(SIG_SETMASK, &old_, nullptr);
        }
    }
    sigpipe_blocked(const sigpipe_blocked &) = delete;
    sigpipe_blocked &operator=(const sigpipe_blocked &) = delete;

private:
    sigset_t old_{};
    bool blocked_ = false;
};

/// What a view of a snapshot needs besides its C struct: the portfolio it
/// is part of (for engine indices). Views of labels need nothing.
struct no_context {};

/// The portfolios a change's containers are in: `from` (NULL for
/// "nothing") and `to`.
struct change_context {
    const ww_portfolio *from = nullptr;
    const ww_portfolio *to = nullptr;
};

/// A random-access range over a C array of `C`, yielding `View`s by value
/// (a proxy iterator, like std::vector<bool>'s), each made from one element
/// and the range's `Ctx`. A NULL array is empty.
template <class C, class View, class Ctx>
class array_range {
    [[nodiscard]] static View make(const C &c, const Ctx &ctx) noexcept {
        if constexpr (std::is_same_v<Ctx, no_context>) {
            (void)ctx;
            return View(c);
        } else {
            return View(c, ctx);
        }
    }

public:
    class iterator {
    public:
        using iterator_category = std::random_access_iterator_tag;
        using value_type = View;
        using difference_type = std::ptrdiff_t;
        using reference = View;
        struct pointer {
            View view;
            const View *operator->() const noexcept { return &view; }
        };

        iterator() noexcept = default;
        iterator(const C *at, Ctx ctx) noexcept : at_(at), ctx_(ctx) {}

        reference operator*() const noexcept { return make(*at_, ctx_); }
        pointer operator->() const noexcept { return pointer{make(*at_, ctx_)}; }
        reference operator[](difference_type n) const noexcept { return make(at_[n], ctx_); }

        iterator &operator++() noexcept {
            ++at_;
            return *this;
        }
        iterator operator++(int) noexcept {
            iterator old = *this;
            ++at_;
            return old;
        }
        iterator &operator--() noexcept {
            --at_;
            return *this;
        }
        iterator operator--(int) noexcept {
            iterator old = *this;
            --at_;
            return old;
        }
        iterator &operator+=(difference_type n) noexcept {
            at_ += n;
            return *this;
        }
        iterator &operator-=(difference_type n) noexcept {
            at_ -= n;
            return *this;
        }
        friend iterator operator+(iterator i, difference_type n) noexcept { return i += n; }
        friend iterator operator+(difference_type n, iterator i) noexcept { return i += n; }
        friend iterator operator-(iterator i, difference_type n) noexcept { return i -= n; }
        friend difference_type operator-(iterator a, iterator b) noexcept { return a.at_ - b.at_; }

        friend bool operator==(iterator a, iterator b) noexcept { return a.at_ == b.at_; }
        friend bool operator!=(iterator a, iterator b) noexcept { return a.at_ != b.at_; }
        friend bool operator<(iterator a, iterator b) noexcept { return a.at_ < b.at_; }
        friend bool operator>(iterator a, iterator b) noexcept { return a.at_ > b.at_; }
        friend bool operator<=(iterator a, iterator b) noexcept { return a.at_ <= b.at_; }
        friend bool operator>=(iterator a, iterator b) noexcept { return a.at_ >= b.at_; }

    private:
        const C *at_ = nullptr;
        Ctx ctx_{};
    };

    using value_type = View;
    using size_type = std::size_t;
    using const_iterator = iterator;

    array_range() noexcept = default;
    array_range(const C *data, std::size_t size, Ctx ctx = Ctx()) noexcept
        : data_(data), size_(data != nullptr ? size : 0), ctx_(ctx) {}

    [[nodiscard]] iterator begin() const noexcept { return iterator(data_, ctx_); }
    [[nodiscard]] iterator end() const noexcept { return iterator(data_ + size_, ctx_); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    /// The `i`th element; `i` < size().
    [[nodiscard]] View operator[](std::size_t i) const noexcept { return make(data_[i], ctx_); }
    /// The first / last element; not empty().
    [[nodiscard]] View front() const noexcept { return make(data_[0], ctx_); }
    [[nodiscard]] View back() const noexcept { return make(data_[size_ - 1], ctx_); }
    /// The C array (NULL when empty).
    [[nodiscard]] const C *data() const noexcept { return size_ != 0 ? data_ : nullptr; }

private:
    const C *data_ = nullptr;
    std::size_t size_ = 0;
    Ctx ctx_{};
};

} // namespace detail

/* ------------------------------------------------------------------ */
/* Views of a snapshot (borrowed: valid while the snapshot lives)      */
/* ------------------------------------------------------------------ */

/// One label of a container: key() and value() (maybe "").
class label {
public:
    explicit label(const ww_label &l) noexcept : l_(&l) {}
    [[nodiscard]] std::string_view key() const noexcept { return detail::sv(l_->key); }
    [[nodiscard]] std::string_view value() const noexcept { return detail::sv(l_->value); }
    [[nodiscard]] const ww_label &raw() const noexcept { return *l_; }

private:
    const ww_label *l_;
};

/// The labels of a container, sorted by key.
using label_range = detail::array_range<ww_label, label, detail::no_context>;

/// One engine of a watcher: its identity and where the watcher stands with it.
class engine_view {
public:
    explicit engine_view(const ww_engine_info &e) noexcept : e_(&e) {}

    /// engine_kind::docker, containerd, cri or podman (never automatic: an
    /// engine_kind::automatic watcher shows each engine it found by its own kind).
    [[nodiscard]] engine_kind kind() const noexcept { return static_cast<engine_kind>(e_->kind); }
    /// "docker.com", "containerd.io", "podman.io" or "k8s.io/cri-api".
    [[nodiscard]] std::string_view type() const noexcept { return detail::sv(e_->type); }
    /// The engine's ID, "" until first contact (containerd: the server UUID;
    /// podman, which has none: "HOST:STORAGE_ROOT", the same across its
    /// restarts; CRI, which has none either: the host's name).
    [[nodiscard]] std::string_view id() const noexcept { return detail::sv(e_->id); }
    /// The engine's version, "" until first contact (containerd: version and
    /// revision; CRI: runtime name and version).
    [[nodiscard]] std::string_view version() const noexcept { return detail::sv(e_->version); }
    /// The endpoint in use, e.g. "unix:///var/run/docker.sock".
    [[nodiscard]] std::string_view endpoint() const noexcept { return detail::sv(e_->endpoint); }
    /// The PID (in the caller's PID namespace) of the process listening on
    /// the engine's unix socket (the engine itself unless the socket was
    /// handed to it or belongs to a proxy); 0 if unknown (TCP, or before
    /// first contact).
    [[nodiscard]] int pid() const noexcept { return static_cast<int>(e_->pid); }
    [[nodiscard]] engine_state state() const noexcept { return static_cast<engine_state>(e_->state); }
    /// The wall clock of the last completed synchronisation; nullopt if none.
    [[nodiscard]] std::optional<std::chrono::system_clock::time_point> synced_at() const noexcept {
        return detail::wall_clock(e_->synced_at_ns);
    }
    /// The latest engine trouble, "" if none since the last synchronisation.
    [[nodiscard]] std::string_view last_error() const noexcept { return detail::sv(e_->last_error); }
    /// How often the watcher's audits (options::audit_interval) found its
    /// picture of this engine differing from the engine's own and repaired
    /// it: 0 while the events tell everything.
    [[nodiscard]] std::uint64_t repairs() const noexcept { return e_->repairs; }
    [[nodiscard]] const ww_engine_info &raw() const noexcept { return *e_; }

private:
    const ww_engine_info *e_;
};

/// The engines of a snapshot, in the order the watcher found them (an engine
/// keeps its index for the watcher's life).
using engine_range = detail::array_range<ww_engine_info, engine_view, detail::no_context>;

/// One alive container.
class container_view {
public:
    /// `c` must be one of `p`'s containers.
    container_view(const ww_container &c, const ww_portfolio *p) noexcept : c_(&c), p_(p) {}

    /// The engine's full ID; containerd: "NS/ID", or "ID" in namespace "default".
    [[nodiscard]] std::string_view id() const noexcept { return detail::sv(c_->id); }
    /// Docker, podman: the name without '/'; containerd: label nerdctl/name
    /// (else the ID), namespaced like the ID; CRI: the container's name in
    /// its pod, a sandbox's its pod's name.
    [[nodiscard]] std::string_view name() const noexcept { return detail::sv(c_->name); }
    /// The compose project (label com.docker.compose.project), "" if none.
    [[nodiscard]] std::string_view project() const noexcept { return detail::sv(c_->project); }
    /// The image reference as the engine names it, "" if unknown.
    [[nodiscard]] std::string_view image() const noexcept { return detail::sv(c_->image); }
    /// The content-addressed image ID or digest ("sha256:..."), "" if unknown.
    [[nodiscard]] std::string_view image_id() const noexcept { return detail::sv(c_->image_id); }
    /// When its current initial process started; nullopt if unknown.
    [[nodiscard]] std::optional<std::chrono::system_clock::time_point> started_at() const noexcept {
        return detail::wall_clock(c_->started_at_ns);
    }
    /// The PID of the initial process (in the engine's PID namespace), > 0.
    [[nodiscard]] int pid() const noexcept { return static_cast<int>(c_->pid); }
    [[nodiscard]] bool paused() const noexcept { return c_->paused; }
    /// Runs privileged (Docker: HostConfig.Privileged); false if unknown.
    [[nodiscard]] bool privileged() const noexcept { return c_->privileged; }
    /// The pod's name, namespace and UID (Kubernetes; podman: its pod's name
    /// and ID, no namespace); "" outside pods.
    [[nodiscard]] std::string_view pod_name() const noexcept { return detail::sv(c_->pod_name); }
    [[nodiscard]] std::string_view pod_namespace() const noexcept { return detail::sv(c_->pod_namespace); }
    [[nodiscard]] std::string_view pod_uid() const noexcept { return detail::sv(c_->pod_uid); }
    /// A pod's sandbox (Kubernetes) or infra (podman) container.
    [[nodiscard]] bool pod_sandbox() const noexcept { return c_->pod_sandbox; }
    /// All labels, sorted by key.
    [[nodiscard]] label_range labels() const noexcept { return label_range(c_->labels, c_->labels_len); }
    /// The value of label `key`, if the container has it (binary search).
    [[nodiscard]] std::optional<std::string_view> find_label(std::string_view key) const noexcept {
        std::size_t lo = 0, hi = c_->labels != nullptr ? c_->labels_len : 0;
        while (lo < hi) {
            std::size_t mid = lo + (hi - lo) / 2;
            int cmp = detail::sv(c_->labels[mid].key).compare(key);
            if (cmp == 0) {
                return detail::sv(c_->labels[mid].value);
            }
            if (cmp < 0) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return std::nullopt;
    }
    /// The index of the engine running it in its snapshot's engines().
    [[nodiscard]] std::size_t engine_index() const noexcept { return c_->engine; }
    /// The engine running it.
    [[nodiscard]] engine_view engine() const noexcept { return engine_view(p_->engines[c_->engine]); }
    [[nodiscard]] const ww_container &raw() const noexcept { return *c_; }
    /// The C portfolio it is part of.
    [[nodiscard]] const ww_portfolio &portfolio() const noexcept { return *p_; }

private:
    const ww_container *c_;
    const ww_portfolio *p_;
};

/// Containers, sorted by (engine, project, name, id).
using container_range = detail::array_range<ww_container, container_view, const ww_portfolio *>;

/// A compose project of one engine and its containers (a slice of
/// snapshot::containers()).
class project_view {
public:
    /// `p` must be one of `portfolio`'s projects.
    project_view(const ww_project &p, const ww_portfolio *portfolio) noexcept : p_(&p), portfolio_(portfolio) {}

    /// "" for the unnamed project.
    [[nodiscard]] std::string_view name() const noexcept { return detail::sv(p_->name); }
    [[nodiscard]] bool unnamed() const noexcept { return name().empty(); }
    [[nodiscard]] container_range containers() const noexcept {
        return container_range(p_->containers, p_->containers_len, portfolio_);
    }
    [[nodiscard]] std::size_t size() const noexcept { return containers().size(); }
    [[nodiscard]] bool empty() const noexcept { return containers().empty(); }
    /// The index of its engine in its snapshot's engines(): projects are per engine.
    [[nodiscard]] std::size_t engine_index() const noexcept { return p_->engine; }
    [[nodiscard]] engine_view engine() const noexcept { return engine_view(portfolio_->engines[p_->engine]); }
    [[nodiscard]] const ww_project &raw() const noexcept { return *p_; }

private:
    const ww_project *p_;
    const ww_portfolio *portfolio_;
};

/// Projects: per engine, in engine order, its unnamed "" one (maybe empty),
/// then its named ones by name.
using project_range = detail::array_range<ww_project, project_view, const ww_portfolio *>;

/* ------------------------------------------------------------------ */
/* snapshot                                                            */
/* ------------------------------------------------------------------ */

/// The alive containers at one generation: immutable, shared, cheap to copy.
class snapshot {
public:
    /// An empty snapshot (no portfolio).
    snapshot() noexcept = default;

    /// Takes ownership of `p` from ww_snapshot (freed with ww_snapshot_free
    /// by the last copy; NULL gives an empty snapshot). If allocating the
    /// shared state throws, `p` is freed first.
    explicit snapshot(const ww_portfolio *p) {
        if (p != nullptr) {
            p_.reset(p, [](const ww_portfolio *q) noexcept { ww_snapshot_free(q); });
        }
    }

    /// False for an empty (default-constructed or moved-from) snapshot.
    [[nodiscard]] bool valid() const noexcept { return p_ != nullptr; }
    explicit operator bool() const noexcept { return valid(); }

    /// 0 at the watcher's start (every engine connecting); grows with every
    /// published change.
    [[nodiscard]] std::uint64_t generation() const noexcept { return p_ ? p_->generation : 0; }

    /// All alive containers, sorted by (engine, project, name, id).
    [[nodiscard]] container_range containers() const noexcept {
        return p_ ? container_range(p_->containers, p_->containers_len, p_.get()) : container_range();
    }
    /// Per engine, in engine order: its unnamed "" project (maybe empty),
    /// then its named ones by name (empty only for an empty snapshot).
    [[nodiscard]] project_range projects() const noexcept {
        return p_ ? project_range(p_->projects, p_->projects_len, p_.get()) : project_range();
    }
    /// The watcher's engines, in the order found (at least one; none for an
    /// empty snapshot, or an engine_kind::automatic watcher that found none).
    [[nodiscard]] engine_range engines() const noexcept {
        return p_ ? engine_range(p_->engines, p_->engines_len) : engine_range();
    }

    /// The container with full ID `id`, if alive (ww_portfolio_find_id:
    /// O(log n)); of several engines with one, the lowest engine index's.
    [[nodiscard]] std::optional<container_view> find(std::string_view id) const noexcept {
        if (!p_ || id.find('\0') != std::string_view::npos) {
            return std::nullopt;
        }
        char buf[256];
        if (id.size() < sizeof buf) {
            std::memcpy(buf, id.data(), id.size());
            buf[id.size()] = '\0';
            return view(ww_portfolio_find_id(p_.get(), buf));
        }
        // No ID is this long; look anyway, in order (engine first, so the
        // lowest engine index's), without allocating.
        for (container_view c : containers()) {
            if (c.id() == id) {
                return c;
            }
        }
        return std::nullopt;
    }
    /// The container whose initial process has PID `pid`, if any
    /// (ww_portfolio_find_pid: O(log n)); of several engines with one, the
    /// lowest engine index's.
    [[nodiscard]] std::optional<container_view> find_pid(int pid) const noexcept {
        if (!p_) {
            return std::nullopt;
        }
        return view(ww_portfolio_find_pid(p_.get(), static_cast<std::int32_t>(pid)));
    }
    /// The container named `name` (as container_view::name() spells it), if
    /// alive; the first in containers() order if several share it. O(n).
    [[nodiscard]] std::optional<container_view> find_by_name(std::string_view name) const noexcept {
        for (container_view c : containers()) {
            if (c.name() == name) {
                return c;
            }
        }
        return std::nullopt;
    }
    /// The project `name` of the lowest-index engine that has one ("" is
    /// the unnamed one, always there for every engine of a valid snapshot);
    /// named projects exist only while they have containers.
    [[nodiscard]] std::optional<project_view> project(std::string_view name) const noexcept {
        for (project_view p : projects()) {
            if (p.name() == name) {
                return p;
            }
        }
        return std::nullopt;
    }

    /// The C portfolio (NULL when empty); owned by this snapshot and its copies.
    [[nodiscard]] const ww_portfolio *get() const noexcept { return p_.get(); }

private:
    [[nodiscard]] std::optional<container_view> view(const ww_container *c) const noexcept {
        if (c == nullptr) {
            return std::nullopt;
        }
        return container_view(*c, p_.get());
    }

    std::shared_ptr<const ww_portfolio> p_;
};

/* ------------------------------------------------------------------ */
/* diff                                                                */
/* ------------------------------------------------------------------ */

/// One change of one container between two snapshots.
class change {
public:
    change(const ww_change &c, detail::change_context ctx) noexcept : c_(&c), ctx_(ctx) {}

    [[nodiscard]] change_kind kind() const noexcept { return static_cast<change_kind>(c_->kind); }
    /// The container in `from`; nullopt for change_kind::started.
    [[nodiscard]] std::optional<container_view> before() const noexcept {
        if (c_->before == nullptr) {
            return std::nullopt;
        }
        return container_view(*c_->before, ctx_.from);
    }
    /// The container in `to`; nullopt for change_kind::exited.
    [[nodiscard]] std::optional<container_view> after() const noexcept {
        if (c_->after == nullptr) {
            return std::nullopt;
        }
        return container_view(*c_->after, ctx_.to);
    }
    /// The container as it is now: after(), or before() for an exited one.
    [[nodiscard]] container_view container() const noexcept {
        return c_->after != nullptr ? container_view(*c_->after, ctx_.to) : container_view(*c_->before, ctx_.from);
    }
    [[nodiscard]] const ww_change &raw() const noexcept { return *c_; }

private:
    const ww_change *c_;
    detail::change_context ctx_;
};

/// What changed from one snapshot to another (ww_diff): every exited first,
/// then every started, then the rest, each group sorted by (engine, project,
/// name, id). Owns the C array (freed with ww_changes_free by the last copy)
/// and copies of both snapshots, which its containers point into.
class changes {
public:
    using range = detail::array_range<ww_change, change, detail::change_context>;
    using iterator = range::iterator;
    using const_iterator = iterator;
    using value_type = change;
    using size_type = std::size_t;

    /// No changes.
    changes() noexcept = default;

    /// Takes ownership of `array` of `len` changes from
    /// ww_diff(from.get(), to.get(), ...), freed with ww_changes_free by the
    /// last copy (also if allocating the shared state throws); NULL: none.
    changes(snapshot from, snapshot to, const ww_change *array, std::size_t len)
        : from_(std::move(from)), to_(std::move(to)) {
        if (array != nullptr) {
            array_.reset(array, [](const ww_change *a) noexcept { ww_changes_free(a); });
            size_ = len;
        }
    }

    [[nodiscard]] iterator begin() const noexcept { return items().begin(); }
    [[nodiscard]] iterator end() const noexcept { return items().end(); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    /// The `i`th change; `i` < size().
    [[nodiscard]] change operator[](std::size_t i) const noexcept { return items()[i]; }
    [[nodiscard]] change front() const noexcept { return items().front(); }
    [[nodiscard]] change back() const noexcept { return items().back(); }
    /// The C array (NULL when empty).
    [[nodiscard]] const ww_change *data() const noexcept { return items().data(); }

    /// The snapshots compared (`from` empty for "nothing").
    [[nodiscard]] const snapshot &from() const noexcept { return from_; }
    [[nodiscard]] const snapshot &to() const noexcept { return to_; }

private:
    [[nodiscard]] range items() const noexcept {
        return range(array_.get(), size_, detail::change_context{from_.get(), to_.get()});
    }

    snapshot from_, to_;
    std::shared_ptr<const ww_change> array_;
    std::size_t size_ = 0;
};

/// What changed from `from` to `to` (ww_diff). An empty `from` stands for
/// "nothing": every container of `to` started. A container is the same in
/// both when its engine (by endpoint), ID and PID are; otherwise the old one
/// exited and the new one started. One both paused (or resumed) and
/// otherwise changed has two changes, the pause first. Throws `error`:
/// WW_STATUS_NULL_ARG when `to` is empty, WW_STATUS_INTERNAL when memory
/// runs out; std::bad_alloc.
[[nodiscard]] inline changes diff(const snapshot &from, const snapshot &to) {
    const ww_change *array = nullptr;
    std::size_t len = 0;
    ww_status s = ww_diff(from.get(), to.get(), &array, &len);
    if (s != WW_STATUS_OK) {
        detail::throw_last_error(s);
    }
    return changes(from, to, array, len);
}

/// What changed from nothing to `to`: every container of `to` started.
[[nodiscard]] inline changes diff(const snapshot &to) { return diff(snapshot(), to); }

/* ------------------------------------------------------------------ */
/* options and watcher                                                 */
/* ------------------------------------------------------------------ */

/// What to watch and how; the defaults are the library's (ww_options_init).
/// A zero duration means the library's default for it.
struct options {
    engine_kind engine = engine_kind::docker;
    /// "" for the default: Docker: DOCKER_HOST, else unix:///var/run/docker.sock;
    /// containerd: CONTAINERD_ADDRESS, else /run/containerd/containerd.sock;
    /// podman: CONTAINER_HOST, else /run/podman/podman.sock for root and
    /// $XDG_RUNTIME_DIR/podman/podman.sock for other users; CRI:
    /// CONTAINER_RUNTIME_ENDPOINT, else /run/crio/crio.sock. Docker and
    /// podman take unix:///PATH, tcp://HOST:PORT and http://HOST:PORT, and
    /// Docker https://HOST:PORT (TLS, see tls_ca); containerd and CRI an
    /// absolute socket path or unix:///PATH.
    /// engine_kind::automatic finds its endpoints itself: leave it "".
    std::string endpoint;
    backoff_policy backoff = backoff_policy::exponential;
    /// First retry delay; 0: 500 ms.
    std::chrono::milliseconds backoff_initial{0};
    /// Cap of one retry delay; 0: 30 s.
    std::chrono::milliseconds backoff_max{0};
    /// Give up after this long without a healthy synchronisation; 0: never.
    std::chrono::milliseconds backoff_max_elapsed{0};
    /// Bound of every single engine call; 0: 10 s.
    std::chrono::milliseconds call_timeout{0};
    /// containerd (also found by engine_kind::automatic): namespaces not to
    /// watch. std::nullopt: the default, "moby" (Docker's own containers:
    /// watch them through Docker; Kubernetes' in "k8s.io" are watched); an
    /// empty vector: watch all namespaces.
    std::optional<std::vector<std::string>> ignored_namespaces;
    /// How often an engine that sends no events is listed again to learn
    /// what changed: CRI runtimes (unless cri_events), and a podman whose
    /// event log is off; 0: 1 s (kubelet's own relist interval).
    std::chrono::milliseconds cri_poll{0};
    /// CRI: also follow the runtime's GetContainerEvents stream (relisting
    /// stays on as its consistency check); false, the default, only
    /// relists. The stream is shared: on containerd 1.7 every subscriber
    /// takes events away from the others (kubelet's evented PLEG among
    /// them), so leave it off on Kubernetes nodes. A runtime without the
    /// call is only relisted.
    bool cri_events = false;
    /// engine_kind::automatic: how often discovery runs again to find
    /// engines started later and to retire engines gone; 0: 10 s;
    /// discover_only_at_start: never again after the start.
    std::chrono::milliseconds discover_interval{0};
    /// Docker over TLS, as the docker CLI does it: the CA certificate that
    /// signed the daemon's certificate, the client's certificate and its
    /// private key (PEM files). TLS is used for https:// endpoints, for
    /// tcp:// ones when DOCKER_TLS_VERIFY is set, and whenever any of the
    /// three is given; one not given ("") comes from DOCKER_CERT_PATH, else
    /// ~/.docker (ca.pem, cert.pem, key.pem). Only for engine_kind::docker
    /// with a tcp:// or https:// endpoint: otherwise the constructor throws
    /// WW_STATUS_INVALID_ARG. A file missing or not PEM is named by the
    /// engine's last_error() (ready() throws WW_STATUS_ENGINE with backoff
    /// none).
    std::string tls_ca;
    std::string tls_cert;
    std::string tls_key;
    /// How often a synchronised watcher compares the engine's list with its
    /// picture and repairs what differs (counted in engine_view::repairs()):
    /// what events missed is right again within one interval; 0: 60 s;
    /// audits_off: never.
    std::chrono::milliseconds audit_interval{0};

    /// discover_interval: discovery runs only at the start.
    static constexpr std::chrono::milliseconds discover_only_at_start = std::chrono::milliseconds::max();
    /// audit_interval: no audits.
    static constexpr std::chrono::milliseconds audits_off = std::chrono::milliseconds::max();
};

/// Throws `error` (WW_STATUS_ABI_MISMATCH) unless the loaded library has the
/// ABI version of the header compiled against. watcher's constructors call it.
inline void check_abi() {
    if (ww_abi_version() != WW_ABI_VERSION) {
        throw error(WW_STATUS_ABI_MISMATCH, "whalewatcher: the loaded library has ABI version " +
                                                std::to_string(ww_abi_version()) + ", the header " +
                                                std::to_string(WW_ABI_VERSION));
    }
}

/* ------------------------------------------------------------------ */
/* discover                                                            */
/* ------------------------------------------------------------------ */

/// One engine endpoint that answered discover(): a value, owning its strings.
struct discovered_endpoint {
    /// engine_kind::docker, containerd, cri or podman (a containerd with
    /// its CRI plugin is listed once, as containerd).
    engine_kind kind = engine_kind::docker;
    /// Usable as options::endpoint (with `kind` as options::engine):
    /// unix:///PATH or tcp://HOST:PORT. An engine in another mount
    /// namespace is reached through /proc/PID/root/...
    std::string endpoint;
    /// The PID of the engine process serving it (in the caller's PID
    /// namespace); 0 if unknown.
    int pid = 0;
    /// The socket's owner: a rootless engine's user; 0 for TCP.
    std::uint32_t uid = 0;
    /// How it was found: "env", "path" or "process".
    std::string found_by;

    /// Options that watch it: `kind` and `endpoint`, the rest the defaults.
    [[nodiscard]] whalewatcher::options options() const {
        whalewatcher::options o;
        o.engine = kind;
        o.endpoint = endpoint;
        return o;
    }
};

/// The container engines this host runs (ww_discover): from the environment
/// (DOCKER_HOST, CONTAINER_HOST, CONTAINERD_ADDRESS,
/// CONTAINER_RUNTIME_ENDPOINT), the engines' well-known sockets (system,
/// rootless under /run/user/UID, k3s, microk8s, CRI-O), and the unix sockets
/// that engine processes (dockerd, containerd, crio, podman, k3s) listen on,
/// also in other mount namespaces; each confirmed by one probe, all at once,
/// so the call takes at most about WW_DISCOVER_PROBE_TIMEOUT_MS (2 s). A
/// socket reachable by several paths is listed once; what does not answer
/// as an engine is not listed. Any thread. Throws `error`
/// (WW_STATUS_INTERNAL when no thread or runtime can be made),
/// std::bad_alloc.
[[nodiscard]] inline std::vector<discovered_endpoint> discover() {
    const ww_endpoint *array = nullptr;
    std::size_t len = 0;
    ww_status s;
    {
        // ww_discover probes on a thread of its own, which inherits this
        // thread's signal mask and leaves SIGPIPE as it finds it: a probe
        // that writes to a socket whose peer has hung up (e.g. one of
        // dockerd's auxiliary sockets) would otherwise end the program.
        const detail::sigpipe_blocked quiet;
        s = ww_discover(&array, &len);
    }
    if (s != WW_STATUS_OK) {
        detail::throw_last_error(s);
    }
    // Copied, then freed at once (also if copying throws).
    struct free_endpoints {
        void operator()(const ww_endpoint *a) const noexcept { ww_endpoints_free(a); }
    };
    const std::unique_ptr<const ww_endpoint, free_endpoints> owned(array);
    std::vector<discovered_endpoint> found;
    if (array != nullptr) {
        found.reserve(len);
        for (std::size_t i = 0; i < len; i++) {
            const ww_endpoint &e = array[i];
            found.push_back(discovered_endpoint{static_cast<engine_kind>(e.kind), std::string(detail::sv(e.endpoint)),
                                                static_cast<int>(e.pid), e.uid, std::string(detail::sv(e.found_by))});
        }
    }
    return found;
}

/* ------------------------------------------------------------------ */
/* watcher                                                             */
/* ------------------------------------------------------------------ */

/// A watcher of container engines: owns a ww_watcher (move-only).
class watcher {
public:
    /// Watches Docker at its default endpoint with the default options.
    watcher() : watcher(options{}) {}

    /// Starts watching at once in the background (not waiting for the engine:
    /// see ready()). Throws `error`: WW_STATUS_INVALID_ARG for a bad option
    /// (an endpoint with an unsupported scheme or a NUL byte, an endpoint
    /// for engine_kind::automatic, an ignored namespace that is empty or
    /// holds ',' or NUL, a negative or too long duration, backoff_max below
    /// backoff_initial, TLS files for another engine than Docker or with a
    /// unix:// endpoint, a TLS file name with a NUL byte, ...),
    /// WW_STATUS_ABI_MISMATCH, WW_STATUS_INTERNAL.
    explicit watcher(const options &opts) {
        check_abi();
        ww_options raw;
        ww_options_init(&raw, sizeof raw);
        raw.engine = static_cast<ww_engine>(opts.engine);
        raw.endpoint = detail::option_string(opts.endpoint, "endpoint");
        raw.tls_ca = detail::option_string(opts.tls_ca, "tls_ca");
        raw.tls_cert = detail::option_string(opts.tls_cert, "tls_cert");
        raw.tls_key = detail::option_string(opts.tls_key, "tls_key");
        raw.backoff = static_cast<ww_backoff>(opts.backoff);
        raw.backoff_initial_ms = detail::option_ms(opts.backoff_initial, "backoff_initial");
        raw.backoff_max_ms = detail::option_ms(opts.backoff_max, "backoff_max");
        raw.backoff_max_elapsed_ms = detail::option_ms(opts.backoff_max_elapsed, "backoff_max_elapsed");
        raw.call_timeout_ms = detail::option_ms(opts.call_timeout, "call_timeout");
        raw.cri_poll_ms = detail::option_ms(opts.cri_poll, "cri_poll");
        raw.cri_events = opts.cri_events ? 1 : 0;
        raw.discover_interval_ms = opts.discover_interval == options::discover_only_at_start
                                       ? std::numeric_limits<std::uint32_t>::max()
                                       : detail::option_ms(opts.discover_interval, "discover_interval");
        // 0 is the default here (ww_options_init's), "off" there.
        if (opts.audit_interval == options::audits_off) {
            raw.audit_interval_ms = 0;
        } else if (opts.audit_interval.count() != 0) {
            raw.audit_interval_ms = detail::option_ms(opts.audit_interval, "audit_interval");
        }
        std::string ignored;
        if (opts.ignored_namespaces) {
            for (const std::string &ns : *opts.ignored_namespaces) {
                if (ns.empty() || ns.find_first_of(std::string_view(",\0", 2)) != std::string::npos) {
                    detail::throw_invalid("options.ignored_namespaces: bad namespace \"" + ns + "\"");
                }
                if (!ignored.empty()) {
                    ignored += ',';
                }
                ignored += ns;
            }
            raw.ignored_namespaces = ignored.c_str();
        }
        ww_watcher *w = nullptr;
        ww_status s = ww_new(&raw, &w);
        if (s != WW_STATUS_OK) {
            detail::throw_last_error(s);
        }
        handle_.store(w);
    }

    /// Closes the watcher (see close()).
    ~watcher() { close(); }

    watcher(const watcher &) = delete;
    watcher &operator=(const watcher &) = delete;
    watcher(watcher &&other) noexcept
        : handle_(other.handle_.exchange(nullptr)), closed_(other.closed_.exchange(false)), pid_(other.pid_) {}
    /// Closes this watcher's own ww_watcher first.
    watcher &operator=(watcher &&other) noexcept {
        if (this != &other) {
            close();
            handle_.store(other.handle_.exchange(nullptr));
            closed_.store(other.closed_.exchange(false));
            pid_ = other.pid_;
        }
        return *this;
    }
    friend void swap(watcher &a, watcher &b) noexcept {
        ww_watcher *handle = a.handle_.load();
        a.handle_.store(b.handle_.load());
        b.handle_.store(handle);
        const bool closed = a.closed_.load();
        a.closed_.store(b.closed_.load());
        b.closed_.store(closed);
        std::swap(a.pid_, b.pid_);
    }

    /// Stops watching without releasing anything (ww_shutdown): threads
    /// blocked in ready(), wait_ready() or wait() of this watcher wake and
    /// throw `error` WW_STATUS_CLOSED (try_* return it), and so does every
    /// later call of those, at once; snapshot() keeps handing out the last
    /// snapshot; event_fd() becomes readable (so that a thread in poll()
    /// wakes and finds out). Any thread, any time, also while other threads
    /// use the watcher, and more than once. The way to stop the threads
    /// that use a watcher: shutdown(), join them, then destroy it. Does
    /// nothing when moved-from or closed.
    void shutdown() const noexcept {
        const call c(*this);
        ww_shutdown(c.handle); // NULL: does nothing
    }

    /// Stops watching and releases everything now: shutdown(), then waits
    /// until every call of this watcher that has begun has returned (at once,
    /// given shutdown()), then ww_close. Any thread, any time, also while
    /// other threads use the watcher: their calls in progress end with
    /// `error` WW_STATUS_CLOSED (try_* return it) where they wait, and every
    /// later call throws `error` WW_STATUS_CLOSED (try_* return it, with
    /// last_error_message() unchanged); shutdown() and close() then do
    /// nothing. Snapshots and changes taken before stay valid; the event
    /// descriptor is closed. A moved-from watcher stays moved-from.
    /// Idempotent; a close() concurrent with another returns at once. In a
    /// child forked after the watcher was made: releases the child's copy
    /// at once, without waiting for calls in progress (those of the
    /// parent's threads at the fork never return here), so it must not run
    /// while other threads of the child use the watcher.
    void close() noexcept {
        if (handle_.load() == nullptr) {
            return;
        }
        // Set first, so that a call that finds no handle knows why.
        closed_.store(true);
        ww_watcher *const w = handle_.exchange(nullptr);
        if (w == nullptr) {
            return; // another close() has it
        }
        // A call counts itself in before it reads the handle (see `call`):
        // one that read it before the exchange is counted here. Shut down,
        // such calls return at once. In a forked child, the count includes
        // the calls of the parent's threads, which are not there.
        ww_shutdown(w);
        for (unsigned spins = 0; calls_.load() != 0 && ::getpid() == pid_; spins++) {
            if (spins < 100) {
                std::this_thread::yield();
            } else {
                std::this_thread::sleep_for(std::chrono::microseconds(100));
            }
        }
        ww_close(w);
    }

    /// Waits up to `timeout` (negative: no limit; 0: just look; at most
    /// INT32_MAX ms, about 24.8 days, longer ones are cut) for the first
    /// full synchronisation (engine_kind::automatic: with every engine found
    /// at the start). True once synchronised (also while a later
    /// resynchronisation runs); false when the time ran out (then
    /// last_error_message() names the latest engine trouble). Throws `error`:
    /// WW_STATUS_ENGINE once the watcher gave up under its backoff policy
    /// (final), WW_STATUS_CLOSED when shut down or closed (also while
    /// waiting), WW_STATUS_FORKED in a forked child (at once),
    /// WW_STATUS_INTERNAL, WW_STATUS_NULL_ARG when moved-from.
    [[nodiscard]] bool ready(std::chrono::milliseconds timeout) const {
        const ww_status s = checked_ready(timeout);
        if (s == WW_STATUS_OK) {
            return true;
        }
        if (s == WW_STATUS_TIMEOUT) {
            return false;
        }
        detail::throw_last_error(s);
    }

    /// Like ready(), but a timeout throws too (WW_STATUS_TIMEOUT, with the
    /// latest engine trouble as message). Default: no limit.
    void wait_ready(std::chrono::milliseconds timeout = std::chrono::milliseconds(-1)) const {
        const ww_status s = checked_ready(timeout);
        if (s != WW_STATUS_OK) {
            detail::throw_last_error(s);
        }
    }

    /// ww_ready as it is: never throws; the status, and for a failure
    /// last_error_message() on this thread (except for a closed watcher:
    /// WW_STATUS_CLOSED, the message unchanged).
    [[nodiscard]] ww_status try_ready(std::chrono::milliseconds timeout) const noexcept {
        const call c(*this);
        return c.closed ? WW_STATUS_CLOSED : ww_ready(c.handle, detail::timeout_ms(timeout));
    }

    /// Waits up to `timeout` (as for ready(); default: no limit) until a
    /// generation greater than `after_generation` is published; at once if
    /// one already is. Pass the generation of the snapshot last looked at,
    /// then take a new snapshot: nothing published in between is missed.
    /// True when a newer generation exists; false when the time ran out.
    /// Throws `error`: WW_STATUS_ENGINE when nothing newer exists and nothing
    /// can change anymore (every engine gave up), WW_STATUS_CLOSED when shut
    /// down or closed (also while waiting), WW_STATUS_FORKED in a forked
    /// child (at once), WW_STATUS_INTERNAL, WW_STATUS_NULL_ARG when
    /// moved-from.
    [[nodiscard]] bool wait(std::uint64_t after_generation,
                            std::chrono::milliseconds timeout = std::chrono::milliseconds(-1)) const {
        const ww_status s = checked_wait(after_generation, timeout);
        if (s == WW_STATUS_OK) {
            return true;
        }
        if (s == WW_STATUS_TIMEOUT) {
            return false;
        }
        detail::throw_last_error(s);
    }

    /// wait() for a generation newer than `seen`'s.
    [[nodiscard]] bool wait(const whalewatcher::snapshot &seen,
                            std::chrono::milliseconds timeout = std::chrono::milliseconds(-1)) const {
        return wait(seen.generation(), timeout);
    }

    /// ww_wait as it is: never throws; the status, and for a failure
    /// last_error_message() on this thread (except for a closed watcher:
    /// WW_STATUS_CLOSED, the message unchanged).
    [[nodiscard]] ww_status try_wait(std::uint64_t after_generation,
                                     std::chrono::milliseconds timeout) const noexcept {
        const call c(*this);
        return c.closed ? WW_STATUS_CLOSED : ww_wait(c.handle, after_generation, detail::timeout_ms(timeout));
    }

    /// The current snapshot (never talks to the engine, never waits);
    /// generation 0 and no containers before the first synchronisation; the
    /// last one after shutdown(); in a forked child, the last one published
    /// before the fork. Throws `error` WW_STATUS_CLOSED when
    /// closed, WW_STATUS_NULL_ARG when moved-from; std::bad_alloc.
    [[nodiscard]] whalewatcher::snapshot snapshot() const {
        const ww_portfolio *p = nullptr;
        ww_status s;
        {
            const call c(*this);
            if (c.closed) {
                throw_closed("ww_snapshot");
            }
            s = ww_snapshot(c.handle, &p);
        }
        if (s != WW_STATUS_OK) {
            detail::throw_last_error(s);
        }
        return whalewatcher::snapshot(p);
    }

    /// The watcher's event descriptor (ww_event_fd), for poll/epoll/select:
    /// readable once a generation newer than the one last acknowledged
    /// exists (at once if anything was published before the first call),
    /// and after shutdown(). When readable: acknowledge(), then take the
    /// snapshot, then compare (diff()) with the previous one; a change after
    /// acknowledge() makes it readable again. The same descriptor on every
    /// call; it belongs to the watcher (never close it; close() does, so
    /// stop polling it before). Non-blocking, close-on-exec, for one
    /// consumer. Throws `error`: WW_STATUS_INTERNAL when no descriptor can
    /// be made, WW_STATUS_CLOSED when closed, WW_STATUS_FORKED in a forked
    /// child, WW_STATUS_NULL_ARG when moved-from.
    [[nodiscard]] int event_fd() const {
        int fd = -1;
        ww_status s;
        {
            const call c(*this);
            if (c.closed) {
                throw_closed("ww_event_fd");
            }
            s = ww_event_fd(c.handle, &fd);
        }
        if (s != WW_STATUS_OK) {
            detail::throw_last_error(s);
        }
        return fd;
    }

    /// Acknowledges on event_fd() what was published so far (reads its 8
    /// bytes, without blocking): true if something was unacknowledged,
    /// false if not. Throws `error` as event_fd(), std::system_error if the
    /// read fails otherwise.
    bool acknowledge() const {
        int fd = -1;
        ww_status s;
        int read_error = 0;
        bool acknowledged = false;
        {
            // The descriptor stays open while the call is counted in.
            const call c(*this);
            if (c.closed) {
                throw_closed("ww_event_fd");
            }
            s = ww_event_fd(c.handle, &fd);
            if (s == WW_STATUS_OK) {
                read_error = read_event_fd(fd, acknowledged);
            }
        }
        if (s != WW_STATUS_OK) {
            detail::throw_last_error(s);
        }
        if (read_error != 0) {
            throw std::system_error(read_error, std::generic_category(), "whalewatcher: reading the event descriptor");
        }
        return acknowledged;
    }

    /// False when moved-from or closed.
    [[nodiscard]] bool valid() const noexcept { return handle_.load() != nullptr; }
    explicit operator bool() const noexcept { return valid(); }

    /// The C watcher (NULL when moved-from or closed); still owned by this
    /// object, and valid only until close() begins.
    [[nodiscard]] ww_watcher *native_handle() const noexcept { return handle_.load(); }

private:
    /// One call of the handle, counted in for its duration so that close()
    /// releases the handle only once no call uses it. `handle` is NULL when
    /// moved-from or closed (then `closed`). The count is the call's last
    /// touch of the watcher: once it drops, a close() in progress may free
    /// the handle, and a destructor in progress the watcher.
    class call {
    public:
        explicit call(const watcher &w) noexcept : calls_(w.calls_) {
            calls_.fetch_add(1);
            handle = w.handle_.load();
            closed = handle == nullptr && w.closed_.load();
        }
        ~call() { calls_.fetch_sub(1); }
        call(const call &) = delete;
        call &operator=(const call &) = delete;

        ww_watcher *handle;
        bool closed;

    private:
        std::atomic<std::size_t> &calls_;
    };

    [[noreturn]] static void throw_closed(const char *function) {
        throw error(WW_STATUS_CLOSED, std::string("whalewatcher: ") + function + ": the watcher is closed");
    }

    /// try_ready(), except that a closed watcher throws.
    [[nodiscard]] ww_status checked_ready(std::chrono::milliseconds timeout) const {
        const call c(*this);
        if (c.closed) {
            throw_closed("ww_ready");
        }
        return ww_ready(c.handle, detail::timeout_ms(timeout));
    }

    /// try_wait(), except that a closed watcher throws.
    [[nodiscard]] ww_status checked_wait(std::uint64_t after_generation, std::chrono::milliseconds timeout) const {
        const call c(*this);
        if (c.closed) {
            throw_closed("ww_wait");
        }
        return ww_wait(c.handle, after_generation, detail::timeout_ms(timeout));
    }

    /// Reads the event descriptor's 8 bytes: 0 (and whether there were
    /// any), or the errno of a failed read.
    static int read_event_fd(int fd, bool &acknowledged) noexcept {
        for (;;) {
            std::uint64_t count = 0;
            const ssize_t n = ::read(fd, &count, sizeof count);
            if (n == static_cast<ssize_t>(sizeof count)) {
                acknowledged = true;
                return 0;
            }
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                acknowledged = false;
                return 0;
            }
            return n < 0 ? errno : EIO;
        }
    }

    std::atomic<ww_watcher *> handle_{nullptr};
    std::atomic<bool> closed_{false};
    /// The process that made the watcher: another one is a forked child.
    pid_t pid_ = ::getpid();
    /// Calls of the handle in progress (see `call`).
    mutable std::atomic<std::size_t> calls_{0};
};

} // namespace whalewatcher

#endif /* WHALEWATCHER_HPP */
