// Covers a cluster of real processes: demos/cluster started several times
// beside this test process, all on a real nats-server on a free loopback port. A room in
// one process played from another (tells in order, asks), a topic reaching WebSocket members
// in 3 processes (one NATS message per process, then each process's local fan-out), a
// process killed with SIGKILL (the others go on, report it down with node_down, and answer
// asks for its names with no route), and nats-server restarted mid-traffic (everyone
// reconnects; every message is delivered or counted as lost, none vanishes).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <ringactor/actors/actor.hpp>
#include <ringactor/cluster/cluster.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "messages.hpp"
#include "nats_support.hpp"
#include "process_support.hpp"
#include "test_support.hpp"
#include "ws_test_support.hpp"

namespace ra = ringactor::actors;
namespace rt = ringactor::runtime;
namespace cl = ringactor::cluster;
using ringactor::test::cat;
using ringactor::test::eventually;
using namespace std::chrono_literals;

namespace {

// One process of demos/cluster.
class Node {
 public:
  Node(const std::string& url, const std::string& name, int heartbeat_ms = 100, int down_after_ms = 500)
      : name_(name),
        child_(ringactor::test::spawn_program(
            RINGACTOR_CLUSTER_BIN, {"--nats", url, "--name", name, "--prefix", "test", "--heartbeat-ms",
                                    std::to_string(heartbeat_ms), "--down-after-ms", std::to_string(down_after_ms)})) {
    // "cluster NAME: listening on http://127.0.0.1:PORT"
    const std::string line = ringactor::test::read_line(child_.out, 20s);
    if (line.find("listening on http://") == std::string::npos) {
      throw std::runtime_error("cluster " + name + " did not start: " + line);
    }
    port_ = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
  }
  ~Node() {
    if (child_.pid > 0) stop();
    ::close(child_.out);
  }
  std::uint16_t port() const noexcept { return port_; }
  // SIGTERM; the exit status.
  int stop() {
    ::kill(child_.pid, SIGTERM);
    const int status = ringactor::test::wait_exit(child_.pid, 20s);
    child_.pid = -1;
    return status;
  }
  void kill9() {
    ::kill(child_.pid, SIGKILL);
    ::waitpid(child_.pid, nullptr, 0);
    child_.pid = -1;
  }
  // POST /publish with `body` (the node answers "ok" once it published).
  bool publish(std::string_view body) { return request("POST", "/publish", body).rfind("HTTP/1.1 200", 0) == 0; }
  // One request; the whole answer (head and body), or what came before the connection ended.
  std::string request(std::string_view method, std::string_view path, std::string_view body = {}) {
    ringactor::test::Client c(port_);
    c.send_all(cat(method, " ", path, " HTTP/1.1\r\nHost: t\r\nContent-Length: ", std::to_string(body.size()),
                   "\r\n\r\n", body));
    std::string out;
    while (out.find("\r\n\r\n") == std::string::npos) {
      const std::string b = c.recv_exact(1);
      if (b.empty()) return out;
      out += b;
    }
    const std::size_t at = out.find("Content-Length: ");
    if (at != std::string::npos) out += c.recv_exact(std::stoul(out.substr(at + 16)));
    return out;
  }

 private:
  std::string name_;
  ringactor::test::Child child_;
  std::uint16_t port_ = 0;
};

// A lobby member on a node (subscribed once "subscribed" came).
std::unique_ptr<ringactor::test::WsClient> member_of(const Node& node) {
  auto ws = std::make_unique<ringactor::test::WsClient>(node.port());
  if (ws->handshake("/ws/lobby") != 101) return nullptr;
  if (ws->message() != "subscribed") return nullptr;
  return ws;
}

// The test's own process in the cluster: a reactor thread, a stage, a Cluster, a probe.
class Probe : public ra::Actor {
 public:
  explicit Probe(cl::Cluster& cluster) : cluster_(cluster) {}
  void stats(std::string name, std::shared_ptr<std::promise<ra::Reply<RoomStats>>> out) {
    cluster_.named<ra::Actor>(name).ask<RoomStats>(GetStats{}, [out](ra::Reply<RoomStats> r) { out->set_value(std::move(r)); },
                                                  2000ms);
  }
  void score(std::string name, std::shared_ptr<std::promise<ra::Reply<std::uint32_t>>> out) {
    cluster_.named<ra::Actor>(name).ask<std::uint32_t>(GetScore{1}, [out](ra::Reply<std::uint32_t> r) { out->set_value(std::move(r)); },
                                                       2000ms);
  }
  // Tells `name` 5 Moves (numbered from 1) every millisecond, on this actor's timer, until
  // `go` is false; then sets `done`.
  void stream(std::string name, std::atomic<bool>* go, std::atomic<std::uint32_t>* sent, std::atomic<bool>* done) {
    stream_ = every(1ms, [this, room = cluster_.named<ra::Actor>(name), go, sent, done] {
      if (!go->load()) {
        cancel(stream_);
        done->store(true);
        return;
      }
      for (int i = 0; i < 5; ++i) room.tell(Move{sent->fetch_add(1) + 1, 0.f, 0.f});
    });
  }
  void watch(std::string name, std::shared_ptr<std::promise<ra::StopReason>> out) {
    cluster_.named<ra::Actor>(name).monitor([out](ra::StopReason why) { out->set_value(why); });
  }

