// Covers demos/arena's simulation (deterministic, armies meet and fight, units stay on the
// map) and wire format (full and delta frames, deaths sent once, client messages checked).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

#include "arena_frame.hpp"
#include "protocol.hpp"
#include "sim.hpp"
#include "sim_core.hpp"

using namespace arena;

namespace {
World battle(int steps) {
  World w = make_world(4, 48);
  for (auto& c : w.commands) c = Command{true, kMapSize / 2, kMapSize / 2};  // everyone to the centre
  for (int i = 0; i < steps; ++i) step(w, 0.05f);
  return w;
}
}  // namespace

TEST(ArenaSim, StepsAreDeterministicAndArmiesFight) {
  const World a = battle(300);
  const World b = battle(300);
  ASSERT_EQ(a.units.size(), 192u);
  for (std::size_t i = 0; i < a.units.size(); ++i) {
    EXPECT_EQ(a.units[i].x, b.units[i].x);
    EXPECT_EQ(a.units[i].hp, b.units[i].hp);
  }
  EXPECT_EQ(a.kills, b.kills);
  std::uint32_t kills = 0;
  for (auto k : a.kills) kills += k;
  EXPECT_GT(kills, 20u) << "armies sent to the centre meet and fight";
  unsigned dead = 0;
  for (const Unit& u : a.units) {
    EXPECT_GE(u.x, 0.0f);
    EXPECT_LT(u.x, kMapSize);
    EXPECT_GE(u.y, 0.0f);
    EXPECT_LT(u.y, kMapSize);
    dead += u.alive() ? 0 : 1;
  }
  EXPECT_EQ(dead, kills) << "every death is credited to one seat";
  // The per-seat counts the step keeps agree with the units themselves.
  unsigned seats_left = 0;
  for (unsigned s = 0; s < 4; ++s) {
    const auto living = std::count_if(a.units.begin(), a.units.end(),
                                      [&](const Unit& u) { return u.seat == s && u.alive(); });
    EXPECT_EQ(units_alive(a, s), static_cast<unsigned>(living)) << "seat " << s;
    seats_left += living > 0 ? 1 : 0;
  }
  EXPECT_EQ(seats_alive(a), seats_left);
  EXPECT_EQ(units_alive(a, 9), 0u) << "a seat that does not exist";
}

TEST(ArenaSim, DiffersNamesTheFirstDifference) {
  const World a = battle(40);
  World b = a;
  EXPECT_EQ(differs(a, b), "");
  b.units[3].y = std::nextafter(b.units[3].y, 2000.0f);  // one ulp: what a device could differ by
  EXPECT_EQ(differs(a, b).rfind("unit 3: y: ", 0), 0u) << differs(a, b);
  b = a;
  b.units[7].cooldown = 5;
  EXPECT_EQ(differs(a, b).rfind("unit 7: cooldown", 0), 0u) << differs(a, b);
  b = a;
  ++b.kills[2];
  EXPECT_EQ(differs(a, b),
            "seat 2: kills: " + std::to_string(a.kills[2]) + " != " + std::to_string(b.kills[2]));
  b = a;
  ++b.tick;
  EXPECT_EQ(differs(a, b).rfind("tick: ", 0), 0u);
  b = a;
  b.units.pop_back();
  EXPECT_EQ(differs(a, b).rfind("units: 192 != 191", 0), 0u) << differs(a, b);
}

TEST(ArenaSim, UnitsHeadForTheirSeatsCommand) {
  World w = make_world(2, 16);
  w.commands[0] = Command{true, 100, 100};
  auto centroid = [&](unsigned seat) {
    float x = 0, y = 0, n = 0;
    for (const Unit& u : w.units) {
      if (u.seat == seat) {
        x += u.x;
        y += u.y;
        ++n;
      }
    }
    return std::hypot(x / n - 100, y / n - 100);
  };
  const float before = centroid(0);
  const World other_before = w;
  for (int i = 0; i < 20; ++i) step(w, 0.05f);
  EXPECT_LT(centroid(0), before - 50) << "a second of marching at 70 units/s";
  EXPECT_EQ(w.units[20].x, other_before.units[20].x) << "seat 1 had no command and no enemy in sight";
}

