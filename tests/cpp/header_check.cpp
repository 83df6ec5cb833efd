/*
 * whalewatcher.hpp under strict warnings (see HEADER_WARNINGS in the
 * Makefile): every template of the header instantiated, every member
 * called once. Needs no engine: it watches a socket that does not exist,
 * without retries, so the watcher gives up at once.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <whalewatcher.hpp>

#include <algorithm>
#include <cstdio>
#include <iterator>

namespace ww = whalewatcher;

namespace {

std::size_t one(bool b) { return b ? 1 : 0; }

std::size_t use(ww::container_view c) {
    std::size_t n = c.id().size() + c.name().size() + c.project().size() + c.image().size() + c.image_id().size() +
                    c.pod_name().size() + c.pod_namespace().size() + c.pod_uid().size() + c.engine_index() +
                    c.engine().id().size() + static_cast<std::size_t>(c.pid()) + c.labels().size();
    n += one(c.paused()) + one(c.privileged()) + one(c.pod_sandbox()) + one(c.started_at().has_value()) +
         one(c.find_label("x").has_value());
    n += c.raw().labels_len + c.portfolio().containers_len;
    for (ww::label l : c.labels()) {
        n += l.key().size() + l.value().size() + one(l.raw().key != nullptr);
    }
    return n;
}

template <class Range>
std::size_t iterate(const Range &r) {
    std::size_t n = r.size() + one(r.empty()) + one(r.data() == nullptr);
    auto first = r.begin(), last = r.end();
    n += static_cast<std::size_t>(std::distance(first, last));
    if (!r.empty()) {
        auto it = first;
        ++it;
        it--;
        it += 1;
        it -= 1;
        n += one(it == first) + one(it != last) + one(it < last) + one(it <= last) + one(last > it) + one(last >= it);
        n += static_cast<std::size_t>((first + 1) - first) + static_cast<std::size_t>(last - (last - 1));
        (void)first[0];
        (void)first.operator->();
        (void)r.front();
        (void)r.back();
        (void)r[0];
    }
    return n;
}

} // namespace

int main() {
    ww::check_abi();
    std::size_t n = ww::version().size() + ww::header_version.size() + ww::abi_version() + ww::header_abi_version +
                    ww::status_name(WW_STATUS_OK).size() + ww::last_error_message().size() +
                    ww::name(ww::engine_kind::docker).size() + ww::name(ww::engine_kind::automatic).size() +
                    ww::name(ww::engine_state::synced).size() + ww::name(ww::change_kind::started).size();

    for (const ww::discovered_endpoint &d : ww::discover()) {
        const ww::options from = d.options();
        n += static_cast<std::size_t>(d.kind) + d.endpoint.size() + static_cast<std::size_t>(d.pid) + d.uid +
             d.found_by.size() + from.endpoint.size();
    }

    ww::options o;
    o.endpoint = "unix:///nonexistent/whalewatcher-header-check.sock";
    o.backoff = ww::backoff_policy::none;
    o.cri_poll = std::chrono::milliseconds(0);
    o.cri_events = false;
    o.discover_interval = ww::options::discover_only_at_start;
    o.audit_interval = ww::options::audits_off;
    o.tls_ca = std::string();
    o.tls_cert = std::string();
    o.tls_key = std::string();
    ww::watcher w(o);
    try {
        (void)w.ready(std::chrono::seconds(10));
        std::fputs("header_check: ready() succeeded at a socket that does not exist\n", stderr);
        return 1;
    } catch (const ww::error &e) {
        n += e.status() + e.status_name().size();
    }
    n += w.try_ready(std::chrono::milliseconds(0)) + w.try_wait(0, std::chrono::milliseconds(0));
    ww::snapshot s = w.snapshot();
    try {
        (void)w.wait(s);
        (void)w.wait(s.generation(), std::chrono::milliseconds(0));
        w.wait_ready(std::chrono::milliseconds(0));
    } catch (const ww::error &e) {
        n += e.status();
    }
    n += static_cast<std::size_t>(w.event_fd()) + one(w.acknowledge()) + one(w.valid()) + one(w.native_handle() != nullptr);

    n += s.generation() + one(s.valid()) + one(s.get() != nullptr) + iterate(s.containers()) +
         iterate(s.projects()) + iterate(s.engines()) + one(s.find("x").has_value()) +
         one(s.find_pid(1).has_value()) + one(s.find_by_name("x").has_value()) + one(s.project("").has_value());
    for (ww::container_view c : s.containers()) {
        n += use(c);
    }
    for (ww::project_view p : s.projects()) {
        n += p.name().size() + one(p.unnamed()) + p.size() + one(p.empty()) + p.engine_index() +
             p.engine().type().size() + iterate(p.containers()) + one(p.raw().name != nullptr);
    }
    for (ww::engine_view e : s.engines()) {
        n += static_cast<std::size_t>(e.kind()) + e.type().size() + e.id().size() + e.version().size() +
             e.endpoint().size() + static_cast<std::size_t>(e.pid()) + static_cast<std::size_t>(e.state()) +
             one(e.synced_at().has_value()) + e.last_error().size() + e.repairs() + one(e.raw().type != nullptr);
    }
    ww::changes d = ww::diff(s);
    ww::changes between = ww::diff(s, s);
    n += iterate(d) + iterate(between) + one(d.from().valid()) + one(d.to().valid());
    for (ww::change ch : d) {
        n += static_cast<std::size_t>(ch.kind()) + one(ch.before().has_value()) + one(ch.after().has_value()) +
             use(ch.container()) + ch.raw().kind;
    }
    ww::watcher other = std::move(w);
    swap(w, other);
    other = std::move(w);
    other.shutdown();
    other.close();
    std::printf("header_check: ok (%zu)\n", n % 10);
    return 0;
}
