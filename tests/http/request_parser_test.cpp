// Covers RequestParser, ChunkedDecoder and percent_decode_path: every rule and limit of
// RFC 9112 the server enforces, incremental feeding byte by byte, and the statuses.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include <ringactor/http/request_parser.hpp>

namespace rh = ringactor::http;
using Status = rh::RequestParser::Status;

namespace {

struct Parsed {
  rh::RequestParser::Result result;
  rh::RequestHead head;
};

// The head's views point into the input, so inputs are kept for the whole test run.
std::string_view keep(std::string text) {
  static std::deque<std::string> inputs;
  return inputs.emplace_back(std::move(text));
}

Parsed parse(const std::string& text, rh::Limits limits = {}) {
  rh::RequestParser p(limits);
  Parsed out{{Status::kIncomplete}, {}};
  out.result = p.parse(keep(text), out.head);
  return out;
}

rh::ParseError error_of(const std::string& text, rh::Limits limits = {}) {
  const auto p = parse(text, limits);
  EXPECT_EQ(p.result.status, Status::kError) << text;
  return p.result.error;
}

}  // namespace

TEST(RequestParser, ParsesASimpleGet) {
  const std::string req = "GET /hello/world?x=1&y=2 HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\nNEXT";
  auto p = parse(req);
  ASSERT_EQ(p.result.status, Status::kComplete);
  EXPECT_EQ(p.head.method, "GET");
  EXPECT_EQ(p.head.target, "/hello/world?x=1&y=2");
  EXPECT_EQ(p.head.path, "/hello/world");
  EXPECT_EQ(p.head.query, "x=1&y=2");
  EXPECT_EQ(p.head.version_minor, 1);
  EXPECT_TRUE(p.head.keep_alive);
  EXPECT_FALSE(p.head.has_body());
  EXPECT_EQ(p.head.head_bytes, req.size() - 4);
  ASSERT_EQ(p.head.headers.size(), 2u);
  EXPECT_EQ(p.head.header("ACCEPT").value(), "*/*");
  EXPECT_FALSE(p.head.header("missing").has_value());
}

TEST(RequestParser, IncompleteUntilTheBlankLineEvenByteByByte) {
  const std::string req = "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX-Trim:   spaced value \t\r\n\r\n";
  rh::RequestParser p;
  rh::RequestHead head;
  for (std::size_t n = 1; n < req.size(); ++n) {
    const auto r = p.parse(std::string_view(req).substr(0, n), head);
    ASSERT_EQ(r.status, Status::kIncomplete) << n;
  }
  const auto r = p.parse(req, head);
  ASSERT_EQ(r.status, Status::kComplete);
  EXPECT_EQ(head.content_length.value(), 5u);
  EXPECT_EQ(head.header("x-trim").value(), "spaced value");
}

