// The arena's step on a CUDA device (arena --gpu): the kernel runs the per-unit decision of
// sim_core.hpp (the same function the CPU step runs), one thread per unit, on a stream of
// its own; the room polls it (WorkerArena::offload_polled) and applies its result on the
// host with the CPU step's own code. Built only when CMake finds a CUDA compiler (the
// arena then defines RINGACTOR_ARENA_GPU); plain C++ interface, so only sim_gpu.cu needs nvcc.
//
// Threads: any thread may launch; one job is used by one thread at a time (launched on a
// worker, polled and finished on the arena's poller, released wherever its owner dies).
// Cost per step: one host-to-device copy of the world and its grid (~26 B per unit), one
// kernel, one device-to-host copy of ~17 B per unit; buffers and streams are pooled
// ("lanes"), so a warm step allocates nothing on either side.
#pragma once

#include <string>

#include "../sim.hpp"

namespace arena::gpu {

struct StepJob;

// The first device's name. Throws std::runtime_error naming the CUDA error (no device, no
// driver, ...).
std::string device_name();

// Starts the step of `w` by `dt` seconds on the device and returns at once. Throws
// std::runtime_error naming the CUDA error.
StepJob* launch(const World& w, float dt);
// True once the kernel and the copy back finished (cudaStreamQuery); throws on a CUDA error.
bool done(StepJob* job);
// Blocks until done (cudaStreamSynchronize); throws on a CUDA error. For setup and tests.
void wait(StepJob* job);
// After done(): applies the device's result to `w`, which must be the world given to launch
// (unchanged since): positions, cooldowns, damage, kills, living units, tick + 1.
void finish(StepJob* job, World& w);
// Returns the job's lane to the pool (waiting for its stream first if the job is still
// running, as when a step is cancelled). Null is ignored.
void release(StepJob* job) noexcept;

// Steps a world of `seats` x `units_per_seat` units, marching to the centre and fighting,
// `steps` times on the device and on the CPU, comparing the two after every step. Returns
// a line saying what matched; throws std::runtime_error naming the first difference or the
// CUDA error. Blocks (setup: arena --gpu runs it before serving).
std::string self_test(unsigned seats, unsigned units_per_seat, unsigned steps);

}  // namespace arena::gpu
