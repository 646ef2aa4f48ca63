// The device side of demos/gpu-offload: a battle simulation kernel launched on its own CUDA
// stream. Plain C++ interface so the rest of the demo compiles with the host compiler.
#pragma once

#include <cstdint>
#include <string>

namespace gpu {

struct Job;  // device buffers, the stream, the result

// Throws std::runtime_error naming the CUDA error (no device, out of memory, ...).
std::string device_name();
// Starts `teams` independent battles of `rounds` rounds each, asynchronously.
Job* launch(std::uint32_t teams, std::uint32_t rounds);
// True once the kernel and the copy back finished (cudaStreamQuery); throws on a CUDA error.
bool done(Job* job);
// The checksum of all battles; call after done().
std::uint64_t result(const Job* job);
void release(Job* job) noexcept;

// The same computation on the CPU, to check the device's answer.
std::uint64_t reference(std::uint32_t teams, std::uint32_t rounds);

}  // namespace gpu
