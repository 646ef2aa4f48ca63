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

namespace {
std::atomic<std::uint64_t> g_allocations{0};
}

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::aligned_alloc(static_cast<std::size_t>(a), (n + static_cast<std::size_t>(a) - 1) & ~(static_cast<std::size_t>(a) - 1))) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

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
