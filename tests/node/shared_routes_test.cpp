// Covers what the reactors of one process share: one http::Routes table served by a Server
// on every reactor (sealed once served; its handlers, middleware, WebSocket routes, body
// limits and metrics path work on each reactor, which a handler finds through
// Request::stage()), and one assets::Assets snapshot for every reactor (built once, reloaded
// once, installed by each reactor, counters summed).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <ringactor/assets/assets.hpp>
#include <ringactor/http/server.hpp>
#include <ringactor/node/node.hpp>

#include "http_test_support.hpp"
#include "test_support.hpp"
#include "ws_test_support.hpp"

namespace ra = ringactor::actors;
namespace rt = ringactor::runtime;
namespace http = ringactor::http;
namespace assets = ringactor::assets;
namespace fs = std::filesystem;
using ringactor::node::Node;
using ringactor::test::cat;
using namespace std::chrono_literals;

namespace {

rt::ReactorOptions quiet() { return rt::ReactorOptions{.idle_timeout = 0ms, .write_timeout = 0ms}; }

// Runs node.run() on a thread of its own.
struct Runner {
  explicit Runner(Node& node) : thread([&node] { node.run(); }) {}
  ~Runner() {
    if (thread.joinable()) thread.join();
  }
  std::thread thread;
};

// One Server per reactor on one SO_REUSEPORT port, all serving `routes`.
std::uint16_t serve(Node& node, const std::shared_ptr<http::Routes>& routes,
                    std::vector<std::unique_ptr<http::Server>>& servers) {
  std::uint16_t port = 0;
  for (unsigned i = 0; i < node.size(); ++i) {
    servers.push_back(std::make_unique<http::Server>(node.stage(i), routes));
    port = servers.back()->listen({.port = port, .reuse_port = true});
  }
  return port;
}

std::optional<ringactor::test::HttpResponse> get(std::uint16_t port, const std::string& path) {
  return ringactor::test::raw_exchange(port, cat("GET ", path, " HTTP/1.1\r\nHost: t\r\n\r\n"));
}

}  // namespace

