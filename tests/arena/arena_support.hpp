// The arena as a process in tests: starting it (on a free port, with test timings), a
// player over a real WebSocket that keeps every event and the state its frames describe,
// plain HTTP GETs, and SIGTERM. Shared by the single-process and the cluster tests.
#pragma once

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "arena_frame.hpp"
#include "process_support.hpp"
#include "ws_test_support.hpp"

namespace arena_test {

using namespace ringactor::test;
using json = nlohmann::json;

struct ArenaProcess {
  Child child;
  std::uint16_t port = 0;
  ArenaProcess() = default;
  ArenaProcess(ArenaProcess&&) = default;
  ~ArenaProcess() {
    if (child.pid > 0 && ::kill(child.pid, 0) == 0) {
      ::kill(child.pid, SIGKILL);
      wait_exit(child.pid, std::chrono::seconds(10));
    }
    if (child.out >= 0) ::close(child.out);
  }
};

inline std::string temp_db() {
  static std::atomic<int> n{0};
  const auto p = std::filesystem::temp_directory_path() /
                 ("arena-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".db");
  std::filesystem::remove(p);
  return p.string();
}

inline ArenaProcess start_arena(const std::string& db, std::vector<std::string> extra = {}) {
  ArenaProcess a;
  std::vector<std::string> args = {"--port", "0", "--db", db, "--seats", "2", "--countdown-ms", "300",
                                   "--round-ms", "3000", "--bot-wait-ms", "200", "--grace-ms", "600"};
  args.insert(args.end(), extra.begin(), extra.end());  // later flags win
  a.child = spawn_program(RINGACTOR_ARENA_BIN, args);
  const std::string line = read_line(a.child.out, std::chrono::seconds(10));
  const std::string prefix = "arena: listening on http://127.0.0.1:";
  EXPECT_EQ(line.rfind(prefix, 0), 0u) << line;
  if (line.rfind(prefix, 0) == 0) a.port = static_cast<std::uint16_t>(std::stoi(line.substr(prefix.size())));
  return a;
}

inline std::string http_get(std::uint16_t port, const std::string& path, int* status = nullptr) {
  HttpClient c(port);
  std::string req = "GET ";
  req.append(path).append(" HTTP/1.1\r\nHost: t\r\n\r\n");
  c.send_all(req);
  auto r = c.read();
  if (!r) return "<no answer>";
  if (status != nullptr) *status = r->status;
  return r->body;
}

// A player: a WebSocket client that keeps every event and the state the frames describe.
struct Player {
  WsClient ws;
  std::vector<json> events;
  std::vector<arena_test::Frame> frames;
  std::map<std::uint16_t, arena_test::FrameUnit> units;
  unsigned close_code = 0;
  bool ended = false;

  explicit Player(std::uint16_t port) : ws(port) {
    EXPECT_EQ(ws.handshake("/ws"), 101);
    EXPECT_TRUE(until([&] { return has("welcome"); }));
  }
  void say(const json& j) { ASSERT_TRUE(ws.text(j.dump())); }
  bool has(const std::string& type) const {
    return std::any_of(events.begin(), events.end(), [&](const json& e) { return e["t"] == type; });
  }
  const json& last(const std::string& type) const {
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if ((*it)["t"] == type) return *it;
    }
    static const json none;
    return none;
  }
  // Reads frames until pred() holds; false on close, EOF or after `limit` frames.
  template <typename Pred>
  bool until(Pred&& pred, int limit = 2000) {
    while (!pred()) {
      if (ended || limit-- == 0) return false;
      auto f = ws.next();
      if (!f) {
        ended = true;
        return false;
      }
      if (f->opcode == 1) {
        events.push_back(json::parse(f->payload));
      } else if (f->opcode == 2) {
        auto fr = arena_test::decode(f->payload);
        EXPECT_TRUE(fr) << "a malformed state frame";
        if (!fr) return false;
        if (fr->full) units.clear();
        for (const auto& u : fr->units) {
          if (u.hp == 0) {
            units.erase(u.id);
          } else {
            units[u.id] = u;
          }
        }
        frames.push_back(std::move(*fr));
      } else if (f->opcode == 8) {
        close_code = f->code();
        ended = true;
        ws.send(kFinClose, close_payload(close_code));  // answer, then end the TCP side as clients do
        ::shutdown(ws.tcp().fd(), SHUT_WR);
        return pred();
      }
    }
    return true;
  }
  // The distance from the centre of `seat`'s living units to (x, y), in map units.
  double distance(unsigned seat, double x, double y) const {
    double sx = 0, sy = 0, n = 0;
    for (const auto& [id, u] : units) {
      if (u.seat != seat) continue;
      sx += u.x / 65535.0 * 1000;
      sy += u.y / 65535.0 * 1000;
      ++n;
    }
    return n == 0 ? -1 : std::hypot(sx / n - x, sy / n - y);
  }
};

// SIGTERM; the players still connected read on (answering the server's 1001), then the exit
// status.
inline int stop(ArenaProcess& a, std::vector<Player*> players = {}) {
  ::kill(a.child.pid, SIGTERM);
  for (Player* p : players) {
    p->until([] { return false; });
    EXPECT_EQ(p->close_code, 1001u);
  }
  const int rc = wait_exit(a.child.pid, std::chrono::seconds(15));
  a.child.pid = -1;
  return rc;
}

}  // namespace arena_test
