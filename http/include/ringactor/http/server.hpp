// Server: an HTTP/1.1 server whose connections are actors on one Stage (one reactor).
//
//   runtime::Reactor reactor;
//   actors::Stage stage(reactor);
//   http::Server server(stage);
//   server.get("/plaintext", [](http::Request&, http::Response& res) { res.text("Hello, World!"); });
//   server.get("/rooms/:id", [](http::Request& req, http::Response& res) { res.json(lookup(req.param("id"))); });
//   server.listen({.port = 8080});
//   reactor.run();
//
// Each accepted connection is an HttpConnection actor. Requests are parsed in place from the
// receive buffers (RequestParser), routed (Router), passed through the `before` middleware,
// the handler and the `after` middleware, and answered in request order: pipelined requests
// are all answered, and a handler may answer later through a DeferredResponse, from any
// thread, while the requests behind it are handled; their answers wait until it is sent.
//
// Protocol errors are answered with their status and `Connection: close`, then the
// connection closes gracefully (the reactor lingers so the client reads the status):
// limits 414/431/413, malformed requests 400, versions 505, transfer codings 501, a head not
// complete within header_timeout 408, a body not progressing within body_timeout 408. An
// exception escaping a handler answers 500 and closes that connection; the others go on.
//
// Threads: build the server (routes, middleware, hooks) before the reactor runs, or on its
// thread. Handlers, middleware and hooks run on the reactor thread. DeferredResponse may be
// completed from any thread. counters() may be read from any thread.
//
// Costs: the plaintext path (one route, a short text body) allocates nothing per request
// once warm; a response is formatted into a scratch buffer and copied once into the
// connection's pooled output slabs. Deferred responses allocate their state and copies.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include <ringactor/actors/actor_id.hpp>
#include <ringactor/actors/requester.hpp>
#include <ringactor/runtime/metrics.hpp>
#include <ringactor/runtime/hook_list.hpp>
#include <ringactor/runtime/reactor_options.hpp>
#include <ringactor/runtime/shared_block.hpp>
#include <ringactor/runtime/unique_function.hpp>

#include "ringactor/http/request_parser.hpp"
#include "ringactor/http/router.hpp"
#include "ringactor/http/websocket.hpp"

namespace ringactor::actors {
class Stage;
}

