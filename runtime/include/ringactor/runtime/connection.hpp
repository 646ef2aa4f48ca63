// Connection, ConnectionHandler and CloseReason: how a protocol is written on the reactor.
//
// For every accepted socket the reactor asks the listener's factory for a
// ConnectionHandler and then calls it, on the reactor thread only, as bytes arrive
// (on_data), as queued output drains (on_drain) and once when the connection ends
// (on_close). The handler answers through a Connection: a small handle (reactor, slot,
// generation) that stays safe to hold after the connection is gone; every call on a dead
// handle is a no-op that returns false. A protocol (echo, HTTP, WebSocket) is one handler
// class; later the connection actor builds on the same interface.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "ringactor/runtime/shared_block.hpp"

namespace ringactor::runtime {

class Reactor;
class ConnectionHandler;

// Why a connection ended. One line per value; to_string() gives a stable name for logs.
enum class CloseReason : std::uint8_t {
  kLocal,           // the handler called close() (after its output was flushed) or abort()
  kPeerClosed,      // the peer shut down its sending side (EOF) and our output was flushed
  kIoError,         // a receive or send failed (reset, broken pipe, ...); see the errno
  kIdleTimeout,     // no bytes moved for ReactorOptions::idle_timeout
  kWriteTimeout,    // output pending without progress for ReactorOptions::write_timeout
  kOutputOverflow,  // queued output passed ReactorOptions::max_output_bytes (slow reader)
  kInputOverflow,   // unconsumed input passed ReactorOptions::max_input_carry
  kShutdown,        // the reactor stopped (graceful stop or destruction)
  kHandlerError,    // an exception escaped one of the handler's callbacks
  kStalled,         // held pooled memory without draining while the pool ran dry (shed_stalled)
};

// How many CloseReason values there are (for tables indexed by reason).
inline constexpr std::size_t kCloseReasons = static_cast<std::size_t>(CloseReason::kStalled) + 1;

std::string_view to_string(CloseReason r) noexcept;

// Names one connection (one use of one slot). Trivially copyable.
struct ConnectionId {
  std::uint32_t slot = 0xFFFFFFFFu;
  std::uint32_t generation = 0;
  friend bool operator==(const ConnectionId&, const ConnectionId&) = default;
};

// A handle to a connection. Reactor thread only. Cheap to copy; each call checks that the
// connection still lives (an index and a generation compare).
class Connection {
 public:
  Connection(Reactor& reactor, ConnectionId id) noexcept : reactor_(&reactor), id_(id) {}

  // Queues a copy of `bytes` for sending. O(n) copy into pooled slabs; the send itself is
  // submitted at the end of the loop iteration (many sends coalesce into one sendmsg).
  // Returns false if the connection is closing or gone. Passing max_output_bytes closes the
  // connection (kOutputOverflow) and returns false.
  bool send(std::span<const std::byte> bytes) const;
  bool send(std::string_view text) const {
    return send(std::as_bytes(std::span<const char>(text.data(), text.size())));
  }
  // Queues a reference to a shared immutable block (no copy). Same rules as above.
  bool send(SharedBlock block) const;
  // Queues a reference to bytes [offset, offset + len) of a block (clamped to its size).
  bool send(SharedBlock block, std::size_t offset, std::size_t len) const;
  // Queues bytes [offset, offset + len) of the regular file `fd`, sent in order with the
  // rest by splice: file -> pipe through the ring, pipe -> socket, never through user
  // memory (ReactorOptions::splice_pipe_size). `keep` (e.g. the shared owner of `fd`) is
  // held until the bytes are sent. If the file turns out shorter than promised the
  // connection is closed (kIoError, EIO): the peer must not take later bytes for these.
  bool send_file(int fd, std::uint64_t offset, std::uint64_t len, std::shared_ptr<const void> keep) const;

