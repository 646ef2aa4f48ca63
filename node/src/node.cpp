// Node: reactors on threads, their stages and mesh, one worker arena (see node.hpp).
#include "ringactor/node/node.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

namespace ringactor::node {

namespace {

std::vector<int> affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  if (cpus.empty()) {
    const unsigned hw = std::thread::hardware_concurrency();
    for (unsigned c = 0; c < (hw == 0 ? 1 : hw); ++c) cpus.push_back(static_cast<int>(c));
  }
  return cpus;
}

// Descriptors each reactor needs besides its connections: ring, eventfd, signalfd,
// listeners, files read through the ring.
constexpr std::uint64_t kPerReactorReserve = 32;
constexpr std::uint64_t kProcessReserve = 128;  // what the application opens itself

// Splits the process's connection budget and raises the soft descriptor limit to hold it.
std::uint32_t split_connections(std::uint32_t total, unsigned reactors) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    throw std::system_error(errno, std::generic_category(), "Node: getrlimit(RLIMIT_NOFILE)");
  }
  const std::uint64_t overhead = kProcessReserve + kPerReactorReserve * reactors;
  const bool unlimited = lim.rlim_max == RLIM_INFINITY;
  if (total == 0) {
    if (!unlimited && lim.rlim_max <= overhead + 16ull * reactors) {
      throw std::invalid_argument("Node: the RLIMIT_NOFILE hard limit " + std::to_string(lim.rlim_max) +
                                  " leaves no room for connections on " + std::to_string(reactors) +
                                  " reactors; raise it (ulimit -Hn)");
    }
    const std::uint64_t avail = unlimited ? 65536ull * reactors : lim.rlim_max - overhead;
    total = static_cast<std::uint32_t>(std::min<std::uint64_t>(avail, 65536ull * reactors));
  }
  const std::uint32_t per = (total + reactors - 1) / reactors;
  const std::uint64_t need = static_cast<std::uint64_t>(per) * reactors + overhead;
  if (!unlimited && need > lim.rlim_max) {
    throw std::invalid_argument("Node: " + std::to_string(reactors) + " reactors of " + std::to_string(per) +
                                " connections need about " + std::to_string(need) +
                                " descriptors but the RLIMIT_NOFILE hard limit is " + std::to_string(lim.rlim_max) +
                                "; lower max_connections or raise the limit");
  }
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < need) {
    lim.rlim_cur = need;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      throw std::system_error(errno, std::generic_category(),
                              "Node: raising the RLIMIT_NOFILE soft limit to " + std::to_string(need));
    }
  }
  return per;
}

}  // namespace

Node::Node(NodeOptions options) : options_(std::move(options)), cpus_(affinity_cpus()) {
  const unsigned n = options_.reactors != 0 ? options_.reactors : static_cast<unsigned>(cpus_.size());
  if (n > 1024) throw std::invalid_argument("NodeOptions: at most 1024 reactors (got " + std::to_string(n) + ")");
  runtime::ReactorOptions ro = options_.reactor;
  ro.max_connections = split_connections(ro.max_connections, n);
  const bool signals = ro.handle_signals;
  // Before any thread exists: every thread inherits the mask, so only reactor 0's signalfd
  // sees the stop signals.
  if (signals) runtime::Reactor::block_stop_signals();
  mesh_ = std::make_unique<actors::Mesh>(options_.mesh);
  for (unsigned i = 0; i < n; ++i) {
    ro.handle_signals = signals && i == 0;
    reactors_.push_back(std::make_unique<runtime::Reactor>(ro));
    stages_.push_back(std::make_unique<actors::Stage>(*reactors_.back(), options_.stage));
    mesh_->join(*stages_.back());
    // Whichever reactor begins a graceful stop (a signal, Reactor::stop) takes the others
    // with it: one atomic load per iteration while it runs.
    runtime::Reactor& r = *reactors_.back();
    r.add_tick_hook([this, i, &r] {
      if (r.lifeline().is_cut() && !stopping_.load(std::memory_order_relaxed)) propagate_stop(i);
    });
  }
  offload::ArenaOptions wo = options_.workers;
  wo.reactors = n;
  if (wo.threads == 0) {
    const unsigned cpus = static_cast<unsigned>(cpus_.size());
    wo.threads = cpus > n ? cpus - n : 1;
  }
  workers_ = std::make_unique<offload::WorkerArena>(wo);
}

Node::~Node() {
  stop();
  // run() joined its threads before returning; a Node that never ran has none. The worker
  // arena goes first (its results for finished reactors are dropped), then the mesh
  // (counting what is left in its rings), then the stages, then the reactors.
  workers_.reset();
  mesh_.reset();
  stages_.clear();
  reactors_.clear();
}

void Node::on_sighup(runtime::UniqueFunction<void()> fn) { reactors_.front()->on_sighup(std::move(fn)); }

void Node::propagate_stop(unsigned from) noexcept {
  (void)from;
  if (stopping_.exchange(true, std::memory_order_acq_rel)) return;
  stops_propagated_.fetch_add(1, std::memory_order_relaxed);
  for (auto& r : reactors_) r->stop();
}

void Node::stop() noexcept {
  if (stopping_.exchange(true, std::memory_order_acq_rel)) return;
  for (auto& r : reactors_) r->stop();
}

NodeCounters Node::counters() const noexcept {
  return NodeCounters{stops_propagated_.load(std::memory_order_relaxed)};
}

void Node::run() {
  if (ran_) throw std::logic_error("Node::run: called twice");
  ran_ = true;
  std::mutex m;
  std::exception_ptr first_error;
  std::vector<std::thread> threads;
  threads.reserve(reactors_.size());
  for (unsigned i = 0; i < reactors_.size(); ++i) {
    threads.emplace_back([this, i, &m, &first_error] {
      if (options_.pin_threads) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpus_[i % cpus_.size()], &set);
        ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);  // best effort
      }
      try {
        reactors_[i]->run();
      } catch (...) {
        {
          std::lock_guard<std::mutex> lock(m);
          if (!first_error) first_error = std::current_exception();
        }
        stop();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace ringactor::node
