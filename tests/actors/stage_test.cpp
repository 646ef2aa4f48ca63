// Covers actors on a Stage: typed tell and ask, FIFO order, dead letters, asks to dead
// actors and asks that outlive their caller, exceptions, stop inside a handler, timers,
// spawning and monitoring (also chains and across reactors), shutdown with live actors,
// the run-queue budget, and 4 threads x 1M tells delivered exactly once.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "actor_test_support.hpp"
#include "test_support.hpp"

using namespace ringactor::test;

namespace {

struct Journal {
  std::vector<std::string> lines;
  int stops = 0;
  int starts = 0;
  std::vector<ra::DownNotice> downs;
};

class Recorder : public ra::Actor {
 public:
  explicit Recorder(Journal* j) : j_(j) {}
  void push(int v) { j_->lines.push_back(std::to_string(v)); }
  void say(std::string s) { j_->lines.push_back(std::move(s)); }
  int twice(int v) const { return 2 * v; }
  std::string concat(const std::string& a, std::string b) { return a + b; }
  void nothing() {}
  int boom() { throw std::runtime_error("boom"); }
  void quit_then_note() {
    stop();
    j_->lines.push_back("after stop() in the same handler");
  }
  void watch(ra::ActorId who) { monitor_id(who); }

 protected:
  void on_start() override { ++j_->starts; }
  void on_stop() override { ++j_->stops; }
  void on_down(const ra::DownNotice& d) override { j_->downs.push_back(d); }

 private:
  Journal* j_;
};

static_assert(std::is_trivially_copyable_v<ra::Ref<Recorder>>);
static_assert(std::is_trivially_copyable_v<ra::ActorId>);

}  // namespace

TEST(Stage, TellRunsTypedMessagesInOrder) {
  SteppedStage s;
  Journal j;
  auto r = s.stage().spawn<Recorder>(&j);
  EXPECT_EQ(j.starts, 1) << "on_start runs inside spawn";
  for (int i = 0; i < 1000; ++i) r.tell(&Recorder::push, i);
  r.tell(&Recorder::say, "text");  // const char* converted to the parameter type at send
  ASSERT_TRUE(s.run_until([&] { return j.lines.size() == 1001; }));
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(j.lines[static_cast<std::size_t>(i)], std::to_string(i));
  EXPECT_EQ(j.lines.back(), "text");
  EXPECT_EQ(s.stage().counters().messages, 1001u);
}

TEST(Stage, MessagesToStoppedActorsAreCountedDeadLetters) {
  SteppedStage s;
  Journal j;
  auto r = s.stage().spawn<Recorder>(&j);
  r.stop();
  ASSERT_TRUE(s.run_until([&] { return j.stops == 1; }));
  EXPECT_FALSE(s.stage().alive(r.id()));
  r.tell(&Recorder::push, 1);
  r.tell(&Recorder::push, 2);
  s.run_until([&] { return s.stage().counters().dead_letters == 2; });
  EXPECT_EQ(s.stage().counters().dead_letters, 2u);
  EXPECT_TRUE(j.lines.empty());
  // A new actor reusing the slot is not reached through the old Ref.
  Journal j2;
  auto r2 = s.stage().spawn<Recorder>(&j2);
  EXPECT_EQ(r2.id().slot, r.id().slot);
  r.tell(&Recorder::push, 3);
  s.run_until([&] { return s.stage().counters().dead_letters == 3; });
  EXPECT_TRUE(j2.lines.empty());
}

TEST(Stage, AskDeliversTheResultOrTheError) {
  SteppedStage s;
  Journal j;
  auto r = s.stage().spawn<Recorder>(&j);
  int got = 0;
  std::string text;
  bool void_ok = false;
  ra::Reply<int> thrown(ra::AskError::kNone);
  r.ask(&Recorder::twice, 21, [&](ra::Reply<int> reply) { got = reply.value(); });
  r.ask(&Recorder::concat, std::string("ab"), "cd", [&](ra::Reply<std::string> reply) { text = reply.value(); });
  r.ask(&Recorder::nothing, [&](ra::Reply<void> reply) { void_ok = reply.ok(); });
  r.ask(&Recorder::boom, [&](ra::Reply<int> reply) { thrown = std::move(reply); });
  ASSERT_TRUE(s.run_until([&] { return thrown.error() != ra::AskError::kNone; }));
  EXPECT_EQ(got, 42);
  EXPECT_EQ(text, "abcd");
  EXPECT_TRUE(void_ok);
  EXPECT_EQ(thrown.error(), ra::AskError::kException);
  EXPECT_EQ(thrown.message(), "boom");
  EXPECT_FALSE(thrown);
  // value() on an error throws (as offload::Result does), naming the error and its message.
  try {
    (void)thrown.value();
    ADD_FAILURE() << "value() of an error must throw";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "ask failed: exception: boom");
  }
  EXPECT_THROW(ra::Reply<void>(ra::AskError::kDead).value(), std::runtime_error);
  EXPECT_NO_THROW(ra::Reply<void>().value());
  EXPECT_EQ(*ra::Reply<int>(5), 5);
  EXPECT_EQ(j.stops, 1) << "an exception escaping a handler stops the actor";
  EXPECT_EQ(s.stage().counters().handler_exceptions, 1u);
}

