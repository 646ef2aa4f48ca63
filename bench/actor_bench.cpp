// actor_bench: ringactor actors against CAF 0.17 (Debian libcaf-dev). Every measurement
// runs in a process of its own (this program started again with --one), so one scenario's
// memory, threads and page faults never disturb the next; systems alternate within each
// round; the table gives medians and the spread (min..max) of the rounds.
//
//   local tell:       one actor sends N messages to another on the same thread (CAF: a
//                     scheduler with one worker); messages/s until the receiver has them all.
//                     In batches of 1024 (the sender re-arms itself) or in one burst of N.
//   ping-pong:        two actors on one thread bounce one message; ns per message.
//   cross-thread:     a plain thread (CPU 1) sends N messages to an actor on a reactor
//                     (CPU 0); messages/s. cross-thread-spin: the same with the reactor's
//                     ReactorOptions::invoke_spin = 50 us (CAF: the same as cross-thread).
//   reactor tell:     an actor on reactor 1 (CPU 1) streams N messages to an actor on reactor
//                     0 (CPU 0) in batches of 1024, at most 8 batches unacknowledged (the
//                     receiver acks each batch): through the mesh's ring ("ringactor"), or
//                     through reactor 0's invoke queue, the moodycamel queue + eventfd path
//                     ("no mesh"); CAF: the same two actors on a scheduler of two workers
//                     (CPUs 0-1).
//   reactor ping-pong: the same pairs bounce one message; ns per message (hop).
//
// Usage: actor_bench [rounds] [N]        (driver: prints the table)
//        actor_bench --one SYSTEM SCENARIO N   (one measurement: prints one number)
// SYSTEM: ringactor, ringactor-spin (MeshOptions::spin = 50 us), nomesh, caf. MESH_RING=n in
// the environment sets MeshOptions::ring_capacity.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include <ringactor/actors/mesh.hpp>
#include <ringactor/actors/stage.hpp>
#include <ringactor/runtime/reactor.hpp>

namespace ra = ringactor::actors;
namespace rt = ringactor::runtime;
using Clock = std::chrono::steady_clock;

#include "bench_util.hpp"

using ringactor::bench::median;
using ringactor::bench::pin;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

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

// The reactor's options (cross-thread-spin sets invoke_spin).
rt::ReactorOptions g_options;

struct OurSystem {
  rt::Reactor reactor{g_options};
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

// Two reactors on CPUs 0 and 1, their stages in a mesh (or not: then messages between them
// take the target's invoke queue).
struct TwoReactors {
  explicit TwoReactors(bool mesh, ra::MeshOptions options = {}) {
    if (mesh) {
      mesh_ = std::make_unique<ra::Mesh>(options);
      mesh_->join(a.stage);
      mesh_->join(b.stage);
    }
  }
  void start() {
    ta = std::thread([this] {
      pin(0);
      a.reactor.run();
    });
    tb = std::thread([this] {
      pin(1);
      b.reactor.run();
    });
  }
  ~TwoReactors() {
    a.reactor.stop();
    b.reactor.stop();
    if (ta.joinable()) ta.join();
    if (tb.joinable()) tb.join();
    mesh_.reset();
  }
  struct One {
    rt::Reactor reactor{rt::ReactorOptions{}};
    ra::Stage stage{reactor};
  } a, b;
  std::unique_ptr<ra::Mesh> mesh_;
  std::thread ta, tb;
};

// Flow-controlled stream: batches of 1024, at most kWindow batches not yet acknowledged by
// the receiver (one ack per batch), so queues stay bounded and the figure is the channel's
// steady rate rather than the cost of growing a queue of N messages.
constexpr std::uint64_t kBatch = 1024;
constexpr std::uint64_t kWindow = 8;

class WindowSender;
class AckCounter : public ra::Actor {
 public:
  AckCounter(std::uint64_t n, std::promise<void>* done) : n_(n), done_(done) {}
  void meet(ra::Ref<WindowSender> sender) { sender_ = sender; }
  void hit(std::uint64_t);

 private:
  ra::Ref<WindowSender> sender_;
  std::uint64_t n_, seen_ = 0;
  std::promise<void>* done_;
};
class WindowSender : public ra::Actor {
 public:
  void start(ra::Ref<AckCounter> to, std::uint64_t n) {
    to_ = to;
    left_ = n;
    pump();
  }
  void ack() {
    --in_flight_;
    pump();
  }

