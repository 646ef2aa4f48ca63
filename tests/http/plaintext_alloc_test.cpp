// The plaintext path allocates nothing per request once warm: this binary replaces the
// global operator new and counts the allocations made on the reactor thread while it serves
// keep-alive and pipelined GET /plaintext requests over a real socket.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "counting_new.hpp"
#include "http_test_support.hpp"

using ringactor::test::g_counted_allocations;
using ringactor::test::t_count_allocations;

using namespace ringactor::test;

TEST(HttpAllocations, PlaintextRequestsAllocateNothingOnceWarm) {
  HttpServerThread srv([](http::Server& s) {
    s.get("/plaintext", [](http::Request&, http::Response& res) { res.text("Hello, World!"); });
  });
  call_on(srv.reactor(), [] {
    t_count_allocations = true;
    return 0;
  });
  HttpClient c(srv.port());
  const std::string one = "GET /plaintext HTTP/1.1\r\nHost: bench\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n";
  std::string batch;
  for (int i = 0; i < 16; ++i) batch += one;
  auto serve = [&](int rounds) {
    for (int r = 0; r < rounds; ++r) {
      // One request, then a pipelined batch of 16.
      ASSERT_TRUE(c.send_all(one));
      auto resp = c.read();
      ASSERT_TRUE(resp);
      ASSERT_EQ(resp->body, "Hello, World!");
      ASSERT_TRUE(c.send_all(batch));
      for (int i = 0; i < 16; ++i) ASSERT_TRUE(c.read());
    }
  };
  // Warm: scratch buffers, output slabs and header arrays reach their sizes, and the
  // reactor's housekeeping timer (the timeout scan) has fired, growing its own lists once.
  serve(50);
  ASSERT_TRUE(eventually([&] { return srv.reactor().counters().timers_fired >= 2; }));
  serve(10);
  const std::uint64_t before = g_counted_allocations.load();
  const std::uint64_t requests_before = srv.counters().requests;
  serve(200);
  const std::uint64_t requests = srv.counters().requests - requests_before;
  const std::uint64_t allocations = g_counted_allocations.load() - before;
  EXPECT_EQ(requests, 200u * 17);
  EXPECT_EQ(allocations, 0u) << allocations << " allocations on the reactor thread for " << requests << " requests";
}
