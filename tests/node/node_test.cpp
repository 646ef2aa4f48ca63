// Covers node::Node: every reactor runs on its own thread and they stop together (node.stop,
// one reactor's Reactor::stop, a SIGTERM read by reactor 0 alone), SIGHUP runs its callback
// once, the connection budget is split, tells between its reactors go through the mesh,
// SO_REUSEPORT listeners on every reactor share one port, linked HTTP servers carry a topic's
// publishes to the members on every reactor (one relay message per reactor).
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include <ringactor/actors/actor.hpp>
#include <ringactor/actors/ref.hpp>
#include <ringactor/http/server.hpp>
#include <ringactor/node/node.hpp>

#include "test_support.hpp"
#include "ws_test_support.hpp"

namespace ra = ringactor::actors;
namespace rt = ringactor::runtime;
using ringactor::node::Node;
using ringactor::node::NodeOptions;
using namespace std::chrono_literals;

namespace {

rt::ReactorOptions quiet(bool signals = false) {
  return rt::ReactorOptions{.idle_timeout = 0ms, .write_timeout = 0ms, .handle_signals = signals};
}

template <typename Pred>
bool wait_for(Pred pred, std::chrono::milliseconds limit = 20s) {
  return ringactor::test::eventually(pred, limit);  // the project's bounded poll
}

// Runs node.run() on a thread of its own; run_ok says it returned without throwing.
struct Runner {
  explicit Runner(Node& node) : thread([this, &node] {
    try {
      node.run();
      ok = true;
    } catch (...) {
    }
    returned = true;
  }) {}
  ~Runner() {
    if (thread.joinable()) thread.join();
  }
  std::atomic<bool> ok{false}, returned{false};
  std::thread thread;
};

// Every reactor of `node` has run a posted closure: all loops are up.
std::vector<std::thread::id> threads_of(Node& node) {
  std::vector<std::atomic<bool>> seen(node.size());
  std::vector<std::thread::id> ids(node.size());
  for (unsigned i = 0; i < node.size(); ++i) {
    node.reactor(i).post([&, i] {
      ids[i] = std::this_thread::get_id();
      seen[i] = true;
    });
  }
  wait_for([&] {
    for (auto& s : seen) {
      if (!s) return false;
    }
    return true;
  });
  return ids;
}

}  // namespace

TEST(Node, EveryReactorRunsOnItsOwnThreadAndTheyStopTogether) {
  Node node({.reactors = 3, .reactor = quiet(), .workers = {.threads = 1}});
  ASSERT_EQ(node.size(), 3u);
  Runner runner(node);
  const std::vector<std::thread::id> ids = threads_of(node);
  const std::set<std::thread::id> distinct(ids.begin(), ids.end());
  EXPECT_EQ(distinct.size(), 3u);
  EXPECT_EQ(distinct.count(std::this_thread::get_id()), 0u);
  node.stop();
  ASSERT_TRUE(wait_for([&] { return runner.returned.load(); }));
  EXPECT_TRUE(runner.ok.load());
  for (unsigned i = 0; i < node.size(); ++i) EXPECT_TRUE(node.reactor(i).finished()) << i;
}

TEST(Node, OneReactorThatStopsTakesTheOthersWithIt) {
  Node node({.reactors = 3, .reactor = quiet(), .workers = {.threads = 1}});
  Runner runner(node);
  threads_of(node);
  node.reactor(2).stop();
  ASSERT_TRUE(wait_for([&] { return runner.returned.load(); }));
  EXPECT_TRUE(runner.ok.load());
  EXPECT_EQ(node.counters().stops_propagated, 1u);
  for (unsigned i = 0; i < node.size(); ++i) EXPECT_TRUE(node.reactor(i).finished()) << i;
}

