// Messages shared by the cluster tests and their test node (cluster_node.cpp), with codecs.
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

// What a test node's room saw, and its process's cluster counters.
struct GetStats {
  std::uint8_t unused;
};
template <>
struct ringactor::cluster::Codec<GetStats> : ringactor::cluster::TrivialCodec<GetStats> {
  static constexpr std::string_view name = "test.GetStats";
};
struct NodeStats {
  std::uint64_t moves;       // Move messages the room took
  std::uint64_t in_order;    // of which each one's seq was the previous one's + 1
  std::uint64_t last;        // the seq of the last Move
  std::uint64_t lost;        // ClusterCounters::lost of the node
  std::uint64_t reconnects;  // ClusterCounters::reconnects of the node
  std::uint64_t downs;       // ClusterCounters::downs of the node
};
template <>
struct ringactor::cluster::Codec<NodeStats> : ringactor::cluster::TrivialCodec<NodeStats> {
  static constexpr std::string_view name = "test.NodeStats";
};