// The step finds enemies through grids bucketed by cell and by seat. Check it against the
// rule itself, brute force: each unit heads for the nearest enemy within sight, the lower
// id on equal distances. Units stand at least 17 apart (no separation push, nobody in
// reach), many at exactly equal distances, in rooms of 2 to 16 seats whose armies are
// spread over the map or packed in one corner.
TEST(ArenaSim, UnitsChaseTheNearestEnemyInSightLowerIdOnTies) {
  std::mt19937 rng(7);
  int chasing = 0, ties = 0;
  for (int round = 0; round < 60; ++round) {
    const unsigned seats = 2 + round % 15;
    const float span = round % 3 == 0 ? 300.0f : kMapSize;  // one corner, or everywhere
    World w = make_world(seats, 8);
    // Places on a lattice of 17 so equal distances are common; no two units share one.
    std::vector<std::pair<int, int>> spots;
    const int side = static_cast<int>(span / 17);
    for (int x = 0; x < side; ++x) {
      for (int y = 0; y < side; ++y) spots.emplace_back(x, y);
    }
    std::shuffle(spots.begin(), spots.end(), rng);
    for (std::size_t i = 0; i < w.units.size(); ++i) {
      w.units[i].x = 5.0f + 17.0f * static_cast<float>(spots[i].first);
      w.units[i].y = 5.0f + 17.0f * static_cast<float>(spots[i].second);
    }
    const World before = w;
    step(w, 0.05f);
    for (const Unit& u : before.units) {
      std::int32_t target = -1;
      float best = core::kSight * core::kSight;
      int equal = 0;
      for (const Unit& v : before.units) {
        if (v.seat == u.seat) continue;
        const float d = (v.x - u.x) * (v.x - u.x) + (v.y - u.y) * (v.y - u.y);
        equal += d == best ? 1 : 0;
        if (d < best || (d == best && v.id < target)) {
          equal = d < best ? 0 : equal;
          best = d;
          target = v.id;
        }
      }
      ties += equal > 0 ? 1 : 0;
      float gx = u.x, gy = u.y;
      if (target >= 0) {
        gx = before.units[static_cast<std::size_t>(target)].x;
        gy = before.units[static_cast<std::size_t>(target)].y;
        ++chasing;
      }
      // The movement of sim_core.hpp's decide, for a unit with no neighbour to push it.
      const float dx = gx - u.x, dy = gy - u.y;
      const float len = std::sqrt(dx * dx + dy * dy);
      const float move = std::min(len, core::kSpeed * 0.05f);
      float nx = u.x, ny = u.y;
      if (len > 0.5f) {
        nx += dx / len * move;
        ny += dy / len * move;
      }
      ASSERT_EQ(w.units[u.id].x, core::clamp_map(nx))
          << "round " << round << ", unit " << u.id << ", target " << target;
      ASSERT_EQ(w.units[u.id].y, core::clamp_map(ny))
          << "round " << round << ", unit " << u.id << ", target " << target;
    }
  }
  EXPECT_GT(chasing, 1000) << "most units have an enemy in sight";
  EXPECT_GT(ties, 50) << "equal distances were exercised";
}

// Units closer than two radii push each other apart. The step picks them from the cells
// around each unit; check it against the rule, brute force: every other living unit in
// range, summed in the grid's order (cells row by row, ids ascending), two on one spot split
// by id. One army is packed tight near cell corners (no enemy in sight: the other army
// stands far away, and no command moves them), so every unit has several neighbours.
TEST(ArenaSim, CrowdedUnitsPushApartInGridOrder) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> jitter(-12.0f, 12.0f);
  int pushed = 0;
  for (int round = 0; round < 20; ++round) {
    World w = make_world(2, 64);
    const float cx = 80.0f + 40.0f * static_cast<float>(round % 5);  // on cell corners
    for (Unit& u : w.units) {
      if (u.seat == 0) {
        u.x = cx + jitter(rng);
        u.y = cx + jitter(rng);
      } else {
        u.x = kMapSize - 20.0f + jitter(rng) / 4;
        u.y = kMapSize - 20.0f + jitter(rng) / 4;
      }
    }
    w.units[5].x = w.units[6].x;  // two units on one spot
    w.units[5].y = w.units[6].y;
    w.units[9].hp = 0;  // the dead push nobody
    const World before = w;
    step(w, 0.05f);
    const auto cell = [](const Unit& u) { return core::cell_of(u.y) * core::kCells + core::cell_of(u.x); };
    for (const Unit& u : before.units) {
      if (!u.alive()) continue;
      std::vector<const Unit*> near;
      for (const Unit& v : before.units) {
        const float ddx = u.x - v.x, ddy = u.y - v.y;
        if (v.alive() && v.id != u.id && ddx * ddx + ddy * ddy < 4 * core::kRadius * core::kRadius)
          near.push_back(&v);
      }
      std::sort(near.begin(), near.end(), [&](const Unit* a, const Unit* b) {
        return cell(*a) != cell(*b) ? cell(*a) < cell(*b) : a->id < b->id;
      });
      float px = 0, py = 0;
      for (const Unit* v : near) {
        const float ddx = u.x - v->x, ddy = u.y - v->y;
        const float d2 = ddx * ddx + ddy * ddy;
        if (d2 < 1e-6f) {
          px += v->id < u.id ? 0.5f : -0.5f;
          continue;
        }
        const float d = std::sqrt(d2);
        const float push = (2 * core::kRadius - d) * 0.5f;
        px += ddx / d * push;
        py += ddy / d * push;
      }
      pushed += near.empty() ? 0 : 1;
      ASSERT_EQ(w.units[u.id].x, core::clamp_map(u.x + px)) << "round " << round << ", unit " << u.id;
      ASSERT_EQ(w.units[u.id].y, core::clamp_map(u.y + py)) << "round " << round << ", unit " << u.id;
    }
  }
  EXPECT_GT(pushed, 1500) << "most units had neighbours in range";
}

