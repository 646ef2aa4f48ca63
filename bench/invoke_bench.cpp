// invoke_bench: closures posted to a reactor from another thread, against a raw baseline
// (a moodycamel ConcurrentQueue drained by a thread that sleeps in read() on an eventfd,
// woken with the same park-flag protocol), alternating, several rounds; each measurement runs
// in a process of its own (this program started again with --one reactor|raw).
//
//   invoke_bench [rounds]
//
//   flood:     one producer posts N closures as fast as it can; messages/s and eventfd
//              wake-ups per message (the consumer is busy: should be ~0).
//   pingpong:  post one closure, wait until it ran, repeat; round-trip median/p99 and
//              wake-ups per message (the consumer sleeps each time: ~1).
//
// The consumer (reactor) is pinned to CPU 0 and the producer to CPU 1.
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "invoke_queue.hpp"  // internal to the runtime
#include <ringactor/runtime/reactor.hpp>

namespace rt = ringactor::runtime;
using Clock = std::chrono::steady_clock;

#include "bench_util.hpp"

using ringactor::bench::median;
using ringactor::bench::pin;

namespace {


struct Result {
  double msgs_per_sec = 0;
  double wakeups_per_msg = 0;
  double p50_ns = 0;
  double p99_ns = 0;
};

// The raw baseline consumer: what the invoke queue would be with no reactor around it.
class RawConsumer {
 public:
  RawConsumer() : efd_(::eventfd(0, EFD_CLOEXEC)), queue_(efd_) {
    thread_ = std::thread([this] {
      pin(0);
      while (!stop_.load(std::memory_order_relaxed)) {
        if (queue_.drain(4096, [](auto& t) { t(); }) != 0) continue;
        if (!queue_.prepare_park()) continue;
        std::uint64_t v;
        if (::read(efd_, &v, sizeof v) < 0) break;
        queue_.unpark();
      }
    });
  }
  ~RawConsumer() {
    stop_ = true;
    queue_.post([] {});
    const std::uint64_t one = 1;
    (void)!::write(efd_, &one, sizeof one);
    thread_.join();
    ::close(efd_);
  }
  bool post(rt::UniqueFunction<void()> f) { return queue_.post(std::move(f)); }
  std::uint64_t wakeups() const { return queue_.wakeups(); }

