// Replaces the global operator new/delete to count allocations. Include it in exactly one
// source file of a test binary (a replacement may be defined once per program).
//
// Every allocation is counted in g_allocations; those made on a thread that set
// t_count_allocations (a reactor thread, say) are also counted in g_counted_allocations.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace ringactor::test {
inline std::atomic<std::uint64_t> g_allocations{0};
inline std::atomic<std::uint64_t> g_counted_allocations{0};
inline thread_local bool t_count_allocations = false;

inline void note_allocation() noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (t_count_allocations) g_counted_allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace ringactor::test

void* operator new(std::size_t n) {
  ringactor::test::note_allocation();
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  ringactor::test::note_allocation();
  const auto al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) & ~(al - 1))) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
