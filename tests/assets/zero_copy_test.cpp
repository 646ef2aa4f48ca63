// Zero-copy send (ReactorOptions::zero_copy_send) over real sockets: bodies sent with
// SEND_ZC arrive byte-exact while the connection's slabs are reused for the next answers on
// the same keep-alive connection, and every send's notification arrives (nothing pinned
// is leaked). Also a baked asset and a large file sent by reference with zero-copy.
#include <gtest/gtest.h>

#include <string>

#include "assets_support.hpp"

using namespace ringactor::test;

namespace {

// A body that differs per request, so a slab recycled before the kernel was done with it
// would show up as bytes of the wrong request.
std::string body_for(int i) { return random_bytes(100 * 1024, 1000 + static_cast<unsigned>(i)); }

}  // namespace

TEST(ZeroCopySend, HundredKiBBodiesAreByteExactAcrossKeepAliveSlabReuse) {
  TempSite site;
  site.write("baked.bin", random_bytes(100 * 1024, 3));     // baked: a shared block
  site.write("large.bin", random_bytes(3 << 20, 4));        // read buffers
  rt::ReactorOptions ro;
  ro.zero_copy_send = true;
  assets::AssetOptions o = options_for(site);
  o.splice = false;  // large files through read buffers, which zero-copy sends must pin
  o.memory_threshold = 0;
  AssetServer s(o, ro, [](http::Server& server) {
    server.get("/gen/:i", [](http::Request& req, http::Response& res) {
      res.bytes(body_for(std::stoi(std::string(req.param("i")))));  // copied into pooled slabs
    });
  });
  HttpClient c(s.port());
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(c.send_all("GET /gen/" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto r = c.read();
    ASSERT_TRUE(r);
    ASSERT_EQ(r->body.size(), 100u * 1024);
    EXPECT_TRUE(r->body == body_for(i)) << "request " << i;
  }
  // Pipelined: several answers share slabs within one send.
  std::string burst;
  for (int i = 40; i < 50; ++i) burst += "GET /gen/" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_TRUE(c.send_all(burst));
  for (int i = 40; i < 50; ++i) {
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->body == body_for(i)) << "request " << i;
  }
  auto r = get(s.port(), "/baked.bin");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->body == random_bytes(100 * 1024, 3));
  r = get(s.port(), "/large.bin");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->body == random_bytes(3 << 20, 4));

  const rt::Counters rc = s.reactor().counters();
  EXPECT_GT(rc.zero_copy_sends, 40u);  // at least one per sequential request
  // Every zero-copy send's buffers are released by its notification.
  EXPECT_TRUE(eventually([&] {
    const rt::Counters now = s.reactor().counters();
    return now.zero_copy_notifs == now.zero_copy_sends;
  }));
  s.stop();
  EXPECT_EQ(s.reactor().output_slabs_in_use(), 0u);
}

TEST(ZeroCopySend, SmallAnswersStayOnPlainSends) {
  TempSite site;
  site.write("small.txt", "tiny");
  rt::ReactorOptions ro;
  ro.zero_copy_send = true;
  AssetServer s(options_for(site), ro);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(get(s.port(), "/small.txt")->body, "tiny");
  EXPECT_EQ(s.reactor().counters().zero_copy_sends, 0u);
}

TEST(ZeroCopySend, ThresholdMustBePositive) {
  rt::ReactorOptions ro;
  ro.zero_copy_send = true;
  ro.zero_copy_threshold = 0;
  EXPECT_THROW(rt::Reactor{ro}, std::invalid_argument);
}
