// The matchmaker (see matchmaker.hpp): the queue and the rooms. Its --nats parts (the
// gateway, the lobby's election and placement across processes) are in gateway.cpp.
#include "matchmaker.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>
#include <ringactor/cluster/cluster.hpp>

#include "player.hpp"
#include "room.hpp"

namespace arena {

namespace ra = ringactor::actors;
namespace cl = ringactor::cluster;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

Matchmaker::Matchmaker(Game& game)
    : game_(game), rng_(std::random_device{}()), processes_(game, [this](std::uint64_t p, ra::StopReason why) {
        process_gone(p, why);
      }) {
  // Across processes a lobby that takes over must not reuse the ids of its predecessor's
  // rooms: ids start at a random point.
  if (game_.cluster != nullptr) next_room_ = 1 + static_cast<std::uint32_t>(rng_() % 0x7F000000u);
}

void Matchmaker::on_start() {
  waiting_.on_member_down([this](const ra::DownNotice& n) {
    std::erase_if(queue_, [&](const Waiting& w) { return w.player.local.id() == n.who; });
  });
  rooms_.on_member_down([this](const ra::DownNotice& n) {
    const auto it = room_ids_.find(key(n.who));
    if (it != room_ids_.end()) {
      room_status_.erase(it->second.id);
      by_id_.erase(it->second.id);
      if (game_.cluster != nullptr) lobby_status(RoomStatus{it->second.id, 0, {}});  // its count, once
      --hosted_[it->second.host];
      room_ids_.erase(it);
    }
  });
  if (game_.cluster != nullptr) {
    joined_ = reactor().now();
    forwarded_group_.on_member_down([this](const ra::DownNotice& n) {
      for (auto it = forwarded_.begin(); it != forwarded_.end(); ++it) {
        if (it->second.player.id() != n.who) continue;
        if (it->second.sent) game_.cluster->named<Matchmaker>(kLobbyName).tell(LobbyDequeue{game_.cluster->id(), it->first});
        forwarded_.erase(it);
        return;
      }
    });
  }
  // Bots fill a room once its first player has waited long enough: look twice a second.
  every(500ms, [this] {
    if (game_.cluster != nullptr) cluster_tick();
    fill();
  });
}

void Matchmaker::on_stop() {
  if (game_.cluster == nullptr) return;
  processes_.forget_all();
  if (watching_lobby_) game_.cluster->demonitor(lobby_monitor_);
}

void Matchmaker::enqueue(ra::Ref<PlayerSocket> player, std::string name) {
  if (game_.cluster == nullptr) {
    if (waiting_.contains(player)) return;
    waiting_.join(player);
    queue_.push_back(Waiting{PlayerLink{player}, std::move(name), reactor().now()});
    player.tell(&PlayerSocket::notify, R"({"t":"queued","position":)" + std::to_string(queue_.size()) + "}");
    fill();
    return;
  }
  // --nats: queued at the lobby, wherever it is (here too, through the same messages).
  const std::uint64_t number = player_number(game_, player.id());
  if (forwarded_.contains(number)) return;
  forwarded_.emplace(number, Forwarded{player, std::move(name), false});
  forwarded_group_.join(player);
  forward_queued();
}

void Matchmaker::dequeue(ra::Ref<PlayerSocket> player) {
  if (game_.cluster == nullptr) {
    waiting_.leave(player);
    std::erase_if(queue_, [&](const Waiting& w) { return w.player.local == player; });
    return;
  }
  const std::uint64_t number = player_number(game_, player.id());
  const auto it = forwarded_.find(number);
  if (it == forwarded_.end()) return;
  if (it->second.sent) game_.cluster->named<Matchmaker>(kLobbyName).tell(LobbyDequeue{game_.cluster->id(), number});
  forwarded_group_.leave(player);
  forwarded_.erase(it);
}

void Matchmaker::rejoin(ra::Ref<PlayerSocket> player, std::string token) {
  // A token starts with its room's id (8 hex digits).
  std::uint32_t id = 0;
  const bool parsed = token.size() == 32 && std::sscanf(token.c_str(), "%8x", &id) == 1;
  const std::string refused = R"({"t":"error","error":"rejoin refused: unknown token"})";
  if (game_.cluster != nullptr) {
    if (!parsed || game_.cluster->where(room_name(id)) == cl::Cluster::Where::kNowhere) {
      player.tell(&PlayerSocket::unseated, refused);
      return;
    }
    game_.cluster->named<Room>(room_name(id)).tell(
        RoomRejoin{game_.cluster->id(), player_number(game_, player.id()), std::move(token)});
    return;
  }
  const auto it = parsed ? by_id_.find(id) : by_id_.end();
  if (it == by_id_.end()) {
    player.tell(&PlayerSocket::unseated, refused);
    return;
  }
  it->second.tell(&Room::rejoin, player, std::move(token));
}

void Matchmaker::fill() {
  if (game_.cluster != nullptr && !lobby_) return;
  const std::size_t seats = game_.config.seats;
  while (queue_.size() >= seats) open_room(seats);
  if (!queue_.empty() && reactor().now() - queue_.front().since >= game_.config.bot_wait) open_room(queue_.size());
}

void Matchmaker::open_room(std::size_t humans) {
  const std::uint32_t id = next_room_++;
  if (next_room_ == 0) next_room_ = 1;
  std::vector<SeatInit> seats;
  for (std::size_t i = 0; i < humans; ++i) {
    Waiting w = std::move(queue_.front());
    queue_.pop_front();
    if (w.player.local) waiting_.leave(w.player.local);
    seats.push_back(SeatInit{std::move(w.name), new_token(id), w.player});
  }
  for (std::size_t b = 1; seats.size() < game_.config.seats; ++b) seats.push_back(SeatInit{"bot " + std::to_string(b), {}, {}});
  if (game_.cluster != nullptr) {
    // The process hosting the fewest rooms: as counted here (rooms placed in one go spread
    // too) or as it says in its heartbeats (rooms placed by an earlier lobby), the larger.
    std::uint64_t best = game_.cluster->id();
    std::uint64_t best_load = rooms_on_[best];
    for (const cl::ProcessInfo& p : game_.cluster->processes()) {
      if (p.names == 0) continue;  // not an arena process yet (no gateway announced)
      const std::uint64_t load = std::max<std::uint64_t>(rooms_on_[p.id], p.load);
      if (load < best_load) {
        best = p.id;
        best_load = load;
      }
    }
    ++rooms_on_[best];
    room_process_[id] = best;
    if (best != game_.cluster->id()) {
      open_elsewhere(best, id, std::move(seats));
      return;
    }
  }
  // The reactor hosting the fewest rooms opens it (counted here, so rooms opened in one
  // go spread too); the room seats its players itself, so only the listing waits for the
  // answer.
  if (hosted_.size() != game_.hosts.size()) hosted_.assign(game_.hosts.size(), 0);
  const std::size_t host = static_cast<std::size_t>(std::min_element(hosted_.begin(), hosted_.end()) - hosted_.begin());
  ++hosted_[host];
  game_.hosts[host].ask(&RoomHost::open, id, std::move(seats), [this, id, host](ra::Reply<ra::Ref<Room>> r) mutable {
    if (!r) {  // its host's reactor is stopping
      --hosted_[host];
      lobby_status(RoomStatus{id, 0, {}});
      return;
    }
    const ra::Ref<Room> room = *r;
    // A room whose on_start threw is dropped by the group at once.
    rooms_.join(room);
    room_ids_[key(room.id())] = RoomEntry{id, host};
    by_id_[id] = room;
    // Listed at once (its own status may have come first: kept).
    room_status_.emplace(id, R"({"id":)" + std::to_string(id) + "}");
  });
}

ra::Ref<Room> RoomHost::open(std::uint32_t id, std::vector<SeatInit> seats) {
  return spawn<Room>(game_, id, std::move(seats));
}

// 8 hex digits of the room's id (a rejoin finds the room by it), then 24 random ones.
std::string Matchmaker::new_token(std::uint32_t room) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x%08llx%016llx", room, static_cast<unsigned long long>(rng_() & 0xFFFFFFFFu),
                static_cast<unsigned long long>(rng_()));
  return std::string(buf, 32);
}

void Matchmaker::room_status(std::uint32_t id, std::string json) {
  // A room's messages and its stop notice travel one path in order: a status never
  // arrives after the room was dropped.
  room_status_[id] = std::move(json);
}

std::string Matchmaker::rooms_json() {
  if (game_.cluster != nullptr && !lobby_) return rooms_cache_;  // the lobby's, refreshed twice a second
  nlohmann::json rooms = nlohmann::json::array();
  for (const auto& [id, json] : room_status_) rooms.push_back(nlohmann::json::parse(json));
  std::uint64_t players = 0;
  for (const Game* g : game_.shards) players += g->stats.players.load(std::memory_order_relaxed);
  nlohmann::json out{{"rooms", rooms}, {"queued", queue_.size()}, {"players", players}};
  if (game_.cluster != nullptr) {
    out["lobby"] = game_.process_name;
    out["processes"] = game_.cluster->processes().size() + 1;
  }
  return out.dump();
}

}  // namespace arena
