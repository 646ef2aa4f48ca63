// WebSocket (RFC 6455) on the HTTP server, with permessage-deflate (RFC 7692) and topics.
//
//   struct Member { std::string room; };
//   server.ws<Member>("/ws/room/:name", {
//       .upgrade = [](http::Request& req, http::WsUpgrade&, Member& m) { m.room = req.param("name"); },
//       .open = [](http::WsConnection<Member>& ws) { ws.subscribe(ws.data().room); },
//       .message = [](http::WsConnection<Member>& ws, std::string_view msg, http::WsOpcode op) {
//         ws.publish(ws.data().room, msg, op);
//       }});
//
// A GET on a WebSocket route upgrades: the handshake is checked (426 without `Upgrade:
// websocket` or with another Sec-WebSocket-Version, 400 for a bad Sec-WebSocket-Key), the
// server's `before` middleware runs first and may refuse it, then the route's upgrade hook
// (request, path parameters, query, headers, Origin) may refuse it, set the connection's
// data and pick a subprotocol. The HTTP connection actor then hands its socket to a
// WebSocket connection actor (actors::ConnectionActor::hand_over); bytes the client sent
// after its handshake are kept.
//
// Every violation of RFC 6455 section 5 closes the connection with its code (1002 protocol
// error, 1007 invalid UTF-8, 1009 message too big: checked from the frame header before the
// payload is buffered), then the TCP connection. Pings are answered; a connection silent
// for WsOptions::idle_timeout is pinged and closed if nothing comes back in pong_timeout.
//
// Threads: everything here runs on the server's reactor thread. Other threads (a worker, a
// room on another reactor) message a connection through its actors::Ref like any actor.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <ringactor/actors/connection_actor.hpp>
#include <ringactor/runtime/shared_block.hpp>

