// The Reactor's timeout scan (idle, write and first-byte timeouts, incrementally) and the
// shedding of stalled holders of pooled memory.
#include <signal.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "reactor_impl.hpp"

namespace ringactor::runtime {

// Idle and write timeouts are enforced by an incremental scan of the live list: every
// `scan_interval_` a slice of the connections is examined, sized so that a full pass takes
// at most half the shortest timeout. A connection is therefore closed between its timeout
// and 1.5x its timeout (plus one interval); no iteration ever walks every connection.
void ReactorImpl::schedule_scan() {
  using std::chrono::milliseconds;
  milliseconds shortest{0};
  auto consider = [&](milliseconds t) {
    if (t.count() > 0 && (shortest.count() == 0 || t < shortest)) shortest = t;
  };
  for (std::uint8_t i = 0; i < idle_class_count_; ++i) consider(idle_classes_[i]);
  consider(options_.write_timeout);
  for (const Listener& l : listeners_) consider(l.first_byte_timeout);
  if (shortest.count() == 0) return;
  scan_interval_ = std::clamp(shortest / 16, milliseconds(5), milliseconds(100));
  scan_ticks_per_pass_ = std::max<std::int64_t>(1, (shortest / 2) / scan_interval_);
  scan_timer_ = timers_.schedule(now_ + scan_interval_, [this] {
    scan_timeouts();
    schedule_scan();
  });
}

void ReactorImpl::set_idle_timeout(std::uint32_t idx, std::chrono::milliseconds t) {
  if (t.count() < 0) throw std::invalid_argument("Connection::set_idle_timeout: negative timeout");
  std::uint8_t i = 0;
  while (i < idle_class_count_ && idle_classes_[i] != t) ++i;
  if (i == idle_class_count_) {
    if (idle_class_count_ == kIdleClasses) {
      throw std::length_error("Connection::set_idle_timeout: at most " + std::to_string(kIdleClasses - 1) +
                              " idle timeouts besides ReactorOptions::idle_timeout per reactor");
    }
    idle_classes_[idle_class_count_++] = t;
    reschedule_scan();  // it may be the shortest now
  }
  slots_[idx].idle_class = i & 7u;
}

void ReactorImpl::reschedule_scan() {
  if (scan_timer_) timers_.cancel(scan_timer_);
  scan_timer_ = {};
  schedule_scan();
}

void ReactorImpl::scan_timeouts() {
  const std::uint32_t live = slots_.size();
  if (live == 0) return;
  const auto per_tick = static_cast<std::uint32_t>((live + scan_ticks_per_pass_ - 1) / scan_ticks_per_pass_);
  const std::uint32_t n = std::min(live, std::max<std::uint32_t>(64, per_tick));
  scratch_.clear();
  for (std::uint32_t i = 0; i < n; ++i) {
    if (scan_cursor_ >= slots_.size()) scan_cursor_ = 0;
    const std::uint32_t idx = slots_.live()[scan_cursor_++];
    const ConnSlot& s = slots_[idx];
    if (s.closing) continue;
    const bool writing = !s.out.empty();
    const std::chrono::milliseconds idle = idle_classes_[s.idle_class];
    if (writing && options_.write_timeout.count() > 0 && now_ - s.last_progress >= options_.write_timeout) {
      scratch_.push_back(idx);
    } else if (idle.count() > 0 && now_ - s.last_active >= idle) {
      scratch_.push_back(idx | 0x80000000u);
    } else if (!s.got_input && !writing && s.listener != kNoListener &&
               listeners_[s.listener].first_byte_timeout.count() > 0 &&
               now_ - s.last_active >= listeners_[s.listener].first_byte_timeout) {
      scratch_.push_back(idx | 0x80000000u);  // connected and said nothing
    }
  }
  for (std::uint32_t v : scratch_) {
    const std::uint32_t idx = v & 0x7FFFFFFFu;
    if (!slots_.is_live(idx) || slots_[idx].closing) continue;
    if (v & 0x80000000u) {
      if (slots_[idx].got_input && slots_[idx].handler) {
        // The protocol may keep it (it sent a probe, such as a WebSocket ping): then it is
        // not asked again before another idle period.
        bool keep = false;
        guarded(idx, [&](ConnSlot& s) { keep = s.handler->on_idle(Connection(self_, id_of(idx))); });
        if (!slots_.is_live(idx) || slots_[idx].closing) continue;
        if (keep) {
          slots_[idx].last_active = now_;
          continue;
        }
      }
      bump(c_.idle_timeouts);
      close_connection(idx, CloseReason::kIdleTimeout, 0);
    } else {
      bump(c_.write_timeouts);
      close_connection(idx, CloseReason::kWriteTimeout, 0);
    }
  }
}

// Closes the connections that hold pooled memory (a splice pipe, or queued output that
// references a pooled block; `pipes` / `blocks` say which pool ran dry) and made no
// progress for stall_shed_after. Progress is a completed send, or the kernel's send queue
// for the connection shrinking between two looks (a slow reader drains it long before a
// send completes). Called when a pool ran dry, and again each iteration while something
// waits for one: O(live connections) at most once per kShedGap; each walk arms a timer so
// that a loop with no other timers wakes to look again.
std::size_t ReactorImpl::shed_stalled(bool pipes, bool blocks) {
  constexpr auto kShedGap = std::chrono::milliseconds(100);
  const auto after = options_.stall_shed_after;
  if (after.count() == 0 || slots_.size() == 0 || now_ - last_shed_scan_ < kShedGap) return 0;
  last_shed_scan_ = now_;
  shed_.clear();
  // When to look again while the pool stays dry: after stall_shed_after (holders that take a
  // pool slot from now on are stalled by then at the earliest), or sooner when a holder
  // seen now becomes old enough.
  auto next_look = now_ + after;
  for (const std::uint32_t idx : slots_.live()) {
    ConnSlot& s = slots_[idx];
    if (s.closing || s.out.empty()) continue;
    if (!((pipes && s.pipe >= 0) || (blocks && s.out.holds_pooled()))) continue;
    if (now_ - s.last_progress < after) {
      next_look = std::min(next_look, s.last_progress + after);
      continue;
    }
    int outq = 0;
    if (::ioctl(s.fd, SIOCOUTQ, &outq) != 0) outq = -1;
    if (outq != s.outq_mark) {  // the client took bytes since the last look (or first look)
      s.outq_mark = outq;
      s.last_progress = now_;
      next_look = std::min(next_look, now_ + after);
      continue;
    }
    shed_.push_back(idx);
  }
  // Wake the loop then (the wake-up is the point: a loop with no other timer and clients
  // that all wait may otherwise sleep for good; the callers ask again at every iteration
  // while the pool is dry), unless a wake-up already comes by then. Never inside the rate
  // limit's gap.
  next_look = std::max(next_look, now_ + kShedGap);
  if (shed_wake_at_ <= now_ || next_look < shed_wake_at_) {
    shed_wake_at_ = next_look;
    timers_.schedule(next_look, [] {});
  }
  std::size_t shed = 0;
  for (const std::uint32_t idx : shed_) {
    if (!slots_.is_live(idx) || slots_[idx].closing) continue;
    bump(c_.stalled_shed);
    close_connection(idx, CloseReason::kStalled, 0);
    ++shed;
  }
  return shed;
}

}  // namespace ringactor::runtime
