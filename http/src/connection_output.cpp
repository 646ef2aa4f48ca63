// HttpConnection, output side: committing a response, formatting heads, keeping answers in
// request order, deferred completions and their hooks, and streamed bodies.
#include "ringactor/http/server.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include <ringactor/actors/stage.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "http_chars.hpp"
#include "server_impl.hpp"

namespace ringactor::http::detail {

void HttpConnection::commit(Response& res, bool head_only, bool close) {
  ServerCore& core = *core_;
  if (close) closing_ = true;
  const int status = res.status_;
  const bool has_body = status_has_body(status);
  if (res.kind_ != Response::Kind::kDeferred) count_status(core.c, status);  // deferred: when delivered
  if (res.kind_ == Response::Kind::kDeferred) {
    bump(core.c.deferred);
    Pending p;
    p.seq = x_->current_seq;
    p.status = status;  // the handler's (or `after` middleware's) status, unless the deferred sets one
    p.close = close;
    p.head_only = head_only;
    p.http10 = x_->http10;
    p.bytes = core.headers;  // headers the handler or `after` middleware added
    p.lifeline = std::move(core.deferred_line);
    core.deferred_line = {};
    x_->queue.push_back(std::move(p));
    return;
  }
  if (res.kind_ == Response::Kind::kUpgrade) {
    commit_upgrade();
    return;
  }
  if (res.kind_ == Response::Kind::kPrepared) {
    format_prepared(core.out, close, x_->http10, core.headers);
    if (head_only) core.body_len = 0;
    send_or_queue(close, head_only, false, nullptr);
    return;
  }
  if (res.kind_ == Response::Kind::kBlock) {
    format(core.out, status, core.ctype, core.headers,
           has_body ? std::optional<std::uint64_t>(core.body_len) : std::nullopt, false, close, x_->http10, {});
    if (head_only || !has_body) core.body_len = 0;
    send_or_queue(close, head_only, false, nullptr);
    return;
  }
  if (res.kind_ == Response::Kind::kStream && core.stream_length) {
    // A body of known length: Content-Length, no chunking; HEAD and bodiless statuses send
    // the head alone.
    bump(core.c.streams);
    const bool with_body = has_body && !head_only && *core.stream_length != 0;
    format(core.out, status, core.ctype, core.headers,
           has_body ? std::optional<std::uint64_t>(*core.stream_length) : std::nullopt, false, close, x_->http10, {});
    StreamProducer producer = std::move(core.producer);
    send_or_queue(close, head_only, false, with_body ? &producer : nullptr);
    return;
  }
  if (res.kind_ == Response::Kind::kStream) {
    bump(core.c.streams);
    // HTTP/1.0 has no chunked coding: the body ends where the connection does. A status
    // that has no body (204, 304) sends the head alone.
    const bool with_body = has_body && !head_only;
    const bool chunked = has_body && !x_->http10;
    const bool stream_close = close || (has_body && !chunked);
    if (stream_close) closing_ = true;
    format(core.out, status, core.ctype, core.headers, std::nullopt, chunked, stream_close, x_->http10, {});
    StreamProducer producer = std::move(core.producer);
    send_or_queue(stream_close, head_only, chunked, with_body ? &producer : nullptr);
    return;
  }
  // A body: small ones go out with the head in one copy; large ones are streamed with their
  // Content-Length as the socket drains.
  const std::uint64_t length = has_body ? core.body.size() : 0;
  if (has_body && !head_only && core.body.size() > core.options.stream_threshold) {
    bump(core.c.streams);
    format(core.out, status, core.ctype, core.headers, length, false, close, x_->http10, {});
    StreamProducer producer = [body = std::move(core.body), off = std::size_t{0},
                               chunk = core.options.stream_chunk](BodyWriter& w) mutable {
      const std::size_t n = std::min({body.size() - off, chunk, std::max<std::size_t>(w.room(), 1)});
      w.write(std::string_view(body).substr(off, n));
      off += n;
      return off < body.size();
    };
    core.body = std::string();
    core.stream_length = length;
    send_or_queue(close, false, false, &producer);
    return;
  }
  format(core.out, status, core.ctype, core.headers, has_body ? std::optional<std::uint64_t>(length) : std::nullopt,
         false, close, x_->http10, head_only || !has_body ? std::string_view() : std::string_view(core.body));
  send_or_queue(close, head_only, false, nullptr);
}

std::string_view ServerCore::head_prefix(int status, std::string_view content_type,
                                         runtime::Reactor::Clock::time_point iteration) {
  const std::string_view date = this->date(iteration);
  const std::int64_t second = dates.second();
  HeadPrefix* slot = nullptr;
  for (HeadPrefix& p : prefixes) {
    if (p.status == status && detail::same_short(p.ctype, content_type)) {
      if (p.second == second) return p.text;
      slot = &p;  // same answer kind, a new second: rebuild this one
      break;
    }
  }
  // Rebuilt in place: the strings keep their capacity, so this allocates only while warming
  // (or for a head longer than the reserved size).
  if (slot == nullptr) slot = &prefixes[next_prefix++ % prefixes.size()];
  HeadPrefix& p = *slot;
  p.status = status;
  p.second = second;
  p.ctype.assign(content_type);
  char code[4];
  const auto [end, ec] = std::to_chars(code, code + sizeof code, status);
  p.text.assign("HTTP/1.1 ").append(code, end).append(" ").append(reason_phrase(status)).append("\r\n");
  if (!options.server_header.empty()) p.text.append("Server: ").append(options.server_header).append("\r\n");
  p.text.append("Date: ").append(date).append("\r\n");
  if (!content_type.empty()) p.text.append("Content-Type: ").append(content_type).append("\r\n");
  return p.text;
}

void HttpConnection::format(std::string& out, int status, std::string_view ctype, std::string_view headers,
                            const std::optional<std::uint64_t>& length, bool chunked, bool close, bool http10,
                            std::string_view body) {
  out.assign(core_->head_prefix(status, ctype, reactor().now()));
  if (chunked) {
    out.append(std::string_view("Transfer-Encoding: chunked\r\n"));
  } else if (length) {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, *length);
    out.append(std::string_view("Content-Length: ")).append(digits, end).append(std::string_view("\r\n"));
  }
  if (close) {
    out.append(std::string_view("Connection: close\r\n"));
  } else if (http10) {
    out.append(std::string_view("Connection: keep-alive\r\n"));
  }
  out.append(headers).append(std::string_view("\r\n")).append(body);
}

