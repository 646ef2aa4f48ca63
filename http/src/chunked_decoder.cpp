// ChunkedDecoder (RFC 9112 section 7.1) and request-path percent-decoding.
#include <algorithm>

#include "http_chars.hpp"
#include "ringactor/http/request_parser.hpp"

namespace ringactor::http {

using detail::hex_value;
using detail::is_field_char;
using detail::is_token;

namespace {
constexpr std::size_t npos = std::string_view::npos;
}  // namespace

// ---- chunked bodies ---------------------------------------------------------------------

ChunkedDecoder::Step ChunkedDecoder::next(std::string_view in) noexcept {
  constexpr std::size_t kMaxSizeLine = 1024;  // size, extensions and CRLF
  auto error = [this](ParseError e) {
    state_ = State::kError;
    return Step{Status::kError, 0, {}, e};
  };
  switch (state_) {
    case State::kSize: {
      const std::size_t nl = in.find('\n');
      if (nl == npos) {
        if (in.size() > kMaxSizeLine) return error(ParseError::kBadRequest);
        return {Status::kNeedMore, 0, {}};
      }
      if (nl == 0 || in[nl - 1] != '\r' || nl + 1 > kMaxSizeLine) return error(ParseError::kBadRequest);
      const std::string_view line = in.substr(0, nl - 1);
      std::uint64_t size = 0;
      std::size_t i = 0;
      for (; i < line.size(); ++i) {
        const int h = hex_value(line[i]);
        if (h < 0) break;
        if (i >= 15) return error(ParseError::kBadRequest);  // more than 60 bits of size
        size = size * 16 + static_cast<std::uint64_t>(h);
      }
      if (i == 0) return error(ParseError::kBadRequest);
      // Optional chunk extensions: BWS ";" ... (ignored, but no control characters).
      std::string_view ext = line.substr(i);
      const std::size_t before = ext.size();
      while (!ext.empty() && (ext.front() == ' ' || ext.front() == '\t')) ext.remove_prefix(1);
      // BWS is allowed only before ';'; "5 " alone is a framing ambiguity.
      if (ext.empty() ? ext.size() != before : ext.front() != ';') return error(ParseError::kBadRequest);
      for (char c : ext) {
        if (!is_field_char(c)) return error(ParseError::kBadRequest);
      }
      if (size == 0) {
        state_ = State::kTrailers;
      } else {
        if (size > max_body_ - total_) return error(ParseError::kPayloadTooLarge);
        total_ += size;
        remaining_ = size;
        state_ = State::kData;
      }
      return {Status::kData, nl + 1, {}};  // framing consumed, no body bytes
    }
    case State::kData: {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
      if (n == 0) return {Status::kNeedMore, 0, {}};
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::kDataCrlf;
      return {Status::kData, n, in.substr(0, n)};
    }
    case State::kDataCrlf: {
      if (in.size() < 2) {
        if (!in.empty() && in[0] != '\r') return error(ParseError::kBadRequest);
        return {Status::kNeedMore, 0, {}};
      }
      if (in[0] != '\r' || in[1] != '\n') return error(ParseError::kBadRequest);
      state_ = State::kSize;
      return {Status::kData, 2, {}};
    }
    case State::kTrailers: {
      const std::size_t nl = in.find('\n');
      if (nl == npos) {
        if (trailer_bytes_ + in.size() > max_trailer_) return error(ParseError::kHeadersTooLarge);
        return {Status::kNeedMore, 0, {}};
      }
      if (nl == 0 || in[nl - 1] != '\r') return error(ParseError::kBadRequest);
      trailer_bytes_ += nl + 1;
      if (trailer_bytes_ > max_trailer_) return error(ParseError::kHeadersTooLarge);
      if (nl == 1) {
        state_ = State::kDone;
        return {Status::kDone, 2, {}};
      }
      const std::string_view field = in.substr(0, nl - 1);
      const std::size_t colon = field.find(':');
      if (field.front() == ' ' || field.front() == '\t' || colon == npos || !is_token(field.substr(0, colon))) {
        return error(ParseError::kBadRequest);
      }
      for (char c : field.substr(colon + 1)) {
        if (!is_field_char(c)) return error(ParseError::kBadRequest);
      }
      return {Status::kData, nl + 1, {}};
    }
    case State::kDone:
      return {Status::kDone, 0, {}};
    case State::kError:
      return {Status::kError, 0, {}, ParseError::kBadRequest};
  }
  return {Status::kError, 0, {}, ParseError::kBadRequest};
}

// ---- paths ------------------------------------------------------------------------------

bool percent_decode_path(std::string_view raw, std::string& out) {
  out.clear();
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= raw.size()) return false;
    const int hi = hex_value(raw[i + 1]);
    const int lo = hex_value(raw[i + 2]);
    if (hi < 0 || lo < 0) return false;
    const char decoded = static_cast<char>(hi * 16 + lo);
    if (decoded == '\0') return false;
    out.push_back(decoded);
    i += 2;
  }
  return true;
}

}  // namespace ringactor::http
