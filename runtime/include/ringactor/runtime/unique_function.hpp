// UniqueFunction<R(Args...)>: a move-only callable with an inline buffer.
//
// The runtime's one type-erased closure: invoke-queue tasks, timer callbacks and actor
// messages are all UniqueFunctions. Callables up to InlineSize bytes (default 48) whose move
// constructor is noexcept live inside the object (no heap allocation); larger ones go to
// the heap. Queues that carry bigger closures pick a bigger InlineSize. Not thread-safe: one
// owner at a time, moved between threads through a queue.
#pragma once

#include <cstddef>
#include <functional>
#include <new>
#include <type_traits>
#include <utility>

namespace ringactor::runtime {

// 48 bytes by default: a member-function pointer (16) plus a few moved arguments fit
// without a heap allocation, and the whole object stays one cache line (64 bytes).
template <typename Signature, std::size_t InlineSize = 48>
class UniqueFunction;

template <typename R, typename... Args, std::size_t InlineSize>
class UniqueFunction<R(Args...), InlineSize> {
 public:
  static constexpr std::size_t kInlineSize = InlineSize;

  UniqueFunction() noexcept = default;
  UniqueFunction(std::nullptr_t) noexcept {}  // NOLINT(google-explicit-constructor)

  template <typename F, typename D = std::decay_t<F>,
            typename = std::enable_if_t<!std::is_same_v<D, UniqueFunction> &&
                                        std::is_invocable_r_v<R, D&, Args...>>>
  UniqueFunction(F&& f) {  // NOLINT(google-explicit-constructor)
    if constexpr (fits_inline<D>()) {
      ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
      ops_ = &inline_ops<D>;
    } else {
      *reinterpret_cast<D**>(storage_) = new D(std::forward<F>(f));
      ops_ = &heap_ops<D>;
    }
  }

  UniqueFunction(UniqueFunction&& other) noexcept { take(other); }
  UniqueFunction& operator=(UniqueFunction&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  UniqueFunction(const UniqueFunction&) = delete;
  UniqueFunction& operator=(const UniqueFunction&) = delete;
  ~UniqueFunction() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }

  // Calls the stored callable. Precondition: not empty.
  R operator()(Args... args) { return ops_->call(storage_, std::forward<Args>(args)...); }

  void reset() noexcept {
    if (ops_ != nullptr) {
      ops_->destroy(storage_);
      ops_ = nullptr;
    }
  }

  // True when a callable of type F would be stored without a heap allocation.
  template <typename F>
  static constexpr bool fits_inline() {
    return sizeof(F) <= kInlineSize && alignof(F) <= alignof(std::max_align_t) &&
           std::is_nothrow_move_constructible_v<F>;
  }

 private:
  struct Ops {
    R (*call)(void*, Args&&...);
    void (*move)(void* dst, void* src) noexcept;  // move-construct dst from src, destroy src
    void (*destroy)(void*) noexcept;
  };

  template <typename D>
  static constexpr Ops inline_ops = {
      [](void* s, Args&&... a) -> R { return std::invoke(*static_cast<D*>(s), std::forward<Args>(a)...); },
      [](void* dst, void* src) noexcept {
        ::new (dst) D(std::move(*static_cast<D*>(src)));
        static_cast<D*>(src)->~D();
      },
      [](void* s) noexcept { static_cast<D*>(s)->~D(); }};

  template <typename D>
  static constexpr Ops heap_ops = {
      [](void* s, Args&&... a) -> R { return std::invoke(**static_cast<D**>(s), std::forward<Args>(a)...); },
      [](void* dst, void* src) noexcept { *static_cast<D**>(dst) = *static_cast<D**>(src); },
      [](void* s) noexcept { delete *static_cast<D**>(s); }};

  void take(UniqueFunction& other) noexcept {
    if (other.ops_ != nullptr) {
      other.ops_->move(storage_, other.storage_);
      ops_ = other.ops_;
      other.ops_ = nullptr;
    }
  }

  alignas(std::max_align_t) std::byte storage_[kInlineSize];
  const Ops* ops_ = nullptr;
};

}  // namespace ringactor::runtime
