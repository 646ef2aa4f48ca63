// The messages of demos/cluster, with their codecs: what crosses processes is a plain
// struct with a cluster::Codec (here TrivialCodec: both sides run the same build).
// tests/cluster uses them too.
#pragma once

#include <cstdint>
#include <string_view>

#include <ringactor/cluster/codec.hpp>

struct Move {
  std::uint32_t seq;
  float x, y;
};
template <>
struct ringactor::cluster::Codec<Move> : ringactor::cluster::TrivialCodec<Move> {
  static constexpr std::string_view name = "test.Move";
};

struct GetScore {
  std::uint32_t bonus;
};
template <>
struct ringactor::cluster::Codec<GetScore> : ringactor::cluster::TrivialCodec<GetScore> {
  static constexpr std::string_view name = "test.GetScore";
};

// What a room saw, and its process's cluster counters.
struct GetStats {
  std::uint8_t unused;
};
template <>
struct ringactor::cluster::Codec<GetStats> : ringactor::cluster::TrivialCodec<GetStats> {
  static constexpr std::string_view name = "test.GetStats";
};
struct RoomStats {
  std::uint64_t moves;       // Move messages the room took
  std::uint64_t in_order;    // of which each one's seq was the previous one's + 1
  std::uint64_t last;        // the seq of the last Move
  std::uint64_t lost;        // ClusterCounters::lost of its process
  std::uint64_t reconnects;  // ClusterCounters::reconnects of its process
  std::uint64_t downs;       // ClusterCounters::downs of its process
};
template <>
struct ringactor::cluster::Codec<RoomStats> : ringactor::cluster::TrivialCodec<RoomStats> {
  static constexpr std::string_view name = "test.RoomStats";
};