 private:
  cl::Cluster& cluster_;
  ra::ActorTimer stream_;
};

struct Member {
  explicit Member(const std::string& url, cl::ClusterOptions o = {.heartbeat = 100ms, .down_after = 500ms})
      : stage(reactor) {
    o.url = url;
    o.prefix = "test";
    o.process_name = "the-test";
    cluster = std::make_unique<cl::Cluster>(stage, o);
    probe = stage.spawn<Probe>(*cluster);
    thread = std::thread([this] { reactor.run(); });
  }
  ~Member() {
    reactor.post([this] { reactor.stop(); });
    thread.join();
    cluster.reset();
  }
  template <typename R, typename F>
  ra::Reply<R> ask(F method, const std::string& name) {
    auto p = std::make_shared<std::promise<ra::Reply<R>>>();
    auto f = p->get_future();
    probe.tell(method, name, p);
    if (f.wait_for(10s) != std::future_status::ready) return ra::Reply<R>(ra::AskError::kTimeout, "the probe got nothing");
    return f.get();
  }
  RoomStats stats(const std::string& name) {
    auto r = ask<RoomStats>(&Probe::stats, name);
    return r ? *r : RoomStats{};
  }
  rt::Reactor reactor{rt::ReactorOptions{.idle_timeout = 0ms, .write_timeout = 0ms}};
  ra::Stage stage;
  std::unique_ptr<cl::Cluster> cluster;
  ra::Ref<Probe> probe;
  std::thread thread;
};

}  // namespace

