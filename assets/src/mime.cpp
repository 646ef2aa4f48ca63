// The MIME map of mime_type() (semantics.hpp): a sorted table searched by binary search.
#include <algorithm>
#include <array>
#include <cstddef>
#include <string_view>

#include "ringactor/assets/semantics.hpp"

namespace ringactor::assets {

namespace {

constexpr std::size_t npos = std::string_view::npos;

constexpr char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// MIME types

struct MimeEntry {
  std::string_view ext;  // lower case, without the dot
  std::string_view type;
};

constexpr std::string_view kOctetStream = "application/octet-stream";

// Sorted by extension (checked below) for binary search. Types follow the IANA registry
// where one exists, else what browsers and nginx's mime.types use.
constexpr std::array kMimeTable = std::to_array<MimeEntry>({
    {"3gp", "video/3gpp"},
    {"7z", "application/x-7z-compressed"},
    {"aac", "audio/aac"},
    {"apk", "application/vnd.android.package-archive"},
    {"apng", "image/apng"},
    {"atom", "application/atom+xml; charset=utf-8"},
    {"avi", "video/x-msvideo"},
    {"avif", "image/avif"},
    {"basis", "application/octet-stream"},  // Basis Universal textures: no registered type
    {"bin", "application/octet-stream"},
    {"bmp", "image/bmp"},
    {"bz2", "application/x-bzip2"},
    {"cjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"dds", "image/vnd-ms.dds"},
    {"deb", "application/vnd.debian.binary-package"},
    {"dmg", "application/x-apple-diskimage"},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"eot", "application/vnd.ms-fontobject"},
    {"epub", "application/epub+zip"},
    {"exe", "application/vnd.microsoft.portable-executable"},
    {"flac", "audio/flac"},
    {"frag", "text/plain; charset=utf-8"},  // GLSL fragment shader source
    {"gif", "image/gif"},
    {"glb", "model/gltf-binary"},
    {"glsl", "text/plain; charset=utf-8"},  // shader source: no registered type
    {"gltf", "model/gltf+json; charset=utf-8"},
    {"gz", "application/gzip"},
    {"hdr", "image/vnd.radiance"},
    {"heic", "image/heic"},
    {"heif", "image/heif"},
    {"htm", "text/html; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},
    {"ico", "image/x-icon"},
    {"ics", "text/calendar; charset=utf-8"},
    {"jar", "application/java-archive"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript; charset=utf-8"},  // RFC 9239
    {"json", "application/json; charset=utf-8"},
    {"jsonld", "application/ld+json; charset=utf-8"},
    {"jxl", "image/jxl"},
    {"ktx", "image/ktx"},
    {"ktx2", "image/ktx2"},
    {"m4a", "audio/mp4"},
    {"m4v", "video/mp4"},
    {"map", "application/json; charset=utf-8"},  // source maps
    {"md", "text/markdown; charset=utf-8"},
    {"mid", "audio/midi"},
    {"midi", "audio/midi"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"mkv", "video/x-matroska"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpeg", "video/mpeg"},
    {"mpg", "video/mpeg"},
    {"obj", "model/obj"},
    {"odp", "application/vnd.oasis.opendocument.presentation"},
    {"ods", "application/vnd.oasis.opendocument.spreadsheet"},
    {"odt", "application/vnd.oasis.opendocument.text"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"opus", "audio/ogg"},  // Opus in an Ogg container
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"rar", "application/vnd.rar"},
    {"rss", "application/rss+xml; charset=utf-8"},
    {"rtf", "application/rtf"},
    {"srt", "application/x-subrip; charset=utf-8"},
    {"stl", "model/stl"},
    {"svg", "image/svg+xml; charset=utf-8"},
    {"tar", "application/x-tar"},
    {"tgz", "application/gzip"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"toml", "application/toml; charset=utf-8"},
    {"tsv", "text/tab-separated-values; charset=utf-8"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain; charset=utf-8"},
    {"usdz", "model/vnd.usdz+zip"},
    {"vcf", "text/vcard; charset=utf-8"},
    {"vert", "text/plain; charset=utf-8"},  // GLSL vertex shader source
    {"vtt", "text/vtt; charset=utf-8"},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json; charset=utf-8"},
    {"webp", "image/webp"},
    {"wgsl", "text/wgsl; charset=utf-8"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml; charset=utf-8"},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"xml", "application/xml; charset=utf-8"},
    {"xz", "application/x-xz"},
    {"yaml", "application/yaml; charset=utf-8"},  // RFC 9512
    {"yml", "application/yaml; charset=utf-8"},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
});

constexpr std::size_t kMaxExtension = 16;  // longer than any extension in the table

constexpr bool mime_table_is_valid() {
  for (std::size_t i = 0; i < kMimeTable.size(); ++i) {
    const std::string_view ext = kMimeTable[i].ext;
    if (ext.empty() || ext.size() > kMaxExtension) return false;
    for (char c : ext) {
      if (c != lower(c)) return false;
    }
    if (i > 0 && !(kMimeTable[i - 1].ext < ext)) return false;  // sorted, no duplicates
  }
  return true;
}
static_assert(mime_table_is_valid(), "kMimeTable must be lower case, sorted and without duplicates");

}  // namespace

std::string_view mime_type(std::string_view filename) noexcept {
  const std::size_t slash = filename.rfind('/');
  const std::string_view segment = slash == npos ? filename : filename.substr(slash + 1);
  const std::size_t dot = segment.rfind('.');
  if (dot == npos || dot == 0) return kOctetStream;  // no extension, or a dot file
  const std::string_view ext = segment.substr(dot + 1);
  if (ext.empty() || ext.size() > kMaxExtension) return kOctetStream;
  std::array<char, kMaxExtension> buf{};
  for (std::size_t i = 0; i < ext.size(); ++i) buf[i] = lower(ext[i]);
  const std::string_view key(buf.data(), ext.size());
  const auto* it = std::lower_bound(kMimeTable.begin(), kMimeTable.end(), key,
                                    [](const MimeEntry& e, std::string_view k) { return e.ext < k; });
  if (it == kMimeTable.end() || it->ext != key) return kOctetStream;
  return it->type;
}

}  // namespace ringactor::assets
