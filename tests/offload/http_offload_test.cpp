// A route that offloads: the answer comes through a DeferredResponse; an overloaded arena
// answers 503 with Retry-After at once.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <ringactor/offload/worker_arena.hpp>

#include "http_test_support.hpp"

namespace {

using namespace ringactor::test;
using namespace std::chrono_literals;
namespace off = ringactor::offload;

TEST(HttpOffload, ARouteOffloadsAndAnswers503WhenTheArenaIsFull) {
  off::WorkerArena arena({.threads = 1, .max_in_flight = 1});
  std::atomic<bool> release{false};
  std::atomic<std::thread::id> work_thread{};
  HttpServerThread srv([&](http::Server& s) {
    s.get("/square/:n", [&](http::Request& req, http::Response& res) {
      const int n = std::stoi(std::string(req.param("n")));
      arena.offload(
          ra::Stage::current(),
          [&, n] {
            work_thread = std::this_thread::get_id();
            while (!release.load()) std::this_thread::sleep_for(200us);
            return n * n;
          },
          [d = res.defer()](off::Result<int> r) mutable {
            if (r) {
              d.json("{\"square\":" + std::to_string(*r) + "}");
            } else if (r.failure() == off::Failure::kOverloaded) {
              d.status(503).header("Retry-After", "1").text("busy, retry\n");
            } else {
              d.status(500).text(r.message() + "\n");
            }
          });
    });
  });
  HttpClient first(srv.port());
  first.send_all("GET /square/12 HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(eventually([&] { return arena.counters().in_flight == 1; }));
  auto busy = raw_exchange(srv.port(), "GET /square/3 HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 503);
  EXPECT_EQ(busy->header("Retry-After"), "1");
  release = true;
  auto r = first.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"square\":144}");
  EXPECT_NE(work_thread.load(), srv.reactor_thread());
  srv.stop();
}

}  // namespace