 private:
  void pump() {
    while (left_ > 0 && in_flight_ < kWindow) {
      const std::uint64_t batch = left_ < kBatch ? left_ : kBatch;
      for (std::uint64_t i = 0; i < batch; ++i) to_.tell(&AckCounter::hit, i);
      left_ -= batch;
      ++in_flight_;
    }
  }
  ra::Ref<AckCounter> to_;
  std::uint64_t left_ = 0, in_flight_ = 0;
};
void AckCounter::hit(std::uint64_t) {
  if (++seen_ == n_) {
    done_->set_value();
  } else if (seen_ % kBatch == 0) {
    sender_.tell(&WindowSender::ack);
  }
}

double ours_reactor_tell(std::uint64_t n, bool mesh, ra::MeshOptions options = {}) {
  TwoReactors s(mesh, options);
  std::promise<void> done;
  auto counter = s.a.stage.spawn<AckCounter>(n, &done);
  auto sender = s.b.stage.spawn<WindowSender>();
  counter.tell(&AckCounter::meet, sender);
  s.start();
  const auto t0 = Clock::now();
  sender.tell(&WindowSender::start, counter, n);
  done.get_future().wait();
  return static_cast<double>(n) / seconds_since(t0);
}

double ours_reactor_pingpong_ns(std::uint64_t n, bool mesh, ra::MeshOptions options = {}) {
  TwoReactors s(mesh, options);
  std::promise<void> done;
  auto ping = s.a.stage.spawn<Ping>(n, &done);
  auto pong = s.b.stage.spawn<Pong>();
  s.start();
  const auto t0 = Clock::now();
  ping.tell(&Ping::start, pong);
  done.get_future().wait();
  return seconds_since(t0) * 1e9 / static_cast<double>(2 * n);
}

// ---- CAF 0.17 -------------------------------------------------------------------------------

struct CafSystem {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  explicit CafSystem(int threads = 1) {
    cfg.set("scheduler.max-threads", threads);
    if (threads == 1) {
      pin(0);  // the scheduler's worker inherits CPU 0
    } else {
      cpu_set_t set;  // the workers inherit CPUs 0 and 1
      CPU_ZERO(&set);
      CPU_SET(0, &set);
      CPU_SET(1, &set);
      ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
    }
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

caf::behavior caf_counter(caf::event_based_actor*, std::uint64_t n, std::promise<void>* done) {
  auto seen = std::make_shared<std::uint64_t>(0);
  return {[=](std::uint64_t) {
    if (++*seen == n) done->set_value();
  }};
}

double caf_local(std::uint64_t n, bool burst, int threads = 1) {
  CafSystem s(threads);
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

double caf_pingpong_ns(std::uint64_t n, int threads = 1) {
  CafSystem s(threads);
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

// The flow-controlled stream of ours_reactor_tell on a scheduler of two workers.
double caf_window(std::uint64_t n) {
  CafSystem s(2);
  std::promise<void> done;
  auto counter = s.sys->spawn([n, &done](caf::event_based_actor* self) -> caf::behavior {
    auto seen = std::make_shared<std::uint64_t>(0);
    return {[=, &done](std::uint64_t) {
      if (++*seen == n) {
        done.set_value();
      } else if (*seen % kBatch == 0) {
        self->send(caf::actor_cast<caf::actor>(self->current_sender()), caf::atom("ack"));
      }
    }};
  });
  auto sender = s.sys->spawn([counter, n](caf::event_based_actor* self) -> caf::behavior {
    auto left = std::make_shared<std::uint64_t>(n);
    auto in_flight = std::make_shared<std::uint64_t>(0);
    auto pump = [=] {
      while (*left > 0 && *in_flight < kWindow) {
        const std::uint64_t batch = *left < kBatch ? *left : kBatch;
        for (std::uint64_t i = 0; i < batch; ++i) self->send(counter, i);
        *left -= batch;
        ++*in_flight;
      }
    };
    return {[=](caf::atom_value a) {
      if (a == caf::atom("ack")) --*in_flight;
      pump();
    }};
  });
  const auto t0 = Clock::now();
  caf::anon_send(sender, caf::atom("go"));
  done.get_future().wait();
  return static_cast<double>(n) / seconds_since(t0);
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

// One measurement of one system; the number goes to stdout.
double measure(const std::string& system, const std::string& scenario, std::uint64_t n) {
  const bool caf = system == "caf";
  if (scenario == "cross-thread-spin") {
    g_options.invoke_spin = std::chrono::microseconds(50);
    return caf ? caf_cross(n) : ours_cross(n);
  }
  if (scenario == "local-batches") return caf ? caf_local(n, false) : ours_local(n, false);
  if (scenario == "local-burst") return caf ? caf_local(n, true) : ours_local(n, true);
  if (scenario == "pingpong") return caf ? caf_pingpong_ns(n / 4) : ours_pingpong_ns(n / 4);
  if (scenario == "cross-thread") return caf ? caf_cross(n) : ours_cross(n);
  // "ringactor-spin": the mesh with MeshOptions::spin = 50 us.
  const bool mesh = system.rfind("ringactor", 0) == 0;
  ra::MeshOptions mo{.spin = std::chrono::microseconds(system == "ringactor-spin" ? 50 : 0)};
  if (const char* ring = std::getenv("MESH_RING"))
    mo.ring_capacity = static_cast<std::uint32_t>(std::atoi(ring));
  if (scenario == "reactor-tell") return caf ? caf_window(n) : ours_reactor_tell(n, mesh, mo);
  if (scenario == "reactor-pingpong")
    return caf ? caf_pingpong_ns(n / 4, 2) : ours_reactor_pingpong_ns(n / 4, mesh, mo);
  std::fprintf(stderr, "actor_bench: unknown scenario %s\n", scenario.c_str());
  std::exit(2);
}

struct Scenario {
  const char* name;
  const char* title;
  bool lower_is_better;
  bool has_nomesh;
};
constexpr Scenario kScenarios[] = {
    {"local-batches", "local tell, batches of 1024 (msg/s)", false, false},
    {"local-burst", "local tell, one burst of N (msg/s)", false, false},
    {"pingpong", "ping-pong, one thread (ns/msg)", true, false},
    {"cross-thread", "cross-thread tell (msg/s)", false, false},
    {"cross-thread-spin", "cross-thread tell, invoke_spin (msg/s)", false, false},
    {"reactor-tell", "reactor to reactor tell (msg/s)", false, true},
    {"reactor-pingpong", "reactor to reactor ping-pong (ns/msg)", true, true},
};

double run_child(const char* self, const std::string& system, const char* scenario, std::uint64_t n) {
  const std::string cmd = std::string(self) + " --one " + system + " " + scenario + " " + std::to_string(n);
  std::FILE* f = ::popen(cmd.c_str(), "r");
  double v = 0;
  if (f == nullptr || std::fscanf(f, "%lf", &v) != 1) v = 0;
  if (f != nullptr) ::pclose(f);
  return v;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::strcmp(argv[1], "--one") == 0) {
    std::printf("%.3f\n", measure(argv[2], argv[3], std::strtoull(argv[4], nullptr, 10)));
    return 0;
  }
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  const std::uint64_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 2'000'000;
  std::map<std::string, std::vector<double>> v;  // "system/scenario" -> rounds
  for (int r = 0; r < rounds; ++r) {
    for (const Scenario& sc : kScenarios) {
      // Alternate the order of the systems from round to round.
      std::vector<std::string> systems = {"ringactor", "caf"};
      if (sc.has_nomesh) systems.push_back("nomesh");
      if (r % 2 == 1) std::reverse(systems.begin(), systems.end());
      for (const std::string& sys : systems)
        v[sys + "/" + sc.name].push_back(run_child(argv[0], sys, sc.name, n));
    }
    std::fprintf(stderr, "round %d of %d done\n", r + 1, rounds);
  }
  auto cell = [&](const std::string& key, bool ns) {
    std::vector<double>& x = v[key];
    if (x.empty()) return std::string("-");
    std::sort(x.begin(), x.end());
    char buf[96];
    if (ns) {
      std::snprintf(buf, sizeof buf, "%.1f (%.1f..%.1f)", median(x), x.front(), x.back());
    } else {
      std::snprintf(buf, sizeof buf, "%.2fM (%.2f..%.2f)", median(x) / 1e6, x.front() / 1e6, x.back() / 1e6);
    }
    return std::string(buf);
  };
  std::printf(
      "actors vs CAF 0.17: medians (min..max) of %d alternating rounds, each measurement in its own process; "
      "N=%llu (ping-pongs: N/4 round trips); %s, %u CPUs\n",
      rounds, static_cast<unsigned long long>(n), cpu_model().c_str(), std::thread::hardware_concurrency());
  std::printf("%-40s %-26s %-26s %-26s %7s\n", "scenario", "ringactor", "no mesh (invoke queue)", "CAF",
              "x CAF");
  for (const Scenario& sc : kScenarios) {
    const std::string k = sc.name;
    const double ours = median(v["ringactor/" + k]), theirs = median(v["caf/" + k]);
    const double ratio = sc.lower_is_better ? theirs / ours : ours / theirs;
    std::printf("%-40s %-26s %-26s %-26s %7.2f\n", sc.title,
                cell("ringactor/" + k, sc.lower_is_better).c_str(),
                sc.has_nomesh ? cell("nomesh/" + k, sc.lower_is_better).c_str() : "-",
                cell("caf/" + k, sc.lower_is_better).c_str(), ratio);
  }
  std::printf("(x CAF: how many times faster ringactor is)\n");
  return 0;
}
