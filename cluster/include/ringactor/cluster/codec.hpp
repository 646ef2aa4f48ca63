// Codecs: how a message type crosses processes. A remote message is a plain struct with a
// Codec specialisation; closures and pointers never cross. A type without one does not
// compile for remote use (Cluster's tell and ask require `Remote<T>`).
//
//   struct Move { std::uint32_t seat; float x, y; };          // trivially copyable
//   template <> struct ringactor::cluster::Codec<Move> : ringactor::cluster::TrivialCodec<Move> {
//     static constexpr std::string_view name = "arena.Move";   // the type tag on the wire
//   };
//
//   struct Chat { std::string from, text; };                   // anything nlohmann-json maps
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Chat, from, text)
//   template <> struct ringactor::cluster::Codec<Chat> : ringactor::cluster::JsonCodec<Chat> {
//     static constexpr std::string_view name = "arena.Chat";
//   };
//
// A codec has a `name` (the type tag, unique in the cluster, at most 255 bytes), `encode`
// (appends the bytes to a string) and `decode` (false for bytes that do not make a value:
// the message is then counted as malformed and dropped, never half-delivered).
//
// TrivialCodec copies the object's bytes: both processes must share the type's layout
// (same build of the struct, same architecture: little-endian is checked). JsonCodec
// writes JSON through nlohmann-json: slower and larger, but tolerant of added fields and
// readable on the wire.
//
// Threads: encode and decode run on the sending thread and on the NATS client's delivery
// thread; they must not touch shared state.
#pragma once

#include <bit>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace ringactor::cluster {

// Specialise for each message type (see above). No definition: no codec, no remote use.
template <typename T>
struct Codec;

// A type that can cross processes: its Codec has a name, encode and decode.
template <typename T>
concept Remote = requires(const T& value, T& out, std::string& bytes, std::string_view in) {
  { Codec<T>::name } -> std::convertible_to<std::string_view>;
  Codec<T>::encode(value, bytes);
  { Codec<T>::decode(in, out) } -> std::same_as<bool>;
};

// The object's bytes as they are in memory.
template <typename T>
struct TrivialCodec {
  static_assert(std::is_trivially_copyable_v<T>, "TrivialCodec: the type must be trivially copyable");
  static_assert(std::endian::native == std::endian::little, "TrivialCodec: little-endian machines only");
  static void encode(const T& value, std::string& out) {
    const std::size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &value, sizeof(T));
  }
  static bool decode(std::string_view in, T& out) {
    if (in.size() != sizeof(T)) return false;
    std::memcpy(&out, in.data(), sizeof(T));
    return true;
  }
};

// JSON through nlohmann-json (to_json / from_json for T must exist).
template <typename T>
struct JsonCodec {
  static void encode(const T& value, std::string& out) { out += nlohmann::json(value).dump(); }
  static bool decode(std::string_view in, T& out) {
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return false;
    try {
      j.get_to(out);
      return true;
    } catch (const nlohmann::json::exception&) {
      return false;
    }
  }
};

// Replies without a value (an ask whose handler returns void) carry this.
struct Empty {};
template <>
struct Codec<Empty> {
  static constexpr std::string_view name = "ringactor.Empty";
  static void encode(const Empty&, std::string&) {}
  static bool decode(std::string_view in, Empty&) { return in.empty(); }
};

// Ready codecs for the common scalar replies.
template <>
struct Codec<std::string> {
  static constexpr std::string_view name = "ringactor.string";
  static void encode(const std::string& s, std::string& out) { out += s; }
  static bool decode(std::string_view in, std::string& out) {
    out.assign(in);
    return true;
  }
};
#define RINGACTOR_CLUSTER_SCALAR_CODEC(type, tag)                   \
  template <>                                                       \
  struct Codec<type> : TrivialCodec<type> {                         \
    static constexpr std::string_view name = "ringactor." tag;      \
  };
RINGACTOR_CLUSTER_SCALAR_CODEC(bool, "bool")
RINGACTOR_CLUSTER_SCALAR_CODEC(std::int32_t, "i32")
RINGACTOR_CLUSTER_SCALAR_CODEC(std::uint32_t, "u32")
RINGACTOR_CLUSTER_SCALAR_CODEC(std::int64_t, "i64")
RINGACTOR_CLUSTER_SCALAR_CODEC(std::uint64_t, "u64")
RINGACTOR_CLUSTER_SCALAR_CODEC(double, "f64")
#undef RINGACTOR_CLUSTER_SCALAR_CODEC

}  // namespace ringactor::cluster
