// Covers SlotPool: O(1) acquire/release, generations that expose stale handles, the live
// list used by timeout scans, and behaviour at capacity.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>

#include <ringactor/runtime/slot_pool.hpp>

namespace rt = ringactor::runtime;

namespace {
struct Counted {
  static inline int alive = 0;
  std::string name;
  explicit Counted(std::string n) : name(std::move(n)) { ++alive; }
  ~Counted() { --alive; }
};
}  // namespace

TEST(SlotPool, AcquireReleaseAndGenerations) {
  rt::SlotPool<Counted> pool(4);
  const auto a = pool.acquire("a");
  const auto b = pool.acquire("b");
  ASSERT_NE(a, pool.kNoIndex);
  ASSERT_NE(b, pool.kNoIndex);
  EXPECT_NE(a, b);
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_EQ(Counted::alive, 2);
  const auto gen_a = pool.generation(a);
  EXPECT_EQ(pool.find(a, gen_a)->name, "a");

  pool.release(a);
  EXPECT_EQ(Counted::alive, 1);
  EXPECT_EQ(pool.find(a, gen_a), nullptr) << "a released slot must not be found";
  EXPECT_FALSE(pool.is_live(a));

  const auto c = pool.acquire("c");
  EXPECT_EQ(c, a) << "the free slot is reused";
  EXPECT_NE(pool.generation(c), gen_a);
  EXPECT_EQ(pool.find(a, gen_a), nullptr) << "the old generation stays stale after reuse";
  EXPECT_EQ(pool.find(c, pool.generation(c))->name, "c");
}

TEST(SlotPool, FullPoolRefusesAndRecovers) {
  rt::SlotPool<Counted> pool(3);
  for (int i = 0; i < 3; ++i) ASSERT_NE(pool.acquire(std::to_string(i)), pool.kNoIndex);
  EXPECT_TRUE(pool.full());
  EXPECT_EQ(pool.acquire("x"), pool.kNoIndex);
  pool.release(1);
  EXPECT_EQ(pool.acquire("y"), 1u);
}

TEST(SlotPool, LiveListTracksOccupiedSlots) {
  rt::SlotPool<Counted> pool(100);
  std::set<std::uint32_t> expect;
  for (int i = 0; i < 100; ++i) expect.insert(pool.acquire("n"));
  for (std::uint32_t i = 0; i < 100; i += 3) {
    pool.release(i);
    expect.erase(i);
  }
  std::set<std::uint32_t> live(pool.live().begin(), pool.live().end());
  EXPECT_EQ(live, expect);
  EXPECT_EQ(pool.size(), expect.size());
}

TEST(SlotPool, ConstructorExceptionLeavesPoolUnchanged) {
  struct Throws {
    explicit Throws(bool t) {
      if (t) throw std::runtime_error("no");
    }
  };
  rt::SlotPool<Throws> pool(2);
  EXPECT_THROW(pool.acquire(true), std::runtime_error);
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_NE(pool.acquire(false), pool.kNoIndex);
  EXPECT_NE(pool.acquire(false), pool.kNoIndex);
  EXPECT_TRUE(pool.full());
}

TEST(SlotPool, DestructorDestroysLiveObjects) {
  {
    rt::SlotPool<Counted> pool(8);
    pool.acquire("a");
    pool.acquire("b");
  }
  EXPECT_EQ(Counted::alive, 0);
}

TEST(SlotPool, RejectsZeroCapacity) { EXPECT_THROW(rt::SlotPool<int>(0), std::invalid_argument); }
