// Covers actors::Mesh: tells across reactors go through the SPSC rings in order per sender,
// a full ring spills into the backlog and drains without loss, asks answer on the asker's
// reactor, monitors work across, a parked reactor is woken (ping-pong), and stopping with
// messages in flight delivers or counts every message (never loses one silently).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include <ringactor/actors/mesh.hpp>

#include "actor_test_support.hpp"

using namespace ringactor::test;

namespace {

// Two reactors on their own threads in one mesh. The mesh goes first at the end, once both
// reactors have finished.
struct MeshPair {
  explicit MeshPair(ra::MeshOptions options = {}) : mesh(std::make_unique<ra::Mesh>(options)) {
    EXPECT_EQ(mesh->join(a.stage()), 0u);
    EXPECT_EQ(mesh->join(b.stage()), 1u);
  }
  ~MeshPair() { finish(); }
  void start() {
    a.start();
    b.start();
  }
  void finish() {
    a.stop();
    b.stop();
    mesh.reset();
  }
  StageThread a, b;
  std::unique_ptr<ra::Mesh> mesh;
};

// Counts what arrives per sender and checks the order.
struct Tally {
  std::atomic<std::uint64_t> total{0};
  std::atomic<std::uint64_t> out_of_order{0};
};

class Sink : public ra::Actor {
 public:
  explicit Sink(Tally* t) : t_(t) {}
  void add(std::uint32_t seq) {
    if (seq != next_) t_->out_of_order.fetch_add(1, std::memory_order_relaxed);
    next_ = seq + 1;
    t_->total.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  Tally* t_;
  std::uint32_t next_ = 0;
};

// Sends `count` messages to a sink in bursts of `burst` per handler (one handler's burst is
// one loop iteration of its reactor), or until stopped.
class Source : public ra::Actor {
 public:
  Source(ra::Ref<Sink> sink, std::uint32_t count, std::uint32_t burst, std::atomic<std::uint64_t>* sent)
      : sink_(sink), count_(count), burst_(burst), sent_(sent) {}
  void go() {
    for (std::uint32_t i = 0; i < burst_ && seq_ < count_; ++i) {
      sink_.tell(&Sink::add, seq_++);
      sent_->fetch_add(1, std::memory_order_relaxed);
    }
    if (seq_ < count_) self<Source>().tell(&Source::go);
  }

 private:
  ra::Ref<Sink> sink_;
  std::uint32_t count_, burst_;
  std::uint32_t seq_ = 0;
  std::atomic<std::uint64_t>* sent_;
};

template <typename Pred>
bool wait_for(Pred pred, std::chrono::milliseconds limit = 30s) {
  return ringactor::test::eventually(pred, limit);  // the project's bounded poll
}

}  // namespace

TEST(Mesh, TellsAcrossReactorsGoThroughTheRingInOrder) {
  MeshPair p;
  Tally tally;
  std::atomic<std::uint64_t> sent{0};
  constexpr std::uint32_t kCount = 200'000;
  auto sink = p.b.stage().spawn<Sink>(&tally);
  auto source = p.a.stage().spawn<Source>(sink, kCount, 100, &sent);
  p.start();
  source.tell(&Source::go);
  ASSERT_TRUE(wait_for([&] { return tally.total.load() == kCount; }))
      << tally.total.load() << " sent " << sent.load() << " ring sent " << p.mesh->counters(0).sent << " backlogged "
      << p.mesh->counters(0).backlogged << " received " << p.mesh->counters(1).received << " wakeups "
      << p.mesh->counters(0).wakeups << " b iterations " << p.b.reactor().counters().iterations << " b wakeups "
      << p.b.reactor().counters().wakeups << " a iterations " << p.a.reactor().counters().iterations;
  EXPECT_EQ(tally.out_of_order.load(), 0u);
  const ra::MeshCounters ca = p.mesh->counters(0), cb = p.mesh->counters(1);
  EXPECT_EQ(ca.sent, kCount) << "every message from a's thread to b went through the ring";
  EXPECT_EQ(cb.received, kCount);
  EXPECT_GE(ca.wakeups, 1u);
  // At most one wake-up per destination per iteration of a's loop (+1: the iteration whose
  // before-wait hook ran but whose count is not in yet).
  EXPECT_LE(ca.wakeups, p.a.reactor().counters().iterations + 1) << "one wake-up per destination per iteration";
  EXPECT_LT(ca.wakeups, kCount / 10) << "coalesced: far fewer wake-ups than messages";
  EXPECT_EQ(p.b.stage().counters().remote_messages, kCount);
  EXPECT_EQ(p.b.stage().counters().dead_letters, 0u);
}

TEST(Mesh, AFullRingSpillsIntoTheBacklogAndDrainsInOrder) {
  MeshPair p({.ring_capacity = 4});
  Tally tally;
  std::atomic<std::uint64_t> sent{0};
  constexpr std::uint32_t kCount = 100'000;
  auto sink = p.b.stage().spawn<Sink>(&tally);
  auto source = p.a.stage().spawn<Source>(sink, kCount, 1000, &sent);  // 1000 per burst into 4 slots
  p.start();
  source.tell(&Source::go);
  ASSERT_TRUE(wait_for([&] { return tally.total.load() == kCount; }))
      << tally.total.load() << " sent " << sent.load() << " ring sent " << p.mesh->counters(0).sent << " backlogged "
      << p.mesh->counters(0).backlogged << " received " << p.mesh->counters(1).received << " wakeups "
      << p.mesh->counters(0).wakeups;
  EXPECT_EQ(tally.out_of_order.load(), 0u) << "behind a backlog, later messages wait their turn";
  const ra::MeshCounters ca = p.mesh->counters(0);
  EXPECT_GT(ca.backlogged, kCount / 2) << "most of each burst waited in the backlog";
  EXPECT_EQ(ca.sent, kCount);
  EXPECT_EQ(p.mesh->counters(1).received, kCount);
  EXPECT_EQ(p.b.stage().counters().dead_letters, 0u);
}

namespace {
class Doubler : public ra::Actor {
 public:
  int twice(int x) { return 2 * x; }
};

class Asker : public ra::Actor {
 public:
  struct Out {
    std::atomic<int> value{0};
    std::atomic<bool> on_asker_thread{false};
    std::atomic<int> downs{0};
    std::atomic<int> down_reason{-1};
  };
  explicit Asker(Out* out) : out_(out) {}
  void ask_it(ra::Ref<Doubler> d) {
    const auto me = std::this_thread::get_id();
    d.ask(&Doubler::twice, 21, [this, me](ra::Reply<int> r) {
      out_->on_asker_thread = std::this_thread::get_id() == me;
      out_->value = r.ok() ? r.value() : -1;
    });
  }
  void watch(ra::ActorId who) { monitor_id(who); }

