// The one place that packs and unpacks an io_uring `user_data` word.
//
// Every operation the reactor submits carries (kind, generation, slot index) so that its
// completion can be routed without a lookup table, and so that a completion arriving for a
// slot that was released and reused in the meantime is recognised and dropped (the
// generation no longer matches). Pure functions; any thread.
//
// Bit layout (most significant first):
//
//   63      56 55                  32 31                                  0
//   +---------+----------------------+------------------------------------+
//   |  kind   |  generation (24 bit) |          slot index (32 bit)       |
//   +---------+----------------------+------------------------------------+
#pragma once

#include <cstdint>

namespace ringactor::runtime {

// What a completion belongs to.
enum class OpKind : std::uint8_t {
  kNone = 0,     // never submitted; a zero user_data is a bug and is counted as stale
  kAccept = 1,   // multishot accept on a listener (index = listener index)
  kRecv = 2,     // multishot recv of a connection (index = connection slot)
  kSend = 3,     // sendmsg of a connection's output chain
  kWake = 4,     // read of the reactor's eventfd (invoke queue wake-up)
  kSignal = 5,   // read of the reactor's signalfd
  kCancel = 6,   // an ASYNC_CANCEL request; its own completion carries nothing
  kClose = 7,    // close of a connection's descriptor (index = connection slot)
  kNop = 8,      // NOP, used by tests to inject completions
  kFile = 9,     // a positional file read (index = file operation slot)
  kSendZc = 10,  // a zero-copy send (index = zero-copy context); two completions
  kSplice = 11,  // a splice of a file segment into the connection's pipe (index = slot)
  kPollOut = 12, // waiting for room in the socket to splice the pipe into (index = slot)
};

struct OpTag {
  OpKind kind = OpKind::kNone;
  std::uint32_t generation = 0;  // only the low kGenerationBits are kept
  std::uint32_t index = 0;

  friend bool operator==(const OpTag&, const OpTag&) = default;
};

inline constexpr unsigned kGenerationBits = 24;
inline constexpr std::uint32_t kGenerationMask = (1u << kGenerationBits) - 1;

constexpr std::uint64_t pack_user_data(OpTag tag) noexcept {
  return (static_cast<std::uint64_t>(tag.kind) << 56) |
         (static_cast<std::uint64_t>(tag.generation & kGenerationMask) << 32) |
         static_cast<std::uint64_t>(tag.index);
}

constexpr OpTag unpack_user_data(std::uint64_t data) noexcept {
  return OpTag{static_cast<OpKind>(data >> 56),
               static_cast<std::uint32_t>((data >> 32) & kGenerationMask),
               static_cast<std::uint32_t>(data)};
}

static_assert(unpack_user_data(pack_user_data({OpKind::kSend, 0xABCDEF, 0xFFFFFFFFu})) ==
              OpTag{OpKind::kSend, 0xABCDEF, 0xFFFFFFFFu});
static_assert(unpack_user_data(pack_user_data({OpKind::kRecv, 0x1ABCDEF, 7})).generation ==
              0xABCDEF, "generation is truncated to 24 bits");
static_assert(pack_user_data({OpKind::kNone, 0, 0}) == 0);

}  // namespace ringactor::runtime
