// Covers demos/arena as a process over real sockets: a player joins, is seated beside a
// bot, sees the countdown and the state frames, sends input and sees its units obey, gets
// the result and a leaderboard row; bad input is closed with its code while others play on;
// a dropped player rejoins with its token and gets a full snapshot, and after the grace
// period a bot holds the seat; SIGTERM mid-round closes players with 1001, saves the round,
// exits 0, and the leaderboard survives a restart. --gpu answers for the build and the
// machine: refused without CUDA, the CUDA error without a device, a matching self-test with one.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "arena_frame.hpp"
#include "arena_support.hpp"
#include "process_support.hpp"
#include "ws_test_support.hpp"

using namespace ringactor::test;
using json = nlohmann::json;

namespace {

using namespace arena_test;

}  // namespace

TEST(ArenaDemo, APlayerJoinsPlaysSendsInputAndIsScored) {
  const std::string db = temp_db();
  ArenaProcess a = start_arena(db);
  ASSERT_NE(a.port, 0);
  int status = 0;
  EXPECT_NE(http_get(a.port, "/", &status).find("<canvas"), std::string::npos);
  EXPECT_EQ(status, 200);
  EXPECT_NE(http_get(a.port, "/app.js").find("WebSocket"), std::string::npos);

  Player p(a.port);
  p.say({{"t", "join"}, {"name", "ada"}});
  ASSERT_TRUE(p.until([&] { return p.has("seat"); }));
  const json seat = p.last("seat");
  EXPECT_EQ(seat["token"].get<std::string>().size(), 32u);
  ASSERT_EQ(seat["players"].size(), 2u);
  EXPECT_EQ(seat["players"][0]["name"], "ada");
  EXPECT_TRUE(seat["players"][1]["bot"].get<bool>()) << "a bot took the empty seat";
  const unsigned me = seat["seat"].get<unsigned>();
  ASSERT_TRUE(p.until([&] { return !p.frames.empty(); }));
  EXPECT_TRUE(p.frames.front().full) << "a seated player starts from a full snapshot";
  EXPECT_EQ(p.units.size(), 96u);
  ASSERT_TRUE(p.until([&] { return p.has("start"); }));
  EXPECT_TRUE(p.has("countdown"));

  // Input: send the army to a corner; a frame acknowledges it, and the army moves there.
  const std::size_t seen = p.frames.size();
  p.say({{"t", "input"}, {"seq", 1}, {"x", 120}, {"y", 880}});
  ASSERT_TRUE(p.until([&] { return p.frames.size() > seen && p.frames.back().seats[me].ack == 1; }, 200))
      << "frames " << p.frames.size() - seen << ", ack " << p.frames.back().seats[me].ack << ", result " << p.has("result");
  const double before = p.distance(me, 120, 880);
  const std::size_t acked = p.frames.size();
  ASSERT_TRUE(p.until([&] { return p.frames.size() >= acked + 20; }));
  EXPECT_LT(p.distance(me, 120, 880), before - 30) << "a second of marching towards the command";
  // The broadcast's frames come in order (the first was the seat's own full snapshot).
  for (std::size_t i = 2; i < p.frames.size(); ++i) {
    EXPECT_GT(p.frames[i].seq, p.frames[i - 1].seq);
  }

  ASSERT_TRUE(p.until([&] { return p.has("result"); }));
  const json result = p.last("result");
  EXPECT_EQ(result["scores"].size(), 2u);
  EXPECT_TRUE(p.until([&] { return p.frames.back().phase == 2; }));
  // The round reached SQLite through a worker.
  json board;
  ASSERT_TRUE(eventually([&] {
    board = json::parse(http_get(a.port, "/api/leaderboard"));
    return board.size() == 1;
  }));
  EXPECT_EQ(board[0]["name"], "ada");
  EXPECT_EQ(board[0]["rounds"], 1);
  const json rooms = json::parse(http_get(a.port, "/api/rooms"));
  ASSERT_TRUE(rooms["rooms"].is_array());
  const std::string metrics = http_get(a.port, "/metrics");
  EXPECT_NE(metrics.find("\narena_rounds_total 1\n"), std::string::npos);
  EXPECT_NE(metrics.find("\narena_players 1\n"), std::string::npos);
  EXPECT_NE(metrics.find("\narena_tick_overruns_total "), std::string::npos);
  EXPECT_NE(metrics.find("\narena_step_microseconds_last "), std::string::npos);
  EXPECT_NE(metrics.find("\nringactor_actor_ticks_total "), std::string::npos);
  EXPECT_EQ(stop(a, {&p}), 0);
}

