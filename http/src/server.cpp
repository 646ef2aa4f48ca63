// The HTTP/1.1 server: HttpConnection (parsing, ordering, timeouts, streaming), Response,
// DeferredResponse and Server.
#include "ringactor/http/server.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include <ringactor/actors/stage.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "server_impl.hpp"

namespace ringactor::http {

namespace {

// Bodies up to this size (with their head) wait in the reactor's input carry until they are
// complete, and are handed to the handler as a view; larger ones are copied as they arrive.
constexpr std::size_t kCarriedBody = 16 * 1024;

bool is_token_char(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// One pass (find_first_of would run a memchr per character).
bool has_line_break_or_nul(std::string_view v) noexcept {
  for (const char c : v) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

// Appends "Name: value\r\n" after checking both; the framing headers are the server's.
void append_header(std::string& out, std::string_view name, std::string_view value) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
    throw std::invalid_argument("http header name is not a token: '" + std::string(name) + "'");
  }
  for (const std::string_view reserved :
       {"content-length", "transfer-encoding", "date", "server", "connection", "content-type"}) {
    if (iequals(name, reserved)) {
      throw std::invalid_argument("http header '" + std::string(name) + "' is set by the server");
    }
  }
  if (has_line_break_or_nul(value)) {
    throw std::invalid_argument("http header value contains CR, LF or NUL: '" + std::string(name) + "'");
  }
  out.append(name).append(": ").append(value).append("\r\n");
}

// A final status: 1xx are interim answers the server sends itself (100 Continue).
int checked_status(int code) {
  if (code < 200 || code > 999) throw std::invalid_argument("http status out of range (200..999): " + std::to_string(code));
  return code;
}

std::string_view checked_content_type(std::string_view ct) {
  if (has_line_break_or_nul(ct)) throw std::invalid_argument("http content type contains CR, LF or NUL");
  return ct;
}

bool status_has_body(int status) noexcept { return status >= 200 && status != 204 && status != 304; }

}  // namespace

// ---- Request ----------------------------------------------------------------------------

std::optional<std::string_view> Request::query_param(std::string_view name) const noexcept {
  std::string_view q = head_->query;
  while (!q.empty()) {
    const std::size_t amp = q.find('&');
    const std::string_view pair = q.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// ---- Response ---------------------------------------------------------------------------

Response& Response::status(int code) {
  status_ = checked_status(code);
  return *this;
}

Response& Response::header(std::string_view name, std::string_view value) {
  append_header(conn_->core().headers, name, value);
  return *this;
}

void Response::finish(std::string_view content_type, std::string_view body) {
  if (answered()) throw std::logic_error("http::Response completed twice");
  detail::ServerCore& core = conn_->core();
  core.ctype.assign(checked_content_type(content_type));
  core.body.assign(body);
  kind_ = Kind::kBody;
}

void Response::stream(std::string_view content_type, StreamProducer producer) {
  if (answered()) throw std::logic_error("http::Response completed twice");
  if (!producer) throw std::invalid_argument("http::Response::stream: empty producer");
  detail::ServerCore& core = conn_->core();
  core.ctype.assign(checked_content_type(content_type));
  core.producer = std::move(producer);
  kind_ = Kind::kStream;
}

void Response::stream(std::string_view content_type, std::uint64_t length, StreamProducer producer) {
  stream(content_type, std::move(producer));
  conn_->core().stream_length = length;
}

void Response::block(std::string_view content_type, runtime::SharedBlock block, std::size_t offset, std::size_t len) {
  if (answered()) throw std::logic_error("http::Response completed twice");
  if (offset > block.size() || len > block.size() - offset) {
    throw std::invalid_argument("http::Response::block: range outside the block");
  }
  detail::ServerCore& core = conn_->core();
  core.ctype.assign(checked_content_type(content_type));
  core.block = std::move(block);
  core.block_pre = 0;
  core.body_off = offset;
  core.body_len = len;
  kind_ = Kind::kBlock;
}

void Response::prepared(runtime::SharedBlock block, std::size_t head_len, int status) {
  if (answered()) throw std::logic_error("http::Response completed twice");
  if (head_len > block.size()) throw std::invalid_argument("http::Response::prepared: head_len past the block");
  status_ = checked_status(status);
  detail::ServerCore& core = conn_->core();
  core.block = std::move(block);
  core.block_pre = head_len;
  core.body_off = head_len;
  core.body_len = core.block.size() - head_len;
  kind_ = Kind::kPrepared;
}

DeferredResponse Response::defer() {
  if (answered()) throw std::logic_error("http::Response completed twice");
  DeferredResponse d(conn_->make_deferred());
  kind_ = Kind::kDeferred;
  return d;
}

// ---- BodyWriter -------------------------------------------------------------------------

bool BodyWriter::write(std::string_view bytes) { return conn_->stream_write(bytes, chunked_); }
bool BodyWriter::write(runtime::SharedBlock block, std::size_t offset, std::size_t len) {
  return conn_->stream_write(std::move(block), offset, len, chunked_);
}
bool BodyWriter::write_file(int fd, std::uint64_t offset, std::uint64_t len, std::shared_ptr<const void> keep) {
  return conn_->stream_write_file(fd, offset, len, std::move(keep), chunked_);
}
StreamResume BodyWriter::suspend() noexcept { return conn_->suspend_stream(); }

void StreamResume::resume() const {
  if (serial_ == 0) return;
  actors::Stage::send(conn_, [serial = serial_](actors::Actor* a) {
    if (a != nullptr) static_cast<detail::HttpConnection*>(a)->resume_stream(serial);  // null: the connection is gone
  });
}
std::size_t BodyWriter::room() const noexcept { return conn_->stream_room(); }

// ---- DeferredResponse -------------------------------------------------------------------

DeferredResponse& DeferredResponse::operator=(DeferredResponse&& other) noexcept {
  if (this != &other) {
    DeferredResponse old(std::move(*this));  // an uncompleted one is answered 500 as it goes
    state_ = std::move(other.state_);
  }
  return *this;
}

DeferredResponse::~DeferredResponse() {
  if (state_ == nullptr) return;
  detail::bump_shared(state_->core->c.deferred_abandoned);
  state_->status = 500;
  state_->headers.clear();
  try {
    complete("text/plain; charset=utf-8", "500 Internal Server Error: the deferred response was dropped\n");
  } catch (...) {
    // Out of memory while answering: the connection's queue keeps a hole that its idle
    // timeout ends. Nothing better can be done without memory.
  }
}

DeferredResponse& DeferredResponse::status(int code) {
  if (state_ == nullptr) throw std::logic_error("http::DeferredResponse::status: already completed");
  state_->status = checked_status(code);
  return *this;
}

DeferredResponse& DeferredResponse::header(std::string_view name, std::string_view value) {
  if (state_ == nullptr) throw std::logic_error("http::DeferredResponse::header: already completed");
  append_header(state_->headers, name, value);
  return *this;
}

bool DeferredResponse::complete(std::string_view content_type, std::string body) {
  if (state_ == nullptr || state_->done.exchange(true, std::memory_order_acq_rel)) return false;
  checked_content_type(content_type);
  std::shared_ptr<detail::DeferredState> st = std::move(state_);
  st->ctype.assign(content_type);
  st->body = std::move(body);
  detail::ServerCore& core = *st->core;
  const std::lock_guard<std::mutex> lock(core.gate);
  if (!core.open) {
    detail::bump_shared(core.c.deferred_dropped);
    return true;
  }
  const actors::ActorId target = st->conn;
  actors::Stage::send(target, [st = std::move(st)](actors::Actor* a) mutable {
    if (a == nullptr) {
      detail::bump_shared(st->core->c.deferred_dropped);  // the client left first
      return;
    }
    static_cast<detail::HttpConnection*>(a)->deliver_deferred(*st);
  });
  return true;
}

// ---- HttpConnection ---------------------------------------------------------------------

namespace detail {

HttpConnection::HttpConnection(std::shared_ptr<ServerCore> core)
    : core_(std::move(core)),
      parser_([&] {
        Limits l = core_->options.limits;
        l.max_body = core_->parser_max_body;
        return l;
      }()) {}

void HttpConnection::on_start() { bump(core_->c.connections); }

std::size_t HttpConnection::on_data(std::span<const std::byte> bytes) {
  const std::string_view all(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::size_t off = 0;
  while (off < all.size()) {
    if (closing_ || in_ == In::kDone) return all.size();  // answering an error or closing: drop
    if (in_ == In::kBody) {
      off += feed_body(all.substr(off));
      if (in_ == In::kBody) return off;  // all taken, or a partial chunk line waits for more
      continue;
    }
    if (carry_need_ != 0 && all.size() - off < carry_need_) return off;  // a small body still arriving
    if (queue_.size() >= core_->options.max_outstanding || output_full()) {
      // Enough answers are waiting, or enough output is queued: stop reading; flush() or
      // on_drain() resumes.
      if (!paused_) {
        paused_ = true;
        bump(core_->c.input_pauses);
        pause_input();
      }
      return off;
    }
    const std::size_t used = start_request(all.substr(off));
    if (used == 0) return off;  // incomplete: the rest is presented again with more bytes
    off += used;
  }
  return off;
}

bool HttpConnection::output_full() const noexcept {
  return attached() && connection().queued_bytes() >= 2 * core_->options.stream_threshold;
}

// Parses one request head at the start of `bytes` and handles the request if its body is
// there too. Returns the bytes consumed (0: wait for more).
std::size_t HttpConnection::start_request(std::string_view bytes) {
  RequestHead& head = core_->head;
  carry_need_ = 0;
  const RequestParser::Result r = parser_.parse(bytes, head);
  if (r.status == RequestParser::Status::kIncomplete) {
    if (wait_ != Wait::kHead) arm(Wait::kHead, reactor().now() + core_->options.header_timeout);
    return 0;
  }
  if (r.status == RequestParser::Status::kError) {
    fail(status_of(r.error), core_->c.protocol_errors);
    return bytes.size();
  }
  parser_.reset();
  std::string_view path;
  if (!decode_path(head, core_->path, path)) {
    fail(400, core_->c.protocol_errors);
    return bytes.size();
  }
  const Route* route = core_->route_for(core_->router.match(head.method, path, core_->params));
  const std::uint64_t limit = core_->body_limit(route);
  if (head.content_length && *head.content_length > limit) {
    fail(413, core_->c.protocol_errors);
    return bytes.size();
  }
  const std::size_t head_bytes = head.head_bytes;
  const std::uint64_t length = head.content_length.value_or(0);
  const std::size_t available = bytes.size() - head_bytes;
  if (!head.chunked && length <= available) {
    // The whole request is here: handle it on views into the receive buffer.
    wait_ = Wait::kNone;
    continue_sent_ = false;
    dispatch(head, path, bytes.substr(head_bytes, static_cast<std::size_t>(length)));
    return head_bytes + static_cast<std::size_t>(length);
  }
  if (head.expect_continue && !continue_sent_) expect_continue();
  if (!head.chunked && head_bytes + length <= core_->carried_body) {
    // A small body on its way: let it gather in the input carry (within header_timeout),
    // and do not look at the request again before all of it is there.
    if (wait_ != Wait::kHead) arm(Wait::kHead, reactor().now() + core_->options.header_timeout);
    carry_need_ = head_bytes + static_cast<std::size_t>(length);
    return 0;
  }
  // A large or chunked body: keep a copy of the head and take the body as it comes.
  auto st = std::make_unique<BodyState>();
  st->head_bytes.assign(bytes.substr(0, head_bytes));
  RequestParser again(parser_.limits());
  if (again.parse(st->head_bytes, st->head).status != RequestParser::Status::kComplete ||
      !decode_path(st->head, st->path, st->path_view)) {
    fail(400, core_->c.protocol_errors);  // cannot happen: the same bytes parsed before
    return bytes.size();
  }
  if (head.chunked) {
    st->chunked.emplace(limit, parser_.limits().max_header_bytes);
  } else {
    st->remaining = length;
    // Grown as bytes arrive: a head alone must not reserve a large body's memory.
    st->body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(length, 64 * 1024)));
  }
  st->started = reactor().now();
  body_ = std::move(st);
  in_ = In::kBody;
  arm(Wait::kBody, reactor().now() + core_->options.body_timeout);
  return head_bytes;
}

std::size_t HttpConnection::feed_body(std::string_view bytes) {
  BodyState& st = *body_;
  std::size_t used = 0;
  if (st.chunked) {
    while (used < bytes.size()) {
      const ChunkedDecoder::Step step = st.chunked->next(bytes.substr(used));
      used += step.consumed;
      if (step.status == ChunkedDecoder::Status::kError) {
        fail(status_of(step.error), core_->c.protocol_errors);
        return bytes.size();
      }
      if (step.status == ChunkedDecoder::Status::kData) {
        st.body.append(step.data);
        continue;
      }
      // kDone, or kNeedMore: a partial size line or CRLF stays unconsumed and comes back
      // with the next bytes.
      break;
    }
    st.received += used;
    if (!st.chunked->done()) {
      if (used != 0) arm(Wait::kBody, reactor().now() + core_->options.body_timeout);
      return used;
    }
  } else {
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(st.remaining, bytes.size()));
    st.body.append(bytes.substr(0, take));
    st.remaining -= take;
    st.received += take;
    used = take;
    if (st.remaining != 0) {
      arm(Wait::kBody, reactor().now() + core_->options.body_timeout);
      return used;
    }
  }
  // Complete: handle it, then go back to reading heads.
  std::unique_ptr<BodyState> done = std::move(body_);
  in_ = In::kHead;
  wait_ = Wait::kNone;
  continue_sent_ = false;
  dispatch(done->head, done->path_view, done->body);
  return used;
}

bool HttpConnection::decode_path(const RequestHead& head, std::string& storage, std::string_view& path) {
  if (head.path.find('%') == std::string_view::npos) {
    path = head.path;
    return true;
  }
  if (!percent_decode_path(head.path, storage)) return false;
  path = storage;
  return true;
}

void HttpConnection::dispatch(const RequestHead& head, std::string_view path, std::string_view body) {
  ServerCore& core = *core_;
  bump(core.c.requests);
  Params& params = core.params;
  const Router<Route>::Match m = core.router.match(head.method, path, params);
  const Route* route = core.route_for(m);
  const bool head_only = head.method == "HEAD";
  bool close = !head.keep_alive;
  http10_ = head.version_minor == 0;
  core.headers.clear();
  core.ctype.clear();
  core.body.clear();
  core.producer = nullptr;
  core.stream_length.reset();
  core.block.reset();
  core.body_len = core.block_pre = 0;
  current_seq_ = next_seq_++;

  Request req(head, path, params, body);
  Response res(*this);
  const char* failure = nullptr;
  std::string what;
  try {
    for (const Middleware& mw : core.before) {
      mw(req, res);
      if (res.answered()) break;
    }
    if (!res.answered()) {
      if (route != nullptr) {
        route->handler(req, res);
      } else if (m.outcome == Router<Route>::Outcome::kMethodNotAllowed) {
        res.status(405).header("Allow", m.allow).text("405 Method Not Allowed\n");
      } else {
        res.status(404).text("404 Not Found\n");
      }
    }
    for (const AfterMiddleware& mw : core.after) mw(req, res);
    if (!res.answered()) throw std::logic_error("the handler did not answer");
  } catch (const std::exception& e) {
    what = e.what();
    failure = what.c_str();
  } catch (...) {
    failure = "a non-std exception";
  }
  if (failure != nullptr) {
    bump(core.c.handler_errors);
    core.stage->log_error(std::string("http handler for ") + std::string(head.method) + " " + std::string(path) +
                          " threw: " + failure);
    close = true;  // the handler's state is unknown: do not take more requests
    if (res.kind_ != Response::Kind::kDeferred) {
      // Replace whatever was built by a plain 500 (a deferred one answers 500 itself when
      // the DeferredResponse is destroyed uncompleted).
      core.headers.clear();
      core.producer = nullptr;
      core.stream_length.reset();
      core.block.reset();
      core.body_len = core.block_pre = 0;
      res.kind_ = Response::Kind::kNone;
      res.status_ = 500;
      res.text("500 Internal Server Error\n");
    }
  }
  if (res.close_) close = true;
  commit(res, head_only, close);
}

void HttpConnection::commit(Response& res, bool head_only, bool close) {
  ServerCore& core = *core_;
  if (close) closing_ = true;
  const int status = res.status_;
  const bool has_body = status_has_body(status);
  if (res.kind_ == Response::Kind::kDeferred) {
    bump(core.c.deferred);
    Pending p;
    p.seq = current_seq_;
    p.status = status;  // the handler's (or `after` middleware's) status, unless the deferred sets one
    p.close = close;
    p.head_only = head_only;
    p.http10 = http10_;
    p.bytes = core.headers;  // headers the handler or `after` middleware added
    queue_.push_back(std::move(p));
    return;
  }
  if (res.kind_ == Response::Kind::kPrepared) {
    format_prepared(core.out, close, http10_, core.headers);
    if (head_only) core.body_len = 0;
    send_or_queue(close, head_only, false, nullptr);
    return;
  }
  if (res.kind_ == Response::Kind::kBlock) {
    format(core.out, status, core.ctype, core.headers,
           has_body ? std::optional<std::uint64_t>(core.body_len) : std::nullopt, false, close, http10_, {});
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
           has_body ? std::optional<std::uint64_t>(*core.stream_length) : std::nullopt, false, close, http10_, {});
    StreamProducer producer = std::move(core.producer);
    send_or_queue(close, head_only, false, with_body ? &producer : nullptr);
    return;
  }
  if (res.kind_ == Response::Kind::kStream) {
    bump(core.c.streams);
    // HTTP/1.0 has no chunked coding: the body ends where the connection does. A status
    // that has no body (204, 304) sends the head alone.
    const bool with_body = has_body && !head_only;
    const bool chunked = has_body && !http10_;
    const bool stream_close = close || (has_body && !chunked);
    if (stream_close) closing_ = true;
    format(core.out, status, core.ctype, core.headers, std::nullopt, chunked, stream_close, http10_, {});
    StreamProducer producer = std::move(core.producer);
    send_or_queue(stream_close, head_only, chunked, with_body ? &producer : nullptr);
    return;
  }
  // A body: small ones go out with the head in one copy; large ones are streamed with their
  // Content-Length as the socket drains.
  const std::uint64_t length = has_body ? core.body.size() : 0;
  if (has_body && !head_only && core.body.size() > core.options.stream_threshold) {
    bump(core.c.streams);
    format(core.out, status, core.ctype, core.headers, length, false, close, http10_, {});
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
         false, close, http10_, head_only || !has_body ? std::string_view() : std::string_view(core.body));
  send_or_queue(close, head_only, false, nullptr);
}

std::string_view ServerCore::head_prefix(int status, std::string_view content_type) {
  const std::string_view date = dates.get();
  const std::int64_t second = dates.second();
  HeadPrefix* slot = nullptr;
  for (HeadPrefix& p : prefixes) {
    if (p.status == status && p.ctype == content_type) {
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
                            std::optional<std::uint64_t> length, bool chunked, bool close, bool http10,
                            std::string_view body) {
  out.assign(core_->head_prefix(status, ctype));
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
  out.append(std::string_view("Date: ")).append(core.dates.get()).append(std::string_view("\r\n"));
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
  if (queue_.empty() && !stream_) {
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
  p.seq = current_seq_;
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
  queue_.push_back(std::move(p));
}

void HttpConnection::emit(Pending&& p) {
  if (queue_.empty() && !stream_) {
    send(p.bytes);
    if (p.close) maybe_close();
    return;
  }
  queue_.push_back(std::move(p));
}

std::shared_ptr<DeferredState> HttpConnection::make_deferred() {
  auto st = std::make_shared<DeferredState>();
  st->core = core_;
  st->conn = id();
  st->seq = current_seq_;
  return st;
}

void HttpConnection::deliver_deferred(DeferredState& st) {
  ServerCore& core = *core_;
  auto it = std::find_if(queue_.begin(), queue_.end(), [&](const Pending& p) { return p.seq == st.seq && !p.ready; });
  if (it == queue_.end() || !attached()) {
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
  if (!core.deferred_hooks.empty()) {
    // The hooks run when the answer is sent (flush), after those ahead of it.
    it->hook = std::make_unique<Pending::Hook>();
    it->hook->ctype = std::move(st.ctype);
    it->hook->body = std::move(st.body);
  }
  bump_shared(core.c.deferred_completed);
  bump(core.c.responses);
  flush();
}

void HttpConnection::run_deferred_hooks(const Pending& p) {
  ServerCore& core = *core_;
  const DeferredView view{p.status, p.hook->ctype, p.hook->body, id()};
  for (const DeferredHook& hook : core.deferred_hooks) {
    try {
      hook(view);
    } catch (const std::exception& e) {
      bump(core.c.handler_errors);
      core.stage->log_error(std::string("http deferred hook threw: ") + e.what());
    } catch (...) {
      bump(core.c.handler_errors);
      core.stage->log_error("http deferred hook threw a non-std exception");
    }
  }
}

// Sends every answer at the front of the queue that is ready, in order. Each entry leaves
// the queue before it is sent, so a stream that starts (and perhaps ends, calling flush()
// again) finds a consistent queue.
void HttpConnection::flush() {
  while (!queue_.empty() && queue_.front().ready && !stream_) {
    Pending p = std::move(queue_.front());
    queue_.erase(queue_.begin());
    if (p.hook) run_deferred_hooks(p);
    send_parts(p.block, p.block_pre, p.bytes, p.body_off, p.body_len);
    if (p.close) closing_ = true;
    if (p.stream) start_stream(std::move(p.stream), p.chunked, p.close, p.length);
  }
  maybe_resume();
  maybe_close();
}

void HttpConnection::maybe_resume() {
  if (paused_ && !closing_ && queue_.size() < core_->options.max_outstanding && !output_full()) {
    paused_ = false;
    if (wait_ == Wait::kHead) deadline_ = reactor().now() + core_->options.header_timeout;  // our delay, not theirs
    resume_input();
  }
}

void HttpConnection::start_stream(StreamProducer producer, bool chunked, bool close,
                                  std::optional<std::uint64_t> length) {
  stream_ = std::make_unique<ActiveStream>();
  stream_->producer = std::move(producer);
  stream_->chunked = chunked;
  stream_->close = close;
  stream_->remaining = length;
  stream_->serial = ++stream_serial_;
  pump();
}

StreamResume HttpConnection::suspend_stream() noexcept {
  if (!stream_) return {};
  stream_->suspended = true;
  return StreamResume(id(), stream_->serial);
}

void HttpConnection::resume_stream(std::uint64_t serial) {
  if (!stream_ || stream_->serial != serial || !stream_->suspended) return;
  stream_->suspended = false;
  pump();
  maybe_resume();
}

void HttpConnection::take_stream_bytes(std::size_t n) {
  if (!stream_->remaining) return;
  if (n > *stream_->remaining) throw std::logic_error("the stream wrote past its Content-Length");
  *stream_->remaining -= n;
}

void HttpConnection::cut_stream(const std::string& why) {
  bump(core_->c.handler_errors);
  bump(core_->c.streams_cut);
  core_->stage->log_error("http stream cut: " + why);
  stream_.reset();
  abort();  // the body is cut short: the client must see it as incomplete
}

std::size_t HttpConnection::stream_room() const noexcept {
  const std::size_t window = 2 * core_->options.stream_chunk;
  const std::size_t queued = attached() ? connection().queued_bytes() : window;
  return queued >= window ? 0 : window - queued;
}

bool HttpConnection::stream_write(std::string_view bytes, bool chunked) {
  if (!stream_) return false;  // the stream already ended: nothing may be added
  if (bytes.empty()) return attached();
  take_stream_bytes(bytes.size());
  if (!chunked) return send(bytes);
  char size_line[24];
  const int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", bytes.size());
  return send(std::string_view(size_line, static_cast<std::size_t>(n))) && send(bytes) && send(std::string_view("\r\n"));
}

bool HttpConnection::stream_write(runtime::SharedBlock block, std::size_t offset, std::size_t len, bool chunked) {
  if (!stream_) return false;
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
  if (!stream_) return false;
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
  while (stream_ && !stream_->suspended && attached() && connection().open() && stream_room() > 0) {
    const std::size_t before = connection().queued_bytes();
    BodyWriter w(*this, stream_->chunked);
    bool more = false;
    try {
      more = stream_->producer(w);
    } catch (const std::exception& e) {
      cut_stream(std::string("the producer threw: ") + e.what());
      return;
    }
    if (!stream_) return;
    if (!more) {
      if (stream_->remaining && *stream_->remaining != 0) {
        cut_stream("the producer ended " + std::to_string(*stream_->remaining) + " bytes short of its Content-Length");
        return;
      }
      if (stream_->chunked) send(std::string_view("0\r\n\r\n"));
      if (stream_->close) closing_ = true;
      stream_.reset();
      flush();
      return;
    }
    if (attached() && connection().queued_bytes() == before) {
      // Nothing this time: asked again when the output drains, or when resumed.
      if (before != 0 || stream_->suspended) return;
      // Nothing queued, nothing written, no resume promised: nothing would ever ask again.
      cut_stream("the producer returned 'more' without writing");
      return;
    }
  }
}

void HttpConnection::on_drain() {
  pump();
  maybe_resume();
}

void HttpConnection::expect_continue() {
  continue_sent_ = true;
  Pending p;
  p.ready = true;
  p.seq = next_seq_;  // ordered before the answer to this request
  p.bytes = "HTTP/1.1 100 Continue\r\n\r\n";
  emit(std::move(p));
}

void HttpConnection::fail(int status, std::atomic<std::uint64_t>& counter) {
  if (closing_) return;
  bump(counter);
  in_ = In::kDone;
  wait_ = Wait::kNone;
  carry_need_ = 0;
  body_.reset();
  ServerCore& core = *core_;
  current_seq_ = next_seq_++;
  char body[64];
  const int n = std::snprintf(body, sizeof body, "%d %.*s\n", status, static_cast<int>(reason_phrase(status).size()),
                              reason_phrase(status).data());
  closing_ = true;
  format(core.out, status, "text/plain; charset=utf-8", {}, static_cast<std::uint64_t>(n), false, true, false,
         std::string_view(body, static_cast<std::size_t>(n)));
  send_or_queue(true, false, false, nullptr);
}

void HttpConnection::arm(Wait what, actors::Actor::Clock::time_point deadline) {
  wait_ = what;
  deadline_ = deadline;
  if (timer_ && timer_due_ <= deadline) return;  // the armed timer comes first and re-checks
  if (timer_) cancel(timer_);
  timer_due_ = deadline;
  timer_ = after(deadline - reactor().now(), [this] { on_timer(); });
}

void HttpConnection::on_timer() {
  timer_ = {};
  if (wait_ == Wait::kNone || closing_) return;
  const auto now = reactor().now();
  if (paused_) {
    // Reading is paused by us (answers outstanding): the client is not the one late.
    deadline_ = now + (wait_ == Wait::kHead ? core_->options.header_timeout : core_->options.body_timeout);
  }
  bool late = now >= deadline_;
  if (!late && wait_ == Wait::kBody && body_ && core_->options.min_body_rate != 0) {
    // Progress alone is not enough: past one body_timeout the body must average at least
    // min_body_rate, or a client dripping a byte now and then would hold the slot forever.
    const auto elapsed = now - body_->started;
    if (elapsed > core_->options.body_timeout) {
      const double seconds = std::chrono::duration<double>(elapsed - core_->options.body_timeout).count();
      late = static_cast<double>(body_->received) < seconds * static_cast<double>(core_->options.min_body_rate);
    }
  }
  if (!late) {
    const auto next = std::min(deadline_, now + core_->options.body_timeout);
    timer_due_ = next;
    timer_ = after(next - now, [this] { on_timer(); });
    return;
  }
  fail(408, wait_ == Wait::kHead ? core_->c.header_timeouts : core_->c.body_timeouts);
}

void HttpConnection::maybe_close() {
  if (closing_ && queue_.empty() && !stream_) close();
}

bool HttpConnection::on_input_end() {
  // The client sent everything it will send. Requests it sent are still answered.
  closing_ = true;
  in_ = In::kDone;
  wait_ = Wait::kNone;
  if (queue_.empty() && !stream_) return false;  // close once the output is sent
  return true;
}

bool HttpConnection::on_shutdown() {
  // Take no new request; finish the answers already owed (bounded by shutdown_grace).
  closing_ = true;
  in_ = In::kDone;
  wait_ = Wait::kNone;
  return !(queue_.empty() && !stream_);
}

}  // namespace detail

// ---- Server -----------------------------------------------------------------------------

Server::Server(actors::Stage& stage, ServerOptions options)
    : core_(std::make_shared<detail::ServerCore>(stage, std::move(options))) {
  const ServerOptions& o = core_->options;
  if (o.header_timeout.count() <= 0 || o.body_timeout.count() <= 0) {
    throw std::invalid_argument("http::Server: header_timeout and body_timeout must be positive");
  }
  if (o.max_outstanding == 0) throw std::invalid_argument("http::Server: max_outstanding must be at least 1");
  if (o.stream_chunk == 0) throw std::invalid_argument("http::Server: stream_chunk must be positive");
  if (o.limits.max_request_line == 0 || o.limits.max_header_bytes == 0 || o.limits.max_headers == 0) {
    throw std::invalid_argument("http::Server: request limits must be positive");
  }
  if (o.server_header.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    throw std::invalid_argument("http::Server: server_header contains CR, LF or NUL");
  }
  const runtime::ReactorOptions& ro = stage.reactor().options();
  const std::size_t head_limit = o.limits.max_request_line + o.limits.max_header_bytes + 4;
  if (head_limit > ro.max_input_carry) {
    throw std::invalid_argument("http::Server: max_request_line + max_header_bytes (" + std::to_string(head_limit) +
                                ") exceed the reactor's max_input_carry (" + std::to_string(ro.max_input_carry) +
                                "): a long head would be cut without its 414/431");
  }
  if (o.stream_threshold == 0 || 3 * o.stream_threshold > ro.max_output_bytes) {
    throw std::invalid_argument("http::Server: stream_threshold must be positive and at most a third of the "
                                "reactor's max_output_bytes");
  }
  // Small bodies wait in the input carry; keep a head's worth of it free.
  core_->carried_body = std::min<std::size_t>(16 * 1024, ro.max_input_carry - head_limit + 4);
  core_->parser_max_body = o.limits.max_body;
  // Once the reactor stops no connection is left to answer: later completions are dropped.
  stage.reactor().add_stop_hook([core = core_] {
    const std::lock_guard<std::mutex> lock(core->gate);
    core->open = false;
  });
}

Server::~Server() = default;  // the stop hook closes the gate; connections keep the core alive

void Server::route(std::string_view method, std::string_view pattern, Handler handler, RouteOptions options) {
  if (core_->listening) throw std::logic_error("http::Server::route: add routes before listen()");
  if (!handler) throw std::invalid_argument("http::Server::route: empty handler for " + std::string(pattern));
  for (const char c : method) {
    if (!is_token_char(c)) throw std::invalid_argument("http::Server::route: bad method '" + std::string(method) + "'");
  }
  core_->router.add(method, pattern, detail::Route{std::move(handler), options.max_body});
  if (options.max_body) core_->parser_max_body = std::max(core_->parser_max_body, *options.max_body);
}

void Server::fallback(Handler handler, RouteOptions options) {
  if (core_->listening) throw std::logic_error("http::Server::fallback: set it before listen()");
  if (!handler) throw std::invalid_argument("http::Server::fallback: empty handler");
  core_->fallback = detail::Route{std::move(handler), options.max_body};
  if (options.max_body) core_->parser_max_body = std::max(core_->parser_max_body, *options.max_body);
}

void Server::before(Middleware m) { core_->before.push_back(std::move(m)); }
void Server::after(AfterMiddleware m) { core_->after.push_back(std::move(m)); }
void Server::add_deferred_hook(DeferredHook hook) { core_->deferred_hooks.push_back(std::move(hook)); }

std::uint16_t Server::listen(const runtime::ListenOptions& options) {
  core_->listening = true;
  return core_->stage->listen(options, [core = core_](runtime::Connection) {
    return std::make_unique<detail::HttpConnection>(core);
  });
}

const ServerOptions& Server::options() const noexcept { return core_->options; }

ServerCounters Server::counters() const noexcept {
  const detail::CounterCells& c = core_->c;
  auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  ServerCounters s;
  s.connections = get(c.connections);
  s.requests = get(c.requests);
  s.responses = get(c.responses);
  s.protocol_errors = get(c.protocol_errors);
  s.header_timeouts = get(c.header_timeouts);
  s.body_timeouts = get(c.body_timeouts);
  s.handler_errors = get(c.handler_errors);
  s.deferred = get(c.deferred);
  s.deferred_completed = get(c.deferred_completed);
  s.deferred_dropped = get(c.deferred_dropped);
  s.deferred_abandoned = get(c.deferred_abandoned);
  s.input_pauses = get(c.input_pauses);
  s.streams = get(c.streams);
  s.streams_cut = get(c.streams_cut);
  return s;
}

}  // namespace ringactor::http
