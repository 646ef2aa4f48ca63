// What a snapshot holds in memory by default: files up to memory_threshold (8 MiB) are served
// from memory without ring reads, and the max_baked_bytes budget goes to the smallest files
// first, so a few large files never push the many small ones out to disk.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "assets_support.hpp"

using namespace ringactor::test;

namespace {

// "s3.bin" and the like. (Built by appending: g++ 12 at -O3 warns, wrongly, on
// "literal" + std::string.)
std::string file_name(const char* prefix, int i) {
  std::string n(prefix);
  n += std::to_string(i);
  n += ".bin";
  return n;
}

TEST(AssetsMemory, FilesUpToEightMebibytesAreServedFromMemoryByDefault) {
  TempSite site;
  const std::string four = random_bytes(4u << 20, 11);
  const std::string nine = random_bytes(9u << 20, 12);
  site.write("four.bin", four);
  site.write("nine.bin", nine);
  AssetServer s(options_for(site));
  auto r = get(s.port(), "/four.bin");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body == four);
  EXPECT_EQ(s.assets().counters().served_memory, 1u);
  EXPECT_EQ(s.reactor().counters().file_reads, 0u);
  r = get(s.port(), "/nine.bin");  // above the threshold: read from disk
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->body == nine);
  EXPECT_EQ(s.assets().counters().served_disk, 1u);
  EXPECT_GT(s.reactor().counters().file_reads, 0u);
  EXPECT_EQ(s.assets().counters().baked_bytes, four.size() + 0u);
}

TEST(AssetsMemory, TheBudgetGoesToTheSmallestFilesFirst) {
  // 16 files of 32 KiB (baked, ~512 KiB with their heads) and 4 of 600 KiB (bodies), in
  // a 1 MiB budget: every small file fits and no large one does. Any order that reached a
  // large file before the last small ones would leave some small ones on disk (with the
  // directory's hash order that happened in all but about 1 build in 4,800).
  TempSite site;
  std::vector<std::string> small;
  for (int i = 0; i < 16; ++i) {
    small.push_back(random_bytes(32 * 1024, 100 + i));
    site.write(file_name("s", i), small.back());
  }
  for (int i = 0; i < 4; ++i) site.write(file_name("l", i), random_bytes(600 * 1024, 200 + i));
  assets::AssetOptions o = options_for(site);
  o.max_baked_bytes = 1u << 20;
  AssetServer s(o);
  const assets::AssetCounters at_start = s.assets().counters();
  EXPECT_GT(at_start.baked_bytes, 16u * 32 * 1024);
  EXPECT_LE(at_start.baked_bytes, 1u << 20);
  for (int i = 0; i < 16; ++i) {
    auto r = get(s.port(), file_name("/s", i));
    ASSERT_TRUE(r) << i;
    EXPECT_TRUE(r->body == small[i]) << i;
  }
  for (int i = 0; i < 4; ++i) {
    auto r = get(s.port(), file_name("/l", i));
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->body.size(), 600u * 1024) << i;
  }
  const assets::AssetCounters c = s.assets().counters();
  EXPECT_EQ(c.served_baked, 16u);
  EXPECT_EQ(c.served_memory, 0u);
  EXPECT_EQ(c.served_disk, 4u);
}

}  // namespace
