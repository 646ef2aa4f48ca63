// ConnectionActor: a TCP connection that is an actor.
//
// Every protocol (echo, HTTP, WebSocket) is a ConnectionActor subclass: the reactor's bytes
// arrive in on_data, run as a handler of the actor (its context, its exception rule), and
// the actor answers with send(). Other actors message it like any actor (a room telling a
// player's connection to send a frame). The two lifetimes are tied: when the connection
// closes, on_disconnect runs and the actor stops (kNormal); when the actor stops (stop(),
// an exception, shutdown), its connection is closed gracefully (queued output is flushed
// first), unless it handed the connection to another actor (hand_over: a protocol switch). Create them with Stage::listen and a factory. Reactor thread only.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include <ringactor/runtime/connection.hpp>
#include <ringactor/runtime/shared_block.hpp>

#include "ringactor/actors/actor.hpp"

namespace ringactor::actors {

namespace detail {
class ConnectionBridge;
}

class ConnectionActor : public Actor {
 protected:
  ConnectionActor() = default;

  // Bytes arrived; return how many were consumed (the rest comes back, followed by the next
  // bytes: see runtime::ConnectionHandler::on_data). The span lives for this call only.
  virtual std::size_t on_data(std::span<const std::byte> bytes) = 0;
  // Everything queued was sent. Default: nothing.
  virtual void on_drain() {}
  // The peer finished sending (EOF). Return true to keep the connection for answers still
  // to come (then close() it yourself), false (default) to close after queued output.
  virtual bool on_input_end() { return false; }
  // The reactor is stopping. Return true to keep the connection for answers still to come
  // (then close() it; shutdown_grace bounds the wait), false (default) to close after
  // queued output.
  virtual bool on_shutdown() { return false; }
  // Nothing moved for the connection's idle timeout (runtime::Connection::set_idle_timeout):
  // return true to keep it, having sent a probe (the next call comes after another idle
  // period), false (default) to let it close (kIdleTimeout).
  virtual bool on_idle() { return false; }
  // The connection ended (before on_stop). `error` is the errno for kIoError.
  virtual void on_disconnect(runtime::CloseReason /*reason*/, int /*error*/) {}

  // Queue output (copied, or referenced for a SharedBlock). False once the connection is
  // closing or gone. O(bytes) copy; sent at the end of the reactor iteration.
  bool send(std::span<const std::byte> bytes) { return attached() && connection().send(bytes); }
  bool send(std::string_view text) { return attached() && connection().send(text); }
  bool send(runtime::SharedBlock block) { return attached() && connection().send(std::move(block)); }
  bool send(runtime::SharedBlock block, std::size_t offset, std::size_t len) {
    return attached() && connection().send(std::move(block), offset, len);
  }
  bool send_file(int fd, std::uint64_t offset, std::uint64_t len, std::shared_ptr<const void> keep) {
    return attached() && connection().send_file(fd, offset, len, std::move(keep));
  }
  // Closes after queued output is sent; the actor stops when the connection is gone.
  void close() {
    if (attached()) connection().close();
  }
  // Closes now, dropping queued output.
  void abort() {
    if (attached()) connection().abort();
  }
  // Stop / restart receiving (see runtime::Connection::pause_input).
  void pause_input() {
    if (attached()) connection().pause_input();
  }
  void resume_input() {
    if (attached()) connection().resume_input();
  }
  // The connection handle (for queued_bytes(), fd(), ...). Once the connection is gone it
  // names nothing and its calls fail harmlessly.
  runtime::Connection connection() const noexcept { return runtime::Connection(reactor(), conn_); }
  bool attached() const noexcept { return conn_.slot != runtime::ConnectionId{}.slot; }

  // Hands the connection to `next`, a protocol switch (HTTP to WebSocket): `next` is
  // spawned on this stage and gets every callback from now on; this actor stops without
  // closing the connection (its socket, slot and queued output stay as they are, so a reply
  // queued before the switch goes out before anything `next` sends). Called from on_data,
  // the bytes that call leaves unconsumed go to `next` at once; called elsewhere, bytes
  // kept unconsumed reach it with the next arrival or resume_input(). Returns next's id.
  // Throws std::logic_error when the connection is closing or gone, std::invalid_argument
  // for a null `next`. O(1) plus next's on_start.
  ActorId hand_over(std::unique_ptr<ConnectionActor> next);

 private:
  friend class detail::ConnectionBridge;
  friend class Stage;
  void detach_internal() noexcept override;
  // Called before on_drain, for a layer built on this class (WebSocket topics).
  virtual void drain_internal() {}
  void detach_quietly() noexcept { conn_ = runtime::ConnectionId{}; }
  runtime::ConnectionId conn_;  // 8 bytes: idle connections are many, keep this small
};

}  // namespace ringactor::actors
