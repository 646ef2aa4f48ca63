// Covers the parser fuzz target's inputs with the ordinary build: the seed corpus and every
// input that once crashed it (tests/fuzz/regressions) must pass the target's checks.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {
int replay(const char* dir) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename().string().front() == '.') continue;
    std::ifstream f(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(entry.path().string());
    EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), 0);
    ++n;
  }
  return n;
}
}  // namespace

#ifndef RINGACTOR_FUZZ_MIN_SEEDS
#define RINGACTOR_FUZZ_MIN_SEEDS 7
#endif
TEST(FuzzReplay, SeedCorpus) { EXPECT_GE(replay(RINGACTOR_FUZZ_CORPUS), RINGACTOR_FUZZ_MIN_SEEDS); }
TEST(FuzzReplay, SavedCrashes) { replay(RINGACTOR_FUZZ_REGRESSIONS); }