TEST(SharedRoutes, OneTableServesEveryReactor) {
  Node node({.reactors = 3, .reactor = quiet(), .workers = {.threads = 1}});
  std::vector<ra::Stage*> stages;
  for (unsigned i = 0; i < node.size(); ++i) stages.push_back(&node.stage(i));
  auto routes = std::make_shared<http::Routes>();
  std::atomic<int> before{0}, after{0};
  routes->before([&before](http::Request&, http::Response&) { ++before; });
  routes->after([&after](const http::Request&, http::Response&) { ++after; });
  // Which reactor answered, found through the request's stage.
  routes->get("/who", [stages](http::Request& req, http::Response& res) {
    for (std::size_t i = 0; i < stages.size(); ++i) {
      if (stages[i] == &req.stage()) return res.text(std::to_string(i));
    }
    res.status(500).text("unknown stage");
  });
  routes->post("/small", [](http::Request& req, http::Response& res) { res.text(std::string(req.body())); },
               {.max_body = 8});
  routes->ws("/echo", http::WsBehavior<std::monostate>{.message = [](http::WsConnection<>& ws, std::string_view m, http::WsOpcode op) {
                                           ws.send(m, op);
                                         }});
  routes->metrics("/metrics");
  EXPECT_FALSE(routes->sealed());

  std::vector<std::unique_ptr<http::Server>> servers;
  const std::uint16_t port = serve(node, routes, servers);
  EXPECT_TRUE(routes->sealed());
  EXPECT_THROW(routes->get("/late", [](http::Request&, http::Response& res) { res.end(); }), std::logic_error);
  EXPECT_THROW(servers[1]->get("/mine", [](http::Request&, http::Response& res) { res.end(); }), std::logic_error)
      << "a server of a shared table takes no routes of its own";
  EXPECT_THROW(servers[0]->ws("/mine", {}, [](http::Request&, http::WsUpgrade&) { return nullptr; }),
               std::logic_error);
  Runner runner(node);

  // 60 connections over 3 reactors: each reactor answers some (the chance that the kernel
  // hashes none to one of them is 3 x (2/3)^60, about 1e-10), each through the one table.
  std::set<std::string> answered_by;
  for (int c = 0; c < 60; ++c) {
    const auto r = get(port, "/who");
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->status, 200) << r->body;
    answered_by.insert(r->body);
  }
  EXPECT_EQ(answered_by, (std::set<std::string>{"0", "1", "2"}));
  EXPECT_EQ(before.load(), 60);
  EXPECT_EQ(after.load(), 60);
  std::uint64_t requests = 0;
  for (auto& s : servers) requests += s->counters().requests;
  EXPECT_EQ(requests, 60u);

  // The route's body limit holds on every reactor; 404 and 405 as usual.
  for (int c = 0; c < 12; ++c) {
    const auto ok = ringactor::test::raw_exchange(port, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n\r\n12345678");
    ASSERT_TRUE(ok.has_value());
    EXPECT_EQ(ok->status, 200);
    EXPECT_EQ(ok->body, "12345678");
    const auto big = ringactor::test::raw_exchange(port, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\n123456789");
    ASSERT_TRUE(big.has_value());
    EXPECT_EQ(big->status, 413);
    const auto missing = get(port, "/nothing");
    ASSERT_TRUE(missing.has_value());
    EXPECT_EQ(missing->status, 404);
    const auto wrong = ringactor::test::raw_exchange(port, "DELETE /who HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(wrong.has_value());
    EXPECT_EQ(wrong->status, 405);
  }

  // The WebSocket route upgrades on whichever reactor a connection lands on.
  std::vector<std::unique_ptr<ringactor::test::WsClient>> clients;
  for (int c = 0; c < 12; ++c) {
    clients.push_back(std::make_unique<ringactor::test::WsClient>(port));
    ASSERT_EQ(clients.back()->handshake("/echo"), 101);
    ASSERT_TRUE(clients.back()->text(cat("hello ", std::to_string(c))));
    EXPECT_EQ(clients.back()->message(), cat("hello ", std::to_string(c)));
  }
  std::uint64_t upgrades = 0;
  for (auto& s : servers) upgrades += s->counters().ws_upgrades;
  EXPECT_EQ(upgrades, 12u);
  clients.clear();

  // The metrics path answers with the metrics of the server that took the request.
  const auto m = get(port, "/metrics");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->body.find("ringactor_http_requests_total"), std::string::npos) << m->body.substr(0, 400);
  node.stop();
}

// The value of the first sample of `name` in a Prometheus text body, or -1.
double sample(const std::string& body, const std::string& name) {
  const std::string key = cat("\n", name, " ");
  const std::size_t at = body.find(key);
  if (at == std::string::npos) return -1;
  return std::strtod(body.c_str() + at + key.size(), nullptr);
}

TEST(SharedRoutes, LinkedServersServeTheProcessMetrics) {
  Node node({.reactors = 2, .reactor = quiet(), .workers = {.threads = 1}});
  auto routes = std::make_shared<http::Routes>();
  routes->get("/hi", [](http::Request&, http::Response& res) { res.text("hi"); });
  routes->metrics("/metrics");
  std::vector<std::unique_ptr<http::Server>> servers;
  const std::uint16_t port = serve(node, routes, servers);
  http::Server::link({servers[0].get(), servers[1].get()});
  Runner runner(node);
  for (int c = 0; c < 40; ++c) {
    const auto r = get(port, "/hi");
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->status, 200);
  }
  ASSERT_GT(servers[0]->counters().requests, 0u);
  ASSERT_GT(servers[1]->counters().requests, 0u);
  // Whichever reactor takes the scrape, it counts the requests of both (and itself), and
  // the connections both reactors accepted.
  for (int scrape = 1; scrape <= 6; ++scrape) {
    const auto m = get(port, "/metrics");
    ASSERT_TRUE(m.has_value());
    ASSERT_EQ(m->status, 200);
    EXPECT_EQ(sample(m->body, "ringactor_http_requests_total"), 40 + scrape) << m->body.substr(0, 600);
    EXPECT_EQ(sample(m->body, "ringactor_connections_accepted_total"), 40 + scrape);
  }
  node.stop();
}

