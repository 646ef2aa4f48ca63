// A route that offloads: the answer comes through a DeferredResponse; an overloaded arena
// answers 503 with Retry-After at once; work done for an answer follows its lifeline (the
// client leaving, by FIN or reset, or the server stopping cancels it, queued work is
// skipped and later requests are not stuck behind orphaned work).
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sys/socket.h>

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

// One worker, a route whose work spins until its token says stop (or a 20 s safety limit,
// so a broken cancellation fails the test instead of hanging it).
struct SpinRoute {
  off::WorkerArena arena{{.threads = 1}};
  std::atomic<int> started{0};
  std::atomic<int> stopped_by_token{0};
  std::atomic<int> ran_to_limit{0};
  std::atomic<int> answered_cancelled{0};

  void install(http::Server& s) {
    s.get("/spin", [this](http::Request&, http::Response& res) {
      arena.offload(
          res.defer(),
          [this](const off::CancelToken& cancel) {
            started.fetch_add(1);
            const auto limit = std::chrono::steady_clock::now() + 20s;
            while (std::chrono::steady_clock::now() < limit) {
              if (cancel.cancelled()) {
                stopped_by_token.fetch_add(1);
                return 0;
              }
              std::this_thread::yield();  // simulated work between token checks
            }
            ran_to_limit.fetch_add(1);
            return 1;
          },
          [this](off::Result<int> r, http::DeferredResponse& answer) {
            if (r.failure() == off::Failure::kCancelled) answered_cancelled.fetch_add(1);
            if (r) {
              answer.text("spun\n");
            } else {
              answer.status(503).text(r.message() + "\n");
            }
          });
    });
    s.get("/quick", [this](http::Request&, http::Response& res) {
      arena.offload(res.defer(), [] { return 7; },
                    [](off::Result<int> r, http::DeferredResponse& answer) { answer.text(std::to_string(r.value())); });
    });
  }
};

TEST(HttpOffload, AClientThatLeavesCancelsTheWorkItStartedAndTheQueuedWork) {
  SpinRoute spin;
  HttpServerThread srv([&](http::Server& s) { spin.install(s); });
  {
    // Three requests that will never be waited for: the first runs, two queue behind it on
    // the one worker. The client closes (FIN, as curl --max-time does).
    HttpClient gone(srv.port());
    gone.send_all("GET /spin HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(eventually([&] { return spin.started.load() == 1; }));
    HttpClient gone2(srv.port());
    gone2.send_all("GET /spin HTTP/1.1\r\nHost: t\r\n\r\nGET /spin HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(eventually([&] { return spin.arena.counters().in_flight == 3; }));
    ::shutdown(gone2.fd(), SHUT_RDWR);
    ::shutdown(gone.fd(), SHUT_RDWR);
  }
  // The running work sees its token; the queued work never starts.
  ASSERT_TRUE(eventually([&] { return spin.stopped_by_token.load() == 1; }, 10s));
  ASSERT_TRUE(eventually([&] { return spin.arena.counters().in_flight == 0; }, 10s));
  EXPECT_EQ(spin.started.load(), 1) << "queued work of a client that left is skipped";
  EXPECT_EQ(spin.ran_to_limit.load(), 0);
  EXPECT_EQ(spin.answered_cancelled.load(), 3);
  EXPECT_EQ(spin.arena.counters().cancelled, 3u);
  // A later request is not stuck behind orphaned work.
  auto r = raw_exchange(srv.port(), "GET /quick HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "7");
  srv.stop();
}

TEST(HttpOffload, AResetClientCancelsItsWorkToo) {
  SpinRoute spin;
  HttpServerThread srv([&](http::Server& s) { spin.install(s); });
  HttpClient gone(srv.port());
  gone.send_all("GET /spin HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(eventually([&] { return spin.started.load() == 1; }));
  gone.reset();
  ASSERT_TRUE(eventually([&] { return spin.stopped_by_token.load() == 1; }, 10s));
  ASSERT_TRUE(eventually([&] { return spin.arena.counters().in_flight == 0; }, 10s));
  EXPECT_EQ(spin.ran_to_limit.load(), 0);
  // The answer had nowhere to go: dropped and counted, not an abandoned (buggy) answer.
  EXPECT_TRUE(eventually([&] { return srv.counters().deferred_dropped == 1; }));
  EXPECT_EQ(srv.counters().deferred_abandoned, 0u);
  srv.stop();
}

TEST(HttpOffload, AStoppingServerCancelsQueuedWorkAndAnswers503WithClose) {
  SpinRoute spin;
  HttpServerThread srv([&](http::Server& s) { spin.install(s); }, {}, {.shutdown_grace = 30s});
  std::vector<HttpClient> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back(srv.port());
    clients.back().send_all("GET /spin HTTP/1.1\r\nHost: t\r\n\r\n");
  }
  ASSERT_TRUE(eventually([&] { return spin.arena.counters().in_flight == 4 && spin.started.load() == 1; }));
  srv.begin_stop();
  // Every client gets its answer long before the 30 s grace: the running work stopped at
  // its token, the queued work never ran.
  for (HttpClient& c : clients) {
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->header("Connection"), "close");
    EXPECT_TRUE(c.at_eof());
  }
  srv.join();
  EXPECT_EQ(spin.started.load(), 1);
  EXPECT_EQ(spin.stopped_by_token.load(), 1);
  EXPECT_EQ(spin.answered_cancelled.load(), 4);
}

}  // namespace
