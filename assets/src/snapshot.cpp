#include "snapshot.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>
#include <system_error>
#include <utility>

#include "ringactor/assets/semantics.hpp"

namespace ringactor::assets::detail {

FileHandle::~FileHandle() {
  if (fd >= 0) ::close(fd);
}

Version version_of(const struct stat& st) noexcept {
  return Version{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                 static_cast<std::uint64_t>(st.st_size), static_cast<std::int64_t>(st.st_mtim.tv_sec),
                 static_cast<std::uint32_t>(st.st_mtim.tv_nsec)};
}

std::string_view coding_name(Coding c) noexcept {
  switch (c) {
    case Coding::kGzip:
      return "gzip";
    case Coding::kBrotli:
      return "br";
    case Coding::kIdentity:
      break;
  }
  return {};
}

int open_beneath(int root_fd, const char* rel, int flags) noexcept {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    const long fd = ::syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != EINTR && errno != EAGAIN) return -errno;  // EAGAIN: a rename raced the walk
  }
}

int open_confined(int root_fd, const std::string& root_real, const char* rel, int flags) noexcept {
  const int fd = open_beneath(root_fd, rel, flags);
  if (fd != -EXDEV || root_real.empty()) return fd;
  const int any = ::openat(root_fd, rel, flags | O_CLOEXEC);
  if (any < 0) return -errno;
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", any);
  char real[PATH_MAX + 1];
  const ssize_t n = ::readlink(link, real, PATH_MAX);
  const std::string_view where(real, n > 0 ? static_cast<std::size_t>(n) : 0);
  const bool inside = n > 0 && (where == root_real || (where.size() > root_real.size() && where.starts_with(root_real) &&
                                                         (root_real == "/" || where[root_real.size()] == '/')));
  if (!inside) {
    ::close(any);
    return -EXDEV;
  }
  return any;
}

std::shared_ptr<FileHandle> open_root(const std::string& root) {
  if (root.empty()) throw std::invalid_argument("assets: AssetOptions::root is empty");
  const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "assets: cannot open the root directory '" + root + "'");
  return std::make_shared<FileHandle>(fd);
}

std::string etag_of(const Version& v) {
  char buf[80];
  const int n = std::snprintf(buf, sizeof buf, "\"%llx-%llx%08x-%llx\"", static_cast<unsigned long long>(v.ino),
                              static_cast<unsigned long long>(v.mtime_sec), v.mtime_nsec,
                              static_cast<unsigned long long>(v.size));
  return std::string(buf, static_cast<std::size_t>(n));
}

std::string last_modified_of(const Version& v) { return http_date(v.mtime_sec); }

namespace {

struct Found {
  std::string rel;
  int fd = -1;
  struct stat st {};
};

bool hidden(std::string_view name) noexcept { return !name.empty() && name[0] == '.'; }

// Reads a whole (small) file with pread; false if it changed size while being read.
bool read_whole(int fd, std::uint64_t size, std::string& out) {
  out.resize(static_cast<std::size_t>(size));
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  char extra;
  return ::pread(fd, &extra, 1, static_cast<off_t>(size)) == 0;  // not grown meanwhile
}

void append_header(std::string& head, std::string_view name, std::string_view value) {
  head.append(name).append(": ").append(value).append("\r\n");
}

// The baked response: head lines (no empty line) then the body.
void bake(Variant& v, std::string_view mime, Coding coding, bool vary, const std::string& cache_control,
          const std::string& body) {
  std::string head = "HTTP/1.1 200 OK\r\n";
  append_header(head, "Content-Type", mime);
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, body.size());
  append_header(head, "Content-Length", std::string_view(digits, static_cast<std::size_t>(end - digits)));
  append_header(head, "ETag", v.etag);
  append_header(head, "Last-Modified", v.last_modified);
  append_header(head, "Accept-Ranges", "bytes");
  if (coding != Coding::kIdentity) append_header(head, "Content-Encoding", coding_name(coding));
  if (vary) append_header(head, "Vary", "Accept-Encoding");
  if (!cache_control.empty()) append_header(head, "Cache-Control", cache_control);
  v.head_len = head.size();
  v.baked = runtime::SharedBlock::build(head.size() + body.size(), [&](std::span<std::byte> out) {
    std::memcpy(out.data(), head.data(), head.size());
    if (!body.empty()) std::memcpy(out.data() + head.size(), body.data(), body.size());
  });
}

