// Assets: static files served from a snapshot of a directory, the way a game backend ships
// its web client, textures and level data next to its API.
//
//   offload::WorkerArena arena;
//   assets::Assets files(stage, arena, {.root = "/srv/www"});
//   server.fallback(files.handler());   // anything no route claims: a file, or 404
//   // kill -HUP <pid> (with ReactorOptions::handle_signals) rebuilds the snapshot.
//
// What happens per request (on the reactor thread, inside the handler):
// - The decoded path is normalised (".", "..", "//"); a path climbing above the root is 400,
//   a hidden segment (".git") is 404 unless serve_hidden. Lookup is one hash probe keyed by
//   the request's bytes: no allocation.
// - Files up to bake_threshold were read when the snapshot was built; their whole response
//   head (status line, Content-Type, Content-Length, ETag, Last-Modified, Accept-Ranges,
//   Vary, Content-Encoding) and body sit in one immutable shared block, sent by reference
//   with Date and Server added: no copy of the file, no formatting.
// - Files up to memory_threshold (8 MiB) keep their body in memory, sent by reference in
//   read_chunk slices; the snapshot fills max_baked_bytes smallest file first.
// - Larger files (and those past the budget) keep a descriptor; their bodies are read positionally through the ring
//   (Reactor::read_file) into a bounded per-reactor pool of buffers and sent as each chunk
//   arrives, at most `read_ahead` chunks per connection ahead of the socket; or, with
//   `splice`, spliced file -> pipe -> socket from a bounded per-reactor pool of pipes.
//   Clients downloading the same file share the descriptor and never wait for each other.
// - revalidate (default on): one statx of the file per request (size, mtime, inode). A file
//   edited in place or atomically replaced since the snapshot is served live from disk with
//   its new metadata; a deleted file is 404; a file added after the snapshot is found by a
//   confined open (openat2 RESOLVE_BENEATH) and served live. Memory never serves stale
//   bytes. Live files are picked up into memory by the next reload().
// - nginx's semantics: GET and HEAD (other methods on a file: 405 with Allow), 412 for a
//   failed If-Match / If-Unmodified-Since, 304 for If-None-Match / If-Modified-Since (in RFC
//   9110 13.2.2's order), a single Range (206 with Content-Range; 416 when
//   unsatisfiable; If-Range honoured), index.html for a directory ("/dir" redirects 301 to
//   "/dir/"), precompressed "name.br" / "name.gz" siblings chosen by Accept-Encoding with
//   Vary, and a MIME map for the web's common types (semantics.hpp).
// - Path safety: nothing outside the root is ever opened. Snapshot files and live opens go
//   through openat2 with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS relative to the root's
//   descriptor, so "..", encoded dots and slashes (decoded before routing), and symlinks
//   leaving the root are refused by the kernel itself; encoded NUL bytes are 400 in the
//   HTTP server. Symlinks that stay inside the root are followed.
//
// reload(): builds a new snapshot on the worker arena (never on the IO thread) and swaps it
// in on the reactor thread. Responses in flight keep the old snapshot's blocks and
// descriptors alive, so a Content-Length always matches its body. Reloads requested while
// one runs are coalesced into one more.
//
// Several reactors (the stages of a node::Node): build one Assets for all of them. The
// process then holds one snapshot, built once per reload and shared (refcounted) by every
// reactor; each reactor keeps its own read buffers, revalidation cache and counters
// (summed by counters()). handler() serves on any of them (a shared http::Routes table),
// finding the reactor's part by the request's stage. The reactors install a new snapshot
// on their own threads; the old one is let go on the worker arena once none serves from it.
//
// Threads: construct on the setup thread (before the reactors run) or on the (first)
// reactor's thread; serve()/handler() on a reactor thread; reload() and counters() from any
// thread. The Assets object must outlive the reactors' run().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <ringactor/http/server.hpp>
#include <ringactor/runtime/metrics.hpp>

namespace ringactor::actors {
class Stage;
}
namespace ringactor::offload {
class WorkerArena;
}

