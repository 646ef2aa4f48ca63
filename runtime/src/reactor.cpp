// The Reactor's loop, setup, invoke queue, timers, hooks, signals and stop.
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

namespace {

constexpr std::uint16_t kBufferGroup = 1;

std::uint32_t resolve_max_connections(std::uint32_t requested) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    throw std::system_error(errno, std::generic_category(), "Reactor: getrlimit(RLIMIT_NOFILE)");
  }
  constexpr rlim_t kReserve = 128;  // listeners, eventfd, signalfd, files the app opens
  const rlim_t hard = lim.rlim_max;
  std::uint32_t max = requested;
  if (max == 0) {
    if (hard != RLIM_INFINITY && hard <= kReserve + 16) {
      throw std::runtime_error("Reactor: RLIMIT_NOFILE hard limit " + std::to_string(hard) +
                               " leaves no room for connections; raise it (ulimit -Hn)");
    }
    const rlim_t avail = hard == RLIM_INFINITY ? 65536 : hard - kReserve;
    max = static_cast<std::uint32_t>(std::min<rlim_t>(avail, 65536));
  }
  const rlim_t need = static_cast<rlim_t>(max) + kReserve;
  if (hard != RLIM_INFINITY && need > hard) {
    throw std::invalid_argument("Reactor: max_connections=" + std::to_string(max) + " needs about " +
                                std::to_string(need) + " descriptors but the RLIMIT_NOFILE hard limit is " +
                                std::to_string(hard) + "; lower max_connections or raise the limit");
  }
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < need) {
    lim.rlim_cur = need;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      throw std::system_error(errno, std::generic_category(),
                              "Reactor: raising the RLIMIT_NOFILE soft limit to " + std::to_string(need));
    }
  }
  return max;
}

void check_kernel() {
  utsname u{};
  if (::uname(&u) != 0) return;
  int major = 0, minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return;
  if (major < 6) {
    throw std::runtime_error(std::string("Reactor: Linux 6.0 or newer is required (multishot receive, "
                                         "buffer rings); this kernel is ") + u.release);
  }
}

ReactorOptions validated(ReactorOptions o) {
  auto fail = [](const std::string& m) { throw std::invalid_argument("ReactorOptions: " + m); };
  if (o.ring_entries < 8 || o.ring_entries > 32768) fail("ring_entries must be in [8, 32768]");
  if (o.recv_buffer_count == 0 || o.recv_buffer_count > 32768 ||
      (o.recv_buffer_count & (o.recv_buffer_count - 1)) != 0) {
    fail("recv_buffer_count must be a power of two in [1, 32768]");
  }
  if (o.recv_buffer_size < 64) fail("recv_buffer_size must be at least 64");
  if (o.output_slab_size < 64) fail("output_slab_size must be at least 64");
  if (o.max_output_bytes == 0) fail("max_output_bytes must be positive");
  if (o.max_input_carry == 0 || o.max_input_carry > (1u << 30)) fail("max_input_carry must be in [1, 1 GiB]");
  if (o.idle_timeout.count() < 0 || o.write_timeout.count() < 0 || o.shutdown_grace.count() < 0 ||
      o.stall_shed_after.count() < 0) {
    fail("timeouts must not be negative");
  }
  if (o.invoke_budget == 0) fail("invoke_budget must be positive");
  if (o.zero_copy_send && o.zero_copy_threshold == 0) fail("zero_copy_threshold must be positive");
  if (o.splice_pipe_size < 4096 || o.splice_pipe_size > (1u << 30)) fail("splice_pipe_size must be in [4 KiB, 1 GiB]");
  if (o.max_splice_pipes == 0) fail("max_splice_pipes must be positive");
  o.max_connections = resolve_max_connections(o.max_connections);
  return o;
}

}  // namespace

