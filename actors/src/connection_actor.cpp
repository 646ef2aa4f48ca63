// The bridge between the reactor's ConnectionHandler callbacks and a ConnectionActor.
#include "ringactor/actors/connection_actor.hpp"

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "ringactor/actors/stage.hpp"

namespace ringactor::actors {

void ConnectionActor::detach_internal() noexcept {
  if (attached()) {
    connection().close();  // graceful: queued output is flushed, then the descriptor closes
    detach_quietly();
  }
}

namespace detail {

// The runtime-side handler of one connection: 24 bytes that route each callback to the
// actor as a handler run (context, exceptions). It owns nothing but the actor's id.
class ConnectionBridge final : public runtime::ConnectionHandler {
 public:
  explicit ConnectionBridge(ActorId id) noexcept : id_(id) {}

  std::size_t on_data(runtime::Connection conn, std::span<const std::byte> bytes) override {
    std::size_t used = bytes.size();  // if the actor is gone or throws, drop the bytes
    ActorId target = id_;
    bool alive = id_.stage->with_actor(target, [&](Actor& a) {
      used = static_cast<ConnectionActor&>(a).on_data(bytes);
    });
    // Handed over during that call: what it left belongs to the new actor.
    while (alive && id_ != target && used < bytes.size()) {
      target = id_;
      std::size_t more = bytes.size() - used;
      alive = id_.stage->with_actor(target, [&](Actor& a) {
        more = static_cast<ConnectionActor&>(a).on_data(bytes.subspan(used));
      });
      used += std::min(more, bytes.size() - used);
    }
    if (!alive) conn.abort();
    return used;
  }

  bool on_input_end(runtime::Connection /*conn*/) override {
    bool keep = false;
    id_.stage->with_actor(id_, [&](Actor& a) { keep = static_cast<ConnectionActor&>(a).on_input_end(); });
    return keep;
  }

  bool on_shutdown(runtime::Connection /*conn*/) override {
    bool keep = false;
    id_.stage->with_actor(id_, [&](Actor& a) { keep = static_cast<ConnectionActor&>(a).on_shutdown(); });
    return keep;
  }

  void on_drain(runtime::Connection /*conn*/) override {
    id_.stage->with_actor(id_, [](Actor& a) {
      auto& ca = static_cast<ConnectionActor&>(a);
      ca.drain_internal();
      ca.on_drain();
    });
  }

  bool on_idle(runtime::Connection /*conn*/) override {
    bool keep = false;
    id_.stage->with_actor(id_, [&](Actor& a) { keep = static_cast<ConnectionActor&>(a).on_idle(); });
    return keep;
  }

  // The connection's callbacks go to `id` from now on (ConnectionActor::hand_over).
  void retarget(ActorId id) noexcept { id_ = id; }

  void on_close(runtime::Connection /*conn*/, runtime::CloseReason reason, int error) override {
    id_.stage->with_actor(id_, [&](Actor& a) {
      auto& ca = static_cast<ConnectionActor&>(a);
      ca.detach_quietly();  // gone: nothing left to close
      ca.on_disconnect(reason, error);
      ca.stop();
    });
  }

 private:
  ActorId id_;
};

}  // namespace detail

ActorId ConnectionActor::hand_over(std::unique_ptr<ConnectionActor> next) {
  if (!next) throw std::invalid_argument("ConnectionActor::hand_over: null actor");
  runtime::ConnectionHandler* h = attached() ? connection().handler() : nullptr;
  if (h == nullptr) throw std::logic_error("ConnectionActor::hand_over: the connection is closing or gone");
  auto* bridge = static_cast<detail::ConnectionBridge*>(h);  // Stage::listen made every handler
  next->conn_ = conn_;
  detach_quietly();  // the connection is next's now: stopping this actor must not close it
  stop();
  // The bridge points at next before next's on_start runs, so whatever next does there
  // (send, close, stop) acts on a connection that is routed to it.
  return stage().adopt(std::move(next), [bridge](ActorId nid) { bridge->retarget(nid); });
}

std::uint16_t Stage::listen(const runtime::ListenOptions& options, ConnectionActorFactory factory) {
  if (!factory) throw std::invalid_argument("Stage::listen: the connection actor factory is empty");
  return reactor_.listen(
      options, [this, f = std::move(factory)](runtime::Connection conn) mutable -> std::unique_ptr<runtime::ConnectionHandler> {
        std::unique_ptr<ConnectionActor> actor = f(conn);
        if (!actor) return nullptr;  // the reactor closes the connection
        actor->conn_ = conn.id();
        // If on_start stops the actor, its connection is already closing; the bridge then
        // finds no actor and drops whatever arrives.
        return std::make_unique<detail::ConnectionBridge>(adopt(std::move(actor)));
      });
}

}  // namespace ringactor::actors
