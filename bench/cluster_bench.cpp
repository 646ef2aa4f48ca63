// Remote messages between processes through NATS: ringactor's cluster (a named actor's tell,
// a topic publish) beside raw NATS publish/subscribe (libnats) with the same payloads, the
// floor our cluster sits on. bench/cluster.sh runs it against a nats-server and
// bench/README.md records the figures.
//
//   cluster_bench MODE NATS_URL N [RATE] [SINKS]
//
// MODE: raw (libnats publish -> a subscription callback), tell (Named::tell -> an actor's
// handler on a reactor), topic (Cluster::publish -> a subscriber on a reactor in each of
// SINKS processes, default 3), hop (the floor of any design in which NATS threads never
// touch actors and a sender never calls the client itself: raw libnats, plus the two
// thread hand-offs that rule costs and nothing else: the sender's message goes through a
// lock-free queue to a publishing thread, and the subscription callback tells an actor
// on a reactor; no envelope, names or codec). The program starts the receiving processes itself (itself,
// with "sink-MODE"), then sends N messages of 32 bytes, at RATE per second (0: as fast as
// it can). Each receiver takes the one-way latency of every message from the send time it
// carries (CLOCK_MONOTONIC is one clock for every process of the machine) and its own CPU
// time. One JSON line: rate (messages received per second, the slowest receiver), latency
// p50/p99 in microseconds, CPU microseconds per message in the sender and in a receiver.
#include <sys/resource.h>
#include <unistd.h>

#include <nats/nats.h>

#include <concurrentqueue/concurrentqueue.h>

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <ringactor/actors/actor.hpp>
#include <ringactor/actors/stage.hpp>
#include <ringactor/cluster/cluster.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "../tests/support/process_support.hpp"

namespace ra = ringactor::actors;
namespace rt = ringactor::runtime;
namespace cl = ringactor::cluster;
using namespace std::chrono_literals;

struct Sample {
  std::uint64_t sent_ns;
  std::uint64_t seq;
  char pad[16];
};
template <>
struct ringactor::cluster::Codec<Sample> : ringactor::cluster::TrivialCodec<Sample> {
  static constexpr std::string_view name = "bench.Sample";
};

namespace {

std::uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

double cpu_us() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// What a receiver keeps: latencies, first and last arrival, CPU at the first.
struct Taken {
  explicit Taken(std::size_t n) { lat_ns.reserve(n); }
  void take(const Sample& s) {
    const std::uint64_t t = now_ns();
    if (lat_ns.empty()) {
      first_ns = t;
      cpu_first = cpu_us();
    }
    lat_ns.push_back(t - s.sent_ns);
    last_ns = t;
  }
  // "received N seconds S p50 X p99 Y cpu Z" (microseconds; cpu per message).
  void report() {
    std::sort(lat_ns.begin(), lat_ns.end());
    const std::size_t n = lat_ns.size();
    auto pct = [&](double p) { return n == 0 ? 0.0 : static_cast<double>(lat_ns[std::min(n - 1, static_cast<std::size_t>(p * n))]) / 1e3; };
    std::printf("received %zu seconds %.6f p50 %.2f p99 %.2f cpu %.3f\n", n,
                static_cast<double>(last_ns - first_ns) / 1e9, pct(0.50), pct(0.99),
                n > 1 ? (cpu_us() - cpu_first) / static_cast<double>(n - 1) : 0.0);
    std::fflush(stdout);
  }
  std::vector<std::uint64_t> lat_ns;
  std::uint64_t first_ns = 0, last_ns = 0;
  double cpu_first = 0;
};

class Sink : public ra::Actor {
 public:
  Sink(std::size_t n, rt::Reactor& r) : taken_(n), n_(n), reactor_(r) {}
  void take(Sample s) {
    taken_.take(s);
    if (taken_.lat_ns.size() == n_) {
      taken_.report();
      reactor_.stop();
    }
  }

 private:
  Taken taken_;
  std::size_t n_;
  rt::Reactor& reactor_;
};

int sink_raw(const std::string& url, std::size_t n) {
  natsConnection* nc = nullptr;
  if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK) return 1;
  struct State {
    Taken taken;
    std::size_t n;
    std::atomic<bool> done{false};
  } st{Taken(n), n};
  natsSubscription* sub = nullptr;
  natsConnection_Subscribe(&sub, nc, "raw.sink", [](natsConnection*, natsSubscription*, natsMsg* m, void* c) {
    auto* s = static_cast<State*>(c);
    Sample smp{};
    if (natsMsg_GetDataLength(m) == sizeof smp) std::memcpy(&smp, natsMsg_GetData(m), sizeof smp);
    natsMsg_Destroy(m);
    s->taken.take(smp);
    if (s->taken.lat_ns.size() == s->n) s->done = true;
  }, &st);
  natsSubscription_SetPendingLimits(sub, -1, -1);
  natsConnection_Flush(nc);
  std::printf("ready\n");
  std::fflush(stdout);
  while (!st.done) std::this_thread::sleep_for(1ms);
  st.taken.report();
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(nc);
  return 0;
}

