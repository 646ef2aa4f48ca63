// The static file service over real loopback sockets: baked and disk-served files, HTTP
// semantics (HEAD, 304, Range, index, precompressed siblings, MIME), revalidation against
// edits, renames, deletes and additions, reloads under load, path safety with a secret
// beside the root, an 8 MiB file's integrity and 32 concurrent downloads of it.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "assets_support.hpp"

using namespace ringactor::test;

namespace {

const std::string kHello = "hello, assets\n";

class AssetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    site.write("hello.txt", kHello);
    site.write("index.html", "<h1>root</h1>\n");
    site.write("sub/index.html", "<h1>sub</h1>\n");
    site.write("empty/nothing.txt", "x");
    site.write("style.css", "body{}");
    site.write("app.js", "console.log('identity');");
    site.write("app.js.gz", "GZIP-BYTES");
    site.write("app.js.br", "BROTLI-BYTES");
    site.write("model.wasm", std::string("\0asm", 4));
    site.write(".env", "SECRET_IN_ROOT=1");
    site.write(".git/config", "[core]");
    big = random_bytes(1 << 20, 7);  // 1 MiB: above the bake threshold, served from disk
    site.write("big.bin", big);
  }

  AssetServer& server(assets::AssetOptions o) {
    srv = std::make_unique<AssetServer>(std::move(o));
    return *srv;
  }
  AssetServer& server() { return server(options_for(site)); }

  TempSite site;
  std::string big;
  std::unique_ptr<AssetServer> srv;
};

}  // namespace

TEST_F(AssetsTest, BakedFileCarriesItsHeadersAndIsCountedAsMemory) {
  AssetServer& s = server();
  auto r = get(s.port(), "/hello.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, kHello);
  EXPECT_EQ(r->header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r->header("Content-Length"), std::to_string(kHello.size()));
  EXPECT_EQ(r->header("Accept-Ranges"), "bytes");
  EXPECT_TRUE(r->header("ETag").has_value());
  EXPECT_TRUE(r->header("Last-Modified").has_value());
  EXPECT_TRUE(r->header("Date").has_value());
  EXPECT_EQ(r->header("Server"), "ringactor");
  EXPECT_FALSE(r->header("Vary").has_value());
  const assets::AssetCounters c = s.assets().counters();
  EXPECT_EQ(c.served_baked, 1u);
  EXPECT_EQ(c.served_disk, 0u);
  EXPECT_GE(c.files, 9u);
}

TEST_F(AssetsTest, LargeFileHeldInMemoryStreamsByReference) {
  assets::AssetOptions o = options_for(site);
  o.memory_threshold = 4 << 20;  // 1 MiB: above bake_threshold, below memory_threshold
  AssetServer& s = server(o);
  auto r = get(s.port(), "/big.bin");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Content-Length"), std::to_string(big.size()));
  EXPECT_FALSE(r->header("Transfer-Encoding").has_value());
  EXPECT_TRUE(r->body == big);
  r = get(s.port(), "/big.bin", "Range: bytes=262000-262300\r\n");  // across a chunk boundary
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  EXPECT_TRUE(r->body == big.substr(262000, 301));
  EXPECT_EQ(s.assets().counters().served_memory, 2u);
  EXPECT_EQ(s.assets().counters().served_disk, 0u);
  EXPECT_EQ(s.reactor().counters().file_reads, 0u);
}

// read_chunk 0 (the default): a quarter of the reactor's output cap, at most 1 MiB.
TEST_F(AssetsTest, DefaultReadChunkFollowsTheOutputCap) {
  ASSERT_EQ(big.size(), 1u << 20);
  for (const auto& [cap, reads] : {std::pair<std::size_t, std::uint64_t>{4u << 20, 1}, {1u << 20, 4}, {64u << 20, 1}}) {
    assets::AssetOptions o = options_for(site);
    o.memory_threshold = 0;
    o.splice_chunk = cap / 4;  // its default (1 MiB) must stay within half the cap
    rt::ReactorOptions ro;
    ro.max_output_bytes = cap;
    AssetServer s(o, ro);
    auto r = get(s.port(), "/big.bin");
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->body == big);
    EXPECT_EQ(s.reactor().counters().file_reads, reads) << "max_output_bytes " << cap;
  }
}

