// WorkerArena and offload(): run CPU- or device-bound work off the IO thread, and get its
// result back on the requesting actor's reactor.
//
//   offload::WorkerArena arena;                       // oneTBB threads: cores - reactors
//   // in a Room actor's handler:
//   arena.offload(*this,
//       [snapshot](const offload::CancelToken& cancel) { return simulate(snapshot, cancel); },
//       [this](offload::Result<Outcome> r) {            // back on the room's reactor thread
//         if (r) broadcast(*r); else log(r.message());
//       });
//
// `work` runs on a worker of the arena's tbb::task_arena. Its value, or the exception it
// threw, reaches `then` on the requesting actor's reactor through that reactor's invoke
// queue, as a handler of that actor, and only while the actor lives: results for a stopped
// actor are dropped and freed (counted). `then` is called exactly once otherwise, also for
// the failures below.
//
// From an HTTP route, offload on behalf of the deferred answer itself: the work is skipped
// (or told to stop, through its token) when the client leaves or the server begins to stop,
// and `then` gets the DeferredResponse back to complete:
//
//   server.get("/battle", [&arena](http::Request& req, http::Response& res) {
//     arena.offload(res.defer(),
//         [n](const offload::CancelToken& cancel) { return simulate(n, cancel); },
//         [](offload::Result<Outcome> r, http::DeferredResponse& answer) {
//           if (r) answer.json(to_json(*r)); else answer.status(503).text(r.message());
//         });
//   });
//
// Failures `then` may see: kOverloaded (max_in_flight offloads were already in flight:
// answered at once, inside offload(), so a server can answer 503 instead of queueing
// without limit), kCancelled (Ticket::cancel(), or the requester's lifeline was cut: its
// client left or its reactor began to stop; work not started yet never runs), kShutdown
// (the arena stopped before the work ran or finished), kException (the work threw;
// message() and exception() tell what).
//
// Polled device tasks (GPU kernels, other asynchronous devices): offload_polled's `launch`
// runs on a worker, starts the device work and returns a poll function; the arena's poller
// thread calls every parked poll function each poll_interval (no thread is held per task)
// until one returns a value, which then travels like any result.
//
// Order: results travel through the reactor's invoke queue, which is FIFO per producing
// thread. Results of one actor produced by the same worker arrive in the order they
// completed; results finishing on different workers at nearly the same time may arrive in
// either order (no global order is imposed: it would cost a lock).
//
// Shutdown (destructor, or shutdown()): new offloads answer kShutdown at once; work in
// flight gets up to shutdown_grace to finish and deliver normally; then every CancelToken
// reads cancelled, parked polls are dropped (their `then` gets kShutdown), and shutdown
// waits for the running work functions to return (work should check its token). Results
// delivered to a reactor that has stopped are dropped, never run. Declare the arena after
// the Reactor and Stage it serves, so it is destroyed first.
//
// Threads: offload() and offload_polled() from the requesting actor's reactor thread (its
// handlers); counters() and the Ticket from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <ringactor/actors/actor.hpp>
#include <ringactor/actors/requester.hpp>
#include <ringactor/actors/stage.hpp>
#include <ringactor/runtime/lifeline.hpp>
#include <ringactor/runtime/metrics.hpp>
#include <ringactor/runtime/unique_function.hpp>

namespace ringactor::offload {

enum class Failure : std::uint8_t {
  kNone,
  kOverloaded,  // max_in_flight reached: answered at once
  kCancelled,   // Ticket::cancel() before the result was delivered
  kShutdown,    // the arena stopped first
  kException,   // the work (or launch, or poll) threw
};
std::string_view to_string(Failure f) noexcept;

namespace detail {
// Jobs come from small blocks cached per thread (64-byte classes up to 1 KiB, 256 blocks per
// class and thread), so a warm offload does not touch the heap. Larger ones go to operator
// new. Any thread; a block may be freed on another thread than the one that took it (it
// joins that thread's cache).
void* pool_allocate(std::size_t bytes);
void pool_deallocate(void* p, std::size_t bytes) noexcept;

// What an offload's Ticket shares with its job: the cancel flag and the lifelines. It heads
// the job's own block (one allocation per offload); the block goes back to the pool once the
// job is destroyed and no Ticket refers to it.
struct Control {
  std::atomic<bool> cancelled{false};
  std::atomic<std::uint32_t> refs{1};  // the job's, plus one per Ticket
  std::uint32_t block_bytes = 0;
  const std::atomic<bool>* arena_stopping = nullptr;
  runtime::Lifeline reactor;    // the target reactor's: cut when it begins to stop
  runtime::Lifeline requester;  // the requester's own (a deferred HTTP answer's client)
  // Cancelled by its ticket or a cut lifeline (not by the arena's shutdown).
  bool abandoned() const noexcept {
    return cancelled.load(std::memory_order_relaxed) || reactor.is_cut() || requester.is_cut();
  }
  void retain() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    const std::uint32_t bytes = block_bytes;
    this->~Control();
    pool_deallocate(this, bytes);
  }
};
struct Shared;
struct JobBase;
}  // namespace detail

