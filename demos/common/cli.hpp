// Command-line helpers shared by the demos.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <ringactor/runtime/reactor_options.hpp>

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

// Walks argv for a demo: `while (args.next())` then compare `args.flag()`; `value()`,
// `number()` and `on_off()` read the flag's value (exiting with status 2 on a missing or bad
// one); `server_flag()` handles the flags every server demo shares.
class Args {
 public:
  Args(const char* program, int argc, char** argv) : program_(program), argc_(argc), argv_(argv) {}

  bool next() {
    if (++i_ >= argc_) return false;
    flag_ = argv_[i_];
    return true;
  }
  std::string_view flag() const { return flag_; }
  bool is(std::string_view name) const { return flag_ == name; }
  const char* value() {
    if (i_ + 1 >= argc_) {
      std::fprintf(stderr, "%s: %s needs a value\n", program_, argv_[i_]);
      std::exit(2);
    }
    return argv_[++i_];
  }
  unsigned long number(unsigned long max) {
    const char* name = argv_[i_];
    return parse_number(program_, name, value(), max);
  }
  bool on_off() {
    const char* name = argv_[i_];
    return parse_switch(program_, name, value());
  }
  // --port, --address, --max-connections, --idle-timeout-ms. True if the flag was one of them.
  bool server_flag(runtime::ReactorOptions& options, runtime::ListenOptions& listen) {
    if (is("--port")) {
      listen.port = static_cast<std::uint16_t>(number(65535));
    } else if (is("--address")) {
      listen.address = value();
    } else if (is("--max-connections")) {
      options.max_connections = static_cast<std::uint32_t>(number(10'000'000));
    } else if (is("--idle-timeout-ms")) {
      options.idle_timeout = std::chrono::milliseconds(number(86'400'000));
    } else {
      return false;
    }
    return true;
  }
  // Prints "unknown option" and the usage, for the caller to return 2.
  template <typename Usage>
  int unknown(Usage&& usage) const {
    std::fprintf(stderr, "%s: unknown option '%s'\n", program_, argv_[i_]);
    usage(stderr);
    return 2;
  }

 private:
  const char* program_;
  int argc_;
  char** argv_;
  int i_ = 0;
  std::string_view flag_;
};

}  // namespace ringactor::demo
