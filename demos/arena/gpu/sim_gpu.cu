// The arena's step as a CUDA kernel (see sim_gpu.hpp). Compiled with -fmad=false: no
// contraction into fused multiply-adds, so the kernel's float arithmetic rounds as the CPU
// step's does (both are IEEE single precision with correctly rounded +, -, *, /, sqrt).
#include "sim_gpu.hpp"

#include <cuda_runtime.h>

#include <cstddef>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "../sim_core.hpp"

namespace arena::gpu {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}

// Damage and the lowest attacker, accumulated by atomics: damage is a sum of kDamage
// (a small integer, exact in float), so its value does not depend on the order of the adds.
struct DeviceHit {
  float* damage;
  std::int32_t* last_hit;
  __host__ __device__ void operator()(std::uint32_t target, std::uint32_t attacker) const {
#if defined(__CUDA_ARCH__)
    atomicAdd(&damage[target], core::kDamage);
    atomicMin(&last_hit[target], static_cast<std::int32_t>(attacker));
#else
    (void)target;
    (void)attacker;
#endif
  }
};

__global__ void step_kernel(std::uint32_t n, const Unit* units, const Command* commands, const core::Offset* spread,
                            core::GridView grid, float dt, core::Out out, DeviceHit hit) {
  const std::uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n || !(units[i].hp > 0)) return;
  core::decide(i, units, commands, spread, grid, dt, out, hit);
}

std::size_t align16(std::size_t v) { return (v + 15) & ~std::size_t{15}; }

// Where each array lies in a lane's buffers (the same offsets on the host and the device).
// [units commands spread, the grids] go to the device only; [damage last_hit nx ny
// cooldown] go there initialised and come back.
struct Layout {
  std::size_t units, commands, spread, start, items, seat_start, seat_x, seat_y, seat_id, boxes, back, damage,
      last_hit, nx, ny, cooldown, size;
  Layout(std::size_t n, std::size_t seats, std::size_t items_n) {
    std::size_t at = 0;
    const auto take = [&](std::size_t bytes) {
      const std::size_t here = at;
      at = align16(at + bytes);
      return here;
    };
    units = take(n * sizeof(Unit));
    commands = take(seats * sizeof(Command));
    spread = take(n * sizeof(core::Offset));
    start = take((core::kCells * core::kCells + 1) * sizeof(std::uint32_t));
    items = take(items_n * sizeof(core::GridItem));
    seat_start = take((seats * core::kCells + 1) * sizeof(std::uint32_t));
    seat_x = take(items_n * sizeof(float));
    seat_y = take(items_n * sizeof(float));
    seat_id = take(items_n * sizeof(std::int32_t));
    boxes = take(seats * sizeof(core::CellBox));
    back = at;
    damage = take(n * sizeof(float));
    last_hit = take(n * sizeof(std::int32_t));
    nx = take(n * sizeof(float));
    ny = take(n * sizeof(float));
    cooldown = take(n);
    size = at;
  }
};

// A stream with its pinned host buffer and device buffer, grown on demand, reused by the
// next job once its owner released it. Lanes live as long as the process.
struct Lane {
  cudaStream_t stream = nullptr;
  char* host = nullptr;    // pinned, so the copies are asynchronous
  char* device = nullptr;
  std::size_t capacity = 0;
  core::Grids grids;  // built on the host

  void reserve(std::size_t bytes) {
    if (bytes <= capacity) return;
    if (host != nullptr) cudaFreeHost(host);
    if (device != nullptr) cudaFree(device);
    host = nullptr;
    device = nullptr;
    capacity = 0;
    const std::size_t want = bytes + bytes / 2;
    check(cudaMallocHost(reinterpret_cast<void**>(&host), want), "cudaMallocHost");
    check(cudaMalloc(reinterpret_cast<void**>(&device), want), "cudaMalloc");
    capacity = want;
  }
};

std::mutex lanes_mutex;
std::vector<Lane*> free_lanes;

Lane* acquire() {
  {
    std::lock_guard<std::mutex> lock(lanes_mutex);
    if (!free_lanes.empty()) {
      Lane* l = free_lanes.back();
      free_lanes.pop_back();
      return l;
    }
  }
  auto* l = new Lane;
  const cudaError_t e = cudaStreamCreateWithFlags(&l->stream, cudaStreamNonBlocking);
  if (e != cudaSuccess) {
    delete l;
    check(e, "cudaStreamCreate");
  }
  return l;
}

void give_back(Lane* l) {
  std::lock_guard<std::mutex> lock(lanes_mutex);
  free_lanes.push_back(l);
}

}  // namespace

struct StepJob {
  Lane* lane = nullptr;
  std::size_t n = 0;
  Layout layout{0, 0, 0};
};

std::string device_name() {
  int n = 0;
  check(cudaGetDeviceCount(&n), "cudaGetDeviceCount");
  if (n == 0) throw std::runtime_error("CUDA: no device");
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, 0), "cudaGetDeviceProperties");
  return p.name;
}

