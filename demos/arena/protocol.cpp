// The arena's wire protocol (see protocol.hpp).
#include "protocol.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

namespace arena {

namespace {

// Little-endian writes into a buffer sized beforehand (no capacity check per byte).
struct Writer {
  char* p;
  void u8(std::uint8_t v) { *p++ = static_cast<char>(v); }
  void u16(std::uint16_t v) {
    u8(static_cast<std::uint8_t>(v & 0xFF));
    u8(static_cast<std::uint8_t>(v >> 8));
  }
  void u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v & 0xFFFF));
    u16(static_cast<std::uint16_t>(v >> 16));
  }
};

bool printable_name(std::string_view name) {
  if (name.empty() || name.size() > 16) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7F; });
}

}  // namespace

FrameEncoder::Quant FrameEncoder::quantise(const Unit& u) {
  Quant q;
  q.x = static_cast<std::uint16_t>(std::lround(std::clamp(u.x / kMapSize, 0.0f, 1.0f) * 65535.0f));
  q.y = static_cast<std::uint16_t>(std::lround(std::clamp(u.y / kMapSize, 0.0f, 1.0f) * 65535.0f));
  // Living units never read 0: ceil keeps a scratch of health visible.
  q.hp = u.alive() ? static_cast<std::uint8_t>(std::clamp(std::ceil(u.hp / kUnitHp * 255.0f), 1.0f, 255.0f)) : 0;
  q.sent = true;
  return q;
}

std::string FrameEncoder::next(const World& w, Phase phase, std::uint16_t ticks_left,
                               const std::vector<SeatLine>& seats) {
  const bool full = seq_ % kFullEvery == 0 || last_.size() != w.units.size();
  if (last_.size() != w.units.size()) last_.assign(w.units.size(), Quant{});
  return encode(w, phase, ticks_left, seats, full, seq_++, &last_);
}

std::string FrameEncoder::full(const World& w, Phase phase, std::uint16_t ticks_left,
                               const std::vector<SeatLine>& seats) const {
  return encode(w, phase, ticks_left, seats, true, seq_ == 0 ? 0 : seq_ - 1, nullptr);
}

std::string FrameEncoder::encode(const World& w, Phase phase, std::uint16_t ticks_left,
                                 const std::vector<SeatLine>& seats, bool full, std::uint32_t seq,
                                 std::vector<Quant>* baseline) const {
  std::string out(kFrameHeader + seats.size() * 8 + 2 + w.units.size() * 8, '\0');
  Writer wr{out.data()};
  wr.u8(kFrameVersion);
  wr.u8(full ? 0 : 1);
  wr.u32(seq);
  wr.u32(w.tick);
  wr.u16(ticks_left);
  wr.u8(static_cast<std::uint8_t>(phase));
  wr.u8(static_cast<std::uint8_t>(seats.size()));
  for (const SeatLine& s : seats) {
    wr.u16(s.kills);
    wr.u16(s.alive);
    wr.u32(s.last_input_seq);
  }
  Writer count_at = wr;
  wr.u16(0);
  std::uint16_t count = 0;
  for (const Unit& u : w.units) {
    const Quant q = quantise(u);
    bool include = full ? u.alive() : true;
    if (baseline != nullptr) {
      Quant& last = (*baseline)[u.id];
      if (!full) include = last.sent ? !(last == q) : u.alive();
      if (include || full) last = q;
    }
    if (!include) continue;
    wr.u16(u.id);
    wr.u8(u.seat);
    wr.u8(q.hp);
    wr.u16(q.x);
    wr.u16(q.y);
    ++count;
  }
  count_at.u16(count);
  out.resize(static_cast<std::size_t>(wr.p - out.data()));
  return out;
}

std::optional<ClientMessage> parse_client_message(std::string_view text, std::string& error) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    error = "not a JSON object";
    return std::nullopt;
  }
  const auto type = j.find("t");
  if (type == j.end() || !type->is_string()) {
    error = "no \"t\" (type) field";
    return std::nullopt;
  }
  ClientMessage m;
  const std::string& t = type->get_ref<const std::string&>();
  if (t == "join") {
    const auto name = j.find("name");
    if (name == j.end() || !name->is_string() || !printable_name(name->get_ref<const std::string&>())) {
      error = "join needs a name of 1..16 printable characters";
      return std::nullopt;
    }
    m.type = ClientMessage::Type::kJoin;
    m.name = name->get<std::string>();
  } else if (t == "rejoin") {
    const auto token = j.find("token");
    if (token == j.end() || !token->is_string() || token->get_ref<const std::string&>().size() != 32) {
      error = "rejoin needs the 32-character token given at join";
      return std::nullopt;
    }
    m.type = ClientMessage::Type::kRejoin;
    m.token = token->get<std::string>();
  } else if (t == "input") {
    const auto seq = j.find("seq");
    const auto x = j.find("x");
    const auto y = j.find("y");
    if (seq == j.end() || !seq->is_number_unsigned() || x == j.end() || !x->is_number() || y == j.end() ||
        !y->is_number()) {
      error = "input needs seq (unsigned), x and y (numbers)";
      return std::nullopt;
    }
    const double fx = x->get<double>(), fy = y->get<double>();
    if (!(fx >= 0 && fx <= kMapSize && fy >= 0 && fy <= kMapSize) || seq->get<std::uint64_t>() > 0xFFFFFFFFu) {
      error = "input out of range (x, y in 0..1000, seq < 2^32)";
      return std::nullopt;
    }
    m.type = ClientMessage::Type::kInput;
    m.seq = static_cast<std::uint32_t>(seq->get<std::uint64_t>());
    m.x = static_cast<float>(fx);
    m.y = static_cast<float>(fy);
  } else if (t == "leave") {
    m.type = ClientMessage::Type::kLeave;
  } else {
    error = "unknown message type";
    return std::nullopt;
  }
  return m;
}

}  // namespace arena
