// Internals of the asset service shared by its sources (not installed): the per-reactor
// core, its counters and read buffers, and a large file's download stream.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include <ringactor/actors/actor.hpp>
#include <ringactor/actors/ref.hpp>
#include <ringactor/actors/stage.hpp>
#include <ringactor/offload/worker_arena.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "ringactor/assets/semantics.hpp"
#include "snapshot.hpp"

namespace ringactor::assets::detail {

// Counters: written on the reactor thread with a plain load and store, read anywhere.
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

enum class PathVerdict : std::uint8_t { kOk, kClimb, kHidden, kNotPath };

// Normalises a decoded URL path into `out`: empty and "." segments dropped, ".." applied,
// a trailing "/" kept. Climbing above the root, or a control byte, is refused; so is a
// segment starting with "." unless hidden files are served.
PathVerdict normalise(std::string_view in, std::string& out, bool serve_hidden);
// statx of `rel` beneath the root descriptor: 0 and its version, or -errno (-EISDIR for
// anything but a regular file).
int stat_beneath(int root_fd, const char* rel, Version& v) noexcept;

// A read buffer of the per-reactor pool: a shared block the pool writes into only while
// it holds the sole reference (every send that referenced it has released it).
struct ReadBuffer {
  runtime::SharedBlock block;
  std::byte* data = nullptr;
};

struct FileStream;

struct CounterCells {
  std::atomic<std::uint64_t> files{0}, baked_bytes{0}, served_baked{0}, served_disk{0}, served_live{0},
      not_modified{0}, precondition_failed{0}, partial{0}, served_memory{0}, unsatisfiable{0}, not_found{0}, bad_paths{0}, redirects{0}, revalidations{0},
      read_waits{0}, read_errors{0}, reloads{0}, reload_failures{0}, skipped{0};
};

class Reloader;

struct AssetsCore : std::enable_shared_from_this<AssetsCore> {
  AssetsCore(actors::Stage& s, offload::WorkerArena& a, AssetOptions o)
      : stage(&s), arena(&a), options(std::move(o)) {
    norm.reserve(1024);
    rel.reserve(1024);
    text.reserve(256);
  }

  bool serve(const http::Request& req, http::Response& res);
  bool serve_entry(const http::Request& req, http::Response& res, const Entry& e);
  bool serve_live(const http::Request& req, http::Response& res, std::string_view path);
  bool serve_fd(const http::Request& req, http::Response& res, std::shared_ptr<FileHandle> file, const Version& ver,
                std::string_view mime, Coding coding, bool vary, bool live, const runtime::SharedBlock& body = {});
  // Headers every answer about a representation carries (not the baked full answer).
  void validators(http::Response& res, std::string_view etag, std::string_view last_modified, Coding coding,
                  bool vary);
  // RFC 9110 13.2.2, in its order: If-Match, else If-Unmodified-Since (412 when they fail),
  // then If-None-Match, else If-Modified-Since (304). Answers 412 or 304 itself (true), or
  // leaves the response alone (false) and the caller goes on to Range.
  bool preconditions(const http::Request& req, http::Response& res, std::string_view etag,
                     std::string_view last_modified, const Version& ver, Coding coding, bool vary);
  // Range evaluation: nullopt for the whole representation.
  std::optional<RangeResult> range_of(const http::Request& req, std::string_view etag, const Version& ver);
  void redirect(const http::Request& req, http::Response& res);
  void install(std::shared_ptr<Snapshot> snap);

  ReadBuffer* acquire_buffer();
  void wake_waiters();
  // True when `v` was revalidated unchanged earlier in this loop iteration.
  bool seen_unchanged(const Variant* v) const noexcept {
    const Checked& k = checked[slot_of(v)];
    return k.variant == v && k.iteration == stage->reactor().iteration();
  }
  void note_unchanged(const Variant* v) noexcept { checked[slot_of(v)] = {v, stage->reactor().iteration()}; }
  static std::size_t slot_of(const Variant* v) noexcept {
    return (reinterpret_cast<std::uintptr_t>(v) / sizeof(Variant)) % kChecked;
  }