TEST(ArenaDemo, BadInputIsClosedWithItsCodeWhileOthersPlayOn) {
  const std::string db = temp_db();
  ArenaProcess a = start_arena(db, {"--round-ms", "20000"});
  Player good(a.port);
  good.say({{"t", "join"}, {"name", "bea"}});
  ASSERT_TRUE(good.until([&] { return good.has("seat"); }));
  struct Case {
    std::string what;
    bool binary;
    unsigned code;
  };
  const std::vector<Case> cases = {{"not json", false, 1008},
                                   {R"({"t":"dance"})", false, 1008},
                                   {R"({"t":"join","name":""})", false, 1008},
                                   {R"({"t":"input","seq":1,"x":-5,"y":3})", false, 1008},
                                   {"\x01\x02", true, 1003},
                                   {std::string(5000, 'x'), false, 1009}};
  for (const Case& c : cases) {
    WsClient bad(a.port);
    ASSERT_EQ(bad.handshake("/ws"), 101);
    EXPECT_EQ(bad.message(), R"({"t":"welcome","version":1})");
    ASSERT_TRUE(c.binary ? bad.binary(c.what) : bad.text(c.what));
    auto f = bad.next();
    ASSERT_TRUE(f) << c.what.substr(0, 40);
    EXPECT_EQ(f->opcode, 8);
    EXPECT_EQ(f->code(), c.code) << c.what.substr(0, 40) << ": " << f->reason();
    bad.send(kFinClose, close_payload(c.code));  // the closing handshake, answered
    EXPECT_TRUE(bad.tcp().closed_by_peer());
  }
  // The good player's round goes on: frames keep coming.
  const std::size_t n = good.frames.size();
  EXPECT_TRUE(good.until([&] { return good.frames.size() >= n + 10; }));
  EXPECT_FALSE(good.ended);
  EXPECT_NE(http_get(a.port, "/metrics").find("\narena_bad_messages_total 5\n"), std::string::npos)
      << "five closed by the arena (1009 is the server's own limit)";
  EXPECT_EQ(stop(a, {&good}), 0);
}

TEST(ArenaDemo, ADroppedPlayerRejoinsWithItsTokenThenABotTakesTheSeat) {
  const std::string db = temp_db();
  ArenaProcess a = start_arena(db, {"--round-ms", "30000", "--grace-ms", "1500"});
  std::string token;
  unsigned seat = 0;
  {
    Player p(a.port);
    p.say({{"t", "join"}, {"name", "cy"}});
    ASSERT_TRUE(p.until([&] { return p.has("seat"); }));
    token = p.last("seat")["token"].get<std::string>();
    seat = p.last("seat")["seat"].get<unsigned>();
    ASSERT_TRUE(p.until([&] { return p.frames.size() >= 3; }));
    p.ws.tcp().reset();  // vanishes without a close frame
  }
  {
    Player back(a.port);
    back.say({{"t", "rejoin"}, {"token", "0123456789abcdef0123456789abcdef"}});
    ASSERT_TRUE(back.until([&] { return back.has("error"); })) << "an unknown token is refused";
    Player again(a.port);
    again.say({{"t", "rejoin"}, {"token", token}});
    ASSERT_TRUE(again.until([&] { return again.has("seat"); }));
    EXPECT_EQ(again.last("seat")["seat"].get<unsigned>(), seat);
    ASSERT_TRUE(again.until([&] { return !again.frames.empty(); }));
    EXPECT_TRUE(again.frames.front().full) << "a rejoining player gets a full snapshot";
    EXPECT_EQ(again.units.size(), 96u);
    again.ws.tcp().reset();
  }
  // After the grace period the seat is a bot's and the token is worthless.
  ASSERT_TRUE(eventually(
      [&] {
        const json rooms = json::parse(http_get(a.port, "/api/rooms"));
        return rooms["rooms"].size() == 1 && rooms["rooms"][0]["seats"][seat]["bot"] == true;
      },
      10s));
  Player late(a.port);
  late.say({{"t", "rejoin"}, {"token", token}});
  EXPECT_TRUE(late.until([&] { return late.has("error"); }));
  EXPECT_EQ(stop(a, {&late}), 0);
}

