// The Reactor's connection I/O: listen/accept, multishot receive over the buffer ring,
// the send path (one sendmsg of iovecs in flight per connection) and teardown.
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

std::string_view to_string(CloseReason r) noexcept {
  switch (r) {
    case CloseReason::kLocal: return "local";
    case CloseReason::kPeerClosed: return "peer_closed";
    case CloseReason::kIoError: return "io_error";
    case CloseReason::kIdleTimeout: return "idle_timeout";
    case CloseReason::kWriteTimeout: return "write_timeout";
    case CloseReason::kOutputOverflow: return "output_overflow";
    case CloseReason::kStalled: return "stalled";
    case CloseReason::kInputOverflow: return "input_overflow";
    case CloseReason::kShutdown: return "shutdown";
    case CloseReason::kHandlerError: return "handler_error";
  }
  return "unknown";
}

// ---- listen / accept ------------------------------------------------------------------

std::uint16_t ReactorImpl::listen(const ListenOptions& o, Reactor::HandlerFactory factory) {
  if (!factory) throw std::invalid_argument("Reactor::listen: the handler factory is empty");
  if (stopping_) throw std::logic_error("Reactor::listen: the reactor is stopping");
  const std::string name = o.address + ":" + std::to_string(o.port);
  sockaddr_storage ss{};
  socklen_t len;
  int family;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, o.address.c_str(), &v4->sin_addr) == 1) {
    family = AF_INET;
    v4->sin_family = AF_INET;
    v4->sin_port = htons(o.port);
    len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, o.address.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(o.port);
    len = sizeof *v6;
  } else {
    throw std::invalid_argument("Reactor::listen: '" + o.address + "' is not an IPv4 or IPv6 address");
  }
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "listen on " + name + ": socket");
  auto fail = [&](const char* step) {
    const int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(), "listen on " + name + ": " + step);
  };
  const int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) fail("SO_REUSEADDR");
  if (o.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) fail("SO_REUSEPORT");
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) fail("bind");
  if (::listen(fd, o.backlog) != 0) fail("listen");
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen) != 0) fail("getsockname");
  const std::uint16_t port = family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port)
                                               : ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  Listener l;
  l.fd = fd;
  l.name = o.address + ":" + std::to_string(port);
  l.factory = std::move(factory);
  l.first_byte_timeout = o.first_byte_timeout;
  listeners_.push_back(std::move(l));
  if (running_) {
    arm_accept(static_cast<std::uint32_t>(listeners_.size() - 1));
    if (o.first_byte_timeout.count() > 0) reschedule_scan();  // it may be the shortest timeout now
  }
  return port;
}

void ReactorImpl::arm_accept(std::uint32_t li) {
  Listener& l = listeners_[li];
  io_uring_sqe* sqe = get_sqe();
  // Non-blocking sockets: a splice into a full socket must answer EAGAIN (we then wait
  // for room with a poll) rather than park a kernel worker thread.
  io_uring_prep_multishot_accept(sqe, l.fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  io_uring_sqe_set_data64(sqe, pack_user_data({OpKind::kAccept, 0, li}));
  l.armed = true;
  ++inflight_;
}

void ReactorImpl::close_listener(std::uint32_t li) {
  Listener& l = listeners_[li];
  if (l.closed) return;
  if (l.armed) {
    // The accept's final completion closes the descriptor (see on_accept).
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, pack_user_data({OpKind::kAccept, 0, li}), 0);
    io_uring_sqe_set_data64(sqe, pack_user_data({OpKind::kCancel, 0, li}));
    ++inflight_;
    return;
  }
  ::close(l.fd);
  l.fd = -1;
  l.closed = true;
}