  // Closes after every queued byte has been sent: FIN after the data, then input is read and
  // discarded until the peer closes (ReactorOptions::linger_timeout / linger_bytes), so a
  // peer still sending reads our last bytes instead of a reset. No more on_data is useful
  // after close(): anything received is the peer's, and sends are refused. Idempotent.
  void close() const;
  // Closes now, dropping queued output. Idempotent.
  void abort() const;

  // Stops handing received bytes to on_data until resume_input(): for a protocol with too
  // many answers outstanding (HTTP pipelining behind a deferred response). Bytes already
  // received are kept in the carry (bounded by max_input_carry), the rest wait in the
  // socket and TCP flow control slows the peer. Idempotent. O(1), one cancel submitted.
  void pause_input() const;
  // Undoes pause_input(): re-arms the receive and, at the next iteration (outside the
  // caller's callback), presents the kept bytes to on_data again, then a pending end of
  // input to on_input_end. Idempotent.
  void resume_input() const;
  // True while the connection lives and has not started closing.
  bool open() const noexcept;
  // Bytes queued and not yet acknowledged by a send completion.
  std::size_t queued_bytes() const noexcept;
  // The socket descriptor (for getsockopt and the like; never close it, never read or
  // write it yourself: it is non-blocking and owned by the ring), or -1.
  int fd() const noexcept;
  // This connection's idle timeout from now on, instead of ReactorOptions::idle_timeout (0:
  // none): no byte in or out for that long asks the handler's on_idle, then closes it
  // (kIdleTimeout) unless on_idle keeps it. A reactor holds up to 7 distinct values besides
  // idle_timeout (std::length_error past that; std::invalid_argument if negative). O(1).
  void set_idle_timeout(std::chrono::milliseconds timeout) const;
  // The handler the reactor calls for this connection (the one the accept factory made),
  // or nullptr once the connection is closing or gone. For layers that route callbacks
  // (actors::ConnectionActor::hand_over retargets its bridge); O(1).
  ConnectionHandler* handler() const noexcept;

  ConnectionId id() const noexcept { return id_; }
  Reactor& reactor() const noexcept { return *reactor_; }

 private:
  Reactor* reactor_;
  ConnectionId id_;
};

// Implemented by a protocol. All callbacks run on the reactor thread, never concurrently
// for one connection. An exception escaping a callback closes that connection alone
// (kHandlerError), counted and logged. The handler is destroyed after on_close returns.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;

  // The connection is established. Default: nothing.
  virtual void on_open(Connection /*conn*/) {}

  // Bytes arrived. Return how many were consumed (0..bytes.size()). Unconsumed bytes are
  // kept (copied once into a carry buffer) and presented again, followed by the next bytes
  // received, so a parser sees a request that spans receives as one contiguous run. The
  // span is only valid during the call.
  virtual std::size_t on_data(Connection conn, std::span<const std::byte> bytes) = 0;

  // The peer shut down its sending side (EOF) after every byte before it was delivered.
  // Return false (the default) to close once the queued output is sent (kPeerClosed), or
  // true to keep the connection for answers still to come; the handler then calls close().
  virtual bool on_input_end(Connection /*conn*/) { return false; }
  // The reactor is stopping gracefully. Return false (the default) to close once the queued
  // output is sent, or true to keep the connection for answers still to come (the handler
  // then calls close(); ReactorOptions::shutdown_grace still bounds the wait).
  virtual bool on_shutdown(Connection /*conn*/) { return false; }
  // Everything queued so far was sent. Default: nothing.
  virtual void on_drain(Connection /*conn*/) {}
  // No byte moved for the connection's idle timeout (after its first byte in). Return true
  // to keep it (having sent a probe, e.g. a WebSocket ping; the next call comes after
  // another idle period), false (the default) to close it (kIdleTimeout).
  virtual bool on_idle(Connection /*conn*/) { return false; }

  // The connection ended; `error` is the errno for kIoError, else 0. Called exactly once.
  virtual void on_close(Connection /*conn*/, CloseReason /*reason*/, int /*error*/) {}
};

}  // namespace ringactor::runtime
