// Covers Reactor::post from other threads: every closure accepted while the reactor stops
// still runs (the exit waits for posting threads, with the symmetric fence and with the
// membarrier of invoke_spin), and ReactorOptions::invoke_spin takes a stream of posts
// without a single eventfd write.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include <ringactor/runtime/reactor.hpp>

#include "test_support.hpp"

using namespace ringactor::test;
using namespace std::chrono_literals;

namespace {

// Four threads post until the reactor refuses them (or 200,000 each: a loop cannot finish
// while its queue never empties); the main thread stops it meanwhile. Every post that
// returned true must have run by the time run() returned.
void accepted_posts_all_run(std::chrono::microseconds spin) {
  int refused = 0;  // rounds in which the stop overtook the producers
  for (int round = 0; round < 10; ++round) {
    rt::ReactorOptions options;
    options.invoke_spin = spin;
    rt::Reactor reactor{options};
    std::atomic<std::uint64_t> ran{0};
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<int> started{0};
    std::thread loop([&] { reactor.run(); });
    std::vector<std::thread> producers;
    for (int t = 0; t < 4; ++t) {
      producers.emplace_back([&] {
        ++started;
        for (int i = 0; i < 200000 && reactor.post([&] { ran.fetch_add(1, std::memory_order_relaxed); });
             ++i) {
          accepted.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    ASSERT_TRUE(eventually([&] { return started.load() == 4 && ran.load() > 1000; }));
    reactor.stop();
    loop.join();  // run() returns only after its last drain
    for (auto& p : producers) p.join();
    EXPECT_EQ(ran.load(), accepted.load()) << "round " << round << ": an accepted closure never ran";
    refused += accepted.load() < 4 * 200000 ? 1 : 0;
    EXPECT_FALSE(reactor.post([] {}));
  }
  std::printf("rounds in which posts were refused mid-stream: %d of 10\n", refused);
}

}  // namespace

TEST(ReactorPost, EveryAcceptedPostRunsWhileTheReactorStops) { accepted_posts_all_run(0us); }

TEST(ReactorPost, EveryAcceptedPostRunsWhileASpinningReactorStops) { accepted_posts_all_run(50us); }

TEST(ReactorPost, InvokeSpinTakesAStreamWithoutWakeups) {
  rt::ReactorOptions options;
  options.invoke_spin = 30s;  // longer than the test: the loop must not park between batches
  rt::Reactor reactor{options};
  std::thread loop([&] { reactor.run(); });
  std::atomic<int> ran{0};
  reactor.post([&] { ++ran; });  // may wake a parked loop once
  ASSERT_TRUE(eventually([&] { return ran.load() == 1; }));
  const std::uint64_t wakeups = reactor.counters().wakeups;
  // Batches with pauses between them (the test thread sleeps in eventually()): a loop that
  // parked between batches would be woken through its eventfd at the next one.
  for (int batch = 1; batch <= 20; ++batch) {
    for (int i = 0; i < 1000; ++i) reactor.post([&] { ++ran; });
    ASSERT_TRUE(eventually([&] { return ran.load() == 1 + 1000 * batch; }));
  }
  EXPECT_EQ(reactor.counters().wakeups, wakeups) << "posts to a spinning loop wrote its eventfd";
  reactor.stop();
  loop.join();

  // The same stream without the option: the loop parks between batches and is woken.
  rt::Reactor plain{rt::ReactorOptions{}};
  std::thread plain_loop([&] { plain.run(); });
  std::atomic<int> plain_ran{0};
  for (int batch = 1; batch <= 20; ++batch) {
    for (int i = 0; i < 1000; ++i) plain.post([&] { ++plain_ran; });
    ASSERT_TRUE(eventually([&] { return plain_ran.load() == 1000 * batch; }));
  }
  EXPECT_GT(plain.counters().wakeups, 0u) << "the comparison is meaningful: a parked loop needs waking";
  plain.stop();
  plain_loop.join();
}

TEST(ReactorPost, NegativeSpinIsRefusedAtSetup) {
  rt::ReactorOptions options;
  options.invoke_spin = -1us;
  EXPECT_THROW(rt::Reactor{options}, std::invalid_argument);
}