namespace ringactor::http {

class Request;
class Server;

namespace detail {
struct WsRoute;
struct WsExtras;
class WsHandshake;
struct TopicState;
struct ServerCore;
namespace ws {
struct Partial;
}
}  // namespace detail

enum class WsOpcode : std::uint8_t { kContinuation = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

// Close codes (RFC 6455 section 7.4.1) that the server sends or reports.
namespace ws_close {
inline constexpr std::uint16_t kNormal = 1000;
inline constexpr std::uint16_t kGoingAway = 1001;      // the server is stopping
inline constexpr std::uint16_t kProtocolError = 1002;
inline constexpr std::uint16_t kUnsupported = 1003;
inline constexpr std::uint16_t kNoStatus = 1005;       // reported: the close frame had no code
inline constexpr std::uint16_t kAbnormal = 1006;       // reported: no close frame (TCP ended)
inline constexpr std::uint16_t kInvalidPayload = 1007;  // text that is not UTF-8
inline constexpr std::uint16_t kPolicy = 1008;
inline constexpr std::uint16_t kTooBig = 1009;
inline constexpr std::uint16_t kInternal = 1011;       // on_message threw
inline constexpr std::uint16_t kTryAgainLater = 1013;  // a slow consumer past its cap
}  // namespace ws_close

// permessage-deflate (RFC 7692), per route. Off by default.
struct WsDeflate {
  bool enabled = false;
  // Keep the compressor's window between the messages sent to one connection: smaller frames
  // for similar messages, but about 300 KiB of zlib state per connection and no sharing of a
  // topic's compressed frame. Off (default): the server answers server_no_context_takeover,
  // compresses each message on its own with one compressor per thread, and a topic's frame
  // is compressed once for every member.
  bool server_context_takeover = false;
  // Let clients keep their window between messages (one inflater of about 40 KiB per such
  // connection). Off: the server asks for client_no_context_takeover, and one inflater per
  // thread serves every connection.
  bool client_context_takeover = true;
  // The largest window (9..15) the server compresses with; a client may ask for less.
  int server_max_window_bits = 15;
  // Messages shorter than this go out uncompressed (RSV1 clear), which the extension allows.
  std::size_t min_size = 64;
};

// Per-route settings.
struct WsOptions {
  // The largest message (after inflation); larger ones close with 1009. hello uses 16 MiB.
  std::size_t max_message = 1 << 20;
  // A connection that sent nothing for this long is pinged; if nothing arrives within
  // pong_timeout after that, it is closed (on_close sees 1006). 0: never pinged.
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds pong_timeout{15'000};
  // After the server's close frame, how long the peer has to answer before the TCP
  // connection is closed anyway.
  std::chrono::milliseconds close_timeout{5'000};
  // Output a connection may have waiting (buffered_amount); a send() past it closes the
  // connection with 1013 (a slow consumer). At most ReactorOptions::max_output_bytes / 2.
  std::size_t max_buffered = 1 << 20;
  WsDeflate deflate{};
};

// A message framed once, to be sent to many connections by reference (no copy per
// connection): WebSocket::send(const WsMessage&) and topics use it. The compressed form,
// for connections with permessage-deflate, is made once, on first need: so one WsMessage
// is sent on one reactor thread (make one per reactor; sending it on two at once races).
class WsMessage {
 public:
  WsMessage() = default;
  // Frames `payload` (copied once). Text must be valid UTF-8 (not checked).
  WsMessage(std::string_view payload, WsOpcode op);
  std::size_t size() const noexcept;  // the payload's
  WsOpcode opcode() const noexcept;
  explicit operator bool() const noexcept { return static_cast<bool>(s_); }

 private:
  friend class WebSocket;
  friend struct detail::TopicState;
  struct Shared;
  std::shared_ptr<Shared> s_;
};

// What an upgrade hook sees besides the request: the offered subprotocols, and the answer
// it builds (a refusal, a chosen subprotocol, extra response headers).
class WsUpgrade {
 public:
  // Sec-WebSocket-Protocol tokens the client offered, in its order.
  const std::vector<std::string_view>& protocols() const noexcept { return offered_; }
  // Answers with this subprotocol; it must be one of protocols() (std::invalid_argument).
  void protocol(std::string_view name);
  // Refuses the upgrade with this status (400..599) and a short text body.
  void refuse(int status, std::string_view body = {});
  // Adds a header to the 101 answer (e.g. Set-Cookie). Checked like Response::header.
  void header(std::string_view name, std::string_view value);
  bool refused() const noexcept { return refuse_status_ != 0; }

 private:
  friend class detail::WsHandshake;
  std::vector<std::string_view> offered_;
  std::string chosen_;
  std::string headers_;
  std::string refuse_body_;
  int refuse_status_ = 0;
};

// A WebSocket connection: an actor. Subclass it and register a factory with Server::ws, or
// use WsBehavior below. Hooks and calls run on the reactor thread; other actors and threads
// reach it through a Ref (e.g. `ref.tell(&WebSocket::send_text, std::string("hi"))`).
class WebSocket : public actors::ConnectionActor {
 public:
  ~WebSocket() override;

  // Queues one message (the payload is copied once into the connection's output, framed;
  // compressed when negotiated and at least WsDeflate::min_size). False once closing or
  // gone; past WsOptions::max_buffered the connection is closed with 1013 and false returned.
  bool send(std::string_view message, WsOpcode op = WsOpcode::kText);
  // The same, taking the message by value: the forms to `tell` (a view would be kept in the
  // message and dangle), e.g. `ref.tell(&WebSocket::send_text, std::move(text))`.
  bool send_text(std::string message) { return send(message, WsOpcode::kText); }
  bool send_binary(std::string message) { return send(message, WsOpcode::kBinary); }
  // Queues a message framed once (by reference: no copy).
  bool send(const WsMessage& message);
  // Starts the closing handshake: a close frame with `code` (1000, or 3000..4999, or one of
  // ws_close; std::invalid_argument otherwise) and a UTF-8 reason of at most 123 bytes. The
  // TCP connection closes when the peer answers or after close_timeout. Idempotent.
  void close(std::uint16_t code = ws_close::kNormal, std::string_view reason = {});
  // Bytes queued and not yet sent.
  std::size_t buffered_amount() const noexcept;
  // The subprotocol chosen at the upgrade (empty: none).
  std::string_view protocol() const noexcept;
  // permessage-deflate was negotiated.
  bool compressed() const noexcept;

  // Topics of this connection's server. subscribe/unsubscribe are idempotent; a closed
  // connection leaves its topics. publish() sends to every member (this connection too,
  // unless include_self is false); see Server::publish. Return false if the server is gone.
  bool subscribe(std::string_view topic);
  bool unsubscribe(std::string_view topic);
  bool subscribed(std::string_view topic) const noexcept;
  std::size_t publish(std::string_view topic, std::string_view message, WsOpcode op = WsOpcode::kText,
                      bool include_self = true);

 protected:
  WebSocket() = default;

  // The upgrade was answered (101 queued). Default: nothing.
  virtual void on_open() {}
  // A whole message (reassembled, inflated, text checked as UTF-8). The view lives for this
  // call only. An exception closes the connection with 1011.
  virtual void on_message(std::string_view message, WsOpcode op) = 0;
  // The connection ended: the peer's close code (1005 when its frame had none), the code we
  // closed with, or 1006 when the TCP connection ended without a close frame. Called once.
  virtual void on_close(std::uint16_t /*code*/, std::string_view /*reason*/) {}
  // on_drain (from ConnectionActor): everything queued was sent.

 private:
  friend class detail::WsHandshake;
  friend struct detail::TopicState;
  friend struct detail::ServerCore;
  std::size_t on_data(std::span<const std::byte> bytes) final;
  bool on_input_end() final;
  bool on_shutdown() final;
  bool on_idle() final;
  void on_disconnect(runtime::CloseReason reason, int error) final;
  void on_start() final;
  void on_stop() final;
  void drain_internal() final;
  bool send_prepared(const WsMessage& message);

  void protocol_error(std::uint16_t code, std::string_view why);
  void send_close_frame(std::uint16_t code, std::string_view reason);
  void send_control(WsOpcode op, std::string_view payload);
  bool queue_frame(std::string_view payload, WsOpcode op, bool compress);
  bool check_buffered();
  void report_close(std::uint16_t code, std::string_view reason);
  void leave_topics() noexcept;
  void pong_received() noexcept;
  void keep_partial(detail::ws::Partial* p);
  // The route's behavior object, for WsConnection (set by Server::ws's behavior form).
  template <typename Data>
  friend class WsConnection;
  const void* behavior() const noexcept;

  detail::WsRoute* route_ = nullptr;   // shared by the route's connections; outlives them
  // What some connections need: a message in progress, a subprotocol, permessage-deflate
  // state, topics. Owned; allocated on first need, so an idle echo connection is 72 bytes.
  detail::WsExtras* x_ = nullptr;
  std::uint16_t close_code_ = 0;       // the close we sent (0: none yet)
  bool close_received_ = false;
  bool closed_reported_ = false;       // on_close ran
  bool ping_waiting_ = false;          // pinged for idleness, no answer yet
  bool deflate_ = false;               // permessage-deflate negotiated
  bool opened_ = false;
};

// A WebSocket connection that carries typed user data (WsBehavior's connections).
template <typename Data = std::monostate>
class WsConnection;

// Callbacks for a route whose connections are WsConnection<Data>; each is optional except
// message.
template <typename Data>
struct WsBehavior {
  WsOptions options{};
  // Sees the request before the 101; may refuse it, pick a subprotocol, set the data.
  std::function<void(Request&, WsUpgrade&, Data&)> upgrade{};
  std::function<void(WsConnection<Data>&)> open{};
  std::function<void(WsConnection<Data>&, std::string_view, WsOpcode)> message{};
  std::function<void(WsConnection<Data>&, std::uint16_t, std::string_view)> close{};
  std::function<void(WsConnection<Data>&)> drain{};
};

template <typename Data>
class WsConnection final : public WebSocket {
 public:
  explicit WsConnection(Data d) : data_(std::move(d)) {}
  Data& data() noexcept { return data_; }
  const Data& data() const noexcept { return data_; }

 protected:
  void on_open() override {
    if (b().open) b().open(*this);
  }
  void on_message(std::string_view m, WsOpcode op) override {
    if (b().message) b().message(*this, m, op);
  }
  void on_close(std::uint16_t code, std::string_view reason) override {
    if (b().close) b().close(*this, code, reason);
  }
  void on_drain() override {
    if (b().drain) b().drain(*this);
  }

 private:
  // The route keeps its behavior (no pointer per connection: idle connections are many).
  const WsBehavior<Data>& b() const noexcept { return *static_cast<const WsBehavior<Data>*>(behavior()); }
  [[no_unique_address]] Data data_;
};

// Builds the connection actor for an accepted upgrade (Server::ws); a refusal through
// WsUpgrade::refuse, or nullptr (403), answers instead.
using WsFactory = std::function<std::unique_ptr<WebSocket>(Request&, WsUpgrade&)>;

// What a topic does with a member that is behind (its output holds more than
// TopicOptions::behind_bytes).
enum class SlowConsumer : std::uint8_t {
  kKeepLatest,  // the member holds only the newest message of the topic until it catches up
  kDrop,        // new messages of the topic are dropped for that member (counted)
  kClose,       // the member is closed with 1013
  kBuffer,      // queued anyway, up to the route's max_buffered (then 1013)
};

struct TopicOptions {
  SlowConsumer policy = SlowConsumer::kBuffer;
  std::size_t behind_bytes = 64 * 1024;
};

struct TopicCounters {
  std::uint64_t members = 0;
  std::uint64_t published = 0;  // publish() calls
  std::uint64_t delivered = 0;  // messages queued to members
  std::uint64_t dropped = 0;    // skipped for members that were behind (kDrop, kKeepLatest replaced)
  std::uint64_t closed = 0;     // members closed as slow consumers
};

}  // namespace ringactor::http
