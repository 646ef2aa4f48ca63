// Reactor: one io_uring ring and the loop that drives it, on one thread.
//
// A Reactor owns the ring, the connection slots, the receive buffer ring, the output
// pools, the timer wheel, the invoke queue and the hooks. There are no globals: several
// reactors may live in one process, each run() on its own thread.
//
// Threads: construct it anywhere; call listen() before run() (or on the reactor thread),
// then run() on the thread that will own it. From then on everything except post(),
// stop() and counters() must be called on that thread (from handlers, timers, hooks and
// posted closures). run() returns after a graceful stop; the Reactor may then be destroyed
// on any thread, once no other thread can still be inside post() or stop() on it (stop and
// join every reactor and worker that posts to it first).
//
// One loop iteration: submit queued operations and wait (not at all if work is pending,
// else until a completion, a wake-up or the next timer); dispatch every completion; drain
// the invoke queue up to a budget; run tick hooks; fire due timers (which include the
// incremental idle/write timeout scan); queue sends for connections with new output.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include "ringactor/runtime/connection.hpp"
#include "ringactor/runtime/counters.hpp"
#include "ringactor/runtime/lifeline.hpp"
#include "ringactor/runtime/task.hpp"
#include "ringactor/runtime/reactor_options.hpp"
#include "ringactor/runtime/timer_wheel.hpp"
#include "ringactor/runtime/unique_function.hpp"

namespace ringactor::runtime {

class ReactorImpl;

class Reactor {
 public:
  using Clock = std::chrono::steady_clock;
  // Makes the handler for a newly accepted connection. Reactor thread. Returning null or
  // throwing closes that connection at once (counted in handler_errors).
  using HandlerFactory = UniqueFunction<std::unique_ptr<ConnectionHandler>(Connection)>;

  // Creates the ring and pools. Throws std::system_error / std::invalid_argument naming
  // the cause: io_uring unavailable or disabled (kernel.io_uring_disabled, seccomp), a
  // kernel older than 6.0, a descriptor limit too low for max_connections, bad options.
  explicit Reactor(ReactorOptions options = {});
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;
  // Closes every connection and listener still open (their handlers are destroyed without
  // on_close when the reactor never ran or stopped abnormally). Not while run() is running.
  ~Reactor();

  // Binds and listens; returns the bound port (useful with port 0). Connections accepted
  // there get handlers from `factory`. Before run() or on the reactor thread. Throws
  // std::system_error naming the address and the cause (e.g. address in use).
  std::uint16_t listen(const ListenOptions& options, HandlerFactory factory);

  // Runs the loop on the calling thread until a graceful stop completes. Throws
  // std::logic_error if called twice, std::system_error on a fatal ring failure.
  void run();

  // Runs one loop iteration on the calling thread, sleeping at most `max_wait` for
  // something to happen (zero: do not sleep). For embedding the reactor in a loop of your
  // own (a game's main loop) and for tests that step a reactor by hand. The first call makes
  // the calling thread the reactor thread; every later call (and run()) must come from it.
  // Returns false once a stop has completed (and then does nothing).
  bool poll(Clock::duration max_wait = Clock::duration::zero());

  // Any thread. Queues `task` to run on the reactor thread in a later iteration; FIFO per
  // calling thread. Lock-free; wakes the reactor with one eventfd write only if it sleeps.
  // Returns false once the reactor has finished running, and then leaves `task` untouched
  // (the caller may run or drop it). Closures accepted before the reactor finished all run.
  bool post(Task&& task);

  // Any thread. Starts a graceful stop: stop accepting, let queued output flush for up to
  // shutdown_grace, close every connection, return from run(). Closures posted meanwhile
  // run; threads that keep posting hold the exit for at most another shutdown_grace
  // (100 ms at least), then post() refuses them. Idempotent.
  void stop();

  // Any thread. True once run()/poll() has completed a stop (post() then refuses).
  bool finished() const noexcept;

  // Any thread (copy it). Cut when a graceful stop begins: work done for this reactor's
  // actors (offloads) follows it, so queued jobs are skipped and running ones told to stop.
  const Lifeline& lifeline() const noexcept;

  // Any thread. A snapshot of the counters.
  Counters counters() const noexcept;

  // Reactor thread. Timers: O(1) schedule and cancel; callbacks run on the reactor thread.
  // An exception escaping a callback (or a hook, or a posted closure) is logged and counted
  // in handler_errors; the loop goes on.
  TimerId after(Clock::duration delay, UniqueFunction<void()> fn);
  bool cancel(TimerId id) noexcept;

  // Reactor thread (or before run()). `hook` runs once every loop iteration, after the
  // invoke queue is drained, hooks in the order they were added. Keep it short: it delays
  // every connection. A hook added by a hook first runs in the next iteration. Returns the
  // handle that removes it.
  HookId add_tick_hook(UniqueFunction<void()> hook);
  // Reactor thread. Removes a tick hook; it is not called again (not even later in the
  // current iteration), and it is destroyed once no hook is running. A hook may remove
  // itself. Returns false for a hook already removed (or an empty handle). O(hooks).
  bool remove_tick_hook(HookId hook) noexcept;

