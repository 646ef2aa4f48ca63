// Covers the allocation claim of Ref::tell: with a warmed-up run queue, a tell of a small
// argument pack to an actor on the same thread performs no heap allocation, and from another
// thread allocations are amortised (queue blocks), not one per message. This binary replaces
// the global operator new to count.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
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

TEST(TellAllocations, CrossThreadTellsAllocateOnlyForQueueBlocks) {
  StageThread t;
  auto sink = t.stage().spawn<Sink>();
  t.start();
  constexpr int kWarm = 20000, kMeasured = 100000;
  std::uint64_t during = 0;
  std::thread producer([&] {
    for (int i = 0; i < kWarm; ++i) sink.tell(&Sink::tick);
    // Wait until the warm-up was consumed, so its queue blocks are free for reuse.
    while (t.stage().counters().messages < static_cast<std::uint64_t>(kWarm)) std::this_thread::yield();
    const std::uint64_t before = g_allocations.load();
    for (int i = 0; i < kMeasured; ++i) sink.tell(&Sink::tick);
    during = g_allocations.load() - before;
  });
  producer.join();
  while (t.stage().counters().messages < static_cast<std::uint64_t>(kWarm + kMeasured)) std::this_thread::yield();
  std::printf("cross-thread: %llu allocations for %d tells\n", static_cast<unsigned long long>(during), kMeasured);
  EXPECT_LT(during, static_cast<std::uint64_t>(kMeasured / 100)) << "allocations must be amortised, not per message";
}