namespace ringactor::assets {

namespace detail {
struct AssetsCore;
}

struct AssetOptions {
  // The directory served. Required; the constructor throws std::system_error naming it if
  // it cannot be opened as a directory.
  std::string root{};
  // Files up to this size are baked into memory with their response head.
  std::size_t bake_threshold = 256 * 1024;
  // Files above bake_threshold and up to this size are held in memory too (their body
  // only, streamed by reference in read_chunk pieces: one copy into the socket instead of
  // a read and a copy). 4 MiB files with loadgen on loopback: 6.1 GB/s at 640 us of server
  // CPU each, against 3.9 GB/s and 1,020 us through ring reads (bench/README.md). 0: only
  // baked files are held. Larger files, and files past max_baked_bytes, are read from disk.
  std::size_t memory_threshold = 8 * 1024 * 1024;
  // Total bytes in memory per snapshot (baked responses and bodies). The snapshot fills it
  // smallest file first, so a few large files never push out the many small ones; files
  // past it are served from disk like large ones.
  std::uint64_t max_baked_bytes = 512ull * 1024 * 1024;
  // Files per snapshot; past it the build stops adding (logged, counted), those files are
  // still served live on request.
  std::size_t max_files = 200'000;
  // statx the file on every request (see above). Off: the snapshot is trusted until reload.
  bool revalidate = true;
  // Served for a path ending in "/".
  std::string index = "index.html";
  // Serve files and directories whose name starts with "." (".git", ".env"). Off: 404.
  bool serve_hidden = false;
  // Choose "name.br" / "name.gz" siblings by Accept-Encoding (found when the snapshot is built).
  bool precompressed = true;
  // A Cache-Control value sent with every file (e.g. "public, max-age=3600"); empty: none.
  std::string cache_control{};
  // How large files reach the socket. Default: read positionally through the ring into
  // pooled buffers that are then sent: chunk size (0: a quarter of
  // ReactorOptions::max_output_bytes, at most 1 MiB; larger chunks keep the socket buffer
  // fuller: 1 MiB sent 4 MiB files 1.2-1.4x faster than 256 KiB, bench/README.md), buffers
  // per reactor (memory: read_chunk x read_buffers at most, 64 MiB by default, allocated
  // as needed), and chunks one connection may have read ahead of its socket. With
  // `splice`: file -> pipe -> socket in the kernel, never through user memory
  // (runtime::Connection::send_file), splice_chunk bytes queued at a time. Measured on
  // loopback with loadgen (2026-12-05) it lost both ways: 4 MiB files at 3.0 GB/s and
  // 1,330 us of server CPU each, ring reads 3.9 GB/s and 1,020 us; with wrk (2026-11-24) it
  // had used a sixth of their CPU (bench/README.md). Measure before choosing it.
  // Clients that stop reading cannot hold the buffers (or pipes) hostage: while the pool is
  // dry, a connection holding some whose output made no progress for
  // ReactorOptions::stall_shed_after (2 s) is closed (runtime counter stalled_shed).
  bool splice = false;
  std::size_t splice_chunk = 1024 * 1024;
  std::size_t read_chunk = 0;
  std::size_t read_buffers = 64;
  std::size_t read_ahead = 2;
  // Rebuild the snapshot on SIGHUP (the reactor needs ReactorOptions::handle_signals).
  bool reload_on_sighup = true;
};

struct AssetCounters {
  std::uint64_t files = 0;             // files in the current snapshot
  std::uint64_t baked_bytes = 0;       // bytes the snapshot holds in memory (baked responses, bodies)
  std::uint64_t served_baked = 0;      // full responses sent from memory
  std::uint64_t served_memory = 0;     // full or partial responses streamed from a body held in memory
  std::uint64_t served_disk = 0;       // responses streamed from a descriptor (large files)
  std::uint64_t served_live = 0;       // of those: files changed or added since the snapshot
  std::uint64_t not_modified = 0;      // 304
  std::uint64_t precondition_failed = 0;  // 412 (If-Match, If-Unmodified-Since)
  std::uint64_t partial = 0;           // 206
  std::uint64_t unsatisfiable = 0;     // 416
  std::uint64_t not_found = 0;         // no such file (the caller answered, e.g. 404)
  std::uint64_t bad_paths = 0;         // 400: climbing above the root
  std::uint64_t redirects = 0;         // 301 to the directory's "/"
  std::uint64_t revalidations = 0;     // statx calls
  std::uint64_t read_waits = 0;        // a download waited for a free read buffer
  std::uint64_t read_errors = 0;       // read failures and files that shrank mid-response (cut)
  std::uint64_t reloads = 0;           // snapshots swapped in by reload()
  std::uint64_t reload_failures = 0;   // reloads that failed (the old snapshot stays)
  std::uint64_t skipped = 0;           // files the last build could not read or had no room for
};

// The asset service's counters as metrics (hits by kind, revalidations, reloads, ...).
void write_metrics(const AssetCounters& c, runtime::MetricsWriter& w);

class Assets {
 public:
  // Builds the first snapshot now, on the calling thread. Throws std::system_error when the
  // root cannot be opened, std::invalid_argument for inconsistent options.
  Assets(actors::Stage& stage, offload::WorkerArena& arena, AssetOptions options);
  // One snapshot served by the reactors of `stages` (at most one stage per reactor; the
  // reload actor and SIGHUP live on the first). Throws as above, and std::invalid_argument
  // for no stage or two stages of one reactor.
  Assets(std::span<actors::Stage* const> stages, offload::WorkerArena& arena, AssetOptions options);
  ~Assets();
  Assets(const Assets&) = delete;
  Assets& operator=(const Assets&) = delete;

  // A reactor thread of a stage it serves. Answers `res` if the request names a file, a directory with an index,
  // or a directory without its slash (301), or is unsafe (400), or uses a method other than
  // GET/HEAD on a file (405). Returns false without answering when no file matches.
  bool serve(const http::Request& req, http::Response& res);
  // A handler for Server::fallback (or a route such as "/static/*"): serve(), else 404.
  http::Handler handler();

  // Any thread. Rebuilds the snapshot on the worker arena and swaps it in on the reactor
  // thread; returns at once. `done` (optional) runs on the reactor thread with an empty
  // string on success or the reason it failed (the old snapshot then stays).
  void reload(std::function<void(const std::string& error)> done = {});

  const AssetOptions& options() const noexcept;
  // Any thread. Summed over the reactors it serves.
  AssetCounters counters() const noexcept;
  // counters() as metrics (see http::Server::metrics). Any thread.
  void write_metrics(runtime::MetricsWriter& w) const { assets::write_metrics(counters(), w); }

 private:
  std::vector<std::shared_ptr<detail::AssetsCore>> cores_;  // one per reactor; [0] reloads
};

}  // namespace ringactor::assets
