// Command-line helpers shared by the demos.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace ringactor::demo {

// Parses a decimal flag value up to `max`; prints "<program>: <flag> needs ..." and exits
// with status 2 (bad usage) otherwise.
inline unsigned long parse_number(const char* program, const char* flag, const char* text, unsigned long max) {
  char* end = nullptr;
  errno = 0;
  const unsigned long v = std::strtoul(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v > max || text[0] == '-') {
    std::fprintf(stderr, "%s: %s needs a number up to %lu, got '%s'\n", program, flag, max, text);
    std::exit(2);
  }
  return v;
}

// Parses "on"/"off" for a switch flag; exits with status 2 otherwise.
inline bool parse_switch(const char* program, const char* flag, const char* text) {
  const std::string_view v = text;
  if (v == "on") return true;
  if (v == "off") return false;
  std::fprintf(stderr, "%s: %s needs 'on' or 'off', got '%s'\n", program, flag, text);
  std::exit(2);
}

}  // namespace ringactor::demo
