// Private: the Reactor's state, shared by reactor.cpp (loop, setup, timers, signals,
// invoke queue) and reactor_io.cpp (accept, receive, send, close).
#pragma once

#include <liburing.h>
#include <sys/signalfd.h>

#include <array>
#include <atomic>
#include <climits>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ringactor/runtime/buffer_ring.hpp"
#include "ringactor/runtime/connection.hpp"
#include "ringactor/runtime/counters.hpp"
#include "ringactor/runtime/hook_list.hpp"
#include "ringactor/runtime/lifeline.hpp"
#include "ringactor/runtime/output_chain.hpp"
#include "ringactor/runtime/reactor.hpp"
#include "ringactor/runtime/reactor_options.hpp"
#include "ringactor/runtime/slot_pool.hpp"
#include "ringactor/runtime/timer_wheel.hpp"
#include "ringactor/runtime/user_data.hpp"

#include "invoke_queue.hpp"
#include "poster_slots.hpp"

namespace ringactor::runtime {

// Bytes a handler left unconsumed, kept until the next receive. Heap memory only while
// non-empty, so idle connections carry one null pointer.
struct Carry {
  std::unique_ptr<std::byte[]> data;
  std::uint32_t len = 0;
  std::uint32_t cap = 0;
};

inline constexpr std::int32_t kNoOutqMark = INT32_MIN;
inline constexpr std::uint8_t kNoListener = 0xFF;  // beyond 254 listeners: no first_byte_timeout

// One connection. Fields read on every completion come first. Packed: an idle connection's
// memory is mostly this slot (bench/README.md, memory per idle connection).
struct ConnSlot {
  int fd = -1;
  std::uint16_t ops = 0;  // kernel operations in flight plus handler callbacks running
  bool recv_armed : 1 = false;
  bool send_inflight : 1 = false;
  bool closing : 1 = false;            // no more input is delivered; teardown under way
  bool close_after_flush : 1 = false;  // close once the output chain is empty
  bool flush_queued : 1 = false;       // on the reactor's flush list
  bool finalized : 1 = false;
  bool lingering : 1 = false;         // write side shut down; input read and discarded until EOF
  bool paused : 1 = false;            // input paused by the handler: received bytes go to the carry
  bool input_ended : 1 = false;       // the peer's EOF was seen and handed to the handler
  bool redeliver_queued : 1 = false;  // a resume posted a redelivery of the carry
  bool pipe_waiting : 1 = false;      // queued for a free splice pipe
  bool got_input : 1 = false;         // some byte arrived (first_byte_timeout no longer applies)
  std::uint8_t idle_class : 3 = 0;    // index into ReactorImpl::idle_classes_ (0: idle_timeout)
  std::int32_t pipe = -1;             // the splice pipe it holds (index into pipes_), or -1
  std::uint32_t piped = 0;            // bytes of the front file segment sitting in that pipe
  union {
    // While lingering (output flushed): bytes discarded so far.
    std::uint32_t lingered;
    // While output is pending: the kernel's send queue (SIOCOUTQ, -1 if it could not be
    // read) when shed_stalled last looked, kNoOutqMark after progress; a queue that changed
    // since means the client is reading.
    std::int32_t outq_mark = kNoOutqMark;
  };
  std::int16_t error = 0;  // the errno reported to on_close
  CloseReason reason = CloseReason::kLocal;
  std::uint8_t listener = kNoListener;  // the listener that accepted it (first_byte_timeout)
  OutputChain out;
  SendContext* send_ctx = nullptr;
  std::unique_ptr<ConnectionHandler> handler;
  Carry carry;
  Reactor::Clock::time_point last_active{};    // last byte in or out
  Reactor::Clock::time_point last_progress{};  // last send progress (write timeout)
};

// The idle-memory target (256 B per connection, bench/README.md) depends on this size.
static_assert(sizeof(ConnSlot) <= 96, "ConnSlot grew: re-measure idle memory per connection");

// A zero-copy send in flight: its message, and what it pins until the kernel's
// notification says the bytes were released (slabs pinned in the pool, blocks referenced).
struct ZcSend {
  msghdr msg{};
  iovec iov[SendContext::kMaxIov];
  std::byte* slabs[SendContext::kMaxIov];
  SharedBlock blocks[SendContext::kMaxIov];
  std::uint32_t nslabs = 0;
  std::uint32_t nblocks = 0;
  std::uint32_t slot = 0;  // the connection, until its first completion
  std::uint32_t generation = 0;
  bool in_use = false;
};

// A pipe for splicing files into sockets.
struct SplicePipe {
  int r = -1;
  int w = -1;
  std::uint32_t size = 0;
};

struct Listener {
  int fd = -1;
  std::chrono::milliseconds first_byte_timeout{0};
  std::string name;  // address:port, for messages
  Reactor::HandlerFactory factory;
  bool armed = false;
  bool closed = false;
};

inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

class ReactorImpl {
 public:
  ReactorImpl(Reactor& self, ReactorOptions options);
  ~ReactorImpl();

