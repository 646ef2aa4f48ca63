// The matchmaker: players queue here; it fills rooms of Config::seats, with bots in the
// empty seats once the oldest player has waited Config::bot_wait. A room opens on the
// reactor with the fewest rooms (through that reactor's RoomHost); the players'
// connections stay on their own reactors and talk to it through Refs. It keeps the rooms
// (a Group: a room that ends is dropped) for GET /api/rooms.
//
// With --nats (remote.hpp) every process has one, its gateway: it queues its players at the
// cluster's lobby (and again at the next one if that lobby's process goes), delivers what
// rooms elsewhere send to its players, relays those rooms' frames to its topics, and opens
// the rooms the lobby places here. One of them is the lobby: it takes every process's
// players and places each room on the process hosting the fewest (gateway.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <ringactor/actors/actor.hpp>
#include <ringactor/actors/group.hpp>

#include "game.hpp"
#include "remote.hpp"

namespace arena {

class PlayerSocket;
class Room;
struct SeatInit;

// Opens rooms on its reactor for the matchmaker (one per reactor).
class RoomHost : public ringactor::actors::Actor {
 public:
  explicit RoomHost(Game& game) : game_(game) {}
  // Spawns the room here; its Ref names a stopped actor if its on_start threw (logged).
  ringactor::actors::Ref<Room> open(std::uint32_t id, std::vector<SeatInit> seats);

 private:
  Game& game_;
};

class Matchmaker : public ringactor::actors::Actor {
 public:
  explicit Matchmaker(Game& game);

  void enqueue(ringactor::actors::Ref<PlayerSocket> player, std::string name);
  void dequeue(ringactor::actors::Ref<PlayerSocket> player);
  void rejoin(ringactor::actors::Ref<PlayerSocket> player, std::string token);
  // The rooms and the queue as JSON (GET /api/rooms): asked, answers at once.
  std::string rooms_json();
  // A room says what it looks like now (sent on each change of phase).
  void room_status(std::uint32_t id, std::string json);

  // --nats, the lobby's part: from gateways (any process, this one too) and rooms.
  void lobby_enqueue(LobbyEnqueue m);
  void lobby_dequeue(LobbyDequeue m);
  void lobby_status(RoomStatus m);  // an empty json: the room closed
  std::string lobby_rooms(RoomsQuery);
  // --nats, the gateway's part: from the lobby, rooms elsewhere and this process's players.
  void open_here(OpenRoom m);  // an ask: answered once the room is on its way
  void to_player(ToPlayer m);
  void placed(ringactor::actors::Ref<PlayerSocket> player);  // a queued player got its seat
  void left_room(std::uint32_t room, std::uint64_t player);  // a player here left a room elsewhere

 protected:
  void on_start() override;
  void on_stop() override;

 private:
  struct Waiting {
    PlayerLink player;
    std::string name;
    std::chrono::steady_clock::time_point since;
  };
  void fill();
  void open_room(std::size_t humans);
  void open_elsewhere(std::uint64_t process, std::uint32_t id, std::vector<SeatInit> seats);
  void requeue(std::vector<SeatInit> seats);
  std::string new_token(std::uint32_t room);
  // gateway.cpp
  void cluster_tick();
  void elect();
  void forward_queued();
  void watch_lobby();
  void process_gone(std::uint64_t process, ringactor::actors::StopReason why);
  ringactor::actors::Ref<RoomHost> least_hosted_reactor();

  Game& game_;
  std::deque<Waiting> queue_;
  ringactor::actors::Group<PlayerSocket> waiting_{*this};  // drops players who leave while queued
  ringactor::actors::Group<Room> rooms_{*this};
  static std::uint64_t key(const ringactor::actors::ActorId& id) noexcept {
    return static_cast<std::uint64_t>(id.slot) << 32 | id.generation;
  }
  struct RoomEntry {
    std::uint32_t id;
    std::size_t host;  // index of the reactor (RoomHost) it lives on
  };
  std::map<std::uint64_t, RoomEntry> room_ids_;                // room actor -> id and host
  std::map<std::uint32_t, ringactor::actors::Ref<Room>> by_id_;  // id -> room (rejoins)
  std::vector<std::size_t> hosted_;                            // rooms open per host
  std::map<std::uint32_t, std::string> room_status_;           // id -> JSON
  std::uint32_t next_room_ = 1;
  std::mt19937_64 rng_;

  // --nats (gateway.cpp).
  bool lobby_ = false;                                          // this one is the cluster's lobby
  std::chrono::steady_clock::time_point joined_{};
  ProcessWatch processes_;                                      // of queued players, rooms, bridges
  // The lobby's: rooms per process (placement), and each room's process.
  std::map<std::uint64_t, std::size_t> rooms_on_;
  std::map<std::uint32_t, std::uint64_t> room_process_;
  // The gateway's: players of this process queued at the lobby (number -> name, sent yet).
  struct Forwarded {
    ringactor::actors::Ref<PlayerSocket> player;
    std::string name;
    bool sent = false;
  };
  std::map<std::uint64_t, Forwarded> forwarded_;
  ringactor::actors::Group<PlayerSocket> forwarded_group_{*this};
  std::uint64_t lobby_monitor_ = 0;
  bool watching_lobby_ = false;
  std::string rooms_cache_ = R"({"rooms":[],"queued":0,"players":0})";  // the lobby's, when elsewhere
  bool rooms_asked_ = false;
  // Rooms elsewhere with players here: their frames are relayed to the local topic.
  struct Bridge {
    std::uint64_t process = 0;
    std::set<std::uint64_t> players;
  };
  std::map<std::uint32_t, Bridge> bridges_;
  void unbridge(std::uint32_t room);
};

}  // namespace arena