namespace ringactor::http {

namespace detail {
struct RouteTable;
struct ServerCore;
struct DeferredState;
class HttpConnection;
class WsHandshake;
}  // namespace detail

struct ServerOptions {
  // Request line, header and default body limits (a route may set its own body limit).
  Limits limits{};
  // A request head must be complete this long after its first byte arrived (408). A new
  // connection that sends nothing at all is closed (without an answer) this long after
  // it was accepted, as nginx's client_header_timeout does.
  std::chrono::milliseconds header_timeout{10'000};
  // A body being received must make progress at least this often (408).
  std::chrono::milliseconds body_timeout{30'000};
  // Past body_rate_grace, a body must average at least min_body_rate bytes/s over the time
  // since the grace ended (checked every second; 0: no rate check), so a body trickling at
  // 1 byte/s is cut within about 6 s by default while any client sending 1 KiB/s or more is
  // never cut. The grace covers a slow start (TCP slow start, a phone waking its radio).
  std::uint64_t min_body_rate = 1024;
  std::chrono::milliseconds body_rate_grace{5'000};
  // The Server header's value; empty sends none.
  std::string server_header = "ringactor";
  // Answers a connection may have waiting (deferred ones, and those queued behind them)
  // before it stops reading further requests (TCP pushes back on the client). Reading also
  // pauses while more than 2 x stream_threshold bytes of output wait for a slow reader.
  std::size_t max_outstanding = 32;
  // Response bodies larger than this are fed to the socket in stream_chunk pieces as it
  // drains instead of being queued at once. At most a third of the reactor's
  // max_output_bytes (checked), so a reading client is never cut as a slow one.
  std::size_t stream_threshold = 256 * 1024;
  std::size_t stream_chunk = 64 * 1024;
};

// Per-route settings.
struct RouteOptions {
  // Largest body this route accepts (413 beyond); unset: ServerOptions::limits.max_body.
  std::optional<std::uint64_t> max_body{};
};

// A request as its handler sees it. Every view points into the connection's receive
// buffer or scratch space and is valid only during the handler call: copy what a deferred
// answer needs.
class Request {
 public:
  std::string_view method() const noexcept { return head_->method; }
  // The percent-decoded path ("/a b" for "/a%20b"); routes match this.
  std::string_view path() const noexcept { return path_; }
  // The path as sent, still encoded.
  std::string_view raw_path() const noexcept { return head_->path; }
  std::string_view target() const noexcept { return head_->target; }
  // The query string without '?', still encoded; empty if none.
  std::string_view query() const noexcept { return head_->query; }
  // The decoded value of the first `name=value` in the query (`+` is a space, %XX a byte;
  // `name` alone gives ""), or nullopt when absent or when its %-escapes are malformed.
  // Allocates only for a value longer than the small-string buffer (15 bytes).
  std::optional<std::string> query_param(std::string_view name) const;
  // The same value as sent, still encoded: a view into the request, no allocation.
  std::optional<std::string_view> raw_query_param(std::string_view name) const noexcept;
  // A `:name` capture of the route ("*" for the trailing wildcard); empty if none.
  std::string_view param(std::string_view name) const noexcept { return params_->get(name); }
  const Params& params() const noexcept { return *params_; }
  // First header with this name, compared case-insensitively.
  std::optional<std::string_view> header(std::string_view name) const noexcept { return head_->header(name); }
  std::span<const Header> headers() const noexcept { return head_->headers; }
  // The whole body (chunked bodies decoded); empty if none.
  std::string_view body() const noexcept { return body_; }
  int version_minor() const noexcept { return head_->version_minor; }
  bool keep_alive() const noexcept { return head_->keep_alive; }
  // The stage (reactor) of the connection that received it: where a handler of a table
  // shared by several reactors (Routes) finds its reactor's own state.
  actors::Stage& stage() const noexcept;

 private:
  friend class detail::HttpConnection;
  Request(const detail::ServerCore& core, const RequestHead& head, std::string_view path, const Params& params,
          std::string_view body) noexcept
      : core_(&core), head_(&head), path_(path), params_(&params), body_(body) {}
  const detail::ServerCore* core_;
  const RequestHead* head_;
  std::string_view path_;
  const Params* params_;
  std::string_view body_;
};

// Wakes a stream producer that returned without writing because its bytes are not ready
// yet (a file read through the ring). Obtained from BodyWriter::suspend(). Cheap to copy;
// safe to keep after the connection is gone (resume() then does nothing).
class StreamResume {
 public:
  StreamResume() noexcept = default;
  // Reactor thread of the connection, or any thread (it is a message to the connection
  // actor). The producer is called again at the connection's next turn.
  void resume() const;

 private:
  friend class detail::HttpConnection;
  StreamResume(actors::ActorId conn, std::uint64_t serial) noexcept : conn_(conn), serial_(serial) {}
  actors::ActorId conn_{};
  std::uint64_t serial_ = 0;
};

// Writes the body of a streamed response (Response::stream). Reactor thread only.
class BodyWriter {
 public:
  BodyWriter(const BodyWriter&) = delete;
  BodyWriter& operator=(const BodyWriter&) = delete;
  // Queues `bytes` (copied; one chunk of a chunked response). False once the connection is
  // gone or the stream has ended. A stream with a Content-Length throws std::logic_error
  // (which cuts the connection) when a write would pass it.
  bool write(std::string_view bytes);
  // Queues bytes [offset, offset + len) of a shared block by reference (no copy).
  bool write(runtime::SharedBlock block, std::size_t offset, std::size_t len);
  // Queues bytes [offset, offset + len) of the regular file `fd`, spliced to the socket
  // without passing through user memory (runtime::Connection::send_file); `keep` keeps the
  // descriptor open until they are sent.
  bool write_file(int fd, std::uint64_t offset, std::uint64_t len, std::shared_ptr<const void> keep);
  // How many more bytes the connection would like now; write at most about this much per
  // call and return, the producer is called again when the socket drained.
  std::size_t room() const noexcept;
  // The producer has nothing to write now but will have (a read in flight): it returns
  // true without writing and calls resume() on the returned handle when it has.
  StreamResume suspend() noexcept;

 private:
  friend class detail::HttpConnection;
  BodyWriter(detail::HttpConnection& conn, bool chunked) noexcept : conn_(&conn), chunked_(chunked) {}
  detail::HttpConnection* conn_;
  bool chunked_;
};

// Produces a streamed body: called on the reactor thread whenever the connection wants
// more; returns true while more will follow, false once the body is complete.
using StreamProducer = runtime::UniqueFunction<bool(BodyWriter&)>;

class DeferredResponse;

// The answer a handler (or middleware) builds. Set a status and headers, then end it with
// exactly one of text/json/html/bytes/end/stream, or defer() it. A handler that does none
// of these gets a 500 answer (counted as a handler error): that is always a bug. A second
// completion throws std::logic_error.
class Response {
 public:
  // Sets the final status code 200..999 (std::invalid_argument otherwise).
  Response& status(int code);
  // The status set so far (200 unless changed).
  int status_code() const noexcept { return status_; }
  // Adds a header line. The name must be a token and the value free of CR, LF and NUL
  // (std::invalid_argument otherwise). Content-Length, Transfer-Encoding, Date, Server,
  // Connection and Content-Type are the server's (the content type is an argument of the
  // completing call).
  Response& header(std::string_view name, std::string_view value);
  // Closes the connection after this response.
  Response& close() noexcept {
    close_ = true;
    return *this;
  }
  // Complete the response with a body (copied) and its Content-Type.
  void text(std::string_view body) { finish("text/plain; charset=utf-8", body); }
  void json(std::string_view body) { finish("application/json", body); }
  void html(std::string_view body) { finish("text/html; charset=utf-8", body); }
  void bytes(std::string_view body, std::string_view content_type = "application/octet-stream") {
    finish(content_type, body);
  }
  // Complete the response without a body (204, 304, a redirect...).
  void end() { finish({}, {}); }
  // Complete the response with a streamed body: chunked for HTTP/1.1 clients, close-
  // delimited for HTTP/1.0 ones; `producer` is called as the socket drains. A producer
  // that has nothing to write yet may return true without writing only while earlier
  // bytes are still queued (it is asked again when they drain); otherwise the stream is
  // cut (the connection is aborted and a handler error counted).
  void stream(std::string_view content_type, StreamProducer producer);
  // Complete the response with a body of known length, produced as the socket drains (a
  // large file read through the ring): sent with Content-Length, not chunked. The producer
  // must write exactly `length` bytes; a stream that ends short or writes past it is cut
  // (the connection is aborted), since its length was already promised. HEAD sends the head.
  void stream(std::string_view content_type, std::uint64_t length, StreamProducer producer);
  // Complete the response with bytes [offset, offset + len) of a shared immutable block as
  // the body, sent by reference (no copy): many connections may send one block at once.
  void block(std::string_view content_type, runtime::SharedBlock block, std::size_t offset, std::size_t len);
  // Complete the response with one prepared ahead of time (a baked static file): `block`
  // holds the status line and header lines, each ending in CRLF but without the empty line,
  // in [0, head_len), and the body in [head_len, size). `status` must be the status of its
  // status line (after middleware see it; their status() changes are ignored). The server
  // adds Server, Date, Connection, the headers set on this Response, and the empty line; a
  // HEAD request gets the head alone. No copy of the block; allocation-free.
  void prepared(runtime::SharedBlock block, std::size_t head_len, int status = 200);
  // Answer later, from any thread, through the returned object (see DeferredResponse).
  DeferredResponse defer();
  // True once completed or deferred: the handler and later middleware are skipped by
  // `before` middleware that answered.
  bool answered() const noexcept { return kind_ != Kind::kNone; }

 private:
  friend class detail::HttpConnection;
  friend class detail::WsHandshake;
  enum class Kind : std::uint8_t { kNone, kBody, kStream, kDeferred, kBlock, kPrepared, kUpgrade };
  explicit Response(detail::HttpConnection& conn) noexcept : conn_(&conn) {}
  void finish(std::string_view content_type, std::string_view body);

  detail::HttpConnection* conn_;
  int status_ = 200;
  bool close_ = false;
  Kind kind_ = Kind::kNone;
};

// A response a handler completes later, exactly once, from any thread (a worker of the
// offload arena, another reactor, a timer). Move-only. Completing it queues the answer to
// the connection's reactor; deferred hooks run there just before it is sent, and it is
// sent in request order. If the client has gone by then, nothing is sent (counted:
// deferred_dropped). Destroying it uncompleted answers 500 (counted: deferred_abandoned),
// so a forgotten deferred response never stalls its connection; 503 instead once its
// client left or the server began to stop (then it is not a bug, and not counted).
//
// Its lifeline (requester()) is cut when nobody waits for the answer any more: the client
// closed its side (EOF or reset, as nginx treats it; answers still go out if completed),
// the connection ended, or the server began a graceful stop (the answer, when it comes,
// carries `Connection: close`). WorkerArena::offload(res.defer(), work, then) follows it:
// queued work is skipped and running work sees its CancelToken cancelled.
class DeferredResponse {
 public:
  DeferredResponse() noexcept = default;
  DeferredResponse(DeferredResponse&&) noexcept = default;
  DeferredResponse& operator=(DeferredResponse&& other) noexcept;
  DeferredResponse(const DeferredResponse&) = delete;
  DeferredResponse& operator=(const DeferredResponse&) = delete;
  ~DeferredResponse();

  // As on Response; call before completing. Without status(), the answer keeps the status
  // the handler (or `after` middleware) set on its Response, 200 by default.
  DeferredResponse& status(int code);
  DeferredResponse& header(std::string_view name, std::string_view value);
  // Complete it, as Response's calls of the same names do. Completing one that was already
  // completed (or moved from) throws std::logic_error, as on Response.
  void text(std::string body) { complete("text/plain; charset=utf-8", std::move(body)); }
  void json(std::string body) { complete("application/json", std::move(body)); }
  void html(std::string body) { complete("text/html; charset=utf-8", std::move(body)); }
  void bytes(std::string body, std::string_view content_type = "application/octet-stream") {
    complete(content_type, std::move(body));
  }
  void end() { complete({}, {}); }
  // True until completed.
  bool pending() const noexcept { return state_ != nullptr; }
  // True once nobody waits for this answer (see above). Any thread; a relaxed load.
  bool client_gone() const noexcept;
  // The connection actor that sends the answer and the answer's lifeline, for work done on
  // its behalf (WorkerArena::offload). Throws std::logic_error once completed.
  actors::Requester requester() const;

 private:
  friend class Response;
  explicit DeferredResponse(std::shared_ptr<detail::DeferredState> state) noexcept : state_(std::move(state)) {}
  void complete(std::string_view content_type, std::string body);
  void send_completion();
  std::shared_ptr<detail::DeferredState> state_;
};

// What a deferred hook sees: the response about to be sent. Valid during the call only.
struct DeferredView {
  int status;
  std::string_view content_type;
  std::string_view body;
  actors::ActorId connection;  // the HttpConnection actor that sends it
};

// Handlers, middleware and hooks are move-only closures (runtime::UniqueFunction): they may
// own move-only state (a std::unique_ptr, a DeferredResponse kept for later, a database
// handle). Each is called on the reactor thread, one call at a time; a closure up to 48
// bytes is stored without a heap allocation.
using Handler = runtime::UniqueFunction<void(Request&, Response&)>;
// Runs before the handler; answering (Response::answered) skips the handler.
using Middleware = runtime::UniqueFunction<void(Request&, Response&)>;
// Runs after the handler (also after one that deferred): may add headers or change the
// status of a completed response, e.g. for CORS, logging or metrics.
using AfterMiddleware = runtime::UniqueFunction<void(const Request&, Response&)>;
// Runs on the reactor thread just before each deferred response is sent, after the answers
// ahead of it (registration order). Game state kept on the IO thread can be updated here
// without locks. Exceptions are logged and counted; the answer is still sent.
using DeferredHook = runtime::UniqueFunction<void(const DeferredView&)>;

struct ServerCounters {
  std::uint64_t connections = 0;         // HTTP connections accepted
  std::uint64_t requests = 0;            // requests handed to a handler (or 404/405)
  std::uint64_t responses = 0;           // responses queued for sending (also errors)
  std::uint64_t protocol_errors = 0;     // requests refused by the parser or a limit
  std::uint64_t header_timeouts = 0;     // 408: the head did not arrive in time
  std::uint64_t body_timeouts = 0;       // 408: the body stalled
  std::uint64_t handler_errors = 0;      // exceptions escaping handlers or middleware (500)
  std::uint64_t deferred = 0;            // responses deferred
  std::uint64_t deferred_completed = 0;  // deferred responses sent
  std::uint64_t deferred_dropped = 0;    // completed after the client left: nothing sent
  std::uint64_t deferred_abandoned = 0;  // destroyed without completion: answered 500
  std::uint64_t input_pauses = 0;        // connections that paused reading (max_outstanding)
  std::uint64_t streams = 0;             // streamed response bodies
  std::uint64_t streams_cut = 0;         // streams aborted: producer threw, ended short or wrote past its length
  // Final responses by status class: [0] 1xx ... [4] 5xx (interim 100 Continue not counted).
  std::array<std::uint64_t, 5> status_classes{};
  // WebSocket.
  std::uint64_t ws_upgrades = 0;         // connections switched to WebSocket
  std::uint64_t ws_refused = 0;          // upgrade requests refused (426, 400, a hook's status)
  std::uint64_t ws_open = 0;             // WebSocket connections open now (a gauge)
  std::uint64_t ws_messages_in = 0;      // messages received (whole, after reassembly)
  std::uint64_t ws_messages_out = 0;     // messages queued (direct sends and topic deliveries)
  std::uint64_t ws_protocol_errors = 0;  // connections closed for breaking RFC 6455 (1002, 1007, 1009)
  std::uint64_t ws_slow_closed = 0;      // closed with 1013 as slow consumers
  std::uint64_t ws_pings = 0;            // pings sent to idle connections
  std::uint64_t ws_ping_timeouts = 0;    // connections closed for not answering one
  std::uint64_t topic_relays_out = 0;    // publishes passed to a linked server (one per server)
  std::uint64_t topic_relays_in = 0;     // publishes a linked server passed here
};

// The server's counters as metrics (requests, responses by status class, errors by kind,
// deferred answers, streams).
void write_metrics(const ServerCounters& c, runtime::MetricsWriter& w);

// Writes some module's metrics (WorkerArena, Assets, your own) for Server::metrics.
using MetricsSource = runtime::UniqueFunction<void(runtime::MetricsWriter&)>;

// Routes: a route table (routes, the fallback, middleware, WebSocket routes, the metrics
// path) built once and shared by the servers of several reactors, one Server per reactor
// (the stages of a node::Node), so the process holds one table, not one per reactor:
//
//   auto routes = std::make_shared<http::Routes>();
//   routes->get("/plaintext", [](http::Request&, http::Response& res) { res.text("Hello"); });
//   routes->ws("/ws/room/:name", room_behavior);
//   for (unsigned i = 0; i < node.size(); ++i) {
//     servers.push_back(std::make_unique<http::Server>(node.stage(i), routes));
//   }
//
// The first Server given the table seals it: from then on it is immutable and adding to it
// throws std::logic_error. Its handlers, middleware and WebSocket callbacks are then called
// on every reactor's thread, at the same time: they must be safe for that (capture nothing
// mutable without a lock or an atomic; keep per-reactor state per reactor and find it with
// Request::stage() or, in a WebSocket, through its stage()). Everything else a Server has
// (deferred hooks, metrics sources, topics, counters) stays per server.
//
// Threads: fill it on the setup thread before the servers are built. Costs: routing through
// a shared table costs what a server's own table costs (the same lookup, no lock).
class Routes {
 public:
  Routes();
  ~Routes();
  Routes(const Routes&) = delete;
  Routes& operator=(const Routes&) = delete;

  // As Server's functions of the same names; all throw std::logic_error once sealed.
  void route(std::string_view method, std::string_view pattern, Handler handler, RouteOptions options = {});
  void get(std::string_view pattern, Handler handler, RouteOptions options = {}) {
    route("GET", pattern, std::move(handler), options);
  }
  void post(std::string_view pattern, Handler handler, RouteOptions options = {}) {
    route("POST", pattern, std::move(handler), options);
  }
  void fallback(Handler handler, RouteOptions options = {});
  void before(Middleware m);
  void after(AfterMiddleware m);
  // Serves, at `path`, the metrics of the server (reactor) that answers the scrape; of all
  // of them, summed, once the servers are linked (Server::link).
  void metrics(std::string_view path);
  // A WebSocket route (see Server::ws). Options are checked here, and max_buffered again
  // against each server's reactor when a server takes the table.
  void ws(std::string_view pattern, WsOptions options, WsFactory factory) {
    add_ws(pattern, std::move(options), std::move(factory), nullptr);
  }
  template <typename Data = std::monostate>
  void ws(std::string_view pattern, WsBehavior<Data> behavior) {
    auto b = std::make_shared<const WsBehavior<Data>>(std::move(behavior));
    const WsBehavior<Data>* raw = b.get();
    WsOptions options = b->options;  // (not read in the call: `b` is moved from there)
    add_ws(pattern, std::move(options), [raw](Request& req, WsUpgrade& up) -> std::unique_ptr<WebSocket> {
      Data data{};
      if (raw->upgrade) raw->upgrade(req, up, data);
      if (up.refused()) return nullptr;
      return std::make_unique<WsConnection<Data>>(std::move(data));
    }, std::move(b));
  }
  // True once a server serves it (or, for a server's own table, once it listens).
  bool sealed() const noexcept;

 private:
  friend class Server;
  friend struct detail::ServerCore;
  // Returns the index of the new WebSocket route.
  std::size_t add_ws(std::string_view pattern, WsOptions options, WsFactory factory,
                     std::shared_ptr<const void> behavior);
  void check_open(const char* what) const;
  std::unique_ptr<detail::RouteTable> table_;
};

class Server {
 public:
  // A server with its own route table, filled through route(), ws(), fallback() ... until
  // listen(). Throws std::invalid_argument for inconsistent options.
  explicit Server(actors::Stage& stage, ServerOptions options = {});
  // A server of a table shared with other servers (Routes): seals it. route(), ws(),
  // fallback(), before(), after() and metrics() on this server then throw
  // std::logic_error: add them to the table. Throws std::invalid_argument as above, and for
  // a WebSocket route whose max_buffered this reactor's max_output_bytes cannot hold.
  Server(actors::Stage& stage, std::shared_ptr<Routes> routes, ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Adds a route (see Router for patterns); throws std::invalid_argument for a malformed or
  // duplicate one. A GET route also answers HEAD.
  void route(std::string_view method, std::string_view pattern, Handler handler, RouteOptions options = {});
  void get(std::string_view pattern, Handler handler, RouteOptions options = {}) {
    route("GET", pattern, std::move(handler), options);
  }
  void post(std::string_view pattern, Handler handler, RouteOptions options = {}) {
    route("POST", pattern, std::move(handler), options);
  }
  // Answers requests no route matches (instead of 404/405), e.g. a static file service.
  void fallback(Handler handler, RouteOptions options = {});
  // Middleware, run in the order added.
  void before(Middleware m);
  void after(AfterMiddleware m);
  // Adds a deferred hook (see DeferredHook); returns the handle that removes it. Reactor
  // thread (or before run()); a hook may remove itself.
  runtime::HookId add_deferred_hook(DeferredHook hook);
  bool remove_deferred_hook(runtime::HookId hook) noexcept;

  // Serves the metrics of every module at `path` (GET, in the Prometheus text exposition
  // format): the reactor's, the stage's (actors), this server's, then each add_metrics()
  // source in order. Before listen(). A scrape renders into a buffer kept between scrapes
  // (so, once warm, it allocates only the response copy); it runs on the reactor thread,
  // like any handler. Protect the path with `before` middleware if it must not be public.
  void metrics(std::string_view path);
  // Adds a source to what metrics() serves, e.g. [&](auto& w) { arena.write_metrics(w); }.
  void add_metrics(MetricsSource source);

  // A WebSocket route (websocket.hpp): a GET on `pattern` upgrades. `factory` builds the
  // connection actor after the handshake was checked and middleware passed; the behavior
  // form builds WsConnection<Data> actors from callbacks. Before listen(); throws
  // std::invalid_argument for options out of range (max_buffered above half the reactor's
  // max_output_bytes, window bits outside 9..15, a zero max_message).
  void ws(std::string_view pattern, WsOptions options, WsFactory factory);
  template <typename Data = std::monostate>
  void ws(std::string_view pattern, WsBehavior<Data> behavior) {
    check_ws(behavior.options);
    own_routes().ws(pattern, std::move(behavior));
    adopt_ws();
  }

  // Topics of this server's WebSocket connections (WebSocket::subscribe). A topic exists
  // while it has members or was configured here; reactor thread (or before run()). On
  // linked servers (link()) the options (and forget_topic) reach the others too, ahead of
  // any publish made after them from this reactor.
  void topic(std::string_view name, TopicOptions options);
  // Forgets what topic() configured (a room that ended): the topic goes back to the default
  // options and disappears once it has no members. Reactor thread. False for an unknown name.
  bool forget_topic(std::string_view name);
  // Sends `message` to every member of `topic`: framed (and compressed, for members with
  // permessage-deflate) once, each member's output referencing the one frame. Each member
  // gets a publisher's messages in order; members that are behind get the topic's
  // SlowConsumer policy. Returns the members on this server it was queued to. Linked
  // servers (link()) get one message each, carrying the payload, and fan out to their own
  // members. Reactor thread: from elsewhere, post to the reactor (or tell an actor) first.
  // O(members + linked servers), allocation O(1).
  std::size_t publish(std::string_view topic, std::string_view message, WsOpcode op = WsOpcode::kText);

  // Links the servers of several reactors of one process (one server per reactor, e.g. the
  // stages of a node::Node): from then on a publish on any of them also reaches the topic's
  // members on the others, in order per publishing reactor (through the mesh when the
  // stages are in one), and topic() / forget_topic() on one configure them all. Setup
  // thread, before the reactors run;
  // throws std::invalid_argument for a server linked twice or two servers of one reactor.
  // The metrics path of a linked server then serves the process: the reactor, actor and
  // server counters summed over every linked server (metrics sources stay its own).
  static void link(const std::vector<Server*>& servers);
  // A topic's counters (all zero for an unknown topic). Reactor thread.
  TopicCounters topic_counters(std::string_view topic) const;

  // Listens on the stage's reactor; returns the bound port. Errors as Reactor::listen.
  // Routes, the fallback and middleware are fixed from here on (route() throws
  // std::logic_error). The Server must outlive the reactor's run().
  std::uint16_t listen(const runtime::ListenOptions& options);

  const ServerOptions& options() const noexcept;
  ServerCounters counters() const noexcept;

 private:
  // This server's own table (std::logic_error for a shared one, or once listening).
  Routes& own_routes();
  void check_ws(const WsOptions& options) const;
  void adopt_ws();
  std::shared_ptr<detail::ServerCore> core_;
};

}  // namespace ringactor::http
