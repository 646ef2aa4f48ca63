// The asset core's file-system helpers (path normalisation, statx beneath the root) and its
// pool of read buffers.
#include "assets_core.hpp"

namespace ringactor::assets::detail {

PathVerdict normalise(std::string_view in, std::string& out, bool serve_hidden) {
  if (in.empty() || in[0] != '/') return PathVerdict::kNotPath;
  out.assign(1, '/');
  std::size_t i = 1;
  while (i < in.size()) {
    const std::size_t end = std::min(in.find('/', i), in.size());
    const std::string_view seg = in.substr(i, end - i);
    i = end + 1;
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (out.size() == 1) return PathVerdict::kClimb;
      out.resize(std::max<std::size_t>(out.rfind('/'), 1));
      continue;
    }
    for (const char ch : seg) {
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) return PathVerdict::kClimb;
    }
    if (seg[0] == '.' && !serve_hidden) return PathVerdict::kHidden;
    if (out.size() > 1) out.push_back('/');
    out.append(seg);
  }
  // "/a/", "/a/." and "/a/b/.." name a directory: keep the slash that says so.
  const bool dir = in.back() == '/' || in.ends_with("/.") || in.ends_with("/..");
  if (dir && out.size() > 1) out.push_back('/');
  return PathVerdict::kOk;
}

int stat_beneath(int root_fd, const char* rel, Version& v) noexcept {
  struct statx sx {};
  if (::statx(root_fd, rel, AT_STATX_SYNC_AS_STAT | AT_NO_AUTOMOUNT, STATX_TYPE | STATX_INO | STATX_SIZE | STATX_MTIME,
              &sx) != 0) {
    return -errno;
  }
  if (!S_ISREG(sx.stx_mode)) return -EISDIR;
  v.dev = static_cast<std::uint64_t>(makedev(sx.stx_dev_major, sx.stx_dev_minor));  // as stat's st_dev
  v.ino = sx.stx_ino;
  v.size = sx.stx_size;
  v.mtime_sec = sx.stx_mtime.tv_sec;
  v.mtime_nsec = sx.stx_mtime.tv_nsec;
  return 0;
}

ReadBuffer* AssetsCore::acquire_buffer() {
  for (ReadBuffer& b : buffers) {
    if (b.block.use_count() == 1) return &b;
  }
  if (buffers.size() >= options.read_buffers) return nullptr;
  ReadBuffer b;
  b.block = runtime::SharedBlock::build_pooled(options.read_chunk, [&](std::span<std::byte> out) { b.data = out.data(); });
  buffers.push_back(std::move(b));
  return &buffers.back();
}

// Tick hook: a download that found every buffer busy is woken once one is free again.
void AssetsCore::wake_waiters() {
  if (waiters.empty()) return;
  // Downloads that ended while they waited (their connection closed) are no pressure.
  std::erase_if(waiters, [](const std::weak_ptr<FileStream>& w) { return w.expired(); });
  if (waiters.empty()) return;
  const bool any_free = buffers.size() < options.read_buffers ||
                        std::any_of(buffers.begin(), buffers.end(), [](const ReadBuffer& b) { return b.block.use_count() == 1; });
  if (!any_free) {
    stage->reactor().shed_stalled();  // holders may have stalled since the last look (rate-limited)
    return;
  }
  std::vector<std::weak_ptr<FileStream>> woken;
  woken.swap(waiters);
  for (auto& w : woken) {
    if (auto s = w.lock()) s->wake();
  }
}

}  // namespace ringactor::assets::detail