TEST(ArenaDemo, SigtermMidRoundClosesWith1001SavesTheRoundAndTheBoardSurvivesARestart) {
  const std::string db = temp_db();
  {
    ArenaProcess a = start_arena(db, {"--round-ms", "60000"});
    Player p(a.port);
    p.say({{"t", "join"}, {"name", "dee"}});
    ASSERT_TRUE(p.until([&] { return p.has("start"); }));
    ASSERT_TRUE(p.until([&] { return p.frames.size() >= 10; }));
    ASSERT_EQ(::kill(a.child.pid, SIGTERM), 0);
    EXPECT_FALSE(p.until([] { return false; })) << "reads until the close";
    EXPECT_EQ(p.close_code, 1001u);
    EXPECT_EQ(wait_exit(a.child.pid, std::chrono::seconds(15)), 0);
    a.child.pid = -1;
  }
  ArenaProcess b = start_arena(db);
  const json board = json::parse(http_get(b.port, "/api/leaderboard"));
  ASSERT_EQ(board.size(), 1u);
  EXPECT_EQ(board[0]["name"], "dee");
  EXPECT_EQ(board[0]["rounds"], 1);
  EXPECT_EQ(stop(b), 0);
}

// A build without CUDA refuses --gpu (exit 2); a CUDA build on a machine without a device
// names the CUDA error (exit 1); with a device the self-test (200 steps on the device and the
// CPU, compared after each) matches (exit 0). Which of the three is expected is known here.
TEST(ArenaDemo, GpuSelfTestAnswersForTheBuildAndTheMachine) {
  Child c = spawn_program(RINGACTOR_ARENA_BIN, {"--gpu-self-test", "--seats", "4", "--units", "48"}, true);
  std::string out = read_line(c.out, std::chrono::seconds(60));
  const int rc = wait_exit(c.pid, std::chrono::seconds(60));
  ::close(c.out);
#if !defined(RINGACTOR_ARENA_GPU)
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("arena: --gpu: this build has no CUDA support"), std::string::npos) << out;
#else
  if (std::filesystem::exists("/dev/nvidiactl")) {
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("match the CPU step"), std::string::npos) << out;
  } else {
    EXPECT_EQ(rc, 1) << out;
    EXPECT_EQ(out.rfind("arena: --gpu: CUDA: ", 0), 0u) << out;
  }
#endif
}

// --reactors 2: sixteen players in rooms of four. The rooms open on both reactors (the
// matchmaker alternates), the players' connections land on either (SO_REUSEPORT), and every
// player gets its seat, the countdown, the start and state frames from its room wherever
// the room lives; the game's figures on /metrics are the sum of both reactors.
TEST(ArenaDemo, OnTwoReactorsRoomsAndPlayersMeetAcrossReactors) {
  const std::string db = temp_db();
  ArenaProcess a = start_arena(db, {"--reactors", "2", "--seats", "4", "--bot-wait-ms", "60000", "--round-ms", "4000"});
  ASSERT_NE(a.port, 0);
  std::vector<std::unique_ptr<Player>> players;
  for (int i = 0; i < 16; ++i) {
    players.push_back(std::make_unique<Player>(a.port));
    players.back()->say({{"t", "join"}, {"name", cat("p", std::to_string(i))}});
  }
  std::set<unsigned> rooms;
  for (auto& p : players) {
    ASSERT_TRUE(p->until([&] { return p->has("seat"); }));
    rooms.insert(p->last("seat")["room"].get<unsigned>());
    EXPECT_FALSE(p->last("seat")["players"][3]["bot"].get<bool>()) << "four humans, no bots";
  }
  EXPECT_EQ(rooms.size(), 4u);
  for (auto& p : players) {
    ASSERT_TRUE(p->until([&] { return p->has("start") && p->frames.size() >= 3; }));
    EXPECT_TRUE(p->has("countdown"));
    EXPECT_EQ(p->units.size(), 4u * 48u) << "the room's full snapshot and deltas";
  }
  const json listed = json::parse(http_get(a.port, "/api/rooms"));
  EXPECT_EQ(listed["rooms"].size(), 4u);
  EXPECT_EQ(listed["players"], 16) << "players summed over both reactors";
  // Whichever reactor answers /metrics: the game's figures are both reactors', and it has
  // relayed frames to the other reactor or taken the other's (rooms live on both).
  const std::string metrics = http_get(a.port, "/metrics");
  EXPECT_NE(metrics.find("\narena_rooms 4\n"), std::string::npos) << metrics.substr(0, 400);
  EXPECT_NE(metrics.find("\narena_players 16\n"), std::string::npos);
  const auto relays = [&](const std::string& direction) {
    const std::string key = "ringactor_ws_topic_relays_total{direction=\"" + direction + "\"} ";
    const std::size_t at = metrics.find(key);
    return at == std::string::npos ? -1L : std::stol(metrics.substr(at + key.size()));
  };
  EXPECT_GT(relays("out") + relays("in"), 0) << "frames crossed between the reactors";
  std::vector<Player*> all;
  for (auto& p : players) all.push_back(p.get());
  EXPECT_EQ(stop(a, all), 0);
}
