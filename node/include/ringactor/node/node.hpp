// Node: one process's reactors, one thread each, with their stages, the mesh between them,
// one worker arena, and the process-wide signals.
//
//   node::Node node({.reactors = 2, .reactor = {.handle_signals = true}});
//   for (unsigned i = 0; i < node.size(); ++i) {
//     node.stage(i).spawn<Room>(...);                   // setup: before run()
//   }
//   node.run();                                        // until SIGTERM or node.stop()
//
// What it does for you:
//   - N reactors (default: one per CPU the process may use), each with a Stage, all joined
//     in one actors::Mesh, so a Ref<T>::tell or ask from an actor of one reactor to an actor
//     of another goes through a lock-free ring (see mesh.hpp); and one WorkerArena with the
//     CPUs left (at least one thread).
//   - Signals: with reactor.handle_signals, SIGTERM and SIGINT are blocked in every thread
//     and read by reactor 0 alone; any reactor that begins a graceful stop (a signal,
//     Reactor::stop, node.stop()) stops them all. SIGHUP runs the on_sighup callbacks once,
//     on reactor 0's thread.
//   - Descriptors: reactor.max_connections is the process's budget (0: what the descriptor
//     limit allows), split evenly across the reactors; the soft limit is raised to fit.
//   - Optionally each reactor's thread is pinned to its own CPU.
// Listening sockets: give each reactor its own listener on the same port with
// ListenOptions::reuse_port, and the kernel spreads connections across them.
//
// Threads: construct, set up (spawn, listen, hooks) and call run() on one thread; run()
// starts a thread per reactor and returns once every reactor has stopped (rethrowing the
// first fatal error of a reactor thread, after stopping the others). stop() from any
// thread. Destroy the Node after run() returned (the destructor stops and joins if needed).
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <vector>

#include <ringactor/actors/mesh.hpp>
#include <ringactor/actors/stage.hpp>
#include <ringactor/offload/worker_arena.hpp>
#include <ringactor/runtime/reactor.hpp>
#include <ringactor/runtime/reactor_options.hpp>
#include <ringactor/runtime/unique_function.hpp>

namespace ringactor::node {

struct NodeOptions {
  // Reactors (IO threads); 0: one per CPU in the process's affinity set.
  unsigned reactors = 0;
  // Pin reactor i's thread to the i-th CPU of the affinity set (modulo its size).
  bool pin_threads = false;
  // Every reactor's options, except: max_connections is the budget of the whole process
  // (split evenly), and only reactor 0 reads signals (handle_signals applies to the process).
  runtime::ReactorOptions reactor{};
  actors::StageOptions stage{};
  actors::MeshOptions mesh{};
  // The worker arena; `reactors` is set by the Node, threads 0 means the CPUs the reactors
  // leave (at least 1).
  offload::ArenaOptions workers{};
};

struct NodeCounters {
  std::uint64_t stops_propagated = 0;  // graceful stops begun by one reactor and passed to the others
};

class Node {
 public:
  // Creates the reactors, stages, mesh and worker arena; no reactor thread runs yet.
  // Throws what Reactor's constructor throws, std::invalid_argument for a descriptor budget
  // the limit cannot hold.
  explicit Node(NodeOptions options = {});
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();

  unsigned size() const noexcept { return static_cast<unsigned>(reactors_.size()); }
  runtime::Reactor& reactor(unsigned i) { return *reactors_.at(i); }
  actors::Stage& stage(unsigned i) { return *stages_.at(i); }
  actors::Mesh& mesh() noexcept { return *mesh_; }
  offload::WorkerArena& workers() noexcept { return *workers_; }

  // Setup thread, before run(). `fn` runs on reactor 0's thread once per SIGHUP (needs
  // reactor.handle_signals).
  void on_sighup(runtime::UniqueFunction<void()> fn);

  // Runs every reactor on a thread of its own and waits for all of them to stop. Once.
  void run();
  // Any thread. Begins a graceful stop of every reactor. Idempotent.
  void stop() noexcept;
  NodeCounters counters() const noexcept;

 private:
  void propagate_stop(unsigned from) noexcept;

  NodeOptions options_;
  std::vector<std::unique_ptr<runtime::Reactor>> reactors_;
  std::vector<std::unique_ptr<actors::Stage>> stages_;
  std::unique_ptr<actors::Mesh> mesh_;                // destroyed before the stages
  std::unique_ptr<offload::WorkerArena> workers_;     // destroyed first
  std::vector<int> cpus_;                             // the affinity set, for pinning
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> stops_propagated_{0};
  bool ran_ = false;
};

}  // namespace ringactor::node