ReactorImpl::ReactorImpl(Reactor& self, ReactorOptions options)
    : self_(self),
      options_(validated(options)),
      slots_(options_.max_connections),
      output_(options_.output_slab_size, options_.output_cached_slabs),
      timers_(Reactor::Clock::now()),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      invokes_(wake_fd_) {
  if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "Reactor: eventfd");
  check_kernel();
  now_ = Reactor::Clock::now();

  io_uring_params p{};
  // TASKRUN_FLAG: the kernel flags pending completion work in the shared ring, so a loop
  // that does not sleep can skip io_uring_enter when there is nothing to submit or reap.
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
            IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_R_DISABLED;
  p.cq_entries = options_.ring_entries * 4;
  int ret = io_uring_queue_init_params(options_.ring_entries, &ring_, &p);
  if (ret == -EINVAL) {
    // Kernels before 6.1 lack DEFER_TASKRUN: fall back to cooperative task running.
    p = io_uring_params{};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    p.cq_entries = options_.ring_entries * 4;
    ret = io_uring_queue_init_params(options_.ring_entries, &ring_, &p);
  } else if (ret == 0) {
    ring_disabled_ = true;
  }
  if (ret < 0) {
    ::close(wake_fd_);
    std::string why = "Reactor: io_uring_queue_init failed";
    if (ret == -ENOSYS) why += " (this kernel has no io_uring)";
    if (ret == -EPERM) why += " (io_uring is disabled: see sysctl kernel.io_uring_disabled, or a seccomp policy)";
    if (ret == -ENOMEM) why += " (locked memory limit too low? see ulimit -l)";
    throw std::system_error(-ret, std::generic_category(), why);
  }
  ring_ready_ = true;
  if ((p.features & IORING_FEAT_NODROP) == 0 || (p.features & IORING_FEAT_EXT_ARG) == 0) {
    io_uring_queue_exit(&ring_);
    ::close(wake_fd_);
    throw std::runtime_error("Reactor: the kernel's io_uring lacks NODROP/EXT_ARG (need Linux 6.0+)");
  }
  if (options_.zero_copy_send) {
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    const bool ok = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) &&
                    io_uring_opcode_supported(probe, IORING_OP_SENDMSG_ZC);
    if (probe != nullptr) io_uring_free_probe(probe);
    if (!ok) {
      io_uring_queue_exit(&ring_);
      ::close(wake_fd_);
      throw std::runtime_error("Reactor: zero_copy_send needs IORING_OP_SEND_ZC and SENDMSG_ZC (Linux 6.1+)");
    }
  }
  if (options_.handle_signals) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    signal_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd_ < 0) {
      const int err = errno;
      io_uring_queue_exit(&ring_);
      ::close(wake_fd_);
      throw std::system_error(err, std::generic_category(), "Reactor: signalfd");
    }
  }
}

ReactorImpl::~ReactorImpl() {
  // Connections left (run() never ran, or threw): tear them down synchronously. No kernel
  // operation can still reference them: a ring that never ran has none in flight, and a
  // ring that threw is closed first.
  buffers_.reset();  // unregister while the ring still exists
  if (ring_ready_) io_uring_queue_exit(&ring_);
  ring_ready_ = false;
  // Handlers are destroyed without on_close: their reactor never ran or stopped abnormally,
  // and what they would call back into (an actor stage) may already be gone.
  scratch_.assign(slots_.live().begin(), slots_.live().end());
  for (std::uint32_t idx : scratch_) {
    ConnSlot& s = slots_[idx];
    s.handler.reset();
    s.out.clear(output_);
    if (s.send_ctx != nullptr) output_.release_send(s.send_ctx);
    if (s.fd >= 0) ::close(s.fd);
    slots_.release(idx);
  }
  for (Listener& l : listeners_) {
    if (l.fd >= 0) ::close(l.fd);
  }
  for (const SplicePipe& p : pipes_) {
    ::close(p.r);
    ::close(p.w);
  }
  // Zero-copy sends whose notification never came (the ring is gone): unpin their slabs.
  for (std::uint32_t i = 0; i < zc_.size(); ++i) {
    if (zc_[i]->in_use) release_zc(i);
  }
  if (signal_fd_ >= 0) ::close(signal_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void ReactorImpl::log_error(const std::string& what) noexcept {
  std::fprintf(stderr, "ringactor[reactor %u]: %s\n", static_cast<unsigned>(options_.id), what.c_str());
}

io_uring_sqe* ReactorImpl::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe != nullptr) return sqe;
  // Submission queue full: hand what is queued to the kernel and take a fresh entry.
  const int ret = io_uring_submit(&ring_);
  if (ret > 0) bump(c_.submissions, static_cast<std::uint64_t>(ret));
  if (ret < 0 && ret != -EBUSY && ret != -EAGAIN && ret != -EINTR) {
    throw std::system_error(-ret, std::generic_category(), "Reactor: io_uring_submit");
  }
  sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    throw std::runtime_error("Reactor: submission queue still full after submitting (kernel busy)");
  }
  return sqe;
}

