// demos/static: a static file server, nginx-style, on one io_uring reactor.
//
//   static --root DIR [--port N]
//
// Serves DIR: small files from memory (their whole response baked when the snapshot is
// built), large ones read through the ring as they are sent; every request checks the file
// on disk (statx) so edits are served at once; `kill -HUP <pid>` rebuilds the snapshot off
// the IO thread. 304, Range, HEAD, index.html, precompressed .br/.gz siblings. Nothing
// outside DIR is ever opened.
//
// Try it:
//
//   mkdir -p /tmp/www && echo '<h1>hi</h1>' > /tmp/www/index.html
//   ./build/release/bin/static --root /tmp/www --port 8080 &
//   curl -i http://127.0.0.1:8080/
//   curl -i -H 'Range: bytes=0-3' http://127.0.0.1:8080/index.html
//   kill -HUP %1     # reload the snapshot
//   kill -TERM %1    # finishes the downloads in flight, then exits 0
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <ringactor/actors/stage.hpp>
#include <ringactor/assets/assets.hpp>
#include <ringactor/http/server.hpp>
#include <ringactor/offload/worker_arena.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "../common/cli.hpp"

namespace rt = ringactor::runtime;
namespace ra = ringactor::actors;
namespace http = ringactor::http;
namespace off = ringactor::offload;
namespace assets = ringactor::assets;

namespace {

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: static --root DIR [options]\n"
               "  --root DIR            directory to serve (required)\n"
               "  --port N              TCP port (0 picks a free one; default 8080)\n"
               "  --address A           address to bind (default 127.0.0.1)\n"
               "  --revalidate on|off   statx every file on every request (default on)\n"
               "  --zero-copy on|off    send large output with SEND_ZC (default off)\n"
               "  --cache-control V     Cache-Control value for every file (default none)\n"
               "  --splice on|off       send large files with splice instead of ring reads (default off)\n"
               "  --read-chunk N        bytes per ring read of a large file (default 1048576)\n"
               "  --memory-threshold N  hold files up to N bytes in memory (default 8388608; 0: only baked ones)\n"
               "  --max-connections N   connection slots (default: from the descriptor limit)\n"
               "  --idle-timeout-ms N   close keep-alive connections idle this long (0 = never; default 60000)\n"
               "  --help                this text\n");
}

}  // namespace

int main(int argc, char** argv) {
  rt::ReactorOptions options{.handle_signals = true};
  rt::ListenOptions listen{.port = 8080};
  assets::AssetOptions files;
  ringactor::demo::Args args("static", argc, argv);
  while (args.next()) {
    if (args.is("--help") || args.is("-h")) {
      usage(stdout);
      return 0;
    } else if (args.server_flag(options, listen)) {
    } else if (args.is("--root")) {
      files.root = args.value();
    } else if (args.is("--revalidate")) {
      files.revalidate = args.on_off();
    } else if (args.is("--zero-copy")) {
      options.zero_copy_send = args.on_off();
    } else if (args.is("--splice")) {
      files.splice = args.on_off();
    } else if (args.is("--read-chunk")) {
      files.read_chunk = args.number(64u << 20);
    } else if (args.is("--memory-threshold")) {
      files.memory_threshold = args.number(1ul << 40);
    } else if (args.is("--cache-control")) {
      files.cache_control = args.value();
    } else {
      return args.unknown(usage);
    }
  }

  if (files.root.empty()) {
    std::fprintf(stderr, "static: --root DIR is required\n");
    usage(stderr);
    return 2;
  }

  try {
    rt::Reactor::block_stop_signals();  // before any thread exists: only the signalfd sees them
    rt::Reactor reactor(options);
    ra::Stage stage(reactor);
    off::WorkerArena arena({.reactors = 1});  // snapshot rebuilds run here, never on the IO thread
    http::Server server(stage);
    files.reload_on_sighup = false;  // reloaded below, with a line saying how it went
    assets::Assets site(stage, arena, files);  // reads DIR now; throws if it cannot
    server.fallback(site.handler());
    reactor.on_sighup([&site] {
      site.reload([&site](const std::string& error) {
        if (error.empty()) {
          std::printf("static: reloaded, %llu files\n", static_cast<unsigned long long>(site.counters().files));
        } else {
          std::printf("static: reload failed (%s); still serving the previous snapshot\n", error.c_str());
        }
        std::fflush(stdout);
      });
    });

    const std::uint16_t port = server.listen(listen);
    const assets::AssetCounters c = site.counters();
    std::printf("static: %llu files (%llu KiB in memory) from %s; listening on http://%s:%u\n",
                static_cast<unsigned long long>(c.files), static_cast<unsigned long long>(c.baked_bytes / 1024),
                files.root.c_str(), listen.address.c_str(), static_cast<unsigned>(port));
    std::fflush(stdout);
    reactor.run();
    const assets::AssetCounters end = site.counters();
    std::printf("static: stopped; %llu from memory, %llu from disk, %llu not modified, %llu reloads\n",
                static_cast<unsigned long long>(end.served_baked), static_cast<unsigned long long>(end.served_disk),
                static_cast<unsigned long long>(end.not_modified), static_cast<unsigned long long>(end.reloads));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "static: %s\n", e.what());
    return 1;
  }
}
