// Covers the game-facing actor API: fixed-rate ticks (no drift, both catch-up policies,
// cancellation from inside), tick hooks that can be removed (also while they run), and
// Groups (join order, members dropped when they stop, on this reactor and on another, and
// no watch left behind by a group that is gone).
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include <ringactor/actors/group.hpp>

#include "actor_test_support.hpp"

using namespace ringactor::test;
using Clock = std::chrono::steady_clock;

namespace {

struct TickLog {
  std::vector<std::uint64_t> index;
  std::vector<Clock::duration> dt;
  std::vector<Clock::time_point> at;
};

class Ticking : public ra::Actor {
 public:
  Ticking(TickLog* log, Clock::duration period, ra::TickOptions options, Clock::duration work = {})
      : log_(log), period_(period), options_(options), work_(work) {}
  ra::ActorTimer timer;
  Clock::time_point start;
  ra::TickStats stats() const { return tick_stats(timer); }
  void cancel_tick() { cancel(timer); }

 protected:
  void on_start() override {
    start = reactor().now();
    timer = every_tick(
        period_,
        [this](std::uint64_t index, Clock::duration dt) {
          log_->index.push_back(index);
          log_->dt.push_back(dt);
          log_->at.push_back(Clock::now());
          // Work that takes a while: with `every`, each period would start after it.
          const auto until = Clock::now() + work_;
          while (Clock::now() < until) {
          }
          if (cancel_at_ != 0 && log_->index.size() == cancel_at_) cancel(timer);  // on the n-th call
        },
        options_);
  }

 public:
  std::uint64_t cancel_at_ = 0;

 private:
  TickLog* log_;
  Clock::duration period_;
  ra::TickOptions options_;
  Clock::duration work_;
};

// An actor whose handler keeps the loop busy: what makes a tick late in production (a long
// handler elsewhere on the same reactor), made on purpose.
class Hog : public ra::Actor {
 public:
  void busy(Clock::duration d) {
    const auto until = Clock::now() + d;
    while (Clock::now() < until) {
    }
  }
};

// A loop iteration whose handlers run for `d`: the timers of the next iteration find the
// ticks that came due meanwhile late.
void hog_the_loop(SteppedStage& s, Clock::duration d) {
  s.stage().spawn<Hog>().tell(&Hog::busy, d);
  s.step();
}

// Runs f(actor) now, as a handler of the actor (the test thread is its reactor's).
template <typename T, typename F>
void with(SteppedStage& s, const ra::Ref<T>& ref, F f) {
  EXPECT_TRUE(s.stage().with_actor(ref.id(), [&](ra::Actor& a) { f(static_cast<T&>(a)); }));
}

}  // namespace

TEST(EveryTick, DeadlinesAdvanceByThePeriodSoTheScheduleNeverDrifts) {
  TickLog log;  // outlives the stage (its ticks write here until it stops)
  SteppedStage s;
  const auto period = 10ms;
  // Each call works for 6 ms: rescheduling from "now" would drift 6 ms per tick.
  auto t = s.stage().spawn<Ticking>(&log, period, ra::TickOptions{}, 6ms);
  ASSERT_TRUE(s.run_until([&] { return log.index.size() >= 20; }, 10s));
  Clock::time_point start;
  with(s, t, [&](Ticking& a) { start = a.start; });
  // Never early: tick k is due at start + (k + 1) x period.
  for (std::size_t i = 0; i < log.index.size(); ++i) {
    EXPECT_GE(log.at[i], start + period * static_cast<int>(log.index[i] + 1)) << "tick " << log.index[i];
  }
  // Indices rise; dt covers exactly the ticks since the previous call (the skipped ones too).
  Clock::duration total{};
  for (std::size_t i = 0; i < log.index.size(); ++i) {
    const std::uint64_t prev = i == 0 ? 0 : log.index[i - 1] + 1;
    ASSERT_GE(log.index[i], prev);
    EXPECT_EQ(log.dt[i], period * static_cast<int>(log.index[i] - prev + 1));
    total += log.dt[i];
  }
  EXPECT_EQ(total, period * static_cast<int>(log.index.back() + 1));
  // No drift: the index keeps up with the wall clock (6 ms of drift per tick would leave it
  // about a third behind).
  const auto elapsed = log.at.back() - start;
  EXPECT_GE(log.index.back() + 2, static_cast<std::uint64_t>(elapsed / period));
  EXPECT_GE(s.stage().counters().ticks, 20u);
}