TEST(Node, SigtermStopsEveryReactorAndSighupRunsOnce) {
  Node node({.reactors = 3, .reactor = quiet(true), .workers = {.threads = 1}});
  std::atomic<int> hups{0};
  std::atomic<bool> hup_on_reactor0{false};
  node.on_sighup([&] {
    hup_on_reactor0 = node.reactor(0).in_reactor_thread();
    ++hups;
  });
  Runner runner(node);
  threads_of(node);
  ASSERT_EQ(::kill(::getpid(), SIGHUP), 0);
  ASSERT_TRUE(wait_for([&] { return hups.load() == 1; }));
  EXPECT_TRUE(hup_on_reactor0.load());
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  ASSERT_TRUE(wait_for([&] { return runner.returned.load(); })) << "one SIGTERM stops the process's reactors";
  EXPECT_TRUE(runner.ok.load());
  EXPECT_EQ(hups.load(), 1) << "one SIGHUP, one callback";
  for (unsigned i = 0; i < node.size(); ++i) EXPECT_TRUE(node.reactor(i).finished()) << i;
}

TEST(Node, TheConnectionBudgetIsSplitAcrossReactors) {
  NodeOptions o{.reactors = 4, .reactor = quiet(), .workers = {.threads = 1}};
  o.reactor.max_connections = 1000;
  Node node(o);
  for (unsigned i = 0; i < node.size(); ++i) EXPECT_EQ(node.reactor(i).options().max_connections, 250u) << i;
  NodeOptions too_many = o;
  too_many.reactor.max_connections = 2'000'000'000;
  EXPECT_THROW(Node{too_many}, std::invalid_argument);
}

namespace {
class Counter : public ra::Actor {
 public:
  explicit Counter(std::atomic<int>* n) : n_(n) {}
  void hit(std::thread::id from) {
    if (from != std::this_thread::get_id()) ++*n_;
  }

 private:
  std::atomic<int>* n_;
};
class Hitter : public ra::Actor {
 public:
  void hit(ra::Ref<Counter> c, int times) {
    for (int i = 0; i < times; ++i) c.tell(&Counter::hit, std::this_thread::get_id());
  }
};
}  // namespace

TEST(Node, TellsBetweenItsReactorsGoThroughTheMesh) {
  Node node({.reactors = 2, .reactor = quiet(), .workers = {.threads = 1}});
  std::atomic<int> hits{0};
  auto counter = node.stage(1).spawn<Counter>(&hits);
  auto hitter = node.stage(0).spawn<Hitter>();
  Runner runner(node);
  hitter.tell(&Hitter::hit, counter, 1000);
  ASSERT_TRUE(wait_for([&] { return hits.load() == 1000; })) << hits.load();
  EXPECT_EQ(node.mesh().counters(0).sent, 1000u);
  EXPECT_EQ(node.mesh().counters(1).received, 1000u);
  node.stop();
}

TEST(Node, ReusePortListenersOnEveryReactorShareThePortAndTheConnections) {
  Node node({.reactors = 3, .reactor = quiet(), .workers = {.threads = 1}});
  std::vector<std::atomic<int>> accepted(node.size());
  std::uint16_t port = 0;
  for (unsigned i = 0; i < node.size(); ++i) {
    rt::ListenOptions lo{.port = port, .reuse_port = true};
    port = node.reactor(i).listen(lo, [&accepted, i](rt::Connection) {
      ++accepted[i];
      return std::make_unique<ringactor::test::EchoHandler>();
    });
  }
  Runner runner(node);
  std::vector<ringactor::test::Client> clients;
  for (int c = 0; c < 90; ++c) {
    clients.emplace_back(port);
    ASSERT_TRUE(clients.back().send_all("ping"));
    EXPECT_EQ(clients.back().recv_exact(4), "ping");
  }
  int total = 0;
  for (unsigned i = 0; i < node.size(); ++i) {
    total += accepted[i].load();
    // The kernel hashes each connection to one listener: 90 spread over 3 leave none empty
    // (the chance of an empty one is 3 x (2/3)^90, about 1e-15).
    EXPECT_GT(accepted[i].load(), 0) << "reactor " << i;
  }
  EXPECT_EQ(total, 90);
  clients.clear();
  node.stop();
}

