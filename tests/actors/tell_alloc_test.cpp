// Covers the allocation claim of Ref::tell: with a warmed-up run queue, a tell of a small
// argument pack to an actor on the same thread performs no heap allocation, and neither does
// a tell from another thread once the invoke queue is warm. This binary replaces
// the global operator new to count.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>

#include "actor_test_support.hpp"
#include "counting_new.hpp"

using ringactor::test::g_allocations;

using namespace ringactor::test;

namespace {
struct Big {
  std::array<char, 128> bytes{};
};

class Sink : public ra::Actor {
 public:
  void small(int a, double b, std::uint64_t c) { sum_ += a + static_cast<std::uint64_t>(b) + c; }
  void big(Big b) { sum_ += static_cast<std::uint64_t>(b.bytes[0]); }
  std::uint64_t sum() const { return sum_; }
  std::uint64_t count = 0;
  void tick() { ++count; }

 private:
  std::uint64_t sum_ = 0;
};
}  // namespace

TEST(TellAllocations, LocalTellOfSmallArgumentsAllocatesNothing) {
  SteppedStage s;
  auto sink = s.stage().spawn<Sink>();
  s.step();  // this thread is now the reactor thread: tells take the local run queue
  for (int i = 0; i < 5000; ++i) sink.tell(&Sink::small, i, 1.0, std::uint64_t{2});
  while (s.stage().counters().messages < 5000) s.step();

  const std::uint64_t before = g_allocations.load();
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 1000; ++i) sink.tell(&Sink::small, i, 1.0, std::uint64_t{2});
    const auto target = 5000u + 1000u * static_cast<unsigned>(round + 1);
    while (s.stage().counters().messages < target) s.step();
  }
  const std::uint64_t during = g_allocations.load() - before;
  EXPECT_EQ(during, 0u) << "20,000 local tells allocated " << during << " times";

  // The counter works: a 128-byte argument does not fit inline and is allocated.
  const std::uint64_t before_big = g_allocations.load();
  sink.tell(&Sink::big, Big{});
  EXPECT_GE(g_allocations.load() - before_big, 1u);
  s.step();
}

// Once warm, a tell from another thread allocates nothing: the message travels inline in
// the invoke queue's element, the queue reuses its blocks, and the posting thread's slot is
// registered on its first post. The stream goes in batches of 1,000 that the reactor takes
// before the next, as during warm-up, so the queue never needs more blocks than it had.
// Both wake-up protocols: the loop parks between batches, or spins (invoke_spin).
void cross_thread_tells_allocate_nothing(std::chrono::microseconds spin) {
  rt::ReactorOptions options = SteppedStage::quiet();
  options.invoke_spin = spin;
  StageThread t(options);
  auto sink = t.stage().spawn<Sink>();
  t.start();
  constexpr int kBatch = 1000, kWarm = 20, kMeasured = 100;
  std::uint64_t during = 0;
  std::thread producer([&] {
    const auto batches = [&](int from, int count) {
      for (int b = from; b < from + count; ++b) {
        for (int i = 0; i < kBatch; ++i) sink.tell(&Sink::tick);
        const auto want = static_cast<std::uint64_t>(kBatch) * static_cast<std::uint64_t>(b + 1);
        while (t.stage().counters().messages < want) std::this_thread::yield();
      }
    };
    batches(0, kWarm);
    const std::uint64_t before = g_allocations.load();
    batches(kWarm, kMeasured);
    during = g_allocations.load() - before;
  });
  producer.join();
  EXPECT_EQ(during, 0u) << kBatch * kMeasured << " cross-thread tells after warm-up allocated " << during
                        << " times";
}

TEST(TellAllocations, CrossThreadTellsAllocateNothingOnceWarm) {
  cross_thread_tells_allocate_nothing(std::chrono::microseconds(0));
}

TEST(TellAllocations, CrossThreadTellsToASpinningReactorAllocateNothingOnceWarm) {
  cross_thread_tells_allocate_nothing(std::chrono::microseconds(50));
}
