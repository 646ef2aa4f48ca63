// WorkerArena and offload(): results on the requesting actor's reactor thread, exceptions,
// stopped actors, the in-flight bound, 100k tasks exactly once, polled device tasks,
// jobs offered together running on every worker, cancellation, the shutdown policy, and
// runners TBB cannot take (out of memory). The reactor is stepped on the test thread
// (SteppedStage), so "the reactor thread" is this thread.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <ringactor/offload/worker_arena.hpp>

#include "actor_test_support.hpp"
#include "arena_testing.hpp"  // offload/src: fault injection

namespace {

using namespace ringactor::test;
using namespace std::chrono_literals;
namespace off = ringactor::offload;

// Holds workers until the test opens it.
struct Gate {
  std::atomic<bool> open{false};
  void wait() const {
    while (!open.load()) std::this_thread::sleep_for(100us);
  }
};

// What came back to the actor (written on the reactor thread only).
struct Log {
  std::vector<int> values;
  std::vector<off::Failure> failures;
  std::vector<std::string> messages;
  std::vector<std::thread::id> then_threads;
  std::atomic<int> work_runs{0};
  std::thread::id work_thread;
  std::size_t calls() const { return failures.size(); }
};

class Requester : public ra::Actor {
 public:
  Requester(off::WorkerArena& arena, Log& log) : arena_(arena), log_(log) {}

  void compute(int x, std::shared_ptr<Gate> gate) {
    Log* log = &log_;
    ticket = arena_.offload(
        *this,
        [x, gate, log] {
          ++log->work_runs;
          log->work_thread = std::this_thread::get_id();
          if (gate) gate->wait();
          if (x < 0) throw std::runtime_error("negative input " + std::to_string(x));
          return x * 2;
        },
        [this](off::Result<int> r) { record(std::move(r)); });
  }
  void until_cancelled(std::shared_ptr<std::atomic<bool>> started) {
    ticket = arena_.offload(
        *this,
        [started](const off::CancelToken& t) {
          started->store(true);
          while (!t.cancelled()) std::this_thread::sleep_for(200us);
          return 7;
        },
        [this](off::Result<int> r) { record(std::move(r)); });
  }
  // A fake device: done `after` from launch; the poll answers `value` then.
  void device(int value, std::chrono::milliseconds after) {
    ticket = arena_.offload_polled(
        *this,
        [value, after] {
          const auto due = std::chrono::steady_clock::now() + after;
          return [value, due]() -> std::optional<int> {
            if (std::chrono::steady_clock::now() < due) return std::nullopt;
            return value;
          };
        },
        [this](off::Result<int> r) { record(std::move(r)); });
  }
  void cancel() { ticket.cancel(); }

  off::Ticket ticket;