void ReactorImpl::on_accept(const OpTag& tag, int res, unsigned flags) {
  if (tag.index >= listeners_.size()) {
    bump(c_.stale_completions);
    if (res >= 0) ::close(res);
    return;
  }
  if (res >= 0) {
    accept_connection(tag.index, res);
  } else if (res != -ECANCELED) {
    bump(c_.accept_errors);
  }
  if ((flags & IORING_CQE_F_MORE) != 0) return;
  Listener& l = listeners_[tag.index];
  l.armed = false;
  if (stopping_) {
    ::close(l.fd);
    l.fd = -1;
    l.closed = true;
    return;
  }
  if (res == -EMFILE || res == -ENFILE || res == -ENOMEM || res == -ENOBUFS) {
    // Out of descriptors or memory: retry shortly instead of spinning on the error.
    log_error("accept on " + l.name + " failed: " + std::strerror(-res) + "; retrying in 50 ms");
    const std::uint32_t li = tag.index;
    timers_.schedule(now_ + std::chrono::milliseconds(50), [this, li] {
      if (!stopping_ && !listeners_[li].armed && !listeners_[li].closed) arm_accept(li);
    });
    return;
  }
  arm_accept(tag.index);
}

void ReactorImpl::accept_connection(std::uint32_t li, int fd) {
  if (stopping_ || slots_.full()) {
    bump(c_.connections_rejected);
    ::close(fd);
    return;
  }
  if (options_.tcp_nodelay) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // best effort (not TCP: fails)
  }
  const std::uint32_t idx = slots_.acquire();
  ConnSlot& s = slots_[idx];
  s.fd = fd;
  s.last_active = s.last_progress = now_;
  s.got_input = false;
  s.listener = li < kNoListener ? static_cast<std::uint8_t>(li) : kNoListener;
  bump(c_.connections_accepted);
  bump(c_.connections_open);
  const Connection conn(self_, id_of(idx));
  guarded(idx, [&](ConnSlot& slot) {
    slot.handler = listeners_[li].factory(conn);
    if (!slot.handler) throw std::runtime_error("handler factory returned null");
    // The factory may already have closed the connection (a protocol that refuses it).
    if (slot.closing || slot.close_after_flush) return;
    arm_recv(idx);
    slot.handler->on_open(conn);
  });
}

// ---- receive ----------------------------------------------------------------------------