 private:
  int efd_;
  rt::InvokeQueue queue_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class ReactorConsumer {
 public:
  ReactorConsumer() {
    thread_ = std::thread([this] {
      pin(0);
      reactor_.run();
    });
  }
  ~ReactorConsumer() {
    reactor_.stop();
    thread_.join();
  }
  bool post(rt::UniqueFunction<void()> f) { return reactor_.post(std::move(f)); }
  std::uint64_t wakeups() const { return reactor_.counters().wakeups; }

 private:
  rt::Reactor reactor_;
  std::thread thread_;
};

template <typename Consumer>
Result flood(Consumer& c, std::uint64_t n) {
  std::atomic<std::uint64_t> ran{0};
  const std::uint64_t w0 = c.wakeups();
  const auto t0 = Clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    c.post([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  }
  while (ran.load(std::memory_order_relaxed) < n) std::this_thread::yield();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  Result r;
  r.msgs_per_sec = static_cast<double>(n) / secs;
  r.wakeups_per_msg = static_cast<double>(c.wakeups() - w0) / static_cast<double>(n);
  return r;
}

template <typename Consumer>
Result pingpong(Consumer& c, int n) {
  std::atomic<int> ran{0};
  std::vector<double> lat;
  lat.reserve(static_cast<std::size_t>(n));
  const std::uint64_t w0 = c.wakeups();
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    c.post([&ran] { ran.fetch_add(1, std::memory_order_release); });
    while (ran.load(std::memory_order_acquire) <= i) {
    }
    lat.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
    // Let the consumer go back to sleep, so every message meets a parked consumer.
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  std::sort(lat.begin(), lat.end());
  Result r;
  r.p50_ns = lat[lat.size() / 2];
  r.p99_ns = lat[lat.size() * 99 / 100];
  r.wakeups_per_msg = static_cast<double>(c.wakeups() - w0) / n;
  return r;
}

constexpr std::uint64_t kFloodN = 2'000'000;
constexpr int kPingN = 5000;

}  // namespace

// One measurement of one consumer in this process: prints its five numbers.
template <typename Consumer>
int measure_one() {
  pin(1);
  Consumer c;
  const Result f = flood(c, kFloodN);
  const Result p = pingpong(c, kPingN);
  std::printf("%.0f %.6f %.0f %.0f %.3f\n", f.msgs_per_sec, f.wakeups_per_msg, p.p50_ns, p.p99_ns,
              p.wakeups_per_msg);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--one") {
    if (std::string(argv[2]) == "reactor") return measure_one<ReactorConsumer>();
    if (std::string(argv[2]) == "raw") return measure_one<RawConsumer>();
    std::fprintf(stderr, "invoke_bench --one reactor|raw\n");
    return 2;
  }
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  std::vector<double> ours_tput, raw_tput, ours_wf, raw_wf, ours_p50, raw_p50, ours_p99, raw_p99, ours_wp, raw_wp;
  for (int round = 0; round < rounds; ++round) {
    // Alternate which consumer goes first.
    for (int k = 0; k < 2; ++k) {
      const bool reactor = (k == 0) == (round % 2 == 0);
      const std::string cmd = std::string(argv[0]) + " --one " + (reactor ? "reactor" : "raw");
      std::FILE* f = ::popen(cmd.c_str(), "r");
      double v[5] = {};
      if (f == nullptr || std::fscanf(f, "%lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4]) != 5) {
        std::fprintf(stderr, "invoke_bench: %s gave no numbers\n", cmd.c_str());
        return 1;
      }
      ::pclose(f);
      (reactor ? ours_tput : raw_tput).push_back(v[0]);
      (reactor ? ours_wf : raw_wf).push_back(v[1]);
      (reactor ? ours_p50 : raw_p50).push_back(v[2]);
      (reactor ? ours_p99 : raw_p99).push_back(v[3]);
      (reactor ? ours_wp : raw_wp).push_back(v[4]);
    }
    std::fprintf(stderr, "round %d: reactor %.2fM msg/s, raw %.2fM msg/s\n", round, ours_tput.back() / 1e6,
                 raw_tput.back() / 1e6);
  }
  std::printf("invoke queue, medians (min..max) of %d alternating rounds, each measurement in its own process "
              "(reactor on CPU 0, producer on CPU 1; flood N=%llu, ping-pong %d)\n",
              rounds, static_cast<unsigned long long>(kFloodN), kPingN);
  std::printf("%-34s %-30s %-30s %8s\n", "metric", "reactor", "raw baseline", "ratio");
  auto row = [](const char* name, std::vector<double> a, std::vector<double> b, const char* fmt) {
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    auto cell = [fmt](const std::vector<double>& v) {
      char m[32], lo[32], hi[32], out[112];
      std::snprintf(m, sizeof m, fmt, median(v));
      std::snprintf(lo, sizeof lo, fmt, v.front());
      std::snprintf(hi, sizeof hi, fmt, v.back());
      std::snprintf(out, sizeof out, "%s (%s..%s)", m, lo, hi);
      return std::string(out);
    };
    std::printf("%-34s %-30s %-30s %8.2f\n", name, cell(a).c_str(), cell(b).c_str(),
                median(b) != 0 ? median(a) / median(b) : 0.0);
  };
  row("flood: messages/s", ours_tput, raw_tput, "%.0f");
  row("flood: eventfd wake-ups/message", ours_wf, raw_wf, "%.6f");
  row("ping-pong: round trip p50 (ns)", ours_p50, raw_p50, "%.0f");
  row("ping-pong: round trip p99 (ns)", ours_p99, raw_p99, "%.0f");
  row("ping-pong: wake-ups/message", ours_wp, raw_wp, "%.3f");
  return 0;
}
