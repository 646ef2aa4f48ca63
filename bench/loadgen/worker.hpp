// Worker: one loadgen thread. Owns a Ring, a fixed table of connections and a Protocol;
// runs one loop that enters the ring once per iteration (submit everything queued, wait
// for completions or the next deadline), dispatches the completions, and every 50 ms
// reconnects, expires timeouts and publishes its progress. Created and run on its own
// thread; the main thread only touches the RunControl/Published atomics and, after the
// join, the WorkerResult.
//
// Connections: connect, multishot receive into the ring's provided buffers (a buffer goes
// back as soon as the protocol has seen its bytes), at most one send in flight. A closed
// connection's generation is bumped, so completions still in flight for it are dropped.
// After an error a connection reconnects with a back-off (100 ms per failure in a row, at
// most 1 s); after a clean close (Connection: close) at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "options.hpp"
#include "protocol.hpp"
#include "ring.hpp"
#include "stats.hpp"

namespace loadgen {

class Worker {
 public:
  // `index` of `threads`; `conns` connections; `budget`: this worker's share of --requests
  // (0: by duration). `rs`: the HTTP request set (http mode only).
  Worker(const Options& o, const RequestSet* rs, RunControl& rc, Published& pub, unsigned index,
         unsigned conns, std::uint64_t budget, WorkerResult& out);
  ~Worker();
  // The thread body; never throws (set-up failures land in WorkerResult::fatal).
  void run();

  // --- for protocols ---
  std::int64_t now() const { return now_; }
  // Queues a send of [p, p + n) (the memory must live until it completes). want_cqe: the
  // protocol needs on_sent() (to reuse the buffer); else the completion is skipped unless
  // the send fails. One send at a time per connection.
  void send(std::uint32_t c, const char* p, std::uint32_t n, bool want_cqe);
  bool sending(std::uint32_t c) const { return conns_[c].sending; }
  bool open(std::uint32_t c) const { return conns_[c].state == State::Open; }
  // The connection is ready for load (http: connected; ws: handshake done).
  void established(std::uint32_t c);
  // Counts an error and keeps the first one's detail for the report.
  void error(ErrorKind k, const std::string& detail);
  // Counts an error and closes c (it reconnects after a back-off).
  void fail(std::uint32_t c, ErrorKind k, const std::string& detail);
  Counters& counters() { return out_.counters; }
  Histogram& latency() { return out_.latency; }
  Histogram& jitter() { return out_.jitter; }
  bool started() const { return started_; }
  // The measured phase is over; only receiving goes on (ws-rooms deliveries).
  bool draining() const { return drain_from_ != 0; }
  // The global client number of local connection c (ws-rooms sender ids and room choice).
  std::uint32_t global_id(std::uint32_t c) const { return index_ + threads_ * c; }
  std::uint32_t size() const { return static_cast<std::uint32_t>(conns_.size()); }
  std::int64_t start_ns() const { return start_ns_; }
  std::int64_t end_ns() const { return end_ns_; }  // end of the measured phase (duration mode)
  std::uint64_t xorshift() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }

 private:
  enum class State : std::uint8_t { Idle, Connecting, Open };
  struct Conn {
    const char* send_p = nullptr;
    std::uint32_t send_n = 0;
    std::uint32_t gen = 0;
    int fd = -1;
    State state = State::Idle;
    bool recv_armed = false;
    bool sending = false;
    bool send_cqe = false;
    bool settled = false;       // established or failed at least once (the start barrier)
    std::uint8_t failures = 0;  // connect failures in a row, for the back-off
    std::int64_t since = 0;     // connect start or last progress
    std::int64_t retry_at = 0;
  };

  void loop();
  void connect(std::uint32_t c);
  void arm_recv(std::uint32_t c);
  void close(std::uint32_t c, bool clean);
  void settle(std::uint32_t c);
  void handle(const io_uring_cqe* cqe);
  void on_recv(std::uint32_t c, const io_uring_cqe* cqe);
  void tick();
  bool should_stop();

  const Options& o_;
  const RequestSet* rs_;
  RunControl& rc_;
  Published& pub_;
  WorkerResult& out_;
  std::unique_ptr<Ring> ring_;
  std::unique_ptr<Protocol> proto_;
  std::vector<Conn> conns_;
  unsigned index_;
  unsigned threads_;
  std::uint64_t budget_;
  std::uint64_t rng_;
  std::int64_t now_ = 0;
  std::int64_t next_tick_ = 0;
  std::int64_t start_ns_ = 0;
  std::int64_t end_ns_ = 0;
  std::int64_t deadline_ = 0;       // --max-time
  std::int64_t last_progress_ = 0;  // any bytes received or connect completed
  std::int64_t drain_from_ = 0;     // 0: not draining
  std::int64_t timeout_ns_;
  unsigned settled_ = 0;
  unsigned open_ = 0;
  unsigned cqe_sends_ = 0;  // sends queued since the last enter that post a completion
  bool prepared_ = false;
  bool started_ = false;
  bool any_waiting_ = false;
};

}  // namespace loadgen
