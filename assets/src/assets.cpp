#include "ringactor/assets/assets.hpp"

#include <array>
#include <cstdint>
#include <span>
#include <stdexcept>

#include "assets_core.hpp"

namespace ringactor::assets {
namespace detail {

// ---- serving ---------------------------------------------------------------------------

bool AssetsCore::serve(const http::Request& req, http::Response& res) {
  switch (normalise(req.path(), norm, options.serve_hidden)) {
    case PathVerdict::kOk:
      break;
    case PathVerdict::kClimb:
      bump(c.bad_paths);
      res.status(400).close().text("400 Bad Request\n");
      return true;
    case PathVerdict::kHidden:
    case PathVerdict::kNotPath:
      bump(c.not_found);
      return false;
  }
  const std::string_view method = req.method();
  if (method != "GET" && method != "HEAD") {
    // Only an existing file is told 405; anything else is the caller's 404.
    const std::string_view path = norm;
    const bool exists = current->entries.find(path) != current->entries.end();
    if (!exists) {
      bump(c.not_found);
      return false;
    }
    res.status(405).header("Allow", "GET, HEAD").text("405 Method Not Allowed\n");
    return true;
  }
  const auto it = current->entries.find(std::string_view(norm));
  if (it != current->entries.end()) return serve_entry(req, res, it->second);
  return serve_live(req, res, norm);
}

bool AssetsCore::serve_entry(const http::Request& req, http::Response& res, const Entry& e) {
  if (!e.redirect.empty()) {
    redirect(req, res);
    return true;
  }
  const Variant* v = &e.identity;
  Coding coding = Coding::kIdentity;
  if (e.vary) {
    if (const auto ae = req.header("Accept-Encoding")) {
      if (e.br.present() && accepts_encoding(*ae, "br")) {
        v = &e.br;
        coding = Coding::kBrotli;
      } else if (e.gzip.present() && accepts_encoding(*ae, "gzip")) {
        v = &e.gzip;
        coding = Coding::kGzip;
      }
    }
  }
  if (options.revalidate && !seen_unchanged(v)) {
    for (;;) {
      Version now;
      bump(c.revalidations);
      const int r = stat_beneath(current->root->fd, v->rel.c_str(), now);
      if (r == 0 && now == v->ver) {
        note_unchanged(v);
        break;  // unchanged: serve what the snapshot holds
      }
      if (coding != Coding::kIdentity) {
        // A changed or vanished sibling: fall back to the file itself.
        v = &e.identity;
        coding = Coding::kIdentity;
        continue;
      }
      // Edited, replaced or deleted since the snapshot: whatever is on disk now decides.
      return serve_live(req, res, norm);
    }
  }
  if (v->baked) {
    const std::uint64_t size = v->ver.size;
    if (preconditions(req, res, v->etag, v->last_modified, v->ver, coding, e.vary)) return true;
    if (const auto range = range_of(req, v->etag, v->ver)) {
      if (range->outcome == RangeOutcome::kUnsatisfiable) {
        bump(c.unsatisfiable);
        text.assign("bytes */").append(std::to_string(size));
        validators(res, v->etag, v->last_modified, coding, e.vary);
        res.status(416).header("Content-Range", text).text("416 Range Not Satisfiable\n");
        return true;
      }
      bump(c.partial);
      const ByteRange r = range->range;
      text.assign("bytes ").append(std::to_string(r.first)).append("-").append(std::to_string(r.last)).append("/").append(
          std::to_string(size));
      validators(res, v->etag, v->last_modified, coding, e.vary);
      res.status(206).header("Content-Range", text);
      res.block(e.mime, v->baked, v->head_len + static_cast<std::size_t>(r.first),
                static_cast<std::size_t>(r.last - r.first + 1));
      return true;
    }
    bump(c.served_baked);
    res.prepared(v->baked, v->head_len, 200);
    return true;
  }
  return serve_fd(req, res, v->file, v->ver, e.mime, coding, e.vary, false, v->body);
}

// A file not in the snapshot, or changed since: opened now, confined beneath the root.
bool AssetsCore::serve_live(const http::Request& req, http::Response& res, std::string_view path) {
  const int root_fd = current->root->fd;
  rel.assign(path.substr(1));
  if (rel.empty()) rel.push_back('.');
  const std::string& root_real = current->root_real;
  int fd = open_confined(root_fd, root_real, rel.c_str(), O_RDONLY | O_NONBLOCK);
  if (fd < 0) {
    bump(c.not_found);
    return false;  // ENOENT, ENOTDIR, EXDEV (would leave the root), ELOOP, EACCES: no such file
  }
  auto file = std::make_shared<FileHandle>(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    bump(c.not_found);
    return false;
  }
  if (S_ISDIR(st.st_mode)) {
    if (path.back() != '/') {
      redirect(req, res);
      return true;
    }
    rel.assign(path.substr(1)).append(options.index);
    fd = open_confined(root_fd, root_real, rel.c_str(), O_RDONLY | O_NONBLOCK);
    if (fd < 0) {
      bump(c.not_found);
      return false;
    }
    file = std::make_shared<FileHandle>(fd);
    if (::fstat(fd, &st) != 0) {
      bump(c.not_found);
      return false;
    }
  }
  if (!S_ISREG(st.st_mode)) {
    bump(c.not_found);
    return false;
  }
  return serve_fd(req, res, std::move(file), version_of(st), mime_type(rel), Coding::kIdentity, false, true);
}

// Streams a representation held in memory (`body`) or on disk (`file`), honouring the
// conditional and range headers.
bool AssetsCore::serve_fd(const http::Request& req, http::Response& res, std::shared_ptr<FileHandle> file,
                          const Version& ver, std::string_view mime, Coding coding, bool vary, bool live,
                          const runtime::SharedBlock& body) {
  const std::string etag = etag_of(ver);
  const std::string last_modified = last_modified_of(ver);
  if (preconditions(req, res, etag, last_modified, ver, coding, vary)) return true;
  std::uint64_t first = 0;
  std::uint64_t length = ver.size;
  if (const auto range = range_of(req, etag, ver)) {
    validators(res, etag, last_modified, coding, vary);
    if (range->outcome == RangeOutcome::kUnsatisfiable) {
      bump(c.unsatisfiable);
      res.status(416).header("Content-Range", "bytes */" + std::to_string(ver.size)).text("416 Range Not Satisfiable\n");
      return true;
    }
    bump(c.partial);
    first = range->range.first;
    length = range->range.last - first + 1;
    res.status(206).header("Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(range->range.last) +
                                                "/" + std::to_string(ver.size));
  } else {
    validators(res, etag, last_modified, coding, vary);
  }
  if (body) {
    bump(c.served_memory);
    res.stream(mime, length,
               [block = body, next = static_cast<std::size_t>(first), end = static_cast<std::size_t>(first + length),
                chunk = options.read_chunk](http::BodyWriter& w) mutable {
                 const std::size_t n = std::min(chunk, end - next);
                 w.write(block, next, n);  // by reference: the socket copies it once
                 next += n;
                 return next < end;
               });
    return true;
  }
  bump(c.served_disk);
  if (live) bump(c.served_live);
  if (options.splice) {
    // One splice_chunk at a time: the next is queued when the socket has taken it.
    res.stream(mime, length,
               [file = std::move(file), next = first, end = first + length,
                chunk = options.splice_chunk](http::BodyWriter& w) mutable {
                 const std::uint64_t n = std::min<std::uint64_t>(chunk, end - next);
                 w.write_file(file->fd, next, n, file);
                 next += n;
                 return next < end;
               });
    return true;
  }
  auto stream = std::make_shared<FileStream>(shared_from_this(), std::move(file), first, first + length);
  res.stream(mime, length, [stream](http::BodyWriter& w) { return stream->produce(w); });
  return true;
}

void AssetsCore::validators(http::Response& res, std::string_view etag, std::string_view last_modified, Coding coding,
                            bool vary) {
  res.header("ETag", etag).header("Last-Modified", last_modified).header("Accept-Ranges", "bytes");
  if (coding != Coding::kIdentity) res.header("Content-Encoding", coding_name(coding));
  if (vary) res.header("Vary", "Accept-Encoding");
  if (!options.cache_control.empty()) res.header("Cache-Control", options.cache_control);
}

bool AssetsCore::preconditions(const http::Request& req, http::Response& res, std::string_view etag,
                               std::string_view last_modified, const Version& ver, Coding coding, bool vary) {
  // One pass over the header lines. If-Match and If-None-Match are lists, and several lines
  // of one are one list: any line may name the representation. A date field given twice is
  // ignored, as is an unparsable one (RFC 9110 13.1.3, 13.1.4).
  bool if_match = false, matched = false, if_none_match = false, none_matched = false;
  int unmodified_lines = 0, modified_lines = 0;
  std::string_view unmodified, modified;
  for (const http::Header& h : req.headers()) {
    if (h.name.size() < 8 || (h.name[0] != 'I' && h.name[0] != 'i')) continue;  // none of ours
    if (http::iequals(h.name, "If-Match")) {
      if_match = true;
      matched = matched || match_strong(h.value, etag);
    } else if (http::iequals(h.name, "If-None-Match")) {
      if_none_match = true;
      none_matched = none_matched || none_match(h.value, etag);
    } else if (http::iequals(h.name, "If-Unmodified-Since")) {
      ++unmodified_lines;
      unmodified = h.value;
    } else if (http::iequals(h.name, "If-Modified-Since")) {
      ++modified_lines;
      modified = h.value;
    }
  }
  // If-Match decides when present; If-Unmodified-Since only without it.
  bool failed = false;
  if (if_match) {
    failed = !matched;
  } else if (unmodified_lines == 1) {
    const auto since = parse_http_date(unmodified);
    failed = since && ver.mtime_sec > *since;
  }
  if (failed) {
    bump(c.precondition_failed);
    res.status(412).text("412 Precondition Failed\n");
    return true;
  }
  // If-None-Match decides when present; If-Modified-Since only without it.
  bool hit = false;
  if (if_none_match) {
    hit = none_matched;
  } else if (modified_lines == 1) {
    const auto since = parse_http_date(modified);
    hit = since && ver.mtime_sec <= *since;
  }
  if (!hit) return false;
  bump(c.not_modified);
  validators(res, etag, last_modified, coding, vary);
  res.status(304).end();
  return true;
}

std::optional<RangeResult> AssetsCore::range_of(const http::Request& req, std::string_view etag, const Version& ver) {
  if (req.method() != "GET") return std::nullopt;
  const auto range = req.header("Range");
  if (!range) return std::nullopt;
  if (const auto if_range = req.header("If-Range")) {
    // An entity-tag must match strongly; a date must be exactly the Last-Modified.
    const bool ok = !if_range->empty() && ((*if_range)[0] == '"' || if_range->starts_with("W/"))
                        ? strong_etag_equal(*if_range, etag)
                        : parse_http_date(*if_range) == std::optional<std::int64_t>(ver.mtime_sec);
    if (!ok) return std::nullopt;
  }
  const RangeResult r = parse_range(*range, ver.size);
  if (r.outcome == RangeOutcome::kIgnore) return std::nullopt;
  return r;
}

void AssetsCore::redirect(const http::Request& req, http::Response& res) {
  bump(c.redirects);
  // From the normalised path, percent-encoded: never the raw target, whose "//host/.."
  // would make a browser follow the Location to another site.
  static constexpr char kHex[] = "0123456789ABCDEF";
  text.clear();
  for (const char ch : std::string_view(norm)) {
    const auto u = static_cast<unsigned char>(ch);
    const bool plain = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
                       ch == '/' || ch == '-' || ch == '.' || ch == '_' || ch == '~';
    if (plain) {
      text.push_back(ch);
    } else {
      text.push_back('%');
      text.push_back(kHex[u >> 4]);
      text.push_back(kHex[u & 15]);
    }
  }
  if (text.back() != '/') text.push_back('/');
  if (!req.query().empty()) text.append("?").append(req.query());
  res.status(301).header("Location", text).text("301 Moved Permanently\n");
}

void AssetsCore::install(std::shared_ptr<Snapshot> snap) {
  c.files.store(snap->files, std::memory_order_relaxed);
  c.baked_bytes.store(snap->baked_bytes, std::memory_order_relaxed);
  c.skipped.store(snap->skipped, std::memory_order_relaxed);
  current = std::move(snap);
  checked.fill({});
}

// ---- reload ----------------------------------------------------------------------------

// The asset service actor: builds snapshots on the worker arena and installs each one in
// every reactor's core. Lives on the first core's stage.
class Reloader final : public actors::Actor {
 public:
  explicit Reloader(std::vector<std::shared_ptr<AssetsCore>> cores) : cores_(std::move(cores)) {}