// hop: the subscription callback (a libnats thread) hands each message to an actor on a
// reactor, as the cluster's receiving side must.
int sink_hop(const std::string& url, std::size_t n) {
  rt::Reactor reactor(rt::ReactorOptions{.idle_timeout = 0ms, .write_timeout = 0ms});
  ra::Stage stage(reactor);
  auto sink = stage.spawn<Sink>(n, reactor);
  natsConnection* nc = nullptr;
  if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK) return 1;
  natsSubscription* sub = nullptr;
  natsConnection_Subscribe(&sub, nc, "hop.sink", [](natsConnection*, natsSubscription*, natsMsg* m, void* c) {
    Sample smp{};
    if (natsMsg_GetDataLength(m) == sizeof smp) std::memcpy(&smp, natsMsg_GetData(m), sizeof smp);
    natsMsg_Destroy(m);
    static_cast<ra::Ref<Sink>*>(c)->tell(&Sink::take, smp);
  }, &sink);
  natsSubscription_SetPendingLimits(sub, -1, -1);
  natsConnection_Flush(nc);
  std::printf("ready\n");
  std::fflush(stdout);
  reactor.run();
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(nc);
  return 0;
}

// hop: the sender's side. A lock-free queue to one publishing thread, which sleeps (a futex,
// through std::atomic::wait) only after saying so and finding the queue empty.
class HopSender {
 public:
  explicit HopSender(natsConnection* nc) : nc_(nc), thread_([this] { loop(); }) {}
  ~HopSender() {
    stop_ = true;
    wake();
    thread_.join();
  }
  void send(const Sample& s) {
    queue_.enqueue(s);
    wake();
  }
  std::uint64_t published() const { return published_.load(); }

 private:
  void wake() {
    if (sleeping_.load()) {
      sleeping_ = false;
      sleeping_.notify_one();
    }
  }
  void loop() {
    Sample batch[256];
    for (;;) {
      const std::size_t got = queue_.try_dequeue_bulk(batch, 256);
      for (std::size_t i = 0; i < got; ++i) natsConnection_Publish(nc_, "hop.sink", &batch[i], sizeof batch[i]);
      published_.fetch_add(got);
      if (got > 0) continue;
      if (stop_) return;
      sleeping_ = true;
      if (queue_.size_approx() > 0 || stop_) {
        sleeping_ = false;
        continue;
      }
      sleeping_.wait(true);
    }
  }
  natsConnection* nc_;
  moodycamel::ConcurrentQueue<Sample> queue_;
  std::atomic<bool> sleeping_{false}, stop_{false};
  std::atomic<std::uint64_t> published_{0};
  std::thread thread_;
};

int sink_ours(const std::string& url, std::size_t n, bool topic, int index) {
  rt::Reactor reactor(rt::ReactorOptions{.idle_timeout = 0ms, .write_timeout = 0ms});
  ra::Stage stage(reactor);
  {
    cl::Cluster cluster(stage, {.url = url, .prefix = "bench"});
    cluster.handle(&Sink::take);
    auto sink = stage.spawn<Sink>(n, reactor);
    if (topic) {
      auto taken = std::make_shared<Taken>(n);
      cluster.subscribe("bench", stage, [taken, n, &reactor](std::string_view m) {
        Sample s{};
        if (m.size() == sizeof s) std::memcpy(&s, m.data(), sizeof s);
        taken->take(s);
        if (taken->lat_ns.size() == n) {
          taken->report();
          reactor.stop();
        }
      });
    }
    cluster.register_name("sink/" + std::to_string(index), sink);
    std::printf("ready\n");
    std::fflush(stdout);
    reactor.run();
  }
  return 0;
}

