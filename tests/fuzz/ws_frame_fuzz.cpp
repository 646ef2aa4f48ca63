// libFuzzer target for the WebSocket frame reader (MessageReader) and the permessage-deflate
// inflater behind it.
//
// The first byte chooses the configuration (deflate on or off, the inflater reset per
// message or not, a small or large message limit) and where the rest is cut in two. Checks,
// beyond "no crash, no sanitizer report": a step consumes only what it was given; every
// message respects the limit and text is UTF-8; close codes are valid ones; and feeding the
// bytes in two pieces, the way the reactor re-presents unconsumed bytes, gives the same
// events as feeding them at once.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "ws_frame.hpp"

namespace ws = ringactor::http::detail::ws;
using ringactor::http::WsOpcode;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}

struct Event {
  int kind;
  int opcode;
  unsigned code;
  std::string payload;
  bool operator==(const Event&) const = default;
};

// Feeds `pieces` in order as the reactor would: unconsumed bytes stay and are presented
// again with the next piece. Stops at the first error.
std::vector<Event> run(const std::vector<std::string_view>& pieces, const ws::ReaderConfig& cfg) {
  std::vector<Event> out;
  ws::Partial* state = nullptr;
  ws::MessageReader reader(state);
  ws::ReaderScratch scratch;
  ws::Inflater inflater(15);
  std::string carry;
  bool failed = false;
  for (std::string_view piece : pieces) {
    carry.append(piece);
    std::size_t off = 0;
    while (!failed && off < carry.size()) {
      const std::string_view in = std::string_view(carry).substr(off);
      const auto r = reader.next(in, cfg, scratch, cfg.deflate ? &inflater : nullptr);
      check(r.consumed <= in.size());
      off += r.consumed;
      using E = ws::MessageReader::Event;
      if (r.event == E::kNeedMore) break;
      if (r.event == E::kMessage) {
        check(r.payload.size() <= cfg.max_message);
        if (r.opcode == WsOpcode::kText) check(ws::valid_utf8(r.payload));
      }
      if (r.event == E::kClose) check(r.code == 1005 || ws::valid_close_code(r.code));
      if (r.event == E::kPing || r.event == E::kPong) check(r.payload.size() <= 125);
      if (r.event == E::kError) {
        check(r.code == 1002 || r.code == 1007 || r.code == 1009);
        failed = true;
      }
      out.push_back({static_cast<int>(r.event), static_cast<int>(r.opcode), r.code, std::string(r.payload)});
    }
    carry.erase(0, off);
    if (failed) break;
  }
  ws::destroy(state);
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  ws::ReaderConfig cfg;
  cfg.deflate = (data[0] & 1) != 0;
  cfg.reset_inflater = (data[0] & 2) != 0;
  cfg.max_message = (data[0] & 4) != 0 ? 300 : 64 * 1024;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t cut = (static_cast<std::size_t>(data[0]) * 7) % in.size();
  const std::vector<Event> whole = run({in}, cfg);
  const std::vector<Event> split = run({in.substr(0, cut), in.substr(cut)}, cfg);
  check(whole == split);
  // Byte by byte, for short inputs.
  if (in.size() <= 64) {
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < in.size(); ++i) bytes.push_back(in.substr(i, 1));
    check(run(bytes, cfg) == whole);
  }
  // The UTF-8 validator agrees with itself across a split.
  ws::Utf8Validator a;
  const bool ok1 = a.feed(in.substr(0, cut)) && a.feed(in.substr(cut)) && a.complete();
  check(ok1 == ws::valid_utf8(in));
  return 0;
}
