// The Reactor's connection teardown (close, cancel, release, a graceful stop closing them)
// and the Connection handle.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>

#include "reactor_impl.hpp"

namespace ringactor::runtime {

// ---- teardown ---------------------------------------------------------------------------

// A graceful stop: listeners close, and every connection closes after its queued output
// (or when its handler says it is done), within shutdown_grace.
void ReactorImpl::begin_stop() {
  if (stopping_) return;
  stopping_ = true;
  lifeline_.cut();              // work done for this reactor's actors may give up now
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

// The peer shut down its sending side. The handler may keep the connection (answers still
// to come: on_input_end returns true) and close it itself; by default it closes after the
// queued output. With input paused, the handler hears of it once it resumed and consumed
// what it kept.
void ReactorImpl::end_of_input(std::uint32_t idx) {
  ConnSlot& s = slots_[idx];
  s.input_ended = true;
  if (s.paused) return;  // told on resume
  bool keep = false;
  guarded(idx, [&](ConnSlot& slot) { keep = slot.handler->on_input_end(Connection(self_, id_of(idx))); });
  ConnSlot& after = slots_[idx];
  if (!keep && !after.closing) close_gracefully(idx, CloseReason::kPeerClosed);
}

void ReactorImpl::pause_input(std::uint32_t idx) {
  ConnSlot& s = slots_[idx];
  if (s.paused || s.closing || s.close_after_flush) return;
  s.paused = true;
  if (s.recv_armed) {
    // End the multishot receive; bytes that complete before the cancel lands go to the
    // carry, the rest wait in the socket (TCP flow control pushes back on the peer).
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, pack_user_data({OpKind::kRecv, slots_.generation(idx), idx}), 0);
    io_uring_sqe_set_data64(sqe, pack_user_data({OpKind::kCancel, 0, 0}));
    ++inflight_;
  }
}

void ReactorImpl::resume_input(std::uint32_t idx) {
  ConnSlot& s = slots_[idx];
  if (!s.paused || s.closing) return;
  s.paused = false;
  if (s.carry.len == 0 && !s.input_ended) {
    if (!s.recv_armed && !s.close_after_flush) arm_recv(idx);
    return;
  }
  if (s.redeliver_queued) return;
  // Present the kept bytes (and then the EOF) again, outside the caller's callback; receive
  // again only after that, so new bytes queue behind the kept ones in the socket.
  s.redeliver_queued = true;
  self_.post([this, id = id_of(idx)] {
    ConnSlot* slot = find(id);
    if (slot == nullptr) return;
    slot->redeliver_queued = false;
    if (slot->closing || slot->paused) return;
    deliver(id.slot, {});
    slot = find(id);
    if (slot == nullptr || slot->closing || slot->paused || slot->close_after_flush) return;
    if (slot->input_ended) {
      end_of_input(id.slot);
    } else if (!slot->recv_armed) {
      arm_recv(id.slot);
    }
  });
}

void ReactorImpl::close_gracefully(std::uint32_t idx, CloseReason reason) {
  ConnSlot& s = slots_[idx];
  if (s.closing || s.close_after_flush) return;
  s.close_after_flush = true;
  s.reason = reason;
  if (s.out.empty() && !s.send_inflight) finish_close(idx);
}

// Output flushed after a graceful close. A close the handler asked for lingers: FIN now,
// then read and discard until the peer closes, linger_bytes pass, or linger_timeout ends,
// so that a peer still sending gets our last bytes rather than a reset. Other reasons (the
// peer already closed, shutdown) close at once.
void ReactorImpl::finish_close(std::uint32_t idx) {
  ConnSlot& s = slots_[idx];
  if (s.closing || s.lingering) return;
  if (s.reason != CloseReason::kLocal || options_.linger_timeout.count() == 0) {
    close_connection(idx, s.reason, 0);
    return;
  }
  // The receive may have ended (buffer ring empty) while output was flushing: re-arm it,
  // lingering needs it to see the peer's FIN.
  if (!s.recv_armed) arm_recv(idx);
  // Counted before the FIN so that a peer who has seen the FIN also sees the count.
  s.lingering = true;
  s.lingered = 0;
  bump(c_.lingering_closes);
  if (::shutdown(s.fd, SHUT_WR) != 0) {
    s.lingering = false;
    close_connection(idx, s.reason, 0);
    return;
  }
  const ConnectionId id = id_of(idx);
  timers_.schedule(now_ + options_.linger_timeout, [this, id] {
    ConnSlot* slot = find(id);
    if (slot != nullptr && slot->lingering && !slot->closing) close_connection(id.slot, slot->reason, 0);
  });
}

void ReactorImpl::submit_cancel_fd(int fd) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(sqe, pack_user_data({OpKind::kCancel, 0, 0}));
  ++inflight_;
}