class Builder {
 public:
  explicit Builder(const AssetOptions& o) : o_(o), snap_(std::make_shared<Snapshot>()) {
    snap_->root = open_root(o.root);
    char real[PATH_MAX + 1];
    if (::realpath(o.root.c_str(), real) != nullptr) snap_->root_real = real;
  }

  std::shared_ptr<Snapshot> run() {
    walk();
    // Smallest first: the memory budget (max_baked_bytes) goes to the many small files a
    // page loads before a few large ones; ties by path, so a build is reproducible.
    std::vector<Found*> order;
    order.reserve(files_.size());
    for (auto& [rel, f] : files_) order.push_back(&f);
    std::sort(order.begin(), order.end(), [](const Found* a, const Found* b) {
      return a->st.st_size != b->st.st_size ? a->st.st_size < b->st.st_size : a->rel < b->rel;
    });
    for (Found* f : order) add_file(*f);
    add_directories();
    for (auto& [rel, f] : files_) {
      if (f.fd >= 0) ::close(f.fd);
      f.fd = -1;
    }
    return std::move(snap_);
  }

  ~Builder() {
    for (auto& [rel, f] : files_) {
      if (f.fd >= 0) ::close(f.fd);
    }
  }

 private:
  void walk() {
    std::vector<std::pair<std::string, int>> dirs{{std::string(), 0}};  // (rel, depth)
    std::set<std::pair<dev_t, ino_t>> seen;
    while (!dirs.empty()) {
      auto [rel, depth] = std::move(dirs.back());
      dirs.pop_back();
      const int dfd = open_confined(snap_->root->fd, snap_->root_real, rel.empty() ? "." : rel.c_str(), O_RDONLY | O_DIRECTORY);
      if (dfd < 0) {
        ++snap_->skipped;
        continue;
      }
      struct stat dst {};
      if (::fstat(dfd, &dst) != 0 || !seen.emplace(dst.st_dev, dst.st_ino).second || depth > 64) {
        ::close(dfd);  // a symlink loop, or absurdly deep
        continue;
      }
      DIR* d = ::fdopendir(dfd);
      if (d == nullptr) {
        ::close(dfd);
        ++snap_->skipped;
        continue;
      }
      dir_rels_.push_back(rel);
      while (dirent* e = ::readdir(d)) {
        const std::string_view name = e->d_name;
        if (name == "." || name == "..") continue;
        if (hidden(name) && !o_.serve_hidden) continue;
        std::string child = rel.empty() ? std::string(name) : rel + "/" + std::string(name);
        if (e->d_type == DT_DIR) {
          dirs.emplace_back(std::move(child), depth + 1);
          continue;
        }
        if (e->d_type != DT_REG && e->d_type != DT_LNK && e->d_type != DT_UNKNOWN) continue;
        if (files_.size() >= o_.max_files) {
          ++snap_->skipped;
          continue;
        }
        // Symlinks are resolved by the kernel, confined to the root.
        const int fd = open_confined(snap_->root->fd, snap_->root_real, child.c_str(), O_RDONLY | O_NONBLOCK);
        if (fd < 0) {
          if (fd != -ENOENT) ++snap_->skipped;  // EXDEV: leaves the root; EACCES, ELOOP, ...
          continue;
        }
        Found f;
        f.rel = child;
        const int st = ::fstat(fd, &f.st);
        ::close(fd);  // opened again when it is read: a large tree never holds them all open
        if (st != 0) {
          ++snap_->skipped;
          continue;
        }
        if (S_ISDIR(f.st.st_mode)) {  // a symlink to a directory inside the root
          dirs.emplace_back(std::move(child), depth + 1);
          continue;
        }
        if (!S_ISREG(f.st.st_mode)) continue;
        files_.emplace(f.rel, std::move(f));
      }
      ::closedir(d);
    }
  }

