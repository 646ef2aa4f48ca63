// HttpConnection, input side: bytes to requests (parsing, bodies, 100-continue), dispatch
// through middleware and handlers, header/body timeouts, and the ends of input.
#include "ringactor/http/server.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include <ringactor/actors/stage.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "server_impl.hpp"

namespace ringactor::http::detail {


HttpConnection::~HttpConnection() {
  if (x_ != nullptr) {
    if (x_->timer) reactor().cancel(x_->timer);
    delete x_;  // not back to the pool: the connection may be torn down after its server
  }
}

// An idle keep-alive connection is this object, its stage entry, its bridge and its reactor
// slot: 256 B at most in all (bench/README.md measures it).
static_assert(sizeof(HttpConnection) <= 72, "HttpConnection grew: re-measure idle memory per connection");

void HttpConnection::on_start() { bump(core_->c.connections); }

Exchange& HttpConnection::exchange() {
  if (x_ == nullptr) {
    if (!core_->spare.empty()) {
      x_ = core_->spare.back().release();
      core_->spare.pop_back();
    } else {
      x_ = new Exchange(core_->parser_limits());
    }
  }
  return *x_;
}

// Gives the exchange back to the pool once nothing is in progress: called where a handler
// run of this actor ends (data, drain, a deferred answer, a resumed stream, a timer).
void HttpConnection::release_if_idle() noexcept {
  if (x_ == nullptr || !x_->idle() || x_->parser.scanning()) return;
  std::unique_ptr<Exchange> x(std::exchange(x_, nullptr));
  x->next_seq = x->current_seq = 0;
  x->continue_sent = x->http10 = false;
  if (core_->spare.size() < ServerCore::kSpare) {
    try {
      core_->spare.push_back(std::move(x));
    } catch (...) {
      // No memory to keep it: it is freed instead.
    }
  }
}

// The connection stops being HTTP (an upgrade): nothing is owed, the exchange goes back.
void HttpConnection::drop_exchange() noexcept {
  if (x_ == nullptr) return;
  if (x_->timer) reactor().cancel(x_->timer);
  x_->timer = {};
  x_->queue.clear();
  x_->body.reset();
  x_->stream.reset();
  x_->in = In::kHead;
  x_->wait = Wait::kNone;
  x_->carry_need = 0;
  x_->parser.reset();
  release_if_idle();
  if (x_ != nullptr) {  // not idle after all (cannot happen): free it
    delete x_;
    x_ = nullptr;
  }
}

void HttpConnection::on_disconnect(runtime::CloseReason reason, int /*error*/) {
  // A connection that said nothing was closed by the reactor's first_byte_timeout, which the
  // server sets to header_timeout.
  if (fresh_ && reason == runtime::CloseReason::kIdleTimeout) bump(core_->c.header_timeouts);
}

std::size_t HttpConnection::on_data(std::span<const std::byte> bytes) {
  fresh_ = false;
  if (closing_) return bytes.size();  // answering an error or closing: drop
  exchange();
  const std::size_t used = take(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  release_if_idle();
  return used;
}

std::size_t HttpConnection::take(std::string_view all) {
  std::size_t off = 0;
  while (off < all.size()) {
    if (switched_) return off;  // upgraded: the rest is the new protocol's (ConnectionActor::hand_over)
    if (closing_ || x_->in == In::kDone) return all.size();  // answering an error or closing: drop
    if (x_->in == In::kBody) {
      off += feed_body(all.substr(off));
      if (x_->in == In::kBody) return off;  // all taken, or a partial chunk line waits for more
      continue;
    }
    if (x_->carry_need != 0 && all.size() - off < x_->carry_need) return off;  // a small body still arriving
    if (x_->carry_need == 0 && (all[off] == '\r' || all[off] == '\n')) {
      // Empty lines before a request line are ignored (RFC 9112 section 2.2), also between
      // pipelined requests. They do not count as a request begun: the head timeout runs.
      while (off < all.size() && (all[off] == '\r' || all[off] == '\n')) ++off;
      if (x_->wait != Wait::kHead) arm(Wait::kHead, reactor().now() + core_->options.header_timeout);
      continue;
    }
    if (x_->queue.size() >= core_->options.max_outstanding || output_full()) {
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
  x_->carry_need = 0;
  const RequestParser::Result r = x_->parser.parse(bytes, head);
  if (r.status == RequestParser::Status::kIncomplete) {
    if (x_->wait != Wait::kHead) arm(Wait::kHead, reactor().now() + core_->options.header_timeout);
    return 0;
  }
  if (r.status == RequestParser::Status::kError) {
    fail(status_of(r.error), core_->c.protocol_errors);
    return bytes.size();
  }
  x_->parser.reset();
  std::string_view path;
  if (!decode_path(head, core_->path, path)) {
    fail(400, core_->c.protocol_errors);
    return bytes.size();
  }
  const Router<Route>::Match m = core_->table->router.match(head.method, path, core_->params);
  const Route* route = core_->route_for(m);
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
    x_->wait = Wait::kNone;
    x_->continue_sent = false;
    dispatch(head, path, bytes.substr(head_bytes, static_cast<std::size_t>(length)), &m);
    return head_bytes + static_cast<std::size_t>(length);
  }
  if (head.expect_continue && !x_->continue_sent) expect_continue();
  if (!head.chunked && head_bytes + length <= core_->carried_body) {
    // A small body on its way: let it gather in the input carry (within header_timeout),
    // and do not look at the request again before all of it is there.
    if (x_->wait != Wait::kHead) arm(Wait::kHead, reactor().now() + core_->options.header_timeout);
    x_->carry_need = head_bytes + static_cast<std::size_t>(length);
    return 0;
  }
  // A large or chunked body: keep a copy of the head and take the body as it comes.
  auto st = std::make_unique<BodyState>();
  st->head_bytes.assign(bytes.substr(0, head_bytes));
  RequestParser again(x_->parser.limits());
  if (again.parse(st->head_bytes, st->head).status != RequestParser::Status::kComplete ||
      !decode_path(st->head, st->path, st->path_view)) {
    fail(400, core_->c.protocol_errors);  // cannot happen: the same bytes parsed before
    return bytes.size();
  }
  if (head.chunked) {
    st->chunked.emplace(limit, x_->parser.limits().max_header_bytes);
  } else {
    st->remaining = length;
    // Grown as bytes arrive: a head alone must not reserve a large body's memory.
    st->body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(length, 64 * 1024)));
  }
  st->started = reactor().now();
  x_->body = std::move(st);
  x_->in = In::kBody;
  arm(Wait::kBody, reactor().now() + core_->options.body_timeout);
  return head_bytes;
}

std::size_t HttpConnection::feed_body(std::string_view bytes) {
  BodyState& st = *x_->body;
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
  std::unique_ptr<BodyState> done = std::move(x_->body);
  x_->in = In::kHead;
  x_->wait = Wait::kNone;
  x_->continue_sent = false;
  dispatch(done->head, done->path_view, done->body, nullptr);
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

void HttpConnection::dispatch(const RequestHead& head, std::string_view path, std::string_view body,
                              const Router<Route>::Match* matched) {
  ServerCore& core = *core_;
  bump(core.c.requests);
  Params& params = core.params;
  Router<Route>::Match rematched;
  if (matched == nullptr) {
    rematched = core.table->router.match(head.method, path, params);
    matched = &rematched;
  }
  const Router<Route>::Match& m = *matched;
  const Route* route = core.route_for(m);
  const bool head_only = head.method == "HEAD";
  bool close = !head.keep_alive;
  x_->http10 = head.version_minor == 0;
  core.headers.clear();
  core.ctype.clear();
  core.body.clear();
  core.producer = nullptr;
  core.stream_length.reset();
  core.block.reset();
  core.body_len = core.block_pre = 0;
  core.upgrade.reset();
  x_->current_seq = x_->next_seq++;

  Request req(core, head, path, params, body);
  Response res(*this);
  const char* failure = nullptr;
  std::string what;
  try {
    for (Middleware& mw : core.table->before) {
      mw(req, res);
      if (res.answered()) break;
    }
    if (!res.answered()) {
      if (route != nullptr) {
        switch (route->kind) {
          case Route::Kind::kHandler: route->handler(req, res); break;
          case Route::Kind::kWebSocket: ws_handshake(*core.ws_routes[route->ws], req, res); break;
          case Route::Kind::kMetrics: core.render_metrics(res); break;
        }
      } else if (m.outcome == Router<Route>::Outcome::kMethodNotAllowed) {
        res.status(405).header("Allow", m.allow).text("405 Method Not Allowed\n");
      } else {
        res.status(404).text("404 Not Found\n");
      }
    }
    for (AfterMiddleware& mw : core.table->after) mw(req, res);
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
      core.upgrade.reset();
      res.kind_ = Response::Kind::kNone;
      res.status_ = 500;
      res.text("500 Internal Server Error\n");
    }
  }
  if (res.close_) close = true;
  commit(res, head_only, close);
}

void HttpConnection::expect_continue() {
  x_->continue_sent = true;
  Pending p;
  p.ready = true;
  p.seq = x_->next_seq;  // ordered before the answer to this request
  p.bytes = "HTTP/1.1 100 Continue\r\n\r\n";
  emit(std::move(p));
}

void HttpConnection::fail(int status, std::atomic<std::uint64_t>& counter) {
  if (closing_) return;
  bump(counter);
  x_->in = In::kDone;
  x_->wait = Wait::kNone;
  x_->carry_need = 0;
  x_->body.reset();
  ServerCore& core = *core_;
  x_->current_seq = x_->next_seq++;
  count_status(core.c, status);
  char body[64];
  const int n = std::snprintf(body, sizeof body, "%d %.*s\n", status, static_cast<int>(reason_phrase(status).size()),
                              reason_phrase(status).data());
  closing_ = true;
  format(core.out, status, "text/plain; charset=utf-8", {}, static_cast<std::uint64_t>(n), false, true, false,
         std::string_view(body, static_cast<std::size_t>(n)));
  send_or_queue(true, false, false, nullptr);
}

namespace {
// How often a body in progress is checked against the minimum rate.
constexpr auto kRateCheck = std::chrono::seconds(1);
}  // namespace

void HttpConnection::arm(Wait what, Clock::time_point deadline) {
  x_->wait = what;
  x_->deadline = deadline;
  auto due = deadline;
  if (what == Wait::kBody && core_->options.min_body_rate != 0) due = std::min(due, reactor().now() + kRateCheck);
  if (x_->timer && x_->timer_due <= due) return;  // the armed timer comes first and re-checks
  if (x_->timer) reactor().cancel(x_->timer);
  x_->timer_due = due;
  x_->timer = timer_after(due - reactor().now());
}

// A reactor timer that finds this connection by id (and does nothing if it is gone): no
// timer table per actor, and nothing kept once the exchange goes back to the pool.
runtime::TimerId HttpConnection::timer_after(Clock::duration delay) {
  return reactor().after(delay, [self = id()] {
    self.stage->with_actor(self, [](actors::Actor& a) {
      auto& c = static_cast<HttpConnection&>(a);
      c.on_timer();
      c.release_if_idle();
    });
  });
}

void HttpConnection::on_timer() {
  if (x_ == nullptr) return;
  x_->timer = {};
  if (x_->wait == Wait::kNone || closing_) return;
  const ServerOptions& o = core_->options;
  const auto now = reactor().now();
  if (paused_) {
    // Reading is paused by us (answers outstanding): the client is not the one late.
    x_->deadline = now + (x_->wait == Wait::kHead ? o.header_timeout : o.body_timeout);
  }
  bool late = now >= x_->deadline;
  const bool rate_checked = x_->wait == Wait::kBody && x_->body && o.min_body_rate != 0;
  if (!late && rate_checked && !paused_) {
    // Progress alone is not enough: past the grace the body must average at least
    // min_body_rate, or a client dripping a byte now and then would hold the slot forever.
    const auto elapsed = now - x_->body->started;
    if (elapsed > o.body_rate_grace) {
      const double seconds = std::chrono::duration<double>(elapsed - o.body_rate_grace).count();
      late = static_cast<double>(x_->body->received) < seconds * static_cast<double>(o.min_body_rate);
    }
  }
  if (!late) {
    const auto next = rate_checked ? std::min(x_->deadline, now + kRateCheck) : x_->deadline;
    x_->timer_due = next;
    x_->timer = timer_after(next - now);
    return;
  }
  fail(408, x_->wait == Wait::kHead ? core_->c.header_timeouts : core_->c.body_timeouts);
}

void HttpConnection::maybe_close() {
  if (closing_ && (x_ == nullptr || (x_->queue.empty() && !x_->stream))) close();
}

bool HttpConnection::on_input_end() {
  // The client sent everything it will send. Requests it sent are still answered, but a
  // client that closes while answers are owed has usually gone (a timeout, a closed tab):
  // work done for those answers may stop.
  abandon_pending(false);
  closing_ = true;
  if (x_ == nullptr) return false;  // nothing owed: close once the output is sent
  x_->in = In::kDone;
  x_->wait = Wait::kNone;
  return !(x_->queue.empty() && !x_->stream);
}

bool HttpConnection::on_shutdown() {
  // Take no new request; finish the answers already owed (bounded by shutdown_grace). Work
  // for deferred answers is told to stop, so they come soon (as 503 when the handler's
  // work was cancelled) and close the connection.
  abandon_pending(true);
  closing_ = true;
  if (x_ == nullptr) return false;
  x_->in = In::kDone;
  x_->wait = Wait::kNone;
  return !(x_->queue.empty() && !x_->stream);
}

void HttpConnection::on_stop() { abandon_pending(true); }

void HttpConnection::abandon_pending(bool close) noexcept {
  if (x_ == nullptr) return;
  for (Pending& p : x_->queue) {
    if (p.ready) continue;
    p.lifeline.cut();
    if (close) p.close = true;
  }
}

}  // namespace ringactor::http::detail
