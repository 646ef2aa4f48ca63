// /metrics: MetricsWriter's format and escaping, and Server::metrics serving every module's
// counters, parsed back line by line (and checked by `promtool check metrics` where the
// Debian prometheus package is installed, as scripts/deps.sh does).
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <ringactor/offload/worker_arena.hpp>
#include <ringactor/runtime/metrics.hpp>

#include "http_test_support.hpp"

namespace {

using namespace ringactor::test;
namespace off = ringactor::offload;

// Parses an exposition: every sample line into "name{labels}" -> value; checks that each
// sample's family was announced by HELP and TYPE first, once, and that counters end in _total.
std::map<std::string, double> parse_exposition(const std::string& text) {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::set<std::string> helped;
  const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+)");
  const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge))");
  const std::regex sample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-z_]+="[^"\\]*"(,[a-z_]+="[^"\\]*")*\})? ([0-9.eE+-]+))");
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, help)) {
      EXPECT_TRUE(helped.insert(m[1]).second) << "HELP twice: " << line;
    } else if (std::regex_match(line, m, type)) {
      EXPECT_TRUE(helped.count(m[1])) << "TYPE before HELP: " << line;
      EXPECT_TRUE(types.emplace(m[1], m[2]).second) << "TYPE twice: " << line;
      if (m[2] == "counter") {
        EXPECT_TRUE(std::string(m[1]).ends_with("_total")) << line;
      }
    } else if (std::regex_match(line, m, sample)) {
      EXPECT_TRUE(types.count(m[1])) << "sample without TYPE: " << line;
      EXPECT_TRUE(samples.emplace(std::string(m[1]) + std::string(m[2]), std::stod(m[4])).second) << "twice: " << line;
    } else {
      ADD_FAILURE() << "not exposition format: '" << line << "'";
    }
  }
  return samples;
}

TEST(Metrics, TheWriterEscapesLabelsAndHelp) {
  std::string out;
  ringactor::runtime::MetricsWriter w(out);
  w.family("x_total", "counter", "a \\ b\nc");
  w.sample("x_total", std::uint64_t{7}, {{"path", "a\"b\\c\nd"}, {"k", "v"}});
  w.gauge("y", "why", 3);
  w.family("z", "gauge", "zed");
  w.sample("z", 0.5);
  EXPECT_EQ(out,
            "# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\n"
            "x_total{path=\"a\\\"b\\\\c\\nd\",k=\"v\"} 7\n"
            "# HELP y why\n# TYPE y gauge\ny 3\n"
            "# HELP z zed\n# TYPE z gauge\nz 0.5\n");
}

std::string scrape(std::uint16_t port) {
  auto r = raw_exchange(port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
  if (!r || r->status != 200) return {};
  EXPECT_EQ(r->header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  return r->body;
}

TEST(Metrics, EveryModuleIsServedAndCountsWhatHappened) {
  off::WorkerArena arena({.threads = 1});
  HttpServerThread srv([&](http::Server& s) {
    s.get("/plaintext", [](http::Request&, http::Response& res) { res.text("Hello, World!"); });
    s.get("/work", [&](http::Request&, http::Response& res) {
      arena.offload(res.defer(), [] { return 1; },
                    [](off::Result<int> r, http::DeferredResponse& d) { d.text(std::to_string(r.value())); });
    });
    s.metrics("/metrics");
    s.add_metrics([&](ringactor::runtime::MetricsWriter& w) { arena.write_metrics(w); });
  });
  HttpClient c(srv.port());
  c.send_all("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET /work HTTP/1.1\r\nHost: t\r\n\r\nGET /missing HTTP/1.1\r\nHost: t\r\n\r\n");
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(c.read()) << i;
  {
    HttpClient bad(srv.port());
    bad.send_all("GET / HTTP/9.9\r\nHost: t\r\n\r\n");
    auto r = bad.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 505);
    EXPECT_TRUE(bad.at_eof());
  }
  ASSERT_TRUE(eventually([&] { return srv.reactor().counters().connections_closed >= 1; }));
  const std::string text = scrape(srv.port());
  ASSERT_FALSE(text.empty());
  const std::map<std::string, double> m = parse_exposition(text);
  auto at = [&](const std::string& key) {
    const auto it = m.find(key);
    EXPECT_NE(it, m.end()) << "missing " << key;
    return it == m.end() ? -1.0 : it->second;
  };
  EXPECT_EQ(at("ringactor_http_responses_total{class=\"2xx\"}"), 3);  // the scrape itself is not counted yet
  EXPECT_EQ(at("ringactor_http_responses_total{class=\"4xx\"}"), 1);
  EXPECT_EQ(at("ringactor_http_responses_total{class=\"5xx\"}"), 1);
  EXPECT_EQ(at("ringactor_http_errors_total{kind=\"protocol\"}"), 1);
  EXPECT_EQ(at("ringactor_http_requests_total"), 5);  // 4 + the scrape
  EXPECT_EQ(at("ringactor_offload_submitted_total"), 1);
  EXPECT_EQ(at("ringactor_offload_delivered_total"), 1);
  EXPECT_EQ(at("ringactor_offload_in_flight"), 0);
  EXPECT_GE(at("ringactor_connections_open"), 2);  // c and the scraper
  EXPECT_GE(at("ringactor_connections_accepted_total"), 3);
  EXPECT_GE(at("ringactor_connections_closed_total{reason=\"local\"}"), 1);
  EXPECT_GE(at("ringactor_actors_live"), 2);  // connections are actors
  EXPECT_GT(at("ringactor_loop_iterations_total"), 0);
  EXPECT_GT(at("ringactor_submissions_total"), 0);
  EXPECT_GT(at("ringactor_completions_total"), 0);
  EXPECT_GT(at("ringactor_receive_bytes_total"), 0);
  // A second scrape counts the first one.
  const std::map<std::string, double> again = parse_exposition(scrape(srv.port()));
  EXPECT_EQ(again.at("ringactor_http_responses_total{class=\"2xx\"}"), 4);
  srv.stop();
}

TEST(Metrics, PromtoolAcceptsTheExposition) {
  if (run_command("command -v promtool").first != 0) {
    GTEST_SKIP() << "promtool not installed (Debian package prometheus; scripts/deps.sh installs it)";
  }
  off::WorkerArena arena({.threads = 1});
  HttpServerThread srv([&](http::Server& s) {
    s.metrics("/metrics");
    s.add_metrics([&](ringactor::runtime::MetricsWriter& w) { arena.write_metrics(w); });
  });
  const std::string text = scrape(srv.port());
  ASSERT_FALSE(text.empty());
  char path[] = "/tmp/ringactor-metrics-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
  const auto [status, out] = run_command(std::string("promtool check metrics < ") + path + " 2>&1");
  ::unlink(path);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out, "") << "promtool's lint found problems";
  srv.stop();
}

}  // namespace