// What long work checks to stop early: true once the ticket cancelled it, its requester's
// lifeline was cut (client gone, reactor stopping) or the arena is shutting down. A few
// relaxed loads; check it every millisecond or so of work. Valid during the work call.
class CancelToken {
 public:
  bool cancelled() const noexcept {
    return control_->abandoned() || control_->arena_stopping->load(std::memory_order_relaxed);
  }

 private:
  friend struct detail::JobBase;
  explicit CancelToken(const detail::Control* c) noexcept : control_(c) {}
  const detail::Control* control_;
};

// The requester's handle on one offload. Cheap to copy (a reference count); any thread.
class Ticket {
 public:
  Ticket() = default;
  Ticket(const Ticket& o) noexcept : control_(o.control_), accepted_(o.accepted_) {
    if (control_ != nullptr) control_->retain();
  }
  Ticket(Ticket&& o) noexcept : control_(std::exchange(o.control_, nullptr)), accepted_(o.accepted_) {}
  Ticket& operator=(Ticket o) noexcept {
    std::swap(control_, o.control_);
    accepted_ = o.accepted_;
    return *this;
  }
  ~Ticket() {
    if (control_ != nullptr) control_->release();
  }
  // False when the offload was refused at once (overloaded or shut down).
  explicit operator bool() const noexcept { return accepted_; }
  // Asks the work to stop (its token reads cancelled) and makes `then` get kCancelled
  // instead of the result, unless the result was already delivered. Idempotent.
  void cancel() const noexcept {
    if (control_ != nullptr) control_->cancelled.store(true, std::memory_order_relaxed);
  }

 private:
  friend class WorkerArena;
  Ticket(detail::Control* c, bool accepted) noexcept : control_(c), accepted_(accepted) { control_->retain(); }
  detail::Control* control_ = nullptr;
  bool accepted_ = false;
};

// A value or the reason there is none. Same rules as actors::Reply: ok() (or bool) says
// which; value() on a failure throws instead of reading garbage.
template <typename R>
class Result {
 public:
  bool ok() const noexcept { return failure_ == Failure::kNone; }
  explicit operator bool() const noexcept { return ok(); }
  Failure failure() const noexcept { return failure_; }
  // The value; for a failure throws: the work's own exception for kException, else
  // std::runtime_error naming the failure.
  R& value() {
    check();
    return *value_;
  }
  R& operator*() { return value(); }
  R* operator->() { return &value(); }
  std::exception_ptr exception() const noexcept { return error_; }
  // "" on success; the exception's what() for kException; the failure's name otherwise.
  std::string message() const;

  // Used by the arena.
  void set_value(R v) {
    value_.emplace(std::move(v));
    failure_ = Failure::kNone;
  }
  void set_failure(Failure f, std::exception_ptr e = nullptr) noexcept {
    failure_ = f;
    error_ = std::move(e);
  }

 private:
  void check() const {
    if (failure_ == Failure::kException && error_) std::rethrow_exception(error_);
    if (failure_ != Failure::kNone) throw std::runtime_error("offload failed: " + std::string(to_string(failure_)));
  }
  std::optional<R> value_;
  Failure failure_ = Failure::kShutdown;
  std::exception_ptr error_;
};

template <>
class Result<void> {
 public:
  bool ok() const noexcept { return failure_ == Failure::kNone; }
  explicit operator bool() const noexcept { return ok(); }
  Failure failure() const noexcept { return failure_; }
  void value() const {
    if (failure_ == Failure::kException && error_) std::rethrow_exception(error_);
    if (failure_ != Failure::kNone) throw std::runtime_error("offload failed: " + std::string(to_string(failure_)));
  }
  std::exception_ptr exception() const noexcept { return error_; }
  std::string message() const;
  void set_value() noexcept { failure_ = Failure::kNone; }
  void set_failure(Failure f, std::exception_ptr e = nullptr) noexcept {
    failure_ = f;
    error_ = std::move(e);
  }

 private:
  Failure failure_ = Failure::kShutdown;
  std::exception_ptr error_;
};

