// Helpers for the asset tests: a temporary site (a root with files, and a secret file beside
// it that must never be served), and a static file server on its own reactor thread.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <ringactor/actors/stage.hpp>
#include <ringactor/assets/assets.hpp>
#include <ringactor/http/server.hpp>
#include <ringactor/offload/worker_arena.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "http_test_support.hpp"

namespace ringactor::test {

namespace fs = std::filesystem;
namespace assets = ringactor::assets;
namespace off = ringactor::offload;

inline void write_file(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(content.data(), static_cast<std::streamsize>(content.size()));
}

// Writes `content` to a temporary name beside `p` and renames it over `p` (a deploy).
inline void replace_file(const fs::path& p, const std::string& content) {
  const fs::path tmp = p.string() + ".tmp-replace";
  write_file(tmp, content);
  fs::rename(tmp, p);
}

inline std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// <tmp>/site/{root/, secret.txt}
class TempSite {
 public:
  TempSite() {
    char tmpl[] = "/tmp/ringactor-assets-XXXXXX";
    base_ = ::mkdtemp(tmpl);
    fs::create_directories(root());
    write_file(base_ / "secret.txt", "TOP-SECRET-beside-the-root\n");
  }
  ~TempSite() {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }
  TempSite(const TempSite&) = delete;
  TempSite& operator=(const TempSite&) = delete;

  fs::path root() const { return base_ / "root"; }
  fs::path base() const { return base_; }
  fs::path file(const std::string& rel) const { return root() / rel; }
  void write(const std::string& rel, const std::string& content) const { write_file(file(rel), content); }

 private:
  fs::path base_;
};

// A Server with an Assets fallback on its own reactor thread.
class AssetServer {
 public:
  explicit AssetServer(assets::AssetOptions options, rt::ReactorOptions reactor_options = {},
                       std::function<void(http::Server&)> routes = {})
      : reactor_(std::make_unique<rt::Reactor>(reactor_options)),
        stage_(std::make_unique<ra::Stage>(*reactor_)),
        arena_(std::make_unique<off::WorkerArena>(off::ArenaOptions{.threads = 1})),
        server_(std::make_unique<http::Server>(*stage_)),
        assets_(std::make_unique<assets::Assets>(*stage_, *arena_, std::move(options))) {
    if (routes) routes(*server_);
    server_->fallback(assets_->handler());
    port_ = server_->listen({.port = 0});
    thread_ = std::thread([this] { reactor_->run(); });
  }
  ~AssetServer() {
    stop();
    assets_.reset();
    arena_.reset();  // before the stage: no result may arrive for a destroyed stage
  }

  void stop() {
    if (thread_.joinable()) {
      reactor_->stop();
      thread_.join();
    }
  }

  // Reloads and waits for the swap; returns the error ("" on success).
  std::string reload() {
    std::promise<std::string> p;
    auto f = p.get_future();
    assets_->reload([&p](const std::string& error) { p.set_value(error); });
    if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) return "timed out";
    return f.get();
  }

  std::uint16_t port() const { return port_; }
  assets::Assets& assets() { return *assets_; }
  rt::Reactor& reactor() { return *reactor_; }
  http::Server& server() { return *server_; }

 private:
  std::unique_ptr<rt::Reactor> reactor_;
  std::unique_ptr<ra::Stage> stage_;
  std::unique_ptr<off::WorkerArena> arena_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<assets::Assets> assets_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

inline assets::AssetOptions options_for(const TempSite& site) {
  assets::AssetOptions o;
  o.root = site.root().string();
  return o;
}

inline std::optional<HttpResponse> get(std::uint16_t port, const std::string& target, const std::string& extra = "",
                                       const std::string& method = "GET") {
  return raw_exchange(port, method + " " + target + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n", method == "HEAD");
}

}  // namespace ringactor::test
