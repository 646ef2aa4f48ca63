// Covers InvokeQueue's wake-up logic: no eventfd write while the reactor is busy, exactly
// one per park however many producers race, and prepare_park refusing to sleep when work
// is queued.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "invoke_queue.hpp"  // internal to the runtime

namespace rt = ringactor::runtime;

namespace {
std::uint64_t read_eventfd(int fd) {
  std::uint64_t v = 0;
  if (::read(fd, &v, sizeof v) != sizeof v) return 0;
  return v;
}
}  // namespace

TEST(InvokeQueue, NoWakeWhileBusy) {
  const int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  rt::InvokeQueue q(efd);
  int ran = 0;
  for (int i = 0; i < 1000; ++i) q.post([&] { ++ran; });
  EXPECT_EQ(q.wakeups(), 0u);
  EXPECT_EQ(read_eventfd(efd), 0u);
  EXPECT_EQ(q.drain(10000, [](auto& t) { t(); }), 1000u);
  EXPECT_EQ(ran, 1000);
  ::close(efd);
}

TEST(InvokeQueue, OneWakePerPark) {
  const int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  rt::InvokeQueue q(efd);
  ASSERT_TRUE(q.prepare_park());
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) q.post([] {});
    });
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(q.wakeups(), 1u) << "4000 posts while parked: one wake-up";
  EXPECT_EQ(read_eventfd(efd), 1u);
  EXPECT_FALSE(q.parked());
  EXPECT_EQ(q.drain(100000, [](auto& t) { t(); }), 4000u);
  q.unpark();
  ASSERT_TRUE(q.prepare_park());
  q.post([] {});
  EXPECT_EQ(q.wakeups(), 2u) << "a new park earns a new wake-up";
  ::close(efd);
}

TEST(InvokeQueue, PrepareParkSeesQueuedWork) {
  rt::InvokeQueue q(-1);
  q.post([] {});
  EXPECT_FALSE(q.prepare_park());
  EXPECT_FALSE(q.parked());
  q.drain(10, [](auto& t) { t(); });
  EXPECT_TRUE(q.prepare_park());
}

TEST(InvokeQueue, DrainRespectsBudgetAndOrderPerProducer) {
  rt::InvokeQueue q(-1);
  std::vector<int> seen;
  for (int i = 0; i < 300; ++i) q.post([&seen, i] { seen.push_back(i); });
  EXPECT_EQ(q.drain(100, [](auto& t) { t(); }), 100u);
  EXPECT_EQ(q.drain(1000, [](auto& t) { t(); }), 200u);
  ASSERT_EQ(seen.size(), 300u);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], i);
}