std::string describe(Failure f, const std::exception_ptr& e);
template <typename R>
std::string Result<R>::message() const {
  return failure_ == Failure::kNone ? std::string() : describe(failure_, error_);
}
inline std::string Result<void>::message() const {
  return failure_ == Failure::kNone ? std::string() : describe(failure_, error_);
}

struct ArenaOptions {
  // Worker threads; 0: hardware threads minus `reactors`, at least 1.
  unsigned threads = 0;
  unsigned reactors = 1;
  // Offloads accepted and not yet delivered (or dropped); past it offload answers
  // kOverloaded at once.
  std::size_t max_in_flight = 4096;
  // How often the poller calls parked device polls.
  std::chrono::microseconds poll_interval{200};
  // Shutdown: how long work in flight may take to finish before it is cancelled.
  std::chrono::milliseconds shutdown_grace{2'000};
};

struct ArenaCounters {
  std::uint64_t submitted = 0;   // offloads accepted
  std::uint64_t overloaded = 0;  // refused at once: max_in_flight
  std::uint64_t completed = 0;   // results (values or exceptions) produced by work or polls
  std::uint64_t delivered = 0;   // `then` called with a result or failure on the reactor
  std::uint64_t dropped = 0;     // results for a stopped actor or a stopped reactor: freed
  std::uint64_t cancelled = 0;   // delivered as kCancelled
  std::uint64_t polls = 0;       // device poll calls
  std::uint64_t in_flight = 0;   // now: accepted, not yet delivered or dropped
  std::uint64_t parked = 0;      // now: device tasks waiting for their poll to say done
  std::uint64_t runner_failures = 0;  // runners TBB could not take (out of memory): their jobs
                                      // waited for the next offload (or shutdown) to run
};

// The arena's counters as metrics (in flight, done, overloaded, cancelled, dropped, ...).
void write_metrics(const ArenaCounters& c, runtime::MetricsWriter& w);

namespace detail {

// Counters and the in-flight bound, shared with jobs that may outlive the arena in a
// reactor's invoke queue.
struct Shared {
  // Written by the requesting reactors.
  std::atomic<std::uint64_t> submitted{0}, overloaded{0}, delivered{0}, dropped{0}, cancelled{0}, in_flight{0};
  // Written by workers and the poller: a cache line of their own.
  alignas(64) std::atomic<std::uint64_t> completed{0}, polls{0}, parked{0}, runner_failures{0};
  // Accepted jobs whose work or poll has not finished; shutdown waits for zero on `idle`
  // (under `m`). Here rather than in the arena: the thread that brings it to zero still
  // notifies after shutdown may have returned, through its own reference to this.
  alignas(64) std::atomic<std::size_t> running{0};
  alignas(64) std::mutex m;
  std::condition_variable idle;
};

// One offload, type-erased for the arena: the work (or launch + poll), `then`, the result.
// It lives in the block its Control heads (make_job); JobPtr destroys it and releases the
// block.
struct JobBase {
  JobBase(actors::ActorId t, Control* c, std::shared_ptr<Shared> s) noexcept
      : target(t), control(c), shared(std::move(s)) {}
  virtual ~JobBase();
  JobBase(const JobBase&) = delete;
  JobBase& operator=(const JobBase&) = delete;

  // On a worker. True: a result (or failure) is stored; false: parked, poll() from now on.
  virtual bool run() = 0;
  // On the poller. True when a result is stored.
  virtual bool poll() = 0;
  virtual void fail(Failure f, std::exception_ptr e = nullptr) noexcept = 0;
  // On the target's reactor, as its handler.
  virtual void call_then() = 0;

  CancelToken token() const noexcept { return CancelToken(control); }
  bool cancelled() const noexcept { return token().cancelled(); }