TEST(RequestParser, KeepAliveRules) {
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").head.keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").head.keep_alive) << "HTTP/1.0 closes by default";
  EXPECT_TRUE(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").head.keep_alive);
  EXPECT_TRUE(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade, keep-alive\r\n\r\n").head.keep_alive);
  EXPECT_EQ(parse("GET / HTTP/1.0\r\n\r\n").result.status, Status::kComplete) << "no Host needed in 1.0";
}

TEST(RequestParser, TargetForms) {
  auto abs = parse("GET http://example.com:8080/a/b?c HTTP/1.1\r\nHost: example.com\r\n\r\n");
  ASSERT_EQ(abs.result.status, Status::kComplete);
  EXPECT_EQ(abs.head.path, "/a/b");
  EXPECT_EQ(abs.head.query, "c");
  auto bare = parse("GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
  ASSERT_EQ(bare.result.status, Status::kComplete);
  EXPECT_EQ(bare.head.path, "/");
  auto query_only = parse("GET http://example.com?q=1 HTTP/1.1\r\nHost: other\r\n\r\n");
  ASSERT_EQ(query_only.result.status, Status::kComplete);
  EXPECT_EQ(query_only.head.path, "/");
  EXPECT_EQ(query_only.head.query, "q=1");
  EXPECT_EQ(query_only.head.authority, "example.com") << "the target's authority wins over Host";
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: h:8080\r\n\r\n").head.authority, "h:8080");
  auto star = parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(star.result.status, Status::kComplete);
  EXPECT_EQ(star.head.path, "*");
  EXPECT_EQ(error_of("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), rh::ParseError::kBadRequest);
  EXPECT_EQ(error_of("CONNECT example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n"), rh::ParseError::kNotImplemented);
  EXPECT_EQ(error_of("GET relative HTTP/1.1\r\nHost: h\r\n\r\n"), rh::ParseError::kBadRequest);
  EXPECT_EQ(error_of("GET ftp://x/ HTTP/1.1\r\nHost: h\r\n\r\n"), rh::ParseError::kBadRequest);
}

TEST(RequestParser, MalformedSyntaxIs400) {
  using E = rh::ParseError;
  EXPECT_EQ(error_of("GET / HTTP/1.1X\nHost: h\r\n\r\n"), E::kBadRequest) << "bare LF in request line";
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\n\r\n"), E::kBadRequest) << "bare LF in a header";
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n"), E::kBadRequest) << "obs-fold";
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"), E::kBadRequest);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nX : y\r\n\r\n"), E::kBadRequest) << "space before colon";
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n"), E::kBadRequest) << "control char";
  EXPECT_EQ(error_of(std::string("GET / HTTP/1.1\r\nHost: h\r\nX: a") + '\0' + "b\r\n\r\n"), E::kBadRequest) << "NUL";
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"), E::kBadRequest) << "lone CR";
  EXPECT_EQ(error_of("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), E::kBadRequest) << "two spaces";
  EXPECT_EQ(error_of("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), E::kBadRequest);
  EXPECT_EQ(error_of("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), E::kBadRequest) << "method not a token";
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\n\r\n"), E::kBadRequest) << "HTTP/1.1 without Host";
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), E::kBadRequest) << "two Hosts";
  EXPECT_EQ(error_of("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), E::kBadRequest);
  EXPECT_EQ(error_of("GET / HTTP/1.x\r\nHost: h\r\n\r\n"), E::kBadRequest);
  EXPECT_EQ(error_of("\r\nGET / HTTP/1.1\r\n\r\n"), E::kBadRequest) << "empty request line";
  EXPECT_EQ(error_of("\r\n"), E::kBadRequest) << "refused at once, not after waiting for more";
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), E::kBadRequest) << "invalid Host";
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: a, b\r\n\r\n"), E::kBadRequest) << "a list of hosts";
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: x/y\r\n\r\n"), E::kBadRequest);
}

TEST(RequestParser, VersionsOtherThanOneAre505) {
  EXPECT_EQ(error_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), rh::ParseError::kVersionNotSupported);
  EXPECT_EQ(error_of("GET / HTTP/0.9\r\n\r\n"), rh::ParseError::kVersionNotSupported);
  auto later_minor = parse("GET / HTTP/1.7\r\nHost: h\r\n\r\n");
  ASSERT_EQ(later_minor.result.status, Status::kComplete);
  EXPECT_EQ(later_minor.head.version_minor, 1) << "a later 1.x is handled as 1.1";
}

TEST(RequestParser, FramingAmbiguityIsRefused) {
  using E = rh::ParseError;
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
            E::kBadRequest);
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"), E::kBadRequest);
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\n"), E::kBadRequest);
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"), E::kBadRequest);
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n"), E::kBadRequest);
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n"), E::kBadRequest);
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ,\r\nTransfer-Encoding: chunked\r\n\r\n"),
            E::kBadRequest)
      << "a Content-Length without a value still conflicts with Transfer-Encoding";
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n"), E::kBadRequest);
  auto same = parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\n");
  ASSERT_EQ(same.result.status, Status::kComplete) << "identical values are one value";
  EXPECT_EQ(same.head.content_length.value(), 3u);
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"), E::kNotImplemented);
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), E::kNotImplemented);
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), E::kBadRequest);
  EXPECT_EQ(error_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), E::kBadRequest);
  auto chunked = parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n");
  ASSERT_EQ(chunked.result.status, Status::kComplete);
  EXPECT_TRUE(chunked.head.chunked);
}