void ReactorImpl::arm_wake() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_read(sqe, wake_fd_, &wake_buf_, sizeof wake_buf_, 0);
  io_uring_sqe_set_data64(sqe, pack_user_data({OpKind::kWake, 0, 0}));
  ++inflight_;
}

void ReactorImpl::arm_signal() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_read(sqe, signal_fd_, &sig_buf_, sizeof sig_buf_, 0);
  io_uring_sqe_set_data64(sqe, pack_user_data({OpKind::kSignal, 0, 0}));
  ++inflight_;
}

void ReactorImpl::start() {
  if (started_) return;
  started_ = true;
  thread_.store(std::this_thread::get_id(), std::memory_order_release);
  if (options_.handle_signals) Reactor::block_stop_signals();
  {
    // splice() into a socket the peer closed raises SIGPIPE (it has no MSG_NOSIGNAL); it is
    // directed at this thread, so blocking it here keeps it from killing the process while
    // the error still comes back as EPIPE. Other threads' dispositions are untouched.
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  }
  if (ring_disabled_) {
    // The single issuer of a SINGLE_ISSUER ring is the thread that enables it. liburing 2.3
    // declares io_uring_enable_rings but does not export it, so register directly.
    const long ret = ::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
    if (ret < 0) throw std::system_error(errno, std::generic_category(), "Reactor: enabling the ring");
    ring_disabled_ = false;
  }
  buffers_ = std::make_unique<BufferRing>(ring_, kBufferGroup, options_.recv_buffer_count,
                                          options_.recv_buffer_size);
  running_ = true;
  now_ = Reactor::Clock::now();
  arm_wake();
  if (signal_fd_ >= 0) arm_signal();
  for (std::uint32_t i = 0; i < listeners_.size(); ++i) {
    if (!listeners_[i].armed && !listeners_[i].closed) arm_accept(i);
  }
  schedule_scan();
}

bool ReactorImpl::step(std::optional<Reactor::Clock::duration> max_wait) {
  if (finished_.load(std::memory_order_relaxed)) return false;
  if (started_ && thread_.load(std::memory_order_relaxed) != std::this_thread::get_id()) {
    throw std::logic_error("Reactor: run()/poll() must be called on the thread that started the reactor");
  }
  try {
    start();
    loop_once(max_wait);
    if (!exiting_ && exit_ready()) {
      // Every connection and listener is gone: run the stop hooks (they may still post,
      // tell and close things), then, once nothing new appeared, cancel our reads and drain.
      if (!stop_hooks_ran_) {
        stop_hooks_ran_ = true;
        run_stop_hooks();
        iteration_requested_ = true;  // one more pass without sleeping for what they queued
      } else if (!iteration_requested_ && invokes_.size_approx() == 0) {
        exiting_ = true;
        for (int fd : {wake_fd_, signal_fd_}) {
          if (fd >= 0) submit_cancel_fd(fd);
        }
      }
    }
    if (exiting_ && inflight_ == 0) {
      finish();
      return false;
    }
    return true;
  } catch (...) {
    finish();
    throw;
  }
}

