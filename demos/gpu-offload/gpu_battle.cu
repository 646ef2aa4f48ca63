// The battle kernel: one thread per team, xorshift-driven blows, a per-team checksum summed
// into one 64-bit value.
#include "gpu_battle.hpp"

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace gpu {

namespace {

__host__ __device__ std::uint64_t battle(std::uint32_t team, std::uint32_t rounds) {
  std::uint64_t x = 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(team) * 0xBF58476D1CE4E5B9ull);
  std::int64_t blue = 10000, red = 10000;
  std::uint64_t sum = 0;
  for (std::uint32_t i = 0; i < rounds; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const auto damage = static_cast<std::int64_t>(x % 97);
    if ((x >> 32) & 1) {
      red -= damage;
    } else {
      blue -= damage;
    }
    sum += x >> 40;
    if (blue <= 0 || red <= 0) {
      sum += blue <= 0 ? 1 : 2;
      blue = red = 10000;
    }
  }
  return sum;
}

__global__ void battles(std::uint32_t teams, std::uint32_t rounds, unsigned long long* out) {
  const std::uint32_t t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t < teams) atomicAdd(out, static_cast<unsigned long long>(battle(t, rounds)));
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

}  // namespace

struct Job {
  cudaStream_t stream = nullptr;
  unsigned long long* device_sum = nullptr;
  unsigned long long* host_sum = nullptr;  // pinned, filled by the async copy
};

std::string device_name() {
  int n = 0;
  check(cudaGetDeviceCount(&n), "cudaGetDeviceCount");
  if (n == 0) throw std::runtime_error("no CUDA device");
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, 0), "cudaGetDeviceProperties");
  return p.name;
}

Job* launch(std::uint32_t teams, std::uint32_t rounds) {
  auto* j = new Job;
  try {
    check(cudaStreamCreateWithFlags(&j->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cudaMallocAsync(reinterpret_cast<void**>(&j->device_sum), sizeof(unsigned long long), j->stream),
          "cudaMallocAsync");
    check(cudaMallocHost(reinterpret_cast<void**>(&j->host_sum), sizeof(unsigned long long)), "cudaMallocHost");
    check(cudaMemsetAsync(j->device_sum, 0, sizeof(unsigned long long), j->stream), "cudaMemsetAsync");
    const unsigned threads = 256;
    const unsigned blocks = (teams + threads - 1) / threads;
    battles<<<blocks, threads, 0, j->stream>>>(teams, rounds, j->device_sum);
    check(cudaGetLastError(), "kernel launch");
    check(cudaMemcpyAsync(j->host_sum, j->device_sum, sizeof(unsigned long long), cudaMemcpyDeviceToHost, j->stream),
          "cudaMemcpyAsync");
  } catch (...) {
    release(j);
    throw;
  }
  return j;
}

bool done(Job* j) {
  const cudaError_t e = cudaStreamQuery(j->stream);
  if (e == cudaErrorNotReady) return false;
  check(e, "cudaStreamQuery");
  return true;
}

std::uint64_t result(const Job* j) { return *j->host_sum; }

void release(Job* j) noexcept {
  if (j == nullptr) return;
  if (j->stream != nullptr) cudaStreamSynchronize(j->stream);
  if (j->device_sum != nullptr) cudaFree(j->device_sum);
  if (j->host_sum != nullptr) cudaFreeHost(j->host_sum);
  if (j->stream != nullptr) cudaStreamDestroy(j->stream);
  delete j;
}

std::uint64_t reference(std::uint32_t teams, std::uint32_t rounds) {
  std::uint64_t s = 0;
  for (std::uint32_t t = 0; t < teams; ++t) s += battle(t, rounds);
  return s;
}

}  // namespace gpu
