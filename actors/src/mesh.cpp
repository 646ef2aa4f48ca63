// Mesh: SPSC rings between the stages of several reactors (see mesh.hpp, mesh_port.hpp).
#include "mesh_port.hpp"

#include <stdexcept>
#include <string>

namespace ringactor::actors {

namespace detail {

MeshPort*& tl_mesh_port() noexcept {
  thread_local MeshPort* port = nullptr;
  return port;
}

namespace {
void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
}  // namespace

void MeshPort::send(MeshPort& dst, std::uint32_t slot, std::uint32_t generation, Stage::Message& m) {
  const unsigned d = dst.index;
  SpscRing& ring = *out[d];
  std::unique_ptr<Backlog>& b = backlog[d];
  bump(c.sent);
  if (!wake_pending[d]) {
    wake_pending[d] = 1;
    to_wake.push_back(d);
  }
  // Behind a backlog, a message waits its turn: order per sender holds. A full ring sends
  // it to the backlog; the park check asks the consumer for a wake-up once it made room.
  // An emptied backlog is kept (with its cached blocks) for the next overflow.
  if ((!b || b->empty()) && ring.try_push(slot, generation, m)) return;
  if (!b) b = std::make_unique<Backlog>();
  if (b->empty()) ++backlogged_destinations;
  b->emplace_back(slot, generation, std::move(m));
  bump(c.backlogged);
  // A long handler may send far more than a ring holds: every 64 backlogged messages, move
  // what the consumer has made room for, rather than only once per iteration.
  if (++since_refill >= 64) {
    since_refill = 0;
    refill(d);
  }
}

void MeshPort::refill(unsigned d) {
  Backlog* b = backlog[d].get();
  if (b == nullptr || b->empty()) return;
  SpscRing& ring = *out[d];
  while (!b->empty() && ring.try_push(b->front().slot, b->front().generation, b->front().msg)) b->pop_front();
  if (b->empty()) --backlogged_destinations;
}

void MeshPort::before_wait() {
  tl_mesh_port() = this;
  // Traffic from other reactors a moment ago: poll for more rather than sleep and pay a
  // wake-up (MeshOptions::spin). The reactor does not even announce a park then, so
  // senders see it awake and write no eventfd.
  if (spin.count() != 0 && std::chrono::steady_clock::now() - last_received < spin) stage->reactor().request_iteration();
  if (backlogged_destinations != 0) {
    for (unsigned d = 0; d < backlog.size(); ++d) {
      if (!backlog[d] || backlog[d]->empty()) continue;
      refill(d);
      if (!wake_pending[d]) {  // what moved into the ring needs its consumer awake
        wake_pending[d] = 1;
        to_wake.push_back(d);
      }
    }
  }
  for (unsigned d : to_wake) {
    wake_pending[d] = 0;
    mesh_member(d).stage->reactor().wake();
    bump(c.wakeups);
  }
  to_wake.clear();
}

std::size_t MeshPort::drain(std::size_t budget) {
  tl_mesh_port() = this;
  std::size_t total = 0;
  for (unsigned s = 0; s < in.size() && total < budget; ++s) {
    SpscRing* ring = in[s];
    if (ring == nullptr) continue;
    const std::size_t n = ring->drain(budget - total, [this](MeshEnvelope& e) {
      stage->deliver_remote(e.slot, e.generation, e.msg);
    });
    if (n == 0) continue;
    total += n;
    // Room was made: a producer waiting for it gets one wake-up.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (ring->producer_waiting.load(std::memory_order_relaxed) &&
        ring->producer_waiting.exchange(false, std::memory_order_acq_rel)) {
      mesh_member(s).stage->reactor().wake();
    }
  }
  if (total != 0) {
    bump(c.received, total);
    if (spin.count() != 0) last_received = stage->reactor().now();
  }
  return total;
}

bool MeshPort::inbound_waiting() const noexcept {
  for (const SpscRing* ring : in) {
    if (ring != nullptr && ring->has_items()) return true;
  }
  return false;
}

bool MeshPort::must_stay_awake() noexcept {
  if (inbound_waiting()) return true;
  if (backlogged_destinations == 0) return false;
  // About to sleep with a backlog: ask each consumer for a wake-up when it makes room, then
  // look for room once more. The flag is raised here, after `parked` (the consumer may have
  // cleared an earlier one while this thread refilled the ring): either the consumer sees
  // the flag after its drain and wakes us, or we see the room it made and stay awake.
  for (unsigned d = 0; d < backlog.size(); ++d) {
    if (!backlog[d] || backlog[d]->empty()) continue;
    out[d]->producer_waiting.store(true, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (out[d]->has_room()) return true;
  }
  return false;
}

void MeshPort::stop() {
  // The stage stopped its actors just before (its stop hook runs first): what the rings
  // hold now becomes dead letters, each counted (asks answer kDead).
  while (drain(1024) != 0) {
  }
  stopped = true;
  // Each backlog goes to its destination through the invoke queue. There the destination
  // first takes what the ring from here still holds, so the order per sender holds.
  for (unsigned d = 0; d < backlog.size(); ++d) {
    std::unique_ptr<Backlog>& b = backlog[d];
    if (!b || b->empty()) continue;
    MeshPort& dst = mesh_member(d);
    SpscRing* ring = out[d];
    const std::size_t n = b->size();
    Stage* target = dst.stage;
    const bool posted = target->reactor().post([target, ring, b = std::move(b)]() mutable {
      while (ring->drain(1024, [target](MeshEnvelope& e) { target->deliver_remote(e.slot, e.generation, e.msg); }) != 0) {
      }
      while (!b->empty()) {
        target->deliver_remote(b->front().slot, b->front().generation, b->front().msg);
        b->pop_front();
      }
    });
    if (posted) {
      bump(c.handed_over, n);
    } else {
      // The destination has finished too: dead letters (destroying them answers asks).
      for (std::size_t i = 0; i < n; ++i) target->count_lost_letter();
    }
  }
  backlogged_destinations = 0;
  for (unsigned d : to_wake) {
    wake_pending[d] = 0;
    mesh_member(d).stage->reactor().wake();
  }
  to_wake.clear();
}

}  // namespace detail

struct Mesh::Impl {
  MeshOptions options;
  std::vector<std::unique_ptr<detail::MeshPort>> ports;
  std::vector<std::unique_ptr<detail::SpscRing>> rings;  // every ring, for destruction
};

namespace detail {
MeshPort& MeshPort::mesh_member(unsigned i) const noexcept { return *mesh->ports[i]; }
}  // namespace detail

Mesh::Mesh(MeshOptions options) : impl_(std::make_unique<Impl>()) {
  const std::uint32_t c = options.ring_capacity;
  if (c < 2 || (c & (c - 1)) != 0) {
    throw std::invalid_argument("MeshOptions: ring_capacity must be a power of two >= 2 (got " + std::to_string(c) + ")");
  }
  impl_->options = options;
}

Mesh::~Mesh() {
  // Every member's reactor has finished (see mesh.hpp): what lies in a ring now was sent
  // after its destination's last drain. Destroying a message answers an ask in it.
  for (auto& port : impl_->ports) {
    for (detail::SpscRing* ring : port->in) {
      if (ring == nullptr) continue;
      const std::size_t n = ring->drop_all();
      for (std::size_t i = 0; i < n; ++i) port->stage->count_lost_letter();
    }
    // Backlogs of a member whose reactor never ran its stop hooks.
    for (unsigned d = 0; d < port->backlog.size(); ++d) {
      if (!port->backlog[d]) continue;
      for (std::size_t i = port->backlog[d]->size(); i > 0; --i) impl_->ports[d]->stage->count_lost_letter();
      port->backlog[d].reset();
    }
  }
  for (auto& port : impl_->ports) port->stage->port_ = nullptr;
}

unsigned Mesh::join(Stage& stage) {
  if (stage.port_ != nullptr) throw std::logic_error("Mesh::join: the stage is already in a mesh");
  for (auto& p : impl_->ports) {
    if (&p->stage->reactor() == &stage.reactor()) {
      throw std::logic_error("Mesh::join: another stage of this reactor is already a member");
    }
    if (p->stage->reactor().counters().iterations != 0) {
      throw std::logic_error("Mesh::join: join every stage before any member's reactor runs");
    }
  }
  if (stage.reactor().counters().iterations != 0) {
    throw std::logic_error("Mesh::join: join every stage before any member's reactor runs");
  }
  auto port = std::make_unique<detail::MeshPort>();
  detail::MeshPort& me = *port;
  me.mesh = impl_.get();
  me.stage = &stage;
  me.index = static_cast<unsigned>(impl_->ports.size());
  me.spin = impl_->options.spin;
  impl_->ports.push_back(std::move(port));
  const unsigned n = static_cast<unsigned>(impl_->ports.size());
  for (auto& p : impl_->ports) {
    p->out.resize(n, nullptr);
    p->in.resize(n, nullptr);
    p->backlog.resize(n);
    p->wake_pending.resize(n, 0);
  }
  for (unsigned other = 0; other + 1 < n; ++other) {
    detail::MeshPort& o = *impl_->ports[other];
    for (auto [from, to] : {std::pair{&me, &o}, std::pair{&o, &me}}) {
      impl_->rings.push_back(std::make_unique<detail::SpscRing>(impl_->options.ring_capacity));
      from->out[to->index] = impl_->rings.back().get();
      to->in[from->index] = impl_->rings.back().get();
    }
  }
  stage.port_ = &me;
  runtime::Reactor& r = stage.reactor();
  r.add_before_wait_hook([&me] { me.before_wait(); });
  r.add_park_check([&me](bool& busy) { busy = me.must_stay_awake(); });
  r.add_tick_hook([&me, &r, budget = stage.options_.run_budget] {
    if (me.drain(budget) == budget) r.request_iteration();  // more may wait: look again soon
  });
  r.add_stop_hook([&me] { me.stop(); });
  return me.index;
}

unsigned Mesh::size() const noexcept { return static_cast<unsigned>(impl_->ports.size()); }

MeshCounters Mesh::counters(unsigned member) const {
  if (member >= impl_->ports.size()) throw std::out_of_range("Mesh::counters: no member " + std::to_string(member));
  const auto& c = impl_->ports[member]->c;
  auto v = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  return MeshCounters{v(c.sent), v(c.backlogged), v(c.received), v(c.wakeups), v(c.handed_over)};
}

// ---- Stage's side --------------------------------------------------------------------------

bool Stage::send_across(ActorId target, Message& m) {
  detail::MeshPort* dst = target.stage->port_;
  detail::MeshPort* src = detail::tl_mesh_port();
  if (src == nullptr || src == dst || src->mesh != dst->mesh || src->stopped ||
      !src->stage->reactor().in_reactor_thread()) {
    return false;
  }
  src->send(*dst, target.slot, target.generation, m);
  return true;
}

}  // namespace ringactor::actors
