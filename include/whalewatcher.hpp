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
 *   for (ww::project_view p : s.projects())
 *       for (ww::container_view c : p.containers())
 *           std::cout << p.name() << ' ' << c.name() << ' ' << c.pid() << '\n';
 *   if (auto c = s.find(id)) std::cout << c->find_label("a").value_or("") << '\n';
 *
 * Ownership
 * - `watcher` owns one ww_watcher: move-only; its destructor (or close())
 *   calls ww_close. A moved-from watcher holds nothing: ready*() and
 *   snapshot() then throw `error` with WW_STATUS_NULL_ARG, close() and the
 *   destructor do nothing.
 * - `snapshot` shares one ww_portfolio (std::shared_ptr whose deleter is
 *   ww_snapshot_free): copying is cheap (a reference count), the last copy
 *   frees it, also long after the watcher is gone. A default-constructed or
 *   moved-from snapshot is empty: generation 0, no containers, no projects,
 *   "" for every string, engine PID 0.
 * - `container_view`, `project_view`, `label`, the ranges and every
 *   std::string_view they hand out BORROW from the snapshot they came from:
 *   keep (a copy of) that snapshot alive while using them.
 *
 * Errors
 * - Failures throw `whalewatcher::error` (a std::runtime_error): status() is
 *   the ww_status, what() the library's message (ww_last_error_message(),
 *   read on the failing thread right after the failing call), or the
 *   wrapper's own message for arguments it refuses before calling the
 *   library (status WW_STATUS_INVALID_ARG).
 * - watcher::ready() returns false on timeout instead of throwing;
 *   watcher::wait_ready() throws on timeout too; watcher::try_ready() never
 *   throws and returns the raw status (then last_error_message() tells why).
 * - Accessors of snapshots and views never throw and never fail.
 *
 * Threads
 * - A watcher may be used (ready*, snapshot) from any number of threads at
 *   the same time; destroying, moving, assigning or close()-ing it must be
 *   the last use, as for ww_close.
 * - A snapshot is immutable: read it from any thread; distinct snapshot
 *   objects sharing one portfolio may be copied and destroyed concurrently
 *   (std::shared_ptr rules).
 *
 * SPDX-License-Identifier: Apache-2.0
 */

#ifndef WHALEWATCHER_HPP
#define WHALEWATCHER_HPP

#if !defined(__cplusplus) || (__cplusplus < 201703L && !(defined(_MSVC_LANG) && _MSVC_LANG >= 201703L))
#error "whalewatcher.hpp needs C++17 or later"
#endif

#include "whalewatcher.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/* The wrapper is written against this ABI of the C header; a header with a
 * different one needs a matching whalewatcher.hpp. */
static_assert(WW_ABI_VERSION == 1, "whalewatcher.hpp does not match the ABI version of whalewatcher.h");

namespace whalewatcher {

/* ------------------------------------------------------------------ */
/* Versions and statuses                                               */
/* ------------------------------------------------------------------ */

/// The version of the header compiled against, e.g. "0.1.0".
inline constexpr std::string_view header_version = WW_VERSION_STRING;

/// The ABI version of the header compiled against (WW_ABI_VERSION).
inline constexpr std::uint32_t header_abi_version = WW_ABI_VERSION;

/// The version of the library actually loaded, e.g. "0.1.0" (ww_version()).
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

/// A timeout for ww_ready: negative = no limit, clamped to INT32_MAX ms.
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

/// A random-access range over a C array of `C`, yielding `View`s by value
/// (a proxy iterator, like std::vector<bool>'s). A NULL array is empty.
template <class C, class View>
class array_range {
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
        explicit iterator(const C *at) noexcept : at_(at) {}

        reference operator*() const noexcept { return View(*at_); }
        pointer operator->() const noexcept { return pointer{View(*at_)}; }
        reference operator[](difference_type n) const noexcept { return View(at_[n]); }

