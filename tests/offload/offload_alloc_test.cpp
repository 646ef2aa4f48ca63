// Covers the allocation claim of offload(): once warm, a tiny offload (its job, its control
// block, the trip to the worker and the result's trip back) performs no heap allocation.
// This binary replaces the global operator new to count.
#include <gtest/gtest.h>

#include <ringactor/offload/worker_arena.hpp>

#include "actor_test_support.hpp"
#include "counting_new.hpp"

using namespace ringactor::test;
namespace off = ringactor::offload;

namespace {
// Keeps `window` tiny offloads in flight until `total` came back.
class Chain : public ra::Actor {
 public:
  Chain(off::WorkerArena& arena, int window) : arena_(arena), window_(window) {}
  void run(int total) {
    left_ = total;
    for (int i = 0; i < window_ && left_ > 0; ++i, --left_) next();
  }
  int done = 0;
  long sum = 0;

 private:
  void next() {
    arena_.offload(
        *this, [v = done] { return v + 1; },
        [this](off::Result<int> r) {
          ++done;
          if (r) sum += *r;
          if (left_ > 0) {
            --left_;
            next();
          }
        });
  }
  off::WorkerArena& arena_;
  int window_;
  int left_ = 0;
};
}  // namespace

TEST(OffloadAllocations, AWarmTinyOffloadAllocatesNothing) {
  SteppedStage s;
  off::WorkerArena arena({.threads = 1});
  auto chain = s.stage().spawn<Chain>(arena, 64);
  int* done = nullptr;
  s.stage().with_actor(chain.id(), [&](ra::Actor& a) { done = &static_cast<Chain&>(a).done; });
  ASSERT_NE(done, nullptr);
  chain.tell(&Chain::run, 20'000);  // warm-up: pools, queues and caches reach their size
  ASSERT_TRUE(s.run_until([&] { return *done == 20'000; }, 60s));

  chain.tell(&Chain::run, 20'000);  // (the test's tell, not counted: the first local one)
  const std::uint64_t before = g_allocations.load();
  ASSERT_TRUE(s.run_until([&] { return *done == 40'000; }, 60s));
  const std::uint64_t during = g_allocations.load() - before;
  EXPECT_EQ(during, 0u) << "20,000 warm offloads allocated " << during << " times (every thread counted)";
  EXPECT_EQ(arena.counters().delivered, 40'000u);

  // The counter sees offload allocations: a result too large for the pooled blocks
  // (over 1 KiB of job) goes to the heap.
  struct Big {
    char bytes[2048];
  };
  const std::uint64_t before_big = g_allocations.load();
  bool big_done = false;
  arena.offload(chain.id(), [] { return Big{}; }, [&](off::Result<Big>) { big_done = true; });
  EXPECT_GE(g_allocations.load() - before_big, 1u);
  ASSERT_TRUE(s.run_until([&] { return big_done; }));
}
