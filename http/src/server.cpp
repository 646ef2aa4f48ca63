// The HTTP server's public objects: Request, Response, BodyWriter, DeferredResponse and
// Server. The connection actor behind them is in connection_input.cpp (parsing, dispatch,
// timeouts) and connection_output.cpp (ordering, deferred answers, streaming).
#include "ringactor/http/server.hpp"

#include <algorithm>
#include <charconv>
#include <bit>
#include <cstdio>
#include <type_traits>
#include <stdexcept>
#include <utility>

#include <ringactor/actors/stage.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "http_chars.hpp"
#include "server_impl.hpp"

namespace ringactor::http {

namespace detail {

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

}  // namespace detail

using detail::append_header;
using detail::checked_content_type;
using detail::checked_status;
using detail::is_token_char;

namespace {
// The response's Content-Type, checked for CR, LF and NUL unless it is the one checked last
// (a route answers with the same type every time: one short compare instead of a scan).
void set_content_type(detail::ServerCore& core, std::string_view content_type) {
  if (!detail::same_short(content_type, core.ctype_checked)) {
    checked_content_type(content_type);
    core.ctype_checked.assign(content_type);
  }
  core.ctype.assign(content_type);
}
}  // namespace

// ---- Request ----------------------------------------------------------------------------

actors::Stage& Request::stage() const noexcept { return *core_->stage; }

std::optional<std::string_view> Request::raw_query_param(std::string_view name) const noexcept {
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

std::optional<std::string> Request::query_param(std::string_view name) const {
  const std::optional<std::string_view> raw = raw_query_param(name);
  if (!raw) return std::nullopt;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(raw->size());
  for (std::size_t i = 0; i < raw->size(); ++i) {
    const char c = (*raw)[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c != '%') {
      out.push_back(c);
    } else {
      if (raw->size() - i < 3) return std::nullopt;  // a '%' needs two hex digits
      const int hi = hex((*raw)[i + 1]);
      const int lo = hex((*raw)[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
  }
  return out;
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
  set_content_type(core, content_type);
  core.body.assign(body);
  kind_ = Kind::kBody;
}

void Response::stream(std::string_view content_type, StreamProducer producer) {
  if (answered()) throw std::logic_error("http::Response completed twice");
  if (!producer) throw std::invalid_argument("http::Response::stream: empty producer");
  detail::ServerCore& core = conn_->core();
  set_content_type(core, content_type);
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
  set_content_type(core, content_type);
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
  // Nobody waits any more (client gone, server stopping): a courtesy 503, not a bug.
  const bool gone = state_->gone.load(std::memory_order_relaxed);
  if (!gone) detail::bump_shared(state_->core->c.deferred_abandoned);
  try {
    state_->status = gone ? 503 : 500;
    state_->headers.clear();
    state_->ctype.assign("text/plain; charset=utf-8");
    state_->body.assign(gone ? "503 Service Unavailable: the server stopped this request\n"
                             : "500 Internal Server Error: the deferred response was dropped\n");
    send_completion();
  } catch (...) {
    // Out of memory while answering: the connection's queue keeps a hole that its idle
    // timeout ends. Nothing better can be done without memory.
  }
}

bool DeferredResponse::client_gone() const noexcept {
  return state_ != nullptr && state_->gone.load(std::memory_order_relaxed);
}

actors::Requester DeferredResponse::requester() const {
  if (state_ == nullptr) throw std::logic_error("http::DeferredResponse::requester: already completed");
  // The lifeline is the state's own flag (no second allocation); it keeps the state alive.
  return actors::Requester{state_->conn, runtime::Lifeline(std::shared_ptr<std::atomic<bool>>(state_, &state_->gone))};
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

void DeferredResponse::complete(std::string_view content_type, std::string body) {
  if (state_ == nullptr) throw std::logic_error("http::DeferredResponse completed twice (or moved from)");
  state_->ctype.assign(checked_content_type(content_type));
  state_->body = std::move(body);
  send_completion();
}

// Hands the completed answer to the connection's reactor (or drops it, counted, once the
// reactor has stopped or the connection is gone).
void DeferredResponse::send_completion() {
  std::shared_ptr<detail::DeferredState> st = std::move(state_);
  detail::ServerCore& core = *st->core;
  const std::lock_guard<std::mutex> lock(core.gate);
  if (!core.open) {
    detail::bump_shared(core.c.deferred_dropped);
    return;
  }
  const actors::ActorId target = st->conn;
  actors::Stage::send(target, [st = std::move(st)](actors::Actor* a) mutable {
    if (a == nullptr) {
      detail::bump_shared(st->core->c.deferred_dropped);  // the client left first
      return;
    }
    static_cast<detail::HttpConnection*>(a)->deliver_deferred(*st);
  });
}

// ---- Routes ------------------------------------------------------------------------------

Routes::Routes() : table_(std::make_unique<detail::RouteTable>()) {}
Routes::~Routes() = default;

bool Routes::sealed() const noexcept { return table_->sealed; }

void Routes::check_open(const char* what) const {
  if (table_->sealed) {
    throw std::logic_error(std::string("http::Routes::") + what +
                           ": the table is sealed (a server serves it, or listens): add routes before that");
  }
}

void Routes::route(std::string_view method, std::string_view pattern, Handler handler, RouteOptions options) {
  check_open("route");
  if (!handler) throw std::invalid_argument("http::Routes::route: empty handler for " + std::string(pattern));
  for (const char c : method) {
    if (!detail::is_token_char(c)) {
      throw std::invalid_argument("http::Routes::route: bad method '" + std::string(method) + "'");
    }
  }
  table_->router.add(method, pattern, detail::Route{std::move(handler), options.max_body});
  if (options.max_body) table_->max_route_body = std::max(table_->max_route_body, *options.max_body);
}

void Routes::fallback(Handler handler, RouteOptions options) {
  check_open("fallback");
  if (!handler) throw std::invalid_argument("http::Routes::fallback: empty handler");
  table_->fallback = detail::Route{std::move(handler), options.max_body};
  if (options.max_body) table_->max_route_body = std::max(table_->max_route_body, *options.max_body);
}

void Routes::before(Middleware m) {
  check_open("before");
  if (!m) throw std::invalid_argument("http::Routes::before: empty middleware");
  table_->before.push_back(std::move(m));
}

void Routes::after(AfterMiddleware m) {
  check_open("after");
  if (!m) throw std::invalid_argument("http::Routes::after: empty middleware");
  table_->after.push_back(std::move(m));
}

void Routes::metrics(std::string_view path) {
  check_open("metrics");
  detail::Route r;
  r.kind = detail::Route::Kind::kMetrics;
  table_->router.add("GET", path, std::move(r));
}

// ---- Server ------------------------------------------------------------------------------

Server::Server(actors::Stage& stage, ServerOptions options)
    : Server(stage, std::make_shared<Routes>(), std::move(options)) {
  core_->shared_routes = false;
  core_->routes->table_->sealed = false;  // this server's own: open until listen()
}

Server::Server(actors::Stage& stage, std::shared_ptr<Routes> routes, ServerOptions options)
    : core_(std::make_shared<detail::ServerCore>(stage, std::move(options))) {
  if (!routes) throw std::invalid_argument("http::Server: null Routes");
  const ServerOptions& o = core_->options;
  if (o.header_timeout.count() <= 0 || o.body_timeout.count() <= 0) {
    throw std::invalid_argument("http::Server: header_timeout and body_timeout must be positive");
  }
  if (o.body_rate_grace.count() < 0) throw std::invalid_argument("http::Server: body_rate_grace must not be negative");
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
  core_->routes = std::move(routes);
  core_->table = core_->routes->table_.get();
  core_->shared_routes = true;
  core_->adopt_ws();  // checks each WebSocket route against this reactor
  core_->routes->table_->sealed = true;
  core_->parser_max_body = std::max(o.limits.max_body, core_->table->max_route_body);
  // Once the reactor stops no connection is left to answer: later completions are dropped.
  stage.reactor().add_stop_hook([core = core_] {
    const std::lock_guard<std::mutex> lock(core->gate);
    core->open = false;
  });
}

Server::~Server() = default;  // the stop hook closes the gate; connections keep the core alive

Routes& Server::own_routes() {
  if (core_->shared_routes) {
    throw std::logic_error("http::Server: this server serves a shared Routes table: add routes to the table");
  }
  if (core_->listening) throw std::logic_error("http::Server: add routes before listen()");
  return *core_->routes;
}

void Server::route(std::string_view method, std::string_view pattern, Handler handler, RouteOptions options) {
  own_routes().route(method, pattern, std::move(handler), options);
}

void Server::fallback(Handler handler, RouteOptions options) { own_routes().fallback(std::move(handler), options); }
void Server::before(Middleware m) { own_routes().before(std::move(m)); }
void Server::after(AfterMiddleware m) { own_routes().after(std::move(m)); }
runtime::HookId Server::add_deferred_hook(DeferredHook hook) { return core_->deferred_hooks.add(std::move(hook)); }
bool Server::remove_deferred_hook(runtime::HookId hook) noexcept { return core_->deferred_hooks.remove(hook); }

void Server::metrics(std::string_view path) { own_routes().metrics(path); }

namespace detail {

namespace {

// Adds every counter of `c` to `into`. The counter structs are made of std::uint64_t
// fields and arrays of them only (checked by size), so they add up as arrays of words.
template <typename T>
void add_counters(T& into, const T& c) noexcept {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) % sizeof(std::uint64_t) == 0);
  constexpr std::size_t n = sizeof(T) / sizeof(std::uint64_t);
  auto a = std::bit_cast<std::array<std::uint64_t, n>>(into);
  const auto b = std::bit_cast<std::array<std::uint64_t, n>>(c);
  for (std::size_t i = 0; i < n; ++i) a[i] += b[i];
  into = std::bit_cast<T>(a);
}

}  // namespace

void ServerCore::render_metrics(Response& res) {
  metrics_body.clear();
  runtime::MetricsWriter w(metrics_body);
  // This server's reactor, stage and counters; on linked servers, the sum over all of them
  // (every one of these snapshots may be read from any thread): one scrape, the process.
  runtime::Counters rc = stage->reactor().counters();
  actors::StageCounters ac = stage->counters();
  ServerCounters sc;
  snapshot(sc);
  for (const std::weak_ptr<ServerCore>& weak : linked) {
    const std::shared_ptr<ServerCore> other = weak.lock();
    if (!other) continue;
    add_counters(rc, other->stage->reactor().counters());
    add_counters(ac, other->stage->counters());
    ServerCounters oc;
    other->snapshot(oc);
    add_counters(sc, oc);
  }
  runtime::write_metrics(rc, w);
  actors::write_metrics(ac, w);
  write_metrics(sc, w);
  for (MetricsSource& source : metrics_sources) source(w);
  res.bytes(metrics_body, "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace detail

void Server::add_metrics(MetricsSource source) {
  if (core_->listening) throw std::logic_error("http::Server::add_metrics: add sources before listen()");
  if (!source) throw std::invalid_argument("http::Server::add_metrics: empty source");
  core_->metrics_sources.push_back(std::move(source));
}

std::uint16_t Server::listen(const runtime::ListenOptions& options) {
  core_->listening = true;
  core_->routes->table_->sealed = true;
  core_->parser_max_body = std::max(core_->options.limits.max_body, core_->table->max_route_body);
  runtime::ListenOptions o = options;
  // A connection that sends nothing is closed after header_timeout, not idle_timeout.
  if (o.first_byte_timeout.count() == 0) o.first_byte_timeout = core_->options.header_timeout;
  return core_->stage->listen(o, [core = core_](runtime::Connection) {
    return std::make_unique<detail::HttpConnection>(*core);
  });
}

const ServerOptions& Server::options() const noexcept { return core_->options; }

ServerCounters Server::counters() const noexcept {
  ServerCounters s;
  core_->snapshot(s);
  return s;
}

}  // namespace ringactor::http