        iterator &operator++() noexcept { ++at_; return *this; }
        iterator operator++(int) noexcept { iterator old = *this; ++at_; return old; }
        iterator &operator--() noexcept { --at_; return *this; }
        iterator operator--(int) noexcept { iterator old = *this; --at_; return old; }
        iterator &operator+=(difference_type n) noexcept { at_ += n; return *this; }
        iterator &operator-=(difference_type n) noexcept { at_ -= n; return *this; }
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
    };

    using value_type = View;
    using size_type = std::size_t;
    using const_iterator = iterator;

    array_range() noexcept = default;
    array_range(const C *data, std::size_t size) noexcept : data_(data), size_(data != nullptr ? size : 0) {}

    [[nodiscard]] iterator begin() const noexcept { return iterator(data_); }
    [[nodiscard]] iterator end() const noexcept { return iterator(data_ + size_); }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    /// The `i`th element; `i` < size().
    [[nodiscard]] View operator[](std::size_t i) const noexcept { return View(data_[i]); }
    /// The first / last element; not empty().
    [[nodiscard]] View front() const noexcept { return View(data_[0]); }
    [[nodiscard]] View back() const noexcept { return View(data_[size_ - 1]); }
    /// The C array (NULL when empty).
    [[nodiscard]] const C *data() const noexcept { return size_ != 0 ? data_ : nullptr; }

private:
    const C *data_ = nullptr;
    std::size_t size_ = 0;
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
using label_range = detail::array_range<ww_label, label>;

/// One alive container.
class container_view {
public:
    explicit container_view(const ww_container &c) noexcept : c_(&c) {}

    /// The engine's full ID; containerd: "NS/ID", or "ID" in namespace "default".
    [[nodiscard]] std::string_view id() const noexcept { return detail::sv(c_->id); }
    /// Docker: the name without '/'; containerd: label nerdctl/name (else the
    /// ID), namespaced like the ID.
    [[nodiscard]] std::string_view name() const noexcept { return detail::sv(c_->name); }
    /// The compose project (label com.docker.compose.project), "" if none.
    [[nodiscard]] std::string_view project() const noexcept { return detail::sv(c_->project); }
    /// The PID of the initial process (in the engine's PID namespace), > 0.
    [[nodiscard]] int pid() const noexcept { return static_cast<int>(c_->pid); }
    [[nodiscard]] bool paused() const noexcept { return c_->paused; }
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
    [[nodiscard]] const ww_container &raw() const noexcept { return *c_; }

private:
    const ww_container *c_;
};

/// Containers, sorted by (project, name, id).
using container_range = detail::array_range<ww_container, container_view>;

/// A compose project and its containers (a slice of snapshot::containers()).
class project_view {
public:
    explicit project_view(const ww_project &p) noexcept : p_(&p) {}

    /// "" for the unnamed project.
    [[nodiscard]] std::string_view name() const noexcept { return detail::sv(p_->name); }
    [[nodiscard]] bool unnamed() const noexcept { return name().empty(); }
    [[nodiscard]] container_range containers() const noexcept {
        return container_range(p_->containers, p_->containers_len);
    }
    [[nodiscard]] std::size_t size() const noexcept { return containers().size(); }
    [[nodiscard]] bool empty() const noexcept { return containers().empty(); }
    [[nodiscard]] const ww_project &raw() const noexcept { return *p_; }

private:
    const ww_project *p_;
};

/// Projects: [0] the unnamed "" one (maybe empty), then the named ones by name.
using project_range = detail::array_range<ww_project, project_view>;

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

    /// 0 before the first synchronisation, >= 1 after; grows on every change.
    [[nodiscard]] std::uint64_t generation() const noexcept { return p_ ? p_->generation : 0; }

    /// All alive containers, sorted by (project, name, id).
    [[nodiscard]] container_range containers() const noexcept {
        return p_ ? container_range(p_->containers, p_->containers_len) : container_range();
    }
    /// [0] is the unnamed "" project (maybe empty), then the named ones by name
    /// (empty only for an empty snapshot).
    [[nodiscard]] project_range projects() const noexcept {
        return p_ ? project_range(p_->projects, p_->projects_len) : project_range();
    }