  // reactor.cpp
  void start();
  bool step(std::optional<Reactor::Clock::duration> max_wait);
  void run();
  void loop_once(std::optional<Reactor::Clock::duration> max_wait);
  void dispatch(io_uring_cqe* cqe);
  io_uring_sqe* get_sqe();
  void arm_wake();
  void arm_signal();
  void on_signal(int signo);
  void begin_stop();
  void reschedule_scan();  // the set of timeouts changed (a listener with first_byte_timeout)
  void drain_invokes();
  // invoke_spin: true while the loop should poll the invoke queue rather than sleep; waits
  // out the gap first when the last drain found the queue almost empty.
  bool invoke_spinning() noexcept;
  void run_tick_hooks();
  void run_stop_hooks();
  void finish() noexcept;
  void note_error(const char* where, const char* what) noexcept;
  template <typename F>
  void run_guarded(const char* what, F&& fn) noexcept;
  // Runs the park checks (reactor thread, parked set); true (and unparked) if one found work.
  bool park_check_busy() noexcept;
  void schedule_scan();
  void scan_timeouts();
  // Closes stalled holders of pooled memory: splice pipes (pipes) and/or pooled blocks.
  std::size_t shed_stalled(bool pipes, bool blocks);
  void log_error(const std::string& what) noexcept;
  bool exit_ready() const noexcept;
  void check_setup_thread(const char* what) const;

  // reactor_io.cpp
  std::uint16_t listen(const ListenOptions& options, Reactor::HandlerFactory factory);
  void arm_accept(std::uint32_t listener);
  void on_accept(const OpTag& tag, int res, unsigned flags);
  void accept_connection(std::uint32_t listener, int fd);
  void arm_recv(std::uint32_t idx);
  void on_recv(const OpTag& tag, int res, unsigned flags);
  void deliver(std::uint32_t idx, std::span<const std::byte> bytes);
  bool append_carry(std::uint32_t idx, std::span<const std::byte> bytes);
  void end_of_input(std::uint32_t idx);
  void pause_input(std::uint32_t idx);
  void resume_input(std::uint32_t idx);
  bool queue_copy(ConnectionId id, std::span<const std::byte> bytes);
  bool queue_block(ConnectionId id, SharedBlock block, std::size_t offset, std::size_t len);
  bool after_queue(std::uint32_t idx);
  bool check_output_cap(std::uint32_t idx);
  void flush(std::uint32_t idx, bool try_direct);
  void sent(std::uint32_t idx, int res);
  void flush_all();
  void on_send(const OpTag& tag, int res);
  void submit_zero_copy(std::uint32_t idx);
  void on_send_zc(const OpTag& tag, int res, unsigned flags);
  void release_zc(std::uint32_t zi) noexcept;
  void read_file(int fd, std::span<std::byte> into, std::uint64_t offset, UniqueFunction<void(int)> done);
  void on_file(const OpTag& tag, int res);
  bool queue_file(ConnectionId id, int fd, std::uint64_t offset, std::uint64_t len,
                  std::shared_ptr<const void> keep);
  void flush_file(std::uint32_t idx);
  void splice_to_socket(std::uint32_t idx);
  void on_splice(const OpTag& tag, int res);
  void on_pollout(const OpTag& tag, int res);
  std::int32_t acquire_pipe();
  void release_pipe(std::uint32_t idx) noexcept;
  void wake_pipe_waiter() noexcept;
  void close_gracefully(std::uint32_t idx, CloseReason reason);
  void finish_close(std::uint32_t idx);
  void close_connection(std::uint32_t idx, CloseReason reason, int error);
  void maybe_finalize(std::uint32_t idx);
  void submit_cancel_fd(int fd);
  void close_listener(std::uint32_t listener);
  ConnSlot* find(ConnectionId id) noexcept { return slots_.find(id.slot, id.generation); }
  ConnectionId id_of(std::uint32_t idx) const noexcept { return {idx, slots_.generation(idx)}; }
  template <typename F>
  void guarded(std::uint32_t idx, F&& f);

