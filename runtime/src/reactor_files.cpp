// The Reactor's file I/O: file segments of the output (splice file -> pipe -> socket) and
// positional file reads through the ring.
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

// ---- file segments: splice file -> pipe (ring) -> socket (direct) -------------------------

bool ReactorImpl::queue_file(ConnectionId id, int fd, std::uint64_t offset, std::uint64_t len,
                             std::shared_ptr<const void> keep) {
  ConnSlot* s = find(id);
  if (s == nullptr || s->closing || s->close_after_flush) return false;
  if (len == 0) return true;
  if (fd < 0) throw std::invalid_argument("Connection::send_file: no descriptor");
  if (s->out.empty()) s->last_progress = now_;
  s->out.append_file(output_, fd, offset, len, std::move(keep));
  return after_queue(id.slot);
}

// The front of the output is a file segment: fill the connection's pipe from the file
// through the ring (the read may wait on the disk, the loop does not), or empty the pipe
// into the socket.
void ReactorImpl::flush_file(std::uint32_t idx) {
  ConnSlot& s = slots_[idx];
  if (s.piped > 0) {
    splice_to_socket(idx);
    return;
  }
  if (s.pipe < 0) {
    const std::int32_t p = acquire_pipe();
    if (p < 0) {
      if (pipes_in_use_ == 0) {  // not one pipe could be made (descriptor limit)
        close_connection(idx, CloseReason::kIoError, EMFILE);
        return;
      }
      if (!s.pipe_waiting) {
        s.pipe_waiting = true;
        pipe_waiters_.push_back(id_of(idx));
        bump(c_.pipe_waits);
      }
      shed_stalled(/*pipes=*/true, /*blocks=*/false);  // pipes held by clients that stopped reading
      return;
    }
    s.pipe = p;
    s.last_progress = now_;  // its wait for the pipe was not a stall
  }
  const OutputSegment* f = s.out.front();
  const SplicePipe& pp = pipes_[static_cast<std::size_t>(s.pipe)];
  const unsigned n = std::min<unsigned>(f->len, pp.size);
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_splice(sqe, f->file_fd, static_cast<std::int64_t>(f->file_off), pp.w, -1, n, 0);
  io_uring_sqe_set_data64(sqe, pack_user_data({OpKind::kSplice, slots_.generation(idx), idx}));
  s.send_inflight = true;
  ++s.ops;
  ++inflight_;
}

void ReactorImpl::on_splice(const OpTag& tag, int res) {
  ConnSlot* s = find({tag.index, tag.generation});
  if (s == nullptr) {
    bump(c_.stale_completions);  // cannot happen: teardown waits for it
    return;
  }
  s->send_inflight = false;
  --s->ops;
  if (res > 0) {
    s->piped = static_cast<std::uint32_t>(res);
    s->last_progress = now_;  // the disk delivered: a slow read is not a stalled client
    bump(c_.splices);
  }
  if (s->closing) {
    maybe_finalize(tag.index);
    return;
  }
  if (res <= 0) {
    // 0: the file ended before the bytes promised (it shrank); the peer must not mistake
    // what follows for the rest of this body.
    bump(c_.file_errors);
    log_error(std::string("send_file: ") + (res == 0 ? "the file ended before the bytes promised" : std::strerror(-res)) +
              "; closing the connection");
    close_connection(tag.index, CloseReason::kIoError, res == 0 ? EIO : -res);
    return;
  }
  splice_to_socket(tag.index);
}

