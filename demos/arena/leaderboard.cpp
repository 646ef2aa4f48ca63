// The leaderboard in SQLite (see leaderboard.hpp).
#include "leaderboard.hpp"

#include <sqlite3.h>

#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace arena {

namespace {
struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

Stmt prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) {
    throw std::runtime_error(std::string("leaderboard: ") + sqlite3_errmsg(db));
  }
  return Stmt(s);
}
}  // namespace

Leaderboard::Leaderboard(const std::string& path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("leaderboard: cannot open " + path + ": " + why);
  }
  sqlite3_busy_timeout(db_, 2000);
  try {
    exec("PRAGMA journal_mode=WAL");
    exec("CREATE TABLE IF NOT EXISTS players (name TEXT PRIMARY KEY, wins INTEGER NOT NULL DEFAULT 0,"
         " kills INTEGER NOT NULL DEFAULT 0, rounds INTEGER NOT NULL DEFAULT 0)");
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

Leaderboard::~Leaderboard() { sqlite3_close(db_); }

void Leaderboard::exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string why = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    throw std::runtime_error("leaderboard: " + why);
  }
}

void Leaderboard::record(std::vector<Score> scores) {
  if (scores.empty()) return;
  const std::lock_guard<std::mutex> lock(queue_mutex_);
  queue_.push_back(std::move(scores));
}

std::size_t Leaderboard::queued() const {
  const std::lock_guard<std::mutex> lock(queue_mutex_);
  return queue_.size();
}

std::size_t Leaderboard::flush() {
  const std::lock_guard<std::mutex> db_lock(db_mutex_);
  std::vector<std::vector<Score>> rounds;
  {
    const std::lock_guard<std::mutex> lock(queue_mutex_);
    rounds.swap(queue_);
  }
  if (rounds.empty()) return 0;
  std::size_t rows = 0;
  try {
    exec("BEGIN IMMEDIATE");
    Stmt up = prepare(db_,
                      "INSERT INTO players (name, wins, kills, rounds) VALUES (?1, ?2, ?3, 1)"
                      " ON CONFLICT(name) DO UPDATE SET wins = wins + excluded.wins,"
                      " kills = kills + excluded.kills, rounds = rounds + 1");
    for (const auto& round : rounds) {
      for (const Score& s : round) {
        sqlite3_bind_text(up.get(), 1, s.name.data(), static_cast<int>(s.name.size()), SQLITE_TRANSIENT);
        sqlite3_bind_int(up.get(), 2, s.won ? 1 : 0);
        sqlite3_bind_int64(up.get(), 3, s.kills);
        if (sqlite3_step(up.get()) != SQLITE_DONE) throw std::runtime_error(std::string("leaderboard: ") + sqlite3_errmsg(db_));
        sqlite3_reset(up.get());
        ++rows;
      }
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    const std::lock_guard<std::mutex> lock(queue_mutex_);
    for (auto& r : rounds) queue_.push_back(std::move(r));  // kept for the next flush
    throw;
  }
  return rows;
}

std::string Leaderboard::top_json(std::size_t n) {
  const std::lock_guard<std::mutex> db_lock(db_mutex_);
  Stmt q = prepare(db_, "SELECT name, wins, kills, rounds FROM players ORDER BY wins DESC, kills DESC, name LIMIT ?1");
  sqlite3_bind_int64(q.get(), 1, static_cast<sqlite3_int64>(n));
  nlohmann::json out = nlohmann::json::array();
  int rc;
  while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
    out.push_back({{"name", reinterpret_cast<const char*>(sqlite3_column_text(q.get(), 0))},
                   {"wins", sqlite3_column_int64(q.get(), 1)},
                   {"kills", sqlite3_column_int64(q.get(), 2)},
                   {"rounds", sqlite3_column_int64(q.get(), 3)}});
  }
  if (rc != SQLITE_DONE) throw std::runtime_error(std::string("leaderboard: ") + sqlite3_errmsg(db_));
  return out.dump();
}

}  // namespace arena
