// Cluster: actors of several processes talking through NATS (nats-server and its C client,
// libnats): named actors, and tell / ask by name that work the same whether the actor
// lives in this process or in another one.
//
//   struct Move { std::uint32_t seat; float x, y; };
//   template <> struct ringactor::cluster::Codec<Move> : ringactor::cluster::TrivialCodec<Move> {
//     static constexpr std::string_view name = "arena.Move";
//   };
//
//   cluster::Cluster cluster(stages, {.url = "nats://127.0.0.1:4222"});   // setup thread
//   cluster.handle(&Room::move);               // Room actors take Move from other processes
//   cluster.handle(&Room::score);              // std::uint32_t Room::score(GetScore): an ask
//   cluster.register_name("room/alpha", room);  // announced to every process
//   ...
//   // In any process, inside an actor's handler:
//   cluster.named<Room>("room/alpha").tell(Move{1, 0.5f, 0.25f});
//   cluster.named<Room>("room/alpha").ask<std::uint32_t>(GetScore{}, [](actors::Reply<std::uint32_t> r) { ... });
//
// How it works: each process holds one NATS connection and subscribes to its own subject
// (PREFIX.p.<id>) and to the directory subject (PREFIX.dir). Names are announced on the
// directory; a process that joins says hello and the others answer with their names, so
// every process keeps a table of name -> process. A tell to a name held elsewhere is one
// NATS message to that process, carrying the type tag (Codec<M>::name), the name and the
// codec's bytes (envelope.hpp in src/ has the layout); there it is decoded and told to the
// actor. A name held here skips NATS but not the codec, so both paths behave alike.
//
// Threads: NATS's own threads never touch an actor. What arrives is parsed and decoded on
// the client's delivery thread and handed to the actor through its reactor's invoke queue
// (Ref::tell from a foreign thread). What leaves goes to a queue that one publisher thread
// hands to the NATS client, so a reactor never waits on the client's lock or socket.
// Per sender thread, messages to one name arrive in order (one NATS connection per
// process, one delivery thread per subscription, one invoke queue per reactor).
//
// Costs: a remote tell is an encode, one queue push, and on the other side a parse, a
// decode and a Ref::tell; a name lookup (shared lock, one hash probe) per send.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeindex>
#include <utility>
#include <vector>

#include <ringactor/actors/actor.hpp>
#include <ringactor/actors/ref.hpp>
#include <ringactor/actors/reply.hpp>
#include <ringactor/actors/stage.hpp>
#include <ringactor/runtime/metrics.hpp>
#include <ringactor/runtime/unique_function.hpp>

#include "ringactor/cluster/codec.hpp"

