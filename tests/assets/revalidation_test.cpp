// Revalidation coalesced per loop iteration: the requests one iteration handles (pipelined
// in one write) see one file state and cost one statx per file; the next iteration looks
// again, so an edit is served at once.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "assets_support.hpp"

using namespace ringactor::test;

namespace {

TEST(AssetsRevalidation, OneStatxPerFilePerIterationAndAChangeIsSeenInTheNext) {
  TempSite site;
  site.write("a.txt", "alpha\n");
  site.write("b.txt", "beta\n");
  AssetServer s(options_for(site));
  // Twenty pipelined requests for two files, in one write: one receive, one iteration.
  std::string batch;
  for (int i = 0; i < 10; ++i) {
    batch += "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    batch += "GET /b.txt HTTP/1.1\r\nHost: t\r\n\r\n";
  }
  HttpClient c(s.port());
  const std::uint64_t before = s.reactor().counters().iterations;
  c.send_all(batch);
  for (int i = 0; i < 20; ++i) {
    auto r = c.read();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->body, i % 2 == 0 ? "alpha\n" : "beta\n");
  }
  const std::uint64_t revalidations = s.assets().counters().revalidations;
  const std::uint64_t iterations = s.reactor().counters().iterations - before;
  EXPECT_GE(revalidations, 2u);
  // At most one statx per file per iteration that handled requests (the batch normally
  // arrives in one receive: 2 statx for 20 requests).
  EXPECT_LE(revalidations, 2 * iterations);
  EXPECT_LT(revalidations, 20u) << "revalidation was not coalesced";
  // An edit in place (a longer file, so the size tells it apart whatever the mtime tick) is
  // seen by the next request, in a later iteration.
  const int fd = ::open(site.file("a.txt").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "ALPHA!\n", 7, 0), 7);
  ::close(fd);
  c.send_all("GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "ALPHA!\n");
  EXPECT_GE(s.assets().counters().served_live, 1u);
}

}  // namespace