// post() refuses from now on; wait for producers already inside it, then run everything
// that got in, on this thread, so that no accepted closure is silently dropped (an ask's
// reply among them). finished_ and posters_ are a Dekker pair: a producer increments
// posters_ then reads finished_; we set finished_ then read posters_ (both seq_cst).
void ReactorImpl::finish() noexcept {
  running_ = false;
  lifeline_.cut();  // also after a fatal ring failure, which skips begin_stop
  finished_.store(true, std::memory_order_seq_cst);
  while (posters_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  while (invokes_.drain(options_.invoke_budget, [this](InvokeQueue::Task& task) {
    run_guarded("posted closure", task);
  }) != 0) {
  }
}

void ReactorImpl::note_error(const char* where, const char* what) noexcept {
  bump(c_.handler_errors);
  try {
    log_error(std::string(where) + " threw: " + what);
  } catch (...) {
  }
}

void ReactorImpl::run() {
  if (ran_) throw std::logic_error("Reactor::run() may be called only once");
  ran_ = true;
  while (step(std::nullopt)) {
  }
}

bool ReactorImpl::exit_ready() const noexcept {
  if (!stopping_ || slots_.size() != 0) return false;
  return std::all_of(listeners_.begin(), listeners_.end(), [](const Listener& l) { return l.closed; });
}

void ReactorImpl::loop_once(std::optional<Reactor::Clock::duration> max_wait) {
  if (!stopping_ && stop_requested_.load(std::memory_order_acquire)) begin_stop();

  // 1. Submit, then wait unless work is pending.
  int ret;
  bool parked = false;
  const bool requested = std::exchange(iteration_requested_, false);
  // poll(0) never sleeps, so it does not park either: a producer must not pay an eventfd
  // write to wake a loop that is about to look at the queue anyway.
  const bool may_sleep = !max_wait || max_wait->count() > 0;
  if (may_sleep && flush_list_.empty() && !requested && !exiting_ && invokes_.prepare_park()) {
    parked = true;
    auto until = timers_.time_until_next(Reactor::Clock::now());
    if (max_wait && (!until || *max_wait < *until)) until = *max_wait;
    io_uring_cqe* cqe = nullptr;
    if (until) {
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*until).count();
      __kernel_timespec ts{};
      ts.tv_sec = ns / 1'000'000'000;
      ts.tv_nsec = ns % 1'000'000'000;
      ret = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    } else {
      ret = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, nullptr, nullptr);
    }
  } else if (exiting_) {
    io_uring_cqe* cqe = nullptr;
    ret = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, nullptr, nullptr);
  } else if (io_uring_sq_ready(&ring_) == 0 && io_uring_cq_ready(&ring_) == 0 &&
             (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_TASKRUN) == 0) {
    ret = 0;  // nothing to submit, nothing completed: no syscall for a loop that spins
  } else {
    ret = io_uring_submit_and_get_events(&ring_);
  }
  if (parked) invokes_.unpark();
  if (ret > 0) bump(c_.submissions, static_cast<std::uint64_t>(ret));
  if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN) {
    throw std::system_error(-ret, std::generic_category(), "Reactor: io_uring_submit_and_wait");
  }
  now_ = Reactor::Clock::now();
  bump(c_.iterations);

  // 2. Dispatch completions.
  unsigned head;
  io_uring_cqe* cqe;
  unsigned seen = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    dispatch(cqe);
  }
  if (seen != 0) {
    io_uring_cq_advance(&ring_, seen);
    bump(c_.completions, seen);
  }

  // 3. (actors' run queue: added by the actors module through tick hooks for now)
  // 4. Closures from other threads.
  drain_invokes();
  // 5. Tick hooks, then due timers (the timeout scan is one of them).
  run_tick_hooks();
  const std::size_t fired = timers_.advance(now_, [this](const char* what) noexcept { note_error("timer", what); });
  if (fired != 0) bump(c_.timers_fired, fired);
  // Queue sends for connections that got output during this iteration.
  flush_all();
}

