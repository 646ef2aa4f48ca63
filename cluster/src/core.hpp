// Private: the state behind a Cluster, shared with the NATS client's callbacks, the
// publisher thread, the name keepers and pending asks.
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

#include <concurrentqueue/blockingconcurrentqueue.h>

#include <ringactor/actors/actor.hpp>
#include <ringactor/runtime/timer_wheel.hpp>

#include "envelope.hpp"
#include "ringactor/cluster/cluster.hpp"

namespace ringactor::cluster::detail {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Where a name lives, as this process knows.
struct NameEntry {
  bool here = false;
  actors::ActorId actor;       // here
  std::type_index type = typeid(void);  // here: the actor type registered
  std::uint64_t process = 0;   // elsewhere
};

// An ask made here, waiting for its answer.
struct Pending {
  actors::ActorId asker;
  runtime::Reactor* reactor = nullptr;  // the asker's
  runtime::TimerId timer{};
  Finish finish;
};

struct Outbound {
  std::string subject;
  std::string data;
};

struct Counters {
  std::atomic<std::uint64_t> sent{0}, received{0}, tells_out{0}, tells_in{0}, local{0}, asks{0}, replies{0},
      ask_timeouts{0}, no_route{0}, unhandled{0}, malformed{0}, send_failures{0}, disconnects{0}, reconnects{0};
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

  // Sending.
  void publish(std::string subject, std::string data);  // through the publisher thread
  std::string subject_of(std::uint64_t process) const;
  void announce(Kind kind, std::string_view name);  // kNameAdd / kNameRemove on the directory

  // Receiving (NATS delivery threads).
  void on_message(natsMsg* msg);
  void on_directory(const Envelope& e);
  void on_request(const Envelope& e);  // kTell / kAsk for a name held here
  void on_answer(const Envelope& e);   // kReply / kError for an ask made here

  // Delivery to an actor here (any thread); for an ask, the answer goes to `to` (0: here).
  void deliver_here(const NameEntry& entry, Kind kind, std::string_view type, std::string_view payload,
                    std::uint64_t to, std::uint64_t correlation);
  void answer(std::uint64_t to, std::uint64_t correlation, actors::AskError error, std::string bytes);
  // Completes an ask made here (any thread): the callback runs on the asker.
  void complete(std::uint64_t correlation, actors::AskError error, std::string bytes);
  void expire(std::uint64_t correlation);

  void drop_local(const std::string& name, actors::ActorId actor);  // the actor stopped

  const Handler* handler_for(std::type_index actor, std::string_view type) const;
  bool on_our_stages(actors::ActorId id) const noexcept;

  std::vector<actors::Stage*> stages;
  std::vector<actors::Ref<NameKeeper>> keepers;  // one per stage
  ClusterOptions options;
  std::uint64_t id = 0;
  std::string direct;     // PREFIX.p.<id>: what is sent to this process
  std::string directory;  // PREFIX.dir: hello, names, bye

  natsConnection* nc = nullptr;
  natsSubscription* direct_sub = nullptr;
  natsSubscription* directory_sub = nullptr;

  // Handlers by (actor type, type tag): written at setup, read by delivery threads.
  mutable std::shared_mutex handlers_m;
  std::unordered_map<std::type_index, std::unordered_map<std::string, Handler, StringHash, std::equal_to<>>> handlers;

  mutable std::shared_mutex names_m;
  std::unordered_map<std::string, NameEntry, StringHash, std::equal_to<>> names;
  std::unordered_map<std::uint64_t, std::chrono::steady_clock::time_point> processes;  // under names_m
  std::atomic<std::uint64_t> names_here{0}, names_elsewhere{0};

  std::mutex pending_m;
  std::unordered_map<std::uint64_t, Pending> pending;
  std::atomic<std::uint64_t> next_correlation{1};

  moodycamel::BlockingConcurrentQueue<Outbound> outbound;
  std::atomic<std::size_t> queued{0};
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