TEST(Stage, AskToADeadActorAnswersDead) {
  SteppedStage s;
  Journal j;
  auto r = s.stage().spawn<Recorder>(&j);
  r.stop();
  ASSERT_TRUE(s.run_until([&] { return j.stops == 1; }));
  ra::AskError err = ra::AskError::kNone;
  r.ask(&Recorder::twice, 1, [&](ra::Reply<int> reply) { err = reply.error(); });
  ASSERT_TRUE(s.run_until([&] { return err != ra::AskError::kNone; }));
  EXPECT_EQ(err, ra::AskError::kDead);
  // An ask queued before the target stops also answers kDead.
  Journal j2;
  auto r2 = s.stage().spawn<Recorder>(&j2);
  err = ra::AskError::kNone;
  r2.tell(&Recorder::quit_then_note);
  r2.ask(&Recorder::twice, 1, [&](ra::Reply<int> reply) { err = reply.error(); });
  ASSERT_TRUE(s.run_until([&] { return err != ra::AskError::kNone; }));
  EXPECT_EQ(err, ra::AskError::kDead);
  // A default Ref names nothing.
  ra::Ref<Recorder> none;
  err = ra::AskError::kNone;
  none.ask(&Recorder::twice, 1, [&](ra::Reply<int> reply) { err = reply.error(); });
  EXPECT_EQ(err, ra::AskError::kDead);
}

namespace {
// Asks a target and stops in the same handler: the reply must find no one, run nothing and
// leak nothing (the callback owns a heap object; ASan checks it is freed).
class Asker : public ra::Actor {
 public:
  explicit Asker(bool* called) : called_(called) {}
  void ask_then_quit(ra::Ref<Recorder> target) {
    auto owned = std::make_unique<int>(7);
    target.ask(&Recorder::twice, 5, [called = called_, o = std::move(owned)](ra::Reply<int>) { *called = true; });
    stop();
  }

 private:
  bool* called_;
};
}  // namespace

TEST(Stage, AskThatOutlivesItsCallerIsDropped) {
  SteppedStage s;
  Journal j;
  bool called = false;
  auto target = s.stage().spawn<Recorder>(&j);
  auto asker = s.stage().spawn<Asker>(&called);
  const auto dead_before = s.stage().counters().dead_letters;
  asker.tell(&Asker::ask_then_quit, target);
  ASSERT_TRUE(s.run_until([&] { return s.stage().counters().dead_letters > dead_before; }));
  s.run_for(5ms);
  EXPECT_FALSE(called) << "the asker stopped before the reply; its callback must not run";
  EXPECT_TRUE(s.stage().alive(target.id()));
}

TEST(Stage, StopInsideAHandlerTakesEffectAfterIt) {
  SteppedStage s;
  Journal j;
  auto r = s.stage().spawn<Recorder>(&j);
  r.tell(&Recorder::quit_then_note);
  r.tell(&Recorder::push, 99);  // queued behind the stop: a dead letter
  ASSERT_TRUE(s.run_until([&] { return j.stops == 1; }));
  s.run_for(2ms);
  ASSERT_EQ(j.lines.size(), 1u);
  EXPECT_EQ(j.lines[0], "after stop() in the same handler");
  EXPECT_EQ(j.stops, 1);
  EXPECT_EQ(s.stage().counters().dead_letters, 1u);
}

namespace {
class Ticker : public ra::Actor {
 public:
  struct Counts {
    int once = 0;
    int periodic = 0;
    int cancelled = 0;
    int stops = 0;
  };
  explicit Ticker(Counts* c) : c_(c) {}
  void quit() { stop(); }

