// The arena across processes (see remote.hpp).
#include "remote.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <ringactor/cluster/cluster.hpp>

#include "matchmaker.hpp"
#include "player.hpp"

namespace arena {

namespace ra = ringactor::actors;

std::string gateway_name(std::uint64_t process) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "arena/mm/%016llx", static_cast<unsigned long long>(process));
  return buf;
}

std::string room_name(std::uint32_t room) { return std::string("arena/room/").append(std::to_string(room)); }
std::string frames_topic(std::uint32_t room) { return std::string("arena.room.").append(std::to_string(room)); }

// Stage index (8 bits) | slot (24 bits) | generation (32 bits).
std::uint64_t player_number(const Game& game, ra::ActorId id) {
  for (std::size_t i = 0; i < game.shards.size(); ++i) {
    if (game.shards[i]->stage == id.stage) {
      return static_cast<std::uint64_t>(i) << 56 | static_cast<std::uint64_t>(id.slot & 0xFFFFFFu) << 32 | id.generation;
    }
  }
  throw std::logic_error("arena: a player on an unknown stage");
}

ra::Ref<PlayerSocket> player_of(const Game& game, std::uint64_t number) {
  const std::size_t shard = static_cast<std::size_t>(number >> 56);
  if (shard >= game.shards.size()) return {};
  ra::ActorId id;
  id.stage = game.shards[shard]->stage;
  id.slot = static_cast<std::uint32_t>(number >> 32) & 0xFFFFFFu;
  id.generation = static_cast<std::uint32_t>(number);
  return ra::Ref<PlayerSocket>(id);
}

PlayerLink link_of(const Game& game, std::uint64_t process, std::uint64_t player) {
  if (game.cluster != nullptr && process == game.cluster->id()) return PlayerLink{player_of(game, player), 0, 0};
  return PlayerLink{{}, process, player};
}

std::uint64_t process_of(const Game& game, const PlayerLink& link) {
  return link.remote() ? link.process : game.cluster->id();
}

std::uint64_t number_of(const Game& game, const PlayerLink& link) {
  return link.remote() ? link.player : player_number(game, link.local.id());
}

void notify_player(Game& game, const PlayerLink& link, std::string json) {
  if (link.local) {
    link.local.tell(&PlayerSocket::notify, std::move(json));
  } else if (link.remote()) {
    game.cluster->named<Matchmaker>(gateway_name(link.process))
        .tell(ToPlayer{ToPlayer::kNotify, link.player, 0, 0, 0, std::move(json), {}});
  }
}

void unseat_player(Game& game, const PlayerLink& link, std::uint32_t room, std::string json, bool ended) {
  if (link.local) {
    link.local.tell(&PlayerSocket::unseated, std::move(json));
  } else if (link.remote()) {
    game.cluster->named<Matchmaker>(gateway_name(link.process))
        .tell(ToPlayer{ToPlayer::kUnseated, link.player, 0, room, ended ? 1u : 0u, std::move(json), {}});
  }
}

void ProcessWatch::watch(std::uint64_t process) {
  if (game_.cluster == nullptr || process == 0 || process == game_.cluster->id() || monitors_.contains(process)) return;
  retry_.erase(process);
  monitors_[process] = 0;  // taken before monitor() may fire
  monitors_[process] = game_.cluster->named<ra::Actor>(gateway_name(process)).monitor([this, process](ra::StopReason why) {
    monitors_.erase(process);
    if (why == ra::StopReason::kUnknown) {
      retry_.insert(process);  // its gateway's name has not reached us yet
      return;
    }
    gone_(process, why);
  });
}

void ProcessWatch::retry() {
  if (retry_.empty()) return;
  const std::set<std::uint64_t> again = std::move(retry_);
  retry_.clear();
  const auto alive = game_.cluster->processes();
  for (const std::uint64_t p : again) {
    const bool known = std::any_of(alive.begin(), alive.end(), [p](const auto& info) { return info.id == p; });
    if (known) {
      watch(p);
    } else {
      gone_(p, ra::StopReason::kNodeDown);
    }
  }
}

void ProcessWatch::forget_all() {
  for (const auto& [process, monitor] : monitors_) game_.cluster->demonitor(monitor);
  monitors_.clear();
  retry_.clear();
}

}  // namespace arena

namespace {

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void put_bytes(std::string& out, std::string_view s) {
  put(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}
template <typename T>
bool get(std::string_view& in, T& v) {
  if (in.size() < sizeof v) return false;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return true;
}
bool get_bytes(std::string_view& in, std::string& s) {
  std::uint32_t n = 0;
  if (!get(in, n) || in.size() < n) return false;
  s.assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

}  // namespace

void ringactor::cluster::Codec<arena::ToPlayer>::encode(const arena::ToPlayer& m, std::string& out) {
  put(out, m.kind);
  put(out, m.player);
  put(out, m.room_process);
  put(out, m.room);
  put(out, m.seat);
  put_bytes(out, m.text);
  put_bytes(out, m.frame);
}

bool ringactor::cluster::Codec<arena::ToPlayer>::decode(std::string_view in, arena::ToPlayer& m) {
  return get(in, m.kind) && m.kind <= arena::ToPlayer::kUnseated && get(in, m.player) && get(in, m.room_process) &&
         get(in, m.room) && get(in, m.seat) && get_bytes(in, m.text) && get_bytes(in, m.frame) && in.empty();
}