TEST(ClusterProcesses, ARoomAndATopicAcrossThreeProcessesAndAKilledProcessIsReportedDown) {
  ringactor::test::NatsServer nats;
  Node a(nats.url(), "a"), b(nats.url(), "b"), c(nats.url(), "c");
  Member me(nats.url());
  ASSERT_TRUE(eventually([&] {
    return me.cluster->where("room/a") == cl::Cluster::Where::kElsewhere &&
           me.cluster->where("room/b") == cl::Cluster::Where::kElsewhere &&
           me.cluster->where("room/c") == cl::Cluster::Where::kElsewhere;
  }));
  ASSERT_TRUE(eventually([&] { return me.cluster->processes().size() == 3; }));
  for (const auto& p : me.cluster->processes()) {
    EXPECT_TRUE(p.name == "a" || p.name == "b" || p.name == "c") << p.name;
    EXPECT_EQ(p.names, 1u) << p.name;
  }

  // A room in process b played from this one: 500 tells in order, then asks.
  auto room_b = me.cluster->named<ra::Actor>("room/b");
  for (std::uint32_t i = 1; i <= 500; ++i) room_b.tell(Move{i, 0.f, 0.f});
  ASSERT_TRUE(eventually([&] { return me.stats("room/b").moves == 500; }));
  const RoomStats sb = me.stats("room/b");
  EXPECT_EQ(sb.in_order, 500u);
  EXPECT_EQ(sb.lost, 0u);
  const auto score = me.ask<std::uint32_t>(&Probe::score, "room/b");
  ASSERT_TRUE(score) << score.message();
  EXPECT_EQ(*score, 500u * 501u / 2u + 1u);

  // A topic across processes: a member in each node; a publish from here, then from a.
  auto wa = member_of(a), wb = member_of(b), wc = member_of(c);
  ASSERT_TRUE(wa && wb && wc);
  me.cluster->publish("lobby", "from-the-test");
  EXPECT_EQ(wa->message(), "from-the-test");
  EXPECT_EQ(wb->message(), "from-the-test");
  EXPECT_EQ(wc->message(), "from-the-test");
  ASSERT_TRUE(a.publish("from-a"));
  EXPECT_EQ(wa->message(), "from-a");  // a's own member, through a's local fan-out
  EXPECT_EQ(wb->message(), "from-a");
  EXPECT_EQ(wc->message(), "from-a");
  EXPECT_EQ(me.cluster->counters().topic_out, 1u);

  // kill -9 of b: a monitor here says node_down; b's name goes; the others go on.
  auto down = std::make_shared<std::promise<ra::StopReason>>();
  auto down_f = down->get_future();
  me.probe.tell(&Probe::watch, std::string("room/b"), down);
  // (The monitor is in place once an ask made after it from the same actor answered.)
  ASSERT_TRUE(me.ask<std::uint32_t>(&Probe::score, "room/b"));
  const auto killed_at = std::chrono::steady_clock::now();
  b.kill9();
  ASSERT_EQ(down_f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(down_f.get(), ra::StopReason::kNodeDown);
  const auto noticed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed_at);
  std::printf("down noticed %lld ms after kill -9 (down_after 500 ms, heartbeat 100 ms)\n",
              static_cast<long long>(noticed.count()));
  EXPECT_EQ(me.cluster->where("room/b"), cl::Cluster::Where::kNowhere);
  EXPECT_EQ(me.cluster->counters().downs, 1u);
  const auto gone = me.ask<std::uint32_t>(&Probe::score, "room/b");
  EXPECT_EQ(gone.error(), ra::AskError::kNoRoute);
  ASSERT_TRUE(eventually([&] { return me.stats("room/a").downs == 1 && me.stats("room/c").downs == 1; }));
  const std::string metrics = c.request("GET", "/metrics");
  EXPECT_NE(metrics.find("\nringactor_cluster_downs_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\nringactor_cluster_processes 2\n"), std::string::npos) << "a and this test";
  EXPECT_NE(metrics.find("ringactor_cluster_topic_messages_total{direction=\"in\"} 2\n"), std::string::npos);
  if (ringactor::test::run_command("command -v promtool").first == 0) {  // (scripts/deps.sh installs it)
    const std::string body = metrics.substr(metrics.find("\r\n\r\n") + 4);
    char path[] = "/tmp/ringactor-cluster-metrics-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, body.data(), body.size()), static_cast<ssize_t>(body.size()));
    ::close(fd);
    const auto [status, out] = ringactor::test::run_command(cat("promtool check metrics < ", path, " 2>&1"));
    ::unlink(path);
    EXPECT_EQ(status, 0) << out;
    EXPECT_EQ(out, "") << "promtool's lint found problems";
  }
  ASSERT_TRUE(c.publish("after-b"));
  EXPECT_EQ(wa->message(), "after-b");
  EXPECT_EQ(wc->message(), "after-b");
  EXPECT_EQ(me.cluster->processes().size(), 2u);

  // The others stop cleanly (SIGTERM: exit 0), and say goodbye: a monitor of a's room says
  // shutdown, not node_down.
  wa.reset();  // (a member that does not answer the server's close would hold its stop)
  wb.reset();
  wc.reset();
  auto bye = std::make_shared<std::promise<ra::StopReason>>();
  auto bye_f = bye->get_future();
  me.probe.tell(&Probe::watch, std::string("room/a"), bye);
  ASSERT_TRUE(me.ask<std::uint32_t>(&Probe::score, "room/a"));
  EXPECT_EQ(a.stop(), 0);
  ASSERT_EQ(bye_f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(bye_f.get(), ra::StopReason::kShutdown);
  EXPECT_EQ(c.stop(), 0);
  EXPECT_EQ(me.cluster->counters().downs, 1u) << "a and c left; they were not declared down";
}

TEST(ClusterProcesses, ANatsRestartMidTrafficLosesNothingSilently) {
  ringactor::test::NatsServer nats;
  Node c(nats.url(), "c", 100, 2000);
  Member me(nats.url(), {.heartbeat = 100ms, .down_after = 2000ms});
  ASSERT_TRUE(eventually([&] { return me.cluster->where("room/c") == cl::Cluster::Where::kElsewhere; }));

  // A steady stream of tells from an actor's timer: traffic before, during and after the
  // restart.
  std::atomic<bool> go{true}, done{false};
  std::atomic<std::uint32_t> sent{0};
  me.probe.tell(&Probe::stream, std::string("room/c"), &go, &sent, &done);
  ASSERT_TRUE(eventually([&] { return me.stats("room/c").moves >= 200; }));
  nats.restart();
  ASSERT_TRUE(eventually([&] { return me.cluster->counters().reconnects >= 1 && me.stats("room/c").reconnects >= 1; }, 20s));
  const std::uint32_t at_reconnect = sent.load();
  ASSERT_TRUE(eventually([&] { return sent.load() >= at_reconnect + 200; }));
  go = false;
  ASSERT_TRUE(eventually([&] { return done.load(); }));
  const std::uint32_t total = sent.load();
  // Every Move that did not arrive is counted as lost by the receiver. (The count covers
  // every message this process sent there, asks included, so it may be higher.)
  const bool last_came = eventually([&] { return me.stats("room/c").last == total; });
  const RoomStats s = me.stats("room/c");
  ASSERT_TRUE(last_came) << "the last Move did not arrive; " << s.moves << " of " << total;
  EXPECT_LE(s.moves, total);
  EXPECT_GE(s.lost, total - s.moves) << total << " sent, " << s.moves << " delivered, " << s.lost << " counted lost";
  std::printf("restart: %u sent, %llu delivered, %llu counted lost, %llu send failures here\n", total,
              static_cast<unsigned long long>(s.moves), static_cast<unsigned long long>(s.lost),
              static_cast<unsigned long long>(me.cluster->counters().send_failures));
  EXPECT_GE(s.moves, 400u);
  EXPECT_EQ(me.cluster->counters().downs, 0u) << "a server restart is not a process going down";
  EXPECT_EQ(s.downs, 0u);
  EXPECT_GE(me.cluster->counters().disconnects, 1u);
  EXPECT_EQ(c.stop(), 0);
}