// The lines a prepared response's head lacks: Server, Date, Connection, the handler's
// headers, and the empty line.
void HttpConnection::format_prepared(std::string& out, bool close, bool http10, std::string_view headers) {
  ServerCore& core = *core_;
  out.clear();
  if (!core.options.server_header.empty()) {
    out.append(std::string_view("Server: ")).append(core.options.server_header).append(std::string_view("\r\n"));
  }
  out.append(std::string_view("Date: ")).append(core.date(reactor().now())).append(std::string_view("\r\n"));
  if (close) {
    out.append(std::string_view("Connection: close\r\n"));
  } else if (http10) {
    out.append(std::string_view("Connection: keep-alive\r\n"));
  }
  out.append(headers).append(std::string_view("\r\n"));
}

void HttpConnection::send_parts(const runtime::SharedBlock& block, std::size_t pre, std::string_view bytes,
                                std::size_t off, std::size_t len) {
  if (pre != 0) send(block, 0, pre);
  send(bytes);
  if (len != 0) send(block, off, len);
}

// The response in core.out goes out now if nothing is ahead of it, else it waits its turn.
void HttpConnection::send_or_queue(bool close, bool head_only, bool chunked, StreamProducer* stream) {
  ServerCore& core = *core_;
  bump(core.c.responses);
  if (x_->queue.empty() && !x_->stream) {
    send_parts(core.block, core.block_pre, core.out, core.body_off, core.body_len);
    core.block.reset();  // the scratch must not keep a snapshot's block alive
    core.block_pre = core.body_len = 0;
    if (stream != nullptr) {
      start_stream(std::move(*stream), chunked, close, core.stream_length);
    } else if (close) {
      maybe_close();
    }
    return;
  }
  Pending p;
  p.seq = x_->current_seq;
  p.ready = true;
  p.close = close;
  p.head_only = head_only;
  p.chunked = chunked;
  p.bytes = core.out;
  p.block = std::move(core.block);
  p.block_pre = core.block_pre;
  p.body_off = core.body_off;
  p.body_len = core.body_len;
  core.block_pre = core.body_len = 0;
  if (stream != nullptr) {
    p.stream = std::move(*stream);
    p.length = core.stream_length;
  }
  x_->queue.push_back(std::move(p));
}

