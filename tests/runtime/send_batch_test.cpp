// Sends batched through the ring: when several connections have output at the end of an
// iteration (ReactorOptions::ring_send_batch), their sends go in one submission; the bytes
// are the same as with direct sends, and 0 keeps every send direct.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_support.hpp"

namespace {

using namespace ringactor::test;

// (append, not "r" + s: g++ 12 -O3 warns falsely about operator+(const char*, string&&))
std::string message(int round, std::size_t client) {
  return std::string("r").append(std::to_string(round)).append("c").append(std::to_string(client)).append(";");
}

// 64 clients write at once and each reads its echo back; returns the reactor's ring sends.
std::uint64_t echo_burst(std::uint32_t batch) {
  ServerThread server({.ring_send_batch = batch}, echo_factory());
  std::vector<Client> clients;
  for (int i = 0; i < 64; ++i) clients.emplace_back(server.port());
  for (int round = 0; round < 20; ++round) {
    for (std::size_t i = 0; i < clients.size(); ++i) {
      EXPECT_TRUE(clients[i].send_all(message(round, i)));
    }
    for (std::size_t i = 0; i < clients.size(); ++i) {
      const std::string want = message(round, i);
      EXPECT_EQ(clients[i].recv_exact(want.size()), want);
    }
  }
  const std::uint64_t ring = server.counters().ring_sends;
  server.stop();
  return ring;
}

TEST(SendBatch, ManyConnectionsWithOutputSendThroughTheRingAndLoseNothing) {
  EXPECT_GT(echo_burst(2), 0u) << "bursts of 64 connections are sent in one submission";
}

TEST(SendBatch, ZeroKeepsEverySendDirect) {
  EXPECT_EQ(echo_burst(0), 0u) << "small answers fit the socket: no ring send at all";
}

}  // namespace
