// The Reactor's public face: the calls users make, forwarded to ReactorImpl.
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
  // This thread's slot is busy while it posts; the exit waits for busy slots (finish()).
  PosterSlots::Slot* mine = nullptr;
  try {
    mine = &PosterSlots::mine(r.posters_);  // a lookup; the first post of a thread registers
  } catch (...) {
    return false;  // no memory for a slot: refused like a queue block that could not be had
  }
  PosterSlots::Slot& slot = *mine;
  slot.busy.store(1, std::memory_order_relaxed);
  struct Leave {
    PosterSlots::Slot& slot;
    ~Leave() { slot.busy.store(0, std::memory_order_release); }
  } leave{slot};  // even if enqueueing threw, the exit must not wait forever
  r.invokes_.light_barrier();
  if (r.finished_.load(std::memory_order_relaxed)) return false;
  return r.invokes_.post(std::move(task));
}

bool Reactor::finished() const noexcept { return impl_->finished_.load(std::memory_order_acquire); }

void Reactor::stop() {
  impl_->stop_requested_.store(true, std::memory_order_release);
  // Wake the loop if it sleeps; the closure itself does nothing (the flag is read first).
  impl_->invokes_.post([] {});
}

void Reactor::read_file(int fd, std::span<std::byte> into, std::uint64_t offset,
                        UniqueFunction<void(int)> done) {
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

HookId Reactor::add_tick_hook(UniqueFunction<void()> hook) {
  impl_->check_setup_thread("add_tick_hook");
  return impl_->tick_hooks_.add(std::move(hook));
}

bool Reactor::remove_tick_hook(HookId hook) noexcept { return impl_->tick_hooks_.remove(hook); }

HookId Reactor::add_before_wait_hook(UniqueFunction<void()> hook) {
  impl_->check_setup_thread("add_before_wait_hook");
  return impl_->before_wait_hooks_.add(std::move(hook));
}

bool Reactor::remove_before_wait_hook(HookId hook) noexcept { return impl_->before_wait_hooks_.remove(hook); }

HookId Reactor::add_park_check(UniqueFunction<void(bool&)> check) {
  impl_->check_setup_thread("add_park_check");
  return impl_->park_checks_.add(std::move(check));
}

bool Reactor::remove_park_check(HookId check) noexcept { return impl_->park_checks_.remove(check); }

void Reactor::wake() noexcept { impl_->invokes_.wake(); }

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
std::uint64_t Reactor::iteration() const noexcept {
  return impl_->c_.iterations.load(std::memory_order_relaxed);
}

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
