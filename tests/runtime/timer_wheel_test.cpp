// Covers TimerWheel: no early firing, due order, cancel (also from inside a callback),
// scheduling from callbacks, timers beyond one wheel turn, and the sleep bound.
#include <gtest/gtest.h>

#include <vector>

#include <ringactor/runtime/timer_wheel.hpp>

namespace rt = ringactor::runtime;
using namespace std::chrono_literals;
using Clock = rt::TimerWheel::Clock;

TEST(TimerWheel, FiresAtOrAfterDueNeverBefore) {
  const auto t0 = Clock::time_point{} + 1h;
  rt::TimerWheel w(t0);
  std::vector<int> fired;
  w.schedule(t0 + 5ms, [&] { fired.push_back(5); });
  w.schedule(t0 + 2ms, [&] { fired.push_back(2); });
  w.schedule(t0 + 2500us, [&] { fired.push_back(25); });
  EXPECT_EQ(w.advance(t0 + 1ms), 0u);
  EXPECT_EQ(w.advance(t0 + 2ms), 1u);
  EXPECT_EQ(fired, (std::vector<int>{2}));
  EXPECT_EQ(w.advance(t0 + 2600us), 0u) << "2.5 ms rounds up to tick 3";
  EXPECT_EQ(w.advance(t0 + 3ms), 1u);
  EXPECT_EQ(w.advance(t0 + 10ms), 1u);
  EXPECT_EQ(fired, (std::vector<int>{2, 25, 5}));
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheel, CancelIsPreciseAndIdempotent) {
  const auto t0 = Clock::now();
  rt::TimerWheel w(t0);
  int fired = 0;
  auto a = w.schedule(t0 + 3ms, [&] { ++fired; });
  auto b = w.schedule(t0 + 3ms, [&] { fired += 10; });
  EXPECT_TRUE(w.cancel(a));
  EXPECT_FALSE(w.cancel(a));
  EXPECT_EQ(w.size(), 1u);
  w.advance(t0 + 5ms);
  EXPECT_EQ(fired, 10);
  EXPECT_FALSE(w.cancel(b)) << "cancelling a fired timer is a no-op";
  EXPECT_FALSE(w.cancel(rt::TimerId{}));
}

TEST(TimerWheel, ReusedNodeDoesNotHonourOldId) {
  const auto t0 = Clock::now();
  rt::TimerWheel w(t0);
  auto a = w.schedule(t0 + 1ms, [] {});
  w.cancel(a);
  int fired = 0;
  auto b = w.schedule(t0 + 1ms, [&] { ++fired; });
  EXPECT_EQ(a.index, b.index) << "the node is recycled";
  EXPECT_FALSE(w.cancel(a)) << "a stale id must not cancel the new timer";
  w.advance(t0 + 2ms);
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, CallbacksMayScheduleAndCancel) {
  const auto t0 = Clock::now();
  rt::TimerWheel w(t0);
  std::vector<int> fired;
  rt::TimerId victim;
  w.schedule(t0 + 1ms, [&] {
    fired.push_back(1);
    w.cancel(victim);  // due in the same advance: must not run
    w.schedule(t0 + 4ms, [&] { fired.push_back(4); });
  });
  victim = w.schedule(t0 + 1ms, [&] { fired.push_back(99); });
  w.advance(t0 + 2ms);
  EXPECT_EQ(fired, (std::vector<int>{1}));
  w.advance(t0 + 4ms);
  EXPECT_EQ(fired, (std::vector<int>{1, 4}));
}

TEST(TimerWheel, TimersBeyondOneTurn) {
  const auto t0 = Clock::now();
  rt::TimerWheel w(t0);
  int fired = 0;
  w.schedule(t0 + 1500ms, [&] { ++fired; });  // more than kBuckets ticks away
  w.advance(t0 + 500ms);
  w.advance(t0 + 1100ms);
  EXPECT_EQ(fired, 0) << "same bucket, later turn: must wait";
  w.advance(t0 + 1500ms);
  EXPECT_EQ(fired, 1);
  w.schedule(t0 + 10s, [&] { ++fired; });
  w.advance(t0 + 20s);  // a jump of many turns at once
  EXPECT_EQ(fired, 2);
}

TEST(TimerWheel, PastDueFiresOnNextAdvance) {
  const auto t0 = Clock::now();
  rt::TimerWheel w(t0);
  w.advance(t0 + 10ms);
  int fired = 0;
  w.schedule(t0 + 1ms, [&] { ++fired; });
  EXPECT_EQ(w.time_until_next(t0 + 10ms), Clock::duration::zero());
  w.advance(t0 + 10ms);
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, SleepBound) {
  const auto t0 = Clock::now();
  rt::TimerWheel w(t0);
  EXPECT_FALSE(w.time_until_next(t0).has_value());
  w.schedule(t0 + 40ms, [] {});
  const auto d = w.time_until_next(t0);
  ASSERT_TRUE(d.has_value());
  EXPECT_LE(*d, 40ms);
  EXPECT_GE(*d, 39ms);
}

TEST(TimerWheel, ManyTimers) {
  const auto t0 = Clock::now();
  rt::TimerWheel w(t0);
  int fired = 0;
  std::vector<rt::TimerId> ids;
  for (int i = 0; i < 10000; ++i) ids.push_back(w.schedule(t0 + std::chrono::milliseconds(i % 3000), [&] { ++fired; }));
  for (int i = 0; i < 10000; i += 2) w.cancel(ids[i]);
  EXPECT_EQ(w.size(), 5000u);
  for (int ms = 0; ms <= 3000; ms += 7) w.advance(t0 + std::chrono::milliseconds(ms));
  w.advance(t0 + 3001ms);
  EXPECT_EQ(fired, 5000);
  EXPECT_EQ(w.size(), 0u);
}
