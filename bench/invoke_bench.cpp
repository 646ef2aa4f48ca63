// invoke_bench: closures posted to a reactor from another thread, against a raw baseline
// (a moodycamel ConcurrentQueue drained by a thread that sleeps in read() on an eventfd,
// woken with the same park-flag protocol), in one run, alternating, several rounds.
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


}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  const std::uint64_t flood_n = 2'000'000;
  const int ping_n = 5000;
  pin(1);
  std::vector<double> ours_tput, raw_tput, ours_wf, raw_wf, ours_p50, raw_p50, ours_p99, raw_p99, ours_wp, raw_wp;
  for (int round = 0; round < rounds; ++round) {
    {
      ReactorConsumer c;
      const Result f = flood(c, flood_n);
      const Result p = pingpong(c, ping_n);
      ours_tput.push_back(f.msgs_per_sec);
      ours_wf.push_back(f.wakeups_per_msg);
      ours_p50.push_back(p.p50_ns);
      ours_p99.push_back(p.p99_ns);
      ours_wp.push_back(p.wakeups_per_msg);
    }
    {
      RawConsumer c;
      const Result f = flood(c, flood_n);
      const Result p = pingpong(c, ping_n);
      raw_tput.push_back(f.msgs_per_sec);
      raw_wf.push_back(f.wakeups_per_msg);
      raw_p50.push_back(p.p50_ns);
      raw_p99.push_back(p.p99_ns);
      raw_wp.push_back(p.wakeups_per_msg);
    }
    std::fprintf(stderr, "round %d: reactor %.2fM msg/s, raw %.2fM msg/s\n", round, ours_tput.back() / 1e6,
                 raw_tput.back() / 1e6);
  }
  std::printf("invoke queue, medians of %d alternating rounds (reactor on CPU 0, producer on CPU 1)\n", rounds);
  std::printf("%-34s %14s %14s %8s\n", "metric", "reactor", "raw baseline", "ratio");
  auto row = [](const char* name, double a, double b, const char* fmt) {
    char x[32], y[32];
    std::snprintf(x, sizeof x, fmt, a);
    std::snprintf(y, sizeof y, fmt, b);
    std::printf("%-34s %14s %14s %8.2f\n", name, x, y, b != 0 ? a / b : 0.0);
  };
  row("flood: messages/s", median(ours_tput), median(raw_tput), "%.0f");
  row("flood: eventfd wake-ups/message", median(ours_wf), median(raw_wf), "%.6f");
  row("ping-pong: round trip p50 (ns)", median(ours_p50), median(raw_p50), "%.0f");
  row("ping-pong: round trip p99 (ns)", median(ours_p99), median(raw_p99), "%.0f");
  row("ping-pong: wake-ups/message", median(ours_wp), median(raw_wp), "%.3f");
  return 0;
}