 protected:
  void on_down(const ra::DownNotice& n) override {
    out_->down_reason = static_cast<int>(n.reason);
    ++out_->downs;
  }

 private:
  Out* out_;
};

class Stopper : public ra::Actor {
 public:
  void quit() { stop(); }
};
}  // namespace

TEST(Mesh, AsksAnswerOnTheAskersReactorAndMonitorsWorkAcross) {
  MeshPair p;
  Asker::Out out;
  auto doubler = p.b.stage().spawn<Doubler>();
  auto victim = p.b.stage().spawn<Stopper>();
  auto asker = p.a.stage().spawn<Asker>(&out);
  p.start();
  asker.tell(&Asker::ask_it, doubler);
  ASSERT_TRUE(wait_for([&] { return out.value.load() != 0; }));
  EXPECT_EQ(out.value.load(), 42);
  EXPECT_TRUE(out.on_asker_thread.load());
  EXPECT_GE(p.mesh->counters(0).sent, 1u) << "the ask went a -> b through the ring";
  EXPECT_GE(p.mesh->counters(1).sent, 1u) << "and the answer b -> a";

  asker.tell(&Asker::watch, victim.id());
  // The watch is placed on b's thread: wait until b has it, then stop the victim.
  ASSERT_TRUE(wait_for([&] {
    return p.a.call([] { return true; }) && p.b.call([] { return true; });
  }));
  victim.tell(&Stopper::quit);
  ASSERT_TRUE(wait_for([&] { return out.downs.load() == 1; }));
  EXPECT_EQ(out.down_reason.load(), static_cast<int>(ra::StopReason::kNormal));
}

namespace {
// Ping-pong across reactors: each side answers the other; both reactors park between
// messages, so every hop needs a wake-up.
class Player : public ra::Actor {
 public:
  Player(std::uint32_t rounds, std::atomic<std::uint32_t>* done) : rounds_(rounds), done_(done) {}
  void meet(ra::Ref<Player> other) { other_ = other; }
  void ball(std::uint32_t n) {
    if (n >= rounds_) {
      done_->store(n);
      return;
    }
    other_.tell(&Player::ball, n + 1);
  }

