// Compile-time facts about a member-function pointer used as a message: its class, its
// result, and the decayed parameter types a message stores its arguments as.
#pragma once

#include <tuple>
#include <type_traits>

namespace ringactor::actors::detail {

template <typename M>
struct MethodTraits;

template <typename R, typename C, typename... P>
struct MethodTraits<R (C::*)(P...)> {
  using Class = C;
  using Result = R;
  using Stored = std::tuple<std::decay_t<P>...>;
  static constexpr std::size_t kArity = sizeof...(P);
};
template <typename R, typename C, typename... P>
struct MethodTraits<R (C::*)(P...) const> : MethodTraits<R (C::*)(P...)> {};
template <typename R, typename C, typename... P>
struct MethodTraits<R (C::*)(P...) noexcept> : MethodTraits<R (C::*)(P...)> {};
template <typename R, typename C, typename... P>
struct MethodTraits<R (C::*)(P...) const noexcept> : MethodTraits<R (C::*)(P...)> {};

}  // namespace ringactor::actors::detail