  void request(std::function<void(const std::string&)> done) {
    if (done) waiting_.push_back(std::move(done));
    if (building_) {
      again_ = true;  // coalesced: one more build after this one
      return;
    }
    start();
  }

  // A reactor of another core installed the new snapshot and hands back the one it held.
  void released(std::shared_ptr<Snapshot> prev) {
    if (prev != nullptr && prev != cores_.front()->current) old_.push_back(std::move(prev));
    if (--installing_ == 0) release_old();
  }

 private:
  AssetsCore& home() const noexcept { return *cores_.front(); }

  void start() {
    building_ = true;
    again_ = false;
    std::vector<std::function<void(const std::string&)>> batch;
    batch.swap(waiting_);
    home().arena->offload(
        *this, [options = home().options]() { return build_snapshot(options); },
        [this, batch = std::move(batch)](offload::Result<std::shared_ptr<Snapshot>> r) mutable {
          finish(std::move(r), batch);
        });
  }

  void finish(offload::Result<std::shared_ptr<Snapshot>> r, std::vector<std::function<void(const std::string&)>>& batch) {
    building_ = false;
    std::string error;
    if (r) {
      std::shared_ptr<Snapshot> snap = std::move(*r);
      old_.push_back(std::move(home().current));
      home().install(snap);
      bump(home().c.reloads);
      // The other reactors install it on their own threads and hand their old one back,
      // so the old snapshot is let go once, on the arena (it may be large), and only after
      // no reactor serves from it. Downloads still holding its blocks or descriptors keep
      // those alive on their own.
      installing_ = 1;
      for (std::size_t i = 1; i < cores_.size(); ++i) {
        ++installing_;
        const bool posted = cores_[i]->stage->reactor().post([core = cores_[i], snap, self = self<Reloader>()]() mutable {
          std::shared_ptr<Snapshot> prev = std::move(core->current);
          core->install(std::move(snap));
          self.tell(&Reloader::released, std::move(prev));
        });
        if (!posted) --installing_;  // that reactor has stopped: it serves nothing any more
      }
      if (--installing_ == 0) release_old();
    } else {
      error = r.message();
      bump(home().c.reload_failures);
      stage().log_error("assets: reload failed, the previous snapshot stays: " + error);
    }
    for (auto& done : batch) {
      try {
        done(error);
      } catch (const std::exception& e) {
        stage().log_error(std::string("assets: reload callback threw: ") + e.what());
      }
    }
    if (again_ || !waiting_.empty()) start();
  }

