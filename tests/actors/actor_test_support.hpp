// Helpers for actor tests: a reactor and its stage stepped by hand on the test thread (no
// threads, no sleeps), and the same on a background thread for cross-thread tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>

#include <ringactor/actors/connection_actor.hpp>
#include <ringactor/actors/ref.hpp>
#include <ringactor/actors/stage.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "test_support.hpp"

namespace ringactor::test {

namespace ra = ringactor::actors;
namespace rt = ringactor::runtime;
using namespace std::chrono_literals;

// A reactor and stage owned by the test thread, advanced with step()/run_until().
class SteppedStage {
 public:
  explicit SteppedStage(ra::StageOptions stage_options = {}, rt::ReactorOptions options = quiet())
      : reactor_(options), stage_(reactor_, stage_options) {}
  ~SteppedStage() { shutdown(); }

  static rt::ReactorOptions quiet() {
    return rt::ReactorOptions{.idle_timeout = std::chrono::milliseconds(0), .write_timeout = std::chrono::milliseconds(0)};
  }

  // One loop iteration, without sleeping.
  void step() { reactor_.poll(); }
  // Steps until pred() holds or `limit` passes (sleeping at most 1 ms per iteration when
  // idle, so timers can come due). Returns pred().
  template <typename Pred>
  bool run_until(Pred&& pred, std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < deadline) reactor_.poll(1ms);
    return pred();
  }
  // Steps for a while (to show something does NOT happen).
  void run_for(std::chrono::milliseconds d) {
    const auto deadline = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < deadline) reactor_.poll(1ms);
  }
  // Graceful stop, stepped to completion. Idempotent.
  void shutdown() {
    reactor_.stop();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (reactor_.poll(1ms) && std::chrono::steady_clock::now() < deadline) {
    }
  }

  rt::Reactor& reactor() { return reactor_; }
  ra::Stage& stage() { return stage_; }

 private:
  rt::Reactor reactor_;
  ra::Stage stage_;
};

// A reactor and stage running on their own thread.
class StageThread {
 public:
  explicit StageThread(rt::ReactorOptions options = SteppedStage::quiet(), ra::StageOptions stage_options = {})
      : reactor_(std::make_unique<rt::Reactor>(options)),
        stage_(std::make_unique<ra::Stage>(*reactor_, stage_options)) {}
  ~StageThread() { stop(); }

  // Call after setting things up (spawn, listen) on this thread.
  void start() {
    thread_ = std::thread([this] { reactor_->run(); });
  }
  void stop() {
    if (thread_.joinable()) {
      reactor_->stop();
      thread_.join();
    }
  }
  // Runs fn on the reactor thread and returns its result.
  template <typename F>
  auto call(F fn) -> decltype(fn()) {
    return call_on(*reactor_, std::move(fn));
  }
  rt::Reactor& reactor() { return *reactor_; }
  ra::Stage& stage() { return *stage_; }
  std::thread::id thread_id() const { return thread_.get_id(); }

 private:
  std::unique_ptr<rt::Reactor> reactor_;
  std::unique_ptr<ra::Stage> stage_;  // destroyed before the reactor
  std::thread thread_;

 public:
  // Members are destroyed in reverse order: thread joined in ~StageThread first.
};

}  // namespace ringactor::test
