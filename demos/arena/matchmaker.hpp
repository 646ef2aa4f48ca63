// The matchmaker: players queue here; it fills rooms of Config::seats, with bots in the
// empty seats once the oldest player has waited Config::bot_wait. A room opens on the
// reactor with the fewest rooms (through that reactor's RoomHost); the players'
// connections stay on their own reactors and talk to it through Refs. It keeps the rooms
// (a Group: a room that ends is dropped with its rejoin tokens) for GET /api/rooms.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <ringactor/actors/actor.hpp>
#include <ringactor/actors/group.hpp>

#include "game.hpp"

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

 protected:
  void on_start() override;

 private:
  struct Waiting {
    ringactor::actors::Ref<PlayerSocket> player;
    std::string name;
    std::chrono::steady_clock::time_point since;
  };
  void fill();
  void open_room(std::size_t humans);
  std::string new_token();

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
  std::vector<std::size_t> hosted_;                            // rooms open per host
  std::map<std::uint32_t, std::string> room_status_;           // id -> JSON
  std::map<std::string, ringactor::actors::Ref<Room>> tokens_;  // rejoin token -> room
  std::uint32_t next_room_ = 1;
  std::mt19937_64 rng_;
};

}  // namespace arena