  void release_old() {
    if (old_.empty()) return;
    home().arena->offload(*this, [old = std::move(old_)]() mutable { old.clear(); }, [](offload::Result<void>) {});
    old_.clear();
  }

  std::vector<std::shared_ptr<AssetsCore>> cores_;  // [0]: this actor's reactor
  std::vector<std::shared_ptr<Snapshot>> old_;      // replaced snapshots, let go on the arena
  std::size_t installing_ = 0;                      // reactors yet to install the last build
  std::vector<std::function<void(const std::string&)>> waiting_;
  bool building_ = false;
  bool again_ = false;
};

}  // namespace detail

Assets::Assets(actors::Stage& stage, offload::WorkerArena& arena, AssetOptions options)
    : Assets(std::span<actors::Stage* const>(std::array<actors::Stage*, 1>{&stage}), arena, std::move(options)) {}

Assets::Assets(std::span<actors::Stage* const> stages, offload::WorkerArena& arena, AssetOptions options) {
  if (stages.empty()) throw std::invalid_argument("assets: no stage to serve on");
  std::size_t cap = SIZE_MAX;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (stages[i] == nullptr) throw std::invalid_argument("assets: a null stage");
    for (std::size_t j = 0; j < i; ++j) {
      if (&stages[j]->reactor() == &stages[i]->reactor()) {
        throw std::invalid_argument("assets: two stages of one reactor (one core per reactor)");
      }
    }
    cap = std::min(cap, stages[i]->reactor().options().max_output_bytes);
  }
  if (options.read_chunk == 0) options.read_chunk = std::min<std::size_t>(1u << 20, cap / 4 / 4096 * 4096);
  if (options.read_chunk < 4096 || options.read_chunk > (64u << 20)) {
    throw std::invalid_argument("assets: read_chunk must be in [4 KiB, 64 MiB]");
  }
  if (options.splice_chunk < 4096 || options.splice_chunk > (1u << 30)) {
    throw std::invalid_argument("assets: splice_chunk must be in [4 KiB, 1 GiB]");
  }
  if (options.bake_threshold > cap / 2 || options.splice_chunk > cap / 2 || options.read_chunk > cap / 4) {
    // A larger body or chunk queued at once would pass the reactor's slow-reader cap.
    throw std::invalid_argument("assets: bake_threshold and splice_chunk must be at most half, read_chunk a quarter, of "
                                "ReactorOptions::max_output_bytes (" + std::to_string(cap) + ")");
  }
  if (options.read_buffers == 0) throw std::invalid_argument("assets: read_buffers must be positive");
  if (options.read_ahead == 0 || options.read_ahead > 8) throw std::invalid_argument("assets: read_ahead must be in [1, 8]");
  if (options.index.empty() || options.index.find('/') != std::string::npos) {
    throw std::invalid_argument("assets: index must be a file name");
  }
  std::shared_ptr<detail::Snapshot> first = detail::build_snapshot(options);  // one for every reactor
  for (actors::Stage* stage : stages) {
    cores_.push_back(std::make_shared<detail::AssetsCore>(*stage, arena, options));
    cores_.back()->install(first);
    stage->reactor().add_tick_hook([core = cores_.back()] { core->wake_waiters(); });
  }
  detail::AssetsCore& home = *cores_.front();
  home.reloader = home.stage->spawn<detail::Reloader>(cores_);
  if (home.options.reload_on_sighup) {
    home.stage->reactor().on_sighup([core = cores_.front()] {
      core->reloader.tell(&detail::Reloader::request, std::function<void(const std::string&)>{});
    });
  }
}

