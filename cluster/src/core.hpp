// Private: the state behind a Cluster, shared with the NATS client's callbacks, the
// publisher thread, the name keepers and pending asks.
//
// Files: core.cpp (connection, publisher thread, heartbeats and down detection, receiving,
// answers), directory.cpp (names, processes, monitors, the name keepers), cluster.cpp (the
// public Cluster, sending, topics).
//
// Locks, in the order they nest: names_m (names, processes, monitors), then pending_m or
// topics_m. No lock is held while calling into the NATS client or an actor.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <typeindex>
#include <unordered_map>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>

#include <ringactor/actors/actor.hpp>
#include <ringactor/runtime/timer_wheel.hpp>

#include "envelope.hpp"
#include "ringactor/cluster/cluster.hpp"

namespace ringactor::cluster::detail {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

using Clock = std::chrono::steady_clock;

// Joins strings (g++ 12 at -O3 warns, wrongly, on a literal + a temporary string).
template <typename... P>
std::string cat(const P&... pieces) {
  std::string out;
  (out.append(std::string_view(pieces)), ...);
  return out;
}

// Where a name lives, as this process knows.
struct NameEntry {
  bool here = false;
  actors::ActorId actor;       // here
  std::type_index type = typeid(void);  // here: the actor type registered
  std::uint64_t process = 0;   // elsewhere
};

// Another process, as heard from.
struct Peer {
  Clock::time_point last_seen;
  std::uint64_t load = 0;
  std::string name;
};

// An ask made here, waiting for its answer.
struct Pending {
  actors::ActorId asker;
  runtime::Reactor* reactor = nullptr;  // the asker's
  runtime::TimerId timer{};
  std::uint64_t process = 0;            // the process asked (0: this one)
  Finish finish;
};

// A monitor of a name (Named::monitor).
struct Watch {
  std::string name;
  actors::ActorId watcher;
  MonitorFn fn;
};

// One topic this process subscribed to (kept until the Cluster goes: a NATS callback may
// still be running when it is unsubscribed).
struct TopicSub {
  struct Core* core = nullptr;
  std::string topic;
  natsSubscription* sub = nullptr;
  std::vector<std::pair<actors::Stage*, std::shared_ptr<TopicFn>>> members;  // under topics_m
  std::unordered_map<std::uint64_t, std::uint64_t> seq_in;  // last number by sender (under topics_m)
};

struct Outbound {
  std::string subject;     // when `to` is 0
  std::uint64_t to = 0;    // a process: its own subject
  std::string data;
  bool sequenced = false;  // stamped with the next number on its subject (direct, topic)
};

struct Counters {
  std::atomic<std::uint64_t> sent{0}, received{0}, tells_out{0}, tells_in{0}, local{0}, asks{0}, replies{0},
      ask_timeouts{0}, no_route{0}, unhandled{0}, malformed{0}, send_failures{0}, disconnects{0}, reconnects{0},
      topic_out{0}, topic_in{0}, downs{0}, lost{0};
};
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept { c.fetch_add(n, std::memory_order_relaxed); }

class NameKeeper;

struct Core : std::enable_shared_from_this<Core> {
  Core(std::vector<actors::Stage*> s, ClusterOptions o);
  ~Core();

  // Setup: connect, subscribe, start the publisher, say hello.
  void start();
  // Teardown: bye, drain the queue, close.
  void finish() noexcept;

  // ---- sending (core.cpp)
  // Through the publisher thread; `sequenced`: numbered on its subject (see envelope.hpp).
  void publish(std::string subject, std::string data, bool sequenced = false);
  void send_to(std::uint64_t process, std::string data);  // on its own subject, numbered
  // Counts the messages missing before `seq` (last: the number seen before from the same
  // sender on the same subject; first: nothing was seen before).
  void check_seq(std::uint64_t& last, std::uint64_t seq, bool first);
  std::string subject_of(std::uint64_t process) const;
  std::string topic_subject(std::string_view topic) const;
  void announce(Kind kind, std::string_view name, std::uint64_t extra = 0);  // on the directory
  std::string hello() const;                              // a kHello with our names (names_m not held)
  void publisher_loop();
  void heartbeat_and_check(Clock::time_point now);

