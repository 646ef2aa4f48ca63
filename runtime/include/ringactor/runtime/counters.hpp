// Counters: what an operator wants to see about one reactor, as a plain snapshot.
//
// The reactor keeps each counter in a relaxed atomic that only its own thread writes (a
// plain load and store, no locked instruction), so Reactor::counters() may be called from
// any thread and returns a consistent-enough snapshot for dashboards and tests.
#pragma once

#include <array>
#include <cstdint>

#include "ringactor/runtime/connection.hpp"

namespace ringactor::runtime {

struct Counters {
  std::uint64_t connections_open = 0;      // live connections now
  std::uint64_t connections_accepted = 0;  // accepted and given a slot
  std::uint64_t connections_rejected = 0;  // accepted and closed at once: no free slot
  std::uint64_t connections_closed = 0;    // fully torn down (slot released)
  std::array<std::uint64_t, kCloseReasons> closed_by_reason{};  // the same, by CloseReason
  std::uint64_t accept_errors = 0;         // failed accept completions (e.g. EMFILE)
  std::uint64_t submissions = 0;           // SQEs handed to the kernel
  std::uint64_t completions = 0;           // CQEs processed
  std::uint64_t iterations = 0;            // loop iterations
  std::uint64_t wakeups = 0;               // eventfd writes by producers (syscalls)
  std::uint64_t invokes = 0;               // invoke-queue closures run
  std::uint64_t stale_completions = 0;     // CQEs for a released slot, dropped
  std::uint64_t bytes_in = 0;              // received bytes
  std::uint64_t bytes_out = 0;             // sent bytes
  std::uint64_t recv_rearms = 0;           // multishot receives re-armed (ENOBUFS or ended)
  std::uint64_t recv_enobufs = 0;          // receives that found the buffer ring empty
  std::uint64_t sends = 0;                 // sendmsg calls that wrote or failed (direct or ring)
  std::uint64_t ring_sends = 0;            // sends submitted to the ring (the socket was full)
  std::uint64_t zero_copy_sends = 0;       // SEND_ZC / SENDMSG_ZC submitted (zero_copy_send)
  std::uint64_t zero_copy_notifs = 0;      // their buffer-release notifications received
  std::uint64_t file_reads = 0;            // positional file reads completed (read_file)
  std::uint64_t splices = 0;               // file -> pipe splices completed (send_file)
  std::uint64_t pipe_waits = 0;            // connections that waited for a free splice pipe
  std::uint64_t file_errors = 0;           // file segments that failed or ended short (connection closed)
  std::uint64_t output_overflows = 0;      // connections closed for passing max_output_bytes
  std::uint64_t input_overflows = 0;       // connections closed for passing max_input_carry
  std::uint64_t idle_timeouts = 0;         // connections closed by idle_timeout
  std::uint64_t write_timeouts = 0;        // connections closed by write_timeout
  std::uint64_t stalled_shed = 0;          // closed by shed_stalled (held pooled memory, not draining)
  std::uint64_t lingering_closes = 0;      // local closes that shut down writes and drained input
  std::uint64_t handler_errors = 0;        // exceptions escaping handlers or posted closures
  std::uint64_t timers_fired = 0;          // timer callbacks run
};

}  // namespace ringactor::runtime