StepJob* launch(const World& w, float dt) {
  auto* job = new StepJob;
  try {
    job->lane = acquire();
    Lane& l = *job->lane;
    const std::size_t n = w.units.size();
    const core::Grids& g = l.grids;
    core::build_grid(w.units, static_cast<std::uint32_t>(w.commands.size()), l.grids);
    const Layout at(n, w.commands.size(), g.items.size());
    job->n = n;
    job->layout = at;
    l.reserve(at.size);
    char* h = l.host;
    std::memcpy(h + at.units, w.units.data(), n * sizeof(Unit));
    std::memcpy(h + at.commands, w.commands.data(), w.commands.size() * sizeof(Command));
    std::memcpy(h + at.spread, core::spread_table(n), n * sizeof(core::Offset));
    std::memcpy(h + at.start, g.start.data(), g.start.size() * sizeof(std::uint32_t));
    std::memcpy(h + at.items, g.items.data(), g.items.size() * sizeof(core::GridItem));
    std::memcpy(h + at.seat_start, g.seat_start.data(), g.seat_start.size() * sizeof(std::uint32_t));
    std::memcpy(h + at.seat_x, g.seat_x.data(), g.seat_x.size() * sizeof(float));
    std::memcpy(h + at.seat_y, g.seat_y.data(), g.seat_y.size() * sizeof(float));
    std::memcpy(h + at.seat_id, g.seat_id.data(), g.seat_id.size() * sizeof(std::int32_t));
    std::memcpy(h + at.boxes, g.boxes.data(), g.boxes.size() * sizeof(core::CellBox));
    auto* damage = reinterpret_cast<float*>(h + at.damage);
    auto* last_hit = reinterpret_cast<std::int32_t*>(h + at.last_hit);
    for (std::size_t i = 0; i < n; ++i) {
      damage[i] = 0.0f;
      last_hit[i] = core::kNoHit;
    }
    check(cudaMemcpyAsync(l.device, h, at.last_hit + n * sizeof(std::int32_t),
                          cudaMemcpyHostToDevice, l.stream),
          "cudaMemcpyAsync (to the device)");
    char* d = l.device;
    const core::GridView grid{reinterpret_cast<const std::uint32_t*>(d + at.start),
                              reinterpret_cast<const core::GridItem*>(d + at.items),
                              reinterpret_cast<const std::uint32_t*>(d + at.seat_start),
                              reinterpret_cast<const float*>(d + at.seat_x),
                              reinterpret_cast<const float*>(d + at.seat_y),
                              reinterpret_cast<const std::int32_t*>(d + at.seat_id),
                              reinterpret_cast<const core::CellBox*>(d + at.boxes), g.seats};
    const core::Out out{reinterpret_cast<float*>(d + at.nx), reinterpret_cast<float*>(d + at.ny),
                        reinterpret_cast<std::uint8_t*>(d + at.cooldown)};
    const DeviceHit hit{reinterpret_cast<float*>(d + at.damage), reinterpret_cast<std::int32_t*>(d + at.last_hit)};
    const unsigned threads = 128;
    const unsigned blocks = static_cast<unsigned>((n + threads - 1) / threads);
    if (blocks > 0) {
      step_kernel<<<blocks, threads, 0, l.stream>>>(static_cast<std::uint32_t>(n), reinterpret_cast<const Unit*>(d + at.units),
                                                    reinterpret_cast<const Command*>(d + at.commands),
                                                    reinterpret_cast<const core::Offset*>(d + at.spread), grid, dt, out, hit);
      check(cudaGetLastError(), "kernel launch");
    }
    check(cudaMemcpyAsync(h + at.back, d + at.back, at.size - at.back, cudaMemcpyDeviceToHost, l.stream),
          "cudaMemcpyAsync (from the device)");
  } catch (...) {
    release(job);
    throw;
  }
  return job;
}

bool done(StepJob* job) {
  const cudaError_t e = cudaStreamQuery(job->lane->stream);
  if (e == cudaErrorNotReady) return false;
  check(e, "cudaStreamQuery");
  return true;
}

void wait(StepJob* job) { check(cudaStreamSynchronize(job->lane->stream), "cudaStreamSynchronize"); }

void finish(StepJob* job, World& w) {
  if (w.units.size() != job->n) throw std::logic_error("arena::gpu::finish: not the world given to launch");
  const char* h = job->lane->host;
  const Layout& at = job->layout;
  core::apply(w, reinterpret_cast<const float*>(h + at.nx), reinterpret_cast<const float*>(h + at.ny),
              reinterpret_cast<const std::uint8_t*>(h + at.cooldown), reinterpret_cast<const float*>(h + at.damage),
              reinterpret_cast<const std::int32_t*>(h + at.last_hit));
}

void release(StepJob* job) noexcept {
  if (job == nullptr) return;
  if (job->lane != nullptr) {
    if (cudaStreamSynchronize(job->lane->stream) == cudaSuccess) {
      give_back(job->lane);
    }  // else: a stream in error is not reused (its lane is abandoned, not freed under the device)
  }
  delete job;
}

std::string self_test(unsigned seats, unsigned units_per_seat, unsigned steps) {
  const std::string device = device_name();
  World on_device = make_world(seats, units_per_seat);
  for (Command& c : on_device.commands) c = Command{true, kMapSize / 2, kMapSize / 2};
  World on_cpu = on_device;
  for (unsigned k = 0; k < steps; ++k) {
    StepJob* job = launch(on_device, 0.05f);
    try {
      step(on_cpu, 0.05f);  // while the device runs
      wait(job);
      finish(job, on_device);
    } catch (...) {
      release(job);
      throw;
    }
    release(job);
    const std::string diff = differs(on_device, on_cpu);
    if (!diff.empty()) {
      throw std::runtime_error("the GPU step differs from the CPU step at step " + std::to_string(k + 1) + ": " + diff);
    }
  }
  unsigned kills = 0;
  for (std::uint32_t k : on_cpu.kills) kills += k;
  return device + ": " + std::to_string(steps) + " steps of " + std::to_string(on_cpu.units.size()) +
         " units (" + std::to_string(kills) + " kills) match the CPU step";
}

}  // namespace arena::gpu
