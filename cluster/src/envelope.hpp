// Private: the wire format of one cluster message (a NATS message's payload), and its
// parser, which every byte from the network goes through (fuzzed: tests/fuzz).
//
// Layout, little-endian, version 1:
//   u8  magic 'R'        u8  version (1)      u8 kind        u8 flags (0)
//   u64 sender           the sending process's id
//   u64 correlation      ask / reply / error: the asker's request number; else 0
//   u64 extra            on a process's own subject and on topics: the sender's sequence
//                        number there (1, 2, ...: a gap is counted as lost); heartbeat: the
//                        sender's load; name remove: the StopReason; else 0
//   u8  type length      then the type tag (Codec<T>::name), at most 255 bytes
//   u16 name length      then the target name (tell, ask), the name (add, remove), the topic
//                        (topic), the sender's process name (hello, names, heartbeat) or nothing,
//                        at most 1,024 bytes
//   u32 payload length   then the payload (the codec's bytes, an error text, a name list,
//                        a topic message)
// Nothing may follow the payload. A message that breaks any of this is malformed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringactor::cluster::detail {

enum class Kind : std::uint8_t {
  kTell = 1,       // a message for a named actor
  kAsk = 2,        // the same, answered with kReply or kError
  kReply = 3,      // an ask's value (payload: the reply codec's bytes)
  kError = 4,      // an ask's failure (type: the AskError name; payload: the message)
  kHello = 5,      // a process joined (or reconnected, or was heard from again): payload: its
                   // names as in kNames; the others answer with kNames on its own subject
  kNames = 6,      // every name the sender holds (payload: names, each u16 length + bytes)
  kNameAdd = 7,    // the sender registered `name`
  kNameRemove = 8, // the sender dropped `name` (extra: why, an actors::StopReason)
  kHeartbeat = 9,  // the sender is alive (extra: its load)
  kBye = 10,       // the sender is leaving (its names go with it)
  kTopic = 11,     // a topic message (name: the topic; payload: the message)
};
inline constexpr std::uint8_t kMaxKind = 11;

inline constexpr std::size_t kMaxType = 255;
inline constexpr std::size_t kMaxName = 1024;
inline constexpr std::size_t kFixedBytes = 4 + 8 + 8 + 8 + 1 + 2 + 4;

struct Envelope {
  Kind kind = Kind::kTell;
  std::uint64_t sender = 0;
  std::uint64_t correlation = 0;
  std::uint64_t extra = 0;
  std::string_view type;     // views into the parsed bytes
  std::string_view name;
  std::string_view payload;
};

enum class ParseError : std::uint8_t { kNone, kShort, kMagic, kVersion, kKind, kFlags, kTypeLength, kNameLength, kPayloadLength };
const char* to_string(ParseError e) noexcept;

// Parses `bytes` into `out` (views into `bytes`).
ParseError parse(std::string_view bytes, Envelope& out) noexcept;

// Appends an envelope to `out`. `type` and `name` must fit their limits (checked: throws
// std::invalid_argument), the payload at most 4 GiB.
void write(std::string& out, Kind kind, std::uint64_t sender, std::uint64_t correlation, std::uint64_t extra,
           std::string_view type, std::string_view name, std::string_view payload);

// The same in two steps, for a payload encoded in place: write_head() appends everything
// before the payload (its length 0), the caller appends the payload, close_payload() sets
// its length. `head_at` is where write_head started in `out`; returns the head's size.
std::size_t write_head(std::string& out, Kind kind, std::uint64_t sender, std::uint64_t correlation,
                       std::uint64_t extra, std::string_view type, std::string_view name);
void close_payload(std::string& out, std::size_t head_at, std::size_t head_size);

// kNames payloads: a run of (u16 length, bytes).
void append_name(std::string& out, std::string_view name);
// Calls fn(name) for each; false when the run is malformed (the names before it were given).
template <typename F>
bool for_each_name(std::string_view run, F&& fn) {
  while (!run.empty()) {
    if (run.size() < 2) return false;
    const std::size_t n = static_cast<unsigned char>(run[0]) | (static_cast<std::size_t>(static_cast<unsigned char>(run[1])) << 8);
    if (n == 0 || n > kMaxName || run.size() < 2 + n) return false;
    fn(run.substr(2, n));
    run.remove_prefix(2 + n);
  }
  return true;
}

}  // namespace ringactor::cluster::detail
