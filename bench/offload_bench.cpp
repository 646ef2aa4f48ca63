// Offload round trip and throughput against a raw baseline with no actors.
//
//   offload_bench [rounds] [round_trips] [tiny_tasks]
//   offload_bench --one ours|raw idle|busy|tiny N   (one measurement; prints its numbers)
//
// Every measurement runs in a process of its own (this program started again with --one,
// which also serves to profile one side alone), the two sides alternating from round to
// round: in one process the second side inherited the first's TBB workers and heap.
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
#include <map>
#include <string>
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

// One measurement in this process: "p50 p99" (us) for idle and busy, tasks/s for tiny.
int measure_one(std::string_view side, std::string_view scenario, int n) {
  PinWorkers pin_workers;
  ringactor::bench::pin(0);
  if (side == "ours") {
    off::WorkerArena arena({.threads = 1, .max_in_flight = 70000});
    if (scenario == "tiny") {
      std::printf("%.0f\n", ours_throughput(arena, n));
      return 0;
    }
    auto v = ours_round_trips(arena, n, scenario == "busy");
    std::printf("%.3f %.3f\n", pct(v, 0.5), pct(v, 0.99));
    return 0;
  }
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, 2);
  tbb::task_arena raw(1, 0);
  if (scenario == "tiny") {
    std::printf("%.0f\n", raw_throughput(raw, n));
    return 0;
  }
  auto v = raw_round_trips(raw, n, scenario == "busy");
  std::printf("%.3f %.3f\n", pct(v, 0.5), pct(v, 0.99));
  return 0;
}

std::vector<double> run_child(const char* self, const char* side, const char* scenario, int n) {
  const std::string cmd = std::string(self) + " --one " + side + " " + scenario + " " + std::to_string(n);
  std::vector<double> out;
  std::FILE* f = ::popen(cmd.c_str(), "r");
  double v = 0;
  while (f != nullptr && std::fscanf(f, "%lf", &v) == 1) out.push_back(v);
  if (f != nullptr) ::pclose(f);
  if (out.empty()) {
    std::fprintf(stderr, "offload_bench: %s gave no number\n", cmd.c_str());
    std::exit(1);
  }
  return out;
}

std::string range(std::vector<double> v, double scale, int decimals) {
  std::sort(v.begin(), v.end());
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f (%.*f..%.*f)", decimals, ringactor::bench::median(v) / scale, decimals,
                v.front() / scale, decimals, v.back() / scale);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::string_view(argv[1]) == "--one") {
    const std::string_view side = argv[2], scenario = argv[3];
    if ((side != "ours" && side != "raw") || (scenario != "idle" && scenario != "busy" && scenario != "tiny")) {
      std::fprintf(stderr, "offload_bench --one ours|raw idle|busy|tiny N\n");
      return 2;
    }
    return measure_one(side, scenario, std::atoi(argv[4]));
  }
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  const int trips = argc > 2 ? std::atoi(argv[2]) : 20000;
  const int tiny = argc > 3 ? std::atoi(argv[3]) : 1000000;
  std::map<std::string, std::vector<double>> v;  // "side/scenario/stat" -> rounds
  for (int r = 0; r < rounds; ++r) {
    for (const char* scenario : {"idle", "busy", "tiny"}) {
      std::vector<const char*> sides = {"ours", "raw"};
      if (r % 2 == 1) std::reverse(sides.begin(), sides.end());
      for (const char* side : sides) {
        const bool tput = std::string_view(scenario) == "tiny";
        const auto got = run_child(argv[0], side, scenario, tput ? tiny : trips);
        const std::string k = std::string(side) + "/" + scenario;
        if (tput) {
          v[k].push_back(got[0]);
        } else {
          v[k + "/p50"].push_back(got[0]);
          v[k + "/p99"].push_back(got.size() > 1 ? got[1] : got[0]);
        }
      }
    }
    std::fprintf(stderr, "round %d of %d done\n", r + 1, rounds);
  }
  using ringactor::bench::median;
  std::printf("offload: medians (min..max) of %d alternating rounds, each measurement in its own process; "
              "%d round trips, %d tiny tasks (at most 65536 in flight)\n", rounds, trips, tiny);
  std::printf("%-22s %-24s %-24s %7s\n", "scenario", "ours", "raw", "ratio");
  for (const char* scenario : {"idle", "busy"}) {
    for (const char* stat : {"p50", "p99"}) {
      const std::string k = std::string("/") + scenario + "/" + stat;
      std::printf("%-22s %-24s %-24s %7.2f\n", (std::string(scenario) + " round trip " + stat + " us").c_str(),
                  range(v["ours" + k], 1, 2).c_str(), range(v["raw" + k], 1, 2).c_str(),
                  median(v["ours" + k]) / median(v["raw" + k]));
    }
  }
  std::printf("%-22s %-24s %-24s %7.2f\n", "tiny tasks, M/s", range(v["ours/tiny"], 1e6, 2).c_str(),
              range(v["raw/tiny"], 1e6, 2).c_str(), median(v["ours/tiny"]) / median(v["raw/tiny"]));
  std::printf("(round trips: ratio = ours / raw, lower is better; tiny tasks: ratio = ours / raw, higher is "
              "better)\n");
  return 0;
}
