// actor_bench: ringactor actors against CAF 0.17 (Debian libcaf-dev), the same scenarios in
// one run, alternating, several rounds; prints medians and ratios.
//
//   local tell:   one actor sends N messages to another on the same thread (CAF: a
//                 scheduler with one worker); messages/s until the receiver has them all.
//   ping-pong:    two actors bounce one message N times; ns per message.
//   cross-thread: a plain thread (CPU 1) sends N messages to an actor on another thread
//                 (CPU 0); messages/s until the receiver has them all.
//
// Usage: actor_bench [rounds] [N]
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include <ringactor/actors/stage.hpp>
#include <ringactor/runtime/reactor.hpp>

namespace ra = ringactor::actors;
namespace rt = ringactor::runtime;
using Clock = std::chrono::steady_clock;

#include "bench_util.hpp"

using ringactor::bench::median;
using ringactor::bench::pin;

namespace {


double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// ---- ringactor ------------------------------------------------------------------------------

class Counter : public ra::Actor {
 public:
  Counter(std::uint64_t n, std::promise<void>* done) : n_(n), done_(done) {}
  void hit(std::uint64_t) {
    if (++seen_ == n_) done_->set_value();
  }

 private:
  std::uint64_t n_;
  std::uint64_t seen_ = 0;
  std::promise<void>* done_;
};

class Sender : public ra::Actor {
 public:
  // Sends n messages at once (the receiver's queue grows to n).
  void blast(ra::Ref<Counter> to, std::uint64_t n) {
    for (std::uint64_t i = 0; i < n; ++i) to.tell(&Counter::hit, i);
  }
  // Sends n messages in batches of 1024, re-arming itself after each batch, so the
  // receiver's queue stays short (steady state rather than a burst).
  void batches(ra::Ref<Counter> to, std::uint64_t n) {
    const std::uint64_t batch = n < 1024 ? n : 1024;
    for (std::uint64_t i = 0; i < batch; ++i) to.tell(&Counter::hit, i);
    if (n > batch) self<Sender>().tell(&Sender::batches, to, n - batch);
  }
};

class Pong;
class Ping : public ra::Actor {
 public:
  Ping(std::uint64_t n, std::promise<void>* done) : n_(n), done_(done) {}
  void start(ra::Ref<Pong> pong);
  void ping(std::uint64_t k);

