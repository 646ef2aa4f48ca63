// ReactorOptions and ListenOptions: plain configuration structs, set with designated
// initialisers, e.g. `Reactor r({.max_connections = 1000, .idle_timeout = 30s});`.
// Every default says why it is what it is. Validated when the Reactor is constructed
// (std::invalid_argument naming the field).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace ringactor::runtime {

struct ReactorOptions {
  // Submission queue entries. 4096 holds one iteration's worth of sends and re-arms for a
  // few thousand busy connections; the completion queue is sized 4x (multishot ops post
  // several completions per submission).
  std::uint32_t ring_entries = 4096;

  // Connection slots, preallocated lazily (pages are touched only when used). Past it, new
  // connections are accepted and closed at once and counted in `connections_rejected`.
  // 0 = derive from RLIMIT_NOFILE: the hard limit less 128 descriptors kept for files and
  // listeners, at most 65536 (the soft limit is raised to match). An explicit value the
  // descriptor limit cannot hold makes the constructor throw, naming both numbers.
  std::uint32_t max_connections = 0;

  // Provided receive buffers: a power of two. 1024 x 16 KiB = 16 MiB serves thousands of
  // busy connections, since each buffer goes back to the ring as soon as it is consumed.
  std::uint32_t recv_buffer_count = 1024;
  std::uint32_t recv_buffer_size = 16 * 1024;

  // Output slab size and how many free slabs stay cached (16 KiB matches common socket
  // send sizes; 1024 cached = 16 MiB kept warm at most).
  std::size_t output_slab_size = 16 * 1024;
  std::size_t output_cached_slabs = 1024;

  // Output a connection's socket would not take (queued while a send waits for room) before
  // it is closed as a slow consumer (never reads). 4 MiB
  // is far above what a healthy client lags by, and bounds memory to cap x connections.
  std::size_t max_output_bytes = 4 * 1024 * 1024;

  // Unconsumed input a connection may hold between reads (a partial request). 64 KiB covers
  // any sane request head; protocols set lower limits of their own.
  std::size_t max_input_carry = 64 * 1024;

