// Offload round trip and throughput against a raw baseline with no actors.
//
//   offload_bench [rounds] [round_trips] [tiny_tasks] [both|ours|raw]
//
// The last argument runs one side alone, to profile it (`perf record`); the table then
// shows 0 for the other.
//
// Round trip: one task in flight at a time; an actor offloads a trivial task and offloads
// the next one from the result callback. Measured idle (the reactor sleeps between results
// and is woken through its eventfd) and busy (the reactor thread spins on poll(0), so every
// iteration drains the invoke queue without a wake-up). The raw baseline does the same with
// no actors and no reactor: tbb::task_arena::enqueue, the worker pushes the result into a
// moodycamel ConcurrentQueue, and writes an eventfd if the consumer is parked (idle) or the
// consumer spins on the queue (busy). Throughput: tiny tasks offloaded by one actor, at most
// 65536 in flight, results counted on the reactor. The reactor thread runs on CPU 0, the
// arena's one worker on CPU 1 (both pinned).
#include <sys/eventfd.h>
#include <unistd.h>

#include <concurrentqueue/concurrentqueue.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_scheduler_observer.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <ringactor/actors/stage.hpp>
#include <ringactor/offload/worker_arena.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "bench_util.hpp"

namespace rt = ringactor::runtime;
namespace ra = ringactor::actors;
namespace off = ringactor::offload;
using Clock = std::chrono::steady_clock;

namespace {

double us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }
double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

// ---- ours ------------------------------------------------------------------------------

class Pinger : public ra::Actor {
 public:
  Pinger(off::WorkerArena& arena, std::vector<double>& samples, int count)
      : arena_(arena), samples_(samples), left_(count) {}
  void start() { next(); }
  bool done() const { return left_ == 0; }

 private:
  void next() {
    t0_ = Clock::now();
    arena_.offload(*this, [] { return 1; }, [this](off::Result<int> r) {
      samples_.push_back(us(Clock::now() - t0_));
      if (!r) std::abort();
      if (--left_ > 0) next();
    });
  }
  off::WorkerArena& arena_;
  std::vector<double>& samples_;
  int left_;
  Clock::time_point t0_;
};

std::vector<double> ours_round_trips(off::WorkerArena& arena, int n, bool busy) {
  rt::Reactor reactor;
  ra::Stage stage(reactor);
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(n));
  auto p = stage.spawn<Pinger>(arena, samples, n);
  p.tell(&Pinger::start);
  while (samples.size() < static_cast<std::size_t>(n)) {
    if (busy) {
      reactor.poll(std::chrono::nanoseconds(0));
    } else {
      reactor.poll(std::chrono::milliseconds(100));
    }
  }
  reactor.stop();
  while (reactor.poll(std::chrono::milliseconds(1))) {
  }
  return samples;
}

class Flood : public ra::Actor {
 public:
  Flood(off::WorkerArena& arena, int total) : arena_(arena), total_(total) {}
  void start() { refill(); }
  int received = 0;

 private:
  void refill() {
    while (sent_ < total_ && sent_ - received < 65536) {
      ++sent_;
      arena_.offload(*this, [] { return 1; }, [this](off::Result<int> r) {
        received += *r;
        if (sent_ - received < 32768) refill();
      });
    }
  }
  off::WorkerArena& arena_;
  int total_;
  int sent_ = 0;
};

double ours_throughput(off::WorkerArena& arena, int n) {
  rt::Reactor reactor;
  ra::Stage stage(reactor);
  auto f = stage.spawn<Flood>(arena, n);
  const auto t0 = Clock::now();
  f.tell(&Flood::start);
  int got = 0;
  while (got < n) {
    reactor.poll(std::chrono::milliseconds(10));
    stage.with_actor(f.id(), [&](ra::Actor& a) { got = static_cast<Flood&>(a).received; });
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  reactor.stop();
  while (reactor.poll(std::chrono::milliseconds(1))) {
  }
  return n / secs;
}

// ---- raw baseline ------------------------------------------------------------------------

struct RawChannel {
  moodycamel::ConcurrentQueue<int> q;
  int efd = ::eventfd(0, EFD_CLOEXEC);
  std::atomic<bool> parked{false};
  ~RawChannel() { ::close(efd); }
  void push(int v) {
    q.enqueue(v);
    if (parked.load(std::memory_order_seq_cst) && parked.exchange(false)) {
      const std::uint64_t one = 1;
      if (::write(efd, &one, sizeof one) < 0) std::abort();
    }
  }
  int pop(bool busy) {
    int v;
    for (;;) {
      if (q.try_dequeue(v)) return v;
      if (busy) continue;
      parked.store(true, std::memory_order_seq_cst);
      if (q.try_dequeue(v)) {
        parked.store(false);
        return v;
      }
      std::uint64_t n;
      if (::read(efd, &n, sizeof n) < 0) std::abort();
    }
  }
};

std::vector<double> raw_round_trips(tbb::task_arena& arena, int n, bool busy) {
  RawChannel ch;
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    arena.enqueue([&ch] { ch.push(1); });
    if (ch.pop(busy) != 1) std::abort();
    samples.push_back(us(Clock::now() - t0));
  }
  return samples;
}

