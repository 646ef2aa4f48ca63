// The leaderboard, kept in SQLite across restarts.
//
// Rooms record() a finished round on the reactor thread: that only queues the scores (a
// mutex and a vector push). flush() writes what is queued in one transaction; the arena
// calls it on the worker arena after each round, and once more in main() after the loop has
// ended, so a round finished during a SIGTERM is saved too. top() reads on a worker, for
// GET /api/leaderboard. SQLite itself is never touched on the IO thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

struct sqlite3;

namespace arena {

struct Score {
  std::string name;
  std::uint32_t kills = 0;
  bool won = false;
};

class Leaderboard {
 public:
  // Opens (creating if needed) the database at `path`; std::runtime_error naming SQLite's
  // error otherwise.
  explicit Leaderboard(const std::string& path);
  ~Leaderboard();
  Leaderboard(const Leaderboard&) = delete;
  Leaderboard& operator=(const Leaderboard&) = delete;

  // Any thread. Queues one round's scores (humans only; the caller leaves bots out).
  void record(std::vector<Score> scores);
  // Worker threads (or any thread but the IO thread). Writes the queued scores; returns how
  // many rows it wrote. On an SQLite error the scores stay queued and it throws.
  std::size_t flush();
  // Worker threads. The best `n` players by wins then kills, as a JSON array of
  // {"name","wins","kills","rounds"}.
  std::string top_json(std::size_t n);
  std::size_t queued() const;

 private:
  void exec(const char* sql);
  mutable std::mutex queue_mutex_;
  std::vector<std::vector<Score>> queue_;
  std::mutex db_mutex_;  // one connection, used by one worker at a time
  sqlite3* db_ = nullptr;
};

}  // namespace arena
