// Command-line parsing for loadgen (see options.hpp).
#include "options.hpp"

#include "ring.hpp"

#include <netdb.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace loadgen {

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::Http:
      return "http";
    case Mode::WsEcho:
      return "ws-echo";
    case Mode::WsRooms:
      return "ws-rooms";
    case Mode::Arena:
      return "arena";
  }
  return "?";
}

const char* usage_text() {
  return R"(loadgen: an io_uring load generator for HTTP/1.1 and WebSocket servers.

usage: loadgen [MODE] [options] URL
  MODE: http (default), ws-echo, ws-rooms, arena (the same program as arena_bots)
  URL:  http://host[:port]/path or ws://host[:port]/path (no TLS)

common:
  -c, --connections N   connections (default 64)
  -t, --threads T       threads, each with its own ring and share of connections (default 1)
  -d, --duration D      run for D (10, 10s, 500ms, 2m; default 10s)
  -n, --requests N      run until N answers (http), echoes (ws-echo) or publishes (ws-rooms)
      --timeout D       a connect, batch or echo waiting longer is a timeout error (default 5s)
      --max-time D      hard deadline for the whole run (default: duration + timeout + 3s;
                        300s with --requests)
      --recv-bufs N     provided receive buffers per thread (power of two; default 2 x conns)
      --recv-buf-size B bytes per receive buffer (default 16384)
      --no-progress     no progress line (it is only shown when stdout is a terminal)
      --self-test       run the parser and histogram checks and exit

http:
  -p, --depth N         pipelined requests per batch per connection (default 1: keep-alive);
                        the next batch is sent when every answer of the last has arrived
      --path P          request path; repeat for a set used in turn (default: the URL's path)
  -m, --method M        GET (default), HEAD, ...
  -H, --header 'K: V'   extra request header (repeatable)
      --request-file F  raw HTTP/1.1 requests back to back (LF or CRLF lines; bodies by
                        Content-Length), used in turn instead of --path/--method/--header

ws-echo (URL path default /ws/echo):
      --size B          payload bytes per message (default 64, at least 16)
      --inflight M      messages outstanding per connection (default 1)

ws-rooms (URL path default /ws/room/; room k is at PATH<prefix>k):
      --rooms R         rooms; client i joins room i mod R (default 1)
      --rate X          messages per second each client publishes (default 10)
      --size B          payload bytes per message (default 64, at least 16)
      --room-prefix S   room name prefix (default r)

arena (demos/arena's bots; URL path default /ws; arena_bots is this mode):
                        each connection is a bot: it joins the lobby, plays every round it is
                        seated in and queues again after each; it measures input-to-visible-
                        effect latency (an input until the first state frame that acknowledges
                        it), state frames per second, tick jitter (frame gaps minus the tick)
                        and bytes per player per second; protocol errors make the exit status 1
      --input-interval D  how often each bot sends an input (default 1s, +-25%)

Output: a summary, then exactly one JSON line (the last line on stdout).
Exit status: 0 ok; 1 the run finished with errors (transport, protocol, timeouts or 4xx/5xx
answers), stopped at --max-time or was interrupted (SIGINT/SIGTERM: the summary is still
printed); 2 bad usage; 3 no connection, no progress for --timeout, or io_uring unavailable.
)";
}

namespace {

double parse_duration(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || errno != 0 || !std::isfinite(x) || x < 0)
    throw UsageError(flag + ": not a duration: " + v);
  const std::string unit(end);
  if (unit.empty() || unit == "s") {
  } else if (unit == "ms") {
    x /= 1000;
  } else if (unit == "us") {
    x /= 1e6;
  } else if (unit == "m") {
    x *= 60;
  } else if (unit == "h") {
    x *= 3600;
  } else {
    throw UsageError(flag + ": unknown unit in " + v + " (use ms, s, m or h)");
  }
  return x;
}

std::uint64_t parse_count(const std::string& flag, const std::string& v, std::uint64_t lo, std::uint64_t hi) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || v[0] == '-' || *end != '\0' || errno != 0 || x < lo || x > hi)
    throw UsageError(flag + ": expected a whole number from " + std::to_string(lo) + " to " +
                     std::to_string(hi) + ", got '" + v + "'");
  return x;
}

