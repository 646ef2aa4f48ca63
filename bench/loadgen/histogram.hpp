// Histogram: latencies in nanoseconds, log-bucketed HDR-style so every recorded value is
// known to within 0.8% (128 sub-buckets per power of two; values under 256 ns are exact).
// One per worker thread, owned and written by that thread only (no atomics: record() is on
// the hot path); the main thread merges them after the workers have been joined.
// Fixed size (7,424 counters, 58 KiB), no allocation after construction.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <vector>

namespace loadgen {

class Histogram {
 public:
  static constexpr int kSubBits = 7;  // 128 sub-buckets: width <= 1/128 of the value
  static constexpr std::uint64_t kSub = 1u << kSubBits;
  static constexpr std::size_t kBuckets = (64 - kSubBits + 1) * kSub;  // 7,424

  Histogram() : counts_(kBuckets, 0) {}

  // Adds one value (ns). Costs a clz, a shift and an increment.
  void record(std::uint64_t v) {
    ++counts_[index(v)];
    ++count_;
    sum_ += v;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
  // Adds `n` equal values at once (responses that arrived together).
  void record_n(std::uint64_t v, std::uint64_t n) {
    counts_[index(v)] += n;
    count_ += n;
    sum_ += v * n;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }

  void merge(const Histogram& o) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
  }

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ != 0 ? min_ : 0; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ != 0 ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }

  // The value at quantile q (0..1): the middle of the bucket holding the ceil(q * count)-th
  // smallest value, clamped to [min, max]. 0 when empty. Walks the buckets: for reports only.
  std::uint64_t quantile(double q) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_) + 0.999999);
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::clamp(middle(i), min(), max_);
    }
    return max_;
  }

  // Bucket arithmetic, public for the self-test.
  static std::size_t index(std::uint64_t v) {
    if (v < 2 * kSub) return static_cast<std::size_t>(v);
    const int e = 63 - std::countl_zero(v);  // >= kSubBits + 1
    const int shift = e - kSubBits;
    return (static_cast<std::size_t>(shift) << kSubBits) + static_cast<std::size_t>(v >> shift);
  }
  static std::uint64_t lowest(std::size_t i) {
    if (i < 2 * kSub) return i;
    const std::size_t shift = (i >> kSubBits) - 1;
    return ((i & (kSub - 1)) | kSub) << shift;
  }
  static std::uint64_t width(std::size_t i) {
    return i < 2 * kSub ? 1 : std::uint64_t{1} << ((i >> kSubBits) - 1);
  }
  static std::uint64_t middle(std::size_t i) { return lowest(i) + (width(i) - 1) / 2; }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

}  // namespace loadgen