  // Reactor thread (or before run()). `hook` runs at the start of every loop iteration,
  // before the reactor submits and decides whether to sleep: the place to publish what this
  // iteration produced for other threads (the actor mesh wakes the reactors it sent to
  // here, once per destination per iteration). Same rules as tick hooks.
  HookId add_before_wait_hook(UniqueFunction<void()> hook);
  bool remove_before_wait_hook(HookId hook) noexcept;

  // Reactor thread (or before run()). For work other threads hand this reactor outside
  // post() (the actor mesh's rings): before sleeping, after announcing that it is about to
  // park (a full fence), the reactor calls every check; one that sets its argument to true
  // keeps it awake. The producer side publishes its work and then calls wake(), so either
  // the check sees the work or wake() sees the reactor parked. Keep checks O(1)-ish: they
  // run whenever the loop is about to sleep.
  HookId add_park_check(UniqueFunction<void(bool&)> check);
  bool remove_park_check(HookId check) noexcept;

  // Any thread. Wakes the reactor if it sleeps (one eventfd write per park at most, as
  // post()); a full fence and a relaxed load when it does not. See add_park_check.
  void wake() noexcept;

  // Reactor thread (or before run()). Runs `fn` on the reactor thread when SIGHUP arrives
  // (needs handle_signals).
  void on_sighup(UniqueFunction<void()> fn);

  // Reactor thread (or before run()). Runs `fn` once on the reactor thread at the end of a
  // graceful stop, after every connection and listener is closed and before run() returns
  // (the actor stage stops its remaining actors here). Hooks run in registration order.
  void add_stop_hook(UniqueFunction<void()> fn);

  // Reactor thread. A bounded pool ran dry (a module's read buffers built with
  // SharedBlock::build_pooled): closes, with a reset, every connection that holds such a
  // block in its queued output and has made no progress for
  // ReactorOptions::stall_shed_after (CloseReason::kStalled, counted in stalled_shed), so
  // that a client that stops reading cannot keep others waiting. Their memory returns to
  // the pool once their teardown completes (within an iteration or two). Call it when the
  // pool refuses a request and again (every iteration is fine) while someone waits: each
  // walk arms a timer so that a loop with nothing else to do wakes to be asked again. (The splice pipe pool does the
  // same for pipes itself.) Returns how many were closed. Cost: a walk of the live
  // connections and an ioctl(SIOCOUTQ) per old-enough holder, at most once per 100 ms
  // (other calls return 0 at once).
  std::size_t shed_stalled();

  // Reactor thread (or before run()). Reads up to into.size() bytes of `fd` at `offset`
  // through the ring (IORING_OP_READ), so a cold page cache never stalls the loop; `done`
  // runs on the reactor thread with the byte count (0 at end of file) or -errno. `fd` and
  // `into` must stay valid until `done` ran; a graceful stop waits for reads in flight. An
  // exception escaping `done` is logged and counted (handler_errors). Cost: one SQE and a
  // pooled callback slot; no allocation once warm for a callback within the inline size.
  void read_file(int fd, std::span<std::byte> into, std::uint64_t offset, UniqueFunction<void(int)> done);

  // Reactor thread. Makes the next iteration skip sleeping: for work queued on this thread
  // that the reactor cannot see (an actor run queue with messages left). O(1), no syscall.
  void request_iteration() noexcept;

  // Reactor thread. The time read at the start of the current iteration (one clock read
  // per iteration for every timestamp taken inside it).
  Clock::time_point now() const noexcept;
  // Reactor thread. The number of the current loop iteration: work that may be shared by
  // everything one iteration handles (a file's revalidation) is keyed by it. O(1).
  std::uint64_t iteration() const noexcept;

  // Reactor thread. A handle for a connection id (dead ids give a handle whose calls fail).
  Connection connection(ConnectionId id) noexcept { return Connection(*this, id); }

  // Any thread. True when the caller runs on this reactor's loop.
  bool in_reactor_thread() const noexcept;
  const ReactorOptions& options() const noexcept;
  std::uint16_t id() const noexcept;

  // Blocks SIGTERM, SIGINT and SIGHUP in the calling thread; call it at the top of main()
  // before starting threads when using handle_signals, so only the signalfd sees them.
  static void block_stop_signals();

  // For tests and benchmarks: receive buffers currently held by the kernel or a handler.
  std::uint32_t recv_buffers_outstanding() const noexcept;
  // For tests: output slabs in use (0 once every connection is gone).
  std::size_t output_slabs_in_use() const noexcept;
  // For tests: submits a no-op whose completion carries `user_data` (reactor thread, while
  // running). Only for tags naming a released slot (or kNop): it proves that a completion
  // whose generation no longer matches is recognised, dropped and counted.
  void inject_completion_for_test(std::uint64_t user_data);

 private:
  friend class Connection;
  std::unique_ptr<ReactorImpl> impl_;
};

}  // namespace ringactor::runtime
