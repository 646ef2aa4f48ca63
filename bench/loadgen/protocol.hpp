// Protocol: what a load mode (http, ws-echo, ws-rooms) plugs into a Worker. The worker owns
// the sockets, the ring and the loop; the protocol owns per-connection protocol state and
// decides what to send. All calls come from the worker's thread, with connection indexes
// local to that worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace loadgen {

class Worker;
struct Options;

// What happens to a connection after the protocol has looked at its input.
enum class Verdict : std::uint8_t {
  Keep,        // stays open
  Close,       // close it; the protocol has counted the error (Worker::error)
  CloseClean,  // close it and reconnect at once, no error (the server said Connection: close)
};

class Protocol {
 public:
  virtual ~Protocol() = default;
  // The TCP connection is up (the receive is armed).
  virtual void on_connected(std::uint32_t c) = 0;
  // Bytes arrived.
  virtual Verdict on_data(std::uint32_t c, const char* p, std::size_t n) = 0;
  // The peer closed its side.
  virtual Verdict on_eof(std::uint32_t c) = 0;
  // A send that asked for a completion has fully gone out.
  virtual void on_sent(std::uint32_t) {}
  // The connection was closed (for any reason): forget its state, release what it owed.
  virtual void on_closed(std::uint32_t c) = 0;
  // Is c waiting for something whose absence past --timeout is a timeout error?
  virtual bool waiting(std::uint32_t c) const = 0;
  // The measured phase starts (every worker's connections are up or have failed once).
  virtual void start(std::int64_t now) = 0;
  // Once per loop iteration, right before the ring is entered: queue what is due. `now`
  // is the send timestamp of everything queued here.
  virtual void flush(std::int64_t now) = 0;
  // The latest time the loop may sleep until (ws-rooms: the next publish).
  virtual std::int64_t next_wake() const { return std::numeric_limits<std::int64_t>::max(); }
  // --requests reached.
  virtual bool finished() const { return false; }
  // After the measured phase, keep receiving until drained() (ws-rooms deliveries).
  virtual bool needs_drain() const { return false; }
};

// The HTTP request set, built once on the main thread and shared read-only: requests
// r[0..k) back to back, then r[0..depth) again, so that any `depth` consecutive requests
// starting at r[i] (i < k) are one contiguous span: [off[i], off[i + depth]).
struct RequestSet {
  std::string tape;
  std::vector<std::uint32_t> off;  // k + depth + 1 offsets
  std::vector<std::uint8_t> head;  // per request: a HEAD (its answer has no body)
  std::uint32_t k = 0;
};
// From --request-file or --path/--method/--header; throws UsageError for a bad file.
RequestSet build_request_set(const Options& o);
// Splits raw request text (LF or CRLF lines; bodies by Content-Length) into requests with
// CRLF lines; throws UsageError naming the problem. Public for the self-test.
std::vector<std::string> split_raw_requests(std::string text);

std::unique_ptr<Protocol> make_http_load(Worker& w, const Options& o, const RequestSet& rs,
                                         std::uint64_t budget);
std::unique_ptr<Protocol> make_ws_load(Worker& w, const Options& o, std::uint64_t budget);
std::unique_ptr<Protocol> make_arena_load(Worker& w, const Options& o);

}  // namespace loadgen
