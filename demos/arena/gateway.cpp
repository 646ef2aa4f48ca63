// The matchmaker's --nats parts (see matchmaker.hpp and remote.hpp): the election of the
// lobby, the lobby's queue of every process's players and its placement of rooms, and the
// gateway of each process (its players' messages, the frames of rooms elsewhere).
#include <algorithm>
#include <cstdio>

#include <ringactor/cluster/cluster.hpp>

#include "matchmaker.hpp"
#include "player.hpp"
#include "room.hpp"

namespace arena {

namespace ra = ringactor::actors;
namespace cl = ringactor::cluster;
namespace http = ringactor::http;
using namespace std::chrono_literals;

// Twice a second: the election, the watches, the load, the queue, the lobby's listing.
void Matchmaker::cluster_tick() {
  elect();
  processes_.retry();
  std::uint64_t rooms = 0;
  for (const Game* g : game_.shards) rooms += g->stats.rooms.load(std::memory_order_relaxed);
  game_.cluster->set_load(rooms);
  forward_queued();
  if (!lobby_ && !rooms_asked_ && game_.cluster->where(kLobbyName) == cl::Cluster::Where::kElsewhere) {
    rooms_asked_ = true;
    game_.cluster->named<Matchmaker>(kLobbyName)
        .ask<std::string>(RoomsQuery{}, [this](ra::Reply<std::string> r) {
          rooms_asked_ = false;
          if (r) rooms_cache_ = std::move(*r);
        }, 2s);
  }
}

// The lobby is whoever holds its name. A process that finds nobody holding it, once it has
// been in the cluster long enough to have heard the others, takes it if its id is the
// lowest of the live ones (so that processes starting together agree).
void Matchmaker::elect() {
  if (lobby_) return;
  const cl::Cluster::Where where = game_.cluster->where(kLobbyName);
  if (where == cl::Cluster::Where::kHere) {
    lobby_ = true;
    return;
  }
  if (where == cl::Cluster::Where::kElsewhere) {
    watch_lobby();
    return;
  }
  // No lobby: whatever was queued there is gone with it.
  for (auto& [number, f] : forwarded_) f.sent = false;
  if (reactor().now() - joined_ < game_.config.lobby_settle) return;
  const std::uint64_t me = game_.cluster->id();
  for (const cl::ProcessInfo& p : game_.cluster->processes()) {
    if (p.id < me && p.names > 0) return;  // a lower one will take it
  }
  game_.cluster->register_name(kLobbyName, self<Matchmaker>());
  lobby_ = true;
  std::printf("arena: this process (%s) is the lobby\n", game_.process_name.c_str());
  std::fflush(stdout);
}

// When the lobby goes, this process's queued players are queued again at the next one.
void Matchmaker::watch_lobby() {
  if (watching_lobby_) return;
  watching_lobby_ = true;
  lobby_monitor_ = game_.cluster->named<Matchmaker>(kLobbyName).monitor([this](ra::StopReason) {
    watching_lobby_ = false;
    for (auto& [number, f] : forwarded_) f.sent = false;
  });
}

void Matchmaker::forward_queued() {
  if (forwarded_.empty()) return;
  const cl::Cluster::Where where = game_.cluster->where(kLobbyName);
  if (where == cl::Cluster::Where::kNowhere) return;
  if (where == cl::Cluster::Where::kElsewhere) watch_lobby();  // before sending: no gap
  const auto lobby = game_.cluster->named<Matchmaker>(kLobbyName);
  for (auto& [number, f] : forwarded_) {
    if (f.sent) continue;
    f.sent = true;
    lobby.tell(LobbyEnqueue{game_.cluster->id(), number, f.name});
  }
}

void Matchmaker::placed(ra::Ref<PlayerSocket> player) {
  if (game_.cluster == nullptr) return;
  if (forwarded_.erase(player_number(game_, player.id())) > 0) forwarded_group_.leave(player);
}

// ---- the lobby ---------------------------------------------------------------------------------

void Matchmaker::lobby_enqueue(LobbyEnqueue m) {
  const PlayerLink link = link_of(game_, m.process, m.player);
  if (!link) return;
  if (link.local) {
    if (waiting_.contains(link.local)) return;
    waiting_.join(link.local);
  } else {
    if (std::any_of(queue_.begin(), queue_.end(), [&](const Waiting& w) { return w.player == link; })) return;
    processes_.watch(link.process);
  }
  queue_.push_back(Waiting{link, std::move(m.name), reactor().now()});
  notify_player(game_, link, R"({"t":"queued","position":)" + std::to_string(queue_.size()) + "}");
  fill();
}

void Matchmaker::lobby_dequeue(LobbyDequeue m) {
  const PlayerLink link = link_of(game_, m.process, m.player);
  if (link.local) waiting_.leave(link.local);
  std::erase_if(queue_, [&](const Waiting& w) { return w.player == link; });
}

void Matchmaker::lobby_status(RoomStatus m) {
  if (!m.json.empty()) {
    room_status_[m.id] = std::move(m.json);
    if (m.process != 0 && !room_process_.contains(m.id)) {
      room_process_[m.id] = m.process;  // a room placed by an earlier lobby
      processes_.watch(m.process);
    }
    return;
  }
  room_status_.erase(m.id);  // it closed (or never opened)
  const auto it = room_process_.find(m.id);
  if (it == room_process_.end()) return;
  auto on = rooms_on_.find(it->second);
  if (on != rooms_on_.end() && on->second > 0) --on->second;
  room_process_.erase(it);
}

std::string Matchmaker::lobby_rooms(RoomsQuery) { return rooms_json(); }

void Matchmaker::open_elsewhere(std::uint64_t process, std::uint32_t id, std::vector<SeatInit> seats) {
  OpenRoom m{id, {}};
  for (const SeatInit& s : seats) {
    m.seats.push_back(s.conn ? OpenSeat{s.name, s.token, process_of(game_, s.conn), number_of(game_, s.conn)}
                             : OpenSeat{s.name, {}, 0, 0});
  }
  processes_.watch(process);
  room_status_.emplace(id, R"({"id":)" + std::to_string(id) + "}");
  game_.cluster->named<Matchmaker>(gateway_name(process))
      .ask<void>(m, [this, id, seats = std::move(seats)](ra::Reply<void> r) mutable {
        if (r) return;
        // Its process went, or did not answer: the players queue again (first in line).
        std::fprintf(stderr, "arena: room %u could not open on its process: %s\n", id, r.message().c_str());
        lobby_status(RoomStatus{id, 0, {}});
        requeue(std::move(seats));
      }, 3s);
}

void Matchmaker::requeue(std::vector<SeatInit> seats) {
  for (auto it = seats.rbegin(); it != seats.rend(); ++it) {
    if (!it->conn) continue;
    if (it->conn.local) waiting_.join(it->conn.local);
    queue_.push_front(Waiting{it->conn, std::move(it->name), reactor().now()});
  }
}

// A process went (silent, or it left): the lobby forgets its queued players and rooms; the
// gateway closes its players' seats in rooms there with a clear code.
void Matchmaker::process_gone(std::uint64_t process, ra::StopReason why) {
  std::erase_if(queue_, [&](const Waiting& w) { return w.player.process == process; });
  for (auto it = room_process_.begin(); it != room_process_.end();) {
    if (it->second == process) {
      room_status_.erase(it->first);
      it = room_process_.erase(it);
    } else {
      ++it;
    }
  }
  rooms_on_.erase(process);
  std::vector<std::uint32_t> lost;
  for (const auto& [room, b] : bridges_) {
    if (b.process == process) lost.push_back(room);
  }
  for (const std::uint32_t room : lost) {
    for (const std::uint64_t player : bridges_[room].players) {
      player_of(game_, player).tell(&PlayerSocket::room_lost, room, why == ra::StopReason::kNodeDown);
    }
    unbridge(room);
  }
}

// ---- the gateway -------------------------------------------------------------------------------

void Matchmaker::open_here(OpenRoom m) {
  std::vector<SeatInit> seats;
  for (OpenSeat& s : m.seats) {
    seats.push_back(SeatInit{std::move(s.name), std::move(s.token),
                             s.process != 0 ? link_of(game_, s.process, s.player) : PlayerLink{}});
  }
  // The reactor of this process with the fewest rooms.
  std::size_t best = 0;
  for (std::size_t i = 1; i < game_.shards.size(); ++i) {
    if (game_.shards[i]->stats.rooms.load(std::memory_order_relaxed) <
        game_.shards[best]->stats.rooms.load(std::memory_order_relaxed)) {
      best = i;
    }
  }
  game_.hosts[best].tell(&RoomHost::open, m.id, std::move(seats));
}

void Matchmaker::to_player(ToPlayer m) {
  const ra::Ref<PlayerSocket> player = player_of(game_, m.player);
  switch (m.kind) {
    case ToPlayer::kNotify:
      player.tell(&PlayerSocket::notify, std::move(m.text));
      return;
    case ToPlayer::kSeated: {
      auto [it, fresh] = bridges_.try_emplace(m.room);
      if (fresh) {
        // The room's frames, relayed to the local topic its players here are members of
        // (slow members keep only the newest, as at the room's own process).
        it->second.process = m.room_process;
        const std::string topic = std::string("room/").append(std::to_string(m.room));
        game_.server->topic(topic, {.policy = http::SlowConsumer::kKeepLatest, .behind_bytes = 32 * 1024});
        game_.cluster->subscribe(frames_topic(m.room), *game_.stage, [server = game_.server, topic](std::string_view frame) {
          server->publish(topic, frame, http::WsOpcode::kBinary);
        });
        processes_.watch(m.room_process);
      }
      it->second.players.insert(m.player);
      player.tell(&PlayerSocket::seated_remote, m.room_process, m.room, m.seat, std::move(m.text), std::move(m.frame));
      return;
    }
    case ToPlayer::kUnseated: {
      const auto it = bridges_.find(m.room);
      const bool seated = it != bridges_.end() && it->second.players.contains(m.player);
      // The end of a room this player already left (or heard of from its process going) is
      // not news; a refused rejoin always is.
      if (m.seat == 1 && !seated) return;
      left_room(m.room, m.player);
      player.tell(&PlayerSocket::unseated, std::move(m.text));
      return;
    }
  }
}

void Matchmaker::left_room(std::uint32_t room, std::uint64_t player) {
  const auto it = bridges_.find(room);
  if (it == bridges_.end()) return;
  it->second.players.erase(player);
  if (it->second.players.empty()) unbridge(room);
}

void Matchmaker::unbridge(std::uint32_t room) {
  game_.cluster->unsubscribe(frames_topic(room));
  game_.server->forget_topic(std::string("room/").append(std::to_string(room)));
  bridges_.erase(room);
}

}  // namespace arena