  actors::ActorId target;
  Control* control;  // the block's head: outlives the job while a Ticket holds it
  std::shared_ptr<Shared> shared;
  bool finished = false;  // `then` was called (else the destructor counts a drop)
  bool counted = false;   // holds one unit of the in-flight bound
};

struct JobDelete {
  void operator()(JobBase* job) const noexcept {
    Control* c = job->control;
    job->~JobBase();
    c->release();
  }
};
using JobPtr = std::unique_ptr<JobBase, JobDelete>;

// One block for the Control and the job J after it; the Control is filled in by the arena.
template <typename J, typename... Args>
JobPtr make_job(Args&&... args) {
  constexpr std::size_t kHead = (sizeof(Control) + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) *
                                alignof(std::max_align_t);
  // The pool's blocks are aligned as operator new's; a more aligned job gets slack.
  constexpr std::size_t kSlack = alignof(J) > alignof(std::max_align_t) ? alignof(J) : 0;
  constexpr std::size_t kBytes = kHead + kSlack + sizeof(J);
  static_assert(kBytes <= UINT32_MAX, "an offload's work and then are too large");
  void* block = pool_allocate(kBytes);
  auto* control = new (block) Control;
  control->block_bytes = static_cast<std::uint32_t>(kBytes);
  const auto at = reinterpret_cast<std::uintptr_t>(block) + kHead;
  void* place = reinterpret_cast<void*>((at + alignof(J) - 1) / alignof(J) * alignof(J));
  try {
    return JobPtr(new (place) J(control, std::forward<Args>(args)...));
  } catch (...) {
    control->release();
    throw;
  }
}

template <typename W>
decltype(auto) invoke_work(W& w, const CancelToken& t) {
  if constexpr (std::is_invocable_v<W&, const CancelToken&>) {
    return w(t);
  } else {
    return w();
  }
}

template <typename W>
using work_result_t = std::decay_t<decltype(invoke_work(std::declval<W&>(), std::declval<const CancelToken&>()))>;

template <typename R, typename Work, typename Then>
struct Job final : JobBase {
  template <typename W, typename T>
  Job(Control* c, actors::ActorId t, std::shared_ptr<Shared> s, W&& w, T&& th)
      : JobBase(t, c, std::move(s)), work(std::forward<W>(w)), then(std::forward<T>(th)) {}
  bool run() override {
    try {
      if constexpr (std::is_void_v<R>) {
        invoke_work(work, token());
        result.set_value();
      } else {
        result.set_value(invoke_work(work, token()));
      }
    } catch (...) {
      result.set_failure(Failure::kException, std::current_exception());
    }
    return true;
  }
  bool poll() override { return true; }
  void fail(Failure f, std::exception_ptr e) noexcept override { result.set_failure(f, std::move(e)); }
  void call_then() override { then(std::move(result)); }
  Work work;
  Then then;
  Result<R> result;
};

template <typename R, typename Launch, typename Then>
struct PolledJob final : JobBase {
  using PollFn = runtime::UniqueFunction<std::optional<R>()>;
  template <typename L, typename T>
  PolledJob(Control* c, actors::ActorId t, std::shared_ptr<Shared> s, L&& l, T&& th)
      : JobBase(t, c, std::move(s)), launch(std::forward<L>(l)), then(std::forward<T>(th)) {}
  bool run() override {
    try {
      poll_fn = PollFn(invoke_work(launch, token()));
      return false;  // launched: park
    } catch (...) {
      result.set_failure(Failure::kException, std::current_exception());
      return true;
    }
  }
  bool poll() override {
    try {
      std::optional<R> v = poll_fn();
      if (!v) return false;
      result.set_value(std::move(*v));
    } catch (...) {
      result.set_failure(Failure::kException, std::current_exception());
    }
    return true;
  }
  void fail(Failure f, std::exception_ptr e) noexcept override { result.set_failure(f, std::move(e)); }
  void call_then() override { then(std::move(result)); }
  Launch launch;
  Then then;
  PollFn poll_fn;
  Result<R> result;
};

}  // namespace detail

class WorkerArena {
 public:
  // Starts the arena (the poller thread starts with the first polled task). Throws
  // std::invalid_argument for bad options.
  explicit WorkerArena(ArenaOptions options = {});
  ~WorkerArena();  // shutdown()
  WorkerArena(const WorkerArena&) = delete;
  WorkerArena& operator=(const WorkerArena&) = delete;

