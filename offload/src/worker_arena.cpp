// WorkerArena: the oneTBB arena, the in-flight bound, result delivery through the target
// reactor's invoke queue, the device poller, and the shutdown policy.
#include "ringactor/offload/worker_arena.hpp"
#include "arena_testing.hpp"

#include <concurrentqueue/concurrentqueue.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

// ThreadSanitizer cannot see the synchronisation inside libtbb (built without it), so the
// hand-off of a job from the submitting thread to the worker is announced explicitly.
#if defined(__SANITIZE_THREAD__)
#define RINGACTOR_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RINGACTOR_TSAN 1
#endif
#endif
#ifdef RINGACTOR_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char* file, int line);
#define RINGACTOR_HANDOFF_RELEASE(p) __tsan_release(p)
#define RINGACTOR_HANDOFF_ACQUIRE(p) __tsan_acquire(p)
// TBB builds its task object (holding our lambda) inline here and hands it over inside
// libtbb: its writes are not recorded, so the worker's reads of the lambda do not race.
#define RINGACTOR_TBB_WRITES_BEGIN() AnnotateIgnoreWritesBegin(__FILE__, __LINE__)
#define RINGACTOR_TBB_WRITES_END() AnnotateIgnoreWritesEnd(__FILE__, __LINE__)
#else
#define RINGACTOR_HANDOFF_RELEASE(p) (void)(p)
#define RINGACTOR_HANDOFF_ACQUIRE(p) (void)(p)
#define RINGACTOR_TBB_WRITES_BEGIN() (void)0
#define RINGACTOR_TBB_WRITES_END() (void)0
#endif

namespace ringactor::offload {

std::string_view to_string(Failure f) noexcept {
  switch (f) {
    case Failure::kNone: return "none";
    case Failure::kOverloaded: return "overloaded";
    case Failure::kCancelled: return "cancelled";
    case Failure::kShutdown: return "shutdown";
    case Failure::kException: return "exception";
  }
  return "?";
}

std::string describe(Failure f, const std::exception_ptr& e) {
  if (f == Failure::kException && e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      return ex.what();
    } catch (...) {
      return "a non-std exception";
    }
  }
  return std::string(to_string(f));
}

