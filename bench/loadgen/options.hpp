// loadgen's command line: the run's settings as one plain struct, parsed and checked once
// on the main thread before any worker starts; workers only read it.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace loadgen {

enum class Mode : std::uint8_t { Http, WsEcho, WsRooms, Arena };
const char* mode_name(Mode m);

// Bad flags or a bad URL: main prints the message and exits with status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  Mode mode = Mode::Http;
  std::string url;
  std::string host_header;  // host[:port] as written in the URL
  std::string path = "/";   // from the URL
  sockaddr_storage addr{};  // resolved once, at parse time
  socklen_t addr_len = 0;

  unsigned connections = 64;  // enough to keep a one-core server busy; wrk's default is 10
  unsigned depth = 1;         // HTTP requests per batch (pipelining); 1 is plain keep-alive
  unsigned threads = 1;       // one ring per thread; one thread outruns a one-core server
  double duration_s = 10;     // wrk's default
  std::uint64_t count = 0;    // stop after this many answers (HTTP) / echoes / publishes; 0: by duration
  double timeout_s = 5;       // a connect, a batch or an echo waiting longer is a timeout
  double max_time_s = 0;      // hard deadline; 0: duration + timeout + 3 s, or 300 s by count

  // HTTP request set: paths (or the URL's), method, extra headers, or a file of raw requests.
  std::vector<std::string> paths;
  std::string method = "GET";
  std::vector<std::string> headers;
  std::string request_file;

  // WebSocket modes.
  unsigned size = 64;             // payload bytes per message (>= 16: timestamp, sender, sequence)
  unsigned inflight = 1;          // ws-echo: messages outstanding per connection
  unsigned rooms = 1;             // ws-rooms: clients are spread over this many rooms
  double rate = 10;               // ws-rooms: messages per second each client publishes
  std::string room_prefix = "r";  // ws-rooms: room k is at <path><prefix><k>
  double input_interval_s = 1.0;  // arena: each bot sends an input this often (+-25% jitter)

  // Receive buffers per thread (0: twice the connections, at least 256, a power of two).
  unsigned buf_count = 0;
  unsigned buf_size = 16384;  // one pipelined batch of small answers fits in one buffer

  bool progress = true;  // a \r progress line, only when stdout is a terminal
  bool self_test = false;
};

// Parses argv; throws UsageError with a one-line reason. Resolves the host (numeric
// addresses and names, IPv4 and IPv6).
Options parse_options(int argc, char** argv);

// The --help text.
const char* usage_text();

}  // namespace loadgen
