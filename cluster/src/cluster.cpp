// The Cluster: the NATS connection, the directory of names, remote tell and ask.
#include "ringactor/cluster/cluster.hpp"

#include <array>

#include <ringactor/runtime/reactor.hpp>

#include "core.hpp"

namespace ringactor::cluster {
namespace detail {

namespace {

bool valid_subject(std::string_view p) {
  if (p.empty() || p.front() == '.' || p.back() == '.') return false;
  for (const char ch : p) {
    if (ch == '*' || ch == '>' || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\0') return false;
  }
  return p.find("..") == std::string_view::npos;
}

}  // namespace

std::string open_tell(const Core& core, std::string_view name, std::string_view type) {
  std::string out;
  out.reserve(kFixedBytes + type.size() + name.size() + 64);
  write_head(out, Kind::kTell, core.id, 0, 0, type, name);
  return out;
}

void send_tell(Core& core, std::string_view name, std::string_view type, std::string envelope) {
  const std::size_t head = kFixedBytes + type.size() + name.size();
  close_payload(envelope, 0, head);
  NameEntry entry;
  {
    const std::shared_lock lock(core.names_m);
    const auto it = core.names.find(name);
    if (it == core.names.end()) {
      bump(core.c.no_route);
      return;
    }
    entry = it->second;
  }
  if (entry.here) {
    bump(core.c.local);
    core.deliver_here(entry, Kind::kTell, type, std::string_view(envelope).substr(head), 0, 0);
    return;
  }
  bump(core.c.tells_out);
  core.send_to(entry.process, std::move(envelope));
}

void send_ask(Core& core, std::string_view name, std::string_view type, std::string payload,
              std::chrono::milliseconds timeout, Finish finish) {
  const actors::ActorId asker = actors::Stage::current();
  if (!asker) throw std::logic_error("cluster: ask from outside an actor's handler (its answer needs an actor to run on)");
  bump(core.c.asks);
  const std::uint64_t corr = core.next_correlation.fetch_add(1, std::memory_order_relaxed);
  runtime::Reactor& reactor = asker.stage->reactor();
  NameEntry entry;
  bool found = false;
  {
    // Looked up and registered under one lock: a process declared down after this finds
    // the ask (and ends it with kNodeDown).
    const std::shared_lock names_lock(core.names_m);
    if (const auto it = core.names.find(name); it != core.names.end()) {
      entry = it->second;
      found = true;
    }
    const std::lock_guard lock(core.pending_m);
    core.pending.emplace(corr, Pending{asker, &reactor, {}, found && !entry.here ? entry.process : 0, std::move(finish)});
  }
  // The timeout before sending: the answer may come before this function returns (it then
  // runs after this handler, on this thread, and the timer finds nothing).
  const runtime::TimerId timer = reactor.after(timeout, [weak = core.weak_from_this(), corr] {
    if (auto c = weak.lock()) c->expire(corr);
  });
  {
    const std::lock_guard lock(core.pending_m);
    if (auto it = core.pending.find(corr); it != core.pending.end()) it->second.timer = timer;
  }
  if (!found) {
    bump(core.c.no_route);
    core.complete(corr, actors::AskError::kNoRoute, cat("no process holds '", name, "'"));
    return;
  }
  if (entry.here) {
    bump(core.c.local);
    core.deliver_here(entry, Kind::kAsk, type, payload, 0, corr);
    return;
  }
  std::string data;
  write(data, Kind::kAsk, core.id, corr, 0, type, name, payload);
  core.send_to(entry.process, std::move(data));
}

std::chrono::milliseconds default_ask_timeout(const Core& core) noexcept { return core.options.ask_timeout; }

}  // namespace detail

// ---- Cluster -------------------------------------------------------------------------------

Cluster::Cluster(std::span<actors::Stage* const> stages, ClusterOptions options) {
  if (stages.empty()) throw std::invalid_argument("cluster: no stage");
  for (const actors::Stage* s : stages) {
    if (s == nullptr) throw std::invalid_argument("cluster: a null stage");
  }
  if (!detail::valid_subject(options.prefix)) {
    throw std::invalid_argument("cluster: prefix must be a NATS subject without wildcards or empty tokens");
  }
  if (options.ask_timeout.count() <= 0 || options.connect_timeout.count() <= 0 || options.reconnect_wait.count() <= 0) {
    throw std::invalid_argument("cluster: ask_timeout, connect_timeout and reconnect_wait must be positive");
  }
  if (options.heartbeat.count() <= 0 || options.down_after < 2 * options.heartbeat) {
    throw std::invalid_argument("cluster: heartbeat must be positive and down_after at least twice the heartbeat");
  }
  if (options.process_name.size() > detail::kMaxName) {
    throw std::invalid_argument("cluster: process_name must be at most 1,024 bytes");
  }
  if (options.max_outbound == 0) throw std::invalid_argument("cluster: max_outbound must be positive");
  if (options.reconnect_buffer > (1u << 30)) throw std::invalid_argument("cluster: reconnect_buffer must be at most 1 GiB");
  core_ = std::make_shared<detail::Core>(std::vector<actors::Stage*>(stages.begin(), stages.end()), std::move(options));
  for (actors::Stage* s : core_->stages) {
    core_->keepers.push_back(s->spawn<detail::NameKeeper>(std::weak_ptr<detail::Core>(core_)));
  }
  core_->start();
}

Cluster::Cluster(actors::Stage& stage, ClusterOptions options)
    : Cluster(std::span<actors::Stage* const>(std::array<actors::Stage*, 1>{&stage}), std::move(options)) {}

Cluster::~Cluster() { core_->finish(); }

std::uint64_t Cluster::id() const noexcept { return core_->id; }

void Cluster::add_handler(std::type_index actor, std::string_view type, detail::Handler h) {
  const std::unique_lock lock(core_->handlers_m);
  auto& by_type = core_->handlers[actor];
  if (by_type.find(type) != by_type.end()) {
    throw std::invalid_argument(detail::cat("cluster: a second handler for '", type, "' on one actor type"));
  }
  by_type.emplace(std::string(type), std::move(h));
}

void Cluster::add_name(std::string_view name, actors::ActorId id, std::type_index type) {
  if (name.empty() || name.size() > detail::kMaxName) throw std::invalid_argument("cluster: a name must be 1 to 1,024 bytes");
  if (!id) throw std::invalid_argument("cluster: register_name with an empty Ref");
  if (!core_->on_our_stages(id)) throw std::invalid_argument("cluster: the actor is not on one of this cluster's stages");
  {
    const std::unique_lock lock(core_->names_m);
    auto it = core_->names.find(name);
    if (it != core_->names.end() && it->second.here) {
      throw std::invalid_argument(detail::cat("cluster: '", name, "' is already registered in this process"));
    }
    if (it != core_->names.end()) {
      core_->names_elsewhere.fetch_sub(1, std::memory_order_relaxed);
      it->second = detail::NameEntry{true, id, type, core_->id};  // ours now: announced below
    } else {
      core_->names.emplace(std::string(name), detail::NameEntry{true, id, type, core_->id});
    }
    core_->names_here.fetch_add(1, std::memory_order_relaxed);
  }
  for (std::size_t i = 0; i < core_->stages.size(); ++i) {
    if (core_->stages[i] == id.stage) core_->keepers[i].tell(&detail::NameKeeper::watch, id, std::string(name));
  }
  core_->announce(detail::Kind::kNameAdd, name);
}

bool Cluster::unregister_name(std::string_view name) {
  actors::ActorId actor;
  std::vector<detail::Watch> fired;
  {
    const std::unique_lock lock(core_->names_m);
    const auto it = core_->names.find(name);
    if (it == core_->names.end() || !it->second.here) return false;
    actor = it->second.actor;
    core_->names.erase(it);
    core_->names_here.fetch_sub(1, std::memory_order_relaxed);
    core_->take_watches_locked(name, fired);
  }
  detail::Core::notify(fired, actors::StopReason::kNormal);
  for (std::size_t i = 0; i < core_->stages.size(); ++i) {
    if (core_->stages[i] == actor.stage) core_->keepers[i].tell(&detail::NameKeeper::unwatch, std::string(name));
  }
  core_->announce(detail::Kind::kNameRemove, name);
  return true;
}

Cluster::Where Cluster::where(std::string_view name) const {
  const std::shared_lock lock(core_->names_m);
  const auto it = core_->names.find(name);
  if (it == core_->names.end()) return Where::kNowhere;
  return it->second.here ? Where::kHere : Where::kElsewhere;
}

ClusterCounters Cluster::counters() const noexcept {
  const detail::Counters& c = core_->c;
  auto v = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  ClusterCounters out;
  out.sent = v(c.sent);
  out.received = v(c.received);
  out.tells_out = v(c.tells_out);
  out.tells_in = v(c.tells_in);
  out.local = v(c.local);
  out.asks = v(c.asks);
  out.replies = v(c.replies);
  out.ask_timeouts = v(c.ask_timeouts);
  out.no_route = v(c.no_route);
  out.unhandled = v(c.unhandled);
  out.malformed = v(c.malformed);
  out.send_failures = v(c.send_failures);
  out.disconnects = v(c.disconnects);
  out.reconnects = v(c.reconnects);
  out.downs = v(c.downs);
  out.topic_out = v(c.topic_out);
  out.topic_in = v(c.topic_in);
  out.lost = v(c.lost);
  out.names_here = core_->names_here.load(std::memory_order_relaxed);
  out.names_elsewhere = core_->names_elsewhere.load(std::memory_order_relaxed);
  {
    const std::shared_lock lock(core_->names_m);
    out.processes = core_->peers.size();
  }
  return out;
}

void Cluster::write_metrics(runtime::MetricsWriter& w) const {
  const ClusterCounters c = counters();
  w.family("ringactor_cluster_messages_total", "counter", "Cluster messages through NATS, by direction.");
  w.sample("ringactor_cluster_messages_total", c.sent, {{"direction", "out"}});
  w.sample("ringactor_cluster_messages_total", c.received, {{"direction", "in"}});
  w.family("ringactor_cluster_tells_total", "counter", "Tells to named actors, by where the actor was.");
  w.sample("ringactor_cluster_tells_total", c.tells_out, {{"path", "out"}});
  w.sample("ringactor_cluster_tells_total", c.tells_in, {{"path", "in"}});
  w.sample("ringactor_cluster_tells_total", c.local, {{"path", "local"}});
  w.counter("ringactor_cluster_asks_total", "Asks made in this process.", c.asks);
  w.counter("ringactor_cluster_replies_total", "Asks made here that were answered (a value or the actor's error).", c.replies);
  w.counter("ringactor_cluster_ask_timeouts_total", "Asks made here that timed out.", c.ask_timeouts);
  w.family("ringactor_cluster_dropped_total", "counter", "Messages dropped, by reason.");
  w.sample("ringactor_cluster_dropped_total", c.no_route, {{"reason", "no_route"}});
  w.sample("ringactor_cluster_dropped_total", c.unhandled, {{"reason", "unhandled"}});
  w.sample("ringactor_cluster_dropped_total", c.malformed, {{"reason", "malformed"}});
  w.sample("ringactor_cluster_dropped_total", c.send_failures, {{"reason", "send_failure"}});
  w.counter("ringactor_cluster_lost_total", "Messages other processes sent here that never arrived (sequence gaps).", c.lost);
  w.family("ringactor_cluster_connection_events_total", "counter", "NATS connection losses and reconnections.");
  w.sample("ringactor_cluster_connection_events_total", c.disconnects, {{"event", "disconnect"}});
  w.sample("ringactor_cluster_connection_events_total", c.reconnects, {{"event", "reconnect"}});
  w.counter("ringactor_cluster_downs_total", "Processes declared down (silent for down_after).", c.downs);
  w.family("ringactor_cluster_topic_messages_total", "counter", "Topic messages across processes, by direction.");
  w.sample("ringactor_cluster_topic_messages_total", c.topic_out, {{"direction", "out"}});
  w.sample("ringactor_cluster_topic_messages_total", c.topic_in, {{"direction", "in"}});
  w.family("ringactor_cluster_names", "gauge", "Names registered, by where.");
  w.sample("ringactor_cluster_names", c.names_here, {{"where", "here"}});
  w.sample("ringactor_cluster_names", c.names_elsewhere, {{"where", "elsewhere"}});
  w.gauge("ringactor_cluster_processes", "Other processes alive, as heard.", c.processes);
}

std::vector<ProcessInfo> Cluster::processes() const {
  std::vector<ProcessInfo> out;
  const auto now = detail::Clock::now();
  const std::shared_lock lock(core_->names_m);
  out.reserve(core_->peers.size());
  for (const auto& [pid, peer] : core_->peers) {
    ProcessInfo p;
    p.id = pid;
    p.name = peer.name;
    p.load = peer.load;
    p.silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - peer.last_seen);
    out.push_back(std::move(p));
  }
  for (const auto& [name, entry] : core_->names) {
    if (entry.here) continue;
    for (ProcessInfo& p : out) {
      if (p.id == entry.process) ++p.names;
    }
  }
  return out;
}

void Cluster::set_load(std::uint64_t load) noexcept { core_->load.store(load, std::memory_order_relaxed); }

bool Cluster::demonitor(std::uint64_t monitor) {
  const std::unique_lock lock(core_->names_m);
  const auto it = core_->watches.find(monitor);
  if (it == core_->watches.end()) return false;
  auto [first, last] = core_->watches_by_name.equal_range(it->second.name);
  for (; first != last; ++first) {
    if (first->second == monitor) {
      core_->watches_by_name.erase(first);
      break;
    }
  }
  core_->watches.erase(it);
  return true;
}

// ---- topics --------------------------------------------------------------------------------

namespace {
void check_topic(std::string_view topic) {
  if (topic.size() > detail::kMaxType || !detail::valid_subject(topic)) {
    throw std::invalid_argument(detail::cat("cluster: topic '", topic.substr(0, 64),
                                            "' must be 1 to 255 bytes of a NATS subject without wildcards or empty tokens"));
  }
}
void topic_cb(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* t = static_cast<detail::TopicSub*>(closure);
  t->core->on_topic(*t, msg);
}
}  // namespace

void Cluster::publish(std::string_view topic, std::string_view message) {
  check_topic(topic);
  std::string data;
  detail::write(data, detail::Kind::kTopic, core_->id, 0, 0, {}, topic, message);
  detail::bump(core_->c.topic_out);
  core_->publish(core_->topic_subject(topic), std::move(data), /*sequenced=*/true);
}

void Cluster::subscribe(std::string_view topic, actors::Stage& stage, std::function<void(std::string_view)> fn) {
  check_topic(topic);
  if (!fn) throw std::invalid_argument("cluster: subscribe with an empty function");
  if (!core_->on_our_stages(actors::ActorId{&stage, 0, 0})) {
    throw std::invalid_argument("cluster: subscribe on a stage that is not one of this cluster's");
  }
  const std::lock_guard lock(core_->topics_m);
  auto it = core_->topics.find(topic);
  if (it == core_->topics.end()) {
    auto t = std::make_unique<detail::TopicSub>();
    t->core = core_.get();
    t->topic = std::string(topic);
    it = core_->topics.emplace(std::string(topic), std::move(t)).first;
  }
  detail::TopicSub& t = *it->second;
  t.members.emplace_back(&stage, std::make_shared<detail::TopicFn>(std::move(fn)));
  if (t.sub == nullptr) {
    const std::string subject = core_->topic_subject(topic);
    natsStatus s = natsConnection_Subscribe(&t.sub, core_->nc, subject.c_str(), topic_cb, &t);
    if (s == NATS_OK) {
      core_->track(t.sub);
      s = natsSubscription_SetPendingLimits(t.sub, -1, -1);
    }
    if (s != NATS_OK) {
      t.members.pop_back();
      if (t.sub != nullptr) {
        natsSubscription_Unsubscribe(t.sub);
        core_->retired.push_back(t.sub);
        t.sub = nullptr;
      }
      throw std::runtime_error(std::string("cluster: cannot subscribe to topic '") + std::string(topic) +
                               "': " + natsStatus_GetText(s));
    }
  }
}

bool Cluster::unsubscribe(std::string_view topic) {
  const std::lock_guard lock(core_->topics_m);
  const auto it = core_->topics.find(topic);
  if (it == core_->topics.end() || it->second->members.empty()) return false;
  it->second->members.clear();
  // The TopicSub stays (a delivery may be running); its NATS subscription ends here.
  if (it->second->sub != nullptr) {
    natsSubscription_Unsubscribe(it->second->sub);
    core_->retired.push_back(it->second->sub);
    it->second->sub = nullptr;
  }
  return true;
}

}  // namespace ringactor::cluster
