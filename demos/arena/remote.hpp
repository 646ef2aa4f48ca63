// The arena across processes (--nats URL): what crosses them, and how a player is named.
//
// Every process of the cluster holds one Matchmaker, registered as "arena/mm/<process>":
// it is that process's gateway (it forwards messages to its players and bridges the
// frames of rooms living elsewhere into its own topics), and one of them is also the
// lobby, registered as "arena/lobby": the matchmaker that queues every process's players
// and places rooms on the least loaded process. A room registers as "arena/room/<id>".
//
// A player is named by a PlayerLink: a Ref for a player of this process, else its
// process's id and its number there (the stage, slot and generation of its PlayerSocket).
// Messages to a player go through its process's gateway (ToPlayer); messages to a room
// or the lobby go to their names. A room's state frames go to the cluster topic
// "arena.room.<id>" as well as its local topic; a gateway with players seated in a room
// elsewhere subscribes to it and republishes the frames to its local topic "room/<id>".
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <ringactor/actors/ref.hpp>
#include <ringactor/cluster/codec.hpp>

#include "game.hpp"

namespace arena {

class PlayerSocket;

// A player of the arena, in this process or another one.
struct PlayerLink {
  ringactor::actors::Ref<PlayerSocket> local;  // a player of this process
  std::uint64_t process = 0;                   // else: its process (Cluster::id there)
  std::uint64_t player = 0;                    // and its number there (player_number)
  explicit operator bool() const noexcept { return static_cast<bool>(local) || process != 0; }
  bool remote() const noexcept { return process != 0; }
  friend bool operator==(const PlayerLink&, const PlayerLink&) = default;
};

// The names and topics of the cluster.
std::string gateway_name(std::uint64_t process);
std::string room_name(std::uint32_t room);
std::string frames_topic(std::uint32_t room);
inline constexpr std::string_view kLobbyName = "arena/lobby";

// A player of this process as a number (its stage's index, slot and generation), and back.
std::uint64_t player_number(const Game& game, ringactor::actors::ActorId id);
ringactor::actors::Ref<PlayerSocket> player_of(const Game& game, std::uint64_t number);
// The link of (process, player): a local Ref when process is this one.
PlayerLink link_of(const Game& game, std::uint64_t process, std::uint64_t player);
// How another process names this player (process, number): for a local link.
std::uint64_t process_of(const Game& game, const PlayerLink& link);
std::uint64_t number_of(const Game& game, const PlayerLink& link);

// A text event (JSON) to a player, here or through its gateway.
void notify_player(Game& game, const PlayerLink& link, std::string json);
// The player's seat in `room` is gone (`ended`: the room ended; else a rejoin failed):
// `json` says why.
void unseat_player(Game& game, const PlayerLink& link, std::uint32_t room, std::string json, bool ended);

// Watches other processes from one actor, through their gateways' names: gone(process,
// why) runs on that actor when one goes (kNodeDown: it went silent; kShutdown: it left).
// watch() and retry() are called from the actor's handlers; retry() on a timer: a gateway
// not yet heard of when watched is watched again while its process is alive, and counts
// as gone (kNodeDown) once it is not. forget_all() in on_stop.
class ProcessWatch {
 public:
  using Gone = std::function<void(std::uint64_t process, ringactor::actors::StopReason why)>;
  ProcessWatch(Game& game, Gone gone) : game_(game), gone_(std::move(gone)) {}
  ProcessWatch(const ProcessWatch&) = delete;
  ProcessWatch& operator=(const ProcessWatch&) = delete;
  void watch(std::uint64_t process);
  void retry();
  void forget_all();

 private:
  Game& game_;
  Gone gone_;
  std::map<std::uint64_t, std::uint64_t> monitors_;  // process -> monitor
  std::set<std::uint64_t> retry_;
};

// ---- messages ----------------------------------------------------------------------------------

// To a gateway: deliver to one of its players.
struct ToPlayer {
  enum Kind : std::uint8_t { kNotify = 0, kSeated = 1, kUnseated = 2 };
  std::uint8_t kind = kNotify;
  std::uint64_t player = 0;
  std::uint64_t room_process = 0;  // kSeated: where the room lives
  std::uint32_t room = 0;          // kSeated
  std::uint32_t seat = 0;          // kSeated; kUnseated: 1 when the room ended (else refused)
  std::string text;                // JSON: the event (kNotify, kUnseated) or the seat's hello
  std::string frame;               // kSeated: a full state frame (binary)
};

// To the lobby: queue, or stop queueing, a player of another process.
struct LobbyEnqueue {
  std::uint64_t process = 0;
  std::uint64_t player = 0;
  std::string name;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LobbyEnqueue, process, player, name)
struct LobbyDequeue {
  std::uint64_t process = 0;
  std::uint64_t player = 0;
};

// To a gateway (an ask): open this room on one of your reactors.
struct OpenSeat {
  std::string name;
  std::string token;
  std::uint64_t process = 0;  // 0: a bot
  std::uint64_t player = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OpenSeat, name, token, process, player)
struct OpenRoom {
  std::uint32_t id = 0;
  std::vector<OpenSeat> seats;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OpenRoom, id, seats)

// To a room from a player elsewhere.
struct RoomInput {
  std::uint64_t process = 0;
  std::uint64_t player = 0;
  std::uint32_t seq = 0;
  float x = 0, y = 0;
};
struct RoomRejoin {
  std::uint64_t process = 0;
  std::uint64_t player = 0;
  std::string token;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RoomRejoin, process, player, token)
struct RoomLeave {
  std::uint64_t process = 0;
  std::uint64_t player = 0;
  std::uint8_t forfeit = 0;  // 1: the player left (a bot plays on); 0: its connection dropped (grace)
};

// To the lobby: a room's status (on each change of phase), from any process.
struct RoomStatus {
  std::uint32_t id = 0;
  std::uint64_t process = 0;
  std::string json;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RoomStatus, id, process, json)

// To the lobby (an ask): the rooms and the queue, as GET /api/rooms shows them.
struct RoomsQuery {
  std::uint8_t unused = 0;
};

}  // namespace arena

// The codecs. Both sides run the same build (TrivialCodec); ToPlayer carries a binary
// frame, so it has its own length-prefixed layout.
template <>
struct ringactor::cluster::Codec<arena::ToPlayer> {
  static constexpr std::string_view name = "arena.ToPlayer";
  static void encode(const arena::ToPlayer& m, std::string& out);
  static bool decode(std::string_view in, arena::ToPlayer& m);
};
#define ARENA_REMOTE_CODEC(type, base)                                           \
  template <>                                                                    \
  struct ringactor::cluster::Codec<arena::type> : ringactor::cluster::base<arena::type> { \
    static constexpr std::string_view name = "arena." #type;                     \
  };
ARENA_REMOTE_CODEC(LobbyEnqueue, JsonCodec)
ARENA_REMOTE_CODEC(LobbyDequeue, TrivialCodec)
ARENA_REMOTE_CODEC(OpenRoom, JsonCodec)
ARENA_REMOTE_CODEC(RoomInput, TrivialCodec)
ARENA_REMOTE_CODEC(RoomRejoin, JsonCodec)
ARENA_REMOTE_CODEC(RoomLeave, TrivialCodec)
ARENA_REMOTE_CODEC(RoomStatus, JsonCodec)
ARENA_REMOTE_CODEC(RoomsQuery, TrivialCodec)
#undef ARENA_REMOTE_CODEC
