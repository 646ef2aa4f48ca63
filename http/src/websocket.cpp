// The WebSocket connection actor: frames in (MessageReader), frames out, the closing
// handshake, pings for idle connections, and the ends of the connection.
#include "ringactor/http/websocket.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include <ringactor/actors/stage.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "server_impl.hpp"

namespace ringactor::http {

using detail::bump;
namespace ws = detail::ws;

WebSocket::~WebSocket() { delete x_; }

const void* WebSocket::behavior() const noexcept { return route_ != nullptr ? route_->behavior.get() : nullptr; }

// A message now in progress: its state lives in the extras (allocated now if need be).
void WebSocket::keep_partial(ws::Partial* p) {
  if (x_ == nullptr) {
    try {
      x_ = new detail::WsExtras();
    } catch (...) {
      ws::destroy(p);
      throw;
    }
  }
  x_->reader = p;
}

void WebSocket::on_start() {
  opened_ = true;
  detail::ServerCore& core = *route_->core;
  detail::bump(core.c.ws_open);
  const WsOptions& o = route_->options;
  // Idle detection is the reactor's (no byte in or out for this long asks on_idle).
  if (attached()) connection().set_idle_timeout(o.idle_timeout);
  on_open();
}

std::size_t WebSocket::on_data(std::span<const std::byte> bytes) {
  const std::string_view in(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (close_received_ || closed_reported_) return in.size();  // the closing handshake is over: discard
  detail::ServerCore& core = *route_->core;
  if (ping_waiting_) pong_received();  // any byte proves the peer is there
  ws::ReaderConfig cfg = route_->reader;
  ws::Inflater* inflater = nullptr;
  if (deflate_) {
    cfg.deflate = true;
    cfg.reset_inflater = x_->client_no_takeover;
    if (x_->client_no_takeover) {
      inflater = &core.shared_inflater();
    } else {
      if (!x_->inflater) x_->inflater = std::make_unique<ws::Inflater>(15);
      inflater = x_->inflater.get();
    }
  }
  std::size_t off = 0;
  while (off < in.size()) {
    ws::Partial* fresh = nullptr;
    ws::MessageReader reader(x_ != nullptr ? x_->reader : fresh);
    const ws::MessageReader::Result r = reader.next(in.substr(off), cfg, core.ws_scratch, inflater);
    if (fresh != nullptr) keep_partial(fresh);
    off += r.consumed;
    switch (r.event) {
      case ws::MessageReader::Event::kNeedMore:
        return off;
      case ws::MessageReader::Event::kMessage:
        if (close_code_ != 0) break;  // after our close frame, data is discarded
        bump(core.c.ws_messages_in);
        try {
          on_message(r.payload, r.opcode);
        } catch (const std::exception& e) {
          core.stage->log_error(std::string("websocket on_message threw: ") + e.what());
          protocol_error(ws_close::kInternal, "internal error");
          return in.size();
        } catch (...) {
          core.stage->log_error("websocket on_message threw a non-std exception");
          protocol_error(ws_close::kInternal, "internal error");
          return in.size();
        }
        if (x_ != nullptr) ws::release_delivered(x_->reader);  // the view is no longer in use
        if (!attached() || closed_reported_) {
          if (x_ != nullptr) {
            ws::destroy(x_->reader);
            x_->reader = nullptr;
          }
          return in.size();
        }
        break;
      case ws::MessageReader::Event::kPing:
        if (close_code_ == 0) send_control(WsOpcode::kPong, r.payload);
        break;
      case ws::MessageReader::Event::kPong:
        break;
      case ws::MessageReader::Event::kClose: {
        close_received_ = true;
        if (close_code_ == 0) {
          // Answer with the same code (none if the peer gave none), then close the TCP
          // connection once the frame is out.
          close_code_ = r.code == ws_close::kNoStatus ? ws_close::kNormal : r.code;
          if (r.code == ws_close::kNoStatus) {
            send_control(WsOpcode::kClose, {});
          } else {
            send_close_frame(r.code, {});
          }
        }
        const std::string reason(r.payload);
        report_close(r.code, reason);
        ConnectionActor::close();
        return in.size();
      }
      case ws::MessageReader::Event::kError:
        bump(core.c.ws_protocol_errors);
        protocol_error(r.code, r.why);
        if (x_ != nullptr) {
          ws::destroy(x_->reader);
          x_->reader = nullptr;
        }
        return in.size();
    }
  }
  return off;
}

// A rule was broken (or the server gave up on this client): a close frame with the code,
// then the TCP connection closes after it is sent (lingering for the peer's FIN).
void WebSocket::protocol_error(std::uint16_t code, std::string_view why) {
  if (closed_reported_) return;
  if (close_code_ == 0) {
    close_code_ = code;
    send_close_frame(code, why.substr(0, 123));
  }
  // The reader's state is freed by on_data (a message being handled may point into it).
  report_close(code, why);
  ConnectionActor::close();
}

void WebSocket::close(std::uint16_t code, std::string_view reason) {
  const bool ours = code == ws_close::kNormal || code == ws_close::kGoingAway || code == ws_close::kProtocolError ||
                    code == ws_close::kUnsupported || code == ws_close::kInvalidPayload || code == ws_close::kPolicy ||
                    code == ws_close::kTooBig || code == ws_close::kInternal || code == ws_close::kTryAgainLater ||
                    (code >= 3000 && code <= 4999);
  if (!ours) throw std::invalid_argument("WebSocket::close: code " + std::to_string(code) + " may not be sent");
  if (reason.size() > 123) throw std::invalid_argument("WebSocket::close: the reason is longer than 123 bytes");
  if (!ws::valid_utf8(reason)) throw std::invalid_argument("WebSocket::close: the reason is not UTF-8");
  if (close_code_ != 0 || closed_reported_ || !attached()) return;
  close_code_ = code;
  send_close_frame(code, reason);
  // The peer answers with its close frame (then on_data closes the TCP connection), or the
  // connection is closed after close_timeout.
  reactor().after(route_->options.close_timeout, [self = id()] {
    self.stage->with_actor(self, [](actors::Actor& a) { static_cast<WebSocket&>(a).ConnectionActor::close(); });
  });
}

void WebSocket::send_close_frame(std::uint16_t code, std::string_view reason) {
  char payload[125];
  payload[0] = static_cast<char>(code >> 8);
  payload[1] = static_cast<char>(code & 0xFF);
  const std::size_t n = std::min<std::size_t>(reason.size(), 123);
  if (n != 0) std::memcpy(payload + 2, reason.data(), n);
  send_control(WsOpcode::kClose, std::string_view(payload, 2 + n));
}

void WebSocket::send_control(WsOpcode op, std::string_view payload) {
  char frame[2 + 125];
  const std::size_t h = ws::write_header(frame, op, payload.size());
  if (!payload.empty()) std::memcpy(frame + h, payload.data(), payload.size());
  ConnectionActor::send(std::string_view(frame, h + payload.size()));
}

void WebSocket::report_close(std::uint16_t code, std::string_view reason) {
  if (closed_reported_) return;
  closed_reported_ = true;
  if (!opened_) return;
  try {
    on_close(code, reason);
  } catch (const std::exception& e) {
    route_->core->stage->log_error(std::string("websocket on_close threw: ") + e.what());
  } catch (...) {
    route_->core->stage->log_error("websocket on_close threw a non-std exception");
  }
}

// ---- output -----------------------------------------------------------------------------

bool WebSocket::send(std::string_view message, WsOpcode op) {
  if (op != WsOpcode::kText && op != WsOpcode::kBinary) {
    throw std::invalid_argument("WebSocket::send: the opcode must be text or binary");
  }
  if (close_code_ != 0 || closed_reported_ || !attached()) return false;
  const bool compress = deflate_ && message.size() >= route_->options.deflate.min_size;
  return queue_frame(message, op, compress);
}

bool WebSocket::queue_frame(std::string_view payload, WsOpcode op, bool compress) {
  detail::ServerCore& core = *route_->core;
  if (compress) {
    ws::Buffer& out = core.ws_out;
    out.clear();
    ws::Deflater* d = nullptr;
    if (x_->server_takeover) {
      if (!x_->deflater) x_->deflater = std::make_unique<ws::Deflater>(x_->server_window, true);
      d = x_->deflater.get();
    } else {
      d = &core.shared_deflater(x_->server_window);
    }
    if (d->deflate(payload, out)) {
      char head[10];
      const std::size_t h = ws::write_header(head, op, out.size(), true, true);
      ConnectionActor::send(std::string_view(head, h));
      ConnectionActor::send(out.view());
      bump(core.c.ws_messages_out);
      return check_buffered();
    }
    // zlib failed (out of memory): the message goes uncompressed, which is allowed.
  }
  char head[10];
  const std::size_t h = ws::write_header(head, op, payload.size());
  ConnectionActor::send(std::string_view(head, h));
  ConnectionActor::send(payload);
  bump(core.c.ws_messages_out);
  return check_buffered();
}

bool WebSocket::check_buffered() {
  if (!attached()) return false;
  if (connection().queued_bytes() <= route_->options.max_buffered) return true;
  bump(route_->core->c.ws_slow_closed);
  protocol_error(ws_close::kTryAgainLater, "slow consumer: output past max_buffered");
  return false;
}

std::size_t WebSocket::buffered_amount() const noexcept { return attached() ? connection().queued_bytes() : 0; }

std::string_view WebSocket::protocol() const noexcept { return x_ != nullptr ? std::string_view(x_->protocol) : ""; }

bool WebSocket::compressed() const noexcept { return deflate_; }

// ---- the ends of the connection ---------------------------------------------------------

bool WebSocket::on_input_end() {
  // TCP ended without (or after) a close frame: close once our output is out.
  return false;
}

bool WebSocket::on_shutdown() {
  // The server stops: a close frame with 1001, and the connection stays until the peer
  // answers it (bounded by the reactor's shutdown_grace and close_timeout).
  if (close_code_ == 0 && !closed_reported_ && attached()) {
    close(ws_close::kGoingAway, "server stopping");
    return true;
  }
  return false;
}

bool WebSocket::on_idle() {
  if (closed_reported_ || close_code_ != 0) return false;
  if (ping_waiting_) {
    bump(route_->core->c.ws_ping_timeouts);  // pinged, and nothing came back
    return false;
  }
  ping_waiting_ = true;
  bump(route_->core->c.ws_pings);
  send_control(WsOpcode::kPing, {});
  connection().set_idle_timeout(route_->options.pong_timeout);
  return true;
}

void WebSocket::pong_received() noexcept {
  ping_waiting_ = false;
  if (attached()) {
    try {
      connection().set_idle_timeout(route_->options.idle_timeout);
    } catch (...) {
      // Cannot happen: the value was registered at on_start.
    }
  }
}

void WebSocket::on_disconnect(runtime::CloseReason /*reason*/, int /*error*/) {
  report_close(close_received_ || close_code_ == 0 ? ws_close::kAbnormal : close_code_, {});
}

void WebSocket::on_stop() {
  leave_topics();
  if (opened_) {
    detail::ServerCore& core = *route_->core;
    core.c.ws_open.store(core.c.ws_open.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }
  report_close(ws_close::kAbnormal, {});
}

}  // namespace ringactor::http

// An idle WebSocket connection is this object, its stage entry, its bridge and its reactor
// slot: 256 B at most in all (bench/README.md measures it).
static_assert(sizeof(ringactor::http::WsConnection<>) <= 72, "WsConnection grew: re-measure idle memory per connection");