TEST(EveryTick, SkipPolicyRunsOnceForTheNewestDueTickAndCountsTheRest) {
  TickLog log;  // outlives the stage (its ticks write here until it stops)
  SteppedStage s;
  auto t = s.stage().spawn<Ticking>(&log, 10ms, ra::TickOptions{.catch_up = ra::CatchUp::kSkip}, 0ms);
  ASSERT_TRUE(s.run_until([&] { return log.index.size() == 1; }));
  // The loop is late: a long handler ran in the iteration before.
  hog_the_loop(s, 65ms);
  const std::size_t before = log.index.size();
  s.step();
  ASSERT_EQ(log.index.size(), before + 1) << "one call however many ticks came due";
  const std::uint64_t jumped = log.index.back() - log.index[before - 1] - 1;
  EXPECT_GE(jumped, 4u) << "at least 5 deadlines passed in 65 ms";
  EXPECT_EQ(log.dt.back(), 10ms * static_cast<int>(jumped + 1));
  ra::TickStats st;
  with(s, t, [&](Ticking& a) { st = a.stats(); });
  // Every index up to the last was either run or skipped (the first firing may have been
  // late as well).
  EXPECT_EQ(st.skipped, log.index.back() + 1 - log.index.size());
  EXPECT_GE(st.skipped, jumped);
  EXPECT_EQ(st.ran, log.index.size());
  EXPECT_EQ(s.stage().counters().ticks_skipped, st.skipped);
}

TEST(EveryTick, BurstPolicyRunsDueTicksBackToBackUpToItsBound) {
  TickLog log;  // outlives the stage (its ticks write here until it stops)
  SteppedStage s;
  auto t = s.stage().spawn<Ticking>(&log, 10ms, ra::TickOptions{.catch_up = ra::CatchUp::kBurst, .max_burst = 3}, 0ms);
  ASSERT_TRUE(s.run_until([&] { return !log.index.empty(); }));
  hog_the_loop(s, 65ms);
  const std::size_t n0 = log.index.size();  // 1, or more if an earlier firing was late too
  ra::TickStats st0;
  with(s, t, [&](Ticking& a) { st0 = a.stats(); });
  s.step();
  ASSERT_EQ(log.index.size(), n0 + 3) << "three calls in one firing, no more";
  // The newest three run, in order, each one period long; the older ones were skipped.
  EXPECT_EQ(log.index[n0] + 1, log.index[n0 + 1]);
  EXPECT_EQ(log.index[n0 + 1] + 1, log.index[n0 + 2]);
  for (auto dt : log.dt) EXPECT_EQ(dt, 10ms);
  ra::TickStats st;
  with(s, t, [&](Ticking& a) { st = a.stats(); });
  EXPECT_EQ(st.skipped - st0.skipped, log.index[n0] - log.index[n0 - 1] - 1);
  EXPECT_GE(st.skipped - st0.skipped, 2u) << "65 ms late: at least 6 due, 3 run";
  EXPECT_EQ(st.next_index, log.index[n0 + 2] + 1);
}

TEST(EveryTick, CancellingFromInsideTheCallEndsTheBurstAndTheTimer) {
  TickLog log;  // outlives the stage (its ticks write here until it stops)
  SteppedStage s;
  auto t = s.stage().spawn<Ticking>(&log, 5ms, ra::TickOptions{.catch_up = ra::CatchUp::kBurst, .max_burst = 8}, 0ms);
  with(s, t, [&](Ticking& a) { a.cancel_at_ = 3; });
  ASSERT_TRUE(s.run_until([&] { return log.index.size() >= 1; }));
  hog_the_loop(s, 40ms);
  s.run_for(40ms);  // the burst, then nothing more after the cancel
  ASSERT_EQ(log.index.size(), 3u) << "the third call cancelled the timer, in the middle of a burst";
  ra::TickStats st{1, 1, 1};
  with(s, t, [&](Ticking& a) { st = a.stats(); });
  s.step();
  EXPECT_EQ(st.ran, 0u) << "a cancelled handle names no timer";
}

TEST(EveryTick, OptionsAreChecked) {
  TickLog log;  // outlives the stage (its ticks write here until it stops)
  SteppedStage s;
  // every_tick throws std::invalid_argument; thrown in on_start, it stops that actor.
  auto a = s.stage().spawn<Ticking>(&log, 0ms, ra::TickOptions{});
  auto b = s.stage().spawn<Ticking>(&log, 1ms, ra::TickOptions{.catch_up = ra::CatchUp::kBurst, .max_burst = 0});
  EXPECT_FALSE(s.stage().alive(a.id()));
  EXPECT_FALSE(s.stage().alive(b.id()));
  EXPECT_EQ(s.stage().counters().handler_exceptions, 2u);
}

