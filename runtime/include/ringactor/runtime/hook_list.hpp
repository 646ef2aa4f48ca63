// HookList<void(Args...)>: hooks called in the order they were added, each removable by the
// HookId its add() returned, safe to change while it runs.
//
// The reactor's tick hooks and the HTTP server's deferred hooks are HookLists. A hook may add
// hooks (they are first called by the next run()) and remove any hook, itself included (a
// removed hook is not called again, and is destroyed once no run() is in progress, never in
// the middle of its own call). Runs may nest (a hook whose work leads to another run()).
//
// Threads: none of its own; one owner thread (the reactor's). Costs: add() O(1) amortised,
// remove() O(hooks), run() O(hooks) plus, after a change made while running, one compaction.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "ringactor/runtime/timer_wheel.hpp"  // HookId
#include "ringactor/runtime/unique_function.hpp"

namespace ringactor::runtime {

template <typename Signature>
class HookList;

template <typename... Args>
class HookList<void(Args...)> {
 public:
  using Hook = UniqueFunction<void(Args...)>;

  HookId add(Hook hook) {
    Entry e{next_serial_++, std::move(hook)};
    const HookId id{e.serial};
    (running_ != 0 ? added_ : live_).push_back(std::move(e));
    return id;
  }

  bool remove(HookId id) noexcept {
    if (!id) return false;
    for (std::vector<Entry>* list : {&live_, &added_}) {
      auto it = std::find_if(list->begin(), list->end(), [&](const Entry& e) { return e.serial == id.serial; });
      if (it == list->end()) continue;
      if (running_ != 0 && list == &live_) {
        it->serial = 0;  // skipped from now on; destroyed when the outermost run() ends
        holes_ = true;
      } else {
        list->erase(it);
      }
      return true;
    }
    return false;
  }

  // Calls `call(hook)` for each live hook in order; `call` decides how to invoke it (with
  // which arguments, guarding exceptions). `call` must not throw.
  template <typename Call>
  void run(Call&& call) {
    ++running_;
    for (std::size_t i = 0; i < live_.size(); ++i) {
      if (live_[i].serial != 0) call(live_[i].fn);
    }
    if (--running_ == 0) settle();
  }

  bool empty() const noexcept { return size() == 0; }
  std::size_t size() const noexcept {
    std::size_t n = added_.size();
    for (const Entry& e : live_) n += e.serial != 0 ? 1 : 0;
    return n;
  }

 private:
  struct Entry {
    std::uint64_t serial = 0;  // 0: removed while a run was in progress
    Hook fn;
  };

  void settle() {
    if (holes_) {
      std::erase_if(live_, [](const Entry& e) { return e.serial == 0; });
      holes_ = false;
    }
    for (Entry& e : added_) live_.push_back(std::move(e));
    added_.clear();
  }

  std::vector<Entry> live_;
  std::vector<Entry> added_;  // added while running: joins live_ when the outermost run ends
  std::uint64_t next_serial_ = 1;
  int running_ = 0;
  bool holes_ = false;
};

}  // namespace ringactor::runtime
