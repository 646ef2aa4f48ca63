// The loadgen worker loop and connection management (see worker.hpp).
#include "worker.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>

namespace loadgen {
namespace {

constexpr std::int64_t kMs = 1000000;
constexpr std::int64_t kTick = 50 * kMs;

std::int64_t clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string errno_text(int e) { return std::strerror(e); }

}  // namespace

Worker::Worker(const Options& o, const RequestSet* rs, RunControl& rc, Published& pub, unsigned index,
               unsigned conns, std::uint64_t budget, WorkerResult& out)
    : o_(o),
      rs_(rs),
      rc_(rc),
      pub_(pub),
      out_(out),
      conns_(conns),
      index_(index),
      threads_(o.threads),
      budget_(budget),
      rng_(0x9e3779b97f4a7c15ull ^ (static_cast<std::uint64_t>(clock_ns()) * (index + 1))),
      timeout_ns_(static_cast<std::int64_t>(o.timeout_s * 1e9)) {}

Worker::~Worker() {
  ring_.reset();  // cancels every operation before the sockets and buffers go
  for (Conn& cn : conns_)
    if (cn.fd >= 0) ::close(cn.fd);
}

void Worker::run() {
  try {
    const unsigned n = static_cast<unsigned>(conns_.size());
    Ring::Options ro;
    ro.buf_size = o_.buf_size;
    ro.buf_count = o_.buf_count != 0 ? o_.buf_count : std::clamp(std::bit_ceil(2 * n), 256u, 32768u);
    ro.sq_entries = std::clamp(std::bit_ceil(2 * n), 256u, 4096u);
    ro.cq_entries = std::clamp(std::bit_ceil(8 * n), 4096u, 65536u);
    ring_ = std::make_unique<Ring>(ro);
    out_.ring_setup = ring_->setup();
    proto_ = o_.mode == Mode::Http    ? make_http_load(*this, o_, *rs_, budget_)
             : o_.mode == Mode::Arena ? make_arena_load(*this, o_)
                                      : make_ws_load(*this, o_, budget_);
  } catch (const std::exception& e) {
    out_.fatal = e.what();
    pub_.done.store(true, std::memory_order_release);
    rc_.prepared.fetch_add(1, std::memory_order_release);
    return;
  }
  loop();
  if (out_.end_ns == 0) out_.end_ns = now_;
  pub_.answers.store(out_.counters.answers, std::memory_order_relaxed);
  pub_.errors.store(out_.counters.error_total(), std::memory_order_relaxed);
  pub_.done.store(true, std::memory_order_release);
}

void Worker::loop() {
  now_ = clock_ns();
  last_progress_ = now_;
  next_tick_ = now_ + kTick;
  deadline_ = now_ + static_cast<std::int64_t>(o_.max_time_s * 1e9);
  for (std::uint32_t c = 0; c < conns_.size(); ++c) connect(c);
  io_uring* ring = ring_->raw();
  for (;;) {
    const std::int64_t t = clock_ns();
    proto_->flush(t);
    std::int64_t wake = std::min(next_tick_, deadline_);
    if (started_ && drain_from_ == 0) {
      if (end_ns_ != 0) wake = std::min(wake, end_ns_);
      wake = std::min(wake, proto_->next_wake());
    }
    // Sends that post a completion usually do so inside this very enter; waiting for one
    // more than those means waiting for real input instead of returning at once.
    const unsigned wait_nr = ring_->take_flushed() ? 1 : 1 + cqe_sends_;
    cqe_sends_ = 0;
    ring_->submit_and_wait(wait_nr, wake - t);
    now_ = clock_ns();
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(ring, head, cqe) {
      handle(cqe);
      ++seen;
    }
    io_uring_cq_advance(ring, seen);
    ring_->publish_buffers();
    if (now_ >= next_tick_) tick();
    if (should_stop()) break;
  }
}

bool Worker::should_stop() {
  if (rc_.stop.load(std::memory_order_relaxed)) return true;
  if (!started_) {
    const std::int64_t go = rc_.go_ns.load(std::memory_order_acquire);
    if (go < 0) return true;
    if (go > 0) {
      started_ = true;
      start_ns_ = go;
      end_ns_ = o_.count != 0 ? 0 : go + static_cast<std::int64_t>(o_.duration_s * 1e9);
      deadline_ = go + static_cast<std::int64_t>(o_.max_time_s * 1e9);
      last_progress_ = now_;
      proto_->start(now_);
    } else if (now_ >= deadline_) {
      return true;
    }
    return false;
  }
  if (now_ >= deadline_) {
    out_.max_time = true;
    return true;
  }
  if (drain_from_ == 0 && ((end_ns_ != 0 && now_ >= end_ns_) || proto_->finished())) {
    out_.end_ns = now_;
    if (!proto_->needs_drain()) return true;
    drain_from_ = now_;
  }
  if (drain_from_ != 0) return now_ - last_progress_ > 200 * kMs || now_ - drain_from_ > 2000 * kMs;
  if (now_ - last_progress_ > timeout_ns_ && (open_ == 0 || any_waiting_)) {
    out_.stalled = true;
    return true;
  }
  return false;
}

void Worker::tick() {
  next_tick_ = now_ + kTick;
  bool waiting = false;
  for (std::uint32_t c = 0; c < conns_.size(); ++c) {
    Conn& cn = conns_[c];
    switch (cn.state) {
      case State::Idle:
        if (now_ >= cn.retry_at && drain_from_ == 0) connect(c);
        break;
      case State::Connecting:
        if (now_ - cn.since > timeout_ns_) fail(c, ErrorKind::Timeout, "connect timed out");
        break;
      case State::Open:
        if (proto_->waiting(c)) {
          waiting = true;
          if (now_ - cn.since > timeout_ns_) fail(c, ErrorKind::Timeout, "no answer within --timeout");
        }
        break;
    }
  }
  any_waiting_ = waiting;
  pub_.answers.store(out_.counters.answers, std::memory_order_relaxed);
  pub_.errors.store(out_.counters.error_total(), std::memory_order_relaxed);
}

void Worker::connect(std::uint32_t c) {
  Conn& cn = conns_[c];
  const int fd = ::socket(o_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error(ErrorKind::Connect, "socket: " + errno_text(errno));
    settle(c);
    cn.failures = static_cast<std::uint8_t>(std::min(cn.failures + 1, 10));
    cn.retry_at = now_ + 100 * kMs * cn.failures;
    return;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  cn.fd = fd;
  cn.state = State::Connecting;
  cn.since = now_;
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_connect(s, fd, reinterpret_cast<const sockaddr*>(&o_.addr), o_.addr_len);
  io_uring_sqe_set_data64(s, pack_tag(OpKind::Connect, c, cn.gen));
}

void Worker::arm_recv(std::uint32_t c) {
  Conn& cn = conns_[c];
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_recv_multishot(s, cn.fd, nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = Ring::kGroup;
  io_uring_sqe_set_data64(s, pack_tag(OpKind::Recv, c, cn.gen));
  cn.recv_armed = true;
}

void Worker::send(std::uint32_t c, const char* p, std::uint32_t n, bool want_cqe) {
  Conn& cn = conns_[c];
  cn.send_p = p;
  cn.send_n = n;
  cn.send_cqe = want_cqe;
  cn.sending = want_cqe;
  cn.since = now_;
  out_.counters.bytes_out += n;
  io_uring_sqe* s = ring_->sqe();
  // MSG_WAITALL: the kernel retries a short send on a stream socket until all is sent.
  io_uring_prep_send(s, cn.fd, p, n, MSG_NOSIGNAL | MSG_WAITALL);
  io_uring_sqe_set_data64(s, pack_tag(OpKind::Send, c, cn.gen));
  if (want_cqe)
    ++cqe_sends_;
  else
    s->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

void Worker::error(ErrorKind k, const std::string& detail) {
  ++out_.counters.errors[static_cast<std::size_t>(k)];
  if (out_.first_error.empty())
    out_.first_error = std::string(kErrorNames[static_cast<std::size_t>(k)]) + ": " + detail;
}

void Worker::fail(std::uint32_t c, ErrorKind k, const std::string& detail) {
  error(k, detail);
  close(c, false);
}

void Worker::established(std::uint32_t c) {
  pub_.established.fetch_add(1, std::memory_order_relaxed);
  settle(c);
}

void Worker::settle(std::uint32_t c) {
  Conn& cn = conns_[c];
  if (cn.settled) return;
  cn.settled = true;
  if (++settled_ == conns_.size() && !prepared_) {
    prepared_ = true;
    rc_.prepared.fetch_add(1, std::memory_order_release);
  }
}

void Worker::close(std::uint32_t c, bool clean) {
  Conn& cn = conns_[c];
  if (cn.fd >= 0) {
    // Completes the multishot receive (and a pending connect or send) with their ghosts.
    ::shutdown(cn.fd, SHUT_RDWR);
    ::close(cn.fd);
  }
  const bool was_open = cn.state == State::Open;
  cn.fd = -1;
  ++cn.gen;
  cn.state = State::Idle;
  cn.recv_armed = cn.sending = false;
  if (was_open) {
    --open_;
    proto_->on_closed(c);
  }
  if (clean) {
    cn.failures = 0;
    cn.retry_at = now_;
    if (drain_from_ == 0) connect(c);
  } else {
    settle(c);
    cn.failures = static_cast<std::uint8_t>(std::min(cn.failures + 1, 10));
    cn.retry_at = now_ + 100 * kMs * cn.failures;
  }
}

void Worker::handle(const io_uring_cqe* cqe) {
  const Tag t = unpack_tag(cqe->user_data);
  const bool live = t.kind != OpKind::Ignore && t.conn < conns_.size() && conns_[t.conn].gen == t.gen;
  if (t.kind == OpKind::Recv) {
    if (live) return on_recv(t.conn, cqe);
    if (cqe->flags & IORING_CQE_F_BUFFER)
      ring_->recycle(static_cast<std::uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
    return;
  }
  if (!live) return;
  Conn& cn = conns_[t.conn];
  const int res = cqe->res;
  if (t.kind == OpKind::Connect) {
    if (res == 0) {
      cn.state = State::Open;
      cn.failures = 0;
      cn.since = now_;
      last_progress_ = now_;
      ++open_;
      ++out_.counters.connects;
      arm_recv(t.conn);
      proto_->on_connected(t.conn);
    } else {
      fail(t.conn, res == -ECONNREFUSED ? ErrorKind::ConnectRefused : ErrorKind::Connect,
           "connect to " + o_.host_header + ": " + errno_text(-res));
    }
    return;
  }
  // A send. Without a requested completion, any completion means it failed or was cut short.
  const ErrorKind k = (res == -EPIPE || res == -ECONNRESET) ? ErrorKind::Reset : ErrorKind::Write;
  if (res < 0) return fail(t.conn, k, "send: " + errno_text(-res));
  if (!cn.send_cqe) return fail(t.conn, ErrorKind::Write, "send cut short");
  if (static_cast<std::uint32_t>(res) < cn.send_n) {
    cn.send_p += res;
    cn.send_n -= static_cast<std::uint32_t>(res);
    io_uring_sqe* s = ring_->sqe();
    io_uring_prep_send(s, cn.fd, cn.send_p, cn.send_n, MSG_NOSIGNAL | MSG_WAITALL);
    io_uring_sqe_set_data64(s, pack_tag(OpKind::Send, t.conn, cn.gen));
    ++cqe_sends_;
    return;
  }
  cn.sending = false;
  proto_->on_sent(t.conn);
}

void Worker::on_recv(std::uint32_t c, const io_uring_cqe* cqe) {
  Conn& cn = conns_[c];
  if (!(cqe->flags & IORING_CQE_F_MORE)) cn.recv_armed = false;
  const bool has_buf = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
  const auto bid = static_cast<std::uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
  const int res = cqe->res;
  if (res > 0) {
    out_.counters.bytes_in += static_cast<std::uint64_t>(res);
    cn.since = now_;
    last_progress_ = now_;
    const Verdict v = proto_->on_data(c, ring_->buffer(bid), static_cast<std::size_t>(res));
    ring_->recycle(bid);
    if (v != Verdict::Keep) return close(c, v == Verdict::CloseClean);
    if (!cn.recv_armed) arm_recv(c);
    return;
  }
  if (has_buf) ring_->recycle(bid);
  if (res == 0) return close(c, proto_->on_eof(c) == Verdict::CloseClean);
  if (res == -ENOBUFS) {
    ++out_.counters.enobufs;
    if (!cn.recv_armed) arm_recv(c);
    return;
  }
  fail(c, res == -ECONNRESET ? ErrorKind::Reset : ErrorKind::Read, "receive: " + errno_text(-res));
}

}  // namespace loadgen
