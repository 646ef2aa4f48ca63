// Private: an asset snapshot (immutable once built) and the confined file access it is
// built with. Not installed.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <ringactor/runtime/shared_block.hpp>

#include "ringactor/assets/assets.hpp"

namespace ringactor::assets::detail {

// An open descriptor, closed when its last user (a snapshot, a download) lets go.
struct FileHandle {
  explicit FileHandle(int f) noexcept : fd(f) {}
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  ~FileHandle();
  int fd;
};

// What revalidation compares: a file is unchanged while all of these are.
struct Version {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_sec = 0;
  std::uint32_t mtime_nsec = 0;
  friend bool operator==(const Version&, const Version&) = default;
};
Version version_of(const struct stat& st) noexcept;

enum class Coding : std::uint8_t { kIdentity, kGzip, kBrotli };
std::string_view coding_name(Coding c) noexcept;  // "gzip", "br"; "" for identity

// One representation of a URL: the file itself, or its precompressed sibling.
struct Variant {
  std::string rel;  // path relative to the root ("" = absent), NUL-terminated for statx
  Version ver;
  std::string etag;           // quoted, from the version: "ino-mtime-size" in hex
  std::string last_modified;  // IMF-fixdate of the mtime
  // Baked: status line and headers in [0, head_len), the body after.
  runtime::SharedBlock baked;
  std::size_t head_len = 0;
  // Held in memory but not baked (up to memory_threshold): the body alone, streamed from
  // this block by reference.
  runtime::SharedBlock body;
  // Neither (larger, or past the memory budget): the descriptor.
  std::shared_ptr<FileHandle> file;
  bool present() const noexcept { return !rel.empty(); }
};

struct Entry {
  std::string_view mime;  // static storage (semantics.hpp's table)
  Variant identity;
  Variant gzip;
  Variant br;
  bool vary = false;      // has a precompressed sibling: every answer says Vary
  std::string redirect;   // set for "/dir" (a directory with an index): 301 to this
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct Snapshot {
  std::shared_ptr<FileHandle> root;  // the root directory; every open is confined beneath it
  std::string root_real;             // its canonical path (for absolute symlinks into it)
  std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> entries;  // by URL path
  std::uint64_t files = 0;
  std::uint64_t baked_bytes = 0;
  std::uint64_t skipped = 0;
};

// Opens `rel` (relative, NUL-terminated) beneath the directory `root_fd` with openat2
// RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: the kernel refuses any path, ".." or symlink
// that would leave it. Returns the descriptor or -errno.
int open_beneath(int root_fd, const char* rel, int flags) noexcept;

// open_beneath, and for what it refuses only because a symlink is absolute (EXDEV): opens
// following symlinks, then checks where the opened file really is (/proc/self/fd) and
// keeps it only if that is inside `root_real`. The check is on the open descriptor, so no
// rename between a check and the open can slip a file from outside in.
int open_confined(int root_fd, const std::string& root_real, const char* rel, int flags) noexcept;

// Opens the root directory. Throws std::system_error naming it.
std::shared_ptr<FileHandle> open_root(const std::string& root);

// Formats the ETag and Last-Modified of a version.
std::string etag_of(const Version& v);
std::string last_modified_of(const Version& v);

// Walks the root and builds a snapshot (any thread; blocking file I/O). Throws
// std::system_error when the root cannot be opened; unreadable files are skipped (counted).
std::shared_ptr<Snapshot> build_snapshot(const AssetOptions& options);

}  // namespace ringactor::assets::detail