namespace ringactor::cluster {

namespace detail {
struct Core;
// What a registered handler does with a message for one actor (type-erased).
using Answer = std::function<void(actors::AskError error, std::string bytes_or_message)>;
struct Handler {
  // Decodes `payload` and tells it to the actor. Any thread. False: it did not decode.
  std::function<bool(actors::ActorId, std::string_view payload)> tell;
  // Decodes and asks; `answer` runs on the actor's thread with the encoded reply or an
  // error. Any thread. False: it did not decode (answer is not called).
  std::function<bool(actors::ActorId, std::string_view payload, Answer answer)> ask;
};
// Finishes an ask on the asker's thread: decodes the reply and calls the user's callback.
using Finish = runtime::UniqueFunction<void(actors::AskError error, std::string_view bytes_or_message)>;
// A monitor's callback (runs on the watching actor's thread).
using MonitorFn = runtime::UniqueFunction<void(actors::StopReason why)>;
// A topic subscriber (runs on its stage's thread).
using TopicFn = std::function<void(std::string_view message)>;
}  // namespace detail

struct ClusterOptions {
  // The NATS server (or a comma-separated list of them).
  std::string url = "nats://127.0.0.1:4222";
  // Subjects start with this: clusters sharing one NATS server stay apart.
  std::string prefix = "ringactor";
  // This process in logs and in the NATS server's connection list; empty: "host:pid".
  std::string process_name{};
  // An ask that names no timeout ends with AskError::kTimeout after this long.
  std::chrono::milliseconds ask_timeout{5'000};
  // The first connection must succeed within this (the constructor throws otherwise).
  std::chrono::milliseconds connect_timeout{2'000};
  // Once connected, a lost connection is retried every reconnect_wait, forever; what is
  // published meanwhile waits in the client's buffer up to reconnect_buffer bytes, and
  // beyond it is counted (send_failures) and dropped.
  std::chrono::milliseconds reconnect_wait{250};
  std::size_t reconnect_buffer = 8u << 20;
  // Messages waiting for the publisher thread; past it a send is counted and dropped.
  std::size_t max_outbound = 1u << 16;
  // Every process sends a heartbeat (carrying its load, set_load) this often; a process
  // not heard from for down_after is declared down: its names are dropped, monitors of them
  // get StopReason::kNodeDown, asks waiting on it end with AskError::kNodeDown. While this
  // process is cut off from NATS nobody is declared down (on reconnecting, every process
  // gets down_after again). down_after must be at least twice the heartbeat.
  std::chrono::milliseconds heartbeat{500};
  std::chrono::milliseconds down_after{2'000};
};

struct ClusterCounters {
  std::uint64_t sent = 0;           // messages handed to NATS (every kind)
  std::uint64_t received = 0;       // messages from NATS (every kind, this process's own echoes excluded)
  std::uint64_t tells_out = 0;      // tells to a name held by another process
  std::uint64_t tells_in = 0;       // tells from another process delivered to an actor here
  std::uint64_t local = 0;          // tells and asks to a name held here (no NATS)
  std::uint64_t asks = 0;           // asks made here
  std::uint64_t replies = 0;        // asks here answered (a value or an error from the actor)
  std::uint64_t ask_timeouts = 0;   // asks here that ended with kTimeout
  std::uint64_t no_route = 0;       // sends to a name no process holds (tells dropped, asks kNoRoute)
  std::uint64_t unhandled = 0;      // messages of a type the target's actor type has no handler for
  std::uint64_t malformed = 0;      // envelopes or payloads that did not parse or decode (dropped)
  std::uint64_t send_failures = 0;  // publishes the client refused or the outbound queue had no room for
  std::uint64_t disconnects = 0;    // connections to the NATS server lost
  std::uint64_t reconnects = 0;     // and made again
  std::uint64_t names_here = 0;     // names registered in this process (a gauge)
  std::uint64_t names_elsewhere = 0;  // names other processes announced (a gauge)
  std::uint64_t processes = 0;      // other processes alive, as heard (a gauge)
  std::uint64_t downs = 0;          // processes declared down (silent for down_after)
  std::uint64_t topic_out = 0;      // topic messages published to the other processes
  std::uint64_t topic_in = 0;       // topic messages received from the other processes
  std::uint64_t lost = 0;           // messages other processes sent here that never arrived: each
                                    // process numbers what it sends on each subject, and a gap
                                    // after the first message heard from it there
                                    // (NATS at most once: a server restart, a slow consumer cut
                                    // off) is counted here
};

// Another process of the cluster, as this one last heard from it.
struct ProcessInfo {
  std::uint64_t id = 0;
  std::string name;        // ClusterOptions::process_name there
  std::uint64_t load = 0;  // what it last set with set_load()
  std::size_t names = 0;   // names it holds
  std::chrono::milliseconds silent{0};  // since its last message
};

template <typename A>
class Named;

class Cluster {
 public:
  // Connects to NATS, subscribes, and says hello to the other processes. `stages` are this
  // process's reactors (a node::Node's, or one Stage) whose actors take part. Throws
  // std::invalid_argument for bad options, std::runtime_error naming the URL and NATS's
  // reason when the server cannot be reached.
  Cluster(std::span<actors::Stage* const> stages, ClusterOptions options = {});
  explicit Cluster(actors::Stage& stage, ClusterOptions options = {});
  // Says goodbye (the other processes drop this one's names at once), stops the publisher
  // after what is queued, and closes the connection. Destroy it after the reactors' run()
  // returned and before the stages.
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // This process's id in the cluster (random, never 0).
  std::uint64_t id() const noexcept;

  // Lets actors of type A take the message type M from any process: `method` is
  // `void A::method(M)` (a tell) or `R A::method(M)` with Remote R (an ask's answer; a tell
  // of the same M drops the value). M is decoded with Codec<M>. Setup thread, before the
  // reactors run. Throws std::invalid_argument for a second handler of one (A, M).
  template <typename A, typename Arg, typename R>
  void handle(R (A::*method)(Arg)) {
    using M = std::remove_cvref_t<Arg>;
    static_assert(std::is_base_of_v<actors::Actor, A>, "handle: A must be an actor");
    static_assert(Remote<M>, "handle: the message type needs a cluster::Codec (codec.hpp)");
    static_assert(std::is_void_v<R> || Remote<std::remove_cvref_t<R>>,
                  "handle: the answer type needs a cluster::Codec (codec.hpp)");
    detail::Handler h;
    h.tell = [method](actors::ActorId id, std::string_view payload) {
      M msg{};
      if (!Codec<M>::decode(payload, msg)) return false;
      actors::Ref<A>(id).tell(method, std::move(msg));
      return true;
    };
    h.ask = [method](actors::ActorId id, std::string_view payload, detail::Answer answer) {
      M msg{};
      if (!Codec<M>::decode(payload, msg)) return false;
      actors::Ref<A>(id).ask(method, std::move(msg), [answer = std::move(answer)](auto reply) {
        using Value = std::remove_cvref_t<R>;
        if (!reply) return answer(reply.error(), reply.message());
        std::string bytes;
        if constexpr (std::is_void_v<R>) {
          Codec<Empty>::encode(Empty{}, bytes);
        } else {
          Codec<Value>::encode(*reply, bytes);
        }
        answer(actors::AskError::kNone, std::move(bytes));
      });
      return true;
    };
    add_handler(std::type_index(typeid(A)), Codec<M>::name, std::move(h));
  }

  // Registers the actor under `name` (1 to 1,024 bytes) and announces it to every process.
  // The name is dropped when the actor stops. Any reactor thread of this process, or the
  // setup thread. Throws std::invalid_argument for a name already registered here or a
  // Ref to an actor not on one of this cluster's stages.
  template <typename A>
  void register_name(std::string_view name, actors::Ref<A> ref) {
    static_assert(std::is_base_of_v<actors::Actor, A>);
    add_name(name, ref.id(), std::type_index(typeid(A)));
  }
  // Drops a name registered here (announced); false when it is not registered here. Any thread.
  bool unregister_name(std::string_view name);

  // A handle for messaging `name` (resolved at each send, so it follows a name that moves
  // to another process).
  template <typename A>
  Named<A> named(std::string_view name) {
    return Named<A>(core_.get(), std::string(name));
  }

  enum class Where : std::uint8_t { kNowhere, kHere, kElsewhere };
  // Where `name` is registered, as this process knows now. Any thread.
  Where where(std::string_view name) const;

  // Any thread.
  ClusterCounters counters() const noexcept;

  // The counters in the Prometheus text format (ringactor_cluster_*), for
  // http::Server::add_metrics: `server.add_metrics([&](rt::MetricsWriter& w) {
  // cluster.write_metrics(w); })`. Any thread.
  void write_metrics(runtime::MetricsWriter& w) const;

  // The other live processes (for placement: the least loaded, say). Any thread; copies.
  std::vector<ProcessInfo> processes() const;
  // This process's load (what placement compares: players, rooms), sent with the next
  // heartbeat. Any thread; an atomic store.
  void set_load(std::uint64_t load) noexcept;

  // Topics across processes. publish() sends `message` once to every other process that
  // subscribed to `topic` (one NATS message; the NATS server fans it out); this process's
  // own subscribers are not called: the publisher does its local fan-out itself (for
  // WebSocket members, http::Server::publish, which also reaches linked reactors). Per
  // publishing thread, messages arrive in order. Any thread. `topic`: 1 to 255 bytes, a
  // NATS subject without wildcards or empty tokens ("room.alpha", "lobby"); throws
  // std::invalid_argument otherwise.
  void publish(std::string_view topic, std::string_view message);
  // Calls fn(message) on `stage`'s thread for each message other processes publish on
  // `topic` (one copy of the message per subscribed stage). Several subscriptions to one
  // topic (several stages) share one NATS subscription. Any thread (usually setup).
  void subscribe(std::string_view topic, actors::Stage& stage, std::function<void(std::string_view message)> fn);
  // Ends every subscription to `topic` in this process; false when there was none.
  bool unsubscribe(std::string_view topic);

  // Ends a monitor made with Named::monitor before it fired; false when it fired already
  // (or never was). Any thread.
  bool demonitor(std::uint64_t monitor);

 private:
  void add_handler(std::type_index actor, std::string_view type, detail::Handler h);
  void add_name(std::string_view name, actors::ActorId id, std::type_index type);
  std::shared_ptr<detail::Core> core_;
};

namespace detail {
// The sending side of Named (cluster.cpp).
// A tell is encoded in place: open_tell() writes the envelope's head, the codec appends
// the payload, send_tell() closes and sends it.
std::string open_tell(const Core& core, std::string_view name, std::string_view type);
void send_tell(Core& core, std::string_view name, std::string_view type, std::string envelope);
void send_ask(Core& core, std::string_view name, std::string_view type, std::string payload,
              std::chrono::milliseconds timeout, Finish finish);
std::chrono::milliseconds default_ask_timeout(const Core& core) noexcept;
std::uint64_t add_watch(Core& core, std::string_view name, MonitorFn fn);
}  // namespace detail

// Messages for a named actor of type A (Cluster::named). Cheap to copy; valid while the
// Cluster lives.
template <typename A>
class Named {
 public:
  const std::string& name() const noexcept { return name_; }

  // Sends `msg` to the actor, here or in another process. Any thread. A name no process
  // holds, a type A has no handler for, and a full outbound queue are counted (no_route,
  // unhandled, send_failures) and the message is dropped: a tell never blocks or throws
  // for delivery.
  template <typename M>
  void tell(const M& msg) const {
    static_assert(Remote<M>, "tell: the message type needs a cluster::Codec (codec.hpp)");
    std::string envelope = detail::open_tell(*core_, name_, Codec<M>::name);
    Codec<M>::encode(msg, envelope);
    detail::send_tell(*core_, name_, Codec<M>::name, std::move(envelope));
  }

  // Watches the name from the calling actor: `fn(actors::StopReason)` runs once, on this
  // actor's thread while it lives, when the name goes away: kNormal (unregistered, or its
  // actor stopped normally), kException, kShutdown (its reactor or its process stopped),
  // kNodeDown (its process stopped answering), kUnknown (no process held the name when
  // monitor() was called). Returns an id for Cluster::demonitor. Call it from an actor's
  // handler (std::logic_error otherwise).
  template <typename F>
  std::uint64_t monitor(F&& fn) const {
    return detail::add_watch(*core_, name_, detail::MonitorFn(std::forward<F>(fn)));
  }

  // Asks the actor; `callback(actors::Reply<R>)` runs on the asking actor, on its thread,
  // while it lives, exactly once: with the value, the actor's error (kDead, kException,
  // kShutdown), kNoRoute (no process holds the name), kNodeDown (its process went down or
  // left first), kMalformed (the answer did not decode as R) or kTimeout. Call it from an
  // actor's handler (std::logic_error otherwise).
  template <typename R, typename M, typename F>
  void ask(const M& msg, F&& callback, std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const {
    static_assert(Remote<M>, "ask: the message type needs a cluster::Codec (codec.hpp)");
    static_assert(std::is_void_v<R> || Remote<R>, "ask: the answer type needs a cluster::Codec (codec.hpp)");
    std::string bytes;
    Codec<M>::encode(msg, bytes);
    detail::Finish finish = [cb = std::forward<F>(callback)](actors::AskError error,
                                                               std::string_view in) mutable {
      if (error != actors::AskError::kNone) return cb(actors::Reply<R>(error, std::string(in)));
      if constexpr (std::is_void_v<R>) {
        Empty e;
        if (!Codec<Empty>::decode(in, e)) return cb(actors::Reply<R>(actors::AskError::kMalformed, "not an empty answer"));
        cb(actors::Reply<R>());
      } else {
        R value{};
        if (!Codec<R>::decode(in, value)) {
          return cb(actors::Reply<R>(actors::AskError::kMalformed, "the answer did not decode"));
        }
        cb(actors::Reply<R>(std::move(value)));
      }
    };
    detail::send_ask(*core_, name_, Codec<M>::name, std::move(bytes),
                     timeout.count() > 0 ? timeout : detail::default_ask_timeout(*core_), std::move(finish));
  }

 private:
  friend class Cluster;
  Named(detail::Core* core, std::string name) : core_(core), name_(std::move(name)) {}
  detail::Core* core_;
  std::string name_;
};

}  // namespace ringactor::cluster
