// HTTP semantics a static-file server needs (RFC 9110): the Content-Type for a file name,
// HTTP-date formatting and parsing, a single byte Range, entity-tag comparison for
// If-None-Match and If-Range, and Accept-Encoding negotiation.
//
// Pure functions over views: nothing is kept, nothing is shared, so any thread may call them
// at any time. Only http_date() allocates (the std::string it returns); everything else is
// allocation-free and linear in its input. Inputs are field values as the request parser
// hands them out (leading and trailing whitespace already removed); none of these functions
// throws, malformed input gives the documented "not usable" answer instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ringactor::assets {

// The Content-Type for `filename` (a file name or a URL path, without query), chosen by its
// extension: the text after the last dot of the final '/'-separated segment, compared
// case-insensitively. A segment whose only dot is its first character (".htaccess") has no
// extension. Covers the web's common documents, images, fonts, audio, video, archives,
// office formats and game assets (glb, gltf, ktx2, basis, dds, wasm, wgsl, ...). Textual
// types carry "; charset=utf-8". Unknown or missing extension: "application/octet-stream".
// The returned view points to static storage. Cost: one binary search over ~100 entries,
// no allocation.
std::string_view mime_type(std::string_view filename) noexcept;

// The IMF-fixdate (RFC 9110 section 5.6.7) of a Unix time in UTC, e.g.
// "Sun, 06 Nov 1994 08:49:37 GMT"; always 29 characters. Times outside the years 0000..9999
// (which four year digits cannot show) are clamped to the first or last second of that
// range. Cost: a few integer divisions and one allocation (the string).
std::string http_date(std::int64_t unix_seconds);

// Parses an HTTP-date in the three formats RFC 9110 section 5.6.7 requires recipients to
// accept: IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", the obsolete RFC 850 form
// "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994". Returns the Unix
// time, or nullopt when the text is malformed: a day or month name that is not one of the
// English names (HTTP-date is case-sensitive), a field out of range (day beyond its month,
// hour > 23, minute > 59, second > 60), missing or extra characters. The day name is checked
// for syntax only, not against the date (as most servers do). A leap second (:60) counts as
// the next minute's :00, as timegm() does. The two-digit RFC 850 year is read as the year
// with those last digits that is not more than 50 years after `now_unix_seconds` (RFC 9110
// says so); the one-argument form takes the system clock's now. Parsed by hand (no locale,
// no strptime), converted with a days-from-civil formula; agrees with timegm(). Cost: linear
// in the text (at most 33 characters are looked at), no allocation.
std::optional<std::int64_t> parse_http_date(std::string_view text) noexcept;
std::optional<std::int64_t> parse_http_date(std::string_view text, std::int64_t now_unix_seconds) noexcept;

// A single byte range of a representation (RFC 9110 section 14.1.2), both ends inclusive.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};

// What to answer a Range request with. One line per value.
enum class RangeOutcome : std::uint8_t {
  kIgnore,         // no usable Range (absent, other unit, syntax error, several ranges): send the whole 200
  kSatisfiable,    // 206 with `range`
  kUnsatisfiable,  // 416 with Content-Range: bytes */size
};

struct RangeResult {
  RangeOutcome outcome = RangeOutcome::kIgnore;  // "no Range" is the safe default: the full 200
  ByteRange range{};                             // meaningful only for kSatisfiable
};

// Evaluates a Range field value (RFC 9110 section 14.2) against a representation of `size`
// bytes. Accepted: range unit "bytes" (case-insensitive), '=' with no whitespace around it,
// then one range-spec: "a-b", "a-" or the suffix "-n" (decimal, leading zeros allowed).
// Empty list elements and OWS around commas are allowed ("bytes=0-9 ," is one range).
//   kIgnore: another unit, any syntax error (non-digit, b < a, nothing to parse, a number
//     over 2^64-1), or more than one range (multipart/byteranges is not supported).
//   kUnsatisfiable: "a-b"/"a-" with a >= size; "-0"; any valid range when size == 0 (RFC
//     9110 would call "-n" satisfiable on an empty representation, but a 206 cannot carry
//     an empty range, so it is refused like the rest).
//   kSatisfiable: last clamped to size - 1; "-n" with n > size covers the whole
//     representation.
// Cost: linear in the value, no allocation.
RangeResult parse_range(std::string_view value, std::uint64_t size) noexcept;

// If-None-Match (RFC 9110 section 13.1.2): true when the field value is "*" or lists an
// entity-tag equal to `etag` under weak comparison (section 8.8.3.2: a W/ prefix on either
// side is ignored, the opaque-tags must match byte for byte). `etag` is the
// representation's entity-tag with its quotes ("\"5f-1a2b\"" or "W/\"5f-1a2b\""); if it is
// not a well-formed entity-tag only "*" matches. The list may hold OWS and empty elements;
// a malformed member is skipped up to the next comma. Commas inside quotes belong to the
// tag. Cost: linear in the value, no allocation.
bool none_match(std::string_view if_none_match, std::string_view etag) noexcept;

// Strong comparison for If-Range (RFC 9110 sections 13.1.5 and 8.8.3.2): true when `value`
// is exactly `etag`, both are well-formed entity-tags and neither is weak. A date in
// If-Range is not handled here (it gives false). Cost: linear, no allocation.
bool strong_etag_equal(std::string_view value, std::string_view etag) noexcept;

// If-Match (RFC 9110 section 13.1.1): true when the field value is "*" or lists an
// entity-tag equal to `etag` under strong comparison (neither side weak, the opaque-tags
// equal byte for byte). A weak `etag` or a malformed one matches only "*". List syntax as
// for none_match. Cost: linear in the value, no allocation.
bool match_strong(std::string_view if_match, std::string_view etag) noexcept;

// Accept-Encoding (RFC 9110 section 12.5.3): true when the content coding `coding` ("br",
// "gzip", ...) is acceptable: listed with q > 0, or not listed while "*" is listed with
// q > 0. Codings compare case-insensitively and "x-gzip" counts as "gzip" ("x-compress" as
// "compress"); if a coding is listed twice the larger q wins. q values take up to three
// decimals ("q=0", "q=0.000" refuse); other parameters and OWS are tolerated; a member with a
// malformed q or syntax is skipped. "identity" follows the RFC's own rule: acceptable unless
// refused by "identity;q=0", or by "*;q=0" without an "identity" entry. An empty value thus
// accepts only identity. An absent header is the caller's business (serve identity).
// Cost: linear in the value, no allocation.
bool accepts_encoding(std::string_view accept_encoding, std::string_view coding) noexcept;

}  // namespace ringactor::assets