void HttpConnection::emit(Pending&& p) {
  if (x_->queue.empty() && !x_->stream) {
    send(p.bytes);
    if (p.close) maybe_close();
    return;
  }
  x_->queue.push_back(std::move(p));
}

// A 101 Switching Protocols: its head goes out in request order, then the connection
// belongs to the WebSocket actor. HTTP parsing stops here: the bytes after the handshake
// are the new protocol's (the bridge hands them over with the switch).
void HttpConnection::commit_upgrade() {
  ServerCore& core = *core_;
  count_status(core.c, 101);
  bump(core.c.responses);
  format(core.out, 101, {}, core.headers, std::nullopt, false, false, false, {});
  switched_ = true;
  x_->in = In::kDone;
  x_->wait = Wait::kNone;
  std::unique_ptr<WebSocket> ws = std::move(core.upgrade);
  if (x_->queue.empty() && !x_->stream) {
    send(core.out);
    become(std::move(ws));
    return;
  }
  // Answers to earlier requests are still owed: the switch waits its turn, and so do the
  // bytes after the handshake (kept in the carry until become() resumes input).
  Pending p;
  p.seq = x_->current_seq;
  p.ready = true;
  p.bytes = core.out;
  p.upgrade = std::move(ws);
  x_->queue.push_back(std::move(p));
  if (!paused_) {
    paused_ = true;
    pause_input();
  }
}

void HttpConnection::become(std::unique_ptr<WebSocket> ws) {
  drop_exchange();
  const bool resume = paused_;
  const runtime::Connection conn = connection();
  bump(core_->c.ws_upgrades);
  hand_over(std::move(ws));
  if (resume) conn.resume_input();  // the kept bytes go to the WebSocket actor now
}

std::shared_ptr<DeferredState> HttpConnection::make_deferred() {
  auto st = std::make_shared<DeferredState>();
  st->core = core_->shared_from_this();
  st->conn = id();
  st->seq = x_->current_seq;
  core_->deferred_line = runtime::Lifeline(std::shared_ptr<std::atomic<bool>>(st, &st->gone));
  return st;
}

void HttpConnection::deliver_deferred(DeferredState& st) {
  ServerCore& core = *core_;
  if (x_ == nullptr) {  // nothing is owed any more (the connection ended its exchange)
    bump_shared(core.c.deferred_dropped);
    return;
  }
  auto it = std::find_if(x_->queue.begin(), x_->queue.end(), [&](const Pending& p) { return p.seq == st.seq && !p.ready; });
  if (it == x_->queue.end() || !attached()) {
    bump_shared(core.c.deferred_dropped);
    return;
  }
  const int status = st.status.value_or(it->status);
  const bool has_body = status_has_body(status);
  std::string headers = std::move(it->bytes);  // from the handler and `after` middleware
  headers += st.headers;
  format(it->bytes, status, st.ctype, headers, has_body ? std::optional<std::uint64_t>(st.body.size()) : std::nullopt,
         false, it->close, it->http10, it->head_only || !has_body ? std::string_view() : std::string_view(st.body));
  it->ready = true;
  it->status = status;
  count_status(core.c, status);
  if (!core.deferred_hooks.empty()) {
    // The hooks run when the answer is sent (flush), after those ahead of it.
    it->hook = std::make_unique<Pending::Hook>();
    it->hook->ctype = std::move(st.ctype);
    it->hook->body = std::move(st.body);
  }
  bump_shared(core.c.deferred_completed);
  bump(core.c.responses);
  flush();
  release_if_idle();
}