    /// The container with full ID `id`, if alive.
    [[nodiscard]] std::optional<container_view> find(std::string_view id) const noexcept {
        for (container_view c : containers()) {
            if (c.id() == id) {
                return c;
            }
        }
        return std::nullopt;
    }
    /// The container named `name` (as container_view::name() spells it), if
    /// alive; the first by ID if several share it.
    [[nodiscard]] std::optional<container_view> find_by_name(std::string_view name) const noexcept {
        for (container_view c : containers()) {
            if (c.name() == name) {
                return c;
            }
        }
        return std::nullopt;
    }
    /// The project `name` ("" is the unnamed one, always there in a valid
    /// snapshot); named projects exist only while they have containers.
    [[nodiscard]] std::optional<project_view> project(std::string_view name) const noexcept {
        for (project_view p : projects()) {
            if (p.name() == name) {
                return p;
            }
        }
        return std::nullopt;
    }

    /// "docker.com" or "containerd.io".
    [[nodiscard]] std::string_view engine_type() const noexcept { return p_ ? detail::sv(p_->engine_type) : ""; }
    /// The engine's ID, "" until first contact.
    [[nodiscard]] std::string_view engine_id() const noexcept { return p_ ? detail::sv(p_->engine_id) : ""; }
    /// The engine's version, "" until first contact.
    [[nodiscard]] std::string_view engine_version() const noexcept {
        return p_ ? detail::sv(p_->engine_version) : "";
    }
    /// The endpoint in use, e.g. "unix:///var/run/docker.sock".
    [[nodiscard]] std::string_view engine_endpoint() const noexcept {
        return p_ ? detail::sv(p_->engine_endpoint) : "";
    }
    /// The daemon's PID, 0 if unknown.
    [[nodiscard]] int engine_pid() const noexcept { return p_ ? static_cast<int>(p_->engine_pid) : 0; }

    /// The C portfolio (NULL when empty); owned by this snapshot and its copies.
    [[nodiscard]] const ww_portfolio *get() const noexcept { return p_.get(); }

private:
    std::shared_ptr<const ww_portfolio> p_;
};

/* ------------------------------------------------------------------ */
/* options and watcher                                                 */
/* ------------------------------------------------------------------ */

/// Which container engine to watch.
enum class engine_kind : ww_engine {
    docker = WW_ENGINE_DOCKER,
    containerd = WW_ENGINE_CONTAINERD,
};

/// How the watcher retries after the engine went away or failed.
enum class backoff_policy : ww_backoff {
    none = WW_BACKOFF_NONE,               ///< the first failure ends the watch
    constant = WW_BACKOFF_CONSTANT,       ///< every backoff_initial
    exponential = WW_BACKOFF_EXPONENTIAL, ///< from backoff_initial, x1.5, up to backoff_max
};

/// What to watch and how; the defaults are the library's (ww_options_init).
/// A zero duration means the library's default for it.
struct options {
    engine_kind engine = engine_kind::docker;
    /// "" for the default: Docker: DOCKER_HOST, else unix:///var/run/docker.sock;
    /// containerd: CONTAINERD_ADDRESS, else /run/containerd/containerd.sock.
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
    /// containerd only: namespaces not to watch. std::nullopt: the default
    /// ("moby", "k8s.io"); an empty vector: watch all namespaces.
    std::optional<std::vector<std::string>> ignored_namespaces;
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

/// A watcher of one container engine: owns a ww_watcher (move-only).
class watcher {
public:
    /// Watches Docker at its default endpoint with the default options.
    watcher() : watcher(options{}) {}