 private:
  void record(off::Result<int> r) {
    log_.then_threads.push_back(std::this_thread::get_id());
    log_.failures.push_back(r.failure());
    if (r) log_.values.push_back(*r);
    if (r.failure() == off::Failure::kException) log_.messages.push_back(r.message());
  }
  off::WorkerArena& arena_;
  Log& log_;
};

TEST(Offload, WorkRunsOnAWorkerAndTheResultOnTheReactorThread) {
  SteppedStage s;
  off::WorkerArena arena({.threads = 2});
  Log log;
  auto ref = s.stage().spawn<Requester>(arena, log);
  ref.tell(&Requester::compute, 21, std::shared_ptr<Gate>());
  ASSERT_TRUE(s.run_until([&] { return log.calls() == 1; }));
  EXPECT_EQ(log.values, std::vector<int>{42});
  EXPECT_EQ(log.then_threads[0], std::this_thread::get_id());
  EXPECT_NE(log.work_thread, std::this_thread::get_id());
  EXPECT_EQ(arena.counters().delivered, 1u);
  EXPECT_EQ(arena.counters().in_flight, 0u);
}

TEST(Offload, ExceptionsReachThen) {
  SteppedStage s;
  off::WorkerArena arena({.threads = 1});
  Log log;
  auto ref = s.stage().spawn<Requester>(arena, log);
  ref.tell(&Requester::compute, -1, std::shared_ptr<Gate>());
  ASSERT_TRUE(s.run_until([&] { return log.calls() == 1; }));
  EXPECT_EQ(log.failures[0], off::Failure::kException);
  EXPECT_EQ(log.messages, std::vector<std::string>{"negative input -1"});
}

TEST(Offload, AResultForAStoppedActorIsDroppedAndFreed) {
  SteppedStage s;
  off::WorkerArena arena({.threads = 1});
  Log log;
  auto gate = std::make_shared<Gate>();
  auto ref = s.stage().spawn<Requester>(arena, log);
  ref.tell(&Requester::compute, 5, gate);
  s.run_until([&] { return log.work_runs.load() == 1; });
  ref.stop();
  s.run_until([&] { return !s.stage().alive(ref.id()); });
  gate->open = true;
  ASSERT_TRUE(s.run_until([&] { return arena.counters().dropped == 1; }));
  s.run_for(20ms);
  EXPECT_EQ(log.calls(), 0u) << "then never runs for a stopped actor";
  EXPECT_EQ(arena.counters().in_flight, 0u);
}

TEST(Offload, PastTheBoundOffloadAnswersOverloadedAtOnce) {
  SteppedStage s;
  off::WorkerArena arena({.threads = 1, .max_in_flight = 2});
  Log log;
  auto gate = std::make_shared<Gate>();
  auto ref = s.stage().spawn<Requester>(arena, log);
  for (int i = 0; i < 3; ++i) ref.tell(&Requester::compute, i, gate);
  s.step();  // the three tells run: two accepted, the third refused inside offload()
  ASSERT_EQ(log.calls(), 1u);
  EXPECT_EQ(log.failures[0], off::Failure::kOverloaded);
  EXPECT_EQ(arena.counters().overloaded, 1u);
  gate->open = true;
  ASSERT_TRUE(s.run_until([&] { return log.calls() == 3; }));
  std::sort(log.values.begin(), log.values.end());  // TBB does not promise FIFO execution
  EXPECT_EQ(log.values, (std::vector<int>{0, 2}));
  // Capacity is back once the results were delivered.
  ref.tell(&Requester::compute, 10, std::shared_ptr<Gate>());
  ASSERT_TRUE(s.run_until([&] { return log.calls() == 4; }));
  EXPECT_EQ(log.values.back(), 20);
}

// Counts every result per task index; run under TSan in CI.
class Swarm : public ra::Actor {
 public:
  Swarm(off::WorkerArena& arena, std::vector<int>& seen) : arena_(arena), seen_(seen) {}
  void launch(int from, int to) {
    for (int i = from; i < to; ++i) {
      arena_.offload(
          *this, [i] { return i; },
          [this](off::Result<int> r) {
            if (r) ++seen_[static_cast<std::size_t>(*r)];
          });
    }
  }

