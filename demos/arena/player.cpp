// A player's WebSocket connection (see player.hpp).
#include "player.hpp"

#include <nlohmann/json.hpp>
#include <ringactor/cluster/cluster.hpp>

#include "matchmaker.hpp"
#include "protocol.hpp"
#include "room.hpp"

namespace arena {

namespace http = ringactor::http;

void PlayerSocket::on_open() {
  ++game_.stats.players;
  send(R"({"t":"welcome","version":1})");
}

void PlayerSocket::on_close(std::uint16_t, std::string_view) {
  --game_.stats.players;
  // The room and the matchmaker hold this connection in Groups: they see it stop. A room
  // in another process is told (its seat waits for a rejoin).
  if (remote_room_ != 0) leave_remote_room(false);
}

void PlayerSocket::leave_remote_room(bool forfeit) {
  const std::uint64_t me = player_number(game_, self<PlayerSocket>().id());
  game_.cluster->named<Room>(room_name(remote_room_))
      .tell(RoomLeave{game_.cluster->id(), me, static_cast<std::uint8_t>(forfeit ? 1 : 0)});
  game_.matchmaker.tell(&Matchmaker::left_room, remote_room_, me);
  remote_room_ = 0;
  remote_process_ = 0;
}

void PlayerSocket::refuse(std::uint16_t code, const std::string& why) {
  ++game_.stats.bad_messages;
  close(code, why.substr(0, 120));
}

void PlayerSocket::on_message(std::string_view message, http::WsOpcode op) {
  if (op != http::WsOpcode::kText) {
    refuse(http::ws_close::kUnsupported, "binary messages are not part of the protocol");
    return;
  }
  std::string error;
  const std::optional<ClientMessage> m = parse_client_message(message, error);
  if (!m) {
    refuse(http::ws_close::kPolicy, error);
    return;
  }
  const auto me = self<PlayerSocket>();
  switch (m->type) {
    case ClientMessage::Type::kJoin:
      if (room_ || remote_room_ != 0 || queued_) {
        send(R"({"t":"error","error":"already queued or seated"})");
        return;
      }
      queued_ = true;
      game_.matchmaker.tell(&Matchmaker::enqueue, me, m->name);
      return;
    case ClientMessage::Type::kRejoin:
      if (room_ || remote_room_ != 0 || queued_) {
        send(R"({"t":"error","error":"already queued or seated"})");
        return;
      }
      game_.matchmaker.tell(&Matchmaker::rejoin, me, m->token);
      return;
    case ClientMessage::Type::kInput:
      if (room_) {
        room_.tell(&Room::input, me, m->seq, m->x, m->y);
      } else if (remote_room_ != 0) {
        game_.cluster->named<Room>(room_name(remote_room_))
            .tell(RoomInput{game_.cluster->id(), player_number(game_, me.id()), m->seq, m->x, m->y});
      }
      return;
    case ClientMessage::Type::kLeave:
      if (room_) room_.tell(&Room::leave, me);
      if (remote_room_ != 0) leave_remote_room(true);
      if (queued_) game_.matchmaker.tell(&Matchmaker::dequeue, me);
      if (!topic_.empty()) unsubscribe(topic_);
      room_ = {};
      topic_.clear();
      queued_ = false;
      send(R"({"t":"left"})");
      return;
  }
}

void PlayerSocket::seated(ringactor::actors::Ref<Room> room, std::uint32_t seat, std::string topic, std::string hello,
                          std::string frame) {
  if (!topic_.empty() && topic_ != topic) unsubscribe(topic_);
  if (remote_room_ != 0) leave_remote_room(true);
  room_ = room;
  seat_ = seat;
  topic_ = std::move(topic);
  queued_ = false;
  subscribe(topic_);
  send(hello);
  send(frame, http::WsOpcode::kBinary);
  game_.matchmaker.tell(&Matchmaker::placed, self<PlayerSocket>());
}

void PlayerSocket::seated_remote(std::uint64_t process, std::uint32_t room, std::uint32_t seat, std::string hello,
                                 std::string frame) {
  const std::string topic = std::string("room/").append(std::to_string(room));
  if (!topic_.empty() && topic_ != topic) unsubscribe(topic_);
  if (room_) room_.tell(&Room::leave, self<PlayerSocket>());
  if (remote_room_ != 0 && remote_room_ != room) leave_remote_room(true);
  room_ = {};
  remote_room_ = room;
  remote_process_ = process;
  seat_ = seat;
  topic_ = topic;
  queued_ = false;
  subscribe(topic_);  // the gateway relays the room's frames to it
  send(hello);
  send(frame, http::WsOpcode::kBinary);
  game_.matchmaker.tell(&Matchmaker::placed, self<PlayerSocket>());
}

void PlayerSocket::room_lost(std::uint32_t room, bool down) {
  if (remote_room_ != room) return;
  if (!down) return unseated(R"({"t":"closed"})");
  remote_room_ = 0;  // nobody to tell
  close(kCloseRoomLost, "the room's server stopped answering");
}

void PlayerSocket::unseated(std::string json) {
  if (!topic_.empty()) unsubscribe(topic_);
  room_ = {};
  remote_room_ = 0;
  remote_process_ = 0;
  topic_.clear();
  queued_ = false;
  send(json);
}

}  // namespace arena
