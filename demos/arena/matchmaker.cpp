// The matchmaker (see matchmaker.hpp).
#include "matchmaker.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "player.hpp"
#include "room.hpp"

namespace arena {

namespace ra = ringactor::actors;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

Matchmaker::Matchmaker(Game& game) : game_(game), rng_(std::random_device{}()) {}

void Matchmaker::on_start() {
  waiting_.on_member_down([this](const ra::DownNotice& n) {
    std::erase_if(queue_, [&](const Waiting& w) { return w.player.id() == n.who; });
  });
  rooms_.on_member_down([this](const ra::DownNotice& n) {
    std::erase_if(tokens_, [&](const auto& t) { return t.second.id() == n.who; });
    const auto it = room_ids_.find(key(n.who));
    if (it != room_ids_.end()) {
      room_status_.erase(it->second.id);
      --hosted_[it->second.host];
      room_ids_.erase(it);
    }
  });
  // Bots fill a room once its first player has waited long enough: look twice a second.
  every(500ms, [this] { fill(); });
}

void Matchmaker::enqueue(ra::Ref<PlayerSocket> player, std::string name) {
  if (waiting_.contains(player)) return;
  waiting_.join(player);
  queue_.push_back(Waiting{player, std::move(name), reactor().now()});
  player.tell(&PlayerSocket::notify, R"({"t":"queued","position":)" + std::to_string(queue_.size()) + "}");
  fill();
}

void Matchmaker::dequeue(ra::Ref<PlayerSocket> player) {
  waiting_.leave(player);
  std::erase_if(queue_, [&](const Waiting& w) { return w.player == player; });
}

void Matchmaker::rejoin(ra::Ref<PlayerSocket> player, std::string token) {
  const auto it = tokens_.find(token);
  if (it == tokens_.end()) {
    player.tell(&PlayerSocket::unseated, std::string(R"({"t":"error","error":"rejoin refused: unknown token"})"));
    return;
  }
  it->second.tell(&Room::rejoin, player, std::move(token));
}

void Matchmaker::fill() {
  const std::size_t seats = game_.config.seats;
  while (queue_.size() >= seats) open_room(seats);
  if (!queue_.empty() && reactor().now() - queue_.front().since >= game_.config.bot_wait) open_room(queue_.size());
}

void Matchmaker::open_room(std::size_t humans) {
  std::vector<SeatInit> seats;
  for (std::size_t i = 0; i < humans; ++i) {
    Waiting w = std::move(queue_.front());
    queue_.pop_front();
    waiting_.leave(w.player);
    seats.push_back(SeatInit{std::move(w.name), new_token(), w.player});
  }
  for (std::size_t b = 1; seats.size() < game_.config.seats; ++b) seats.push_back(SeatInit{"bot " + std::to_string(b), {}, {}});
  const std::uint32_t id = next_room_++;
  std::vector<std::string> room_tokens;
  for (const SeatInit& s : seats) {
    if (!s.token.empty()) room_tokens.push_back(s.token);
  }
  // The reactor hosting the fewest rooms opens it (counted here, so rooms opened in one
  // go spread too); the room seats its players itself, so only the listing and the rejoin
  // tokens wait for the answer.
  if (hosted_.size() != game_.hosts.size()) hosted_.assign(game_.hosts.size(), 0);
  const std::size_t host = static_cast<std::size_t>(std::min_element(hosted_.begin(), hosted_.end()) - hosted_.begin());
  ++hosted_[host];
  game_.hosts[host].ask(&RoomHost::open, id, std::move(seats),
                        [this, id, host, room_tokens = std::move(room_tokens)](ra::Reply<ra::Ref<Room>> r) mutable {
                          if (!r) {  // its host's reactor is stopping
                            --hosted_[host];
                            return;
                          }
                          const ra::Ref<Room> room = *r;
                          // A room whose on_start threw is dropped by the group at once.
                          rooms_.join(room);
                          room_ids_[key(room.id())] = RoomEntry{id, host};
                          // Listed at once (its own status may have come first: kept).
                          room_status_.emplace(id, R"({"id":)" + std::to_string(id) + "}");
                          for (std::string& t : room_tokens) tokens_.emplace(std::move(t), room);
                        });
}

ra::Ref<Room> RoomHost::open(std::uint32_t id, std::vector<SeatInit> seats) {
  return spawn<Room>(game_, id, std::move(seats));
}

std::string Matchmaker::new_token() {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng_()),
                static_cast<unsigned long long>(rng_()));
  return std::string(buf, 32);
}

void Matchmaker::room_status(std::uint32_t id, std::string json) {
  // A room's messages and its stop notice travel one path in order: a status never
  // arrives after the room was dropped.
  room_status_[id] = std::move(json);
}

std::string Matchmaker::rooms_json() {
  nlohmann::json rooms = nlohmann::json::array();
  for (const auto& [id, json] : room_status_) rooms.push_back(nlohmann::json::parse(json));
  std::uint64_t players = 0;
  for (const Game* g : game_.shards) players += g->stats.players.load(std::memory_order_relaxed);
  return nlohmann::json{{"rooms", rooms}, {"queued", queue_.size()}, {"players", players}}.dump();
}

}  // namespace arena