TEST(RequestParser, LimitsAnswerTheirStatuses) {
  rh::Limits small{.max_request_line = 64, .max_header_bytes = 128, .max_headers = 3, .max_body = 10};
  const std::string long_target = "GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n";
  EXPECT_EQ(error_of(long_target, small), rh::ParseError::kUriTooLong);
  // Also while the line is still arriving: no need to wait for its end.
  EXPECT_EQ(error_of("GET /" + std::string(100, 'a'), small), rh::ParseError::kUriTooLong);
  std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 3; ++i) many.append("X").append(std::to_string(i)).append(": v\r\n");
  EXPECT_EQ(error_of(many + "\r\n", small), rh::ParseError::kHeadersTooLarge) << "4 headers, limit 3";
  const std::string fat = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(200, 'v') + "\r\n\r\n";
  EXPECT_EQ(error_of(fat, small), rh::ParseError::kHeadersTooLarge);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(200, 'v'), small),
            rh::ParseError::kHeadersTooLarge)
      << "refused before the head is complete";
  EXPECT_EQ(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", small), rh::ParseError::kPayloadTooLarge);
  // Exactly at each limit is accepted.
  const std::string line_at_limit = "GET /" + std::string(64 - 14, 'a') + " HTTP/1.1";  // 64 bytes
  ASSERT_EQ(line_at_limit.size(), 64u);
  EXPECT_EQ(parse(line_at_limit + "\r\nHost: h\r\n\r\n", small).result.status, Status::kComplete);
  EXPECT_EQ(error_of("GET /" + std::string(64 - 13, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", small),
            rh::ParseError::kUriTooLong)
      << "one byte over";
  std::string three = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
  EXPECT_EQ(parse(three, small).result.status, Status::kComplete) << "3 headers, limit 3";
  const std::string hdr = "Host: h\r\nX: " + std::string(128 - 9 - 5, 'v') + "\r\n";  // 128 bytes
  ASSERT_EQ(hdr.size(), 128u);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\n" + hdr + "\r\n", small).result.status, Status::kComplete);
  EXPECT_EQ(error_of("GET / HTTP/1.1\r\n" + hdr.substr(0, 11) + "v" + hdr.substr(11) + "\r\n", small),
            rh::ParseError::kHeadersTooLarge)
      << "one byte over";
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n", small).result.status,
            Status::kComplete);
  // A long request line is refused as soon as it is complete, not when the headers end.
  EXPECT_EQ(error_of("GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: h\r\n", small),
            rh::ParseError::kUriTooLong);
  // "Unlimited" limits do not wrap around.
  rh::Limits huge{.max_request_line = SIZE_MAX, .max_header_bytes = SIZE_MAX, .max_headers = SIZE_MAX,
                  .max_body = UINT64_MAX};
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: h\r\n", huge).result.status, Status::kIncomplete);
  EXPECT_EQ(parse("GET /abc", huge).result.status, Status::kIncomplete);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n", huge).result.status, Status::kComplete);
  EXPECT_EQ(rh::status_of(rh::ParseError::kUriTooLong), 414);
  EXPECT_EQ(rh::status_of(rh::ParseError::kHeadersTooLarge), 431);
  EXPECT_EQ(rh::status_of(rh::ParseError::kPayloadTooLarge), 413);
  EXPECT_EQ(rh::status_of(rh::ParseError::kVersionNotSupported), 505);
  EXPECT_EQ(rh::status_of(rh::ParseError::kNotImplemented), 501);
  EXPECT_EQ(rh::status_of(rh::ParseError::kBadRequest), 400);
}

TEST(RequestParser, ExpectContinue) {
  EXPECT_TRUE(parse("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").head.expect_continue);
  EXPECT_FALSE(parse("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").head.expect_continue);
}

TEST(RequestParser, PipelinedRequestsParseOneAfterAnother) {
  std::string stream;
  for (int i = 0; i < 100; ++i) stream += "GET /r" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\n\r\n";
  rh::RequestParser p;
  rh::RequestHead head;
  std::string_view rest = stream;
  for (int i = 0; i < 100; ++i) {
    const auto r = p.parse(rest, head);
    ASSERT_EQ(r.status, Status::kComplete) << i;
    EXPECT_EQ(head.path, "/r" + std::to_string(i));
    rest.remove_prefix(head.head_bytes);
  }
  EXPECT_TRUE(rest.empty());
}

// The one-pass path scans a target and a field value sixteen bytes at a time. A byte that
// ends either run, placed at every offset of runs up to 40 bytes long, must give the verdict
// and the fields of the general path (reached by feeding one byte first: the parser then
// resumes a search, which the one-pass path never does).
TEST(RequestParser, OnePassScansAgreeWithTheGeneralPathAtEveryOffset) {
  const std::string enders = std::string("? \t\x7f\x80\xff%\r\n", 10) + std::string(1, '\0') + "\x01\x1f";
  auto compare = [](const std::string& text) {
    const std::string_view in = keep(text);
    rh::RequestParser fast;
    rh::RequestHead a;
    const auto ra = fast.parse(in, a);
    rh::RequestParser general;
    rh::RequestHead b;
    ASSERT_EQ(general.parse(in.substr(0, 1), b).status, Status::kIncomplete);
    const auto rb = general.parse(in, b);
    ASSERT_EQ(ra.status, rb.status) << testing::PrintToString(text);
    ASSERT_EQ(ra.error, rb.error) << testing::PrintToString(text);
    if (ra.status != Status::kComplete) return;
    EXPECT_EQ(a.target, b.target);
    EXPECT_EQ(a.path, b.path);
    EXPECT_EQ(a.query, b.query);
    EXPECT_EQ(a.head_bytes, b.head_bytes);
    ASSERT_EQ(a.headers.size(), b.headers.size());
    for (std::size_t i = 0; i < a.headers.size(); ++i) EXPECT_EQ(a.headers[i].value, b.headers[i].value);
  };
  int complete = 0;
  int refused = 0;
  for (std::size_t len = 1; len <= 40; ++len) {
    for (std::size_t at = 0; at < len; ++at) {
      for (const char c : enders) {
        // (append, not "literal" + string: g++ 12 -O3 warns falsely about operator+)
        std::string target(1, '/');
        target.append(len, 'a');
        target[1 + at] = c;
        compare(std::string("GET ").append(target).append(" HTTP/1.1\r\nHost: h\r\n\r\n"));
        std::string value(len, 'v');
        value[at] = c;
        const std::string text = std::string("GET / HTTP/1.1\r\nHost: h\r\nX-Run: ").append(value).append("\r\n\r\n");
        compare(text);
        const auto p = parse(text);
        (p.result.status == Status::kComplete ? complete : refused) += 1;
      }
    }
  }
  // Both outcomes occur: the enders include bytes a value may hold and bytes it may not.
  EXPECT_GT(complete, 0);
  EXPECT_GT(refused, 0);
}

// ---- chunked ----------------------------------------------------------------------------

namespace {
struct Decoded {
  rh::ChunkedDecoder::Status status;
  std::string body;
  std::size_t consumed = 0;
  rh::ParseError error = rh::ParseError::kNone;
};
Decoded decode(std::string_view in, std::uint64_t max_body = 1 << 20, std::size_t max_trailer = 1024) {
  rh::ChunkedDecoder d(max_body, max_trailer);
  Decoded out{rh::ChunkedDecoder::Status::kNeedMore, {}};
  for (;;) {
    const auto step = d.next(in.substr(out.consumed));
    out.status = step.status;
    out.error = step.error;
    out.consumed += step.consumed;
    out.body.append(step.data);
    if (step.status != rh::ChunkedDecoder::Status::kData) return out;
  }
}
}  // namespace

TEST(ChunkedDecoder, DecodesChunksExtensionsAndTrailers) {
  const std::string body = "5\r\nhello\r\n7;name=value\r\n, world\r\n0\r\nTrailer-X: t\r\n\r\nNEXT";
  const auto d = decode(body);
  EXPECT_EQ(d.status, rh::ChunkedDecoder::Status::kDone);
  EXPECT_EQ(d.body, "hello, world");
  EXPECT_EQ(d.consumed, body.size() - 4);
}

TEST(ChunkedDecoder, ByteByByteGivesTheSameBody) {
  const std::string body = "A\r\n0123456789\r\n1\r\nx\r\n0\r\n\r\n";
  rh::ChunkedDecoder d(1 << 20);
  std::string got, pending;
  bool done = false;
  for (char c : body) {
    pending.push_back(c);
    for (;;) {
      const auto step = d.next(pending);
      got.append(step.data);  // a view into `pending`: use it before erasing
      pending.erase(0, step.consumed);
      if (step.status == rh::ChunkedDecoder::Status::kDone) done = true;
      ASSERT_NE(step.status, rh::ChunkedDecoder::Status::kError);
      if (step.status != rh::ChunkedDecoder::Status::kData) break;
    }
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(got, "0123456789x");
}

TEST(ChunkedDecoder, RefusesBadFramingAndOversize) {
  using S = rh::ChunkedDecoder::Status;
  EXPECT_EQ(decode("z\r\n").status, S::kError);
  EXPECT_EQ(decode("5\nhello\r\n0\r\n\r\n").status, S::kError) << "bare LF";
  EXPECT_EQ(decode("5\r\nhelloXX0\r\n\r\n").status, S::kError) << "missing CRLF after data";
  EXPECT_EQ(decode("5 x\r\nhello\r\n").status, S::kError);
  const auto wrap = decode("10000000000000000\r\n");  // 2^64: would wrap to a fake last chunk
  EXPECT_EQ(wrap.status, S::kError);
  EXPECT_EQ(wrap.error, rh::ParseError::kBadRequest);
  EXPECT_EQ(decode("5 \r\nhello\r\n0\r\n\r\n").status, S::kError) << "whitespace without an extension";
  EXPECT_EQ(decode("5 ;x\r\nhello\r\n0\r\n\r\n").status, S::kDone) << "BWS before ';' is fine";
  const auto big = decode("b\r\nhello world\r\n0\r\n\r\n", 10);
  EXPECT_EQ(big.status, S::kError);
  EXPECT_EQ(big.error, rh::ParseError::kPayloadTooLarge);
  const auto fat_trailer = decode("0\r\nX: " + std::string(2000, 'v') + "\r\n\r\n", 100, 1024);
  EXPECT_EQ(fat_trailer.error, rh::ParseError::kHeadersTooLarge);
  EXPECT_EQ(decode("0\r\n bad\r\n\r\n").status, S::kError) << "obs-fold in trailer";
  EXPECT_EQ(decode(std::string(2000, '1')).status, S::kError) << "endless size line";
}

TEST(PercentDecode, DecodesAndRefusesNulAndBadEscapes) {
  std::string out;
  EXPECT_TRUE(rh::percent_decode_path("/a%20b/%2e%2E/c+d", out));
  EXPECT_EQ(out, "/a b/../c+d");
  EXPECT_FALSE(rh::percent_decode_path("/a%00b", out));
  EXPECT_FALSE(rh::percent_decode_path("/a%zz", out));
  EXPECT_FALSE(rh::percent_decode_path("/a%2", out));
  EXPECT_FALSE(rh::percent_decode_path("/a%", out));
}
