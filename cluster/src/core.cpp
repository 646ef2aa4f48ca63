// The Core's connection: connecting, the publisher thread (which also sends heartbeats and
// declares silent processes down), receiving, and answers to asks.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <random>

#include <ringactor/runtime/reactor.hpp>

#include "core.hpp"

namespace ringactor::cluster::detail {

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

actors::AskError error_named(std::string_view n) {
  for (const auto e : {actors::AskError::kDead, actors::AskError::kException, actors::AskError::kShutdown,
                       actors::AskError::kTimeout, actors::AskError::kNoRoute, actors::AskError::kMalformed,
                       actors::AskError::kNodeDown}) {
    if (actors::to_string(e) == n) return e;
  }
  return actors::AskError::kMalformed;
}

void stamp_extra(std::string& data, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) data[20 + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

[[noreturn]] void fail(const std::string& what, natsStatus s) {
  throw std::runtime_error("cluster: " + what + ": " + natsStatus_GetText(s));
}

struct MsgGuard {
  natsMsg* m;
  ~MsgGuard() { natsMsg_Destroy(m); }
};

void message_cb(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<Core*>(closure)->on_message(msg);
}
void sub_done_cb(void* closure) {
  Core* core = static_cast<Core*>(closure);
  core->live_subs.fetch_sub(1, std::memory_order_acq_rel);
  core->live_subs.notify_all();
}

void closed_cb(natsConnection*, void* closure) {
  static_cast<Core*>(closure)->closed.store(true, std::memory_order_release);
}

void disconnected_cb(natsConnection*, void* closure) {
  Core* core = static_cast<Core*>(closure);
  core->connected.store(false, std::memory_order_release);
  bump(core->c.disconnects);
}
void reconnected_cb(natsConnection*, void* closure) {
  Core* core = static_cast<Core*>(closure);
  bump(core->c.reconnects);
  {
    // Nobody could be heard while we were cut off: everyone gets down_after again.
    const std::unique_lock lock(core->names_m);
    const auto now = Clock::now();
    for (auto& [id, peer] : core->peers) peer.last_seen = now;
  }
  core->connected.store(true, std::memory_order_release);
  // Say hello again: the others may have declared this process down and dropped its names.
  core->publish(core->directory, core->hello());
}

}  // namespace

Core::Core(std::vector<actors::Stage*> s, ClusterOptions o) : stages(std::move(s)), options(std::move(o)), id(random_id()) {
  direct = options.prefix + ".p." + hex(id);
  directory = options.prefix + ".dir";
  process_name = options.process_name;
  if (process_name.empty()) {
    std::array<char, 256> host{};
    ::gethostname(host.data(), host.size() - 1);
    process_name = std::string(host.data()) + ":" + std::to_string(::getpid());
  }
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
  if ((s = natsOptions_SetURL(opts, options.url.c_str())) != NATS_OK) fail(cat("bad url '", options.url, "'"), s);
  natsOptions_SetName(opts, process_name.c_str());
  natsOptions_SetTimeout(opts, options.connect_timeout.count());
  natsOptions_SetAllowReconnect(opts, true);
  natsOptions_SetMaxReconnect(opts, -1);
  natsOptions_SetReconnectWait(opts, options.reconnect_wait.count());
  natsOptions_SetReconnectBufSize(opts, static_cast<int>(options.reconnect_buffer));
  natsOptions_SetDisconnectedCB(opts, disconnected_cb, this);
  natsOptions_SetReconnectedCB(opts, reconnected_cb, this);
  natsOptions_SetClosedCB(opts, closed_cb, this);
  natsOptions_SetNoEcho(opts, true);  // this process's own directory and topic messages do not come back
  if ((s = natsConnection_Connect(&nc, opts)) != NATS_OK) fail("cannot connect to " + options.url, s);
  if ((s = natsConnection_Subscribe(&direct_sub, nc, direct.c_str(), message_cb, this)) != NATS_OK ||
      (s = natsConnection_Subscribe(&directory_sub, nc, directory.c_str(), message_cb, this)) != NATS_OK) {
    finish();
    fail("cannot subscribe", s);
  }
  track(direct_sub);
  track(directory_sub);
  // No pending limits: a message NATS dropped for a slow subscriber would be lost silently.
  natsSubscription_SetPendingLimits(direct_sub, -1, -1);
  natsSubscription_SetPendingLimits(directory_sub, -1, -1);
  // The server has both subscriptions once the flush returns: answers to the hello find us.
  if ((s = natsConnection_FlushTimeout(nc, options.connect_timeout.count())) != NATS_OK) {
    finish();
    fail("the server did not confirm the subscriptions", s);
  }
  publisher = std::thread([this] { publisher_loop(); });
  publish(directory, hello());
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
    parked.store(1, std::memory_order_relaxed);  // (so that the wake below is not skipped)
    wake_publisher();
    publisher.join();
    natsConnection_FlushTimeout(nc, 1000);
  }
  if (direct_sub != nullptr) natsSubscription_Unsubscribe(direct_sub);
  if (directory_sub != nullptr) natsSubscription_Unsubscribe(directory_sub);
  {
    const std::lock_guard lock(topics_m);
    for (auto& [name, t] : topics) {
      if (t->sub != nullptr) natsSubscription_Unsubscribe(t->sub);
    }
  }
  natsConnection_Close(nc);
  // The client calls back from its own threads after Close returns: a message callback may
  // still run (each subscription's completion callback says when it is done), and the
  // disconnected and closed callbacks come last. Wait for all of them (bounded: each one
  // only counts or posts and returns) before the Core may go.
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while ((live_subs.load(std::memory_order_acquire) > 0 || !closed.load(std::memory_order_acquire)) &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  natsSubscription_Destroy(direct_sub);
  natsSubscription_Destroy(directory_sub);
  for (auto& [name, t] : topics) natsSubscription_Destroy(t->sub);
  for (natsSubscription* sub : retired) natsSubscription_Destroy(sub);
  retired.clear();
  natsConnection_Destroy(nc);
  direct_sub = directory_sub = nullptr;
  nc = nullptr;
}

// ---- sending -------------------------------------------------------------------------------

void Core::publish(std::string subject, std::string data, bool sequenced) {
  enqueue(Outbound{std::move(subject), 0, std::move(data), sequenced});
}

void Core::enqueue(Outbound out) {
  if (outbound.size_approx() >= options.max_outbound) {
    bump(c.send_failures);
    return;
  }
  outbound.enqueue(std::move(out));
  wake_publisher();
}

void Core::wake_publisher() noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);  // the item before the look at `parked`
  if (parked.load(std::memory_order_relaxed) != 0 && parked.exchange(0, std::memory_order_acq_rel) != 0) {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&parked), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }
}

