// Reply<R> and AskError: the outcome of an ask (see Ref::ask). Plain values; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace ringactor::actors {

// Why an ask produced no value. One line per value; to_string() gives a stable name.
enum class AskError : std::uint8_t {
  kNone,       // no error: the reply holds a value
  kDead,       // the actor was gone, or stopped before it handled the request
  kException,  // the handler threw; Reply::message() holds what(); the actor was stopped
  kShutdown,   // the request was dropped because a reactor shut down before handling it
  // Asks across processes (cluster.hpp) also end with:
  kTimeout,    // no answer within the ask's timeout
  kNoRoute,    // no process holds the name, or the actor there has no handler for the message
  kNodeDown,   // the process holding the name was declared down (or left) before it answered
  kMalformed,  // the request or the answer did not decode (a codec mismatch between processes)
};
std::string_view to_string(AskError e) noexcept;

// The outcome of an ask: a value of type R, or an error. (g++ 12 has no std::expected.)
// Same rules as offload::Result: ok() (or bool) says which; value() (and * and ->) on an
// error throws std::runtime_error naming it, never reads an empty value.
template <typename R>
class Reply {
 public:
  explicit Reply(R value) : value_(std::move(value)) {}
  Reply(AskError error, std::string message = {}) : error_(error), message_(std::move(message)) {}
  bool ok() const noexcept { return error_ == AskError::kNone; }
  explicit operator bool() const noexcept { return ok(); }
  R& value() & {
    check();
    return *value_;
  }
  const R& value() const& {
    check();
    return *value_;
  }
  R&& value() && {
    check();
    return std::move(*value_);
  }
  R& operator*() & { return value(); }
  const R& operator*() const& { return value(); }
  R* operator->() { return &value(); }
  const R* operator->() const { return &value(); }
  AskError error() const noexcept { return error_; }
  // "" for a value; what went wrong otherwise (the handler's what() for kException).
  const std::string& message() const noexcept { return message_; }

 private:
  void check() const {
    if (error_ != AskError::kNone) {
      throw std::runtime_error("ask failed: " + std::string(to_string(error_)) +
                               (message_.empty() ? std::string() : ": " + message_));
    }
  }
  std::optional<R> value_;
  AskError error_ = AskError::kNone;
  std::string message_;
};

template <>
class Reply<void> {
 public:
  Reply() = default;
  Reply(AskError error, std::string message = {}) : error_(error), message_(std::move(message)) {}
  bool ok() const noexcept { return error_ == AskError::kNone; }
  explicit operator bool() const noexcept { return ok(); }
  // Throws std::runtime_error naming the error, as Reply<R>::value() does.
  void value() const {
    if (error_ != AskError::kNone) {
      throw std::runtime_error("ask failed: " + std::string(to_string(error_)) +
                               (message_.empty() ? std::string() : ": " + message_));
    }
  }
  AskError error() const noexcept { return error_; }
  const std::string& message() const noexcept { return message_; }

 private:
  AskError error_ = AskError::kNone;
  std::string message_;
};

}  // namespace ringactor::actors