TEST(Node, LinkedServersCarryATopicToItsMembersOnEveryReactor) {
  namespace http = ringactor::http;
  Node node({.reactors = 3, .reactor = quiet(), .workers = {.threads = 1}});
  std::vector<std::unique_ptr<http::Server>> servers;
  std::vector<std::uint16_t> ports;
  std::vector<std::atomic<int>> joined(node.size());
  for (unsigned i = 0; i < node.size(); ++i) {
    servers.push_back(std::make_unique<http::Server>(node.stage(i)));
    http::Server& s = *servers.back();
    s.ws("/room", {.open = [&joined, i](http::WsConnection<>& ws) {
                     ws.subscribe("room");
                     ++joined[i];
                   },
                   .message = [](http::WsConnection<>& ws, std::string_view m, http::WsOpcode op) {
                     ws.publish("room", m, op);  // a member's message reaches every reactor too
                   }});
    // 100 publishes in one handler, from this reactor.
    s.get("/say", [&s, i](http::Request&, http::Response& res) {
      for (int k = 0; k < 100; ++k) s.publish("room", ringactor::test::cat("from ", std::to_string(i), " #", std::to_string(k)));
      res.text("said\n");
    });
    ports.push_back(s.listen({}));
  }
  std::vector<http::Server*> raw;
  for (auto& s : servers) raw.push_back(s.get());
  http::Server::link(raw);
  EXPECT_THROW(http::Server::link(raw), std::invalid_argument) << "a server is linked once";
  Runner runner(node);

  // One member on each reactor.
  std::vector<std::unique_ptr<ringactor::test::WsClient>> members;
  for (unsigned i = 0; i < node.size(); ++i) {
    members.push_back(std::make_unique<ringactor::test::WsClient>(ports[i]));
    ASSERT_EQ(members.back()->handshake("/room"), 101);
  }
  ASSERT_TRUE(wait_for([&] {
    for (auto& j : joined) {
      if (j.load() != 1) return false;
    }
    return true;
  }));

  // Reactor 1 publishes: every member gets all 100, in order.
  ringactor::test::Client http_client(ports[1]);
  ASSERT_TRUE(http_client.send_all(std::string("GET /say HTTP/1.1\r\nHost: t\r\n\r\n")));
  for (auto& m : members) {
    for (int k = 0; k < 100; ++k) ASSERT_EQ(m->message(), ringactor::test::cat("from 1 #", std::to_string(k)));
  }
  const http::ServerCounters c0 = servers[0]->counters(), c1 = servers[1]->counters(), c2 = servers[2]->counters();
  EXPECT_EQ(c1.topic_relays_out, 200u) << "one message per other reactor per publish";
  EXPECT_EQ(c0.topic_relays_in, 100u);
  EXPECT_EQ(c2.topic_relays_in, 100u);
  EXPECT_EQ(c0.topic_relays_out, 0u);

  // A member's own publish (on reactor 2) reaches the others (and itself).
  ASSERT_TRUE(members[2]->text("hi all"));
  for (auto& m : members) EXPECT_EQ(m->message(), "hi all");

  // Topic options set on one server apply on every linked server: reactor 0 makes "room"
  // drop messages for members more than 1 KiB behind; a member on reactor 2 that does not
  // read (a 4 KiB receive buffer) then has messages dropped there, not buffered.
  ringactor::test::WsClient stalled(ports[2], 10s, 4096);
  ASSERT_EQ(stalled.handshake("/room"), 101);
  ASSERT_TRUE(wait_for([&] { return joined[2].load() == 2; }));
  ringactor::test::call_on(node.reactor(0), [&] {
    servers[0]->topic("room", {.policy = http::SlowConsumer::kDrop, .behind_bytes = 1024});
  });
  const std::string big(8192, 'x');
  for (int k = 0; k < 400; ++k) {
    ringactor::test::call_on(node.reactor(0), [&] { servers[0]->publish("room", big); });
  }
  std::uint64_t dropped_on_2 = 0;
  ASSERT_TRUE(wait_for([&] {
    dropped_on_2 = ringactor::test::call_on(node.reactor(2), [&] { return servers[2]->topic_counters("room").dropped; });
    return dropped_on_2 > 0;
  })) << "reactor 2 never applied the options configured on reactor 0";
  members.clear();
  node.stop();
}
