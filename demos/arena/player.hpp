// A player's WebSocket connection: an actor on the reactor thread. It parses the client's
// messages (protocol.hpp), talks to the matchmaker and to its room through Refs, and is a
// member of its room's topic, which carries the room's state frames. With --nats its room
// may live in another process: then it talks to the room by name, and the frames reach its
// topic through this process's gateway (remote.hpp).
#pragma once

#include <cstdint>
#include <string>

#include <ringactor/actors/ref.hpp>
#include <ringactor/http/websocket.hpp>

#include "game.hpp"

namespace arena {

class Room;

class PlayerSocket : public ringactor::http::WebSocket {
 public:
  explicit PlayerSocket(Game& game) : game_(game) {}

  // From the room: this connection holds `seat` of `room`; `hello` (JSON) and `frame` (a
  // full state frame) are sent, and the room's topic joined.
  void seated(ringactor::actors::Ref<Room> room, std::uint32_t seat, std::string topic, std::string hello,
              std::string frame);
  // From the gateway: this connection holds `seat` of room `room` in process `process`.
  void seated_remote(std::uint64_t process, std::uint32_t room, std::uint32_t seat, std::string hello,
                     std::string frame);
  // From the room or the matchmaker: the seat is gone (the room ended, a rejoin failed).
  void unseated(std::string json);
  // From the gateway: the process of room `room` went away. If seated there: when it went
  // silent (`down`), closes the connection with 4001 (kCloseRoomLost); when it stopped, the
  // player is back in the lobby ({"t":"closed"}, as when a room ends).
  void room_lost(std::uint32_t room, bool down);
  // A text message (JSON) from the matchmaker or a room.
  void notify(std::string json) { send(json); }

 protected:
  void on_open() override;
  void on_message(std::string_view message, ringactor::http::WsOpcode op) override;
  void on_close(std::uint16_t code, std::string_view reason) override;

 private:
  void refuse(std::uint16_t code, const std::string& why);
  void leave_remote_room(bool forfeit);
  Game& game_;
  ringactor::actors::Ref<Room> room_;  // a room of this process
  std::uint32_t remote_room_ = 0;      // else (--nats) a room elsewhere
  std::uint64_t remote_process_ = 0;
  std::string topic_;
  std::uint32_t seat_ = 0;
  bool queued_ = false;
};

}  // namespace arena