void HttpConnection::run_deferred_hooks(const Pending& p) {
  ServerCore& core = *core_;
  const DeferredView view{p.status, p.hook->ctype, p.hook->body, id()};
  core.deferred_hooks.run([&](DeferredHook& hook) {
    try {
      hook(view);
    } catch (const std::exception& e) {
      bump(core.c.handler_errors);
      core.stage->log_error(std::string("http deferred hook threw: ") + e.what());
    } catch (...) {
      bump(core.c.handler_errors);
      core.stage->log_error("http deferred hook threw a non-std exception");
    }
  });
}

// Sends every answer at the front of the queue that is ready, in order. Each entry leaves
// the queue before it is sent, so a stream that starts (and perhaps ends, calling flush()
// again) finds a consistent queue.
void HttpConnection::flush() {
  while (!x_->queue.empty() && x_->queue.front().ready && !x_->stream) {
    Pending p = std::move(x_->queue.front());
    x_->queue.erase(x_->queue.begin());
    if (p.hook) run_deferred_hooks(p);
    send_parts(p.block, p.block_pre, p.bytes, p.body_off, p.body_len);
    if (p.upgrade) {
      become(std::move(p.upgrade));  // the last answer this connection gives as HTTP
      return;
    }
    if (p.close) closing_ = true;
    if (p.stream) start_stream(std::move(p.stream), p.chunked, p.close, p.length);
  }
  maybe_resume();
  maybe_close();
}

void HttpConnection::maybe_resume() {
  if (switched_) return;  // input resumes for the WebSocket actor once it has the connection
  const std::size_t owed = x_ != nullptr ? x_->queue.size() : 0;
  if (paused_ && !closing_ && owed < core_->options.max_outstanding && !output_full()) {
    paused_ = false;
    if (x_ != nullptr && x_->wait == Wait::kHead) x_->deadline = reactor().now() + core_->options.header_timeout;  // our delay, not theirs
    resume_input();
  }
}

void HttpConnection::start_stream(StreamProducer producer, bool chunked, bool close,
                                  std::optional<std::uint64_t> length) {
  x_->stream = std::make_unique<ActiveStream>();
  x_->stream->producer = std::move(producer);
  x_->stream->chunked = chunked;
  x_->stream->close = close;
  x_->stream->remaining = length;
  x_->stream->serial = ++x_->stream_serial;
  pump();
}

StreamResume HttpConnection::suspend_stream() noexcept {
  if (x_ == nullptr || !x_->stream) return {};
  x_->stream->suspended = true;
  return StreamResume(id(), x_->stream->serial);
}

void HttpConnection::resume_stream(std::uint64_t serial) {
  if (x_ == nullptr || !x_->stream || x_->stream->serial != serial || !x_->stream->suspended) return;
  x_->stream->suspended = false;
  pump();
  maybe_resume();
  release_if_idle();
}

void HttpConnection::take_stream_bytes(std::size_t n) {
  if (!x_->stream->remaining) return;
  if (n > *x_->stream->remaining) throw std::logic_error("the stream wrote past its Content-Length");
  *x_->stream->remaining -= n;
}

