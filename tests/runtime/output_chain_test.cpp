// Covers OutputChain/OutputPool: copies filling slabs, shared block references, iovec
// building, partial consumption (resumed sends) and that every slab returns to the pool.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include <ringactor/runtime/output_chain.hpp>

namespace rt = ringactor::runtime;

namespace {
std::span<const std::byte> as_bytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}
std::string gather(const rt::OutputChain& c) {
  iovec iov[64];
  const std::size_t n = c.fill_iovecs(iov, 64);
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return out;
}
}  // namespace

TEST(OutputChain, CopiesSpanSlabsAndConsumePartially) {
  rt::OutputPool pool(64, 4);
  rt::OutputChain chain;
  std::string data;
  for (int i = 0; i < 200; ++i) data.push_back(static_cast<char>('a' + i % 26));
  chain.append_copy(pool, as_bytes(data.substr(0, 50)));
  chain.append_copy(pool, as_bytes(data.substr(50)));
  EXPECT_EQ(chain.bytes(), 200u);
  EXPECT_EQ(pool.slabs_in_use(), 4u) << "200 bytes in 64-byte slabs, the first one filled up";
  EXPECT_EQ(gather(chain), data);
  chain.consume(pool, 70);
  EXPECT_EQ(gather(chain), data.substr(70));
  EXPECT_EQ(pool.slabs_in_use(), 3u);
  chain.consume(pool, 130);
  EXPECT_TRUE(chain.empty());
  EXPECT_EQ(pool.slabs_in_use(), 0u);
  EXPECT_EQ(pool.segments_in_use(), 0u);
}

TEST(OutputChain, SharedBlocksAreReferencedNotCopied) {
  rt::OutputPool pool(64, 4);
  rt::OutputChain a, b;
  auto block = rt::SharedBlock::copy_of(std::string_view("broadcast frame"));
  a.append_copy(pool, as_bytes("x:"));
  a.append_block(pool, block, 0, block.size());
  b.append_block(pool, block, 10, 5);
  EXPECT_EQ(block.use_count(), 3);
  EXPECT_EQ(gather(a), "x:broadcast frame");
  EXPECT_EQ(gather(b), "frame");
  iovec iov[4];
  ASSERT_EQ(b.fill_iovecs(iov, 4), 1u);
  EXPECT_EQ(iov[0].iov_base, block.data() + 10) << "the iovec points into the block itself";
  a.clear(pool);
  b.consume(pool, 5);
  EXPECT_EQ(block.use_count(), 1);
  EXPECT_EQ(pool.slabs_in_use(), 0u);
}

TEST(OutputChain, PooledBlocksAreMarkedAndFound) {
  rt::OutputPool pool(64, 4);
  rt::OutputChain chain;
  auto plain = rt::SharedBlock::copy_of(std::string_view("plain"));
  auto pooled = rt::SharedBlock::build_pooled(6, [](std::span<std::byte> out) { std::memcpy(out.data(), "pooled", 6); });
  EXPECT_FALSE(plain.pooled());
  EXPECT_TRUE(pooled.pooled());
  EXPECT_EQ(pooled.size(), 6u) << "the mark does not change the size";
  EXPECT_TRUE(rt::SharedBlock(pooled).pooled()) << "copies share the mark";
  chain.append_copy(pool, as_bytes("head:"));
  chain.append_block(pool, plain, 0, plain.size());
  EXPECT_FALSE(chain.holds_pooled());
  chain.append_block(pool, pooled, 0, pooled.size());
  EXPECT_TRUE(chain.holds_pooled());
  EXPECT_EQ(gather(chain), "head:plainpooled");
  chain.consume(pool, 10);
  EXPECT_TRUE(chain.holds_pooled());
  chain.consume(pool, 6);
  EXPECT_FALSE(chain.holds_pooled()) << "sent: the chain no longer references it";
  EXPECT_EQ(pooled.use_count(), 1);
  chain.clear(pool);
}

TEST(OutputChain, AppendingWhileFrontIsInFlight) {
  rt::OutputPool pool(64, 4);
  rt::OutputChain chain;
  chain.append_copy(pool, as_bytes("hello "));
  iovec iov[4];
  ASSERT_EQ(chain.fill_iovecs(iov, 4), 1u);
  ASSERT_EQ(iov[0].iov_len, 6u);
  chain.append_copy(pool, as_bytes("world"));  // lands in the same slab, after the iovec's range
  chain.consume(pool, 6);
  EXPECT_EQ(gather(chain), "world");
  chain.clear(pool);
}

TEST(OutputChain, IovecLimit) {
  rt::OutputPool pool(64, 0);
  rt::OutputChain chain;
  auto block = rt::SharedBlock::copy_of(std::string_view("0123456789"));
  for (int i = 0; i < 100; ++i) chain.append_block(pool, block, 0, 10);
  iovec iov[64];
  EXPECT_EQ(chain.fill_iovecs(iov, 64), 64u);
  EXPECT_EQ(chain.bytes(), 1000u);
  chain.clear(pool);
  EXPECT_EQ(block.use_count(), 1);
}