// Moves the pipe's bytes into the socket without copying them; the socket is non-blocking,
// so a full one answers EAGAIN and we wait for room (POLLOUT) through the ring.
void ReactorImpl::splice_to_socket(std::uint32_t idx) {
  ConnSlot& s = slots_[idx];
  const SplicePipe& p = pipes_[static_cast<std::size_t>(s.pipe)];
  const ssize_t n = ::splice(p.r, nullptr, s.fd, nullptr, s.piped, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
  if (n > 0) {
    s.piped -= static_cast<std::uint32_t>(n);
    const OutputSegment* f = s.out.front();
    // The pipe goes back to the pool as soon as no file segment needs it any more.
    if (s.piped == 0 && static_cast<std::uint64_t>(n) >= f->len && (f->next == nullptr || !f->next->is_file())) {
      release_pipe(idx);
    }
    ++s.ops;
    sent(idx, static_cast<int>(n));
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    if (!check_output_cap(idx)) return;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_add(sqe, s.fd, POLLOUT);
    io_uring_sqe_set_data64(sqe, pack_user_data({OpKind::kPollOut, slots_.generation(idx), idx}));
    s.send_inflight = true;
    ++s.ops;
    ++inflight_;
    return;
  }
  const int err = n < 0 ? errno : EIO;
  if (err == EPIPE) {
    // splice raised SIGPIPE at this thread (blocked here): take it, so it is not left
    // pending for whoever unblocks SIGPIPE on this thread later.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    const timespec zero{};
    while (::sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {
    }
  }
  ++s.ops;
  sent(idx, -err);  // reset, broken pipe: the connection ends
}

void ReactorImpl::on_pollout(const OpTag& tag, int /*res*/) {
  ConnSlot* s = find({tag.index, tag.generation});
  if (s == nullptr) {
    bump(c_.stale_completions);
    return;
  }
  s->send_inflight = false;
  --s->ops;
  if (s->closing) {
    maybe_finalize(tag.index);
    return;
  }
  splice_to_socket(tag.index);  // POLLERR/POLLHUP show up there as the splice's error
}

std::int32_t ReactorImpl::acquire_pipe() {
  auto make = [this](SplicePipe& p) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return false;
    p.r = fds[0];
    p.w = fds[1];
    // As large as allowed (pipe-max-size caps unprivileged callers), else the default.
    int size = ::fcntl(p.w, F_SETPIPE_SZ, static_cast<int>(options_.splice_pipe_size));
    if (size < 0) size = ::fcntl(p.w, F_GETPIPE_SZ);
    p.size = static_cast<std::uint32_t>(size > 0 ? size : 65536);
    return true;
  };
  std::int32_t i = -1;
  if (!free_pipes_.empty()) {
    i = free_pipes_.back();
    SplicePipe& p = pipes_[static_cast<std::size_t>(i)];
    if (p.r < 0 && !make(p)) return -1;  // a pipe dropped with data in it: made anew
    free_pipes_.pop_back();
  } else if (pipes_.size() < options_.max_splice_pipes) {
    SplicePipe p;
    if (!make(p)) return -1;
    try {
      pipes_.push_back(p);
      free_pipes_.reserve(pipes_.size());  // release_pipe never allocates
    } catch (...) {
      ::close(p.r);
      ::close(p.w);
      throw;
    }
    i = static_cast<std::int32_t>(pipes_.size() - 1);
  } else {
    return -1;
  }
  ++pipes_in_use_;
  return i;
}

void ReactorImpl::release_pipe(std::uint32_t idx) noexcept {
  ConnSlot& s = slots_[idx];
  if (s.pipe < 0) return;
  SplicePipe& p = pipes_[static_cast<std::size_t>(s.pipe)];
  if (s.piped != 0) {
    // Bytes of a connection that is gone: the pipe cannot be emptied cheaply, drop it.
    ::close(p.r);
    ::close(p.w);
    p.r = p.w = -1;
    s.piped = 0;
  }
  free_pipes_.push_back(s.pipe);
  s.pipe = -1;
  --pipes_in_use_;
  wake_pipe_waiter();
}

void ReactorImpl::wake_pipe_waiter() noexcept {
  while (!pipe_waiters_.empty()) {
    const ConnectionId id = pipe_waiters_.front();
    pipe_waiters_.pop_front();
    ConnSlot* w = find(id);
    if (w == nullptr || !w->pipe_waiting) continue;
    w->pipe_waiting = false;
    if (w->closing) continue;
    if (!w->flush_queued) {
      try {
        flush_list_.push_back(id.slot);
        w->flush_queued = true;
      } catch (...) {
        // Out of memory: it stays parked; the next release or flush pass tries again.
        w->pipe_waiting = true;
        pipe_waiters_.push_front(id);
        return;
      }
    }
    break;
  }
}

// ---- file reads -------------------------------------------------------------------------

void ReactorImpl::read_file(int fd, std::span<std::byte> into, std::uint64_t offset, UniqueFunction<void(int)> done) {
  if (!done) throw std::invalid_argument("Reactor::read_file: empty callback");
  if (into.size() > 0x7FFFF000u) into = into.first(0x7FFFF000u);  // what one read returns at most
  std::uint32_t i;
  if (!file_free_.empty()) {
    i = file_free_.back();
    file_free_.pop_back();
  } else {
    file_ops_.emplace_back();
    i = static_cast<std::uint32_t>(file_ops_.size() - 1);
  }
  io_uring_sqe* sqe;
  try {
    sqe = get_sqe();
  } catch (...) {
    file_free_.push_back(i);
    throw;
  }
  file_ops_[i] = std::move(done);
  io_uring_prep_read(sqe, fd, into.data(), static_cast<unsigned>(into.size()), offset);
  io_uring_sqe_set_data64(sqe, pack_user_data({OpKind::kFile, 0, i}));
  ++inflight_;
}

// After a send (through the ring, or direct) wrote `res` bytes or failed with -res. The
// caller holds one ops count on the slot; this releases it.
void ReactorImpl::sent(std::uint32_t idx, int res) {
  ConnSlot* s = &slots_[idx];
  bump(c_.sends);
  if (res > 0) {
    bump(c_.bytes_out, static_cast<std::uint64_t>(res));
    s->out.consume(output_, static_cast<std::size_t>(res));
    s->last_active = s->last_progress = now_;
    s->outq_mark = kNoOutqMark;  // shed_stalled's next look starts afresh
  }
  if (s->closing) {
    s->out.clear(output_);
    --s->ops;
    maybe_finalize(idx);
    return;
  }
  if (res < 0) {
    --s->ops;
    close_connection(idx, CloseReason::kIoError, -res);
    return;
  }
  if (!s->out.empty()) {
    --s->ops;
    // Partial send: resume with the rest through the ring, which waits for room (a direct
    // retry would only meet a full socket buffer).
    if (check_output_cap(idx)) flush(idx, false);
    return;
  }
  // Everything sent (the ops guard stays up while the handler runs).
  if (s->close_after_flush) {
    --s->ops;
    finish_close(idx);
    return;
  }
  guarded(idx, [&](ConnSlot& slot) { slot.handler->on_drain(Connection(self_, id_of(idx))); });
  --slots_[idx].ops;
  maybe_finalize(idx);
}

}  // namespace ringactor::runtime