Assets::~Assets() = default;

namespace {

// The core of the reactor that received `req`: one compare per reactor.
detail::AssetsCore& core_of(const std::vector<std::shared_ptr<detail::AssetsCore>>& cores, const http::Request& req) {
  if (cores.size() == 1) return *cores.front();
  const actors::Stage* stage = &req.stage();
  for (const auto& core : cores) {
    if (core->stage == stage) return *core;
  }
  throw std::logic_error("assets: a request on a reactor this Assets does not serve");
}

}  // namespace

bool Assets::serve(const http::Request& req, http::Response& res) { return core_of(cores_, req).serve(req, res); }

http::Handler Assets::handler() {
  return [cores = cores_](http::Request& req, http::Response& res) {
    if (!core_of(cores, req).serve(req, res)) res.status(404).text("404 Not Found\n");
  };
}

void Assets::reload(std::function<void(const std::string& error)> done) {
  cores_.front()->reloader.tell(&detail::Reloader::request, std::move(done));
}

const AssetOptions& Assets::options() const noexcept { return cores_.front()->options; }

AssetCounters Assets::counters() const noexcept {
  AssetCounters out;
  auto v = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  // Every reactor serves the same snapshot: its size is counted once.
  const detail::CounterCells& home = cores_.front()->c;
  out.files = v(home.files);
  out.baked_bytes = v(home.baked_bytes);
  out.skipped = v(home.skipped);
  for (const auto& core : cores_) {
    const detail::CounterCells& c = core->c;
    out.served_baked += v(c.served_baked);
    out.served_memory += v(c.served_memory);
    out.served_disk += v(c.served_disk);
    out.served_live += v(c.served_live);
    out.not_modified += v(c.not_modified);
    out.precondition_failed += v(c.precondition_failed);
    out.partial += v(c.partial);
    out.unsatisfiable += v(c.unsatisfiable);
    out.not_found += v(c.not_found);
    out.bad_paths += v(c.bad_paths);
    out.redirects += v(c.redirects);
    out.revalidations += v(c.revalidations);
    out.read_waits += v(c.read_waits);
    out.read_errors += v(c.read_errors);
    out.reloads += v(c.reloads);
    out.reload_failures += v(c.reload_failures);
  }
  return out;
}

}  // namespace ringactor::assets
