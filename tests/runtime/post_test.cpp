// Covers Reactor::post from other threads: every closure accepted while the reactor stops
// still runs (the exit waits for posting threads, with the symmetric fence and with the
// membarrier of invoke_spin), posts that never stop coming hold a stop for one grace at
// most, and ReactorOptions::invoke_spin takes a stream of posts without a single eventfd
// write.
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

// Four threads post until the reactor refuses them (or 200,000 each); the main thread stops
// it meanwhile. Every post that
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

// Closures that post themselves again when they run, from the reactor's own thread: its
// queue is never empty, whatever the scheduling.
struct Relay {
  rt::Reactor& reactor;
  std::atomic<std::uint64_t>& ran;
  std::atomic<std::uint64_t>& accepted;
  std::atomic<int>& refused;
  void send() {
    if (reactor.post([this] {
          ran.fetch_add(1, std::memory_order_relaxed);
          send();
        })) {
      accepted.fetch_add(1, std::memory_order_relaxed);
    } else {
      ++refused;
    }
  }
};

TEST(ReactorPost, PostsThatNeverStopComingDoNotHoldTheStopPastTheGrace) {
  // 64 relays keep the queue from ever emptying, and four threads post for as long as the
  // reactor accepts (each keeping up to 20,000 closures queued). Only the grace can end the
  // stop; then every accepted closure has run and every poster was refused. `quit` ends the
  // threads if the stop hangs (the test then fails instead of hanging).
  rt::ReactorOptions options;
  options.shutdown_grace = 200ms;
  rt::Reactor reactor{options};
  std::atomic<std::uint64_t> ran{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<int> refused{0};
  std::atomic<int> relays_refused{0};
  std::atomic<bool> quit{false};
  std::atomic<bool> returned{false};
  std::vector<Relay> relays(64, Relay{reactor, ran, accepted, relays_refused});
  for (Relay& r : relays) r.send();
  std::thread loop([&] {
    reactor.run();
    returned = true;
  });
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&] {
      std::atomic<std::uint64_t> mine_ran{0};
      std::uint64_t mine_accepted = 0;
      while (!quit.load()) {
        if (mine_accepted - mine_ran.load(std::memory_order_relaxed) > 20'000) {
          std::this_thread::yield();
          continue;
        }
        const bool ok = reactor.post([&] {
          mine_ran.fetch_add(1, std::memory_order_relaxed);
          ran.fetch_add(1, std::memory_order_relaxed);
        });
        if (!ok) {
          ++refused;
          break;
        }
        ++mine_accepted;
        accepted.fetch_add(1, std::memory_order_relaxed);
      }
      // The closures this thread queued refer to mine_ran: wait until the reactor ran them
      // (its exit runs every accepted one; if the stop hung, its loop still runs them).
      while (mine_ran.load() != mine_accepted) std::this_thread::yield();
    });
  }
  ASSERT_TRUE(eventually([&] { return ran.load() > 100'000; }));
  const auto asked = std::chrono::steady_clock::now();
  reactor.stop();
  const bool stopped = eventually([&] { return returned.load(); }, 20s);
  const auto took = std::chrono::steady_clock::now() - asked;
  if (!stopped) quit = true;
  loop.join();
  for (auto& p : producers) p.join();
  ASSERT_TRUE(stopped) << "run() did not return while closures kept coming";
  EXPECT_GE(took, 200ms) << "the queue never emptied, so only the grace could end the stop";
  EXPECT_EQ(relays_refused.load(), 64) << "every relay runs until the reactor refuses it";
  EXPECT_EQ(refused.load(), 4) << "every thread posts until the reactor refuses it";
  EXPECT_EQ(ran.load(), accepted.load()) << "an accepted closure never ran";
}

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