  Reactor& self_;
  ReactorOptions options_;
  io_uring ring_{};
  bool ring_ready_ = false;
  bool ring_disabled_ = false;  // created with IORING_SETUP_R_DISABLED, enabled in run()
  std::unique_ptr<BufferRing> buffers_;
  SlotPool<ConnSlot> slots_;
  OutputPool output_;
  TimerWheel timers_;
  int wake_fd_ = -1;
  int signal_fd_ = -1;
  InvokeQueue invokes_;
  std::deque<Listener> listeners_;  // stable: a factory may call listen() while it runs
  HookList<void()> tick_hooks_;
  HookList<void()> before_wait_hooks_;
  HookList<void(bool&)> park_checks_;
  std::vector<UniqueFunction<void()>> sighup_hooks_;
  std::vector<UniqueFunction<void()>> stop_hooks_;
  bool iteration_requested_ = false;
  // invoke_spin: when closures last ran, and how many the last drain took.
  Reactor::Clock::time_point invokes_seen_{};
  std::size_t invokes_last_ = 0;
  std::vector<std::unique_ptr<ZcSend>> zc_;  // zero-copy send contexts, by index
  std::vector<std::uint32_t> zc_free_;
  std::vector<SplicePipe> pipes_;  // every pipe made (at most max_splice_pipes)
  std::vector<std::int32_t> free_pipes_;
  std::deque<ConnectionId> pipe_waiters_;  // connections waiting for a free pipe
  std::uint32_t pipes_in_use_ = 0;
  std::vector<UniqueFunction<void(int)>> file_ops_;  // file read callbacks, by index
  std::vector<std::uint32_t> file_free_;
  std::vector<std::uint32_t> flush_list_;
  std::vector<std::uint32_t> flushing_;  // flush_all()'s working copy of flush_list_
  std::vector<std::uint32_t> scratch_;
  std::vector<std::uint32_t> shed_;  // shed_stalled's victims
  Reactor::Clock::time_point last_shed_scan_{};
  Reactor::Clock::time_point shed_wake_at_{};  // a timer wakes the loop then to look again
  std::uint64_t wake_buf_ = 0;
  signalfd_siginfo sig_buf_{};
  Reactor::Clock::time_point now_;
  std::uint64_t inflight_ = 0;  // submitted operations whose final completion is pending
  std::uint32_t scan_cursor_ = 0;
  TimerId scan_timer_;
  std::chrono::milliseconds scan_interval_{100};
  // Idle timeouts by class: [0] is ReactorOptions::idle_timeout, the others were asked for
  // by Connection::set_idle_timeout (a connection names its class in 3 bits of its slot).
  static constexpr std::size_t kIdleClasses = 8;
  std::array<std::chrono::milliseconds, kIdleClasses> idle_classes_{};
  std::uint8_t idle_class_count_ = 1;
  void set_idle_timeout(std::uint32_t idx, std::chrono::milliseconds t);
  std::int64_t scan_ticks_per_pass_ = 1;  // scan ticks per full pass of the live list
  bool running_ = false;
  bool ran_ = false;
  bool started_ = false;
  bool stopping_ = false;
  Lifeline lifeline_ = Lifeline::make();  // cut when a stop begins (Reactor::lifeline)
  bool stop_hooks_ran_ = false;
  Reactor::Clock::time_point stop_hooks_at_{};  // posts still arriving past shutdown_grace no longer hold the exit
  bool exiting_ = false;  // all connections gone; cancelling the wake/signal reads
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> finished_{false};
  // Threads inside post(): the exit waits for them.
  std::shared_ptr<PosterSlots> posters_ = std::make_shared<PosterSlots>();
  std::atomic<std::thread::id> thread_{};

  struct AtomicCounters {
    std::atomic<std::uint64_t> connections_accepted{0}, connections_rejected{0}, connections_closed{0},
        accept_errors{0}, completions{0}, iterations{0}, invokes{0}, stale_completions{0}, bytes_in{0},
        bytes_out{0}, recv_rearms{0}, recv_enobufs{0}, sends{0}, ring_sends{0}, zero_copy_sends{0},
        zero_copy_notifs{0}, file_reads{0}, splices{0}, pipe_waits{0}, file_errors{0}, output_overflows{0},
        input_overflows{0}, idle_timeouts{0}, write_timeouts{0}, stalled_shed{0}, lingering_closes{0},
        handler_errors{0}, timers_fired{0}, connections_open{0}, submissions{0};
    std::array<std::atomic<std::uint64_t>, kCloseReasons> closed_by_reason{};
  } c_;
};

template <typename F>
void ReactorImpl::guarded(std::uint32_t idx, F&& f) {
  ConnSlot& s = slots_[idx];
  ++s.ops;
  try {
    f(s);
  } catch (const std::exception& e) {
    bump(c_.handler_errors);
    log_error(std::string("connection handler threw: ") + e.what());
    close_connection(idx, CloseReason::kHandlerError, 0);
  } catch (...) {
    bump(c_.handler_errors);
    log_error("connection handler threw a non-std exception");
    close_connection(idx, CloseReason::kHandlerError, 0);
  }
  --slots_[idx].ops;
  maybe_finalize(idx);
}

}  // namespace ringactor::runtime
