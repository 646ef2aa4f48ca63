// libFuzzer target for the cluster's envelope parser (cluster/src/envelope.hpp), which every
// byte that arrives from NATS goes through, and the name lists inside kNames payloads.
// Checks, beyond "no crash, no sanitizer report": the views of a parsed envelope lie inside
// the input and within their limits; writing the parsed fields back gives the input
// byte for byte (the format has one encoding per message); names in a list are 1 to 1,024
// bytes and lie inside the payload.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "envelope.hpp"

namespace d = ringactor::cluster::detail;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  d::Envelope e;
  if (d::parse(in, e) != d::ParseError::kNone) return 0;
  check(inside(e.type, in) && inside(e.name, in) && inside(e.payload, in));
  check(e.type.size() <= d::kMaxType && e.name.size() <= d::kMaxName);
  std::string again;
  d::write(again, e.kind, e.sender, e.correlation, e.extra, e.type, e.name, e.payload);
  check(again == in);
  d::for_each_name(e.payload, [&](std::string_view name) {
    check(!name.empty() && name.size() <= d::kMaxName && inside(name, e.payload));
  });
  return 0;
}
