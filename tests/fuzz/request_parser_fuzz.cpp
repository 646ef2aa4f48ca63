// libFuzzer target for the HTTP request parser and the chunked decoder.
//
// Checks, beyond "no crash, no sanitizer report": a complete head lies within the input and
// its views point into it; feeding the same bytes in two pieces (the parser resuming its
// search) gives the same verdict as feeding them at once; a head parsed by the one-pass path
// (all bytes at once) equals, field by field, the general path's (one byte first, then all);
// the chunked decoder consumes only what it was given and never emits more body than it
// consumed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <ringactor/http/request_parser.hpp>

namespace rh = ringactor::http;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}
// Same view: same bytes at the same place (both parsers point into the one input).
bool same(std::string_view a, std::string_view b) { return a.size() == b.size() && (a.empty() || a.data() == b.data()); }
bool same_head(const rh::RequestHead& a, const rh::RequestHead& b) {
  if (!same(a.method, b.method) || !same(a.target, b.target) || !same(a.path, b.path) || !same(a.query, b.query) ||
      !same(a.authority, b.authority) || a.version_minor != b.version_minor || a.content_length != b.content_length ||
      a.chunked != b.chunked || a.keep_alive != b.keep_alive || a.expect_continue != b.expect_continue ||
      a.head_bytes != b.head_bytes || a.headers.size() != b.headers.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    if (!same(a.headers[i].name, b.headers[i].name) || !same(a.headers[i].value, b.headers[i].value)) return false;
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const rh::Limits limits{.max_request_line = 512, .max_header_bytes = 1024, .max_headers = 16, .max_body = 4096};

  rh::RequestParser whole(limits);
  rh::RequestHead head;
  const auto r = whole.parse(in, head);
  if (r.status == rh::RequestParser::Status::kComplete) {
    check(head.head_bytes <= in.size());
    check(inside(head.method, in) && inside(head.target, in) && inside(head.query, in));
    for (const auto& h : head.headers) check(inside(h.name, in) && inside(h.value, in));
  }

  // The general path: after one byte alone the parser resumes a search, which the one-pass
  // path never does. Both must give the same verdict and the same head.
  if (size > 1) {
    rh::RequestParser general(limits);
    rh::RequestHead head1;
    if (general.parse(in.substr(0, 1), head1).status == rh::RequestParser::Status::kIncomplete) {
      const auto again = general.parse(in, head1);
      check(again.status == r.status);
      check(again.error == r.error);
      if (again.status == rh::RequestParser::Status::kComplete) check(same_head(head, head1));
    }
  }

  // The same bytes in two pieces.
  if (size > 1) {
    const std::size_t cut = data[0] % size;
    rh::RequestParser split(limits);
    rh::RequestHead head2;
    const auto first = split.parse(in.substr(0, cut), head2);
    if (first.status == rh::RequestParser::Status::kIncomplete) {
      const auto second = split.parse(in, head2);
      check(second.status == r.status);
      check(second.error == r.error);
      if (second.status == rh::RequestParser::Status::kComplete) check(head2.head_bytes == head.head_bytes);
    }
  }

  // Whatever follows a complete chunked head goes through the decoder.
  std::string_view body = in;
  if (r.status == rh::RequestParser::Status::kComplete) body.remove_prefix(head.head_bytes);
  rh::ChunkedDecoder decoder(limits.max_body, 256);
  std::size_t consumed = 0;
  std::uint64_t emitted = 0;
  for (int steps = 0; steps < 100000; ++steps) {
    const auto step = decoder.next(body.substr(consumed));
    check(step.consumed <= body.size() - consumed);
    check(step.data.size() <= step.consumed);
    check(inside(step.data, body));
    consumed += step.consumed;
    emitted += step.data.size();
    if (step.status != rh::ChunkedDecoder::Status::kData) break;
  }
  check(emitted <= limits.max_body);
  check(emitted == decoder.body_bytes() || !decoder.done());
  return 0;
}