// The sender's pace: message i leaves at start + i / rate (asleep until then, so that the
// sender's CPU time is its work).
void pace(std::uint64_t start, std::size_t i, double rate) {
  if (rate <= 0) return;
  const auto due = start + static_cast<std::uint64_t>(static_cast<double>(i) * 1e9 / rate);
  const timespec ts{static_cast<time_t>(due / 1'000'000'000u), static_cast<long>(due % 1'000'000'000u)};
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// Sends n samples through `send`, paced, each stamped with its send time.
template <typename Send>
void send_all(std::size_t n, double rate, Send&& send) {
  Sample s{};
  const std::uint64_t start = now_ns();
  for (std::size_t i = 0; i < n; ++i) {
    pace(start, i, rate);
    s.seq = i;
    s.sent_ns = now_ns();
    send(s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: cluster_bench raw|hop|tell|topic NATS_URL N [RATE] [SINKS]\n");
    return 2;
  }
  const std::string mode = argv[1], url = argv[2];
  const std::size_t n = std::strtoull(argv[3], nullptr, 10);
  if (mode == "sink-raw") return sink_raw(url, n);
  if (mode == "sink-hop") return sink_hop(url, n);
  if (mode == "sink-tell" || mode == "sink-topic") return sink_ours(url, n, mode == "sink-topic", std::atoi(argv[4]));
  const double rate = argc > 4 ? std::atof(argv[4]) : 0;
  const int sinks = mode == "topic" ? (argc > 5 ? std::atoi(argv[5]) : 3) : 1;
  if (mode != "raw" && mode != "tell" && mode != "topic" && mode != "hop") return 2;

  std::vector<ringactor::test::Child> children;
  for (int i = 0; i < sinks; ++i) {
    children.push_back(ringactor::test::spawn_program("/proc/self/exe", {"sink-" + mode, url, std::to_string(n), std::to_string(i)}));
    if (ringactor::test::read_line(children.back().out, 20s) != "ready") {
      std::fprintf(stderr, "cluster_bench: a receiver did not start\n");
      return 1;
    }
  }
  double cpu0 = 0, cpu1 = 0;
  if (mode == "raw") {
    natsConnection* nc = nullptr;
    if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK) return 1;
    cpu0 = cpu_us();
    send_all(n, rate, [&](const Sample& s) { natsConnection_Publish(nc, "raw.sink", &s, sizeof s); });
    natsConnection_Flush(nc);
    cpu1 = cpu_us();
    natsConnection_Destroy(nc);
  } else if (mode == "hop") {
    natsConnection* nc = nullptr;
    if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK) return 1;
    {
      HopSender hop(nc);
      cpu0 = cpu_us();
      send_all(n, rate, [&](const Sample& s) { hop.send(s); });
      while (hop.published() < n) std::this_thread::sleep_for(100us);
      natsConnection_Flush(nc);
      cpu1 = cpu_us();
    }
    natsConnection_Destroy(nc);
  } else {
    rt::Reactor reactor(rt::ReactorOptions{.idle_timeout = 0ms, .write_timeout = 0ms});
    ra::Stage stage(reactor);
    // Flat out, the sender outruns the publisher thread for a while: room for all of it.
    cl::Cluster cluster(stage, {.url = url, .prefix = "bench", .max_outbound = std::max<std::size_t>(n, 1u << 16)});
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (cluster.where("sink/" + std::to_string(sinks - 1)) != cl::Cluster::Where::kElsewhere &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);  // (a setup wait: the receivers' names)
    }
    auto named = cluster.named<ra::Actor>("sink/0");
    cpu0 = cpu_us();
    send_all(n, rate, [&](const Sample& s) {
      if (mode == "tell") {
        named.tell(s);
      } else {
        cluster.publish("bench", std::string_view(reinterpret_cast<const char*>(&s), sizeof s));
      }
    });
    // The publisher thread's CPU counts: wait until it handed everything to the client.
    for (;;) {
      const cl::ClusterCounters c = cluster.counters();
      if (c.sent + c.send_failures >= n) {
        if (c.send_failures > 0) std::fprintf(stderr, "cluster_bench: %llu sends failed\n", static_cast<unsigned long long>(c.send_failures));
        break;
      }
      std::this_thread::sleep_for(100us);
    }
    cpu1 = cpu_us();
  }
  // The slowest receiver's rate; latencies and CPU of the first.
  double worst_seconds = 0, p50 = 0, p99 = 0, sink_cpu = 0;
  std::size_t received = 0;
  for (std::size_t i = 0; i < children.size(); ++i) {
    const std::string line = ringactor::test::read_line(children[i].out, 120s);
    std::size_t got = 0;
    double secs = 0, a = 0, b = 0, c = 0;
    if (std::sscanf(line.c_str(), "received %zu seconds %lf p50 %lf p99 %lf cpu %lf", &got, &secs, &a, &b, &c) != 5) {
      std::fprintf(stderr, "cluster_bench: a receiver said '%s'\n", line.c_str());
      return 1;
    }
    ringactor::test::wait_exit(children[i].pid, 10s);
    received += got;
    worst_seconds = std::max(worst_seconds, secs);
    if (i == 0) {
      p50 = a;
      p99 = b;
      sink_cpu = c;
    }
  }
  std::printf("{\"mode\":\"%s\",\"messages\":%zu,\"receivers\":%d,\"received\":%zu,\"rate_per_s\":%.0f,"
              "\"p50_us\":%.2f,\"p99_us\":%.2f,\"sender_cpu_us_per_msg\":%.3f,\"receiver_cpu_us_per_msg\":%.3f}\n",
              mode.c_str(), n, sinks, received, worst_seconds > 0 ? static_cast<double>(n - 1) / worst_seconds : 0.0, p50,
              p99, (cpu1 - cpu0) / static_cast<double>(n), sink_cpu);
  return received == n * static_cast<std::size_t>(sinks) ? 0 : 1;
}
