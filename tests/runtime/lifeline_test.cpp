// Covers Lifeline (shared cut flag, aliasing form) and Reactor::lifeline(), which is cut
// when a graceful stop begins, before the connections are closed.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>

#include <ringactor/runtime/lifeline.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "test_support.hpp"

namespace {

using namespace ringactor::test;
using ringactor::runtime::Lifeline;

TEST(Lifeline, CopiesShareOneFlagAndADefaultOneIsNeverCut) {
  Lifeline none;
  none.cut();
  EXPECT_FALSE(none.is_cut());
  EXPECT_FALSE(none);
  Lifeline a = Lifeline::make();
  const Lifeline b = a;
  EXPECT_TRUE(a);
  EXPECT_FALSE(b.is_cut());
  b.cut();
  EXPECT_TRUE(a.is_cut());
  a.cut();  // idempotent
  EXPECT_TRUE(b.is_cut());
}

TEST(Lifeline, AnAliasingLifelineKeepsItsOwnerAlive) {
  struct Owner {
    std::atomic<bool> gone{false};
    int payload = 7;
  };
  std::weak_ptr<Owner> watch;
  Lifeline line;
  {
    auto owner = std::make_shared<Owner>();
    watch = owner;
    line = Lifeline(std::shared_ptr<std::atomic<bool>>(owner, &owner->gone));
    owner->gone = true;
  }
  EXPECT_FALSE(watch.expired()) << "the lifeline holds its owner";
  EXPECT_TRUE(line.is_cut());
  line = Lifeline();
  EXPECT_TRUE(watch.expired());
}

// Records, when the reactor asks its connections to wind down, whether its line is cut.
struct Watcher : ringactor::runtime::ConnectionHandler {
  explicit Watcher(std::atomic<int>* seen) : cut_at_shutdown(seen) {}
  std::size_t on_data(ringactor::runtime::Connection conn, std::span<const std::byte> b) override {
    conn.send(b);
    return b.size();
  }
  bool on_shutdown(ringactor::runtime::Connection conn) override {
    cut_at_shutdown->store(conn.reactor().lifeline().is_cut() ? 1 : 2);
    return false;
  }
  std::atomic<int>* cut_at_shutdown;
};

TEST(Lifeline, AReactorCutsItsLifelineWhenAStopBegins) {
  std::atomic<int> seen{0};
  ServerThread server({}, [&](ringactor::runtime::Connection) { return std::make_unique<Watcher>(&seen); });
  const Lifeline line = server.reactor().lifeline();
  Client c(server.port());
  ASSERT_EQ(c.echo_roundtrip("hi"), "hi");
  EXPECT_FALSE(line.is_cut());
  server.stop();
  EXPECT_TRUE(line.is_cut());
  EXPECT_EQ(seen.load(), 1) << "cut before the connections are asked to finish";
}

}  // namespace
