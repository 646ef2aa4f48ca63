// Covers UniqueFunction: small callables stored inline (no allocation), large ones on the
// heap, moves, and destruction of captured state exactly once.
#include <gtest/gtest.h>

#include <array>
#include <memory>

#include <ringactor/runtime/unique_function.hpp>

namespace rt = ringactor::runtime;

TEST(UniqueFunction, InlineAndHeap) {
  using F = rt::UniqueFunction<int(int)>;
  struct Small {
    int k;
    int operator()(int x) const { return x + k; }
  };
  struct Big {
    std::array<char, 200> pad{};
    int operator()(int x) const { return x * 2; }
  };
  static_assert(F::fits_inline<Small>());
  static_assert(!F::fits_inline<Big>());
  F a = Small{3};
  F b = Big{};
  EXPECT_EQ(a(1), 4);
  EXPECT_EQ(b(5), 10);
  F c = std::move(b);
  EXPECT_FALSE(b);
  EXPECT_EQ(c(6), 12);
  static_assert(sizeof(F) == 64, "one cache line");
}

TEST(UniqueFunction, MoveOnlyCaptureDestroyedOnce) {
  auto p = std::make_shared<int>(7);
  std::weak_ptr<int> w = p;
  {
    rt::UniqueFunction<int()> f = [q = std::move(p), u = std::make_unique<int>(1)] { return *q + *u; };
    rt::UniqueFunction<int()> g;
    g = std::move(f);
    EXPECT_EQ(g(), 8);
    EXPECT_FALSE(w.expired());
  }
  EXPECT_TRUE(w.expired());
}