  actors::Stage* stage;
  offload::WorkerArena* arena;
  AssetOptions options;
  std::shared_ptr<Snapshot> current;  // reactor thread (after construction)
  actors::Ref<Reloader> reloader;
  std::string norm;  // scratch: the normalised path
  std::string rel;   // scratch: a relative path for a live open
  std::string text;  // scratch: header values
  std::vector<ReadBuffer> buffers;
  std::vector<std::weak_ptr<FileStream>> waiters;  // downloads waiting for a free buffer
  // Revalidation is coalesced per loop iteration: the requests one iteration handles
  // arrived together and see one file state (one statx per file); the next iteration looks
  // again, so a change is still seen at once. Direct-mapped by the variant's address: a
  // collision costs one more statx, never a stale answer. Cleared when a snapshot is
  // installed (a new variant may reuse an old one's address).
  struct Checked {
    const Variant* variant = nullptr;
    std::uint64_t iteration = 0;
  };
  static constexpr std::size_t kChecked = 256;
  std::array<Checked, kChecked> checked{};
  CounterCells c;
};

// ---- large files: reads through the ring, sent as they arrive ---------------------------

// One download's body: reads chunks of [next, end) through the ring, at most read_ahead
// chunks ahead of the socket, one read in flight (so chunks arrive in order).
struct FileStream : std::enable_shared_from_this<FileStream> {
  struct Chunk {
    runtime::SharedBlock block;
    std::size_t len = 0;
  };

  FileStream(std::shared_ptr<AssetsCore> c, std::shared_ptr<FileHandle> f, std::uint64_t first, std::uint64_t last_excl)
      : core(std::move(c)), file(std::move(f)), next(first), end(last_excl) {}

  bool produce(http::BodyWriter& w) {
    if (!error.empty()) throw std::runtime_error(error);
    bool wrote = false;
    while (count != 0 && w.room() > 0) {
      Chunk& ch = ready[head];
      w.write(std::move(ch.block), 0, ch.len);
      ch = Chunk{};
      head = (head + 1) % ready.size();
      --count;
      wrote = true;
    }
    if (count == 0 && !reading && next >= end) return false;
    start_read();
    if (wrote || (count != 0 && w.room() == 0)) return true;  // asked again as the socket drains
    if (count != 0) return true;
    resume = w.suspend();  // woken by the read's completion or a freed buffer
    waiting = true;
    return true;
  }

  void start_read() {
    const AssetOptions& o = core->options;
    if (reading || next >= end || count + 1 > o.read_ahead) return;
    ReadBuffer* b = core->acquire_buffer();
    if (b == nullptr) {
      bump(core->c.read_waits);
      core->waiters.push_back(weak_from_this());
      // Buffers held by clients that stopped reading go back to the pool.
      core->stage->reactor().shed_stalled();
      return;
    }
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(o.read_chunk, end - next));
    reading = true;
    core->stage->reactor().read_file(file->fd, std::span<std::byte>(b->data, n), next,
                                     [self = shared_from_this(), block = b->block, n](int res) mutable {
                                       self->on_read(std::move(block), n, res);
                                     });
  }

  void on_read(runtime::SharedBlock block, std::size_t asked, int res) {
    reading = false;
    if (res < 0) {
      error = std::string("reading a file failed: ") + std::strerror(-res);
    } else if (res == 0) {
      error = "the file shrank while it was being sent";
    } else {
      const std::size_t got = std::min(static_cast<std::size_t>(res), asked);
      ready[(head + count) % ready.size()] = Chunk{std::move(block), got};
      ++count;
      next += got;
    }
    if (!error.empty()) bump(core->c.read_errors);
    wake();
  }

  void wake() {
    if (!waiting) return;
    waiting = false;
    resume.resume();
  }

  std::shared_ptr<AssetsCore> core;
  std::shared_ptr<FileHandle> file;
  std::uint64_t next;
  std::uint64_t end;
  std::array<Chunk, 8> ready{};  // a ring of read chunks not yet written
  std::size_t head = 0;
  std::size_t count = 0;
  bool reading = false;
  bool waiting = false;
  http::StreamResume resume;
  std::string error;
};

}  // namespace ringactor::assets::detail
