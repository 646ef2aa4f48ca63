// The Cluster: the NATS connection, the directory of names, remote tell and ask.
#include "ringactor/cluster/cluster.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <random>

#include <ringactor/runtime/reactor.hpp>

#include "core.hpp"

namespace ringactor::cluster {
namespace detail {

namespace {

std::uint64_t random_id() {
  std::random_device rd;
  std::uint64_t v = 0;
  while (v == 0) v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  return v;
}

std::string hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

bool valid_prefix(std::string_view p) {
  if (p.empty() || p.front() == '.' || p.back() == '.') return false;
  for (const char ch : p) {
    if (ch == '*' || ch == '>' || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') return false;
  }
  return p.find("..") == std::string_view::npos;
}

actors::AskError error_named(std::string_view n) {
  for (const auto e : {actors::AskError::kDead, actors::AskError::kException, actors::AskError::kShutdown,
                       actors::AskError::kTimeout, actors::AskError::kNoRoute, actors::AskError::kMalformed}) {
    if (actors::to_string(e) == n) return e;
  }
  return actors::AskError::kMalformed;
}

[[noreturn]] void fail(const std::string& what, natsStatus s) {
  throw std::runtime_error("cluster: " + what + ": " + natsStatus_GetText(s));
}

void message_cb(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<Core*>(closure)->on_message(msg);
}
void disconnected_cb(natsConnection*, void* closure) { bump(static_cast<Core*>(closure)->c.disconnects); }
void reconnected_cb(natsConnection*, void* closure) {
  Core* core = static_cast<Core*>(closure);
  bump(core->c.reconnects);
  // Say hello again: the others may have declared this process gone and dropped its names.
  std::string data;
  write(data, Kind::kHello, core->id, 0, 0, {}, {}, {});
  core->publish(core->directory, std::move(data));
}

}  // namespace

Core::Core(std::vector<actors::Stage*> s, ClusterOptions o) : stages(std::move(s)), options(std::move(o)), id(random_id()) {
  direct = options.prefix + ".p." + hex(id);
  directory = options.prefix + ".dir";
}

Core::~Core() = default;

void Core::start() {
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s != NATS_OK) fail("natsOptions_Create", s);
  struct OptsGuard {
    natsOptions* o;
    ~OptsGuard() { natsOptions_Destroy(o); }
  } guard{opts};
  std::string name = options.process_name;
  if (name.empty()) {
    std::array<char, 256> host{};
    ::gethostname(host.data(), host.size() - 1);
    name = std::string(host.data()) + ":" + std::to_string(::getpid());
  }
  if ((s = natsOptions_SetURL(opts, options.url.c_str())) != NATS_OK) fail("bad url '" + options.url + "'", s);
  natsOptions_SetName(opts, name.c_str());
  natsOptions_SetTimeout(opts, options.connect_timeout.count());
  natsOptions_SetAllowReconnect(opts, true);
  natsOptions_SetMaxReconnect(opts, -1);
  natsOptions_SetReconnectWait(opts, options.reconnect_wait.count());
  natsOptions_SetReconnectBufSize(opts, static_cast<int>(options.reconnect_buffer));
  natsOptions_SetDisconnectedCB(opts, disconnected_cb, this);
  natsOptions_SetReconnectedCB(opts, reconnected_cb, this);
  natsOptions_SetNoEcho(opts, true);  // this process's own directory messages do not come back
  if ((s = natsConnection_Connect(&nc, opts)) != NATS_OK) fail("cannot connect to " + options.url, s);
  if ((s = natsConnection_Subscribe(&direct_sub, nc, direct.c_str(), message_cb, this)) != NATS_OK ||
      (s = natsConnection_Subscribe(&directory_sub, nc, directory.c_str(), message_cb, this)) != NATS_OK) {
    finish();
    fail("cannot subscribe", s);
  }
  // No pending limits: a message NATS dropped for a slow subscriber would be lost silently.
  natsSubscription_SetPendingLimits(direct_sub, -1, -1);
  natsSubscription_SetPendingLimits(directory_sub, -1, -1);
  // The server has both subscriptions once the flush returns: answers to the hello find us.
  if ((s = natsConnection_FlushTimeout(nc, options.connect_timeout.count())) != NATS_OK) {
    finish();
    fail("the server did not confirm the subscriptions", s);
  }
  publisher = std::thread([this] {
    std::array<Outbound, 64> batch;
    for (;;) {
      const std::size_t n = outbound.wait_dequeue_bulk_timed(batch.begin(), batch.size(), std::chrono::milliseconds(50));
      for (std::size_t i = 0; i < n; ++i) {
        const natsStatus st = natsConnection_Publish(nc, batch[i].subject.c_str(), batch[i].data.data(),
                                                     static_cast<int>(batch[i].data.size()));
        bump(st == NATS_OK ? c.sent : c.send_failures);
        batch[i] = {};
      }
      if (n > 0) queued.fetch_sub(n, std::memory_order_relaxed);
      if (n == 0 && stopping.load(std::memory_order_acquire)) return;
    }
  });
  std::string hello;
  write(hello, Kind::kHello, id, 0, 0, {}, {}, {});
  publish(directory, std::move(hello));
}

void Core::finish() noexcept {
  if (nc == nullptr) return;
  if (publisher.joinable()) {
    try {
      std::string bye;
      write(bye, Kind::kBye, id, 0, 0, {}, {}, {});
      publish(directory, std::move(bye));
    } catch (...) {
    }
    stopping.store(true, std::memory_order_release);
    publisher.join();
    natsConnection_FlushTimeout(nc, 1000);
  }
  if (direct_sub != nullptr) natsSubscription_Unsubscribe(direct_sub);
  if (directory_sub != nullptr) natsSubscription_Unsubscribe(directory_sub);
  natsConnection_Close(nc);
  natsSubscription_Destroy(direct_sub);
  natsSubscription_Destroy(directory_sub);
  natsConnection_Destroy(nc);
  direct_sub = directory_sub = nullptr;
  nc = nullptr;
}

// ---- sending -------------------------------------------------------------------------------

void Core::publish(std::string subject, std::string data) {
  if (queued.fetch_add(1, std::memory_order_relaxed) >= options.max_outbound) {
    queued.fetch_sub(1, std::memory_order_relaxed);
    bump(c.send_failures);
    return;
  }
  outbound.enqueue(Outbound{std::move(subject), std::move(data)});
}

std::string Core::subject_of(std::uint64_t process) const { return options.prefix + ".p." + hex(process); }

void Core::announce(Kind kind, std::string_view name) {
  std::string data;
  write(data, kind, id, 0, 0, {}, name, {});
  publish(directory, std::move(data));
}

void send_tell(Core& core, std::string_view name, std::string_view type, std::string payload) {
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
    core.deliver_here(entry, Kind::kTell, type, payload, 0, 0);
    return;
  }
  std::string data;
  write(data, Kind::kTell, core.id, 0, 0, type, name, payload);
  bump(core.c.tells_out);
  core.publish(core.subject_of(entry.process), std::move(data));
}

void send_ask(Core& core, std::string_view name, std::string_view type, std::string payload,
              std::chrono::milliseconds timeout, Finish finish) {
  const actors::ActorId asker = actors::Stage::current();
  if (!asker) throw std::logic_error("cluster: ask from outside an actor's handler (its answer needs an actor to run on)");
  bump(core.c.asks);
  const std::uint64_t corr = core.next_correlation.fetch_add(1, std::memory_order_relaxed);
  runtime::Reactor& reactor = asker.stage->reactor();
  {
    const std::lock_guard lock(core.pending_m);
    core.pending.emplace(corr, Pending{asker, &reactor, {}, std::move(finish)});
  }
  // The timeout first: the answer may come before this function returns (it then runs
  // after this handler, on this thread, and the timer finds nothing).
  const runtime::TimerId timer = reactor.after(timeout, [weak = core.weak_from_this(), corr] {
    if (auto c = weak.lock()) c->expire(corr);
  });
  {
    const std::lock_guard lock(core.pending_m);
    if (auto it = core.pending.find(corr); it != core.pending.end()) it->second.timer = timer;
  }
  NameEntry entry;
  bool found = false;
  {
    const std::shared_lock lock(core.names_m);
    if (const auto it = core.names.find(name); it != core.names.end()) {
      entry = it->second;
      found = true;
    }
  }
  if (!found) {
    bump(core.c.no_route);
    core.complete(corr, actors::AskError::kNoRoute, "no process holds '" + std::string(name) + "'");
    return;
  }
  if (entry.here) {
    bump(core.c.local);
    core.deliver_here(entry, Kind::kAsk, type, payload, 0, corr);
    return;
  }
  std::string data;
  write(data, Kind::kAsk, core.id, corr, 0, type, name, payload);
  core.publish(core.subject_of(entry.process), std::move(data));
}

std::chrono::milliseconds default_ask_timeout(const Core& core) noexcept { return core.options.ask_timeout; }

// ---- receiving -----------------------------------------------------------------------------

void Core::on_message(natsMsg* msg) {
  struct MsgGuard {
    natsMsg* m;
    ~MsgGuard() { natsMsg_Destroy(m); }
  } guard{msg};
  const std::string_view bytes(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  Envelope e;
  if (parse(bytes, e) != ParseError::kNone) {
    bump(c.malformed);
    return;
  }
  if (e.sender == id) return;  // (NoEcho keeps these away; a second Cluster in this process would not)
  bump(c.received);
  try {
    switch (e.kind) {
      case Kind::kTell:
      case Kind::kAsk: on_request(e); break;
      case Kind::kReply:
      case Kind::kError: on_answer(e); break;
      default: on_directory(e); break;
    }
  } catch (const std::exception&) {
    bump(c.malformed);  // e.g. an answer too large to encode back; nothing reached an actor
  }
}

void Core::on_directory(const Envelope& e) {
  const std::unique_lock lock(names_m);
  processes[e.sender] = std::chrono::steady_clock::now();
  switch (e.kind) {
    case Kind::kHello: {
      std::string list;
      for (const auto& [name, entry] : names) {
        if (entry.here) append_name(list, name);
      }
      std::string data;
      write(data, Kind::kNames, id, 0, 0, {}, {}, list);
      publish(subject_of(e.sender), std::move(data));
      break;
    }
    case Kind::kNames:
    case Kind::kNameAdd: {
      auto add = [&](std::string_view name) {
        auto it = names.find(name);
        if (it == names.end()) {
          names.emplace(std::string(name), NameEntry{false, {}, typeid(void), e.sender});
          names_elsewhere.fetch_add(1, std::memory_order_relaxed);
        } else if (!it->second.here) {
          it->second.process = e.sender;  // moved: the newest announcement wins
        }                                 // registered here: ours stays ours
      };
      if (e.kind == Kind::kNameAdd) {
        if (e.name.empty()) return bump(c.malformed);
        add(e.name);
      } else if (!for_each_name(e.payload, add)) {
        bump(c.malformed);
      }
      break;
    }
    case Kind::kNameRemove: {
      const auto it = names.find(e.name);
      if (it != names.end() && !it->second.here && it->second.process == e.sender) {
        names.erase(it);
        names_elsewhere.fetch_sub(1, std::memory_order_relaxed);
      }
      break;
    }
    case Kind::kBye: {
      processes.erase(e.sender);
      for (auto it = names.begin(); it != names.end();) {
        if (!it->second.here && it->second.process == e.sender) {
          it = names.erase(it);
          names_elsewhere.fetch_sub(1, std::memory_order_relaxed);
        } else {
          ++it;
        }
      }
      break;
    }
    case Kind::kHeartbeat: break;
    default: bump(c.malformed); break;
  }
}

void Core::on_request(const Envelope& e) {
  NameEntry entry;
  {
    const std::shared_lock lock(names_m);
    const auto it = names.find(e.name);
    if (it == names.end() || !it->second.here) {
      bump(c.no_route);
      if (e.kind == Kind::kAsk) {
        answer(e.sender, e.correlation, actors::AskError::kNoRoute,
               "'" + std::string(e.name) + "' is not registered in the process it was sent to");
      }
      return;
    }
    entry = it->second;
  }
  if (e.kind == Kind::kTell) bump(c.tells_in);
  deliver_here(entry, e.kind, e.type, e.payload, e.kind == Kind::kAsk ? e.sender : 0, e.correlation);
}

void Core::deliver_here(const NameEntry& entry, Kind kind, std::string_view type, std::string_view payload,
                        std::uint64_t to, std::uint64_t correlation) {
  const Handler* h = handler_for(entry.type, type);
  if (h == nullptr) {
    bump(c.unhandled);
    if (kind == Kind::kAsk) {
      answer(to, correlation, actors::AskError::kNoRoute,
             "the actor has no handler for '" + std::string(type) + "' (Cluster::handle)");
    }
    return;
  }
  if (kind == Kind::kTell) {
    if (!h->tell(entry.actor, payload)) bump(c.malformed);
    return;
  }
  const bool decoded = h->ask(entry.actor, payload, [weak = weak_from_this(), to, correlation](actors::AskError error,
                                                                                               std::string bytes) {
    if (auto core = weak.lock()) core->answer(to, correlation, error, std::move(bytes));
  });
  if (!decoded) {
    bump(c.malformed);
    answer(to, correlation, actors::AskError::kMalformed, "the request did not decode as '" + std::string(type) + "'");
  }
}

void Core::answer(std::uint64_t to, std::uint64_t correlation, actors::AskError error, std::string bytes) {
  if (to == 0 || to == id) {
    complete(correlation, error, std::move(bytes));
    return;
  }
  std::string data;
  if (error == actors::AskError::kNone) {
    write(data, Kind::kReply, id, correlation, 0, {}, {}, bytes);
  } else {
    write(data, Kind::kError, id, correlation, 0, actors::to_string(error), {}, bytes);
  }
  publish(subject_of(to), std::move(data));
}

void Core::on_answer(const Envelope& e) {
  if (e.kind == Kind::kReply) {
    complete(e.correlation, actors::AskError::kNone, std::string(e.payload));
  } else {
    complete(e.correlation, error_named(e.type), std::string(e.payload));
  }
}

void Core::complete(std::uint64_t correlation, actors::AskError error, std::string bytes) {
  Pending p;
  {
    const std::lock_guard lock(pending_m);
    const auto it = pending.find(correlation);
    if (it == pending.end()) return;  // timed out already (or a stray answer)
    p = std::move(it->second);
    pending.erase(it);
  }
  bump(c.replies);
  // On the asker, on its thread, while it lives.
  actors::Stage::send(p.asker, [p = std::move(p), error, bytes = std::move(bytes)](actors::Actor* a) mutable {
    if (a == nullptr) return;  // the asker is gone
    if (p.timer) p.reactor->cancel(p.timer);
    p.finish(error, bytes);
  });
}

void Core::expire(std::uint64_t correlation) {
  Pending p;
  {
    const std::lock_guard lock(pending_m);
    const auto it = pending.find(correlation);
    if (it == pending.end()) return;
    p = std::move(it->second);
    pending.erase(it);
  }
  bump(c.ask_timeouts);
  actors::Stage::send(p.asker, [p = std::move(p)](actors::Actor* a) mutable {
    if (a != nullptr) p.finish(actors::AskError::kTimeout, "no answer in time");
  });
}

void Core::drop_local(const std::string& name, actors::ActorId actor) {
  {
    const std::unique_lock lock(names_m);
    const auto it = names.find(name);
    if (it == names.end() || !it->second.here || !(it->second.actor == actor)) return;
    names.erase(it);
    names_here.fetch_sub(1, std::memory_order_relaxed);
  }
  announce(Kind::kNameRemove, name);
}

const Handler* Core::handler_for(std::type_index actor, std::string_view type) const {
  const std::shared_lock lock(handlers_m);
  const auto by_actor = handlers.find(actor);
  if (by_actor == handlers.end()) return nullptr;
  const auto it = by_actor->second.find(type);
  return it == by_actor->second.end() ? nullptr : &it->second;  // stable: never erased
}

bool Core::on_our_stages(actors::ActorId id) const noexcept {
  for (const actors::Stage* s : stages) {
    if (s == id.stage) return true;
  }
  return false;
}

// ---- NameKeeper ----------------------------------------------------------------------------

void NameKeeper::watch(actors::ActorId actor, std::string name) {
  watched_.emplace(actor.slot, std::pair{actor, std::move(name)});
  monitor_id(actor);
}

void NameKeeper::unwatch(std::string name) {
  for (auto it = watched_.begin(); it != watched_.end(); ++it) {
    if (it->second.second == name) {
      watched_.erase(it);
      return;
    }
  }
}

void NameKeeper::on_down(const actors::DownNotice& notice) {
  const auto core = core_.lock();
  auto [first, last] = watched_.equal_range(notice.who.slot);
  while (first != last) {
    if (first->second.first == notice.who) {
      if (core) core->drop_local(first->second.second, notice.who);
      first = watched_.erase(first);
    } else {
      ++first;
    }
  }
}

}  // namespace detail

// ---- Cluster -------------------------------------------------------------------------------

Cluster::Cluster(std::span<actors::Stage* const> stages, ClusterOptions options) {
  if (stages.empty()) throw std::invalid_argument("cluster: no stage");
  for (const actors::Stage* s : stages) {
    if (s == nullptr) throw std::invalid_argument("cluster: a null stage");
  }
  if (!detail::valid_prefix(options.prefix)) {
    throw std::invalid_argument("cluster: prefix must be a NATS subject without wildcards or empty tokens");
  }
  if (options.ask_timeout.count() <= 0 || options.connect_timeout.count() <= 0 || options.reconnect_wait.count() <= 0) {
    throw std::invalid_argument("cluster: ask_timeout, connect_timeout and reconnect_wait must be positive");
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
    throw std::invalid_argument("cluster: a second handler for '" + std::string(type) + "' on one actor type");
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
      throw std::invalid_argument("cluster: '" + std::string(name) + "' is already registered in this process");
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
  {
    const std::unique_lock lock(core_->names_m);
    const auto it = core_->names.find(name);
    if (it == core_->names.end() || !it->second.here) return false;
    actor = it->second.actor;
    core_->names.erase(it);
    core_->names_here.fetch_sub(1, std::memory_order_relaxed);
  }
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
  out.names_here = core_->names_here.load(std::memory_order_relaxed);
  out.names_elsewhere = core_->names_elsewhere.load(std::memory_order_relaxed);
  {
    const std::shared_lock lock(core_->names_m);
    out.processes = core_->processes.size();
  }
  return out;
}

}  // namespace ringactor::cluster