 protected:
  void on_start() override {
    after(std::chrono::milliseconds(2), [this] { ++c_->once; });
    every(std::chrono::milliseconds(1), [this] { ++c_->periodic; });
    const auto t = after(std::chrono::milliseconds(1), [this] { ++c_->cancelled; });
    EXPECT_TRUE(cancel(t));
    EXPECT_FALSE(cancel(t));
    after(std::chrono::hours(1), [this] { ++c_->cancelled; });  // must die with the actor
  }
  void on_stop() override { ++c_->stops; }

 private:
  Counts* c_;
};
}  // namespace

TEST(Stage, TimersFireAndDieWithTheActor) {
  SteppedStage s;
  Ticker::Counts c;
  auto t = s.stage().spawn<Ticker>(&c);
  ASSERT_TRUE(s.run_until([&] { return c.once == 1 && c.periodic >= 3; }));
  t.tell(&Ticker::quit);
  ASSERT_TRUE(s.run_until([&] { return c.stops == 1; }));
  const int periodic_at_stop = c.periodic;
  s.run_for(20ms);
  EXPECT_EQ(c.periodic, periodic_at_stop) << "a stopped actor's periodic timer must not fire";
  EXPECT_EQ(c.cancelled, 0);
  EXPECT_EQ(c.once, 1);
}

namespace {
class Parent : public ra::Actor {
 public:
  explicit Parent(Journal* j) : j_(j) {}
  std::vector<ra::Ref<Recorder>> children;
  void make_children(int n, Journal* child_journal) {
    for (int i = 0; i < n; ++i) {
      children.push_back(spawn<Recorder>(child_journal));
      monitor(children.back());
    }
  }
  void stop_children() {
    for (auto& c : children) c.tell(&Recorder::quit_then_note);
  }

 protected:
  void on_down(const ra::DownNotice& d) override { j_->downs.push_back(d); }

 private:
  Journal* j_;
};
}  // namespace

TEST(Stage, AnActorSpawnsAndMonitorsActors) {
  SteppedStage s;
  Journal pj, cj;
  auto p = s.stage().spawn<Parent>(&pj);
  p.tell(&Parent::make_children, 3, &cj);
  ASSERT_TRUE(s.run_until([&] { return cj.starts == 3; }));
  p.tell(&Parent::stop_children);
  ASSERT_TRUE(s.run_until([&] { return pj.downs.size() == 3; }));
  for (const auto& d : pj.downs) EXPECT_EQ(d.reason, ra::StopReason::kNormal);
  EXPECT_EQ(cj.stops, 3);
}

namespace {
// Watches one actor; when it goes down, records it and stops too (forming chains).
class Link : public ra::Actor {
 public:
  Link(Journal* j, std::string name) : j_(j), name_(std::move(name)) {}
  void watch(ra::ActorId who) { monitor_id(who); }
  int boom() { throw std::logic_error(name_ + " exploded"); }

 protected:
  void on_down(const ra::DownNotice& d) override {
    j_->downs.push_back(d);
    j_->lines.push_back(name_ + " saw " + std::string(ra::to_string(d.reason)) + ":" + d.message);
    stop();
  }

 private:
  Journal* j_;
  std::string name_;
};
}  // namespace

TEST(Stage, MonitorChainsPropagateReasons) {
  SteppedStage s;
  Journal j;
  auto a = s.stage().spawn<Link>(&j, "a");
  auto b = s.stage().spawn<Link>(&j, "b");
  auto c = s.stage().spawn<Link>(&j, "c");
  a.tell(&Link::watch, b.id());
  b.tell(&Link::watch, c.id());
  s.run_until([] { return false; }, 2ms);
  c.tell(&Link::boom);
  ASSERT_TRUE(s.run_until([&] { return j.lines.size() == 2; }));
  EXPECT_EQ(j.lines[0], "b saw exception:c exploded");
  EXPECT_EQ(j.lines[1], "a saw normal:");
  EXPECT_EQ(j.downs[0].who, c.id());
  EXPECT_EQ(j.downs[1].who, b.id());
  EXPECT_EQ(s.stage().size(), 0u);
}

TEST(Stage, MonitoringAGoneActorReportsUnknown) {
  SteppedStage s;
  Journal j, k;
  auto gone = s.stage().spawn<Recorder>(&k);
  gone.stop();
  ASSERT_TRUE(s.run_until([&] { return k.stops == 1; }));
  auto w = s.stage().spawn<Recorder>(&j);
  w.tell(&Recorder::watch, gone.id());
  ASSERT_TRUE(s.run_until([&] { return j.downs.size() == 1; }));
  EXPECT_EQ(j.downs[0].reason, ra::StopReason::kUnknown);
}

