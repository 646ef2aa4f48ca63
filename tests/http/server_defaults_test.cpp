// HTTP defaults a production backend needs: a silent connection is closed after
// header_timeout, a trickled body is cut by the minimum rate after a short grace, empty
// lines before a request line are ignored, and a path served under other methods answers
// 405 with Allow even when a fallback (static files) is mounted. The Date header follows
// the clock although it is read once per loop iteration.
#include <gtest/gtest.h>

#include <poll.h>

#include <chrono>
#include <ctime>
#include <string>
#include <thread>

#include "http_test_support.hpp"

namespace {

using namespace ringactor::test;
using namespace std::chrono_literals;

void plaintext(http::Server& s) {
  s.get("/plaintext", [](http::Request&, http::Response& res) { res.text("Hello, World!"); });
  s.post("/echo", [](http::Request& req, http::Response& res) { res.bytes(req.body()); });
}

// True when the socket has something to read (data or EOF) within `limit`.
bool readable_within(int fd, std::chrono::milliseconds limit) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(limit.count())) == 1;
}

TEST(HttpDefaults, AConnectionThatSendsNothingIsClosedAfterTheHeaderTimeout) {
  // idle_timeout stays at its minute: only header_timeout can close these.
  HttpServerThread srv(plaintext, {.header_timeout = 300ms});
  HttpClient silent(srv.port());
  HttpClient served(srv.port());
  served.send_all("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = served.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_TRUE(readable_within(silent.fd(), 5s)) << "the silent connection is closed";
  EXPECT_TRUE(silent.at_eof()) << "closed without an answer: nothing was asked";
  EXPECT_EQ(srv.counters().header_timeouts, 1u);
  // A connection that was served goes back to idle_timeout: still open well past 300 ms.
  EXPECT_FALSE(readable_within(served.fd(), 900ms));
  served.send_all("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  r = served.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "Hello, World!");
}

TEST(HttpDefaults, ABodyTrickledAtOneBytePerSecondIsCutWithinTenSeconds) {
  HttpServerThread srv(plaintext);  // every timeout and rate at its default
  HttpClient c(srv.port());
  // Larger than what waits in the input carry (16 KiB, timed as part of the head): the body
  // path with its rate check.
  c.send_all("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
  const auto start = std::chrono::steady_clock::now();
  while (!readable_within(c.fd(), 1000ms) && std::chrono::steady_clock::now() - start < 15s) c.send_all("a");
  const auto took = std::chrono::steady_clock::now() - start;
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_LT(took, 10s) << "cut after the grace, not after body_timeout (30 s)";
  EXPECT_EQ(srv.counters().body_timeouts, 1u);
}

TEST(HttpDefaults, ASteadySlowUploadAboveTheRateIsNotCut) {
  HttpServerThread srv(plaintext, {.min_body_rate = 1000, .body_rate_grace = 200ms});
  HttpClient c(srv.port());
  const std::string body(3000, 'b');
  c.send_all("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3000\r\n\r\n");
  // 300 bytes every 100 ms: 3000 bytes/s, three times the minimum, for one second.
  for (std::size_t off = 0; off < body.size(); off += 300) {
    c.send_all(body.substr(off, 300));
    if (off + 300 < body.size()) {
      EXPECT_FALSE(readable_within(c.fd(), 100ms)) << "answered early at " << off;
    }
  }
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, body);
}

TEST(HttpDefaults, EmptyLinesBeforeARequestLineAreIgnoredAlsoWhenPipelined) {
  HttpServerThread srv(plaintext);
  HttpClient c(srv.port());
  c.send_all("\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n\r\n\nGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n\r\n");
  for (int i = 0; i < 2; ++i) {
    auto r = c.read();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200) << i;
  }
  // Split across writes: an empty line, then the request.
  c.send_all("\r\n");
  c.send_all("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(srv.counters().protocol_errors, 0u);
}

TEST(HttpDefaults, OnlyEmptyLinesStillHitTheHeaderTimeout) {
  HttpServerThread srv(plaintext, {.header_timeout = 300ms});
  HttpClient c(srv.port());
  const auto start = std::chrono::steady_clock::now();
  while (!readable_within(c.fd(), 50ms) && std::chrono::steady_clock::now() - start < 5s) c.send_all("\r\n");
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
}

TEST(HttpDefaults, AnotherMethodOnARoutedPathIs405EvenWithAFallback) {
  HttpServerThread srv([](http::Server& s) {
    plaintext(s);
    s.fallback([](http::Request&, http::Response& res) { res.text("fallback"); });
  });
  auto r = raw_exchange(srv.port(), "DELETE /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("Allow"), "GET, HEAD");
  r = raw_exchange(srv.port(), "GET /elsewhere HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "fallback");
  r = raw_exchange(srv.port(), "DELETE /elsewhere HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "fallback") << "paths no route serves belong to the fallback, whatever the method";
}

// Date is read from the clock once per loop iteration: a later request, in a later
// iteration, carries the current second; a stale value (never refreshed) would fail.
TEST(HttpDefaults, TheDateHeaderFollowsTheClock) {
  HttpServerThread srv(plaintext);
  HttpClient c(srv.port());
  auto date_now = [&]() -> std::time_t {
    c.send_all("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    auto r = c.read();
    if (!r || !r->header("Date")) return -1;
    std::tm tm{};
    const std::string text(*r->header("Date"));
    if (::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) == nullptr) return -1;
    return ::timegm(&tm);
  };
  const std::time_t first = date_now();
  ASSERT_GT(first, 0);
  EXPECT_LE(std::abs(first - std::time(nullptr)), 2);
  std::time_t later = first;
  ASSERT_TRUE(eventually([&] { return (later = date_now()) > first; }, 5s)) << "Date never moved on";
  EXPECT_LE(std::abs(later - std::time(nullptr)), 2);
}

}  // namespace