 private:
  ra::Ref<Pong> pong_;
  std::uint64_t n_;
  std::promise<void>* done_;
};
class Pong : public ra::Actor {
 public:
  void pong(ra::Ref<Ping> from, std::uint64_t k) { from.tell(&Ping::ping, k); }
};
void Ping::start(ra::Ref<Pong> pong) {
  pong_ = pong;
  pong_.tell(&Pong::pong, self<Ping>(), std::uint64_t{0});
}
void Ping::ping(std::uint64_t k) {
  if (k + 1 == n_) {
    done_->set_value();
    return;
  }
  pong_.tell(&Pong::pong, self<Ping>(), k + 1);
}

struct OurSystem {
  rt::Reactor reactor{rt::ReactorOptions{}};
  ra::Stage stage{reactor};
  std::thread thread;
  void start() {
    thread = std::thread([this] {
      pin(0);
      reactor.run();
    });
  }
  ~OurSystem() {
    reactor.stop();
    thread.join();
  }
};

double ours_local(std::uint64_t n, bool burst) {
  OurSystem s;
  std::promise<void> done;
  auto counter = s.stage.spawn<Counter>(n, &done);
  auto sender = s.stage.spawn<Sender>();
  s.start();
  const auto t0 = Clock::now();
  sender.tell(burst ? &Sender::blast : &Sender::batches, counter, n);
  done.get_future().wait();
  return static_cast<double>(n) / seconds_since(t0);
}

double ours_pingpong_ns(std::uint64_t n) {
  OurSystem s;
  std::promise<void> done;
  auto ping = s.stage.spawn<Ping>(n, &done);
  auto pong = s.stage.spawn<Pong>();
  s.start();
  const auto t0 = Clock::now();
  ping.tell(&Ping::start, pong);
  done.get_future().wait();
  return seconds_since(t0) * 1e9 / static_cast<double>(2 * n);  // two messages per round
}

double ours_cross(std::uint64_t n) {
  OurSystem s;
  std::promise<void> done;
  auto counter = s.stage.spawn<Counter>(n, &done);
  s.start();
  pin(1);
  const auto t0 = Clock::now();
  for (std::uint64_t i = 0; i < n; ++i) counter.tell(&Counter::hit, i);
  done.get_future().wait();
  return static_cast<double>(n) / seconds_since(t0);
}

// ---- CAF 0.17 -------------------------------------------------------------------------------

struct CafSystem {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  CafSystem() {
    cfg.set("scheduler.max-threads", 1);
    pin(0);  // the scheduler's worker inherits CPU 0
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

caf::behavior caf_counter(caf::event_based_actor*, std::uint64_t n, std::promise<void>* done) {
  auto seen = std::make_shared<std::uint64_t>(0);
  return {[=](std::uint64_t) {
    if (++*seen == n) done->set_value();
  }};
}

double caf_local(std::uint64_t n, bool burst) {
  CafSystem s;
  std::promise<void> done;
  auto counter = s.sys->spawn(caf_counter, n, &done);
  auto sender = s.sys->spawn([counter, burst](caf::event_based_actor* self) -> caf::behavior {
    return {[=](caf::atom_value, std::uint64_t left) {
      const std::uint64_t batch = burst ? left : (left < 1024 ? left : 1024);
      for (std::uint64_t i = 0; i < batch; ++i) self->send(counter, i);
      if (left > batch) self->send(self, caf::atom("go"), left - batch);
    }};
  });
  const auto t0 = Clock::now();
  caf::anon_send(sender, caf::atom("go"), n);
  done.get_future().wait();
  return static_cast<double>(n) / seconds_since(t0);
}

double caf_pingpong_ns(std::uint64_t n) {
  CafSystem s;
  std::promise<void> done;
  auto pong = s.sys->spawn([](caf::event_based_actor* self) -> caf::behavior {
    return {[=](std::uint64_t k) { self->send(caf::actor_cast<caf::actor>(self->current_sender()), k); }};
  });
  auto ping = s.sys->spawn([pong, n, &done](caf::event_based_actor* self) -> caf::behavior {
    return {[=, &done](std::uint64_t k) {
      if (k + 1 == n) {
        done.set_value();
        return;
      }
      self->send(pong, k + 1);
    }};
  });
  const auto t0 = Clock::now();
  caf::send_as(ping, pong, std::uint64_t{0});
  done.get_future().wait();
  return seconds_since(t0) * 1e9 / static_cast<double>(2 * n);
}

double caf_cross(std::uint64_t n) {
  CafSystem s;
  std::promise<void> done;
  auto counter = s.sys->spawn(caf_counter, n, &done);
  pin(1);
  const auto t0 = Clock::now();
  for (std::uint64_t i = 0; i < n; ++i) caf::anon_send(counter, i);
  done.get_future().wait();
  return static_cast<double>(n) / seconds_since(t0);
}


}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  const std::uint64_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 2'000'000;
  std::vector<double> ol, cl, ob, cb, op, cp, oc, cc;
  for (int r = 0; r < rounds; ++r) {
    ol.push_back(ours_local(n, false));
    cl.push_back(caf_local(n, false));
    ob.push_back(ours_local(n, true));
    cb.push_back(caf_local(n, true));
    op.push_back(ours_pingpong_ns(n / 4));
    cp.push_back(caf_pingpong_ns(n / 4));
    oc.push_back(ours_cross(n));
    cc.push_back(caf_cross(n));
    std::fprintf(stderr, "round %d: burst %.1fM vs %.1fM; local %.1fM vs %.1fM msg/s, ping-pong %.0f vs %.0f ns, cross %.1fM vs %.1fM msg/s\n",
                 r, ob.back() / 1e6, cb.back() / 1e6, ol.back() / 1e6, cl.back() / 1e6, op.back(), cp.back(), oc.back() / 1e6, cc.back() / 1e6);
  }
  std::printf("actors vs CAF 0.17, medians of %d alternating rounds, N=%llu\n", rounds, static_cast<unsigned long long>(n));
  std::printf("%-36s %14s %14s %8s\n", "scenario", "ringactor", "CAF", "ratio");
  std::printf("%-36s %14.0f %14.0f %8.2f\n", "local tell, batches of 1024 (msg/s)", median(ol), median(cl), median(ol) / median(cl));
  std::printf("%-36s %14.0f %14.0f %8.2f\n", "local tell, one burst of N (msg/s)", median(ob), median(cb), median(ob) / median(cb));
  std::printf("%-36s %14.1f %14.1f %8.2f\n", "ping-pong (ns per message, lower=better)", median(op), median(cp),
              median(cp) / median(op));
  std::printf("%-36s %14.0f %14.0f %8.2f\n", "cross-thread tell (messages/s)", median(oc), median(cc), median(oc) / median(cc));
  std::printf("(ratio: how many times faster ringactor is)\n");
  return 0;
}