double raw_throughput(tbb::task_arena& arena, int n) {
  RawChannel ch;
  const auto t0 = Clock::now();
  int sent = 0, got = 0;
  while (got < n) {
    while (sent < n && sent - got < 65536) {
      ++sent;
      arena.enqueue([&ch] { ch.push(1); });
    }
    got += ch.pop(false);
    int v;
    while (ch.q.try_dequeue(v)) got += v;
  }
  return n / std::chrono::duration<double>(Clock::now() - t0).count();
}

// Pins every TBB worker (both arenas) to CPU 1 as it joins: the reactor or consumer
// thread owns CPU 0, and a spinning consumer must not share its CPU with the worker.
class PinWorkers : public tbb::task_scheduler_observer {
 public:
  PinWorkers() { observe(true); }
  ~PinWorkers() override { observe(false); }
  void on_scheduler_entry(bool is_worker) override {
    if (is_worker) ringactor::bench::pin(1);
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  const int trips = argc > 2 ? std::atoi(argv[2]) : 20000;
  const int tiny = argc > 3 ? std::atoi(argv[3]) : 1000000;
  const std::string_view side = argc > 4 ? argv[4] : "both";
  if (side != "both" && side != "ours" && side != "raw") {
    std::fprintf(stderr, "offload_bench: the fourth argument is both, ours or raw\n");
    return 2;
  }
  const bool run_ours = side != "raw", run_raw = side != "ours";
  PinWorkers pin_workers;
  ringactor::bench::pin(0);
  off::WorkerArena arena({.threads = 1, .max_in_flight = 70000});
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 2);
  tbb::task_arena raw(1, 0);
  struct Row {
    std::vector<double> p50, p99;
  };
  Row ours_idle, raw_idle, ours_busy, raw_busy;
  std::vector<double> ours_tput, raw_tput;
  for (int r = 0; r < rounds; ++r) {
    for (const bool busy : {false, true}) {
      auto a = run_ours ? ours_round_trips(arena, trips, busy) : std::vector<double>{0};
      auto b = run_raw ? raw_round_trips(raw, trips, busy) : std::vector<double>{0};
      Row& ro = busy ? ours_busy : ours_idle;
      Row& rr = busy ? raw_busy : raw_idle;
      ro.p50.push_back(pct(a, 0.5));
      ro.p99.push_back(pct(a, 0.99));
      rr.p50.push_back(pct(b, 0.5));
      rr.p99.push_back(pct(b, 0.99));
    }
    ours_tput.push_back(run_ours ? ours_throughput(arena, tiny) : 0);
    raw_tput.push_back(run_raw ? raw_throughput(raw, tiny) : 0);
  }
  using ringactor::bench::median;
  std::printf("offload round trip, us, medians of %d alternating rounds of %d trips\n", rounds, trips);
  std::printf("%-6s %10s %10s %10s %10s %8s %8s\n", "mode", "ours p50", "raw p50", "ours p99", "raw p99", "p50 x", "p99 x");
  for (const bool busy : {false, true}) {
    const Row& o = busy ? ours_busy : ours_idle;
    const Row& w = busy ? raw_busy : raw_idle;
    std::printf("%-6s %10.2f %10.2f %10.2f %10.2f %8.2f %8.2f\n", busy ? "busy" : "idle", median(o.p50),
                median(w.p50), median(o.p99), median(w.p99), median(o.p50) / median(w.p50),
                median(o.p99) / median(w.p99));
  }
  const auto [ours_lo, ours_hi] = std::minmax_element(ours_tput.begin(), ours_tput.end());
  const auto [raw_lo, raw_hi] = std::minmax_element(raw_tput.begin(), raw_tput.end());
  std::printf("tiny tasks: ours %.0f/s (%.0f-%.0f), raw %.0f/s (%.0f-%.0f), ratio %.2f, %d tasks, at most 65536 in flight\n",
              median(ours_tput), *ours_lo, *ours_hi, median(raw_tput), *raw_lo, *raw_hi,
              median(ours_tput) / median(raw_tput), tiny);
  return 0;
}