  // Runs `work` (callable as work(const CancelToken&) or work()) on the arena; `then`
  // (callable with Result<R>) runs on the requester's actor, on its reactor, as its
  // handler. Call from that actor's reactor thread. The work follows the requester's
  // lifeline and its reactor's (Reactor::lifeline): once either is cut, work that has not
  // started is skipped and `then` gets kCancelled. Costs one block from a per-thread pool
  // (the job with its control), a queue push, and a tbb task only when no runner is busy.
  template <typename Work, typename Then>
  Ticket offload(const actors::Requester& who, Work&& work, Then&& then) {
    using R = detail::work_result_t<std::decay_t<Work>>;
    static_assert(std::is_invocable_v<std::decay_t<Then>&, Result<R>>, "then must accept offload::Result<R>");
    detail::JobPtr job = detail::make_job<detail::Job<R, std::decay_t<Work>, std::decay_t<Then>>>(
        who.actor, shared_, std::forward<Work>(work), std::forward<Then>(then));
    return submit(std::move(job), who);
  }
  template <typename Work, typename Then>
  Ticket offload(actors::ActorId self, Work&& work, Then&& then) {
    return offload(actors::Requester{self, {}}, std::forward<Work>(work), std::forward<Then>(then));
  }
  template <typename Work, typename Then>
  Ticket offload(const actors::Actor& self, Work&& work, Then&& then) {
    return offload(actors::Requester{self.id(), {}}, std::forward<Work>(work), std::forward<Then>(then));
  }
  // On behalf of a pending answer (an http::DeferredResponse from res.defer()): runs as its
  // requester() says, and `then` (callable as then(Result<R>, P&)) gets the answer back to
  // complete it. If the requesting actor is gone first, the answer is destroyed uncalled
  // (a DeferredResponse then counts a drop).
  template <typename P, typename Work, typename Then>
    requires actors::PendingAnswer<std::decay_t<P>>
  Ticket offload(P&& pending, Work&& work, Then&& then) {
    using R = detail::work_result_t<std::decay_t<Work>>;
    static_assert(std::is_invocable_v<std::decay_t<Then>&, Result<R>, std::decay_t<P>&>,
                  "then must accept (offload::Result<R>, the pending answer&)");
    const actors::Requester who = pending.requester();
    return offload(who, std::forward<Work>(work),
                   [p = std::decay_t<P>(std::forward<P>(pending)), t = std::decay_t<Then>(std::forward<Then>(then))](
                       Result<R> r) mutable { t(std::move(r), p); });
  }

  // A polled device task: `launch` (callable as launch(const CancelToken&) or launch())
  // runs on a worker, starts the device work and returns a poll function, callable as
  // std::optional<R>() (nullopt while not done). The poller calls it every poll_interval;
  // the first value travels to `then` like any result. Cancelling a parked task drops its
  // poll (the device work itself is the launcher's to abort) and answers kCancelled.
  template <typename Launch, typename Then>
  Ticket offload_polled(const actors::Requester& who, Launch&& launch, Then&& then) {
    using PollFn = detail::work_result_t<std::decay_t<Launch>>;
    using R = typename std::invoke_result_t<PollFn&>::value_type;
    static_assert(std::is_invocable_v<std::decay_t<Then>&, Result<R>>, "then must accept offload::Result<R>");
    detail::JobPtr job = detail::make_job<detail::PolledJob<R, std::decay_t<Launch>, std::decay_t<Then>>>(
        who.actor, shared_, std::forward<Launch>(launch), std::forward<Then>(then));
    return submit(std::move(job), who);
  }
  template <typename Launch, typename Then>
  Ticket offload_polled(actors::ActorId self, Launch&& launch, Then&& then) {
    return offload_polled(actors::Requester{self, {}}, std::forward<Launch>(launch), std::forward<Then>(then));
  }
  template <typename Launch, typename Then>
  Ticket offload_polled(const actors::Actor& self, Launch&& launch, Then&& then) {
    return offload_polled(actors::Requester{self.id(), {}}, std::forward<Launch>(launch), std::forward<Then>(then));
  }
  // On behalf of a pending answer, as offload() above: then(Result<R>, P&).
  template <typename P, typename Launch, typename Then>
    requires actors::PendingAnswer<std::decay_t<P>>
  Ticket offload_polled(P&& pending, Launch&& launch, Then&& then) {
    using PollFn = detail::work_result_t<std::decay_t<Launch>>;
    using R = typename std::invoke_result_t<PollFn&>::value_type;
    const actors::Requester who = pending.requester();
    return offload_polled(who, std::forward<Launch>(launch),
                          [p = std::decay_t<P>(std::forward<P>(pending)),
                           t = std::decay_t<Then>(std::forward<Then>(then))](Result<R> r) mutable { t(std::move(r), p); });
  }

  // Stops as described above. Idempotent; any thread but a worker's.
  void shutdown();

  unsigned threads() const noexcept { return threads_; }
  const ArenaOptions& options() const noexcept { return options_; }
  ArenaCounters counters() const noexcept;
  // counters() as metrics (see http::Server::metrics). Any thread.
  void write_metrics(runtime::MetricsWriter& w) const { offload::write_metrics(counters(), w); }

 private:
  struct Impl;
  Ticket submit(detail::JobPtr job, const actors::Requester& who);
  bool start_runner() noexcept;
  void drain_queue();
  void run_queue();
  bool execute(detail::JobPtr job);
  void park(detail::JobPtr job);
  static void finish_running(detail::Shared& shared, std::size_t n);
  void poll_loop();

  ArenaOptions options_;
  unsigned threads_;
  std::atomic<bool> stopping_{false};
  std::shared_ptr<detail::Shared> shared_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringactor::offload