 private:
  off::WorkerArena& arena_;
  std::vector<int>& seen_;
};

TEST(Offload, AHundredThousandTasksEachCompleteExactlyOnce) {
  SteppedStage s;
  off::WorkerArena arena({.threads = 2, .max_in_flight = 200'000});
  constexpr int kTasks = 100'000;
  std::vector<int> seen(kTasks, 0);
  auto ref = s.stage().spawn<Swarm>(arena, seen);
  for (int i = 0; i < kTasks; i += 10'000) ref.tell(&Swarm::launch, i, i + 10'000);
  ASSERT_TRUE(s.run_until([&] { return arena.counters().delivered == kTasks; }, 120s));
  int wrong = 0;
  for (int c : seen) wrong += c != 1;
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(arena.counters().completed, static_cast<std::uint64_t>(kTasks));
  EXPECT_EQ(arena.counters().in_flight, 0u);
}

// Offloads `count` jobs at once; each waits (up to 10 s) until `count` of them run at the
// same time, and answers whether they did.
class Meeting : public ra::Actor {
 public:
  explicit Meeting(off::WorkerArena& arena) : arena_(arena) {}
  void call(int count) {
    auto started = std::make_shared<std::atomic<int>>(0);
    for (int i = 0; i < count; ++i) {
      arena_.offload(
          *this,
          [started, count] {
            ++*started;
            const auto deadline = std::chrono::steady_clock::now() + 10s;
            while (started->load() < count && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
            return started->load() >= count;
          },
          [this](off::Result<bool> r) { (r && *r ? met : missed)++; });
    }
  }
  int met = 0;
  int missed = 0;

 private:
  off::WorkerArena& arena_;
};

TEST(Offload, JobsOfferedTogetherRunSideBySideOnEveryWorker) {
  // A runner takes several queued jobs at once only where one worker has them all: here
  // each of four workers must hold one of the four (a runner holding two would keep the
  // meeting from happening).
  SteppedStage s;
  off::WorkerArena arena({.threads = 4});
  auto ref = s.stage().spawn<Meeting>(arena);
  int* met = nullptr;
  int* missed = nullptr;
  s.stage().with_actor(ref.id(), [&](ra::Actor& a) {
    met = &static_cast<Meeting&>(a).met;
    missed = &static_cast<Meeting&>(a).missed;
  });
  for (int round = 1; round <= 3; ++round) {
    ref.tell(&Meeting::call, 4);
    ASSERT_TRUE(s.run_until([&] { return *met + *missed == 4 * round; }, 30s));
    EXPECT_EQ(*missed, 0) << "round " << round;
  }
}

TEST(Offload, PolledDeviceTasksCompleteWithoutHoldingAThread) {
  SteppedStage s;
  off::WorkerArena arena({.threads = 1, .poll_interval = 1ms});
  Log log;
  auto ref = s.stage().spawn<Requester>(arena, log);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) ref.tell(&Requester::device, 100 + i, std::chrono::milliseconds(400));
  // Three device tasks are parked on a one-thread arena, and ordinary work still runs.
  ASSERT_TRUE(s.run_until([&] { return arena.counters().parked == 3; }))
      << "parked " << arena.counters().parked << ", completed " << arena.counters().completed << ", polls "
      << arena.counters().polls;
  ref.tell(&Requester::compute, 4, std::shared_ptr<Gate>());
  ASSERT_TRUE(s.run_until([&] { return log.calls() == 1; }));
  EXPECT_EQ(log.values, std::vector<int>{8}) << "the worker is free while devices run";
  ASSERT_TRUE(s.run_until([&] { return log.calls() == 4; }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 400ms);
  std::vector<int> device_values(log.values.begin() + 1, log.values.end());
  std::sort(device_values.begin(), device_values.end());
  EXPECT_EQ(device_values, (std::vector<int>{100, 101, 102}));
  EXPECT_GT(arena.counters().polls, 3u) << "polled more than once each";
  EXPECT_EQ(arena.counters().parked, 0u);
}

TEST(Offload, CancellingBeforeTheWorkRunsSkipsIt) {
  SteppedStage s;
  off::WorkerArena arena({.threads = 1});
  Log log;
  auto gate = std::make_shared<Gate>();
  auto ref = s.stage().spawn<Requester>(arena, log);
  ref.tell(&Requester::compute, 1, gate);  // occupies the only worker
  s.run_until([&] { return log.work_runs.load() == 1; });
  ref.tell(&Requester::compute, 2, std::shared_ptr<Gate>());
  ref.tell(&Requester::cancel);  // cancels the second, still queued
  s.step();
  gate->open = true;
  ASSERT_TRUE(s.run_until([&] { return log.calls() == 2; }));
  EXPECT_EQ(log.values, std::vector<int>{2});
  EXPECT_EQ(log.failures[1], off::Failure::kCancelled);
  EXPECT_EQ(log.work_runs.load(), 1) << "the cancelled work never ran";
}

TEST(Offload, LongWorkSeesItsTokenCancelled) {
  SteppedStage s;
  off::WorkerArena arena({.threads = 1});
  Log log;
  auto started = std::make_shared<std::atomic<bool>>(false);
  auto ref = s.stage().spawn<Requester>(arena, log);
  ref.tell(&Requester::until_cancelled, started);
  ASSERT_TRUE(s.run_until([&] { return started->load(); }));
  ref.tell(&Requester::cancel);
  ASSERT_TRUE(s.run_until([&] { return log.calls() == 1; }));
  EXPECT_EQ(log.failures[0], off::Failure::kCancelled);
  EXPECT_EQ(arena.counters().cancelled, 1u);
}

TEST(Offload, CancellingAParkedDeviceTaskDropsItsPoll) {
  SteppedStage s;
  off::WorkerArena arena({.threads = 1, .poll_interval = 1ms});
  Log log;
  auto ref = s.stage().spawn<Requester>(arena, log);
  ref.tell(&Requester::device, 1, std::chrono::milliseconds(60'000));
  ASSERT_TRUE(s.run_until([&] { return arena.counters().parked == 1; }));
  ref.tell(&Requester::cancel);
  ASSERT_TRUE(s.run_until([&] { return log.calls() == 1; }));
  EXPECT_EQ(log.failures[0], off::Failure::kCancelled);
  EXPECT_EQ(arena.counters().parked, 0u);
}

TEST(Offload, ShutdownFinishesWithinTheGraceThenCancels) {
  SteppedStage s;
  Log log;
  auto started = std::make_shared<std::atomic<bool>>(false);
  auto gate = std::make_shared<Gate>();
  std::optional<ra::Ref<Requester>> ref;
  {
    off::WorkerArena arena({.threads = 3, .poll_interval = 1ms, .shutdown_grace = 150ms});
    ref = s.stage().spawn<Requester>(arena, log);
    ref->tell(&Requester::compute, 3, gate);            // finishes during the grace
    ref->tell(&Requester::until_cancelled, started);      // only stops when cancelled
    ref->tell(&Requester::device, 9, std::chrono::milliseconds(60'000));  // never done
    ASSERT_TRUE(s.run_until([&] { return started->load() && arena.counters().parked == 1; }));
    std::thread opener([gate] {
      std::this_thread::sleep_for(30ms);
      gate->open = true;
    });
    const auto t0 = std::chrono::steady_clock::now();
    arena.shutdown();  // returns once the long work saw its token
    const auto took = std::chrono::steady_clock::now() - t0;
    opener.join();
    EXPECT_GE(took, 140ms);
    EXPECT_LT(took, 5s);
    // After shutdown new work is refused at once.
    ref->tell(&Requester::compute, 1, std::shared_ptr<Gate>());
    s.step();
  }
  // Every result was posted before shutdown returned: delivered now, on the reactor.
  ASSERT_TRUE(s.run_until([&] { return log.calls() == 4; }));
  int shutdowns = 0;
  for (auto f : log.failures) shutdowns += f == off::Failure::kShutdown;
  EXPECT_EQ(log.values, std::vector<int>{6}) << "the quick work finished normally";
  EXPECT_EQ(shutdowns, 3) << "the long work, the parked poll and the late offload";
}

TEST(Offload, NoCallbackRunsAfterTheReactorStopped) {
  Log log;
  auto gate = std::make_shared<Gate>();
  {
    SteppedStage s;
    off::WorkerArena arena({.threads = 1});  // after the stage: destroyed first
    auto ref = s.stage().spawn<Requester>(arena, log);
    ref.tell(&Requester::compute, 1, gate);
    s.run_until([&] { return log.work_runs.load() == 1; });
    s.shutdown();  // the actor stops with the reactor
    gate->open = true;
    ASSERT_TRUE(eventually([&] { return arena.counters().dropped == 1; }));
    EXPECT_EQ(arena.counters().in_flight, 0u);
  }
  EXPECT_EQ(log.calls(), 0u);
}

TEST(Offload, OptionsAreChecked) {
  EXPECT_THROW(off::WorkerArena({.max_in_flight = 0}), std::invalid_argument);
  EXPECT_THROW(off::WorkerArena({.poll_interval = std::chrono::microseconds(0)}), std::invalid_argument);
  off::WorkerArena defaults;
  EXPECT_GE(defaults.threads(), 1u);
}

// TBB out of memory for a runner: offload() still returns normally, the job waits in the
// queue, and the next offload's runner runs both. Before, the exception left offload()
// with the runner count raised, so with one worker no job ever ran again.
TEST(Offload, AJobWhoseRunnerCouldNotStartRunsWithTheNextOffload) {
  SteppedStage s;
  off::WorkerArena arena({.threads = 1});
  Log log;
  auto ref = s.stage().spawn<Requester>(arena, log);
  off::detail::fail_runner_starts = 1;
  ref.tell(&Requester::compute, 1, std::shared_ptr<Gate>());
  ASSERT_TRUE(s.run_until([&] { return arena.counters().runner_failures == 1; }));
  EXPECT_EQ(arena.counters().submitted, 1u);
  s.step();
  EXPECT_EQ(log.work_runs.load(), 0) << "no runner: the job waits";
  ref.tell(&Requester::compute, 2, std::shared_ptr<Gate>());
  ASSERT_TRUE(s.run_until([&] { return log.calls() == 2; }));
  std::vector<int> values = log.values;
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, (std::vector<int>{2, 4}));
  EXPECT_EQ(arena.counters().in_flight, 0u);
  off::detail::fail_runner_starts = 0;
}

// No runner can be started at all: shutdown answers the queued jobs itself (kShutdown)
// instead of waiting for them forever.
TEST(Offload, ShutdownAnswersJobsThatNoRunnerCouldTake) {
  SteppedStage s;
  Log log;
  std::optional<ra::Ref<Requester>> ref;
  {
    off::WorkerArena arena({.threads = 1, .shutdown_grace = 50ms});
    ref = s.stage().spawn<Requester>(arena, log);
    off::detail::fail_runner_starts = 1000;
    ref->tell(&Requester::compute, 1, std::shared_ptr<Gate>());
    ref->tell(&Requester::compute, 2, std::shared_ptr<Gate>());
    ASSERT_TRUE(s.run_until([&] { return arena.counters().submitted == 2; }));
    EXPECT_GE(arena.counters().runner_failures, 2u);
    arena.shutdown();
    off::detail::fail_runner_starts = 0;
    EXPECT_EQ(log.work_runs.load(), 0);
  }
  ASSERT_TRUE(s.run_until([&] { return log.calls() == 2; }));
  EXPECT_EQ(log.failures, (std::vector<off::Failure>{off::Failure::kShutdown, off::Failure::kShutdown}));
}

}  // namespace