  // No bytes in either direction for this long closes the connection (0 = never). 60 s is
  // nginx's keepalive_timeout order of magnitude.
  std::chrono::milliseconds idle_timeout{60'000};

  // Output pending with no progress for this long closes the connection (0 = never).
  std::chrono::milliseconds write_timeout{30'000};

  // Pooled memory is not held hostage by clients that stop reading: while a bounded pool
  // runs dry (splice pipes, or a module's pooled read buffers, see Reactor::shed_stalled),
  // connections holding some of it whose output made no progress for this long are closed
  // (CloseReason::kStalled), well before write_timeout, so that everyone else is served.
  // Progress is a completed send or the kernel's send queue for the connection shrinking
  // (the client read and acknowledged bytes); the first look at a holder starts its clock,
  // so it is shed 1-2x this long after it stalled. A client whose window keeps opening
  // (on Linux that takes reading about an MSS) is never shed. 0 = never.
  std::chrono::milliseconds stall_shed_after{2'000};

  // Lingering close: after a handler's close() has flushed the output, the write side is
  // shut down (FIN) and input is read and discarded for up to this long (or linger_bytes),
  // until the peer closes too. Closing at once with unread input would make the kernel
  // send a reset, and a client still sending (a refused upload) would lose our response.
  // nginx lingers similarly (lingering_close). 0 = close at once.
  std::chrono::milliseconds linger_timeout{2'000};
  std::size_t linger_bytes = 1024 * 1024;

  // Graceful stop: how long queued output may take to flush before connections are cut.
  std::chrono::milliseconds shutdown_grace{5'000};

  // Invoke-queue closures run per loop iteration before I/O is looked at again, so a flood
  // from worker threads cannot starve the network.
  std::size_t invoke_budget = 4096;

  // Spin on the invoke queue (opt-in). After an iteration that ran closures posted from
  // other threads, the loop does not sleep for invoke_spin: it keeps polling, without
  // announcing a park, so posting threads write no eventfd. Between two looks at an almost
  // empty queue it waits up to invoke_spin_gap (a pause loop that still watches for I/O
  // completions), so a stream is taken in batches and the poster is not chased one closure
  // at a time (which bounces the queue's cache lines between the two cores); a closure
  // that arrives while the loop spins waits at most that gap. With it on, posting threads
  // also skip their memory fence, and each park of this loop pays a membarrier(2) syscall
  // instead (where the kernel has it). Pays when threads stream messages to actors of this
  // reactor (bench/README.md, cross-thread tell: about 2x the rate without it); costs this
  // reactor's core while the stream lasts, so leave it off where the posting threads share
  // that core. 0: off.
  std::chrono::microseconds invoke_spin{0};
  std::chrono::nanoseconds invoke_spin_gap{4'000};

  // Zero-copy send (opt-in): a send of at least zero_copy_threshold bytes goes out with
  // IORING_OP_SEND_ZC (one buffer) or IORING_OP_SENDMSG_ZC (several), so the kernel
  // transmits from our slabs and shared blocks instead of copying them. The bytes stay
  // pinned until the kernel's second completion (the notification) and only then are slabs
  // recycled; the next send never waits for it. Pays on a real NIC for large bodies; on
  // loopback the receiver copies anyway (bench/README.md has the figures). The constructor
  // throws std::runtime_error if the kernel lacks SEND_ZC (Linux 6.0+).
  bool zero_copy_send = false;
  std::size_t zero_copy_threshold = 16 * 1024;

  // File segments (Connection::send_file) are spliced: file -> pipe through the ring (a cold
  // page cache never stalls the loop), pipe -> socket without copying. Each splicing
  // connection borrows one pipe of splice_pipe_size bytes (F_SETPIPE_SZ, capped by
  // /proc/sys/fs/pipe-max-size) from a pool of at most max_splice_pipes; past it,
  // connections wait their turn. 2 descriptors per pipe.
  std::size_t splice_pipe_size = 1024 * 1024;
  std::uint32_t max_splice_pipes = 256;

  // Set TCP_NODELAY on accepted sockets: request/response and game traffic want latency.
  bool tcp_nodelay = true;

  // When at least this many connections have output at the end of an iteration, their
  // sends are submitted through the ring in one io_uring_enter instead of one send()
  // syscall each; fewer are sent directly (no completion to wait for). 0: always direct.
  // 2 measured best here (bench/README.md: hello keep-alive 8.1 -> 6.9 us of server CPU
  // per request, pipelined 0.70 -> 0.57), since each kernel entry is costly.
  std::uint32_t ring_send_batch = 2;

  // Read SIGTERM/SIGINT (graceful stop) and SIGHUP (callbacks) through a signalfd on the
  // ring. The signals are blocked in the thread that calls run(); block them in every other
  // thread too (block_stop_signals() before starting threads), or the kernel may deliver
  // them elsewhere. Off by default: a library should not take a process's signals unasked.
  bool handle_signals = false;

  // Identifies the reactor in logs and, later, in actor references.
  std::uint16_t id = 0;
};

struct ListenOptions {
  // IPv4 or IPv6 literal to bind. Loopback by default: exposing a port is a decision.
  std::string address = "127.0.0.1";
  // 0 picks a free port; Reactor::listen returns the one bound.
  std::uint16_t port = 0;
  // listen(2) backlog; the kernel clamps it to net.core.somaxconn.
  int backlog = 4096;
  // SO_REUSEPORT, for several reactors sharing one port.
  bool reuse_port = false;
  // A connection that has sent nothing this long after it was accepted is closed (reason
  // kIdleTimeout), so that connecting alone cannot hold a socket for idle_timeout. Zero:
  // only idle_timeout applies. Checked by the same incremental scan as idle_timeout, at no
  // memory cost per connection. (http::Server sets it to its header_timeout.)
  std::chrono::milliseconds first_byte_timeout{0};
};

}  // namespace ringactor::runtime