void Core::send_to(std::uint64_t process, std::string data) {
  enqueue(Outbound{{}, process, std::move(data), true});
}

void Core::track(natsSubscription* sub) {
  live_subs.fetch_add(1, std::memory_order_acq_rel);
  if (natsSubscription_SetOnCompleteCB(sub, sub_done_cb, this) != NATS_OK) {
    live_subs.fetch_sub(1, std::memory_order_acq_rel);
  }
}

std::string Core::subject_of(std::uint64_t process) const { return options.prefix + ".p." + hex(process); }

std::string Core::topic_subject(std::string_view topic) const {
  std::string s = options.prefix;
  s += ".t.";
  s += topic;
  return s;
}

void Core::announce(Kind kind, std::string_view name, std::uint64_t extra) {
  std::string data;
  write(data, kind, id, 0, extra, {}, name, {});
  publish(directory, std::move(data));
}

std::string Core::hello() const {
  std::string list;
  {
    const std::shared_lock lock(names_m);
    for (const auto& [name, entry] : names) {
      if (entry.here) append_name(list, name);
    }
  }
  std::string data;
  write(data, Kind::kHello, id, 0, 0, {}, process_name, list);
  return data;
}

void Core::publisher_loop() {
  std::array<Outbound, 64> batch;
  // Numbers are given here, by the one thread that hands messages to the client, so they
  // are in the order NATS carries them.
  StringMap<std::uint64_t> seq_out;  // by subject (topics)
  struct Direct {
    std::string subject;
    std::uint64_t seq = 0;
  };
  std::unordered_map<std::uint64_t, Direct> direct_out;  // by process
  Clock::time_point next_beat = Clock::now();
  const auto wait = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(50), options.heartbeat);
  for (;;) {
    std::size_t n = outbound.try_dequeue_bulk(batch.begin(), batch.size());
    if (n == 0) {
      // Announce the sleep, look once more (a sender that enqueued before seeing the
      // announcement is found here), then sleep until woken or the next heartbeat is due.
      parked.store(1, std::memory_order_seq_cst);
      n = outbound.try_dequeue_bulk(batch.begin(), batch.size());
      if (n == 0 && !stopping.load(std::memory_order_acquire)) {
        const timespec ts{0, static_cast<long>(std::chrono::nanoseconds(wait).count())};
        ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&parked), FUTEX_WAIT_PRIVATE, 1, &ts, nullptr, 0);
        n = outbound.try_dequeue_bulk(batch.begin(), batch.size());
      }
      parked.store(0, std::memory_order_relaxed);
    }
    for (std::size_t i = 0; i < n; ++i) {
      const char* subject = batch[i].subject.c_str();
      if (batch[i].to != 0) {
        auto [it, fresh] = direct_out.try_emplace(batch[i].to);
        if (fresh) it->second.subject = subject_of(batch[i].to);
        subject = it->second.subject.c_str();
        if (batch[i].data.size() >= kFixedBytes) stamp_extra(batch[i].data, ++it->second.seq);
      } else if (batch[i].sequenced && batch[i].data.size() >= kFixedBytes) {
        auto it = seq_out.find(batch[i].subject);
        if (it == seq_out.end()) it = seq_out.emplace(batch[i].subject, 0).first;
        stamp_extra(batch[i].data, ++it->second);
      }
      const natsStatus st =
          natsConnection_Publish(nc, subject, batch[i].data.data(), static_cast<int>(batch[i].data.size()));
      bump(st == NATS_OK ? c.sent : c.send_failures);
      batch[i] = {};
    }
    if (n == 0 && stopping.load(std::memory_order_acquire)) return;
    const auto now = Clock::now();
    if (now >= next_beat) {
      next_beat = now + options.heartbeat;
      heartbeat_and_check(now);
    }
  }
}