 private:
  ra::Ref<Player> other_;
  std::uint32_t rounds_;
  std::atomic<std::uint32_t>* done_;
};
}  // namespace

namespace {
// Starts the pair with a Player on each side and plays `rounds` hops; false on a timeout.
bool play(MeshPair& p, std::uint32_t rounds, std::atomic<std::uint32_t>& done) {
  auto x = p.a.stage().spawn<Player>(rounds, &done);
  auto y = p.b.stage().spawn<Player>(rounds, &done);
  x.tell(&Player::meet, y);
  y.tell(&Player::meet, x);
  p.start();
  x.tell(&Player::ball, 0u);
  return wait_for([&] { return done.load() == rounds; }, 60s);
}
}  // namespace

TEST(Mesh, PingPongWakesAParkedReactorEveryHop) {
  MeshPair p;
  constexpr std::uint32_t kRounds = 20'000;
  std::atomic<std::uint32_t> done{0};
  ASSERT_TRUE(play(p, kRounds, done)) << done.load();
  const std::uint64_t hops = p.mesh->counters(0).sent + p.mesh->counters(1).sent;
  EXPECT_EQ(hops, kRounds);
  EXPECT_GT(p.a.reactor().counters().wakeups + p.b.reactor().counters().wakeups, 0u)
      << "without spin, a parked reactor is woken through its eventfd";
}

TEST(Mesh, WithSpinAConversationDoesNotPayAWakeUpPerHop) {
  // 5 ms of polling after each message: far longer than a hop, even on a loaded machine.
  MeshPair p({.spin = std::chrono::milliseconds(5)});
  constexpr std::uint32_t kRounds = 20'000;
  std::atomic<std::uint32_t> done{0};
  ASSERT_TRUE(play(p, kRounds, done)) << done.load();
  // (Starting the threads may cost a wake-up or two; the hops are what is counted.)
  const std::uint64_t eventfd_writes = p.a.reactor().counters().wakeups + p.b.reactor().counters().wakeups;
  EXPECT_LT(eventfd_writes, kRounds / 10) << "polling members are awake when the next hop arrives";
}

TEST(Mesh, StoppingWithMessagesInFlightDeliversOrCountsEveryOne) {
  auto p = std::make_unique<MeshPair>(ra::MeshOptions{.ring_capacity = 64});
  Tally tally;
  std::atomic<std::uint64_t> sent{0};
  constexpr std::uint32_t kCount = 400'000;
  auto sink = p->b.stage().spawn<Sink>(&tally);
  auto source = p->a.stage().spawn<Source>(sink, kCount, 500, &sent);
  p->start();
  source.tell(&Source::go);
  ASSERT_TRUE(wait_for([&] { return tally.total.load() >= 20'000; }));
  p->b.stop();  // the receiver goes with messages in its ring and in the sender's backlog
  ASSERT_TRUE(wait_for([&] { return sent.load() == kCount; })) << "the sender finishes: " << sent.load();
  p->a.stop();  // its backlog cannot be handed over any more: dead letters
  const std::uint64_t dead_before_mesh = p->b.stage().counters().dead_letters;
  p->mesh.reset();  // what still lies in a ring is counted now
  const std::uint64_t dead = p->b.stage().counters().dead_letters;
  EXPECT_GE(dead, dead_before_mesh);
  EXPECT_LT(tally.total.load(), kCount) << "the receiver stopped before the end";
  EXPECT_EQ(tally.total.load() + dead, std::uint64_t{kCount})
      << "delivered " << tally.total.load() << " + dead letters " << dead << " = sent";
  EXPECT_EQ(tally.out_of_order.load(), 0u);
}

namespace {
// A sender whose backlog is handed over at its stop: the receiver still runs and gets every
// message, in order.
class Flood : public ra::Actor {
 public:
  Flood(ra::Ref<Sink> sink, std::uint32_t count) : sink_(sink), count_(count) {}
  void go() {
    for (std::uint32_t i = 0; i < count_; ++i) sink_.tell(&Sink::add, i);
  }

 private:
  ra::Ref<Sink> sink_;
  std::uint32_t count_;
};
}  // namespace

TEST(Mesh, ASenderThatStopsHandsItsBacklogToTheReceiver) {
  MeshPair p({.ring_capacity = 8});
  Tally tally;
  constexpr std::uint32_t kCount = 50'000;
  auto sink = p.b.stage().spawn<Sink>(&tally);
  auto flood = p.a.stage().spawn<Flood>(sink, kCount);
  p.start();
  // One handler sends everything, then a's reactor stops at once: most of it is still in
  // a's backlog when a's stop hooks run.
  p.a.call([&] {
    p.a.stage().with_actor(flood.id(), [](ra::Actor& x) { static_cast<Flood&>(x).go(); });
    p.a.reactor().stop();
    return true;
  });
  p.a.stop();
  ASSERT_TRUE(wait_for([&] { return tally.total.load() == kCount; })) << tally.total.load();
  EXPECT_EQ(tally.out_of_order.load(), 0u);
  EXPECT_GT(p.mesh->counters(0).handed_over, 0u);
  EXPECT_EQ(p.b.stage().counters().dead_letters, 0u);
}

TEST(Mesh, JoinRulesAreChecked) {
  EXPECT_THROW(ra::Mesh({.ring_capacity = 3}), std::invalid_argument);
  EXPECT_THROW(ra::Mesh({.ring_capacity = 1}), std::invalid_argument);
  StageThread a, b;
  {
    ra::Mesh mesh;
    mesh.join(a.stage());
    EXPECT_THROW(mesh.join(a.stage()), std::logic_error);
    ra::Stage second(a.reactor());
    EXPECT_THROW(mesh.join(second), std::logic_error) << "one stage per reactor";
    ra::Mesh other;
    EXPECT_THROW(other.join(a.stage()), std::logic_error) << "a stage is in one mesh";
    EXPECT_THROW((void)mesh.counters(5), std::out_of_range);
  }
  b.start();
  ASSERT_TRUE(b.call([] { return true; }));  // its loop has run
  ra::Mesh late;
  EXPECT_THROW(late.join(b.stage()), std::logic_error) << "its reactor already runs";
}