    /// Starts watching at once in the background (not waiting for the engine:
    /// see ready()). Throws `error`: WW_STATUS_INVALID_ARG for a bad option
    /// (an endpoint with an unsupported scheme or a NUL byte, an ignored
    /// namespace that is empty or holds ',' or NUL, a negative or too long
    /// duration, backoff_max below backoff_initial, ...), WW_STATUS_ABI_MISMATCH,
    /// WW_STATUS_INTERNAL.
    explicit watcher(const options &opts) {
        check_abi();
        ww_options raw;
        ww_options_init(&raw);
        raw.engine = static_cast<ww_engine>(opts.engine);
        if (opts.endpoint.find('\0') != std::string::npos) {
            detail::throw_invalid("options.endpoint contains a NUL byte");
        }
        raw.endpoint = opts.endpoint.empty() ? nullptr : opts.endpoint.c_str();
        raw.backoff = static_cast<ww_backoff>(opts.backoff);
        raw.backoff_initial_ms = detail::option_ms(opts.backoff_initial, "backoff_initial");
        raw.backoff_max_ms = detail::option_ms(opts.backoff_max, "backoff_max");
        raw.backoff_max_elapsed_ms = detail::option_ms(opts.backoff_max_elapsed, "backoff_max_elapsed");
        raw.call_timeout_ms = detail::option_ms(opts.call_timeout, "call_timeout");
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
        w_ = w;
    }

    ~watcher() { close(); }

    watcher(const watcher &) = delete;
    watcher &operator=(const watcher &) = delete;
    watcher(watcher &&other) noexcept : w_(std::exchange(other.w_, nullptr)) {}
    /// Closes this watcher's own ww_watcher first.
    watcher &operator=(watcher &&other) noexcept {
        if (this != &other) {
            close();
            w_ = std::exchange(other.w_, nullptr);
        }
        return *this;
    }
    friend void swap(watcher &a, watcher &b) noexcept { std::swap(a.w_, b.w_); }

    /// Stops watching now (ww_close); afterwards the watcher is like a
    /// moved-from one. Snapshots taken before stay valid. Idempotent.
    void close() noexcept {
        if (w_ != nullptr) {
            ww_close(std::exchange(w_, nullptr));
        }
    }

    /// Waits up to `timeout` (negative: no limit; 0: just look; at most
    /// INT32_MAX ms, about 24.8 days, longer ones are cut) for the first
    /// full synchronisation. True once synchronised (also while a later
    /// resynchronisation runs); false when the time ran out (then
    /// last_error_message() names the latest engine trouble). Throws `error`:
    /// WW_STATUS_ENGINE once the watcher gave up under its backoff policy
    /// (final), WW_STATUS_INTERNAL, WW_STATUS_NULL_ARG when moved-from/closed.
    [[nodiscard]] bool ready(std::chrono::milliseconds timeout) const {
        ww_status s = ww_ready(w_, detail::timeout_ms(timeout));
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
        ww_status s = ww_ready(w_, detail::timeout_ms(timeout));
        if (s != WW_STATUS_OK) {
            detail::throw_last_error(s);
        }
    }

    /// ww_ready as it is: never throws; the status, and for a failure
    /// last_error_message() on this thread.
    [[nodiscard]] ww_status try_ready(std::chrono::milliseconds timeout) const noexcept {
        return ww_ready(w_, detail::timeout_ms(timeout));
    }

    /// The current snapshot (never talks to the engine, never waits); empty
    /// with generation 0 before the first synchronisation. Throws `error`
    /// WW_STATUS_NULL_ARG when moved-from/closed, std::bad_alloc.
    [[nodiscard]] whalewatcher::snapshot snapshot() const {
        const ww_portfolio *p = nullptr;
        ww_status s = ww_snapshot(w_, &p);
        if (s != WW_STATUS_OK) {
            detail::throw_last_error(s);
        }
        return whalewatcher::snapshot(p);
    }

    /// False when moved-from or closed.
    [[nodiscard]] bool valid() const noexcept { return w_ != nullptr; }
    explicit operator bool() const noexcept { return valid(); }

    /// The C watcher (NULL when moved-from/closed); still owned by this object.
    [[nodiscard]] ww_watcher *native_handle() const noexcept { return w_; }

private:
    ww_watcher *w_ = nullptr;
};

} // namespace whalewatcher

#endif /* WHALEWATCHER_HPP */