TEST_F(AssetsTest, LargeFileStreamsFromDiskWithContentLength) {
  assets::AssetOptions o = options_for(site);
  o.memory_threshold = 0;  // from disk, through ring reads
  o.read_chunk = 256 * 1024;
  AssetServer& s = server(o);
  auto r = get(s.port(), "/big.bin");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Content-Length"), std::to_string(big.size()));
  EXPECT_FALSE(r->header("Transfer-Encoding").has_value());
  EXPECT_EQ(r->header("Content-Type"), "application/octet-stream");
  EXPECT_TRUE(r->body == big);
  EXPECT_EQ(s.assets().counters().served_disk, 1u);
  EXPECT_GE(s.reactor().counters().file_reads, 4u);  // 1 MiB in 256 KiB ring reads
  EXPECT_EQ(s.reactor().counters().splices, 0u);
  r = get(s.port(), "/big.bin", "Range: bytes=100000-400000\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  EXPECT_TRUE(r->body == big.substr(100000, 300001));
}

// The same with splice: file -> pipe -> socket, never through user memory.
TEST_F(AssetsTest, LargeFileSplicedWhenAsked) {
  assets::AssetOptions o = options_for(site);
  o.memory_threshold = 0;
  o.splice = true;
  o.splice_chunk = 300 * 1000;  // not a multiple of the pipe size or the page size
  AssetServer& s = server(o);
  auto r = get(s.port(), "/big.bin");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Content-Length"), std::to_string(big.size()));
  EXPECT_TRUE(r->body == big);
  EXPECT_GE(s.reactor().counters().splices, 4u);
  EXPECT_EQ(s.reactor().counters().file_reads, 0u);
  r = get(s.port(), "/big.bin", "Range: bytes=100000-400000\r\n");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->body == big.substr(100000, 300001));
}