namespace detail {

namespace {

constexpr std::size_t kClassBytes = 64;
constexpr std::size_t kClasses = 16;        // 64 B .. 1 KiB
constexpr std::size_t kPerClass = 256;      // blocks kept per class and thread

struct BlockCache {
  std::array<std::vector<void*>, kClasses> free;
  ~BlockCache() {
    dead = true;
    for (auto& list : free) {
      for (void* p : list) ::operator delete(p);
    }
  }
  // Trivially destructible, so still readable while the thread's other thread_locals are
  // being destroyed: a block freed then goes back to the heap.
  static thread_local bool dead;
};
thread_local bool BlockCache::dead = false;

BlockCache& block_cache() {
  thread_local BlockCache cache;
  return cache;
}

std::size_t class_of(std::size_t bytes) noexcept { return (bytes + kClassBytes - 1) / kClassBytes - 1; }

}  // namespace

void* pool_allocate(std::size_t bytes) {
  const std::size_t c = class_of(bytes);
  if (c < kClasses && !BlockCache::dead) {
    std::vector<void*>& list = block_cache().free[c];
    if (!list.empty()) {
      void* p = list.back();
      list.pop_back();
      return p;
    }
    return ::operator new((c + 1) * kClassBytes);
  }
  return ::operator new(bytes);
}

void pool_deallocate(void* p, std::size_t bytes) noexcept {
  const std::size_t c = class_of(bytes);
  if (c < kClasses && !BlockCache::dead) {
    std::vector<void*>& list = block_cache().free[c];
    if (list.size() < kPerClass) {
      if (list.capacity() == 0) {
        try {
          list.reserve(kPerClass);
        } catch (...) {
          ::operator delete(p);
          return;
        }
      }
      list.push_back(p);
      return;
    }
  }
  ::operator delete(p);
}

JobBase::~JobBase() {
  if (!finished) shared->dropped.fetch_add(1, std::memory_order_relaxed);
  if (counted) shared->in_flight.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace detail

struct WorkerArena::Impl {
  explicit Impl(unsigned threads)
      // One more than the workers: TBB's pool counts the calling thread as one of them.
      : limit(tbb::global_control::max_allowed_parallelism,
              std::max<std::size_t>(threads + 1, tbb::global_control::active_value(
                                                     tbb::global_control::max_allowed_parallelism))),
        // No slot reserved for an external thread: enqueued work is run by workers only.
        arena(static_cast<int>(threads), 0),
        max_runners(threads) {}

  tbb::global_control limit;
  tbb::task_arena arena;
  // Accepted jobs wait here for a runner: a task of the arena that runs jobs until the
  // queue is empty. One tbb task per job cost more than the tiny job itself (its
  // allocation, the arena's locked lane, waking a worker); a runner costs that once per
  // burst. At most one runner per worker thread.
  moodycamel::ConcurrentQueue<detail::JobBase*> queue;
  alignas(64) std::atomic<unsigned> runners{0};
  const unsigned max_runners;
  std::mutex m;
  std::condition_variable cv;      // parked work arrived / poller stop
  std::vector<detail::JobPtr> parked;
  std::thread poller;
  bool poller_stop = false;
  bool shut = false;
  std::atomic<bool> accepting{true};
};

WorkerArena::WorkerArena(ArenaOptions options)
    : options_(options), shared_(std::make_shared<detail::Shared>()) {
  if (options_.max_in_flight == 0) throw std::invalid_argument("WorkerArena: max_in_flight must be at least 1");
  if (options_.poll_interval.count() <= 0) throw std::invalid_argument("WorkerArena: poll_interval must be positive");
  if (options_.shutdown_grace.count() < 0) throw std::invalid_argument("WorkerArena: shutdown_grace must not be negative");
  unsigned n = options_.threads;
  if (n == 0) {
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    n = hw > options_.reactors ? hw - options_.reactors : 1;
  }
  if (n > 1024) throw std::invalid_argument("WorkerArena: more than 1024 threads asked");
  threads_ = n;
  impl_ = std::make_unique<Impl>(n);
  impl_->arena.initialize();
}

WorkerArena::~WorkerArena() { shutdown(); }

namespace {

// Hands a finished job to its actor's reactor. The message runs as the actor's handler;
// if the actor is gone it is called with nullptr, and if the reactor has stopped it is
// destroyed uncalled: either way the job's destructor counts the drop.
void post_result(detail::JobPtr job) {
  const actors::ActorId target = job->target;
  actors::Stage::send(target, [job = std::move(job)](actors::Actor* a) mutable {
    if (a == nullptr) return;
    detail::Shared& s = *job->shared;
    if (job->control->abandoned()) {
      job->fail(Failure::kCancelled);
      s.cancelled.fetch_add(1, std::memory_order_relaxed);
    }
    job->finished = true;
    s.delivered.fetch_add(1, std::memory_order_relaxed);
    job->call_then();
  });
}

// Answers a job that was never accepted, inside offload(): the caller is the target
// actor's handler, so `then` runs right here.
void answer_now(detail::JobBase& job, Failure f) {
  job.fail(f);
  job.finished = true;
  job.shared->delivered.fetch_add(1, std::memory_order_relaxed);
  job.call_then();
}

}  // namespace

Ticket WorkerArena::submit(detail::JobPtr job, const actors::Requester& who) {
  detail::Control* control = job->control;
  control->arena_stopping = &stopping_;
  if (who.actor.stage != nullptr) control->reactor = who.actor.stage->reactor().lifeline();
  control->requester = who.lifeline;
  if (!impl_->accepting.load(std::memory_order_acquire)) {
    answer_now(*job, Failure::kShutdown);
    return Ticket(control, false);
  }
  if (shared_->in_flight.fetch_add(1, std::memory_order_relaxed) >= options_.max_in_flight) {
    shared_->in_flight.fetch_sub(1, std::memory_order_relaxed);
    shared_->overloaded.fetch_add(1, std::memory_order_relaxed);
    answer_now(*job, Failure::kOverloaded);
    return Ticket(control, false);
  }
  job->counted = true;
  shared_->running.fetch_add(1, std::memory_order_relaxed);
  // Held before the job leaves: a result refused by a stopped reactor is destroyed on the
  // worker, which may happen before this returns.
  Ticket ticket(control, true);
  detail::JobBase* raw = job.release();
  RINGACTOR_HANDOFF_RELEASE(raw);
  if (!impl_->queue.enqueue(raw)) {  // out of memory for the queue's next block
    job.reset(raw);
    finish_running(*shared_, 1);
    shared_->overloaded.fetch_add(1, std::memory_order_relaxed);
    answer_now(*job, Failure::kOverloaded);
    ticket.accepted_ = false;
    return ticket;
  }
  shared_->submitted.fetch_add(1, std::memory_order_relaxed);
  // Pairs with the fence in run_queue(): either a runner leaving sees this job in the
  // queue, or this sees that runner gone and starts another.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  start_runner();
  return ticket;
}

namespace {
constexpr std::size_t kRunnerBatch = 32;  // jobs a runner takes from the queue at once, at most
}  // namespace

namespace detail {
// Fault injection for tests (offload/src/arena_testing.hpp): the next N runner starts fail
// as if TBB were out of memory.
std::atomic<int> fail_runner_starts{0};
}  // namespace detail

// Starts a runner unless every worker already has one. False when TBB could not take it
// (out of memory for the task): the counts are taken back, and the queued jobs wait for
// a runner that starts later (the next offload, a running runner, or shutdown).
bool WorkerArena::start_runner() noexcept {
  Impl& im = *impl_;
  unsigned r = im.runners.load(std::memory_order_relaxed);
  while (r < im.max_runners) {
    if (im.runners.compare_exchange_weak(r, r + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
      shared_->running.fetch_add(1, std::memory_order_relaxed);  // the runner's own unit
      bool ignoring = false;
      try {
        if (detail::fail_runner_starts.load(std::memory_order_relaxed) > 0 &&
            detail::fail_runner_starts.fetch_sub(1, std::memory_order_relaxed) > 0) {
          throw std::bad_alloc();
        }
        // oneTBB builds its task object (holding this lambda) here and hands it over inside
        // libtbb, unseen by ThreadSanitizer.
        RINGACTOR_TBB_WRITES_BEGIN();
        ignoring = true;
        im.arena.enqueue([this] { run_queue(); });
        ignoring = false;
        RINGACTOR_TBB_WRITES_END();
      } catch (...) {
        if (ignoring) RINGACTOR_TBB_WRITES_END();
        im.runners.fetch_sub(1, std::memory_order_seq_cst);
        shared_->runner_failures.fetch_add(1, std::memory_order_relaxed);
        finish_running(*shared_, 1);
        return false;
      }
      return true;
    }
  }
  return true;
}

// Shutdown, when no runner could be started: runs what waits in the queue on the calling
// thread. Past the grace every job reads cancelled, so this only answers them (kShutdown).
void WorkerArena::drain_queue() {
  std::shared_ptr<detail::Shared> keep = shared_;
  detail::JobBase* job = nullptr;
  while (impl_->queue.try_dequeue(job)) {
    RINGACTOR_HANDOFF_ACQUIRE(job);
    if (execute(detail::JobPtr(job))) finish_running(*keep, 1);
  }
}

// On a worker: runs queued jobs until the queue is empty. The arena outlives this call:
// the runner and every job it finished count in `running` until the finish_running() at
// the end, and shutdown waits for zero.
void WorkerArena::run_queue() {
  Impl& im = *impl_;
  std::shared_ptr<detail::Shared> keep = shared_;  // shutdown may return once running is 0
  std::size_t finished = 0;
  std::array<detail::JobBase*, kRunnerBatch> batch;
  for (;;) {
    for (;;) {
      // Jobs are taken several at a time: each take writes to the submitting thread's part
      // of the queue, which that thread is writing too. A runner among several takes only
      // its share of what waits, so that long jobs do not wait behind each other on one
      // worker while another is free.
      std::size_t want = kRunnerBatch;
      if (im.max_runners > 1) want = std::clamp<std::size_t>(im.queue.size_approx() / im.max_runners, 1, kRunnerBatch);
      const std::size_t got = im.queue.try_dequeue_bulk(batch.begin(), want);
      if (got == 0) break;
      for (std::size_t i = 0; i < got; ++i) {
        RINGACTOR_HANDOFF_ACQUIRE(batch[i]);
        if (execute(detail::JobPtr(batch[i]))) ++finished;
      }
    }
    im.runners.fetch_sub(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with the one in submit()
    if (im.queue.size_approx() == 0) break;
    // A job arrived after the last look, and its submitter may have seen this runner still
    // counted: take the slot back unless another runner already did.
    unsigned r = im.runners.load(std::memory_order_relaxed);
    bool again = false;
    while (!again && r < im.max_runners) {
      again = im.runners.compare_exchange_weak(r, r + 1, std::memory_order_seq_cst, std::memory_order_relaxed);
    }
    if (!again) break;
  }
  finish_running(*keep, finished + 1);
}

// On a worker. True when the job finished (its result is on its way); false when it was
// parked for the poller, which finishes it.
bool WorkerArena::execute(detail::JobPtr job) {
  bool done = true;
  if (job->cancelled()) {
    // Skipped before it started: its ticket, its requester's lifeline or the arena said so.
    job->fail(job->control->abandoned() ? Failure::kCancelled : Failure::kShutdown);
  } else {
    done = job->run();
    // Past the grace the arena cancelled everything: what the work returned then is not
    // delivered as a result.
    if (done && stopping_.load(std::memory_order_relaxed)) job->fail(Failure::kShutdown);
  }
  if (!done) {
    park(std::move(job));
    return false;
  }
  shared_->completed.fetch_add(1, std::memory_order_relaxed);
  post_result(std::move(job));
  return true;
}

void WorkerArena::finish_running(detail::Shared& shared, std::size_t n) {
  // One atomic per batch of jobs; the lock and the notification only when the count reaches zero
  // (what shutdown waits for). `shared` is kept alive by the caller: once running is zero,
  // shutdown() may return and the arena be destroyed while this thread is still here.
  if (shared.running.fetch_sub(n, std::memory_order_seq_cst) != n) return;
  const std::lock_guard<std::mutex> lock(shared.m);
  shared.idle.notify_all();
}

void WorkerArena::park(detail::JobPtr job) {
  const std::lock_guard<std::mutex> lock(impl_->m);
  impl_->parked.push_back(std::move(job));
  shared_->parked.fetch_add(1, std::memory_order_relaxed);
  if (!impl_->poller.joinable()) impl_->poller = std::thread([this] { poll_loop(); });
  impl_->cv.notify_all();
}

// The poller: every poll_interval, one pass over the parked device tasks.
void WorkerArena::poll_loop() {
  std::vector<detail::JobPtr> batch;
  std::vector<detail::JobPtr> still;
  std::unique_lock<std::mutex> lock(impl_->m);
  for (;;) {
    impl_->cv.wait(lock, [&] { return impl_->poller_stop || !impl_->parked.empty(); });
    if (impl_->parked.empty()) return;  // stop requested and nothing left
    batch.swap(impl_->parked);
    lock.unlock();
    std::size_t done = 0;
    for (auto& job : batch) {
      bool finished = false;
      if (job->cancelled()) {
        job->fail(job->control->abandoned() ? Failure::kCancelled : Failure::kShutdown);
        finished = true;
      } else {
        shared_->polls.fetch_add(1, std::memory_order_relaxed);
        finished = job->poll();
        if (finished) shared_->completed.fetch_add(1, std::memory_order_relaxed);
      }
      if (finished) {
        shared_->parked.fetch_sub(1, std::memory_order_relaxed);  // before its result can be seen
        post_result(std::move(job));
        ++done;
      } else {
        still.push_back(std::move(job));
      }
    }
    batch.clear();
    lock.lock();
    for (auto& job : still) impl_->parked.push_back(std::move(job));
    still.clear();
    if (done != 0) finish_running(*shared_, done);  // (the poller is joined by shutdown)
    if (!impl_->parked.empty()) {
      impl_->cv.wait_for(lock, options_.poll_interval, [&] { return impl_->poller_stop; });
    }
  }
}

void WorkerArena::shutdown() {
  if (!impl_) return;
  std::unique_lock<std::mutex> lock(impl_->m);
  if (impl_->shut) return;
  impl_->shut = true;
  impl_->accepting.store(false, std::memory_order_release);
  lock.unlock();
  detail::Shared& sh = *shared_;
  const auto idle = [&sh] { return sh.running.load(std::memory_order_seq_cst) == 0; };
  {
    // 1. Work in flight may finish and deliver normally, for up to shutdown_grace.
    std::unique_lock<std::mutex> wait(sh.m);
    sh.idle.wait_for(wait, options_.shutdown_grace, idle);
  }
  // 2. Then every token reads cancelled; parked polls end as kShutdown on the next pass.
  stopping_.store(true, std::memory_order_relaxed);
  lock.lock();
  impl_->cv.notify_all();
  lock.unlock();
  // Jobs queued while no runner could be started (out of memory) would hold the wait below
  // forever: start one now, or answer them here.
  if (impl_->queue.size_approx() != 0 && !start_runner()) drain_queue();
  {
    // 3. Wait for the work functions to return (they should check their token).
    std::unique_lock<std::mutex> wait(sh.m);
    sh.idle.wait(wait, idle);
  }
  lock.lock();
  impl_->poller_stop = true;
  impl_->cv.notify_all();
  lock.unlock();
  if (impl_->poller.joinable()) impl_->poller.join();
  impl_->arena.terminate();
}

void write_metrics(const ArenaCounters& c, runtime::MetricsWriter& w) {
  w.gauge("ringactor_offload_in_flight", "Offloads accepted and not yet delivered or dropped.", c.in_flight);
  w.gauge("ringactor_offload_parked", "Device tasks waiting for their poll to say done.", c.parked);
  w.counter("ringactor_offload_submitted_total", "Offloads accepted.", c.submitted);
  w.counter("ringactor_offload_overloaded_total", "Offloads refused at once: max_in_flight reached.", c.overloaded);
  w.counter("ringactor_offload_completed_total", "Results (values or exceptions) produced by work or polls.",
            c.completed);
  w.counter("ringactor_offload_delivered_total", "Results handed to their requester on its reactor.", c.delivered);
  w.counter("ringactor_offload_cancelled_total", "Offloads delivered as cancelled (ticket or lifeline).", c.cancelled);
  w.counter("ringactor_offload_dropped_total", "Results for a requester that was gone, freed.", c.dropped);
  w.counter("ringactor_offload_polls_total", "Device poll calls.", c.polls);
  w.counter("ringactor_offload_runner_failures_total",
            "Runner tasks the TBB arena could not take (out of memory); their jobs waited.", c.runner_failures);
}

ArenaCounters WorkerArena::counters() const noexcept {
  const detail::Shared& s = *shared_;
  auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  ArenaCounters c;
  c.submitted = get(s.submitted);
  c.overloaded = get(s.overloaded);
  c.completed = get(s.completed);
  c.delivered = get(s.delivered);
  c.dropped = get(s.dropped);
  c.cancelled = get(s.cancelled);
  c.polls = get(s.polls);
  c.in_flight = get(s.in_flight);
  c.parked = get(s.parked);
  c.runner_failures = get(s.runner_failures);
  return c;
}

}  // namespace ringactor::offload
