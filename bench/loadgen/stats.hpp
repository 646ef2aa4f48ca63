// What a run counts: plain counters owned by one worker thread (no atomics on the hot
// path), merged by the main thread after the join; plus the few atomics through which the
// main thread starts, watches and stops the workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "histogram.hpp"

namespace loadgen {

// Errors by kind, one line each; kErrorNames gives their names in the JSON summary.
enum class ErrorKind : std::uint8_t {
  ConnectRefused,  // connect() answered ECONNREFUSED (nothing listening)
  Connect,         // any other connect failure (unreachable, no ports, EMFILE, ...)
  Reset,           // ECONNRESET or EPIPE on an open connection
  Closed,          // the server closed while answers were owed (or sent a WebSocket close)
  Timeout,         // a connect, handshake, batch or echo waited longer than --timeout
  BadStatusLine,   // an answer that does not start with HTTP/1.x DDD
  BadResponse,     // bad headers or chunking, an unexpected answer, or a 101 in http mode
  Handshake,       // a WebSocket upgrade refused or answered wrongly
  BadFrame,        // a WebSocket frame that breaks RFC 6455 (masked, reserved bits, opcode)
  BadPayload,      // a WebSocket message that is not one of ours (size, sender id)
  Read,            // any other receive error
  Write,           // any other send error, or a send cut short
  Count
};
inline constexpr const char* kErrorNames[] = {
    "connect_refused", "connect",   "reset",     "closed",      "timeout", "bad_status_line",
    "bad_response",    "handshake", "bad_frame", "bad_payload", "read",    "write"};
static_assert(sizeof(kErrorNames) / sizeof(kErrorNames[0]) == static_cast<std::size_t>(ErrorKind::Count));
constexpr std::size_t kErrorKinds = static_cast<std::size_t>(ErrorKind::Count);

struct Counters {
  std::uint64_t answers = 0;  // http: answers; ws-echo: echoes; ws-rooms: deliveries
  std::uint64_t sent = 0;     // http: requests sent; ws-echo: messages; ws-rooms: publishes
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t status[6] = {};  // final answers by class: [1] 1xx .. [5] 5xx; [0] 600 and up
  std::uint64_t errors[kErrorKinds] = {};
  std::uint64_t connects = 0;         // successful connects, reconnects included
  std::uint64_t enobufs = 0;          // multishot receives re-armed after the buffer ring ran dry
  std::uint64_t self_deliveries = 0;  // ws-rooms: own messages delivered back
  std::uint64_t skipped = 0;          // ws-rooms: publishes skipped (connection down or backlogged)
  std::uint64_t rounds = 0;           // arena: round results seen by bots
  std::uint64_t acked = 0;            // arena: inputs acknowledged by a state frame

  std::uint64_t error_total() const {
    std::uint64_t n = 0;
    for (std::uint64_t e : errors) n += e;
    return n;
  }
  void merge(const Counters& o) {
    answers += o.answers;
    sent += o.sent;
    bytes_in += o.bytes_in;
    bytes_out += o.bytes_out;
    for (int i = 0; i < 6; ++i) status[i] += o.status[i];
    for (std::size_t i = 0; i < kErrorKinds; ++i) errors[i] += o.errors[i];
    connects += o.connects;
    enobufs += o.enobufs;
    self_deliveries += o.self_deliveries;
    skipped += o.skipped;
    rounds += o.rounds;
    acked += o.acked;
  }
};

// What one worker hands back after its thread ends.
struct WorkerResult {
  Counters counters;
  Histogram latency;
  Histogram jitter;         // arena: |gap between state frames - the tick|
  std::string first_error;  // the first error's detail, for the message on stderr
  std::string fatal;        // set-up failed (ring, sockets): the worker did nothing
  const char* ring_setup = "";
  std::int64_t end_ns = 0;  // when its measured phase ended
  bool stalled = false;     // stopped: no progress for --timeout
  bool max_time = false;    // stopped at --max-time
};

// The main thread's handle on the workers. Start: each worker connects its connections,
// then bumps `prepared` (release) and polls `go_ns` (acquire); the main thread sets go_ns
// to the common start time (or -1 to abort). `stop` asks workers to end early (stall of
// another worker, signals). The published counters are refreshed by each worker about
// every 50 ms (relaxed stores) for the progress line only.
struct alignas(64) Published {
  std::atomic<std::uint64_t> answers{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> established{0};
  std::atomic<bool> done{false};
};
struct RunControl {
  std::atomic<unsigned> prepared{0};
  std::atomic<std::int64_t> go_ns{0};
  std::atomic<bool> stop{false};
};

}  // namespace loadgen