void HttpConnection::cut_stream(const std::string& why) {
  bump(core_->c.handler_errors);
  bump(core_->c.streams_cut);
  core_->stage->log_error("http stream cut: " + why);
  x_->stream.reset();
  abort();  // the body is cut short: the client must see it as incomplete
}

std::size_t HttpConnection::stream_room() const noexcept {
  const std::size_t window = 2 * core_->options.stream_chunk;
  const std::size_t queued = attached() ? connection().queued_bytes() : window;
  return queued >= window ? 0 : window - queued;
}

bool HttpConnection::stream_write(std::string_view bytes, bool chunked) {
  if (x_ == nullptr || !x_->stream) return false;  // the stream already ended: nothing may be added
  if (bytes.empty()) return attached();
  take_stream_bytes(bytes.size());
  if (!chunked) return send(bytes);
  char size_line[24];
  const int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", bytes.size());
  return send(std::string_view(size_line, static_cast<std::size_t>(n))) && send(bytes) && send(std::string_view("\r\n"));
}

bool HttpConnection::stream_write(runtime::SharedBlock block, std::size_t offset, std::size_t len, bool chunked) {
  if (x_ == nullptr || !x_->stream) return false;
  if (offset > block.size() || len > block.size() - offset) {
    throw std::invalid_argument("http::BodyWriter::write: range outside the block");
  }
  if (len == 0) return attached();
  take_stream_bytes(len);
  if (!chunked) return send(std::move(block), offset, len);
  char size_line[24];
  const int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", len);
  return send(std::string_view(size_line, static_cast<std::size_t>(n))) && send(std::move(block), offset, len) &&
         send(std::string_view("\r\n"));
}

bool HttpConnection::stream_write_file(int fd, std::uint64_t offset, std::uint64_t len,
                                       std::shared_ptr<const void> keep, bool chunked) {
  if (x_ == nullptr || !x_->stream) return false;
  if (len == 0) return attached();
  take_stream_bytes(len);
  if (!attached()) return false;
  if (!chunked) return connection().send_file(fd, offset, len, std::move(keep));
  char size_line[24];
  const int n = std::snprintf(size_line, sizeof size_line, "%llx\r\n", static_cast<unsigned long long>(len));
  return send(std::string_view(size_line, static_cast<std::size_t>(n))) &&
         connection().send_file(fd, offset, len, std::move(keep)) && send(std::string_view("\r\n"));
}

// Feeds the active stream while the connection wants more (called again from on_drain and,
// for a suspended producer, from StreamResume).
void HttpConnection::pump() {
  while (x_->stream && !x_->stream->suspended && attached() && connection().open() && stream_room() > 0) {
    const std::size_t before = connection().queued_bytes();
    BodyWriter w(*this, x_->stream->chunked);
    bool more = false;
    try {
      more = x_->stream->producer(w);
    } catch (const std::exception& e) {
      cut_stream(std::string("the producer threw: ") + e.what());
      return;
    }
    if (!x_->stream) return;
    if (!more) {
      if (x_->stream->remaining && *x_->stream->remaining != 0) {
        cut_stream("the producer ended " + std::to_string(*x_->stream->remaining) + " bytes short of its Content-Length");
        return;
      }
      if (x_->stream->chunked) send(std::string_view("0\r\n\r\n"));
      if (x_->stream->close) closing_ = true;
      x_->stream.reset();
      flush();
      return;
    }
    if (attached() && connection().queued_bytes() == before) {
      // Nothing this time: asked again when the output drains, or when resumed.
      if (before != 0 || x_->stream->suspended) return;
      // Nothing queued, nothing written, no resume promised: nothing would ever ask again.
      cut_stream("the producer returned 'more' without writing");
      return;
    }
  }
}

void HttpConnection::on_drain() {
  if (x_ != nullptr) pump();
  maybe_resume();  // also without an exchange: input may be paused for queued output alone
  release_if_idle();
}

}  // namespace ringactor::http::detail
