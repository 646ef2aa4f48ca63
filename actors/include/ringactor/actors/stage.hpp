// Stage: the actors of one reactor.
//
// A Stage attaches to a Reactor and owns the actors that live on it: a generation-tagged
// table (so a Ref to a stopped actor is recognised, never dereferenced) and a run queue of
// messages drained on the reactor thread, at most `run_budget` per loop iteration so a
// chatty actor cannot starve the network. Messages from other threads arrive through the
// reactor's invoke queue and run when it is drained.
//
// Threads: construct it on the thread that set up the reactor, before run() (or on the
// reactor thread); spawn() and listen() are reactor-thread calls (or before run()).
// counters() may be called anywhere. Destroy the Stage after reactor.run() has returned and
// before the Reactor; when the reactor shuts down the stage stops every remaining actor
// (reason kShutdown, on_stop once each). A Stage must outlive every use of Refs into it.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <ringactor/runtime/connection.hpp>
#include <ringactor/runtime/metrics.hpp>
#include <ringactor/runtime/reactor.hpp>
#include <ringactor/runtime/reactor_options.hpp>
#include <ringactor/runtime/slot_pool.hpp>
#include <ringactor/runtime/unique_function.hpp>

#include "ringactor/actors/actor.hpp"
#include "ringactor/actors/detail/method_traits.hpp"
#include "ringactor/actors/detail/ring_queue.hpp"
#include "ringactor/actors/ref.hpp"

namespace ringactor::actors {

class ConnectionActor;
class GroupBase;
class Mesh;
namespace detail {
struct MeshPort;
}

struct StageOptions {
  // Live actors at most. The table is allocated lazily (pages are touched when used), so a
  // large bound costs nothing until actors exist; 1M covers a connection actor per socket.
  std::uint32_t max_actors = 1u << 20;
  // Run-queue messages handled per reactor iteration before I/O is looked at again. 1024
  // keeps an iteration well under a millisecond for typical handlers.
  std::size_t run_budget = 1024;
};

struct StageCounters {
  std::uint64_t spawned = 0;             // actors started
  std::uint64_t stopped = 0;             // actors stopped (any reason)
  std::uint64_t live = 0;                // actors alive now
  std::uint64_t messages = 0;            // messages handled (local and remote)
  std::uint64_t remote_messages = 0;     // of those, arrived from another thread
  std::uint64_t dead_letters = 0;        // messages for actors that were gone (incl. replies)
  std::uint64_t handler_exceptions = 0;  // exceptions that escaped a handler (actor stopped)
  std::uint64_t ticks = 0;               // every_tick calls made
  std::uint64_t ticks_skipped = 0;       // every_tick deadlines that passed without a call (late loop)
};

// The stage's counters as metrics (live actors, messages, dead letters, handler exceptions).
void write_metrics(const StageCounters& c, runtime::MetricsWriter& w);

// Makes the connection actor for an accepted connection (Stage::listen). Reactor thread.
using ConnectionActorFactory = runtime::UniqueFunction<std::unique_ptr<ConnectionActor>(runtime::Connection)>;

class Stage {
 public:
  // A message: called with the target actor, or with nullptr when it is dropped (target
  // gone) so that an ask can still answer. 64 inline bytes: a member pointer plus about 48
  // bytes of arguments travel without a heap allocation.
  using Message = runtime::UniqueFunction<void(Actor*), 64>;

  explicit Stage(runtime::Reactor& reactor, StageOptions options = {});
  Stage(const Stage&) = delete;
  Stage& operator=(const Stage&) = delete;
  ~Stage();

  // Creates a T from args, runs its on_start (inside this call) and returns its Ref.
  // Reactor thread, or before run(). Throws std::length_error when max_actors are alive,
  // std::logic_error from a foreign thread while the reactor runs; exceptions from T's
  // constructor propagate. If on_start throws, the actor is stopped (kException) and the
  // returned Ref names a stopped actor.
  template <typename T, typename... A>
  Ref<T> spawn(A&&... args) {
    static_assert(std::is_base_of_v<Actor, T>, "actors derive from ringactor::actors::Actor");
    check_thread("spawn");
    return Ref<T>(adopt(std::make_unique<T>(std::forward<A>(args)...)));
  }
  // Same, for an actor object built elsewhere.
  ActorId adopt(std::unique_ptr<Actor> actor);

  // Listens for TCP connections; each one gets a connection actor from `factory` (see
  // connection_actor.hpp). Returns the bound port. Same threads and errors as
  // Reactor::listen.
  std::uint16_t listen(const runtime::ListenOptions& options, ConnectionActorFactory factory);

  runtime::Reactor& reactor() const noexcept { return reactor_; }
  // Any thread.
  StageCounters counters() const noexcept;
  // Reactor thread. True while the actor lives and has not begun stopping.
  bool alive(ActorId id) const noexcept;
  std::uint32_t size() const noexcept { return table_.size(); }

  // ---- the machinery behind Ref and Actor (public for their templates) ----------------