void ReactorImpl::close_connection(std::uint32_t idx, CloseReason reason, int error) {
  ConnSlot& s = slots_[idx];
  if (s.closing) return;
  s.closing = true;
  s.reason = reason;
  s.error = static_cast<std::int16_t>(error);  // errno values are small
  // Ask the kernel to end the receive and any blocked send; their final completions
  // arrive later and teardown finishes when the last one has (never free memory a kernel
  // operation may still write into or read from).
  if (s.recv_armed || s.send_inflight) submit_cancel_fd(s.fd);
  if (!s.send_inflight) s.out.clear(output_);
  maybe_finalize(idx);
}

void ReactorImpl::maybe_finalize(std::uint32_t idx) {
  ConnSlot& s = slots_[idx];
  if (!s.closing || s.ops != 0 || s.finalized) return;
  s.finalized = true;
  if (s.handler) {
    try {
      s.handler->on_close(Connection(self_, id_of(idx)), s.reason, s.error);
    } catch (const std::exception& e) {
      bump(c_.handler_errors);
      log_error(std::string("on_close threw: ") + e.what());
    } catch (...) {
      bump(c_.handler_errors);
    }
  }
  ConnSlot& slot = slots_[idx];
  slot.handler.reset();
  release_pipe(idx);
  slot.pipe_waiting = false;
  slot.out.clear(output_);
  if (slot.reason == CloseReason::kStalled) {
    // A reset: the kernel drops what it still holds for a client that stopped reading
    // (up to its send buffer) instead of keeping it for an orphaned socket.
    const linger reset{1, 0};
    ::setsockopt(slot.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  }
  ::close(slot.fd);
  slots_.release(idx);
  bump(c_.connections_closed);
  bump(c_.closed_by_reason[static_cast<std::size_t>(slot.reason)]);
  c_.connections_open.store(slots_.size(), std::memory_order_relaxed);
}

// ---- Connection handle ------------------------------------------------------------------

bool Connection::send(std::span<const std::byte> bytes) const {
  return reactor_->impl_->queue_copy(id_, bytes);
}

bool Connection::send(SharedBlock block) const {
  const std::size_t n = block.size();
  return reactor_->impl_->queue_block(id_, std::move(block), 0, n);
}

bool Connection::send_file(int fd, std::uint64_t offset, std::uint64_t len, std::shared_ptr<const void> keep) const {
  return reactor_->impl_->queue_file(id_, fd, offset, len, std::move(keep));
}

bool Connection::send(SharedBlock block, std::size_t offset, std::size_t len) const {
  const std::size_t size = block.size();
  offset = std::min(offset, size);
  len = std::min(len, size - offset);
  return reactor_->impl_->queue_block(id_, std::move(block), offset, len);
}

void Connection::close() const {
  ReactorImpl& r = *reactor_->impl_;
  if (r.find(id_) != nullptr) r.close_gracefully(id_.slot, CloseReason::kLocal);
}

void Connection::abort() const {
  ReactorImpl& r = *reactor_->impl_;
  if (r.find(id_) != nullptr) r.close_connection(id_.slot, CloseReason::kLocal, 0);
}

void Connection::pause_input() const {
  ReactorImpl& r = *reactor_->impl_;
  if (r.find(id_) != nullptr) r.pause_input(id_.slot);
}

void Connection::resume_input() const {
  ReactorImpl& r = *reactor_->impl_;
  if (r.find(id_) != nullptr) r.resume_input(id_.slot);
}

bool Connection::open() const noexcept {
  const ConnSlot* s = reactor_->impl_->find(id_);
  return s != nullptr && !s->closing && !s->close_after_flush;
}

std::size_t Connection::queued_bytes() const noexcept {
  const ConnSlot* s = reactor_->impl_->find(id_);
  return s != nullptr ? s->out.bytes() : 0;
}

void Connection::set_idle_timeout(std::chrono::milliseconds timeout) const {
  ReactorImpl& r = *reactor_->impl_;
  if (r.find(id_) != nullptr) r.set_idle_timeout(id_.slot, timeout);
}

ConnectionHandler* Connection::handler() const noexcept {
  const ConnSlot* s = reactor_->impl_->find(id_);
  return s != nullptr && !s->closing ? s->handler.get() : nullptr;
}

int Connection::fd() const noexcept {
  const ConnSlot* s = reactor_->impl_->find(id_);
  return s != nullptr ? s->fd : -1;
}

}  // namespace ringactor::runtime
