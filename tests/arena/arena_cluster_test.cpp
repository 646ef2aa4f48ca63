// Covers the arena as a cluster (--nats): several arena processes on a real nats-server,
// players connected to different processes. One lobby pairs them; rooms open on the
// process hosting the fewest; a player whose room lives elsewhere sees its frames (relayed
// through NATS) and moves its units; a room's process killed with SIGKILL closes its remote
// players with 4001 while the other rooms play on and new rooms open on the survivors; the
// lobby's process killed: its queued players queue again at the next lobby.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "arena_support.hpp"
#include "nats_support.hpp"

using namespace arena_test;
using namespace std::chrono_literals;

namespace {

// One arena process of the cluster: no bots (players wait for each other), heartbeats every
// 200 ms and down after 1.5 s silent (fast, yet no false downs under the sanitizers).
ArenaProcess start_member(const NatsServer& nats, const std::string& name) {
  return start_arena(temp_db(), {"--nats", nats.url(), "--name", name, "--nats-prefix", "t", "--bot-wait-ms",
                                 "600000", "--round-ms", "20000", "--heartbeat-ms", "200", "--down-after-ms", "1500"});
}

json rooms_of(const ArenaProcess& a) {
  const json j = json::parse(http_get(a.port, "/api/rooms"), nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

// Waits until every process names `lobby` as the cluster's lobby.
bool lobby_is(const std::vector<const ArenaProcess*>& all, const std::string& lobby) {
  return eventually([&] {
    for (const ArenaProcess* a : all) {
      if (rooms_of(*a).value("lobby", "") != lobby) return false;
    }
    return true;
  }, 10s);
}

// The process a room lives on, as the lobby lists it ("" while unknown).
std::string process_of_room(const ArenaProcess& lobby, unsigned room) {
  const json r = rooms_of(lobby);
  for (const json& e : r.value("rooms", json::array())) {
    if (e.value("id", 0u) == room) return e.value("process", "");
  }
  return "";
}

// Joins with `name` and reads until seated; the room's id (0 when no seat came).
unsigned join(Player& p, const std::string& name) {
  p.say({{"t", "join"}, {"name", name}});
  if (!p.until([&] { return p.has("seat"); })) return 0;
  return p.last("seat")["room"].get<unsigned>();
}

// The player's army marches to (x, y) on its command: the frames acknowledge it and its
// units get closer.
void commands_reach_the_room(Player& p) {
  const unsigned me = p.last("seat")["seat"].get<unsigned>();
  ASSERT_TRUE(p.until([&] { return p.has("start"); }));
  const std::size_t seen = p.frames.size();
  p.say({{"t", "input"}, {"seq", 7}, {"x", 900}, {"y", 100}});
  ASSERT_TRUE(p.until([&] { return p.frames.size() > seen && p.frames.back().seats[me].ack == 7; }, 200));
  const double before = p.distance(me, 900, 100);
  const std::size_t acked = p.frames.size();
  ASSERT_TRUE(p.until([&] { return p.frames.size() >= acked + 20; }));
  EXPECT_LT(p.distance(me, 900, 100), before - 30) << "a second of marching towards the command";
}

}  // namespace

TEST(ArenaCluster, OneLobbyPairsPlayersOfDifferentProcessesAndRoomsSpreadOverProcesses) {
  NatsServer nats;
  ArenaProcess a = start_member(nats, "a");
  ASSERT_TRUE(lobby_is({&a}, "a"));  // the first process, alone: it becomes the lobby
  ArenaProcess b = start_member(nats, "b");
  ArenaProcess c = start_member(nats, "c");
  ASSERT_TRUE(lobby_is({&a, &b, &c}, "a")) << "later processes find the lobby there";

  // Two players on two processes that are not the lobby meet in one room.
  Player p1(b.port), p2(c.port);
  p1.say({{"t", "join"}, {"name", "bea"}});
  ASSERT_TRUE(p1.until([&] { return p1.has("queued"); })) << "the lobby elsewhere answered the join";
  const unsigned room1 = join(p2, "cyd");
  ASSERT_NE(room1, 0u);
  ASSERT_TRUE(p1.until([&] { return p1.has("seat"); }));
  EXPECT_EQ(p1.last("seat")["room"].get<unsigned>(), room1);
  std::set<std::string> names;
  for (const json& s : p1.last("seat")["players"]) names.insert(s["name"].get<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{"bea", "cyd"}));
  ASSERT_TRUE(p1.until([&] { return !p1.frames.empty(); }));
  EXPECT_TRUE(p1.frames.front().full) << "a seated player starts from a full snapshot, from another process";

  // The second room goes to a process that hosts none yet.
  Player p3(a.port), p4(b.port);
  p3.say({{"t", "join"}, {"name", "ann"}});
  ASSERT_TRUE(p3.until([&] { return p3.has("queued"); }));
  const unsigned room2 = join(p4, "ben");
  ASSERT_NE(room2, 0u);
  ASSERT_NE(room2, room1);
  std::string where1, where2;
  ASSERT_TRUE(eventually([&] {
    where1 = process_of_room(a, room1);
    where2 = process_of_room(a, room2);
    return !where1.empty() && !where2.empty();
  }));
  EXPECT_NE(where1, where2) << "each room on the least loaded process";
  // Every process lists the same rooms (the lobby's listing).
  EXPECT_TRUE(eventually([&] { return process_of_room(c, room2) == where2; }));

  // Frames and inputs cross processes both ways: every player drives its army.
  commands_reach_the_room(p1);
  commands_reach_the_room(p2);
  ASSERT_TRUE(p3.until([&] { return p3.has("seat"); }));
  commands_reach_the_room(p3);
  commands_reach_the_room(p4);

  // The cluster's counters on /metrics: tells went out, no malformed messages.
  const std::string metrics = http_get(b.port, "/metrics");
  EXPECT_NE(metrics.find("\nringactor_cluster_processes 2\n"), std::string::npos) << metrics.substr(0, 2000);
  EXPECT_NE(metrics.find("\nringactor_cluster_dropped_total{reason=\"malformed\"} 0\n"), std::string::npos);
  EXPECT_NE(metrics.find("\nringactor_cluster_dropped_total{reason=\"unhandled\"} 0\n"), std::string::npos);

  // SIGTERM everywhere: exit 0 each, and players on a stopping process get 1001 from it.
  EXPECT_EQ(stop(c, {&p2}), 0);
  EXPECT_EQ(stop(b, {&p1, &p4}), 0);
  EXPECT_EQ(stop(a, {&p3}), 0);
}

TEST(ArenaCluster, AKilledRoomProcessClosesItsRemotePlayersWith4001AndOthersPlayOn) {
  NatsServer nats;
  ArenaProcess a = start_member(nats, "a");
  ASSERT_TRUE(lobby_is({&a}, "a"));
  ArenaProcess b = start_member(nats, "b");
  ASSERT_TRUE(lobby_is({&a, &b}, "a"));

  // Two rooms, all four players on a: one room on a, the other on b.
  Player p1(a.port), p2(a.port), p3(a.port), p4(a.port);
  p1.say({{"t", "join"}, {"name", "p1"}});
  ASSERT_TRUE(p1.until([&] { return p1.has("queued"); }));
  const unsigned first = join(p2, "p2");
  ASSERT_TRUE(p1.until([&] { return p1.has("seat"); }));
  p3.say({{"t", "join"}, {"name", "p3"}});
  ASSERT_TRUE(p3.until([&] { return p3.has("queued"); }));
  const unsigned second = join(p4, "p4");
  ASSERT_TRUE(p3.until([&] { return p3.has("seat"); }));
  ASSERT_TRUE(eventually([&] { return !process_of_room(a, first).empty() && !process_of_room(a, second).empty(); }));
  const bool first_on_b = process_of_room(a, first) == "b";
  ASSERT_NE(process_of_room(a, first), process_of_room(a, second));
  Player& lost1 = first_on_b ? p1 : p3;
  Player& lost2 = first_on_b ? p2 : p4;
  Player& kept = first_on_b ? p3 : p1;
  ASSERT_TRUE(lost1.until([&] { return !lost1.frames.empty(); })) << "frames from b reach a";

  // b dies: its room's players (on a) are closed with 4001 within the down time, not left hanging.
  ::kill(b.child.pid, SIGKILL);
  wait_exit(b.child.pid, 10s);
  b.child.pid = -1;
  EXPECT_FALSE(lost1.until([] { return false; }));
  EXPECT_EQ(lost1.close_code, 4001u);
  EXPECT_FALSE(lost2.until([] { return false; }));
  EXPECT_EQ(lost2.close_code, 4001u);
  // The room on a plays on.
  const std::size_t seen = kept.frames.size();
  EXPECT_TRUE(kept.until([&] { return kept.frames.size() >= seen + 10; }));
  EXPECT_FALSE(kept.ended);
  // The lobby forgot b's room, and the next room opens on a.
  EXPECT_TRUE(eventually([&] { return process_of_room(a, first_on_b ? first : second).empty(); }));
  Player p5(a.port), p6(a.port);
  p5.say({{"t", "join"}, {"name", "p5"}});
  ASSERT_TRUE(p5.until([&] { return p5.has("queued"); }));
  const unsigned third = join(p6, "p6");
  ASSERT_NE(third, 0u);
  EXPECT_TRUE(eventually([&] { return process_of_room(a, third) == "a"; }));
  const std::string metrics = http_get(a.port, "/metrics");
  EXPECT_NE(metrics.find("\nringactor_cluster_downs_total 1\n"), std::string::npos);
  EXPECT_EQ(stop(a, {&kept, &p5, &p6}), 0);
}

TEST(ArenaCluster, WhenTheLobbysProcessDiesItsQueuedPlayersQueueAtTheNextLobby) {
  NatsServer nats;
  ArenaProcess a = start_member(nats, "a");
  ASSERT_TRUE(lobby_is({&a}, "a"));
  ArenaProcess b = start_member(nats, "b");
  ArenaProcess c = start_member(nats, "c");
  ASSERT_TRUE(lobby_is({&a, &b, &c}, "a"));

  // A player on b waits in a's queue; a dies.
  Player p1(b.port);
  p1.say({{"t", "join"}, {"name", "early"}});
  ASSERT_TRUE(p1.until([&] { return p1.has("queued"); }));
  ::kill(a.child.pid, SIGKILL);
  wait_exit(a.child.pid, 10s);
  a.child.pid = -1;

  // b or c becomes the lobby; the waiting player is queued there again and meets a player
  // who joins on c.
  std::string next;
  ASSERT_TRUE(eventually([&] {
    next = rooms_of(b).value("lobby", "");
    return (next == "b" || next == "c") && rooms_of(c).value("lobby", "") == next;
  }, 10s)) << next;
  ASSERT_TRUE(eventually([&] { return rooms_of(next == "b" ? b : c).value("queued", 0u) == 1u; }, 10s))
      << "the waiting player is queued at the new lobby";
  Player p2(c.port);
  const unsigned room = join(p2, "late");
  ASSERT_NE(room, 0u);
  ASSERT_TRUE(p1.until([&] { return p1.has("seat"); }));
  EXPECT_EQ(p1.last("seat")["room"].get<unsigned>(), room);
  commands_reach_the_room(p1);
  EXPECT_EQ(stop(b, {&p1}), 0);
  EXPECT_EQ(stop(c, {&p2}), 0);
}

TEST(ArenaCluster, ADroppedPlayerRejoinsItsRoomThroughAnotherProcess) {
  NatsServer nats;
  ArenaProcess a = start_member(nats, "a");
  ASSERT_TRUE(lobby_is({&a}, "a"));
  ArenaProcess b = start_member(nats, "b");
  ASSERT_TRUE(lobby_is({&a, &b}, "a"));

  auto p1 = std::make_unique<Player>(b.port);
  Player p2(a.port);
  p1->say({{"t", "join"}, {"name", "roamer"}});
  ASSERT_TRUE(p1->until([&] { return p1->has("queued"); }));
  const unsigned room = join(p2, "stayer");
  ASSERT_TRUE(p1->until([&] { return p1->has("seat"); }));
  const json seat = p1->last("seat");
  ASSERT_TRUE(p1->until([&] { return p1->has("start"); }));

  // Its connection to b drops: the room (on a) keeps the seat for the grace period.
  p1.reset();
  auto seat_connected = [&] {
    for (const json& r : rooms_of(a).value("rooms", json::array())) {
      if (r.value("id", 0u) != room) continue;
      return r["seats"][seat["seat"].get<unsigned>()].value("connected", true);
    }
    return true;
  };
  ASSERT_TRUE(eventually([&] { return !seat_connected(); })) << "the room saw the drop";

  // Back through a (the room's own process this time) with the token: the same seat, a full
  // snapshot, and commands obeyed.
  Player back(a.port);
  back.say({{"t", "rejoin"}, {"token", seat["token"]}});
  ASSERT_TRUE(back.until([&] { return back.has("seat"); }));
  EXPECT_EQ(back.last("seat")["room"], room);
  EXPECT_EQ(back.last("seat")["seat"], seat["seat"]);
  ASSERT_TRUE(back.until([&] { return !back.frames.empty(); }));
  EXPECT_TRUE(back.frames.front().full);
  EXPECT_TRUE(eventually([&] { return seat_connected(); }));
  const std::size_t seen = back.frames.size();
  const unsigned me = seat["seat"].get<unsigned>();
  back.say({{"t", "input"}, {"seq", 3}, {"x", 500}, {"y", 500}});
  EXPECT_TRUE(back.until([&] { return back.frames.size() > seen && back.frames.back().seats[me].ack == 3; }, 200));

  // A token for no room anywhere is refused, from any process.
  Player stranger(b.port);
  stranger.say({{"t", "rejoin"}, {"token", std::string(32, 'f')}});
  ASSERT_TRUE(stranger.until([&] { return stranger.has("error"); }));
  EXPECT_NE(stranger.last("error")["error"].get<std::string>().find("rejoin refused"), std::string::npos);
  EXPECT_EQ(stop(b, {&stranger}), 0);
  EXPECT_EQ(stop(a, {&p2, &back}), 0);
}