void ReactorImpl::arm_recv(std::uint32_t idx) {
  ConnSlot& s = slots_[idx];
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_recv_multishot(sqe, s.fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = buffers_->group_id();
  io_uring_sqe_set_data64(sqe, pack_user_data({OpKind::kRecv, slots_.generation(idx), idx}));
  s.recv_armed = true;
  ++s.ops;
  ++inflight_;
}

void ReactorImpl::on_recv(const OpTag& tag, int res, unsigned flags) {
  const bool has_buffer = (flags & IORING_CQE_F_BUFFER) != 0;
  const auto bid = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
  if (has_buffer) buffers_->note_taken();
  ConnSlot* s = find({tag.index, tag.generation});
  if (s == nullptr) {
    if (has_buffer) buffers_->recycle(bid);
    bump(c_.stale_completions);
    return;
  }
  const std::uint32_t idx = tag.index;
  const bool final = (flags & IORING_CQE_F_MORE) == 0;
  if (final) s->recv_armed = false;
  ++s->ops;  // guard: the slot outlives this function even if the handler closes it
  if (final) --s->ops;  // the receive itself ended

  if (res > 0) {
    bump(c_.bytes_in, static_cast<std::uint64_t>(res));
    s->last_active = now_;
    s->got_input = true;
    if (s->lingering) {
      // Discarded: we are only waiting for the peer to finish sending and see our FIN.
      s->lingered += static_cast<std::uint32_t>(res);
      if (s->lingered > options_.linger_bytes) close_connection(idx, s->reason, 0);
    } else if (!s->closing && has_buffer) {
      if (s->paused || s->redeliver_queued) {
        append_carry(idx, buffers_->view(bid, static_cast<std::uint32_t>(res)));  // kept for resume
      } else {
        deliver(idx, buffers_->view(bid, static_cast<std::uint32_t>(res)));
      }
    }
  } else if (res == 0) {
    if (s->lingering) {
      close_connection(idx, s->reason, 0);  // the peer closed too: done
    } else if (!s->closing && !s->close_after_flush) {
      end_of_input(idx);
    } else if (!s->closing) {
      close_gracefully(idx, CloseReason::kPeerClosed);
    }
  } else if (res == -ENOBUFS) {
    bump(c_.recv_enobufs);
  } else if (res != -ECANCELED && !s->closing) {
    close_connection(idx, CloseReason::kIoError, -res);
  }
  if (has_buffer) buffers_->recycle(bid);

  ConnSlot& slot = slots_[idx];
  // A receive that ended for lack of buffers, that the kernel ended after data, or that a
  // pause cancelled and a resume came before the cancel landed, is re-armed: the bytes wait
  // in the socket, nothing is lost.
  if (final && !slot.closing && !slot.paused && !slot.redeliver_queued && (!slot.close_after_flush || slot.reason == CloseReason::kLocal) &&
      (res > 0 || res == -ENOBUFS || res == -ECANCELED)) {
    bump(c_.recv_rearms);
    arm_recv(idx);
  }
  --slot.ops;
  maybe_finalize(idx);
}

// Appends to the connection's carry; false (and the connection closed) past max_input_carry.
// While input is paused the limit does not apply: those bytes completed before the pause's
// cancel landed (at most one batch of completions), and the handler asked for the pause.
bool ReactorImpl::append_carry(std::uint32_t idx, std::span<const std::byte> bytes) {
  Carry& c = slots_[idx].carry;
  const std::size_t need = static_cast<std::size_t>(c.len) + bytes.size();
  const ConnSlot& s = slots_[idx];
  const std::size_t limit =
      s.paused || s.redeliver_queued ? std::numeric_limits<std::uint32_t>::max() : options_.max_input_carry;
  if (need > limit && !bytes.empty()) {
    bump(c_.input_overflows);
    close_connection(idx, CloseReason::kInputOverflow, 0);
    return false;
  }
  if (need > c.cap) {
    const std::size_t cap = std::min<std::size_t>(std::max<std::size_t>(need, std::max<std::size_t>(c.cap * 2, 512)),
                                                   std::max(need, options_.max_input_carry));
    auto grown = std::make_unique<std::byte[]>(cap);
    if (c.len != 0) std::memcpy(grown.get(), c.data.get(), c.len);
    c.data = std::move(grown);
    c.cap = static_cast<std::uint32_t>(cap);
  }
  if (!bytes.empty()) std::memcpy(c.data.get() + c.len, bytes.data(), bytes.size());
  c.len = static_cast<std::uint32_t>(need);
  return true;
}

void ReactorImpl::deliver(std::uint32_t idx, std::span<const std::byte> bytes) {
  guarded(idx, [&](ConnSlot& s) {
    const Connection conn(self_, id_of(idx));
    Carry& c = s.carry;
    if (c.len == 0) {
      if (bytes.empty()) return;
      const std::size_t used = std::min(s.handler->on_data(conn, bytes), bytes.size());
      bytes = bytes.subspan(used);
      if (bytes.empty() || s.closing) return;
      // Keep what is left; the handler already saw these bytes just now.
      append_carry(idx, bytes);
      return;
    }
    // Keep what is left, after what was already kept, and present it all again.
    if (!append_carry(idx, bytes)) return;
    const std::size_t used = std::min<std::size_t>(s.handler->on_data(conn, {c.data.get(), c.len}), c.len);
    if (s.closing) return;
    if (used == c.len) {
      c.data.reset();
      c.len = c.cap = 0;
    } else if (used != 0) {
      std::memmove(c.data.get(), c.data.get() + used, c.len - used);
      c.len -= static_cast<std::uint32_t>(used);
    }
  });
}

// ---- send -------------------------------------------------------------------------------

bool ReactorImpl::after_queue(std::uint32_t idx) {
  ConnSlot& s = slots_[idx];
  // The cap applies to output the socket would not take. While a send is in flight the
  // socket is known to be full, so check now; otherwise flush() checks after its direct
  // send, so a burst queued within one iteration is not mistaken for a slow reader.
  if (s.send_inflight) return check_output_cap(idx);
  if (!s.flush_queued) {
    s.flush_queued = true;
    flush_list_.push_back(idx);
  }
  return true;
}

bool ReactorImpl::check_output_cap(std::uint32_t idx) {
  if (slots_[idx].out.bytes() <= options_.max_output_bytes) return true;
  bump(c_.output_overflows);
  close_connection(idx, CloseReason::kOutputOverflow, 0);
  return false;
}

bool ReactorImpl::queue_copy(ConnectionId id, std::span<const std::byte> bytes) {
  ConnSlot* s = find(id);
  if (s == nullptr || s->closing || s->close_after_flush) return false;
  if (bytes.empty()) return true;
  // The write timeout counts from when output became pending, not from the last send.
  if (s->out.empty()) s->last_progress = now_;
  s->out.append_copy(output_, bytes);
  return after_queue(id.slot);
}

bool ReactorImpl::queue_block(ConnectionId id, SharedBlock block, std::size_t offset, std::size_t n) {
  ConnSlot* s = find(id);
  if (s == nullptr || s->closing || s->close_after_flush) return false;
  if (n == 0) return true;
  if (s->out.empty()) s->last_progress = now_;
  s->out.append_block(output_, std::move(block), offset, n);
  return after_queue(id.slot);
}

void ReactorImpl::flush_all() {
  // Connections that get new output while this runs (an on_drain that queues more) land
  // on the fresh list and are flushed next iteration, so a fast reader cannot pin us here.
  flushing_.swap(flush_list_);
  // Several connections with output: their sends go through the ring, all in the one
  // io_uring_enter that ends this iteration, instead of a send() syscall each (kernel entries
  // are what costs most here). A lone connection sends directly: no completion to wait for.
  const bool direct = options_.ring_send_batch == 0 || flushing_.size() < options_.ring_send_batch;
  for (const std::uint32_t idx : flushing_) {
    if (!slots_.is_live(idx)) continue;
    slots_[idx].flush_queued = false;
    flush(idx, direct);
  }
  flushing_.clear();
  // A connection woken for a free pipe may have closed before it took it: pass it on.
  if (!pipe_waiters_.empty() && !free_pipes_.empty()) {
    wake_pipe_waiter();
  } else if (!pipe_waiters_.empty()) {
    // Still waiting (entries of connections that left are dropped first): holders may have
    // stalled since the last look (rate-limited).
    while (!pipe_waiters_.empty()) {
      const ConnSlot* w = find(pipe_waiters_.front());
      if (w != nullptr && w->pipe_waiting && !w->closing) break;
      pipe_waiters_.pop_front();
    }
    if (!pipe_waiters_.empty()) shed_stalled(/*pipes=*/true, /*blocks=*/false);
  }
}

void ReactorImpl::flush(std::uint32_t idx, bool try_direct) {
  ConnSlot& s = slots_[idx];
  if (s.send_inflight || s.out.empty() || s.closing) return;
  if (s.out.front()->is_file()) {
    flush_file(idx);
    return;
  }
  if (options_.zero_copy_send && s.out.bytes() >= options_.zero_copy_threshold) {
    // Large output: the kernel transmits from our memory instead of copying it. No direct
    // attempt: a plain sendmsg would copy, which is what zero-copy avoids.
    submit_zero_copy(idx);
    return;
  }
  if (try_direct) {
    // Most responses fit in the socket's send buffer: one non-blocking sendmsg writes them
    // with no ring round trip and no completion to wake up for. Only what the socket
    // refuses goes through the ring, which then waits for room without blocking us.
    iovec iov[SendContext::kMaxIov];
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = s.out.fill_iovecs(iov, SendContext::kMaxIov);
    // One segment (most small responses): send() skips the kernel's msghdr and iovec copy.
    const ssize_t n = msg.msg_iovlen == 1
                          ? ::send(s.fd, iov[0].iov_base, iov[0].iov_len, MSG_DONTWAIT | MSG_NOSIGNAL)
                          : ::sendmsg(s.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      ++s.ops;
      sent(idx, n >= 0 ? static_cast<int>(n) : -errno);  // resumes through the ring if partial
      return;
    }
    if (!check_output_cap(idx)) return;
  }
  SendContext* ctx = output_.acquire_send();
  const std::size_t n = s.out.fill_iovecs(ctx->iov, SendContext::kMaxIov);
  ctx->msg = msghdr{};
  ctx->msg.msg_iov = ctx->iov;
  ctx->msg.msg_iovlen = n;
  io_uring_sqe* sqe;
  try {
    sqe = get_sqe();
  } catch (...) {
    output_.release_send(ctx);
    throw;
  }
  io_uring_prep_sendmsg(sqe, s.fd, &ctx->msg, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, pack_user_data({OpKind::kSend, slots_.generation(idx), idx}));
  s.send_ctx = ctx;
  s.send_inflight = true;
  bump(c_.ring_sends);
  ++s.ops;
  ++inflight_;
}

void ReactorImpl::on_send(const OpTag& tag, int res) {
  ConnSlot* s = find({tag.index, tag.generation});
  if (s == nullptr) {
    // Cannot happen while teardown waits for sends; counted if it ever does.
    bump(c_.stale_completions);
    return;
  }
  output_.release_send(s->send_ctx);
  s->send_ctx = nullptr;
  s->send_inflight = false;
  sent(tag.index, res);  // the send's op count becomes the guard
}

void ReactorImpl::submit_zero_copy(std::uint32_t idx) {
  ConnSlot& s = slots_[idx];
  std::uint32_t zi;
  if (!zc_free_.empty()) {
    zi = zc_free_.back();
    zc_free_.pop_back();
  } else {
    zc_.push_back(std::make_unique<ZcSend>());
    zi = static_cast<std::uint32_t>(zc_.size() - 1);
  }
  ZcSend& z = *zc_[zi];
  z.in_use = true;
  const std::size_t n = s.out.fill_iovecs(z.iov, SendContext::kMaxIov);
  s.out.for_each_owner(
      n,
      [&](std::byte* slab) {
        output_.pin_slab(slab);
        z.slabs[z.nslabs++] = slab;
      },
      [&](const SharedBlock& b) { z.blocks[z.nblocks++] = b; });
  z.slot = idx;
  z.generation = slots_.generation(idx);
  io_uring_sqe* sqe;
  try {
    sqe = get_sqe();
  } catch (...) {
    release_zc(zi);
    throw;
  }
  if (n == 1) {
    io_uring_prep_send_zc(sqe, s.fd, z.iov[0].iov_base, z.iov[0].iov_len, MSG_NOSIGNAL, 0);
  } else {
    z.msg = msghdr{};
    z.msg.msg_iov = z.iov;
    z.msg.msg_iovlen = n;
    io_uring_prep_sendmsg_zc(sqe, s.fd, &z.msg, MSG_NOSIGNAL);
  }
  io_uring_sqe_set_data64(sqe, pack_user_data({OpKind::kSendZc, 0, zi}));
  s.send_inflight = true;
  bump(c_.ring_sends);
  bump(c_.zero_copy_sends);
  ++s.ops;
  ++inflight_;  // ends with the notification (or the one completion when none follows)
}

// A zero-copy send's completions: first the byte count (IORING_CQE_F_MORE when a
// notification follows), then IORING_CQE_F_NOTIF once the kernel released the buffers. The
// connection goes on after the first; only the notification unpins the memory.
void ReactorImpl::on_send_zc(const OpTag& tag, int res, unsigned flags) {
  if (tag.index >= zc_.size() || !zc_[tag.index]->in_use) {
    bump(c_.stale_completions);
    return;
  }
  ZcSend& z = *zc_[tag.index];
  if ((flags & IORING_CQE_F_NOTIF) != 0) {
    bump(c_.zero_copy_notifs);
    release_zc(tag.index);
    return;
  }
  const ConnectionId id{z.slot, z.generation};
  if ((flags & IORING_CQE_F_MORE) == 0) release_zc(tag.index);  // no notification will come
  ConnSlot* s = find(id);
  if (s == nullptr) {
    bump(c_.stale_completions);  // cannot happen while teardown waits for sends
    return;
  }
  s->send_inflight = false;
  sent(id.slot, res);
}

void ReactorImpl::release_zc(std::uint32_t zi) noexcept {
  ZcSend& z = *zc_[zi];
  for (std::uint32_t i = 0; i < z.nslabs; ++i) output_.unpin_slab(z.slabs[i]);
  for (std::uint32_t i = 0; i < z.nblocks; ++i) z.blocks[i].reset();
  z.nslabs = z.nblocks = 0;
  z.in_use = false;
  try {
    zc_free_.push_back(zi);
  } catch (...) {
    // The context stays allocated but unused; a later growth of zc_ replaces it.
  }
}

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

// ---- teardown ---------------------------------------------------------------------------

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

int Connection::fd() const noexcept {
  const ConnSlot* s = reactor_->impl_->find(id_);
  return s != nullptr ? s->fd : -1;
}

}  // namespace ringactor::runtime
