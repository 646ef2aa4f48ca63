// The Reactor's loop, setup, invoke queue, hooks, signals and stop (timeouts: reactor_timeouts.cpp;
// the public Reactor calls: reactor_api.cpp).
#include <linux/sockios.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
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
                                         "buffer rings); this kernel is ") +
                             u.release);
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
  if (o.invoke_spin.count() < 0 || o.invoke_spin_gap.count() < 0)
    fail("invoke_spin and invoke_spin_gap must not be negative");
  if (o.zero_copy_send && o.zero_copy_threshold == 0) fail("zero_copy_threshold must be positive");
  if (o.splice_pipe_size < 4096 || o.splice_pipe_size > (1u << 30))
    fail("splice_pipe_size must be in [4 KiB, 1 GiB]");
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
  // A spinning loop parks rarely: let the posters skip their fence (InvokeQueue).
  if (options_.invoke_spin.count() > 0) invokes_.use_asymmetric_fence();
  now_ = Reactor::Clock::now();
  idle_classes_[0] = options_.idle_timeout;

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
    p.flags =
        IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    p.cq_entries = options_.ring_entries * 4;
    ret = io_uring_queue_init_params(options_.ring_entries, &ring_, &p);
  } else if (ret == 0) {
    ring_disabled_ = true;
  }
  if (ret < 0) {
    ::close(wake_fd_);
    std::string why = "Reactor: io_uring_queue_init failed";
    if (ret == -ENOSYS) why += " (this kernel has no io_uring)";
    if (ret == -EPERM)
      why += " (io_uring is disabled: see sysctl kernel.io_uring_disabled, or a seccomp policy)";
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
    const long ret =
        ::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
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
        stop_hooks_at_ = now_;
        run_stop_hooks();
        iteration_requested_ = true;  // one more pass without sleeping for what they queued
      } else if ((!iteration_requested_ && invokes_.size_approx() == 0) ||
                 now_ - stop_hooks_at_ >= std::max<Reactor::Clock::duration>(options_.shutdown_grace, std::chrono::milliseconds(100))) {
        // Nothing new appeared, or posts kept coming for a whole grace (100 ms at least, so
        // that a zero grace still lets what the stop hooks started finish): finish() refuses
        // them from then on and runs those accepted.
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
// reply among them). finished_ and the poster slots are a Dekker pair: a producer marks its
// slot busy, then reads finished_; we set finished_, then read the slots (the invoke
// queue's light and heavy barriers between).
void ReactorImpl::finish() noexcept {
  running_ = false;
  lifeline_.cut();  // also after a fatal ring failure, which skips begin_stop
  finished_.store(true, std::memory_order_seq_cst);
  invokes_.heavy_barrier();
  try {
    posters_->wait_idle();
  } catch (...) {
    // The slots' mutex failed to lock (a system error): wait for nobody rather than throw.
  }
  while (invokes_.drain(options_.invoke_budget,
                        [this](InvokeQueue::Task& task) { run_guarded("posted closure", task); }) != 0) {
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

  // 1. Submit, then wait unless work is pending. Before-wait hooks first: what they publish
  // (wake-ups of other reactors) goes out before this one may sleep.
  before_wait_hooks_.run(
      [this](UniqueFunction<void()>& hook) { run_guarded("before-wait hook", [&] { hook(); }); });
  int ret;
  bool parked = false;
  const bool requested = std::exchange(iteration_requested_, false);
  // poll(0) never sleeps, so it does not park either: a producer must not pay an eventfd
  // write to wake a loop that is about to look at the queue anyway.
  const bool may_sleep = !max_wait || max_wait->count() > 0;
  if (may_sleep && flush_list_.empty() && !requested && !exiting_ && !invoke_spinning() &&
      invokes_.prepare_park() && !park_check_busy()) {
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
  const std::size_t fired =
      timers_.advance(now_, [this](const char* what) noexcept { note_error("timer", what); });
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
  const std::size_t n = invokes_.drain(
      options_.invoke_budget, [this](InvokeQueue::Task& task) { run_guarded("posted closure", task); });
  invokes_last_ = n;
  if (n != 0) {
    bump(c_.invokes, n);
    invokes_seen_ = now_;
  }
}

namespace {

// A spin-wait hint: lets the sibling hyperthread run and eases the memory order pipeline.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// invoke_spin: a drain that took fewer closures than this waits out the gap before the next.
constexpr std::size_t kSpinBatch = 32;

}  // namespace

bool ReactorImpl::invoke_spinning() noexcept {
  if (options_.invoke_spin.count() == 0 || now_ - invokes_seen_ >= options_.invoke_spin) return false;
  // A queue found nearly empty: let the posters fill a few cache lines before looking again,
  // unless I/O completes meanwhile.
  if (invokes_last_ < kSpinBatch) {
    const auto until = Reactor::Clock::now() + options_.invoke_spin_gap;
    while (io_uring_cq_ready(&ring_) == 0 && Reactor::Clock::now() < until) {
      for (int i = 0; i < 16; ++i) cpu_relax();
    }
  }
  return true;
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

bool ReactorImpl::park_check_busy() noexcept {
  // After prepare_park's fence: work published before a producer saw `parked` is seen here.
  bool busy = false;
  park_checks_.run([&](UniqueFunction<void(bool&)>& check) {
    if (!busy) run_guarded("park check", [&] { check(busy); });
  });
  if (busy) invokes_.unpark();
  return busy;
}

void ReactorImpl::run_tick_hooks() {
  tick_hooks_.run([this](UniqueFunction<void()>& hook) { run_guarded("tick hook", [&] { hook(); }); });
}

}  // namespace ringactor::runtime
