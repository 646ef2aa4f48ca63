// OutputChain and OutputPool: a connection's queued output.
//
// A connection's output is a singly linked chain of segments. A segment either owns part of
// a pooled slab (bytes copied in by send()), references a SharedBlock (bytes shared with
// other connections, never copied), or names a range of a file (sent by splice, never
// entering user space). The reactor turns the front of the chain into an iovec
// array and sends it with one sendmsg; consume() then drops what the kernel took. An empty
// chain is three words, so an idle connection holds no output memory.
//
// OutputPool owns the slabs, the segment nodes and the send contexts (msghdr + iovecs, held
// only while a send is in flight) for one reactor, and caches a bounded number of free
// ones. Both types belong to one reactor thread.
#pragma once

#include <sys/uio.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ringactor/runtime/shared_block.hpp"

namespace ringactor::runtime {

struct OutputSegment {
  OutputSegment* next = nullptr;
  const std::byte* data = nullptr;  // first unsent byte (memory segments)
  std::uint32_t len = 0;            // unsent bytes
  int file_fd = -1;                 // a file segment: bytes [file_off, file_off + len) of this file
  std::byte* slab = nullptr;        // owning slab, or null for a block reference
  SharedBlock block;                // referenced block, or empty for a slab segment
  std::uint64_t file_off = 0;
  std::shared_ptr<const void> keep;  // keeps a file segment's descriptor open
  bool is_file() const noexcept { return file_fd >= 0; }
};

// Everything one sendmsg needs, kept stable while the kernel reads it.
struct SendContext {
  static constexpr std::size_t kMaxIov = 64;
  msghdr msg{};
  iovec iov[kMaxIov];
  SendContext* next_free = nullptr;
};

class OutputPool {
 public:
  // slab_size: bytes per slab (default 16 KiB, a common socket send chunk);
  // max_cached_slabs: free slabs kept for reuse before returning memory to the allocator.
  explicit OutputPool(std::size_t slab_size = 16 * 1024, std::size_t max_cached_slabs = 1024);
  OutputPool(const OutputPool&) = delete;
  OutputPool& operator=(const OutputPool&) = delete;
  ~OutputPool();

  std::size_t slab_size() const noexcept { return slab_size_; }

  std::byte* acquire_slab();
  // Gives a slab back. A pinned slab (a zero-copy send still being transmitted from it) is
  // recycled only when its last pin goes.
  void release_slab(std::byte* slab) noexcept;
  // Zero-copy sends pin the slabs they transmit from until the kernel's notification.
  void pin_slab(std::byte* slab) noexcept;
  void unpin_slab(std::byte* slab) noexcept;
  OutputSegment* acquire_segment();
  void release_segment(OutputSegment* s) noexcept;
  SendContext* acquire_send();
  void release_send(SendContext* c) noexcept;

  // Slabs currently handed out (not in the cache): for leak checks in tests.
  std::size_t slabs_in_use() const noexcept { return slabs_in_use_; }
  std::size_t segments_in_use() const noexcept { return segments_in_use_; }

 private:
  // Each slab is preceded by this header (kept to 16 bytes so the slab stays aligned).
  struct alignas(16) SlabHeader {
    std::uint32_t pins = 0;
    bool released = false;  // given back while pinned: recycle on the last unpin
  };
  static SlabHeader* header_of(std::byte* slab) noexcept {
    return reinterpret_cast<SlabHeader*>(slab - sizeof(SlabHeader));
  }
  void recycle_slab(std::byte* slab) noexcept;

  std::size_t slab_size_;
  std::size_t max_cached_slabs_;
  std::vector<std::byte*> free_slabs_;
  std::vector<OutputSegment*> free_segments_;
  SendContext* free_sends_ = nullptr;
  std::size_t slabs_in_use_ = 0;
  std::size_t segments_in_use_ = 0;
};

class OutputChain {
 public:
  OutputChain() noexcept = default;
  OutputChain(const OutputChain&) = delete;
  OutputChain& operator=(const OutputChain&) = delete;
  // The owner must clear() with its pool before destruction; the destructor cannot.
  ~OutputChain() = default;

  // Copies bytes to the end of the chain, filling the last slab first. Throws bad_alloc.
  void append_copy(OutputPool& pool, std::span<const std::byte> bytes);
  // Queues a reference to [offset, offset+len) of a block. No copy.
  void append_block(OutputPool& pool, SharedBlock block, std::size_t offset, std::size_t len);
  // Queues [offset, offset+len) of the file `fd`; `keep` keeps it open until sent.
  void append_file(OutputPool& pool, int fd, std::uint64_t offset, std::uint64_t len, std::shared_ptr<const void> keep);
  // The first segment, or null: the reactor splices a file segment instead of sendmsg.
  const OutputSegment* front() const noexcept { return head_; }
  // Writes iovecs for the front of the chain, up to the first file segment; returns how
  // many (0 when empty or when the front is a file segment).
  std::size_t fill_iovecs(iovec* iov, std::size_t max) const noexcept;
  // For the first `count` non-empty segments (those fill_iovecs described), reports what
  // owns their bytes: `slab(std::byte*)` for a pooled slab, `block(const SharedBlock&)` for
  // a shared block. A zero-copy send pins them with it.
  template <typename Slab, typename Block>
  void for_each_owner(std::size_t count, Slab&& slab, Block&& block) const {
    for (const OutputSegment* s = head_; s != nullptr && count > 0; s = s->next) {
      if (s->len == 0) continue;
      if (s->slab != nullptr) {
        slab(s->slab);
      } else {
        block(s->block);
      }
      --count;
    }
  }
  // Drops the first n bytes (what the kernel sent).
  void consume(OutputPool& pool, std::size_t n) noexcept;
  // Drops everything.
  void clear(OutputPool& pool) noexcept;

  std::size_t bytes() const noexcept { return bytes_; }
  // Whether any queued segment references a pooled block (SharedBlock::build_pooled).
  // Walks the chain.
  bool holds_pooled() const noexcept {
    for (const OutputSegment* s = head_; s != nullptr; s = s->next) {
      if (s->block.pooled()) return true;
    }
    return false;
  }
  bool empty() const noexcept { return head_ == nullptr; }

 private:
  void push(OutputSegment* s) noexcept;
  void pop(OutputPool& pool) noexcept;

  OutputSegment* head_ = nullptr;
  OutputSegment* tail_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace ringactor::runtime
