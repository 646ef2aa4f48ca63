// The Reactor's connection I/O: listen/accept, multishot receive over the buffer ring and
// the send path (file segments: reactor_files.cpp; teardown: reactor_teardown.cpp).
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
  s.idle_class = 0;
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
  // One segment: IORING_OP_SEND skips the kernel's copy of the msghdr and its iovec.
  if (n == 1) {
    io_uring_prep_send(sqe, s.fd, ctx->iov[0].iov_base, ctx->iov[0].iov_len, MSG_NOSIGNAL);
  } else {
    io_uring_prep_sendmsg(sqe, s.fd, &ctx->msg, MSG_NOSIGNAL);
  }
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

}  // namespace ringactor::runtime