void parse_url(Options& o) {
  std::string u = o.url;
  std::string scheme;
  const std::size_t sep = u.find("://");
  if (sep == std::string::npos) throw UsageError("bad URL '" + o.url + "': expected http://host[:port]/path");
  scheme = u.substr(0, sep);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme == "https" || scheme == "wss") throw UsageError("bad URL '" + o.url + "': TLS is not supported");
  if (scheme != "http" && scheme != "ws")
    throw UsageError("bad URL '" + o.url + "': scheme must be http or ws");
  u = u.substr(sep + 3);
  const std::size_t slash = u.find('/');
  std::string authority = u.substr(0, slash);
  o.path = slash == std::string::npos ? "/" : u.substr(slash);
  if (authority.empty()) throw UsageError("bad URL '" + o.url + "': no host");
  if (authority.find('@') != std::string::npos)
    throw UsageError("bad URL '" + o.url + "': user info is not supported");
  o.host_header = authority;
  std::string host, port = "80";
  if (authority[0] == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string::npos) throw UsageError("bad URL '" + o.url + "': unclosed [");
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw UsageError("bad URL '" + o.url + "': junk after ]");
      port = authority.substr(close + 2);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (host.empty()) throw UsageError("bad URL '" + o.url + "': no host");
  parse_count("URL port", port, 1, 65535);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) throw UsageError("cannot resolve '" + host + "': " + ::gai_strerror(rc));
  std::memcpy(&o.addr, res->ai_addr, res->ai_addrlen);
  o.addr_len = static_cast<socklen_t>(res->ai_addrlen);
  ::freeaddrinfo(res);
}

}  // namespace

