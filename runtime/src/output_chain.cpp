#include "ringactor/runtime/output_chain.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>

namespace ringactor::runtime {

OutputPool::OutputPool(std::size_t slab_size, std::size_t max_cached_slabs)
    : slab_size_(slab_size), max_cached_slabs_(max_cached_slabs) {
  if (slab_size_ < 64) slab_size_ = 64;
}

OutputPool::~OutputPool() {
  for (std::byte* s : free_slabs_) ::operator delete(header_of(s));
  for (OutputSegment* s : free_segments_) delete s;
  while (free_sends_ != nullptr) {
    SendContext* next = free_sends_->next_free;
    delete free_sends_;
    free_sends_ = next;
  }
}

std::byte* OutputPool::acquire_slab() {
  std::byte* s;
  if (!free_slabs_.empty()) {
    s = free_slabs_.back();
    free_slabs_.pop_back();
  } else {
    void* mem = ::operator new(sizeof(SlabHeader) + slab_size_);
    s = reinterpret_cast<std::byte*>(::new (mem) SlabHeader{} + 1);
  }
  ++slabs_in_use_;
  return s;
}

void OutputPool::release_slab(std::byte* slab) noexcept {
  SlabHeader* h = header_of(slab);
  if (h->pins != 0) {
    h->released = true;  // the kernel still transmits from it: recycled on the last unpin
    return;
  }
  recycle_slab(slab);
}

void OutputPool::pin_slab(std::byte* slab) noexcept { ++header_of(slab)->pins; }

void OutputPool::unpin_slab(std::byte* slab) noexcept {
  SlabHeader* h = header_of(slab);
  if (--h->pins == 0 && h->released) {
    h->released = false;
    recycle_slab(slab);
  }
}

void OutputPool::recycle_slab(std::byte* slab) noexcept {
  --slabs_in_use_;
  if (free_slabs_.size() < max_cached_slabs_) {
    try {
      free_slabs_.push_back(slab);
      return;
    } catch (...) {
    }
  }
  ::operator delete(header_of(slab));
}

OutputSegment* OutputPool::acquire_segment() {
  OutputSegment* s;
  if (!free_segments_.empty()) {
    s = free_segments_.back();
    free_segments_.pop_back();
  } else {
    s = new OutputSegment();
  }
  ++segments_in_use_;
  return s;
}

void OutputPool::release_segment(OutputSegment* s) noexcept {
  --segments_in_use_;
  s->block.reset();
  s->keep.reset();
  s->file_fd = -1;
  s->file_off = 0;
  s->next = nullptr;
  s->slab = nullptr;
  s->data = nullptr;
  s->len = 0;
  try {
    free_segments_.push_back(s);
  } catch (...) {
    delete s;
  }
}

SendContext* OutputPool::acquire_send() {
  if (free_sends_ != nullptr) {
    SendContext* c = free_sends_;
    free_sends_ = c->next_free;
    c->next_free = nullptr;
    return c;
  }
  return new SendContext();
}

void OutputPool::release_send(SendContext* c) noexcept {
  c->next_free = free_sends_;
  free_sends_ = c;
}

void OutputChain::push(OutputSegment* s) noexcept {
  s->next = nullptr;
  if (tail_ != nullptr) {
    tail_->next = s;
  } else {
    head_ = s;
  }
  tail_ = s;
}

void OutputChain::pop(OutputPool& pool) noexcept {
  OutputSegment* s = head_;
  head_ = s->next;
  if (head_ == nullptr) tail_ = nullptr;
  if (s->slab != nullptr) pool.release_slab(s->slab);
  pool.release_segment(s);
}

void OutputChain::append_copy(OutputPool& pool, std::span<const std::byte> bytes) {
  const std::size_t slab = pool.slab_size();
  while (!bytes.empty()) {
    if (tail_ != nullptr && tail_->slab != nullptr) {
      std::byte* end = const_cast<std::byte*>(tail_->data) + tail_->len;
      const std::size_t room = static_cast<std::size_t>(tail_->slab + slab - end);
      if (room > 0) {
        const std::size_t n = std::min(room, bytes.size());
        std::memcpy(end, bytes.data(), n);
        tail_->len += static_cast<std::uint32_t>(n);
        bytes_ += n;
        bytes = bytes.subspan(n);
        continue;
      }
    }
    OutputSegment* s = pool.acquire_segment();
    try {
      s->slab = pool.acquire_slab();
    } catch (...) {
      pool.release_segment(s);
      throw;
    }
    s->data = s->slab;
    s->len = 0;
    push(s);
  }
}

void OutputChain::append_block(OutputPool& pool, SharedBlock block, std::size_t offset, std::size_t len) {
  if (len == 0) return;
  // Segments carry 32-bit lengths; split larger references.
  const std::byte* base = block.data() + offset;
  while (len > 0) {
    const std::size_t n = std::min<std::size_t>(len, 1u << 30);
    OutputSegment* s = pool.acquire_segment();
    s->data = base;
    s->len = static_cast<std::uint32_t>(n);
    s->block = block;
    push(s);
    bytes_ += n;
    base += n;
    len -= n;
  }
}

void OutputChain::append_file(OutputPool& pool, int fd, std::uint64_t offset, std::uint64_t len,
                              std::shared_ptr<const void> keep) {
  while (len > 0) {
    const std::uint64_t n = std::min<std::uint64_t>(len, 1u << 30);
    OutputSegment* s = pool.acquire_segment();
    s->file_fd = fd;
    s->file_off = offset;
    s->len = static_cast<std::uint32_t>(n);
    s->keep = keep;
    push(s);
    bytes_ += n;
    offset += n;
    len -= n;
  }
}

std::size_t OutputChain::fill_iovecs(iovec* iov, std::size_t max) const noexcept {
  std::size_t n = 0;
  for (const OutputSegment* s = head_; s != nullptr && n < max; s = s->next) {
    if (s->is_file()) break;
    if (s->len == 0) continue;
    iov[n].iov_base = const_cast<std::byte*>(s->data);
    iov[n].iov_len = s->len;
    ++n;
  }
  return n;
}

void OutputChain::consume(OutputPool& pool, std::size_t n) noexcept {
  bytes_ -= std::min(n, bytes_);
  while (head_ != nullptr) {
    if (n < head_->len) {
      if (head_->is_file()) {
        head_->file_off += n;
      } else {
        head_->data += n;
      }
      head_->len -= static_cast<std::uint32_t>(n);
      return;
    }
    n -= head_->len;
    // A fully sent slab segment that is also the tail could be refilled, but resetting it
    // keeps the invariant simple: a consumed segment always goes back to the pool.
    pop(pool);
  }
}

void OutputChain::clear(OutputPool& pool) noexcept {
  while (head_ != nullptr) pop(pool);
  bytes_ = 0;
}

}  // namespace ringactor::runtime