TEST(SharedRoutes, AWebSocketRouteIsCheckedAgainstEachReactorThatTakesTheTable) {
  auto routes = std::make_shared<http::Routes>();
  routes->ws("/big", http::WsBehavior<std::monostate>{.options = {.max_buffered = 4 << 20}});
  rt::Reactor small({.max_output_bytes = 1 << 20});
  ra::Stage stage(small);
  EXPECT_THROW(http::Server(stage, routes), std::invalid_argument) << "4 MiB buffered on a 1 MiB output cap";
  EXPECT_THROW(http::Server(stage, nullptr), std::invalid_argument);
  EXPECT_THROW(routes->ws("/bad", http::WsBehavior<std::monostate>{.options = {.max_message = 0}}), std::invalid_argument);
}

TEST(SharedAssets, OneSnapshotForEveryReactorReloadedOnce) {
  const fs::path dir = fs::temp_directory_path() / cat("ringactor-shared-assets-", std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "a.txt") << "alpha";
  {
    Node node({.reactors = 2, .reactor = quiet(), .workers = {.threads = 1}});
    std::vector<ra::Stage*> stages{&node.stage(0), &node.stage(1)};
    // Without revalidation only the snapshot decides what exists: a file added later is
    // served once a reload installed the new snapshot on the reactor that gets the request.
    assets::Assets site(stages, node.workers(), {.root = dir.string(), .revalidate = false});
    const assets::Assets alone(node.stage(0), node.workers(), {.root = dir.string(), .revalidate = false});
    EXPECT_THROW(assets::Assets(std::vector<ra::Stage*>{&node.stage(0), &node.stage(0)}, node.workers(),
                                {.root = dir.string()}),
                 std::invalid_argument)
        << "two stages of one reactor";
    EXPECT_THROW(assets::Assets(std::vector<ra::Stage*>{}, node.workers(), {.root = dir.string()}),
                 std::invalid_argument);
    auto routes = std::make_shared<http::Routes>();
    routes->fallback(site.handler());
    std::vector<std::unique_ptr<http::Server>> servers;
    const std::uint16_t port = serve(node, routes, servers);
    Runner runner(node);

    // 40 connections over 2 reactors: both serve from the one snapshot.
    for (int c = 0; c < 40; ++c) {
      const auto r = get(port, "/a.txt");
      ASSERT_TRUE(r.has_value());
      ASSERT_EQ(r->status, 200);
      EXPECT_EQ(r->body, "alpha");
      const auto b = get(port, "/b.txt");
      ASSERT_TRUE(b.has_value());
      EXPECT_EQ(b->status, 404);
    }
    std::uint64_t per_reactor[2] = {servers[0]->counters().requests, servers[1]->counters().requests};
    EXPECT_GT(per_reactor[0], 0u);
    EXPECT_GT(per_reactor[1], 0u);
    assets::AssetCounters c = site.counters();
    EXPECT_EQ(c.files, 1u) << "one snapshot, counted once";
    EXPECT_EQ(c.baked_bytes, alone.counters().baked_bytes) << "what one reactor's snapshot holds, not twice that";
    EXPECT_EQ(c.served_baked, 40u) << "summed over the reactors";
    EXPECT_EQ(c.not_found, 40u);

    // One reload builds once and every reactor installs the result.
    std::ofstream(dir / "b.txt") << "bravo";
    std::atomic<bool> done{false};
    std::string error = "not called";
    site.reload([&](const std::string& e) {
      error = e;
      done = true;
    });
    ASSERT_TRUE(ringactor::test::eventually([&] { return done.load(); }));
    EXPECT_EQ(error, "");
    ASSERT_TRUE(ringactor::test::eventually([&] {
      for (int k = 0; k < 20; ++k) {
        const auto b = get(port, "/b.txt");
        if (!b || b->status != 200 || b->body != "bravo") return false;
      }
      return true;
    })) << "a reactor kept the old snapshot";
    c = site.counters();
    EXPECT_EQ(c.reloads, 1u) << "one build for both reactors";
    EXPECT_EQ(c.files, 2u);
    node.stop();
  }
  fs::remove_all(dir);
}
