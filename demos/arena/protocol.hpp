// The arena's wire protocol.
//
// Client -> server: text messages, JSON objects with a "t" (type) field:
//   {"t":"join","name":"ada"}            queue for a room (name: 1..16 printable characters)
//   {"t":"rejoin","token":"..."}         take back a seat after a drop (within the grace period)
//   {"t":"input","seq":7,"x":512,"y":300} send the seat's units to a point of the map
//   {"t":"leave"}                        leave the queue or the room
// Anything else (bad JSON, unknown type, a binary message, values out of range) closes the
// connection with 1008 (policy) or 1003 (binary) and a reason. With --nats, a player whose
// room lived in another process that stopped answering is closed with 4001 (kCloseRoomLost).
//
// Server -> client: text JSON for events ("queued", "seat", "countdown", "start", "result",
// "error"), and binary state frames (layout version 1, little-endian):
//   u8 version (1) | u8 kind (0 full, 1 delta) | u32 seq | u32 tick | u16 ticks_left |
//   u8 phase (0 countdown, 1 playing, 2 over) | u8 seats |
//   seats x { u16 kills | u16 alive | u32 last_input_seq } |
//   u16 units | units x { u16 id | u8 seat | u8 hp (0 dead .. 255 full) | u16 x | u16 y }
// x and y are quantised to 0..65535 across the map. A full frame lists every living unit; a
// delta lists the units whose quantised state changed since the previous frame (a unit that
// died appears once with hp 0). Full frames come every kFullEvery frames, so a client that
// missed frames (the topic keeps only the latest for a slow client) resynchronises within a
// second; seq tells it that it missed one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim.hpp"

namespace arena {

inline constexpr std::uint8_t kFrameVersion = 1;
inline constexpr std::uint16_t kCloseRoomLost = 4001;
inline constexpr std::uint32_t kFullEvery = 20;
inline constexpr std::size_t kFrameHeader = 14;  // version .. seats, before the seat lines

enum class Phase : std::uint8_t { kCountdown = 0, kPlaying = 1, kOver = 2 };

struct SeatLine {
  std::uint16_t kills = 0;
  std::uint16_t alive = 0;
  std::uint32_t last_input_seq = 0;
};

// Builds a room's frames; keeps what it last sent per unit to make deltas.
class FrameEncoder {
 public:
  // The next frame of the room's broadcast (full or delta, by the schedule above).
  std::string next(const World& w, Phase phase, std::uint16_t ticks_left, const std::vector<SeatLine>& seats);
  // A full frame of the current state for one client (a join or rejoin); does not advance
  // the broadcast's sequence or its delta baseline.
  std::string full(const World& w, Phase phase, std::uint16_t ticks_left, const std::vector<SeatLine>& seats) const;
  std::uint32_t seq() const noexcept { return seq_; }

 private:
  struct Quant {
    std::uint16_t x = 0, y = 0;
    std::uint8_t hp = 0;
    bool sent = false;
    friend bool operator==(const Quant&, const Quant&) = default;
  };
  static Quant quantise(const Unit& u);
  std::string encode(const World& w, Phase phase, std::uint16_t ticks_left, const std::vector<SeatLine>& seats,
                     bool full, std::uint32_t seq, std::vector<Quant>* baseline) const;
  std::vector<Quant> last_;
  std::uint32_t seq_ = 0;
};

// A client message, parsed and checked.
struct ClientMessage {
  enum class Type { kJoin, kRejoin, kInput, kLeave } type = Type::kLeave;
  std::string name;   // join
  std::string token;  // rejoin
  std::uint32_t seq = 0;
  float x = 0, y = 0;  // input, on the map
};
// Parses one text message; on bad input returns nullopt and says why in `error`.
std::optional<ClientMessage> parse_client_message(std::string_view text, std::string& error);

}  // namespace arena
