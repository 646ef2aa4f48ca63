// Internals of the HTTP server: the state shared by a Server, its connections and its
// deferred responses, and the HttpConnection actor. Not installed.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <ringactor/actors/connection_actor.hpp>
#include <ringactor/runtime/lifeline.hpp>
#include <ringactor/runtime/timer_wheel.hpp>

#include "ringactor/http/request_parser.hpp"
#include "ringactor/http/response.hpp"
#include "ringactor/http/router.hpp"
#include "ringactor/http/server.hpp"
#include "ringactor/http/websocket.hpp"
#include "ws_frame.hpp"

namespace ringactor::http::detail {

// Header and status rules shared by Response, DeferredResponse and the connection (server.cpp).
bool is_token_char(char c) noexcept;
bool has_line_break_or_nul(std::string_view v) noexcept;
// Appends "Name: value\r\n" after checking both; the framing headers are the server's
// (std::invalid_argument otherwise).
void append_header(std::string& out, std::string_view name, std::string_view value);
// A final status 200..999 (std::invalid_argument otherwise).
int checked_status(int code);
std::string_view checked_content_type(std::string_view ct);
inline bool status_has_body(int status) noexcept { return status >= 200 && status != 204 && status != 304; }

struct Route {
  enum class Kind : std::uint8_t { kHandler, kWebSocket, kMetrics };
  mutable Handler handler;  // kHandler: called through the immutable route table
  std::optional<std::uint64_t> max_body;
  Kind kind = Kind::kHandler;
  std::uint32_t ws = 0;  // kWebSocket: the index in RouteTable::ws and ServerCore::ws_routes
};

// A WebSocket route as the table holds it; each server makes its own WsRoute from it.
struct WsSpec {
  WsOptions options;
  WsFactory factory;
  std::shared_ptr<const void> behavior;  // WsBehavior<Data> of the behavior form
};

// What Routes holds: sealed (immutable) once a server serves it, then read by every
// reactor thread without a lock.
struct RouteTable {
  Router<Route> router;
  std::optional<Route> fallback;
  mutable std::vector<Middleware> before;  // called through the immutable table
  mutable std::vector<AfterMiddleware> after;
  std::vector<WsSpec> ws;
  std::uint64_t max_route_body = 0;  // the largest RouteOptions::max_body given
  bool sealed = false;
};

// Counters: written on the reactor thread with a plain load+store (no locked instruction),
// except the deferred ones, which other threads also bump (fetch_add).
struct CounterCells {
  std::atomic<std::uint64_t> connections{0}, requests{0}, responses{0}, protocol_errors{0}, header_timeouts{0},
      body_timeouts{0}, handler_errors{0}, deferred{0}, deferred_completed{0}, deferred_dropped{0},
      deferred_abandoned{0}, input_pauses{0}, streams{0}, streams_cut{0}, ws_upgrades{0}, ws_refused{0},
      ws_open{0}, ws_messages_in{0}, ws_messages_out{0}, ws_protocol_errors{0}, ws_slow_closed{0},
      ws_pings{0}, ws_ping_timeouts{0}, topic_relays_out{0}, topic_relays_in{0};
  std::array<std::atomic<std::uint64_t>, 5> status_classes{};  // 1xx .. 5xx (and above)
};

inline void bump(std::atomic<std::uint64_t>& c) noexcept {
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
inline void bump_shared(std::atomic<std::uint64_t>& c) noexcept { c.fetch_add(1, std::memory_order_relaxed); }
// A final response of this status, counted by class (statuses above 599 count as 5xx).
inline void count_status(CounterCells& c, int status) noexcept {
  bump(c.status_classes[static_cast<std::size_t>(std::clamp(status / 100, 1, 5) - 1)]);
}

using Clock = std::chrono::steady_clock;

enum class In : std::uint8_t { kHead, kBody, kDone };
enum class Wait : std::uint8_t { kNone, kHead, kBody };

// A response waiting for its turn (or for its deferred completion).
struct Pending {
  // What deferred hooks see when the answer is sent (only kept when hooks exist).
  struct Hook {
    std::string ctype;
    std::string body;
  };
  std::uint64_t seq = 0;
  int status = 200;
  bool ready = false;
  bool close = false;      // close the connection after it
  bool head_only = false;  // HEAD: no body
  bool chunked = false;    // the stream is chunked
  bool http10 = false;     // the request was HTTP/1.0
  std::string bytes;       // ready: the response (for a stream: its head); deferred: extra headers
  runtime::SharedBlock block;  // parts sent by reference around `bytes` (see ServerCore::block)
  std::size_t block_pre = 0;
  std::size_t body_off = 0;
  std::size_t body_len = 0;
  StreamProducer stream;   // a streamed body follows the head
  std::optional<std::uint64_t> length;  // the stream's Content-Length, if it has one
  std::unique_ptr<Hook> hook;
  runtime::Lifeline lifeline;  // deferred: cut when nobody waits for the answer any more
  std::unique_ptr<WebSocket> upgrade;  // a 101: the connection becomes this actor once sent
};
// A body being received over several reads: the head is copied so its views survive.
struct BodyState {
  std::string head_bytes;
  RequestHead head;
  std::string path;            // the decoded path, when it needed decoding
  std::string_view path_view;  // the path routes see (into `path` or `head_bytes`)
  std::string body;
  std::uint64_t remaining = 0;  // Content-Length bytes still to come
  std::uint64_t received = 0;   // body bytes (with chunk framing) taken so far
  Clock::time_point started{};
  std::optional<ChunkedDecoder> chunked;
};
struct ActiveStream {
  StreamProducer producer;
  std::optional<std::uint64_t> remaining;  // bytes still owed under a Content-Length
  std::uint64_t serial = 0;                // names this stream for StreamResume
  bool chunked = false;
  bool close = false;
  bool suspended = false;  // the producer waits for its bytes (BodyWriter::suspend)
};

// What a connection needs only while a request is in progress or answers are owed: the
// parser's place, the answers in order, a body or stream under way, the timers. Taken from
// the server's pool at a request's first byte and given back once the connection is idle
// again, so an idle keep-alive connection carries none of it.
struct Exchange {
  explicit Exchange(const Limits& limits) noexcept : parser(limits) {}
  RequestParser parser;
  std::vector<Pending> queue;  // answers not yet handed to the connection, in request order
  std::unique_ptr<BodyState> body;
  std::unique_ptr<ActiveStream> stream;
  std::uint64_t next_seq = 0;
  std::uint64_t current_seq = 0;
  std::uint64_t stream_serial = 0;
  Clock::time_point deadline{};
  Clock::time_point timer_due{};
  std::size_t carry_need = 0;  // bytes a small request still gathering in the carry needs
  runtime::TimerId timer{};    // a reactor timer (no per-actor timer table)
  In in = In::kHead;
  Wait wait = Wait::kNone;
  bool continue_sent = false;  // 100 Continue already sent for the request in progress
  bool http10 = false;         // the request being answered is HTTP/1.0
  // Ready for another connection: nothing owed, nothing half-read, no timer.
  bool idle() const noexcept {
    return queue.empty() && !body && !stream && in == In::kHead && wait == Wait::kNone && carry_need == 0 && !timer;
  }
};

// A WebSocket route: its settings and factory, shared by its connections (which keep a raw
// pointer: the ServerCore owns it and outlives them).
struct WsRoute {
  ServerCore* core = nullptr;
  WsOptions options;
  WsFactory factory;
  std::shared_ptr<const void> behavior;  // WsBehavior<Data> of the behavior form
  ws::ReaderConfig reader;  // max_message; deflate flags are per connection
};

// Answers an upgrade request on `route` (ws_handshake.cpp).
void ws_handshake(WsRoute& route, Request& req, Response& res);

// What few WebSocket connections need: owned by the connection, allocated on first need.
struct WsExtras {
  WsExtras() = default;
  WsExtras(const WsExtras&) = delete;
  WsExtras& operator=(const WsExtras&) = delete;
  ~WsExtras() { ws::destroy(reader); }
  ws::Partial* reader = nullptr;            // a message in progress (ws::MessageReader)
  std::string protocol;                     // the chosen subprotocol
  std::unique_ptr<ws::Inflater> inflater;   // the client keeps its window: ours per connection
  std::unique_ptr<ws::Deflater> deflater;   // server_context_takeover: ours per connection
  std::uint8_t server_window = 15;          // window bits we compress with for this client
  bool server_takeover = false;             // we keep our window (server_no_context_takeover not agreed)
  bool client_no_takeover = false;          // client_no_context_takeover was agreed
  struct TopicRef {
    TopicState* topic = nullptr;
    WsMessage latest;  // kKeepLatest: the newest message held back while behind
  };
  std::vector<TopicRef> topics;
};

// A topic: its members in join order (a member leaves when it unsubscribes or stops).
struct TopicState {
  std::string name;
  TopicOptions options;
  TopicCounters c;
  std::vector<WebSocket*> members;  // null: left during a publish (compacted after it)
  bool configured = false;  // Server::topic: kept when empty
  bool publishing = false;  // a publish walks `members`: leaving only nulls the entry
  bool holes = false;
  void deliver(WebSocket& m, const WsMessage& msg);
  void remove(WebSocket* m) noexcept;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct ServerCore;

// Takes what linked servers on other reactors publish to this server's members (one actor
// per linked server, on its stage).
struct Relayed {  // one publish, shared by every linked server it goes to
  std::string topic;
  std::string message;
  WsOpcode op;
};
struct RelayedConfig {  // a topic() or forget_topic() on a linked server
  std::string topic;
  TopicOptions options;
  bool forget = false;
};
class TopicRelay : public actors::Actor {
 public:
  explicit TopicRelay(std::weak_ptr<ServerCore> core) : core_(std::move(core)) {}
  void deliver(std::shared_ptr<const Relayed> p);
  void configure(std::shared_ptr<const RelayedConfig> c);

 private:
  std::weak_ptr<ServerCore> core_;
};

struct ServerCore : std::enable_shared_from_this<ServerCore> {
  ServerCore(actors::Stage& s, ServerOptions o) : stage(&s), options(std::move(o)) {
    for (HeadPrefix& p : prefixes) {
      p.ctype.reserve(64);
      p.text.reserve(256 + options.server_header.size());
    }
  }

  actors::Stage* stage;
  ServerOptions options;
  std::uint64_t parser_max_body = 0;  // the largest body any route accepts
  std::size_t carried_body = 16 * 1024;  // head + body up to this wait in the input carry
  bool listening = false;             // metrics sources are fixed once listen() ran
  std::shared_ptr<Routes> routes;     // this server's own, or one shared with other servers
  const RouteTable* table = nullptr;  // routes' table
  bool shared_routes = false;         // routes came from the caller (Server's route() refuses)
  runtime::HookList<void(const DeferredView&)> deferred_hooks;
  std::vector<MetricsSource> metrics_sources;
  std::vector<std::unique_ptr<Exchange>> spare;  // the pool of Exchanges (bounded by kSpare)
  static constexpr std::size_t kSpare = 4096;
  std::string metrics_body;  // rendered per scrape, capacity kept
  CounterCells c;

  // WebSocket: routes (this server's, one per entry of table->ws), topics, and what the
  // thread's connections share.
  std::vector<std::unique_ptr<WsRoute>> ws_routes;
  // Checks a WebSocket route's buffer against this server's reactor (std::invalid_argument).
  void check_ws(const WsOptions& options) const;
  // Makes the WsRoutes of the table's entries this server does not have yet.
  void adopt_ws();
  // Renders this server's metrics into `res` (the kMetrics route).
  void render_metrics(Response& res);
  std::unordered_map<std::string, std::unique_ptr<TopicState>, StringHash, std::equal_to<>> topics;
  std::unique_ptr<WebSocket> upgrade;  // scratch: the actor an accepted upgrade made
  ws::ReaderScratch ws_scratch;
  ws::Buffer ws_out;  // a frame being built (compressed payloads)
  std::unique_ptr<ws::Inflater> ws_inflater;  // for clients without context takeover
  std::array<std::unique_ptr<ws::Deflater>, 7> ws_deflaters;  // no context takeover, window bits 9..15
  ws::Inflater& shared_inflater();
  ws::Deflater& shared_deflater(int window_bits);
  TopicState* find_topic(std::string_view name) noexcept;
  TopicState& topic_for(std::string_view name);
  void drop_if_unused(TopicState& t) noexcept;
  // To this server's members only.
  std::size_t publish(std::string_view topic, std::string_view message, WsOpcode op, const WebSocket* except);
  // To this server's members, then one message to each linked server (Server::link).
  std::size_t publish_everywhere(std::string_view topic, std::string_view message, WsOpcode op,
                                 const WebSocket* except);
  std::vector<actors::Ref<TopicRelay>> peers;  // the relays of the linked servers
  std::vector<std::weak_ptr<ServerCore>> linked;  // the other linked servers (for metrics)
  // This server's side of Server::topic / forget_topic.
  void configure_topic(std::string_view name, const TopicOptions& options);
  bool forget_topic(std::string_view name);

  // Scratch space for the request being handled: every connection of this server runs on
  // the one reactor thread and handles a request from start to commit without yielding, so
  // one set serves them all (and idle connections carry none of it).
  RequestHead head;
  Params params;
  std::string path;       // decoded path
  std::string out;        // the formatted response
  std::string headers;    // extra header lines of the response being built
  std::string ctype;      // its Content-Type
  std::string ctype_checked;  // the last Content-Type found free of CR, LF and NUL
  std::string body;       // its body
  StreamProducer producer;
  std::optional<std::uint64_t> stream_length;  // a stream with a Content-Length
  runtime::Lifeline deferred_line;             // the lifeline of a deferred answer
  // A body (or a prepared head and body) sent by reference: block[0, block_pre) goes before
  // `out`, block[body_off, body_off + body_len) after it.
  runtime::SharedBlock block;
  std::size_t block_pre = 0;
  std::size_t body_off = 0;
  std::size_t body_len = 0;
  DateCache dates;
  // The Date value, reading the real-time clock once per loop iteration at most: the
  // requests of one iteration (pipelined, or on many connections) share one read.
  // `iteration` is the reactor's now(), which changes once per iteration.
  std::string_view date(runtime::Reactor::Clock::time_point iteration) noexcept {
    if (iteration != date_iteration_) {
      date_iteration_ = iteration;
      date_ = dates.get();
    }
    return date_;
  }
  runtime::Reactor::Clock::time_point date_iteration_{};
  std::string_view date_;

  // The start of recent response heads (status line, Server, Date, Content-Type), rebuilt
  // when the Date second changes: most responses copy one of these and add their length.
  struct HeadPrefix {
    int status = 0;
    std::int64_t second = -1;
    std::string ctype;
    std::string text;
  };
  std::array<HeadPrefix, 4> prefixes;
  unsigned next_prefix = 0;
  std::string_view head_prefix(int status, std::string_view content_type, runtime::Reactor::Clock::time_point iteration);

  // Deferred completions from other threads pass this gate: closed once the reactor has
  // stopped (no connection is left to answer) or the Server is gone.
  std::mutex gate;
  bool open = true;

  // The route's handler; for a path no route serves, the fallback. A path that routes serve
  // under other methods is theirs: it answers 405 with Allow, never the fallback.
  // Reads the counters (any thread).
  void snapshot(ServerCounters& out) const noexcept;
  // The parser's limits: the server's, with the largest body any route accepts.
  Limits parser_limits() const noexcept {
    Limits l = options.limits;
    l.max_body = parser_max_body;
    return l;
  }

  const Route* route_for(const Router<Route>::Match& m) const noexcept {
    if (m.outcome == Router<Route>::Outcome::kFound) return m.handler;
    if (m.outcome == Router<Route>::Outcome::kMethodNotAllowed) return nullptr;
    return table->fallback ? &*table->fallback : nullptr;
  }
  std::uint64_t body_limit(const Route* r) const noexcept {
    return r != nullptr && r->max_body ? *r->max_body : options.limits.max_body;
  }
};

struct DeferredState {
  std::shared_ptr<ServerCore> core;
  actors::ActorId conn;
  std::uint64_t seq = 0;
  std::atomic<bool> gone{false};  // the lifeline: nobody waits for this answer any more
  std::optional<int> status;  // unset: the status the handler set on its Response
  std::string headers;
  std::string ctype;
  std::string body;
};

// One HTTP connection. Runs on the reactor thread; see server.hpp for the behaviour.
class HttpConnection final : public actors::ConnectionActor {
 public:
  explicit HttpConnection(ServerCore& core) noexcept : core_(&core) {}
  ~HttpConnection() override;

  // Called through Response / BodyWriter / DeferredResponse.
  std::shared_ptr<DeferredState> make_deferred();
  void deliver_deferred(DeferredState& st);
  bool stream_write(std::string_view bytes, bool chunked);
  bool stream_write(runtime::SharedBlock block, std::size_t offset, std::size_t len, bool chunked);
  bool stream_write_file(int fd, std::uint64_t offset, std::uint64_t len, std::shared_ptr<const void> keep,
                         bool chunked);
  StreamResume suspend_stream() noexcept;
  void resume_stream(std::uint64_t serial);
  std::size_t stream_room() const noexcept;
  ServerCore& core() noexcept { return *core_; }

 protected:
  void on_start() override;
  std::size_t on_data(std::span<const std::byte> bytes) override;
  void on_drain() override;
  bool on_input_end() override;
  bool on_shutdown() override;
  void on_stop() override;
  void on_disconnect(runtime::CloseReason reason, int error) override;

 private:
  std::size_t start_request(std::string_view bytes);
  std::size_t feed_body(std::string_view bytes);
  // `matched`: the router's answer for this head when start_request just asked it (its
  // captures are in core.params and point into `path`); null to ask again (a body that
  // arrived later, its head and path now copied).
  void dispatch(const RequestHead& head, std::string_view path, std::string_view body,
                const Router<Route>::Match* matched);
  bool decode_path(const RequestHead& head, std::string& storage, std::string_view& path);
  void commit(Response& res, bool head_only, bool close);
  // `length` by reference: passed by value it went on the stack as one 16-byte load of the
  // two halves just stored, a store-forwarding stall that was half of commit()'s time.
  void format(std::string& out, int status, std::string_view ctype, std::string_view headers,
              const std::optional<std::uint64_t>& length, bool chunked, bool close, bool http10,
              std::string_view body);
  void emit(Pending&& p);
  void send_or_queue(bool close, bool head_only, bool chunked, StreamProducer* stream);
  void flush();
  void maybe_resume();
  bool output_full() const noexcept;
  void run_deferred_hooks(const Pending& p);
  void start_stream(StreamProducer producer, bool chunked, bool close, std::optional<std::uint64_t> length);
  void take_stream_bytes(std::size_t n);
  void cut_stream(const std::string& why);
  void send_parts(const runtime::SharedBlock& block, std::size_t pre, std::string_view bytes, std::size_t off,
                  std::size_t len);
  void format_prepared(std::string& out, bool close, bool http10, std::string_view headers);
  void pump();
  void fail(int status, std::atomic<std::uint64_t>& counter);
  void expect_continue();
  void arm(Wait what, Clock::time_point deadline);
  Exchange& exchange();     // x_, taken from the pool if there is none
  void release_if_idle() noexcept;
  void on_timer();
  runtime::TimerId timer_after(Clock::duration delay);
  std::size_t take(std::string_view all);  // on_data's parsing loop
  void commit_upgrade();
  void become(std::unique_ptr<WebSocket> ws);  // hands the connection to the WebSocket actor
  void drop_exchange() noexcept;
  void maybe_close();
  // Cuts the lifelines of the deferred answers still owed (work for them may stop); with
  // `close`, those answers will carry Connection: close.
  void abandon_pending(bool close) noexcept;

  // The server outlives its connections: the stage stops them at the end of run(), and
  // Server must outlive run(). A raw pointer keeps the idle connection small.
  ServerCore* core_;
  Exchange* x_ = nullptr;  // from core_'s pool while a request is in progress
  bool closing_ = false;   // no further requests: close once the queue is sent
  bool paused_ = false;    // input paused: max_outstanding answers waiting
  bool fresh_ = true;      // no byte received yet (closed after header_timeout)
  bool switched_ = false;  // upgraded: bytes after the handshake are the new protocol's
};

}  // namespace ringactor::http::detail