  // ---- receiving (core.cpp; NATS delivery threads)
  void on_message(natsMsg* msg);
  void on_topic(TopicSub& t, natsMsg* msg);
  void on_request(const Envelope& e);  // kTell / kAsk for a name held here
  void on_answer(const Envelope& e);   // kReply / kError for an ask made here
  // Delivery to an actor here (any thread); for an ask, the answer goes to `to` (0: here).
  void deliver_here(const NameEntry& entry, Kind kind, std::string_view type, std::string_view payload,
                    std::uint64_t to, std::uint64_t correlation);
  void answer(std::uint64_t to, std::uint64_t correlation, actors::AskError error, std::string bytes);
  // Completes an ask made here (any thread): the callback runs on the asker.
  void complete(std::uint64_t correlation, actors::AskError error, std::string bytes);
  void expire(std::uint64_t correlation);
  void fail_asks_to(const std::vector<std::uint64_t>& processes, const char* why);
  // Drops what the receiving side numbered for these processes (they left or went down;
  // one that comes back starts a new baseline: see check_seq).
  void forget_numbers(const std::vector<std::uint64_t>& processes);

  // ---- the directory (directory.cpp)
  void on_directory(const Envelope& e);
  // Drops every name of `process` (it left or went down): names_m held; the monitors to
  // notify are moved to `fired`.
  void forget_process_locked(std::uint64_t process, std::vector<Watch>& fired);
  // Takes the monitors of `name` (names_m held).
  void take_watches_locked(std::string_view name, std::vector<Watch>& fired);
  static void notify(std::vector<Watch>& fired, actors::StopReason why);
  void drop_local(const std::string& name, actors::ActorId actor, actors::StopReason why);  // the actor stopped
  void declare_down(const std::vector<std::uint64_t>& processes);

  const Handler* handler_for(std::type_index actor, std::string_view type) const;
  bool on_our_stages(actors::ActorId id) const noexcept;

  std::vector<actors::Stage*> stages;
  std::vector<actors::Ref<NameKeeper>> keepers;  // one per stage
  ClusterOptions options;
  std::uint64_t id = 0;
  std::string process_name;
  std::string direct;     // PREFIX.p.<id>: what is sent to this process
  std::string directory;  // PREFIX.dir: hello, names, heartbeats, bye

  natsConnection* nc = nullptr;
  natsSubscription* direct_sub = nullptr;
  natsSubscription* directory_sub = nullptr;

  // Handlers by (actor type, type tag): written at setup, read by delivery threads.
  mutable std::shared_mutex handlers_m;
  std::unordered_map<std::type_index, StringMap<Handler>> handlers;

  mutable std::shared_mutex names_m;
  StringMap<NameEntry> names;
  std::unordered_map<std::uint64_t, Peer> peers;           // other live processes
  std::unordered_map<std::uint64_t, Watch> watches;        // by monitor id
  std::unordered_multimap<std::string, std::uint64_t, StringHash, std::equal_to<>> watches_by_name;
  std::uint64_t next_watch = 1;
  std::atomic<std::uint64_t> names_here{0}, names_elsewhere{0};
  std::atomic<bool> connected{true};  // down detection waits while this process is cut off
  std::atomic<std::uint64_t> load{0};

  std::mutex pending_m;
  std::unordered_map<std::uint64_t, Pending> pending;
  std::atomic<std::uint64_t> next_correlation{1};

  std::mutex seq_m;
  std::unordered_map<std::uint64_t, std::uint64_t> seq_in;  // on our own subject: last number by sender

  std::mutex topics_m;
  StringMap<std::unique_ptr<TopicSub>> topics;
  std::vector<natsSubscription*> retired;  // unsubscribed topics' (under topics_m; destroyed by finish)

  // Subscriptions whose message callback may still run (their completion callback has not
  // come yet): finish() waits for none before the Core may go.
  void track(natsSubscription* sub);
  std::atomic<int> live_subs{0};
  // The client's last callback (closed) has run: none of its callbacks comes after.
  std::atomic<bool> closed{false};

  // What leaves, for the publisher thread. It sleeps on `parked` (a futex) only after
  // announcing it there and finding the queue still empty; a sender wakes it only when it
  // sees the announcement (a fence and a load per message otherwise, no syscall).
  moodycamel::ConcurrentQueue<Outbound> outbound;
  std::atomic<std::uint32_t> parked{0};
  void enqueue(Outbound out);
  void wake_publisher() noexcept;
  std::atomic<bool> stopping{false};
  std::thread publisher;

  Counters c;
};

// Watches the actors registered on one stage and drops their names when they stop.
class NameKeeper final : public actors::Actor {
 public:
  explicit NameKeeper(std::weak_ptr<Core> core) : core_(std::move(core)) {}
  void watch(actors::ActorId actor, std::string name);
  void unwatch(std::string name);
  void on_down(const actors::DownNotice& notice) override;

 private:
  std::weak_ptr<Core> core_;
  std::unordered_multimap<std::uint32_t, std::pair<actors::ActorId, std::string>> watched_;  // by slot
};

}  // namespace ringactor::cluster::detail