// One splice pipe for everyone: downloads wait their turn for it and all arrive whole.
TEST_F(AssetsTest, SplicePipePoolBoundsConcurrentDownloads) {
  assets::AssetOptions o = options_for(site);
  o.memory_threshold = 0;
  o.splice = true;
  rt::ReactorOptions ro;
  ro.max_splice_pipes = 1;
  ro.splice_pipe_size = 64 * 1024;
  srv = std::make_unique<AssetServer>(o, ro);
  // Every request is out before any answer is read: the first download holds the one pipe
  // for many loop iterations (64 KiB at a time), so the others must wait for it.
  std::vector<std::unique_ptr<HttpClient>> conns;
  for (int i = 0; i < 6; ++i) {
    conns.push_back(std::make_unique<HttpClient>(srv->port()));
    ASSERT_TRUE(conns.back()->send_all("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"));
  }
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (auto& c : conns) {
    clients.emplace_back([&ok, &c, this] {
      auto r = c->read();
      if (r && r->body == big) ++ok;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_GT(srv->reactor().counters().pipe_waits, 0u);
  EXPECT_EQ(srv->reactor().counters().file_errors, 0u);
}

TEST_F(AssetsTest, HeadSendsTheHeadAloneForBakedAndLargeFiles) {
  AssetServer& s = server();
  HttpClient c(s.port());
  c.send_all("HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\nHEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.read(true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Content-Length"), std::to_string(kHello.size()));
  r = c.read(true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Content-Length"), std::to_string(big.size()));
  r = c.read();  // parses only if no body bytes followed the HEAD answers
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "body{}");
}

TEST_F(AssetsTest, ConditionalRequestsAnswer304) {
  AssetServer& s = server();
  for (const std::string path : {"/hello.txt", "/big.bin"}) {
    SCOPED_TRACE(path);
    auto full = get(s.port(), path);
    ASSERT_TRUE(full);
    const std::string etag = full->header("ETag").value_or("");
    const std::string lm = full->header("Last-Modified").value_or("");
    ASSERT_FALSE(etag.empty());

    auto r = get(s.port(), path, "If-None-Match: " + etag + "\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 304);
    EXPECT_EQ(r->header("ETag"), etag);
    EXPECT_TRUE(r->body.empty());
    EXPECT_FALSE(r->header("Content-Length").has_value());

    r = get(s.port(), path, "If-None-Match: \"other\", W/" + etag + "\r\n");  // weak comparison
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 304);

    r = get(s.port(), path, "If-None-Match: \"other\"\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);

    r = get(s.port(), path, "If-Modified-Since: " + lm + "\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 304);

    r = get(s.port(), path, "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);

    // If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    r = get(s.port(), path, "If-None-Match: \"other\"\r\nIf-Modified-Since: " + lm + "\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);

    r = get(s.port(), path, "If-Modified-Since: not a date\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(s.assets().counters().not_modified, 6u);
}

// If-Match and If-Unmodified-Since (RFC 9110 13.1.1, 13.1.4), evaluated before the cache
// validators as 13.2.2 orders them: 412 when they fail, the normal answer otherwise.
TEST_F(AssetsTest, FailedPreconditionsAnswer412) {
  AssetServer& s = server();
  for (const std::string path : {"/hello.txt", "/big.bin"}) {
    SCOPED_TRACE(path);
    auto full = get(s.port(), path);
    ASSERT_TRUE(full);
    const std::string etag = full->header("ETag").value_or("");
    const std::string lm = full->header("Last-Modified").value_or("");
    ASSERT_FALSE(etag.empty());

    auto r = get(s.port(), path, "If-Match: \"other\"\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 412);
    EXPECT_EQ(r->body, "412 Precondition Failed\n");
    r = get(s.port(), path, "If-Match: W/" + etag + "\r\n");  // strong comparison
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 412);
    for (const std::string& ok : {etag, "\"other\", " + etag, std::string("*")}) {
      r = get(s.port(), path, "If-Match: " + ok + "\r\n");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 200) << ok;
      EXPECT_EQ(r->body.size(), full->body.size());
    }

    r = get(s.port(), path, "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 412);
    r = get(s.port(), path, "If-Unmodified-Since: " + lm + "\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    r = get(s.port(), path, "If-Unmodified-Since: not a date\r\n");  // ignored
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    // If-Match wins over If-Unmodified-Since; both come before If-None-Match.
    r = get(s.port(), path, "If-Match: " + etag + "\r\nIf-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    r = get(s.port(), path, "If-Match: \"other\"\r\nIf-None-Match: " + etag + "\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 412);
    r = get(s.port(), path, "If-Match: " + etag + "\r\nIf-None-Match: " + etag + "\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 304);
    // A range under a passing If-Match is still served.
    r = get(s.port(), path, "If-Match: " + etag + "\r\nRange: bytes=0-3\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 206);
    EXPECT_EQ(r->body, full->body.substr(0, 4));
    // Several If-Match lines are one list; two If-Unmodified-Since dates are ignored.
    r = get(s.port(), path, "If-Match: \"other\"\r\nIf-Match: " + etag + "\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    r = get(s.port(), path,
            "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\nIf-Unmodified-Since: " + lm + "\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    // Several If-None-Match lines are one list too; two If-Modified-Since dates are ignored.
    r = get(s.port(), path, "If-None-Match: \"other\"\r\nIf-None-Match: " + etag + "\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 304);
    r = get(s.port(), path, "If-Modified-Since: " + lm + "\r\nIf-Modified-Since: " + lm + "\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    // A passing If-Unmodified-Since, then If-None-Match decides.
    r = get(s.port(), path, "If-Unmodified-Since: " + lm + "\r\nIf-None-Match: " + etag + "\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 304);
    // HEAD: the same status, no body.
    r = get(s.port(), path, "If-Match: \"other\"\r\n", "HEAD");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 412);
    EXPECT_TRUE(r->body.empty());
  }
  // A precompressed variant has its own entity-tag: If-Match names the one Accept-Encoding
  // picks.
  const auto identity = get(s.port(), "/app.js");
  const auto brotli = get(s.port(), "/app.js", "Accept-Encoding: br\r\n");
  ASSERT_TRUE(identity && brotli);
  ASSERT_NE(identity->header("ETag"), brotli->header("ETag"));
  auto r = get(s.port(), "/app.js", "Accept-Encoding: br\r\nIf-Match: " + identity->header("ETag").value_or("") + "\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 412);
  r = get(s.port(), "/app.js", "Accept-Encoding: br\r\nIf-Match: " + brotli->header("ETag").value_or("") + "\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, brotli->body);
  EXPECT_EQ(s.assets().counters().precondition_failed, 11u);
  // The server keeps serving after all of that.
  EXPECT_EQ(get(s.port(), "/hello.txt")->status, 200);
}

TEST_F(AssetsTest, RangesOnBakedAndLargeFiles) {
  AssetServer& s = server();
  const std::string text = kHello;
  struct Case {
    std::string range;
    int status;
    std::string content_range;
    std::string body;
  };
  const std::vector<Case> cases = {
      {"bytes=0-4", 206, "bytes 0-4/14", text.substr(0, 5)},
      {"bytes=7-", 206, "bytes 7-13/14", text.substr(7)},
      {"bytes=-3", 206, "bytes 11-13/14", text.substr(11)},
      {"bytes=5-1000", 206, "bytes 5-13/14", text.substr(5)},
      {"bytes=14-", 416, "bytes */14", ""},
      {"bytes=0-1,3-4", 200, "", text},  // several ranges: the whole file
      {"items=0-1", 200, "", text},
      {"bytes=x-y", 200, "", text},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.range);
    auto r = get(s.port(), "/hello.txt", "Range: " + c.range + "\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status);
    EXPECT_EQ(r->header("Content-Range").value_or(""), c.content_range);
    if (c.status != 416) {
      EXPECT_EQ(r->body, c.body);
    }
  }
  // A large file: a range in the middle, across chunk boundaries.
  auto r = get(s.port(), "/big.bin", "Range: bytes=100000-400000\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->header("Content-Range"), "bytes 100000-400000/" + std::to_string(big.size()));
  EXPECT_EQ(r->header("Content-Length"), "300001");
  EXPECT_TRUE(r->body == big.substr(100000, 300001));
  r = get(s.port(), "/big.bin", "Range: bytes=-10\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, big.substr(big.size() - 10));
  r = get(s.port(), "/big.bin", "Range: bytes=99999999-\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 416);
  EXPECT_EQ(r->header("Content-Range"), "bytes */" + std::to_string(big.size()));

  // If-Range: the current ETag keeps the range, another one gets the whole file.
  const std::string etag = get(s.port(), "/hello.txt")->header("ETag").value_or("");
  r = get(s.port(), "/hello.txt", "Range: bytes=0-1\r\nIf-Range: " + etag + "\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  r = get(s.port(), "/hello.txt", "Range: bytes=0-1\r\nIf-Range: \"stale\"\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, text);
  // HEAD ignores Range.
  r = get(s.port(), "/hello.txt", "Range: bytes=0-1\r\n", "HEAD");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(AssetsTest, DirectoriesServeTheirIndexAndRedirectWithoutSlash) {
  AssetServer& s = server();
  auto r = get(s.port(), "/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "<h1>root</h1>\n");
  EXPECT_EQ(r->header("Content-Type"), "text/html; charset=utf-8");
  r = get(s.port(), "/sub/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "<h1>sub</h1>\n");
  r = get(s.port(), "/sub?x=1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 301);
  EXPECT_EQ(r->header("Location"), "/sub/?x=1");
  // The Location comes from the normalised path: "//evil.com/.." must not send a browser
  // to another host.
  r = get(s.port(), "//evil.com/../sub");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 301);
  EXPECT_EQ(r->header("Location"), "/sub/");
  r = get(s.port(), "/empty/");  // no index: not listed
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = get(s.port(), "/missing.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  // A directory made after the snapshot.
  site.write("later/index.html", "later");
  r = get(s.port(), "/later");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 301);
  r = get(s.port(), "/later/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "later");
}

TEST_F(AssetsTest, PrecompressedSiblingsChosenByAcceptEncoding) {
  AssetServer& s = server();
  struct Case {
    std::string accept;
    std::string body;
    std::string encoding;
  };
  const std::vector<Case> cases = {
      {"", "console.log('identity');", ""},
      {"Accept-Encoding: gzip\r\n", "GZIP-BYTES", "gzip"},
      {"Accept-Encoding: gzip, br\r\n", "BROTLI-BYTES", "br"},
      {"Accept-Encoding: br;q=0, gzip;q=0.5\r\n", "GZIP-BYTES", "gzip"},
      {"Accept-Encoding: gzip;q=0\r\n", "console.log('identity');", ""},
      {"Accept-Encoding: identity\r\n", "console.log('identity');", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.accept);
    auto r = get(s.port(), "/app.js", c.accept);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, c.body);
    EXPECT_EQ(r->header("Content-Encoding").value_or(""), c.encoding);
    EXPECT_EQ(r->header("Vary"), "Accept-Encoding");
    EXPECT_EQ(r->header("Content-Type"), "text/javascript; charset=utf-8");
  }
  // Each representation has its own validator.
  const auto id = get(s.port(), "/app.js");
  const auto gz = get(s.port(), "/app.js", "Accept-Encoding: gzip\r\n");
  EXPECT_NE(id->header("ETag"), gz->header("ETag"));
  // A sibling deleted after the snapshot: the file itself is served.
  std::filesystem::remove(site.file("app.js.br"));
  auto r = get(s.port(), "/app.js", "Accept-Encoding: br\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "console.log('identity');");
  EXPECT_FALSE(r->header("Content-Encoding").has_value());
}

TEST_F(AssetsTest, MimeTypesByExtension) {
  AssetServer& s = server();
  EXPECT_EQ(get(s.port(), "/style.css")->header("Content-Type"), "text/css; charset=utf-8");
  EXPECT_EQ(get(s.port(), "/model.wasm")->header("Content-Type"), "application/wasm");
  EXPECT_EQ(get(s.port(), "/big.bin")->header("Content-Type"), "application/octet-stream");
}

TEST_F(AssetsTest, OtherMethodsOnFilesAre405) {
  AssetServer& s = server();
  auto r = raw_exchange(s.port(), "POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("Allow"), "GET, HEAD");
  r = raw_exchange(s.port(), "DELETE /nothing-here HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(AssetsTest, TraversalNeverReachesTheSecretBesideTheRoot) {
  // Symlinks leaving the root: to the secret file and to its directory.
  std::filesystem::create_symlink(site.base() / "secret.txt", site.file("leak.txt"));
  std::filesystem::create_symlink(site.base(), site.file("up"));
  std::filesystem::create_symlink(site.file("hello.txt"), site.file("alias.txt"));  // absolute, stays inside
  std::filesystem::create_symlink("../hello.txt", site.file("sub/relative-alias.txt"));
  std::filesystem::create_symlink(site.base() / "secret.txt", site.file("sub/abs-leak.txt"));
  AssetServer& s = server();
  const std::vector<std::string> attacks = {
      "/../secret.txt",
      "/%2e%2e/secret.txt",
      "/%2E%2E/secret.txt",
      "/sub/../../secret.txt",
      "/sub/%2e%2e/%2e%2e/secret.txt",
      "/%2e%2e%2fsecret.txt",
      "/..%2fsecret.txt",
      "/sub%2f..%2f..%2fsecret.txt",
      "/./../secret.txt",
      "//../secret.txt",
      "/leak.txt",
      "/up/secret.txt",
      "/hello.txt%00.png",
      "/secret.txt",
      "/.env",
      "/.git/config",
      "/sub/..%2f.env",
      "/%2e%65nv",
      "/sub/%00",
      "/sub/abs-leak.txt",
  };
  for (const std::string& a : attacks) {
    SCOPED_TRACE(a);
    auto r = get(s.port(), a);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->status == 400 || r->status == 404) << r->status;
    EXPECT_EQ(r->body.find("TOP-SECRET"), std::string::npos);
    EXPECT_EQ(r->body.find("SECRET_IN_ROOT"), std::string::npos);
  }
  // A symlink made after the snapshot, pointing out: refused on the live path too.
  std::filesystem::create_symlink(site.base() / "secret.txt", site.file("late-leak.txt"));
  auto r = get(s.port(), "/late-leak.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  // Inside the root, symlinks are fine; ".." that stays inside is normalised.
  r = get(s.port(), "/alias.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, kHello);
  r = get(s.port(), "/up/root/hello.txt");  // leaves through "up" and comes back in: allowed
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, kHello);
  r = get(s.port(), "/sub/relative-alias.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, kHello);
  r = get(s.port(), "/sub/../hello.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, kHello);
  r = get(s.port(), "/sub%2f..%2fhello.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, kHello);
  EXPECT_GE(s.assets().counters().bad_paths, 5u);
  // The server still serves everyone after all that.
  r = get(s.port(), "/hello.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(AssetsTest, InPlaceEditIsServedLiveWithNewValidators) {
  AssetServer& s = server();
  auto before = get(s.port(), "/hello.txt");
  ASSERT_TRUE(before);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a later mtime tick
  {
    // Same size, different bytes, written in place (same inode).
    std::string edited = kHello;
    edited[0] = 'J';
    const int fd = ::open(site.file("hello.txt").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, edited.data(), edited.size(), 0), static_cast<ssize_t>(edited.size()));
    ::close(fd);
  }
  auto after = get(s.port(), "/hello.txt");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->body[0], 'J');
  EXPECT_NE(after->header("ETag"), before->header("ETag"));
  // The old validator no longer matches.
  auto r = get(s.port(), "/hello.txt", "If-None-Match: " + before->header("ETag").value_or("") + "\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // A longer edit of a large file.
  std::string grown = big + "tail";
  write_file(site.file("big.bin"), grown);
  r = get(s.port(), "/big.bin");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->body == grown);
  EXPECT_GE(s.assets().counters().served_live, 2u);
}

TEST_F(AssetsTest, AtomicRenameDeleteAndAddAreSeenWithoutReload) {
  AssetServer& s = server();
  ASSERT_EQ(get(s.port(), "/style.css")->body, "body{}");
  replace_file(site.file("style.css"), "body{color:red}");
  EXPECT_EQ(get(s.port(), "/style.css")->body, "body{color:red}");

  std::filesystem::remove(site.file("hello.txt"));
  auto r = get(s.port(), "/hello.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);

  site.write("new/added.json", "{\"added\":true}");
  r = get(s.port(), "/new/added.json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"added\":true}");
  EXPECT_EQ(r->header("Content-Type"), "application/json; charset=utf-8");

  // After a reload the added file is in memory.
  ASSERT_EQ(s.reload(), "");
  const auto baked_before = s.assets().counters().served_baked;
  r = get(s.port(), "/new/added.json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "{\"added\":true}");
  EXPECT_EQ(s.assets().counters().served_baked, baked_before + 1);
  EXPECT_EQ(s.assets().counters().reloads, 1u);
}

TEST_F(AssetsTest, ReloadFailureKeepsTheOldSnapshot) {
  AssetServer& s = server();
  std::filesystem::rename(site.root(), site.base() / "moved");
  EXPECT_NE(s.reload(), "");
  EXPECT_EQ(s.assets().counters().reload_failures, 1u);
  std::filesystem::rename(site.base() / "moved", site.root());
  EXPECT_EQ(get(s.port(), "/style.css")->status, 200);
}

TEST_F(AssetsTest, ConstructorNamesAMissingRoot) {
  rt::Reactor reactor;
  ra::Stage stage(reactor);
  off::WorkerArena arena({.threads = 1});
  assets::AssetOptions o;
  o.root = "/definitely/not/here";
  try {
    assets::Assets a(stage, arena, o);
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("/definitely/not/here"), std::string::npos) << e.what();
  }
  o.root = site.root().string();
  o.read_ahead = 0;
  EXPECT_THROW(assets::Assets(stage, arena, o), std::invalid_argument);
  o.read_ahead = 2;
  o.bake_threshold = 8 << 20;  // a baked body larger than the reactor's slow-reader cap
  EXPECT_THROW(assets::Assets(stage, arena, o), std::invalid_argument);
}

// 100 reloads while clients download files that a deployer keeps replacing: every answer's
// Content-Length matches its body, and every body is one whole version of its file.
TEST_F(AssetsTest, HundredReloadsUnderLoadKeepEveryResponseConsistent) {
  site.write("a.txt", std::string(1000, 'a'));
  site.write("b.bin", std::string(300 * 1024, 'b'));  // above the bake threshold
  AssetServer& s = server();
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<int> answers{0};
  std::mutex err_mu;
  std::string first_error;
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(err_mu);
    if (first_error.empty()) first_error = what;
    ++bad;
  };
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&, t] {
      while (!stop) {
        HttpClient c(s.port());
        for (int i = 0; i < 20 && !stop; ++i) {
          const std::string path = (i + t) % 3 == 0 ? "/b.bin" : "/a.txt";
          if (!c.send_all("GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n")) return fail("send");
          auto r = c.read();
          if (!r) return fail("no parsable answer on a keep-alive connection");
          if (r->status != 200) return fail("status " + std::to_string(r->status));
          const auto cl = r->header("Content-Length");
          if (!cl || std::stoul(*cl) != r->body.size()) return fail("length");
          if (r->body.empty() || r->body.find_first_not_of(r->body[0]) != std::string::npos) {
            return fail("mixed versions in one body");
          }
          ++answers;
        }
      }
    });
  }
  std::thread deployer([&] {
    int v = 0;
    while (!stop) {
      ++v;
      const char ch = static_cast<char>('c' + v % 20);
      replace_file(site.file("a.txt"), std::string(500 + (v * 37) % 3000, ch));
      replace_file(site.file("b.bin"), std::string(300 * 1024 + (v * 4099) % 100000, ch));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  // At least 100 reloads, and as many more as it takes for 100 answers to have crossed
  // them (sanitizer builds are slow).
  std::uint64_t reloads = 0;
  while (reloads < 100 || (answers.load() < 100 && bad.load() == 0 && reloads < 100'000)) {
    ASSERT_EQ(s.reload(), "") << reloads;
    ++reloads;
  }
  stop = true;
  deployer.join();
  for (auto& t : clients) t.join();
  EXPECT_EQ(bad.load(), 0) << first_error;
  EXPECT_GE(answers.load(), 100);
  EXPECT_EQ(s.assets().counters().reloads, reloads);
}

namespace {

// Waits until `n` threads arrived, or the timeout: false then (a serialised server would
// never let all of them arrive).
class TimedBarrier {
 public:
  explicit TimedBarrier(int n) : n_(n) {}
  bool arrive_and_wait(std::chrono::seconds limit) {
    std::unique_lock lock(mu_);
    if (++arrived_ == n_) cv_.notify_all();
    return cv_.wait_for(lock, limit, [&] { return arrived_ >= n_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_;
  int arrived_ = 0;
};

}  // namespace

// An 8 MiB file: byte-exact by hash, then 32 clients download it at once. Each reads its
// first 256 KiB and waits for all the others to have theirs before reading on, which can
// only finish if the server feeds every download at the same time.
class AssetsBothPaths : public AssetsTest, public ::testing::WithParamInterface<bool> {
 protected:
  AssetServer& server_for_param() {
    assets::AssetOptions o = options_for(site);
    o.memory_threshold = 0;  // these are about the disk paths
    o.splice = GetParam();
    return server(o);
  }
  // A body cut short shows in the runtime's counter (splice) or the reader's (ring reads).
  std::uint64_t file_errors() {
    return GetParam() ? srv->reactor().counters().file_errors : srv->assets().counters().read_errors;
  }
};

INSTANTIATE_TEST_SUITE_P(Assets, AssetsBothPaths, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "splice" : "ring_reads"; });

TEST_P(AssetsBothPaths, EightMiBIntegrityAndThirtyTwoConcurrentDownloads) {
  const std::string huge = random_bytes(8 << 20, 99);
  site.write("huge.bin", huge);
  AssetServer& s = server_for_param();
  auto r = get(s.port(), "/huge.bin");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->body.size(), huge.size());
  EXPECT_EQ(fnv1a(r->body), fnv1a(huge));

  constexpr int kClients = 32;
  constexpr std::size_t kFirst = 256 * 1024;
  TimedBarrier barrier(kClients);
  std::atomic<int> ok{0};
  std::atomic<int> barrier_ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      Client c(s.port(), std::chrono::seconds(60));
      if (!c.send_all("GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n")) return;
      std::string got;
      char buf[1 << 16];
      std::size_t head_end = std::string::npos;
      while (head_end == std::string::npos || got.size() - (head_end + 4) < kFirst) {
        const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
        if (n <= 0) return;
        got.append(buf, static_cast<std::size_t>(n));
        if (head_end == std::string::npos) head_end = got.find("\r\n\r\n");
      }
      if (barrier.arrive_and_wait(std::chrono::seconds(60))) ++barrier_ok;
      std::string body = got.substr(head_end + 4);
      while (body.size() < huge.size()) {
        const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
        if (n <= 0) return;
        body.append(buf, static_cast<std::size_t>(n));
      }
      if (body.size() == huge.size() && fnv1a(body) == fnv1a(huge)) ++ok;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(barrier_ok.load(), kClients);
  EXPECT_EQ(ok.load(), kClients);
  EXPECT_EQ(file_errors(), 0u);
}

// A file cut short while it is being sent: the connection is aborted (its length was
// promised), counted, and the server goes on.
TEST_P(AssetsBothPaths, FileShrinkingMidDownloadCutsThatConnectionOnly) {
  const std::string huge = random_bytes(8 << 20, 5);
  site.write("shrinks.bin", huge);
  AssetServer& s = server_for_param();
  Client c(s.port(), std::chrono::seconds(30));
  const int small = 64 * 1024;
  ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ASSERT_TRUE(c.send_all("GET /shrinks.bin HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::string got = c.recv_exact(64 * 1024);
  ASSERT_EQ(got.size(), 64u * 1024);
  ASSERT_EQ(::truncate(site.file("shrinks.bin").c_str(), 1 << 20), 0);
  char buf[1 << 16];
  std::size_t total = got.size();
  for (;;) {
    const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
    if (n <= 0) break;
    total += static_cast<std::size_t>(n);
  }
  EXPECT_LT(total, huge.size());
  EXPECT_TRUE(eventually([&] { return file_errors() == 1; }));
  if (!GetParam()) {
    EXPECT_EQ(s.server().counters().streams_cut, 1u);
  }
  EXPECT_EQ(get(s.port(), "/hello.txt")->status, 200);
}

// Clients that leave in the middle of large downloads (reads still in flight, resumes
// addressed to connections that are gone) leave no connection, buffer or error behind.
TEST_P(AssetsBothPaths, ClientsLeavingMidDownloadLeaveNothingBehind) {
  site.write("huge.bin", random_bytes(4 << 20, 11));
  AssetServer& s = server_for_param();
  for (int round = 0; round < 3; ++round) {
    std::vector<Client> clients;
    for (int i = 0; i < 8; ++i) {
      clients.emplace_back(s.port());
      ASSERT_TRUE(clients.back().send_all("GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n"));
    }
    for (std::size_t i = 0; i < clients.size(); ++i) {
      EXPECT_EQ(clients[i].recv_exact(100 * 1024).size(), 100u * 1024);
      if (i % 2 == 0) {
        clients[i].reset();
      }
    }
  }  // the rest close with FIN here
  EXPECT_TRUE(eventually([&] { return s.reactor().counters().connections_open == 0; }));
  EXPECT_EQ(file_errors(), 0u);
  auto r = get(s.port(), "/big.bin");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->body == big);
  s.stop();
  EXPECT_EQ(s.reactor().output_slabs_in_use(), 0u);
}

// Clients that request a large file and stop reading hold read buffers (or splice pipes)
// in their queued output. Once the pool is dry they are closed after stall_shed_after, long
// before write_timeout, so a download that waits for the pool goes through; a client that
// reads slowly but steadily is never taken for a stalled one.
TEST_P(AssetsBothPaths, ClientsThatStopReadingAreShedWhenThePoolRunsDry) {
  const std::string huge = random_bytes(8 << 20, 21);
  const std::string mid = random_bytes(4 << 20, 22);
  site.write("huge.bin", huge);
  site.write("mid.bin", mid);
  assets::AssetOptions o = options_for(site);
  o.memory_threshold = 0;
  o.splice = GetParam();
  o.read_chunk = 64 * 1024;
  o.read_buffers = 4;
  o.splice_chunk = 64 * 1024;
  rt::ReactorOptions ro;
  ro.max_splice_pipes = 2;
  ro.splice_pipe_size = 64 * 1024;
  ro.stall_shed_after = std::chrono::seconds(1);
  // No timeouts at all: no periodic scan wakes the loop either, so only shedding (and the
  // wake-ups it arms for itself) can free the pool.
  ro.write_timeout = std::chrono::milliseconds(0);
  ro.idle_timeout = std::chrono::milliseconds(0);
  srv = std::make_unique<AssetServer>(o, ro);
  AssetServer& s = *srv;

  // Four clients with small receive windows ask for the large file and never read.
  std::vector<Client> stalled;
  for (int i = 0; i < 4; ++i) {
    stalled.emplace_back(s.port(), std::chrono::seconds(30), 4096);
    ASSERT_TRUE(stalled.back().send_all("GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n"));
  }
  // A slow, steady reader of a smaller file: 64 KiB every 40 ms. Without shedding, the
  // stalled clients starve it (or the download below) until write_timeout.
  std::atomic<bool> slow_ok{false};
  std::jthread slow([&] {
    Client c(s.port(), std::chrono::seconds(60), 64 * 1024);
    if (!c.send_all("GET /mid.bin HTTP/1.1\r\nHost: t\r\n\r\n")) return;
    std::string got;
    char buf[64 * 1024];
    std::size_t head_end = std::string::npos;
    while (head_end == std::string::npos || got.size() - (head_end + 4) < mid.size()) {
      const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
      if (n <= 0) return;
      got.append(buf, static_cast<std::size_t>(n));
      if (head_end == std::string::npos) head_end = got.find("\r\n\r\n");
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
    }
    slow_ok = got.substr(head_end + 4) == mid;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the stalled ones fill up

  // A normal download now needs the pool that the stalled clients hold.
  const auto started = std::chrono::steady_clock::now();
  Client good(s.port(), std::chrono::seconds(60));
  ASSERT_TRUE(good.send_all("GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::string got;
  while (got.find("\r\n\r\n") == std::string::npos) {
    const std::string more = good.recv_exact(1);
    if (more.empty()) break;
    got += more;
  }
  ASSERT_NE(got.find(" 200 "), std::string::npos) << got;
  const std::string body = good.recv_exact(huge.size());
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(body.size(), huge.size());
  EXPECT_EQ(fnv1a(body), fnv1a(huge));
  EXPECT_LT(took, std::chrono::seconds(60)) << "the download waited for write_timeout, not for shedding";
  slow.join();
  EXPECT_TRUE(slow_ok.load()) << "the slow reader did not get its file (cut, or starved by the stalled clients)";

  std::size_t closed = 0;
  for (Client& c : stalled) {
    // A shed client was reset: its reads end (a still-held one times out).
    c.set_timeout(std::chrono::seconds(1));
    char buf[1 << 16];
    for (;;) {
      const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
      if (n > 0) continue;
      if (n == 0 || (n < 0 && errno == ECONNRESET)) ++closed;
      break;
    }
  }
  const rt::Counters rc = s.reactor().counters();  // after the draining above, which may shed more
  if (GetParam()) {
    EXPECT_GT(rc.pipe_waits, 0u) << "the stalled clients never held the pipes: nothing was tested";
  } else {
    EXPECT_GT(s.assets().counters().read_waits, 0u) << "the pool never ran dry: nothing was tested";
  }
  EXPECT_GE(rc.stalled_shed, 1u);
  EXPECT_LE(rc.stalled_shed, 4u);  // only the stalled clients
  EXPECT_EQ(closed, rc.stalled_shed);
  EXPECT_EQ(file_errors(), 0u);
}

TEST_F(AssetsTest, RevalidationOffTrustsTheSnapshot) {
  assets::AssetOptions o = options_for(site);
  o.revalidate = false;
  AssetServer& s = server(o);
  replace_file(site.file("style.css"), "changed");
  EXPECT_EQ(get(s.port(), "/style.css")->body, "body{}");
  EXPECT_EQ(s.assets().counters().revalidations, 0u);
  ASSERT_EQ(s.reload(), "");
  EXPECT_EQ(get(s.port(), "/style.css")->body, "changed");
}

TEST_F(AssetsTest, PipelinedMixOfBakedAndDiskAnswersStaysInOrder) {
  AssetServer& s = server();
  HttpClient c(s.port());
  std::string req;
  for (int i = 0; i < 10; ++i) {
    req += "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n";
  }
  ASSERT_TRUE(c.send_all(req));
  for (int i = 0; i < 10; ++i) {
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->body == big);
    r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, kHello);
  }
}