Options parse_options(int argc, char** argv) {
  Options o;
  bool have_duration = false;
  int i = 1;
  if (i < argc) {
    const std::string m = argv[i];
    if (m == "http")
      o.mode = Mode::Http, ++i;
    else if (m == "ws-echo")
      o.mode = Mode::WsEcho, ++i;
    else if (m == "ws-rooms")
      o.mode = Mode::WsRooms, ++i;
    else if (m == "arena")
      o.mode = Mode::Arena, ++i;
  }
#ifdef LOADGEN_ARENA_BOTS
  if (i == 1) o.mode = Mode::Arena;  // arena_bots: the arena mode unless told otherwise
#endif
  for (; i < argc; ++i) {
    std::string a = argv[i];
    std::string val;
    const bool has_eq = a.rfind("--", 0) == 0 && a.find('=') != std::string::npos;
    if (has_eq) {
      val = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
    }
    auto value = [&]() -> std::string {
      if (has_eq) return val;
      if (i + 1 >= argc) throw UsageError(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help")
      throw UsageError("");
    else if (a == "--self-test")
      o.self_test = true;
    else if (a == "--no-progress")
      o.progress = false;
    else if (a == "--mode") {
      const std::string m = value();
      if (m == "http")
        o.mode = Mode::Http;
      else if (m == "ws-echo")
        o.mode = Mode::WsEcho;
      else if (m == "ws-rooms")
        o.mode = Mode::WsRooms;
      else if (m == "arena")
        o.mode = Mode::Arena;
      else
        throw UsageError("--mode: expected http, ws-echo, ws-rooms or arena, got '" + m + "'");
    } else if (a == "-c" || a == "--connections")
      o.connections = static_cast<unsigned>(parse_count(a, value(), 1, 1000000));
    else if (a == "-t" || a == "--threads")
      o.threads = static_cast<unsigned>(parse_count(a, value(), 1, 256));
    else if (a == "-p" || a == "--depth")
      o.depth = static_cast<unsigned>(parse_count(a, value(), 1, 65536));
    else if (a == "-d" || a == "--duration")
      o.duration_s = parse_duration(a, value()), have_duration = true;
    else if (a == "-n" || a == "--requests")
      o.count = parse_count(a, value(), 1, UINT64_MAX / 2);
    else if (a == "--timeout")
      o.timeout_s = parse_duration(a, value());
    else if (a == "--max-time")
      o.max_time_s = parse_duration(a, value());
    else if (a == "--recv-bufs")
      o.buf_count = static_cast<unsigned>(parse_count(a, value(), 1, 32768));
    else if (a == "--recv-buf-size")
      o.buf_size = static_cast<unsigned>(parse_count(a, value(), 512, 1u << 24));
    else if (a == "--path")
      o.paths.push_back(value());
    else if (a == "-m" || a == "--method")
      o.method = value();
    else if (a == "-H" || a == "--header")
      o.headers.push_back(value());
    else if (a == "--request-file")
      o.request_file = value();
    else if (a == "--size")
      o.size = static_cast<unsigned>(parse_count(a, value(), 16, 1u << 24));
    else if (a == "--inflight")
      o.inflight = static_cast<unsigned>(parse_count(a, value(), 1, 65536));
    else if (a == "--rooms")
      o.rooms = static_cast<unsigned>(parse_count(a, value(), 1, 1000000));
    else if (a == "--input-interval")
      o.input_interval_s = parse_duration(a, value());
    else if (a == "--rate") {
      const std::string v = value();
      char* end = nullptr;
      o.rate = std::strtod(v.c_str(), &end);
      if (*end != '\0' || !(o.rate > 0) || o.rate > 1e7)
        throw UsageError("--rate: expected messages per second > 0, got '" + v + "'");
    } else if (a == "--room-prefix")
      o.room_prefix = value();
    else if (a.size() > 1 && a[0] == '-')
      throw UsageError("unknown option " + a);
    else if (o.url.empty())
      o.url = a;
    else
      throw UsageError("unexpected argument '" + a + "' (the URL is '" + o.url + "')");
  }
  if (o.self_test) return o;
  if (o.url.empty()) throw UsageError("no URL given");
  if (o.count != 0 && have_duration) throw UsageError("give --duration or --requests, not both");
  if (o.count == 0 && !(o.duration_s > 0)) throw UsageError("--duration must be above 0");
  if (!(o.timeout_s > 0)) throw UsageError("--timeout must be above 0");
  if (o.threads > o.connections) throw UsageError("more threads than connections");
  if (o.connections / o.threads >= kMaxConnsPerThread) throw UsageError("too many connections per thread");
  if (o.buf_count != 0 && (o.buf_count & (o.buf_count - 1)) != 0)
    throw UsageError("--recv-bufs must be a power of two");
  if (o.mode != Mode::Http && (o.depth != 1 || !o.paths.empty() || !o.request_file.empty()))
    throw UsageError("--depth, --path and --request-file are for http mode");
  if (o.rooms > o.connections && o.mode == Mode::WsRooms) throw UsageError("more rooms than connections");
  if (!o.request_file.empty() && (!o.paths.empty() || !o.headers.empty()))
    throw UsageError("--request-file replaces --path and --header; give one or the other");
  parse_url(o);
  if (o.path == "/" && o.mode == Mode::WsEcho) o.path = "/ws/echo";
  if (o.path == "/" && o.mode == Mode::WsRooms) o.path = "/ws/room/";
  if (o.path == "/" && o.mode == Mode::Arena) o.path = "/ws";
  if (o.mode == Mode::Arena && !(o.input_interval_s >= 0.01)) throw UsageError("--input-interval: at least 10ms");
  if (o.max_time_s == 0) o.max_time_s = o.count != 0 ? 300 : o.duration_s + o.timeout_s + 3;
  return o;
}

}  // namespace loadgen