  // Delivers a message (a callable `void(Actor*)`) to `target` from any thread (see ref.hpp
  // for the paths), constructing it in place in the run queue or the invoke-queue task. A
  // dead target makes it a dead letter: it is called with nullptr on the target's thread.
  template <typename F>
  static void send(ActorId target, F&& message);
  // The actor whose handler is running on this thread, or an empty id.
  static ActorId current() noexcept;
  // Runs fn on this stage's reactor thread outside any actor (through the invoke queue);
  // runs it here if the reactor has already finished.
  void run_detached(runtime::Task fn);
  void request_stop(ActorId target);
  void monitor(ActorId watcher, ActorId target);
  // Group machinery (group.hpp): `owner`'s groups hear when a watched member stops;
  // unwatch() takes back one watch (group or monitor) of `watcher` on `target`.
  void watch_for_group(ActorId owner, ActorId target);
  void unwatch(ActorId watcher, ActorId target, bool group) noexcept;
  void register_group(ActorId owner, GroupBase* group);
  void unregister_group(ActorId owner, GroupBase* group) noexcept;
  runtime::TimerId schedule_timer(const Actor& actor, std::uint32_t index, std::uint32_t serial,
                                  Actor::Clock::duration delay);
  // Runs f(actor) as a handler of the actor in slot/generation (context set, exceptions
  // stop the actor, a stop() inside takes effect after). Returns false if it is gone.
  template <typename F>
  bool with_actor(ActorId id, F&& f);
  void log_error(std::string_view what) const noexcept;

 private:
  friend class ConnectionActor;
  friend class Mesh;
  friend struct detail::MeshPort;
  // The mesh path (mesh.hpp): true when the calling thread runs a member of the mesh that
  // `target`'s stage belongs to (and not that stage's reactor); the message is then in its
  // ring or backlog. False: use the invoke queue (`m` untouched).
  static bool send_across(ActorId target, Message& m);
  // adopt(), calling `routed(id)` once the actor has its id and before its on_start.
  ActorId adopt(std::unique_ptr<Actor> actor, runtime::UniqueFunction<void(ActorId)> routed);

  // What few actors need: allocated by the first monitor or deferred stop, so an entry is
  // 24 bytes (idle connections are many).
  struct Watcher {
    ActorId id;
    bool group = false;  // told through its groups (GroupBase), not on_down
  };
  struct Extras {
    std::vector<Watcher> watchers;
    std::string deferred_message;  // why a deferred stop happens
    std::vector<GroupBase*> groups;  // the groups this actor owns
  };
  struct Entry {
    std::unique_ptr<Actor> actor;
    std::unique_ptr<Extras> extras;
    std::uint16_t running = 0;  // handler frames of this actor on the stack (they nest)
    bool stopping = false;
    bool deferred = false;  // a stop was requested while a handler ran: done when it returns
    StopReason deferred_reason = StopReason::kNormal;
  };
  struct Envelope {
    template <typename F>
    Envelope(std::uint32_t s, std::uint32_t g, F&& f) : slot(s), generation(g), msg(std::forward<F>(f)) {}
    std::uint32_t slot;
    std::uint32_t generation;
    Message msg;
  };

  void check_thread(const char* what) const;
  void deliver(std::uint32_t slot, std::uint32_t generation, Message& msg);
  void deliver_remote(std::uint32_t slot, std::uint32_t generation, Message& msg);
  void count_lost_letter() noexcept;
  // Places a watch on `target` (on its reactor; a gone target answers at once).
  void watch(Watcher watcher, ActorId target);
  void add_watcher(ActorId target, Watcher watcher);
  void remove_watcher(ActorId target, Watcher watcher) noexcept;
  void send_down(Watcher watcher, DownNotice notice);
  void groups_down(ActorId owner, const DownNotice& notice);
  void on_timer(std::uint32_t slot, std::uint32_t generation, std::uint32_t index, std::uint32_t serial);
  void on_tick(std::uint32_t slot, std::uint32_t generation, std::uint32_t index, std::uint32_t serial);
  Actor::TimerEntry* live_timer(std::uint32_t slot, std::uint32_t generation, std::uint32_t index,
                                std::uint32_t serial) noexcept;
  void drain_run_queue();
  void stop_all(StopReason reason);
  void finalize(std::uint32_t slot, StopReason reason, std::string message);
  // Runs f with the actor's context; handles exceptions and stop requests.
  template <typename F>
  void run_handler(std::uint32_t slot, F&& f);
  bool handler_failed(std::uint32_t slot, const char* what) noexcept;

  // Read by senders on other threads (send()): kept off the cache lines the reactor thread
  // writes per message (the run queue, the counters), which cost a foreign sender a cache
  // miss per tell.
  runtime::Reactor& reactor_;
  detail::MeshPort* port_ = nullptr;  // set by Mesh::join
  // Set by the destructor; other threads read it in send() (a send to a stage being
  // destroyed is a caller's bug, but it must not be a data race as well).
  std::atomic<bool> destroying_{false};
  StageOptions options_;
  alignas(64) runtime::SlotPool<Entry> table_;
  detail::ChunkQueue<Envelope> queue_;
  struct alignas(64) AtomicCounters {
    std::atomic<std::uint64_t> spawned{0}, stopped{0}, messages{0}, remote_messages{0}, dead_letters{0},
        handler_exceptions{0}, ticks{0}, ticks_skipped{0};
  } c_;
};

}  // namespace ringactor::actors

#define RINGACTOR_ACTORS_STAGE_COMPLETE
#include "ringactor/actors/detail/definitions.hpp"
