// A room: one round of the arena for Config::seats players (humans and bots).
//
// It counts down, then plays at a fixed rate (Actor::every_tick, 20 Hz): each tick applies
// the inputs queued since the last one, offloads the simulation step on a copy of the world
// to the worker arena, and when the result comes back (on this actor, on the IO thread)
// applies it and publishes a binary state frame to the room's topic, whose slow members keep
// only the latest frame. A tick that finds the previous step still running is skipped and
// counted: the IO thread never waits for a worker. The players' connections are a Group:
// one that closes is dropped and its seat waits `grace` for a rejoin, then a bot takes it.
//
// With --nats (remote.hpp) the room is named "arena/room/<id>" in the cluster: players of
// other processes send it RoomInput, RoomRejoin and RoomLeave, it answers them through their
// gateways, and its frames also go to the cluster topic "arena.room.<id>". A player's
// process that goes down drops its seats (grace, then a bot), as a closed connection does.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <ringactor/actors/actor.hpp>
#include <ringactor/actors/group.hpp>

#include "game.hpp"
#include "protocol.hpp"
#include "remote.hpp"
#include "sim.hpp"

namespace arena {

class PlayerSocket;

struct SeatInit {
  std::string name;
  std::string token;  // empty for a bot
  PlayerLink conn;    // empty for a bot
};

class Room : public ringactor::actors::Actor {
 public:
  Room(Game& game, std::uint32_t id, std::vector<SeatInit> seats);

  // From a player's connection (messages arrive in order per connection).
  void input(ringactor::actors::Ref<PlayerSocket> from, std::uint32_t seq, float x, float y);
  void rejoin(ringactor::actors::Ref<PlayerSocket> from, std::string token);
  void leave(ringactor::actors::Ref<PlayerSocket> from);
  // The same from players of other processes (--nats).
  void remote_input(RoomInput m);
  void remote_rejoin(RoomRejoin m);
  void remote_leave(RoomLeave m);
  // For GET /api/rooms.
  std::string describe() const;

 protected:
  void on_start() override;
  void on_stop() override;

 private:
  struct Seat {
    std::string name;
    std::string token;
    bool bot = false;
    PlayerLink conn;  // empty while dropped (or a bot)
    ringactor::actors::ActorTimer grace;
    std::uint32_t last_input_seq = 0;
    std::optional<Command> pending;  // the newest input since the last tick
    std::uint32_t pending_seq = 0;
    std::uint64_t bot_next = 0;      // the tick of a bot's next decision
  };
  struct StepResult {
    World world{};
    std::uint64_t ns = 0;
    bool on_device = false;  // --gpu
    bool checked = false;    // also run on the CPU and compared
    std::string mismatch{};  // what differed (empty: the same)
  };

  void tick(std::uint64_t index);
  void start_round();
  void run_step();
  void run_step_on_device(float dt);
  void step_done(ringactor::offload::Result<StepResult> r);
  void applied(StepResult r);
  void finish(const char* why);
  void seat_connection(std::uint32_t seat, const PlayerLink& conn);
  void member_down(const ringactor::actors::DownNotice& n);
  void dropped(std::uint32_t seat);
  void input_from(const PlayerLink& from, std::uint32_t seq, float x, float y);
  void rejoin_from(const PlayerLink& from, std::string token);
  void leave_from(const PlayerLink& from);
  void publish_frame(const std::string& frame);
  void report_status();
  void bot_inputs();
  std::vector<SeatLine> seat_lines() const;
  std::uint16_t ticks_left() const;
  std::string hello_json(std::uint32_t seat) const;
  void broadcast_text(const std::string& json);
  int seat_of(const PlayerLink& conn) const;

  Game& game_;
  std::uint32_t id_;
  std::string topic_;
  std::vector<Seat> seats_;
  ringactor::actors::Group<PlayerSocket> players_{*this};
  World world_;
  World spare_;  // the buffers of the previous world, reused by the next step's copy
  FrameEncoder frames_;
  Phase phase_ = Phase::kCountdown;
  std::uint64_t countdown_ticks_ = 0;  // ticks of countdown left
  bool announced_ = false;             // the countdown's first second was announced
  std::uint64_t round_ticks_ = 0;
  std::uint64_t device_steps_ = 0;     // steps launched on the device (picks the checked ones)
  bool stepping_ = false;              // a step is on the worker arena
  bool closing_ = false;               // on_stop has begun: no new timers
  std::mt19937 rng_;
  ringactor::actors::ActorTimer ticker_;
  ProcessWatch watch_;  // --nats: the processes of its remote players
};

}  // namespace arena