void ReactorImpl::dispatch(io_uring_cqe* cqe) {
  const OpTag tag = unpack_user_data(cqe->user_data);
  const int res = cqe->res;
  const unsigned flags = cqe->flags;
  const bool final = (flags & IORING_CQE_F_MORE) == 0;
  if (final) --inflight_;
  switch (tag.kind) {
    case OpKind::kAccept:
      on_accept(tag, res, flags);
      break;
    case OpKind::kRecv:
      on_recv(tag, res, flags);
      break;
    case OpKind::kSend:
      on_send(tag, res);
      break;
    case OpKind::kSendZc:
      on_send_zc(tag, res, flags);
      break;
    case OpKind::kFile:
      on_file(tag, res);
      break;
    case OpKind::kSplice:
      on_splice(tag, res);
      break;
    case OpKind::kPollOut:
      on_pollout(tag, res);
      break;
    case OpKind::kWake:
      if (!exiting_) arm_wake();
      break;
    case OpKind::kSignal:
      if (res == static_cast<int>(sizeof sig_buf_)) on_signal(static_cast<int>(sig_buf_.ssi_signo));
      if (!exiting_) arm_signal();
      break;
    case OpKind::kCancel:
    case OpKind::kClose:
      break;
    case OpKind::kNop:
      // Test injection: treat as a completion for a connection slot, which must be stale.
      if (find({tag.index, tag.generation}) == nullptr) {
        bump(c_.stale_completions);
      }
      break;
    case OpKind::kNone:
    default:
      bump(c_.stale_completions);
      break;
  }
}

void ReactorImpl::on_signal(int signo) {
  if (signo == SIGTERM || signo == SIGINT) {
    begin_stop();
    return;
  }
  if (signo == SIGHUP) {
    for (std::size_t i = 0; i < sighup_hooks_.size(); ++i) {
      run_guarded("SIGHUP callback", [&] { sighup_hooks_[i](); });
    }
  }
}

// A positional file read finished (read_file).
void ReactorImpl::on_file(const OpTag& tag, int res) {
  if (tag.index >= file_ops_.size() || !file_ops_[tag.index]) {
    bump(c_.stale_completions);
    return;
  }
  file_free_.push_back(tag.index);  // before taking the callback: if this throws, it still runs
  UniqueFunction<void(int)> done = std::move(file_ops_[tag.index]);
  file_ops_[tag.index] = nullptr;
  bump(c_.file_reads);
  run_guarded("file read callback", [&] { done(res); });
}

void ReactorImpl::drain_invokes() {
  const std::size_t n = invokes_.drain(options_.invoke_budget, [this](InvokeQueue::Task& task) {
    run_guarded("posted closure", task);
  });
  if (n != 0) bump(c_.invokes, n);
}

// Runs fn, logging and counting anything it throws: one failing callback never ends the loop.
template <typename F>
void ReactorImpl::run_guarded(const char* what, F&& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    note_error(what, e.what());
  } catch (...) {
    note_error(what, "an exception not derived from std::exception");
  }
}

void ReactorImpl::run_stop_hooks() {
  // Index loops: a hook may register another hook.
  for (std::size_t i = 0; i < stop_hooks_.size(); ++i) run_guarded("stop hook", [&] { stop_hooks_[i](); });
}

void ReactorImpl::run_tick_hooks() {
  for (std::size_t i = 0; i < tick_hooks_.size(); ++i) run_guarded("tick hook", [&] { tick_hooks_[i](); });
}

