// Mesh: the message paths between the stages of several reactors of one process.
//
// Without a mesh, a message to an actor of another reactor travels through that reactor's
// invoke queue (a multi-producer queue, one eventfd write per sleep). Stages that joined a
// mesh talk through one single-producer single-consumer ring per (source, destination)
// pair instead:
//   - the sender's reactor thread constructs the message in the ring's slot (no lock, no
//     allocation for a message within Stage::Message's inline size);
//   - a full ring never blocks or drops: the message goes to the sender's backlog for that
//     destination (and every later one too, until the backlog drained, so order holds), and
//     the destination wakes the sender once it made room;
//   - wake-ups are coalesced: a sender wakes each destination it sent to at most once per
//     loop iteration (before it may sleep itself), and only if that destination sleeps;
//   - the destination drains its rings once per iteration, up to the stage's run budget.
// Per sender thread, messages to one actor arrive in the order they were sent. Messages from
// threads that are not a member's reactor thread (workers, other libraries) still use the
// invoke queue. Asks answer on the asker's reactor as everywhere.
//
// Stopping: a message to a reactor that has finished is a dead letter (counted; an ask in it
// answers kShutdown). A stopping destination drains its rings once more after its actors
// stopped (those messages become dead letters); a stopping sender hands its backlog to each
// destination through its invoke queue. What still lies in a ring when the Mesh is
// destroyed is destroyed then and counted as a dead letter of its destination: nothing is
// lost silently.
//
// Threads: join() before any member's reactor runs (setup thread). counters() from any
// thread. Lifetime: declare the Mesh after the Reactors and Stages it joins, so that it is
// destroyed first, once every member's reactor has finished (node::Node does this).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

namespace ringactor::actors {

class Stage;

struct MeshOptions {
  // Messages each (source, destination) ring holds; a power of two. 96 bytes each: the
  // default costs 192 KiB per pair, touched as traffic flows (N x (N - 1) pairs: 5.6 MiB
  // for 6 reactors, 45 MiB for 16). Smaller rings spill into the backlog sooner and need a
  // wake-up round per ring's worth of messages (bench/README.md: a stream between two
  // reactors runs at 6M messages/s with 256, 13M with 1024, 18M with 2048, 16M with 4096).
  std::uint32_t ring_capacity = 2048;
  // After taking messages from another reactor, a member keeps polling instead of sleeping
  // for this long, so that a conversation between reactors does not pay a wake-up (an
  // eventfd write and a context switch, ~12 us on a virtual machine; 0.2 us with spin) per
  // hop. Costs a core's time while it polls; zero: sleep at once.
  std::chrono::microseconds spin{0};
};

// One member's traffic (any thread; relaxed snapshots).
struct MeshCounters {
  std::uint64_t sent = 0;        // messages put into this member's outgoing rings
  std::uint64_t backlogged = 0;  // of them, first parked in a backlog because a ring was full
  std::uint64_t received = 0;    // messages taken from this member's incoming rings
  std::uint64_t wakeups = 0;     // wake() calls made to destinations (eventfd writes only if asleep)
  std::uint64_t handed_over = 0; // backlogged messages handed over at this member's stop
};

class Mesh {
 public:
  explicit Mesh(MeshOptions options = {});
  Mesh(const Mesh&) = delete;
  Mesh& operator=(const Mesh&) = delete;
  ~Mesh();

  // Adds a stage (of a reactor no other member uses). Before any member's reactor runs.
  // Returns the member's index. Throws std::logic_error for a stage already in a mesh, a
  // second stage of one reactor, or a join after a member's reactor ran;
  // std::invalid_argument for a ring capacity that is not a power of two >= 2.
  unsigned join(Stage& stage);
  unsigned size() const noexcept;
  MeshCounters counters(unsigned member) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringactor::actors