void Core::heartbeat_and_check(Clock::time_point now) {
  std::string beat;
  write(beat, Kind::kHeartbeat, id, 0, load.load(std::memory_order_relaxed), {}, process_name, {});
  bump(natsConnection_Publish(nc, directory.c_str(), beat.data(), static_cast<int>(beat.size())) == NATS_OK
           ? c.sent
           : c.send_failures);
  if (!connected.load(std::memory_order_acquire)) return;
  std::vector<std::uint64_t> silent;
  {
    const std::shared_lock lock(names_m);
    for (const auto& [pid, peer] : peers) {
      if (now - peer.last_seen > options.down_after) silent.push_back(pid);
    }
  }
  if (!silent.empty()) declare_down(silent);
}

void Core::forget_numbers(const std::vector<std::uint64_t>& processes) {
  {
    const std::lock_guard lock(seq_m);
    for (const std::uint64_t pid : processes) seq_in.erase(pid);
  }
  const std::lock_guard lock(topics_m);
  for (auto& [name, t] : topics) {
    for (const std::uint64_t pid : processes) t->seq_in.erase(pid);
  }
}

void Core::check_seq(std::uint64_t& last, std::uint64_t seq, bool first) {
  if (seq == 0) return;
  // The first message heard from a sender (on this subject, or since it was forgotten) is
  // the baseline: a topic joined late, or a process back after it was declared down.
  if (!first && seq > last + 1) bump(c.lost, seq - last - 1);
  if (seq > last) last = seq;
}

// ---- receiving -----------------------------------------------------------------------------

void Core::on_message(natsMsg* msg) {
  const MsgGuard guard{msg};
  const std::string_view bytes(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  Envelope e;
  if (parse(bytes, e) != ParseError::kNone) {
    bump(c.malformed);
    return;
  }
  if (e.sender == id) return;  // (NoEcho keeps these away; a second Cluster in this process would not)
  bump(c.received);
  if (natsMsg_GetSubject(msg) == direct) {
    const std::lock_guard lock(seq_m);
    const auto [it, first] = seq_in.try_emplace(e.sender, 0);
    check_seq(it->second, e.extra, first);
  }
  try {
    switch (e.kind) {
      case Kind::kTell:
      case Kind::kAsk: on_request(e); break;
      case Kind::kReply:
      case Kind::kError: on_answer(e); break;
      case Kind::kTopic: bump(c.malformed); break;  // not on these subjects
      default: on_directory(e); break;
    }
  } catch (const std::exception&) {
    bump(c.malformed);  // e.g. an answer too large to encode back; nothing reached an actor
  }
}

void Core::on_topic(TopicSub& t, natsMsg* msg) {
  const MsgGuard guard{msg};
  const std::string_view bytes(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  Envelope e;
  if (parse(bytes, e) != ParseError::kNone || e.kind != Kind::kTopic || e.name != t.topic) {
    bump(c.malformed);
    return;
  }
  if (e.sender == id) return;
  bump(c.received);
  bump(c.topic_in);
  std::vector<std::pair<actors::Stage*, std::shared_ptr<TopicFn>>> members;
  {
    const std::lock_guard lock(topics_m);
    const auto [it, first] = t.seq_in.try_emplace(e.sender, 0);
    check_seq(it->second, e.extra, first);
    members = t.members;
  }
  for (auto& [stage, fn] : members) {
    stage->reactor().post([fn = std::move(fn), m = std::string(e.payload)] { (*fn)(m); });
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
               cat("'", e.name, "' is not registered in the process it was sent to"));
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
             cat("the actor has no handler for '", type, "' (Cluster::handle)"));
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
    answer(to, correlation, actors::AskError::kMalformed, cat("the request did not decode as '", type, "'"));
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
  send_to(to, std::move(data));
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

void Core::fail_asks_to(const std::vector<std::uint64_t>& processes, const char* why) {
  std::vector<std::uint64_t> doomed;
  {
    const std::lock_guard lock(pending_m);
    for (const auto& [corr, p] : pending) {
      for (const std::uint64_t pid : processes) {
        if (p.process == pid) doomed.push_back(corr);
      }
    }
  }
  for (const std::uint64_t corr : doomed) complete(corr, actors::AskError::kNodeDown, why);
}

}  // namespace ringactor::cluster::detail