TEST(TickHooks, AHookCanRemoveItselfAnotherAndAddOne) {
  SteppedStage s;
  rt::Reactor& r = s.reactor();
  int a = 0, b = 0, c = 0;
  rt::HookId hb;
  rt::HookId ha = r.add_tick_hook([&] {
    if (++a == 2) {
      EXPECT_TRUE(r.remove_tick_hook(ha));  // itself
      EXPECT_TRUE(r.remove_tick_hook(hb));  // a later one: not called this iteration
      r.add_tick_hook([&] { ++c; });        // first called next iteration
    }
  });
  hb = r.add_tick_hook([&] { ++b; });
  for (int i = 0; i < 5; ++i) s.step();
  EXPECT_EQ(a, 2);
  EXPECT_EQ(b, 1);
  EXPECT_EQ(c, 3);
  EXPECT_FALSE(r.remove_tick_hook(ha)) << "already removed";
  EXPECT_FALSE(r.remove_tick_hook(rt::HookId{}));
}

namespace {

class Member : public ra::Actor {
 public:
  int told = 0;
  void poke() { ++told; }
  void quit() { stop(); }
};

class Room : public ra::Actor {
 public:
  ra::Group<Member> members{*this};  // a plain data member: registers on its first join
  ra::Group<Member>* group = &members;
  std::vector<ra::ActorId> downs;
  std::vector<ra::Ref<Member>> order() { return group->members(); }

 protected:
  void on_start() override {
    group->on_member_down([this](const ra::DownNotice& n) { downs.push_back(n.who); });
  }
  void on_down(const ra::DownNotice&) override { ADD_FAILURE() << "a group member's stop must not reach on_down"; }
};

}  // namespace

TEST(Group, KeepsJoinOrderAndDropsMembersThatStop) {
  SteppedStage s;
  auto room = s.stage().spawn<Room>();
  std::vector<ra::Ref<Member>> m;
  for (int i = 0; i < 5; ++i) m.push_back(s.stage().spawn<Member>());
  with(s, room, [&](Room& r) {
    for (auto& x : m) EXPECT_TRUE(r.group->join(x));
    EXPECT_FALSE(r.group->join(m[0])) << "already a member";
    EXPECT_EQ(r.group->tell_all(&Member::poke), 5u);
  });
  s.run_until([&] { return false; }, 20ms);
  m[1].tell(&Member::quit);
  m[3].tell(&Member::quit);
  std::vector<ra::Ref<Member>> order;
  std::vector<ra::ActorId> downs;
  ASSERT_TRUE(s.run_until([&] {
    with(s, room, [&](Room& r) {
      order = r.order();
      downs = r.downs;
    });
    return downs.size() == 2;
  }));
  s.step();
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order[0], m[0]);
  EXPECT_EQ(order[1], m[2]);
  EXPECT_EQ(order[2], m[4]);
  EXPECT_EQ(downs[0], m[1].id());
  EXPECT_EQ(downs[1], m[3].id());
  // leave() runs no hook; a member that left and then stops is not reported.
  with(s, room, [&](Room& r) {
    EXPECT_TRUE(r.group->leave(m[0]));
    EXPECT_FALSE(r.group->leave(m[0]));
    EXPECT_FALSE(r.group->contains(m[0]));
    EXPECT_EQ(r.group->size(), 2u);
  });
  s.step();
  m[0].tell(&Member::quit);
  s.run_for(20ms);
  with(s, room, [&](Room& r) { EXPECT_EQ(r.downs.size(), 2u); });
  s.step();
  EXPECT_EQ(s.stage().counters().dead_letters, 0u);
}

TEST(Group, AGroupThatIsGoneLeavesNoWatchBehind) {
  SteppedStage s;
  auto room = s.stage().spawn<Room>();
  auto a = s.stage().spawn<Member>();
  auto b = s.stage().spawn<Member>();
  with(s, room, [&](Room& r) {
    r.group->join(a);
    r.group->join(b);
  });
  s.step();
  room.stop();  // the room ends while its members live on
  ASSERT_TRUE(s.run_until([&] { return !s.stage().alive(room.id()); }));
  a.tell(&Member::quit);
  b.tell(&Member::quit);
  ASSERT_TRUE(s.run_until([&] { return !s.stage().alive(a.id()) && !s.stage().alive(b.id()); }));
  s.run_for(10ms);
  EXPECT_EQ(s.stage().counters().dead_letters, 0u) << "no down notice was sent to the gone room";
}

TEST(Group, MembersOnAnotherReactorAreDroppedToo) {
  SteppedStage s;
  StageThread other;
  std::promise<ra::Ref<Member>> made;
  other.start();
  other.call([&] { made.set_value(other.stage().spawn<Member>()); });
  const ra::Ref<Member> far = made.get_future().get();
  auto room = s.stage().spawn<Room>();
  with(s, room, [&](Room& r) { r.group->join(far); });
  s.step();
  far.tell(&Member::quit);
  std::size_t size = 1;
  std::size_t downs = 0;
  ASSERT_TRUE(s.run_until([&] {
    with(s, room, [&](Room& r) {
      size = r.group->size();
      downs = r.downs.size();
    });
    return size == 0;
  }));
  s.step();
  EXPECT_EQ(downs, 1u);
}
