#include "ringactor/assets/semantics.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <limits>

namespace ringactor::assets {

namespace {

constexpr std::size_t npos = std::string_view::npos;

constexpr char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// RFC 9110 tchar.
constexpr bool is_tchar(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != npos;
}

// ---------------------------------------------------------------------------------------
// ---------------------------------------------------------------------------------------
// Dates

constexpr std::int64_t kSecondsPerDay = 86400;

constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);                 // [0, 399]
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};

// The inverse of days_from_civil (Howard Hinnant's civil_from_days).
constexpr Civil civil_from_days(std::int64_t z) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);                    // [0, 146096]
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const unsigned mp = (5 * doy + 2) / 153;                                     // [0, 11]
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;                             // [1, 31]
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;                                // [1, 12]
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);
static_assert(civil_from_days(11017).year == 2000 && civil_from_days(11017).month == 3);

// The range four year digits can show.
constexpr std::int64_t kMinTime = days_from_civil(0, 1, 1) * kSecondsPerDay;
constexpr std::int64_t kMaxTime = days_from_civil(10000, 1, 1) * kSecondsPerDay - 1;

constexpr bool is_leap(std::int64_t y) noexcept { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

constexpr unsigned days_in_month(std::int64_t y, unsigned m) noexcept {
  constexpr std::array<unsigned, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

constexpr std::array<std::string_view, 7> kDayNames{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDayNames{"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                        "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonthNames{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// A cursor over an HTTP-date; every step fails (returns false) on a mismatch, and the
// parse stops at the first failure.
struct DateScanner {
  std::string_view s;
  std::size_t i = 0;

  bool literal(std::string_view lit) noexcept {
    if (s.substr(i, lit.size()) != lit) return false;
    i += lit.size();
    return true;
  }
  // Exactly n decimal digits.
  bool digits(std::size_t n, unsigned& out) noexcept {
    if (s.size() - i < n) return false;
    unsigned v = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const char c = s[i + k];
      if (!is_digit(c)) return false;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    i += n;
    out = v;
    return true;
  }
  // One of `names`, case-sensitively (no name in a list is a prefix of another).
  template <std::size_t N>
  bool name(const std::array<std::string_view, N>& names, unsigned& index) noexcept {
    for (std::size_t k = 0; k < N; ++k) {
      if (literal(names[k])) {
        index = static_cast<unsigned>(k);
        return true;
      }
    }
    return false;
  }
  bool month(unsigned& m) noexcept {
    unsigned k = 0;
    if (!name(kMonthNames, k)) return false;
    m = k + 1;
    return true;
  }
  // time-of-day = hour ":" minute ":" second
  bool time_of_day(unsigned& h, unsigned& mi, unsigned& sec) noexcept {
    return digits(2, h) && literal(":") && digits(2, mi) && literal(":") && digits(2, sec);
  }
  bool at_end() const noexcept { return i == s.size(); }
};

struct DateFields {
  std::int64_t year = 0;
  unsigned month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

std::optional<std::int64_t> to_unix(const DateFields& f) noexcept {
  if (f.month < 1 || f.month > 12) return std::nullopt;
  if (f.day < 1 || f.day > days_in_month(f.year, f.month)) return std::nullopt;
  if (f.hour > 23 || f.minute > 59 || f.second > 60) return std::nullopt;  // 60: leap second
  return days_from_civil(f.year, f.month, f.day) * kSecondsPerDay + f.hour * 3600 + f.minute * 60 + f.second;
}

// "Sun, 06 Nov 1994 08:49:37 GMT"
bool scan_imf_fixdate(DateScanner& sc, DateFields& f) noexcept {
  unsigned wday = 0, year = 0;
  if (!(sc.name(kDayNames, wday) && sc.literal(", ") && sc.digits(2, f.day) && sc.literal(" ") &&
        sc.month(f.month) && sc.literal(" ") && sc.digits(4, year) && sc.literal(" ") &&
        sc.time_of_day(f.hour, f.minute, f.second) && sc.literal(" GMT") && sc.at_end())) {
    return false;
  }
  f.year = year;
  return true;
}

// "Sunday, 06-Nov-94 08:49:37 GMT"; the century is chosen by the caller.
bool scan_rfc850(DateScanner& sc, DateFields& f) noexcept {
  unsigned wday = 0, yy = 0;
  if (!(sc.name(kLongDayNames, wday) && sc.literal(", ") && sc.digits(2, f.day) && sc.literal("-") &&
        sc.month(f.month) && sc.literal("-") && sc.digits(2, yy) && sc.literal(" ") &&
        sc.time_of_day(f.hour, f.minute, f.second) && sc.literal(" GMT") && sc.at_end())) {
    return false;
  }
  f.year = yy;
  return true;
}

// "Sun Nov  6 08:49:37 1994" (the day is two digits or a space and one digit)
bool scan_asctime(DateScanner& sc, DateFields& f) noexcept {
  unsigned wday = 0, year = 0;
  if (!(sc.name(kDayNames, wday) && sc.literal(" ") && sc.month(f.month) && sc.literal(" "))) return false;
  if (!(sc.literal(" ") ? sc.digits(1, f.day) : sc.digits(2, f.day))) return false;
  if (!(sc.literal(" ") && sc.time_of_day(f.hour, f.minute, f.second) && sc.literal(" ") &&
        sc.digits(4, year) && sc.at_end())) {
    return false;
  }
  f.year = year;
  return true;
}

// RFC 9110 section 5.6.7: a two-digit year that "appears to be more than 50 years in the
// future" is the most recent past year with those digits. The result is the latest year
// ending in `yy` whose date is not after now + 50 years.
std::int64_t resolve_two_digit_year(unsigned yy, const DateFields& f, std::int64_t now) noexcept {
  now = std::clamp(now, kMinTime, kMaxTime);  // keeps the arithmetic far from overflow
  const std::int64_t days = floor_div(now, kSecondsPerDay);
  const Civil today = civil_from_days(days);
  const std::int64_t sod = now - days * kSecondsPerDay;
  const std::int64_t limit_year = today.year + 50;
  std::int64_t year = limit_year - (((limit_year - yy) % 100) + 100) % 100;
  if (year == limit_year) {
    const std::array<std::int64_t, 3> now_key{today.month, today.day, sod};
    const std::array<std::int64_t, 3> key{f.month, f.day, f.hour * 3600 + f.minute * 60 + f.second};
    if (key > now_key) year -= 100;
  }
  return year;
}

// ---------------------------------------------------------------------------------------
// Entity-tags

// entity-tag = [ weak ] opaque-tag; weak = %s"W/"; opaque-tag = DQUOTE *etagc DQUOTE;
// etagc = %x21 / %x23-7E / obs-text. Scans one at s[pos]; on success sets `opaque` (with
// its quotes) and `weak` and leaves pos after the closing quote. On failure pos is where
// scanning stopped.
bool scan_entity_tag(std::string_view s, std::size_t& pos, std::string_view& opaque, bool& weak) noexcept {
  weak = s.substr(pos, 2) == "W/";
  if (weak) pos += 2;
  if (pos >= s.size() || s[pos] != '"') return false;
  const std::size_t open = pos++;
  while (pos < s.size()) {
    const auto c = static_cast<unsigned char>(s[pos]);
    if (c == '"') {
      ++pos;
      opaque = s.substr(open, pos - open);
      return true;
    }
    if (c < 0x21 || c == 0x7F) return false;
    ++pos;
  }
  return false;
}

// `s` is exactly one entity-tag.
bool whole_entity_tag(std::string_view s, std::string_view& opaque, bool& weak) noexcept {
  std::size_t pos = 0;
  return scan_entity_tag(s, pos, opaque, weak) && pos == s.size();
}

// ---------------------------------------------------------------------------------------
// Accept-Encoding

// "x-gzip" and "x-compress" are aliases (RFC 9110 section 18.6).
std::string_view canonical_coding(std::string_view c) noexcept {
  if (iequals(c, "x-gzip")) return "gzip";
  if (iequals(c, "x-compress")) return "compress";
  return c;
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths; -1 if malformed.
int parse_qvalue(std::string_view v) noexcept {
  if (v.empty() || (v[0] != '0' && v[0] != '1')) return -1;
  const int whole = v[0] - '0';
  if (v.size() == 1) return whole * 1000;
  if (v[1] != '.' || v.size() > 5) return -1;
  int frac = 0;
  int scale = 100;
  for (std::size_t i = 2; i < v.size(); ++i) {
    if (!is_digit(v[i])) return -1;
    frac += (v[i] - '0') * scale;
    scale /= 10;
  }
  if (whole == 1 && frac != 0) return -1;
  return whole * 1000 + frac;
}

std::size_t scan_token(std::string_view s, std::size_t pos) noexcept {
  while (pos < s.size() && is_tchar(s[pos])) ++pos;
  return pos;
}

std::size_t skip_ows(std::string_view s, std::size_t pos) noexcept {
  while (pos < s.size() && is_ows(s[pos])) ++pos;
  return pos;
}

// quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE at s[pos]; returns the position
// after it, or npos if unterminated or holding a control character.
std::size_t scan_quoted_string(std::string_view s, std::size_t pos) noexcept {
  ++pos;  // the opening quote
  while (pos < s.size()) {
    const auto c = static_cast<unsigned char>(s[pos]);
    if (c == '"') return pos + 1;
    if (c == '\\') {
      if (++pos >= s.size()) return npos;
      const auto e = static_cast<unsigned char>(s[pos]);
      if ((e < 0x20 && e != '\t') || e == 0x7F) return npos;
    } else if ((c < 0x20 && c != '\t') || c == 0x7F) {
      return npos;
    }
    ++pos;
  }
  return npos;
}

// One list member: codings *( OWS ";" OWS token "=" ( token / quoted-string ) ), followed
// by OWS and a comma or the end. Sets name and q (thousandths, 1000 if absent) and pos
// after the member; false if malformed (pos then lies inside it).
bool scan_coding(std::string_view s, std::size_t& pos, std::string_view& name, int& q) noexcept {
  const std::size_t name_end = scan_token(s, pos);
  if (name_end == pos) return false;
  name = s.substr(pos, name_end - pos);
  q = 1000;
  pos = name_end;
  for (;;) {
    pos = skip_ows(s, pos);
    if (pos == s.size() || s[pos] == ',') return true;
    if (s[pos] != ';') return false;
    pos = skip_ows(s, pos + 1);
    const std::size_t pname_end = scan_token(s, pos);
    if (pname_end == pos || pname_end == s.size() || s[pname_end] != '=') return false;
    const std::string_view pname = s.substr(pos, pname_end - pos);
    pos = pname_end + 1;
    if (pos < s.size() && s[pos] == '"') {
      const std::size_t end = scan_quoted_string(s, pos);
      if (end == npos || iequals(pname, "q")) return false;  // q takes a bare qvalue only
      pos = end;
    } else {
      const std::size_t end = scan_token(s, pos);
      if (end == pos) return false;
      if (iequals(pname, "q")) {
        q = parse_qvalue(s.substr(pos, end - pos));
        if (q < 0) return false;
      }
      pos = end;
    }
  }
}

// Byte ranges: a decimal number of any length that fits in 64 bits.
bool parse_u64(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty()) return false;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (kMax - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

}  // namespace

std::string http_date(std::int64_t unix_seconds) {
  const std::int64_t t = std::clamp(unix_seconds, kMinTime, kMaxTime);
  const std::int64_t days = floor_div(t, kSecondsPerDay);
  const auto sod = static_cast<unsigned>(t - days * kSecondsPerDay);
  const Civil c = civil_from_days(days);
  const auto weekday = static_cast<std::size_t>((days % 7 + 7 + 4) % 7);  // 1970-01-01 was a Thursday
  const auto year = static_cast<unsigned>(c.year);                        // 0..9999 after the clamp

  std::array<char, 29> out{};
  const auto put2 = [&out](std::size_t at, unsigned v) {
    out[at] = static_cast<char>('0' + v / 10);
    out[at + 1] = static_cast<char>('0' + v % 10);
  };
  const auto put_name = [&out](std::size_t at, std::string_view name) {
    std::copy(name.begin(), name.end(), out.begin() + static_cast<std::ptrdiff_t>(at));
  };
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  //  0123456789012345678901234567 8
  put_name(0, kDayNames[weekday]);
  put_name(3, ", ");
  put2(5, c.day);
  out[7] = ' ';
  put_name(8, kMonthNames[c.month - 1]);
  out[11] = ' ';
  put2(12, year / 100);
  put2(14, year % 100);
  out[16] = ' ';
  put2(17, sod / 3600);
  out[19] = ':';
  put2(20, sod / 60 % 60);
  out[22] = ':';
  put2(23, sod % 60);
  put_name(25, " GMT");
  return std::string(out.data(), out.size());
}

std::optional<std::int64_t> parse_http_date(std::string_view text) noexcept {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return parse_http_date(text, std::chrono::duration_cast<std::chrono::seconds>(now).count());
}

std::optional<std::int64_t> parse_http_date(std::string_view text, std::int64_t now_unix_seconds) noexcept {
  DateScanner sc{text};
  DateFields f;
  if (text.size() > 3 && text[3] == ',') {
    if (!scan_imf_fixdate(sc, f)) return std::nullopt;
  } else if (text.find(',') != npos) {
    if (!scan_rfc850(sc, f)) return std::nullopt;
    f.year = resolve_two_digit_year(static_cast<unsigned>(f.year), f, now_unix_seconds);
  } else {
    if (!scan_asctime(sc, f)) return std::nullopt;
  }
  return to_unix(f);
}

RangeResult parse_range(std::string_view value, std::uint64_t size) noexcept {
  // ranges-specifier = range-unit "=" range-set, no whitespace around "=".
  const std::size_t eq = value.find('=');
  if (eq == npos || !iequals(value.substr(0, eq), "bytes")) return {};

  // range-set = 1#range-spec: empty elements and OWS around commas allowed; exactly one
  // non-empty element is supported.
  std::string_view rest = value.substr(eq + 1);
  std::string_view spec;
  int count = 0;
  for (bool first = true;; first = false) {
    const std::size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    while (!item.empty() && is_ows(item.back())) item.remove_suffix(1);
    if (!first) {
      while (!item.empty() && is_ows(item.front())) item.remove_prefix(1);
    }
    if (!item.empty()) {
      if (++count > 1) return {};
      spec = item;
    }
    if (comma == npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (count == 0) return {};

  const std::size_t dash = spec.find('-');
  if (dash == npos) return {};
  const std::string_view first_text = spec.substr(0, dash);
  const std::string_view last_text = spec.substr(dash + 1);

  const RangeResult unsatisfiable{RangeOutcome::kUnsatisfiable, {}};
  if (first_text.empty()) {  // suffix-range = "-" suffix-length
    std::uint64_t n = 0;
    if (!parse_u64(last_text, n)) return {};
    if (n == 0 || size == 0) return unsatisfiable;
    return {RangeOutcome::kSatisfiable, {n >= size ? 0 : size - n, size - 1}};
  }
  std::uint64_t first = 0;
  std::uint64_t last = std::numeric_limits<std::uint64_t>::max();
  if (!parse_u64(first_text, first)) return {};
  if (!last_text.empty() && !parse_u64(last_text, last)) return {};
  if (last < first) return {};
  if (first >= size) return unsatisfiable;
  return {RangeOutcome::kSatisfiable, {first, std::min(last, size - 1)}};
}

namespace {

// Whether the entity-tag list `list` names `etag`: under weak comparison (W/ ignored on both
// sides) or strong (neither may be weak). "*" matches anything.
bool list_names(std::string_view list, std::string_view etag, bool strong) noexcept {
  if (list == "*") return true;
  std::string_view mine;
  bool mine_weak = false;
  if (!whole_entity_tag(etag, mine, mine_weak) || (strong && mine_weak)) return false;

  const std::string_view v = list;
  std::size_t pos = 0;
  while (pos < v.size()) {
    if (is_ows(v[pos]) || v[pos] == ',') {
      ++pos;
      continue;
    }
    std::string_view tag;
    bool weak = false;
    if (scan_entity_tag(v, pos, tag, weak) && (pos == v.size() || is_ows(v[pos]) || v[pos] == ',')) {
      if (tag == mine && !(strong && weak)) return true;
      continue;
    }
    pos = v.find(',', pos);  // malformed member: skip it
  }
  return false;
}

}  // namespace

bool none_match(std::string_view if_none_match, std::string_view etag) noexcept {
  return list_names(if_none_match, etag, /*strong=*/false);
}

bool match_strong(std::string_view if_match, std::string_view etag) noexcept {
  return list_names(if_match, etag, /*strong=*/true);
}

bool strong_etag_equal(std::string_view value, std::string_view etag) noexcept {
  std::string_view a, b;
  bool a_weak = false, b_weak = false;
  return whole_entity_tag(value, a, a_weak) && whole_entity_tag(etag, b, b_weak) && !a_weak && !b_weak &&
         a == b;
}

bool accepts_encoding(std::string_view accept_encoding, std::string_view coding) noexcept {
  const std::string_view wanted = canonical_coding(coding);
  if (wanted.empty()) return false;
  const bool identity = iequals(wanted, "identity");

  int listed_q = -1;  // the largest q of an entry naming `coding`, -1 if none
  int star_q = -1;    // the same for "*"
  const std::string_view v = accept_encoding;
  std::size_t pos = 0;
  while (pos < v.size()) {
    if (is_ows(v[pos]) || v[pos] == ',') {
      ++pos;
      continue;
    }
    std::string_view name;
    int q = 0;
    if (!scan_coding(v, pos, name, q)) {
      pos = v.find(',', pos);  // malformed member: skip it
      continue;
    }
    if (name == "*") {
      star_q = std::max(star_q, q);
    } else if (iequals(canonical_coding(name), wanted)) {
      listed_q = std::max(listed_q, q);
    }
  }
  if (listed_q >= 0) return listed_q > 0;
  if (identity) return star_q != 0;
  return star_q > 0;
}

}  // namespace ringactor::assets
