// A baked file is served without allocating: this binary replaces the global operator new
// and counts allocations on the reactor thread while it answers keep-alive and pipelined
// GETs of small files (revalidated with statx on every request), a 304 and a HEAD.
#include <gtest/gtest.h>

#include <string>

#include "assets_support.hpp"
#include "counting_new.hpp"

using ringactor::test::g_counted_allocations;
using ringactor::test::t_count_allocations;

using namespace ringactor::test;

TEST(AssetsAllocations, BakedFilesAllocateNothingOnceWarm) {
  TempSite site;
  site.write("app.js", std::string(3000, 'j'));
  site.write("css/site.css", "body{margin:0}");
  AssetServer srv(options_for(site));
  call_on(srv.reactor(), [] {
    t_count_allocations = true;
    return 0;
  });
  HttpClient c(srv.port());
  const std::string etag = get(srv.port(), "/app.js")->header("ETag").value_or("");
  ASSERT_FALSE(etag.empty());
  std::string batch;
  for (int i = 0; i < 8; ++i) {
    batch += "GET /app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip, br\r\n\r\n";
    batch += "GET /css/site.css HTTP/1.1\r\nHost: t\r\n\r\n";
  }
  const std::string conditional = "GET /app.js HTTP/1.1\r\nHost: t\r\nIf-None-Match: " + etag + "\r\n\r\n";
  const std::string head = "HEAD /css/./site.css HTTP/1.1\r\nHost: t\r\n\r\n";
  auto serve = [&](int rounds) {
    for (int r = 0; r < rounds; ++r) {
      ASSERT_TRUE(c.send_all(batch));
      for (int i = 0; i < 16; ++i) {
        auto resp = c.read();
        ASSERT_TRUE(resp);
        ASSERT_EQ(resp->status, 200);
      }
      ASSERT_TRUE(c.send_all(conditional));
      auto nm = c.read();
      ASSERT_TRUE(nm);
      ASSERT_EQ(nm->status, 304);
      ASSERT_TRUE(c.send_all(head));
      ASSERT_TRUE(c.read(true));
    }
  };
  serve(50);
  ASSERT_TRUE(eventually([&] { return srv.reactor().counters().timers_fired >= 2; }));
  serve(10);
  const std::uint64_t before = g_counted_allocations.load();
  const auto served_before = srv.assets().counters().served_baked;
  serve(200);
  const std::uint64_t allocations = g_counted_allocations.load() - before;
  EXPECT_EQ(srv.assets().counters().served_baked - served_before, 200u * 17);
  EXPECT_EQ(allocations, 0u) << allocations << " allocations on the reactor thread for " << 200 * 18 << " requests";
}