TEST(ArenaProtocol, FullThenDeltaFramesCarryOnlyWhatChanged) {
  World w = make_world(2, 8);
  FrameEncoder enc;
  std::vector<SeatLine> seats(2);
  auto f0 = arena_test::decode(enc.next(w, Phase::kPlaying, 100, seats));
  ASSERT_TRUE(f0);
  EXPECT_TRUE(f0->full);
  EXPECT_EQ(f0->seq, 0u);
  EXPECT_EQ(f0->units.size(), 16u);
  EXPECT_EQ(f0->ticks_left, 100);
  // Nothing changed: an empty delta.
  auto f1 = arena_test::decode(enc.next(w, Phase::kPlaying, 99, seats));
  ASSERT_TRUE(f1);
  EXPECT_FALSE(f1->full);
  EXPECT_EQ(f1->seq, 1u);
  EXPECT_TRUE(f1->units.empty());
  // One unit moves, one dies: both appear, the dead one with hp 0, once.
  w.units[3].x += 5;
  w.units[9].hp = 0;
  seats[0].last_input_seq = 42;
  auto f2 = arena_test::decode(enc.next(w, Phase::kPlaying, 98, seats));
  ASSERT_TRUE(f2);
  ASSERT_EQ(f2->units.size(), 2u);
  EXPECT_EQ(f2->units[0].id, 3);
  EXPECT_EQ(f2->units[1].id, 9);
  EXPECT_EQ(f2->units[1].hp, 0);
  EXPECT_EQ(f2->seats[0].ack, 42u);
  auto f3 = arena_test::decode(enc.next(w, Phase::kPlaying, 97, seats));
  ASSERT_TRUE(f3);
  EXPECT_TRUE(f3->units.empty()) << "a death is sent once";
  // A full frame for a joining client lists the living units and keeps the broadcast's seq.
  auto j = arena_test::decode(enc.full(w, Phase::kPlaying, 97, seats));
  ASSERT_TRUE(j);
  EXPECT_TRUE(j->full);
  EXPECT_EQ(j->units.size(), 15u);
  EXPECT_EQ(j->seq, 3u);
  // Every kFullEvery-th broadcast frame is full again.
  for (std::uint32_t i = 4; i < kFullEvery; ++i) enc.next(w, Phase::kPlaying, 0, seats);
  auto again = arena_test::decode(enc.next(w, Phase::kPlaying, 0, seats));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->full);
  EXPECT_EQ(again->seq, kFullEvery);
  // Quantisation spans the map.
  EXPECT_LE(std::abs(f0->units[0].x / 65535.0 * kMapSize - w.units[0].x), kMapSize / 65535.0);
}

TEST(ArenaProtocol, ClientMessagesAreChecked) {
  std::string error;
  auto ok = parse_client_message(R"({"t":"join","name":"ada"})", error);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->name, "ada");
  ok = parse_client_message(R"({"t":"input","seq":3,"x":10.5,"y":999})", error);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->seq, 3u);
  EXPECT_FLOAT_EQ(ok->x, 10.5f);
  for (const char* bad :
       {"", "nope", "[]", R"({"t":1})", R"({"t":"dance"})", R"({"t":"join"})", R"({"t":"join","name":""})",
        R"({"t":"join","name":"seventeen chars!!"})", "{\"t\":\"join\",\"name\":\"a\\u0001\"}",
        R"({"t":"input","seq":-1,"x":1,"y":1})", R"({"t":"input","seq":1,"x":1e9,"y":1})",
        R"({"t":"input","seq":1,"x":"1","y":1})", R"({"t":"input","seq":99999999999,"x":1,"y":1})",
        R"({"t":"rejoin","token":"short"})"}) {
    error.clear();
    EXPECT_FALSE(parse_client_message(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}