TEST(Stage, ShutdownStopsEveryLiveActorOnce) {
  Journal j;
  {
    SteppedStage s;
    for (int i = 0; i < 100; ++i) s.stage().spawn<Recorder>(&j);
    s.step();
    s.shutdown();
    EXPECT_EQ(j.stops, 100);
    EXPECT_EQ(s.stage().size(), 0u);
  }
  EXPECT_EQ(j.stops, 100) << "destroying the stage afterwards stops nobody twice";
}

TEST(Stage, ExceptionStopsOnlyThatActor) {
  SteppedStage s;
  Journal j1, j2, w;
  auto bad = s.stage().spawn<Recorder>(&j1);
  auto good = s.stage().spawn<Recorder>(&j2);
  auto watcher = s.stage().spawn<Recorder>(&w);
  watcher.tell(&Recorder::watch, bad.id());
  bad.ask(&Recorder::boom, [](ra::Reply<int>) {});
  good.tell(&Recorder::push, 1);
  ASSERT_TRUE(s.run_until([&] { return w.downs.size() == 1 && j2.lines.size() == 1; }));
  EXPECT_EQ(w.downs[0].reason, ra::StopReason::kException);
  EXPECT_EQ(w.downs[0].message, "boom");
  good.tell(&Recorder::push, 2);
  ASSERT_TRUE(s.run_until([&] { return j2.lines.size() == 2; }));
}

namespace {
class Chatty : public ra::Actor {
 public:
  explicit Chatty(std::uint64_t* n) : n_(n) {}
  void again() {
    ++*n_;
    self<Chatty>().tell(&Chatty::again);
  }

 private:
  std::uint64_t* n_;
};
}  // namespace

TEST(Stage, RunBudgetKeepsAChattyActorFromStarvingTheLoop) {
  SteppedStage s({.run_budget = 16});
  std::uint64_t n = 0;
  auto chatty = s.stage().spawn<Chatty>(&n);
  s.step();  // from here on this thread is the reactor thread: the tell below is local
  chatty.tell(&Chatty::again);
  bool timer_fired = false;
  s.reactor().after(std::chrono::milliseconds(1), [&] { timer_fired = true; });
  int iterations = 0;
  while (!timer_fired && iterations < 100000) {
    const auto before = n;
    s.step();
    ++iterations;
    ASSERT_LE(n - before, 16u) << "one iteration ran more than the budget";
  }
  EXPECT_TRUE(timer_fired) << "timers still fire while an actor floods its own queue";
  EXPECT_GT(n, 16u);
}

TEST(Stage, SpawnFullStageThrows) {
  SteppedStage s({.max_actors = 2});
  Journal j;
  s.stage().spawn<Recorder>(&j);
  s.stage().spawn<Recorder>(&j);
  EXPECT_THROW(s.stage().spawn<Recorder>(&j), std::length_error);
}

// ---- across threads ------------------------------------------------------------------------

namespace {
class Tally : public ra::Actor {
 public:
  static constexpr int kProducers = 4;
  void add(int producer, std::uint32_t seq) {
    if (seq != next_[producer]) ++out_of_order_;
    next_[producer] = seq + 1;
    ++total_;
  }
  std::uint64_t total() const { return total_; }
  std::uint64_t out_of_order() const { return out_of_order_; }
  std::thread::id where() const { return std::this_thread::get_id(); }

 private:
  std::uint32_t next_[kProducers] = {};
  std::uint64_t total_ = 0;
  std::uint64_t out_of_order_ = 0;
};
}  // namespace

TEST(Stage, FourThreadsOfAMillionTellsEachArriveExactlyOnceInOrder) {
  StageThread t;
  auto tally = t.stage().spawn<Tally>();
  t.start();
  constexpr std::uint32_t kPerThread = 1'000'000;
  std::vector<std::thread> producers;
  for (int p = 0; p < Tally::kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (std::uint32_t i = 0; i < kPerThread; ++i) tally.tell(&Tally::add, p, i);
    });
  }
  for (auto& th : producers) th.join();
  std::uint64_t total = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    total = t.call([&] {
      std::uint64_t v = 0;
      t.stage().with_actor(tally.id(), [&](ra::Actor& a) { v = static_cast<Tally&>(a).total(); });
      return v;
    });
    if (total == std::uint64_t{kPerThread} * Tally::kProducers) break;
  }
  EXPECT_EQ(total, std::uint64_t{kPerThread} * Tally::kProducers);
  const auto ooo = t.call([&] {
    std::uint64_t v = 1;
    t.stage().with_actor(tally.id(), [&](ra::Actor& a) { v = static_cast<Tally&>(a).out_of_order(); });
    return v;
  });
  EXPECT_EQ(ooo, 0u) << "messages from one thread to one actor keep their order";
  EXPECT_EQ(t.stage().counters().remote_messages, std::uint64_t{kPerThread} * Tally::kProducers);
}