void ReactorImpl::begin_stop() {
  if (stopping_) return;
  stopping_ = true;
  lifeline_.cut();  // work done for this reactor's actors may give up now
  iteration_requested_ = true;  // look at the exit condition before sleeping again
  for (std::uint32_t i = 0; i < listeners_.size(); ++i) close_listener(i);
  scratch_.assign(slots_.live().begin(), slots_.live().end());
  for (std::uint32_t idx : scratch_) {
    if (!slots_.is_live(idx)) continue;
    if (slots_[idx].lingering) {
      close_connection(idx, CloseReason::kShutdown, 0);  // no need to wait for the peer now
      continue;
    }
    // A handler with answers still to come may keep its connection until it closes it
    // (at most shutdown_grace, below); the others close after their queued output.
    bool keep = false;
    if (!slots_[idx].closing && !slots_[idx].close_after_flush) {
      guarded(idx, [&](ConnSlot& s) { keep = s.handler->on_shutdown(Connection(self_, id_of(idx))); });
    }
    if (!keep && slots_.is_live(idx) && !slots_[idx].closing) close_gracefully(idx, CloseReason::kShutdown);
  }
  if (slots_.size() != 0) {
    timers_.schedule(now_ + options_.shutdown_grace, [this] {
      scratch_.assign(slots_.live().begin(), slots_.live().end());
      for (std::uint32_t idx : scratch_) {
        if (slots_.is_live(idx)) close_connection(idx, CloseReason::kShutdown, 0);
      }
    });
  }
}

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
  consider(options_.idle_timeout);
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
    if (writing && options_.write_timeout.count() > 0 && now_ - s.last_progress >= options_.write_timeout) {
      scratch_.push_back(idx);
    } else if (options_.idle_timeout.count() > 0 && now_ - s.last_active >= options_.idle_timeout) {
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

// ---- Reactor: the public face -------------------------------------------------------

Reactor::Reactor(ReactorOptions options) : impl_(std::make_unique<ReactorImpl>(*this, options)) {}
Reactor::~Reactor() = default;

std::size_t Reactor::shed_stalled() { return impl_->shed_stalled(/*pipes=*/false, /*blocks=*/true); }

void ReactorImpl::check_setup_thread(const char* what) const {
  const std::thread::id owner = thread_.load(std::memory_order_acquire);
  if (owner != std::thread::id{} && owner != std::this_thread::get_id()) {
    throw std::logic_error(std::string("Reactor::") + what +
                           ": call it before run() or on the reactor thread (post() a closure)");
  }
}

std::uint16_t Reactor::listen(const ListenOptions& options, HandlerFactory factory) {
  impl_->check_setup_thread("listen");
  return impl_->listen(options, std::move(factory));
}

void Reactor::run() { impl_->run(); }

bool Reactor::poll(Clock::duration max_wait) { return impl_->step(max_wait); }

bool Reactor::post(Task&& task) {
  ReactorImpl& r = *impl_;
  r.posters_.fetch_add(1, std::memory_order_seq_cst);
  struct Leave {
    std::atomic<std::uint32_t>& n;
    ~Leave() { n.fetch_sub(1, std::memory_order_release); }
  } leave{r.posters_};  // even if enqueueing threw, the exit must not wait forever
  if (r.finished_.load(std::memory_order_seq_cst)) return false;
  return r.invokes_.post(std::move(task));
}

bool Reactor::finished() const noexcept { return impl_->finished_.load(std::memory_order_acquire); }

void Reactor::stop() {
  impl_->stop_requested_.store(true, std::memory_order_release);
  // Wake the loop if it sleeps; the closure itself does nothing (the flag is read first).
  impl_->invokes_.post([] {});
}

void Reactor::read_file(int fd, std::span<std::byte> into, std::uint64_t offset, UniqueFunction<void(int)> done) {
  impl_->check_setup_thread("read_file");
  impl_->read_file(fd, into, offset, std::move(done));
}

Counters Reactor::counters() const noexcept {
  const auto& c = impl_->c_;
  auto v = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  Counters out;
  out.connections_open = v(c.connections_open);
  out.connections_accepted = v(c.connections_accepted);
  out.connections_rejected = v(c.connections_rejected);
  out.connections_closed = v(c.connections_closed);
  for (std::size_t i = 0; i < kCloseReasons; ++i) out.closed_by_reason[i] = v(c.closed_by_reason[i]);
  out.submissions = v(c.submissions);
  out.accept_errors = v(c.accept_errors);
  out.completions = v(c.completions);
  out.iterations = v(c.iterations);
  out.wakeups = impl_->invokes_.wakeups();
  out.invokes = v(c.invokes);
  out.stale_completions = v(c.stale_completions);
  out.bytes_in = v(c.bytes_in);
  out.bytes_out = v(c.bytes_out);
  out.recv_rearms = v(c.recv_rearms);
  out.recv_enobufs = v(c.recv_enobufs);
  out.sends = v(c.sends);
  out.ring_sends = v(c.ring_sends);
  out.zero_copy_sends = v(c.zero_copy_sends);
  out.zero_copy_notifs = v(c.zero_copy_notifs);
  out.file_reads = v(c.file_reads);
  out.splices = v(c.splices);
  out.pipe_waits = v(c.pipe_waits);
  out.file_errors = v(c.file_errors);
  out.output_overflows = v(c.output_overflows);
  out.input_overflows = v(c.input_overflows);
  out.idle_timeouts = v(c.idle_timeouts);
  out.write_timeouts = v(c.write_timeouts);
  out.stalled_shed = v(c.stalled_shed);
  out.lingering_closes = v(c.lingering_closes);
  out.handler_errors = v(c.handler_errors);
  out.timers_fired = v(c.timers_fired);
  return out;
}

TimerId Reactor::after(Clock::duration delay, UniqueFunction<void()> fn) {
  return impl_->timers_.schedule(impl_->now_ + delay, std::move(fn));
}

bool Reactor::cancel(TimerId id) noexcept { return impl_->timers_.cancel(id); }

void Reactor::add_tick_hook(UniqueFunction<void()> hook) {
  impl_->check_setup_thread("add_tick_hook");
  impl_->tick_hooks_.push_back(std::move(hook));
}

void Reactor::add_stop_hook(UniqueFunction<void()> fn) {
  impl_->check_setup_thread("add_stop_hook");
  impl_->stop_hooks_.push_back(std::move(fn));
}

void Reactor::request_iteration() noexcept { impl_->iteration_requested_ = true; }

void Reactor::on_sighup(UniqueFunction<void()> fn) {
  impl_->check_setup_thread("on_sighup");
  impl_->sighup_hooks_.push_back(std::move(fn));
}

Reactor::Clock::time_point Reactor::now() const noexcept { return impl_->now_; }

bool Reactor::in_reactor_thread() const noexcept {
  return impl_->thread_.load(std::memory_order_acquire) == std::this_thread::get_id();
}

const ReactorOptions& Reactor::options() const noexcept { return impl_->options_; }
std::uint16_t Reactor::id() const noexcept { return impl_->options_.id; }
const Lifeline& Reactor::lifeline() const noexcept { return impl_->lifeline_; }
std::uint64_t Reactor::iteration() const noexcept { return impl_->c_.iterations.load(std::memory_order_relaxed); }

void Reactor::block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  const int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (err != 0) throw std::system_error(err, std::generic_category(), "pthread_sigmask");
}

std::uint32_t Reactor::recv_buffers_outstanding() const noexcept {
  return impl_->buffers_ ? impl_->buffers_->outstanding() : 0;
}

std::size_t Reactor::output_slabs_in_use() const noexcept { return impl_->output_.slabs_in_use(); }

void Reactor::inject_completion_for_test(std::uint64_t user_data) {
  io_uring_sqe* sqe = impl_->get_sqe();
  io_uring_prep_nop(sqe);
  io_uring_sqe_set_data64(sqe, user_data);
  ++impl_->inflight_;
}

}  // namespace ringactor::runtime
