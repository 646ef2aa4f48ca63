// Covers the actor example quoted in README.md, verbatim, so the README never shows code
// that does not compile or work.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "actor_test_support.hpp"

namespace ra = ringactor::actors;

namespace {
// ---- from README.md ----
class Room : public ra::Actor {
 public:
  void join(std::uint64_t player) { players_.push_back(player); }
  std::size_t size() const { return players_.size(); }
 private:
  std::vector<std::uint64_t> players_;
};
// ---- end ----
}  // namespace

TEST(ReadmeExample, RoomJoinAndSize) {
  ringactor::test::SteppedStage s;
  ra::Stage& stage = s.stage();
  // ---- from README.md ----
  ra::Ref<Room> room = stage.spawn<Room>();
  room.tell(&Room::join, 42);                                   // typed, queued, no locks
  // ---- end ----
  std::size_t seen = 0;
  room.ask(&Room::size, [&](ra::Reply<std::size_t> r) { seen = r.value(); });
  ASSERT_TRUE(s.run_until([&] { return seen == 1; }));
}
