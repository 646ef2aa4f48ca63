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


HttpConnection::HttpConnection(std::shared_ptr<ServerCore> core)
    : core_(std::move(core)),
      parser_([&] {
        Limits l = core_->options.limits;
        l.max_body = core_->parser_max_body;
        return l;
      }()) {}

void HttpConnection::on_start() {
  bump(core_->c.connections);
  // A connection that sends nothing is closed after header_timeout, not idle_timeout:
  // connecting must not hold a socket for a minute. One reactor timer, no per-connection
  // allocation; it finds the connection by id and does nothing if bytes came or it is gone.
  reactor().after(core_->options.header_timeout, [self = id()] {
    self.stage->with_actor(self, [](actors::Actor& a) { static_cast<HttpConnection&>(a).on_first_byte_timeout(); });
  });
}

void HttpConnection::on_first_byte_timeout() {
  if (!fresh_ || closing_) return;
  bump(core_->c.header_timeouts);
  closing_ = true;
  close();  // nothing was asked, so nothing is answered
}

std::size_t HttpConnection::on_data(std::span<const std::byte> bytes) {
  const std::string_view all(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  fresh_ = false;
  std::size_t off = 0;
  while (off < all.size()) {
    if (closing_ || in_ == In::kDone) return all.size();  // answering an error or closing: drop
    if (in_ == In::kBody) {
      off += feed_body(all.substr(off));
      if (in_ == In::kBody) return off;  // all taken, or a partial chunk line waits for more
      continue;
    }
    if (carry_need_ != 0 && all.size() - off < carry_need_) return off;  // a small body still arriving
    if (carry_need_ == 0 && (all[off] == '\r' || all[off] == '\n')) {
      // Empty lines before a request line are ignored (RFC 9112 section 2.2), also between
      // pipelined requests. They do not count as a request begun: the head timeout runs.
      while (off < all.size() && (all[off] == '\r' || all[off] == '\n')) ++off;
      if (wait_ != Wait::kHead) arm(Wait::kHead, reactor().now() + core_->options.header_timeout);
      continue;
    }
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

void HttpConnection::arm(Wait what, actors::Actor::Clock::time_point deadline) {
  wait_ = what;
  deadline_ = deadline;
  auto due = deadline;
  if (what == Wait::kBody && core_->options.min_body_rate != 0) due = std::min(due, reactor().now() + kRateCheck);
  if (timer_ && timer_due_ <= due) return;  // the armed timer comes first and re-checks
  if (timer_) cancel(timer_);
  timer_due_ = due;
  timer_ = after(due - reactor().now(), [this] { on_timer(); });
}

void HttpConnection::on_timer() {
  timer_ = {};
  if (wait_ == Wait::kNone || closing_) return;
  const ServerOptions& o = core_->options;
  const auto now = reactor().now();
  if (paused_) {
    // Reading is paused by us (answers outstanding): the client is not the one late.
    deadline_ = now + (wait_ == Wait::kHead ? o.header_timeout : o.body_timeout);
  }
  bool late = now >= deadline_;
  const bool rate_checked = wait_ == Wait::kBody && body_ && o.min_body_rate != 0;
  if (!late && rate_checked && !paused_) {
    // Progress alone is not enough: past the grace the body must average at least
    // min_body_rate, or a client dripping a byte now and then would hold the slot forever.
    const auto elapsed = now - body_->started;
    if (elapsed > o.body_rate_grace) {
      const double seconds = std::chrono::duration<double>(elapsed - o.body_rate_grace).count();
      late = static_cast<double>(body_->received) < seconds * static_cast<double>(o.min_body_rate);
    }
  }
  if (!late) {
    const auto next = rate_checked ? std::min(deadline_, now + kRateCheck) : deadline_;
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
  // The client sent everything it will send. Requests it sent are still answered, but a
  // client that closes while answers are owed has usually gone (a timeout, a closed tab):
  // work done for those answers may stop.
  abandon_pending(false);
  closing_ = true;
  in_ = In::kDone;
  wait_ = Wait::kNone;
  if (queue_.empty() && !stream_) return false;  // close once the output is sent
  return true;
}

bool HttpConnection::on_shutdown() {
  // Take no new request; finish the answers already owed (bounded by shutdown_grace). Work
  // for deferred answers is told to stop, so they come soon (as 503 when the handler's
  // work was cancelled) and close the connection.
  abandon_pending(true);
  closing_ = true;
  in_ = In::kDone;
  wait_ = Wait::kNone;
  return !(queue_.empty() && !stream_);
}

void HttpConnection::on_stop() { abandon_pending(true); }

void HttpConnection::abandon_pending(bool close) noexcept {
  for (Pending& p : queue_) {
    if (p.ready) continue;
    p.lifeline.cut();
    if (close) p.close = true;
  }
}

}  // namespace ringactor::http::detail