  // Fills a variant from an open file: baked when small and within budget, else its
  // descriptor is kept (ownership moves out of `f`).
  bool fill(Variant& v, Found& f, std::string_view mime, Coding coding, bool vary) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      v.rel = f.rel;
      v.ver = version_of(f.st);
      v.etag = etag_of(v.ver);
      v.last_modified = last_modified_of(v.ver);
      const std::uint64_t size = v.ver.size;
      const bool fits = snap_->baked_bytes + size <= o_.max_baked_bytes;
      if (!fits || size > std::max<std::uint64_t>(o_.bake_threshold, o_.memory_threshold)) {
        v.file = std::make_shared<FileHandle>(f.fd);
        f.fd = -1;
        return true;
      }
      std::string body;
      struct stat after {};
      if (read_whole(f.fd, size, body) && ::fstat(f.fd, &after) == 0 && version_of(after) == v.ver) {
        if (size <= o_.bake_threshold) {
          bake(v, mime, coding, vary, o_.cache_control, body);
          snap_->baked_bytes += v.baked.size();
        } else {
          v.body = runtime::SharedBlock::copy_of(std::string_view(body));
          snap_->baked_bytes += size;
        }
        return true;
      }
      // Written to while we read: look again.
      if (::fstat(f.fd, &f.st) != 0) break;
    }
    ++snap_->skipped;
    v = Variant{};
    return false;
  }

  void add_file(Found& f) {
    f.fd = open_confined(snap_->root->fd, snap_->root_real, f.rel.c_str(), O_RDONLY | O_NONBLOCK);
    if (f.fd < 0) {
      if (f.fd != -ENOENT) ++snap_->skipped;  // gone since the walk: not in this snapshot
      f.fd = -1;
      return;
    }
    if (::fstat(f.fd, &f.st) != 0 || !S_ISREG(f.st.st_mode)) {
      ::close(f.fd);
      f.fd = -1;
      return;
    }
    Entry e;
    e.mime = mime_type(f.rel);
    const bool gz = o_.precompressed && files_.count(f.rel + ".gz") != 0;
    const bool br = o_.precompressed && files_.count(f.rel + ".br") != 0;
    e.vary = gz || br;
    const bool filled = fill(e.identity, f, e.mime, Coding::kIdentity, e.vary);
    if (f.fd >= 0) ::close(f.fd);  // baked (or skipped): its descriptor is not kept
    f.fd = -1;
    if (!filled) return;
    // A sibling is both its own URL and a variant of this one: open it again, so the two
    // never share a descriptor, whatever order the files are visited in.
    auto variant = [&](bool present, const char* suffix, Variant& v, Coding c) {
      if (!present) return;
      Found s;
      s.rel = f.rel + suffix;
      s.fd = open_confined(snap_->root->fd, snap_->root_real, s.rel.c_str(), O_RDONLY | O_NONBLOCK);
      if (s.fd < 0) return;
      if (::fstat(s.fd, &s.st) == 0 && S_ISREG(s.st.st_mode)) fill(v, s, e.mime, c, true);
      if (s.fd >= 0) ::close(s.fd);
    };
    variant(gz, ".gz", e.gzip, Coding::kGzip);
    variant(br, ".br", e.br, Coding::kBrotli);
    ++snap_->files;
    snap_->entries.emplace("/" + f.rel, std::move(e));
  }

  // "/dir/" serves dir/index.html; "/dir" redirects to "/dir/".
  void add_directories() {
    for (const std::string& rel : dir_rels_) {
      const std::string index_rel = rel.empty() ? o_.index : rel + "/" + o_.index;
      const std::string dir_url = rel.empty() ? "/" : "/" + rel + "/";
      if (!rel.empty()) {
        Entry r;
        r.redirect = dir_url;
        snap_->entries.emplace("/" + rel, std::move(r));
      }
      auto it = snap_->entries.find("/" + index_rel);
      if (it == snap_->entries.end()) continue;
      Entry copy = it->second;  // shares the blocks and descriptors
      snap_->entries.emplace(dir_url, std::move(copy));
    }
  }

  const AssetOptions& o_;
  std::shared_ptr<Snapshot> snap_;
  std::unordered_map<std::string, Found> files_;
  std::vector<std::string> dir_rels_;
};

}  // namespace

std::shared_ptr<Snapshot> build_snapshot(const AssetOptions& options) { return Builder(options).run(); }

}  // namespace ringactor::assets::detail