namespace {
class Caller : public ra::Actor {
 public:
  struct Result {
    std::atomic<int> value{0};
    std::atomic<bool> on_caller_thread{false};
  };
  explicit Caller(Result* r) : r_(r) {}
  void go(ra::Ref<Recorder> remote) {
    const auto me = std::this_thread::get_id();
    remote.ask(&Recorder::twice, 50, [this, me](ra::Reply<int> reply) {
      r_->on_caller_thread = std::this_thread::get_id() == me;
      r_->value = reply.ok() ? reply.value() : -1;
    });
  }
  void watch(ra::ActorId who) { monitor_id(who); }
  std::atomic<int> shutdown_downs{0};

 protected:
  void on_down(const ra::DownNotice& d) override {
    if (d.reason == ra::StopReason::kShutdown) ++r_->value;
  }

 private:
  Result* r_;
};
}  // namespace

TEST(Stage, AskAcrossReactorsAnswersOnTheCallersThread) {
  StageThread a, b;
  Journal j;
  Caller::Result result;
  auto remote = b.stage().spawn<Recorder>(&j);
  auto caller = a.stage().spawn<Caller>(&result);
  a.start();
  b.start();
  caller.tell(&Caller::go, remote);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (result.value.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(result.value.load(), 100);
  EXPECT_TRUE(result.on_caller_thread.load());

  // A monitor across reactors learns of the other reactor's shutdown.
  result.value = 0;
  caller.tell(&Caller::watch, remote.id());
  a.call([] { return 0; });
  b.call([] { return 0; });  // the watch registration has been handled
  b.stop();
  const auto deadline2 = std::chrono::steady_clock::now() + 10s;
  while (result.value.load() == 0 && std::chrono::steady_clock::now() < deadline2) std::this_thread::yield();
  EXPECT_EQ(result.value.load(), 1) << "one kShutdown notice";
  a.stop();
}

TEST(Stage, AskFromAPlainThreadAnswersOnTheTargetsThread) {
  StageThread t;
  Journal j;
  auto r = t.stage().spawn<Recorder>(&j);
  t.start();
  std::promise<std::pair<int, bool>> got;
  r.ask(&Recorder::twice, 4, [&](ra::Reply<int> reply) {
    got.set_value({reply.ok() ? reply.value() : -1, t.reactor().in_reactor_thread()});
  });
  auto fut = got.get_future();
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  const auto [value, on_reactor] = fut.get();
  EXPECT_EQ(value, 8);
  EXPECT_TRUE(on_reactor) << "outside any actor, the reply runs on the target's reactor thread";
}

TEST(Stage, AskToAFinishedReactorAnswersShutdown) {
  StageThread t;
  Journal j;
  auto r = t.stage().spawn<Recorder>(&j);
  t.start();
  t.stop();  // the reactor has finished; its stage still exists
  std::atomic<int> err{-1};
  r.ask(&Recorder::twice, 4, [&](ra::Reply<int> reply) { err = static_cast<int>(reply.error()); });
  EXPECT_TRUE(eventually([&] { return err.load() != -1; }));
  EXPECT_EQ(err.load(), static_cast<int>(ra::AskError::kShutdown)) << "the ask never hangs";
}

TEST(Stage, AskAfterTheReactorFinishedAnswersShutdownOnTheSameThread) {
  // Regression: after run() returned on this thread, an ask went onto the run queue that
  // nobody drains any more, and its callback never ran.
  SteppedStage s;
  Journal j;
  auto r = s.stage().spawn<Recorder>(&j);
  s.step();
  s.shutdown();
  ASSERT_TRUE(s.reactor().finished());
  ra::AskError err = ra::AskError::kNone;
  bool called = false;
  r.ask(&Recorder::twice, 1, [&](ra::Reply<int> reply) {
    called = true;
    err = reply.error();
  });
  EXPECT_TRUE(called);
  EXPECT_EQ(err, ra::AskError::kShutdown);
}
