// The HTTP server over real loopback sockets: protocol rules, limits, ordering of
// pipelined and deferred answers, streaming, middleware, shutdown.
#include <gtest/gtest.h>

#include <tbb/task_group.h>

#include <poll.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http_test_support.hpp"

namespace {

using namespace ringactor::test;
using namespace std::chrono_literals;

// The routes most tests use.
void basic_routes(http::Server& s) {
  s.get("/plaintext", [](http::Request&, http::Response& res) { res.text("Hello, World!"); });
  s.post("/echo", [](http::Request& req, http::Response& res) {
    res.bytes(req.body(), req.header("Content-Type").value_or("application/octet-stream"));
  });
  s.get("/n/:i", [](http::Request& req, http::Response& res) { res.text(std::string(req.param("i"))); });
  s.get("/files/:name", [](http::Request& req, http::Response& res) {
    res.text(std::string(req.param("name")) + "|" + std::string(req.raw_path()) + "|" + std::string(req.query()));
  });
  s.post("/small", [](http::Request& req, http::Response& res) { res.text(std::to_string(req.body().size())); },
         {.max_body = 10});
  s.post("/big", [](http::Request& req, http::Response& res) { res.text(std::to_string(req.body().size())); },
         {.max_body = 3 * 1024 * 1024});
}

std::string get(std::string_view path, std::string_view extra = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

// The connection answered `status` with Connection: close, then closed; a fresh client is
// still served.
void expect_refused(std::uint16_t port, const std::string& request, int status) {
  HttpClient c(port);
  c.send_all(request);
  auto r = c.read();
  ASSERT_TRUE(r) << "no answer to: " << request.substr(0, 80);
  EXPECT_EQ(r->status, status) << request.substr(0, 80);
  EXPECT_EQ(r->header("Connection").value_or(""), "close");
  EXPECT_TRUE(c.at_eof()) << "the connection closes after a refusal";
  auto ok = raw_exchange(port, get("/plaintext"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << "everyone else is still served";
}

TEST(HttpServer, AnswersWithDateServerAndLength) {
  HttpServerThread srv(basic_routes, {.server_header = "test-server/1"});
  HttpClient c(srv.port());
  c.send_all(get("/plaintext"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(r->body, "Hello, World!");
  EXPECT_EQ(r->header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r->header("Content-Length"), "13");
  EXPECT_EQ(r->header("Server"), "test-server/1");
  ASSERT_TRUE(r->header("Date"));
  EXPECT_EQ(r->header("Date")->size(), 29u);
  EXPECT_EQ(r->header("Date")->substr(26), "GMT");
}

TEST(HttpServer, KeepAliveReusesOneConnection) {
  HttpServerThread srv(basic_routes);
  HttpClient c(srv.port());
  for (int i = 0; i < 5; ++i) {
    c.send_all(get("/n/" + std::to_string(i)));
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, std::to_string(i));
    EXPECT_FALSE(r->header("Connection"));
  }
  EXPECT_EQ(srv.counters().connections, 1u);
  EXPECT_EQ(srv.counters().requests, 5u);
}

TEST(HttpServer, AHundredPipelinedRequestsInOneWriteAreAnsweredInOrder) {
  HttpServerThread srv(basic_routes);
  HttpClient c(srv.port());
  std::string batch;
  for (int i = 0; i < 100; ++i) batch += get("/n/" + std::to_string(i));
  ASSERT_TRUE(c.send_all(batch));
  for (int i = 0; i < 100; ++i) {
    auto r = c.read();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->body, std::to_string(i));
  }
}

TEST(HttpServer, Http10ClosesUnlessKeepAlive) {
  HttpServerThread srv(basic_routes);
  {
    HttpClient c(srv.port());
    c.send_all("GET /plaintext HTTP/1.0\r\n\r\n");
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("Connection"), "close");
    EXPECT_TRUE(c.at_eof());
  }
  HttpClient c(srv.port());
  for (int i = 0; i < 2; ++i) {
    c.send_all("GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("Connection"), "keep-alive");
    EXPECT_EQ(r->body, "Hello, World!");
  }
}

TEST(HttpServer, ConnectionCloseIsHonouredAndLaterRequestsIgnored) {
  HttpServerThread srv(basic_routes);
  HttpClient c(srv.port());
  c.send_all(get("/n/1", "Connection: close\r\n") + get("/n/2"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "1");
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_TRUE(c.at_eof());
  EXPECT_EQ(srv.counters().requests, 1u);
}

TEST(HttpServer, HeadHasTheGetLengthAndNoBody) {
  HttpServerThread srv(basic_routes);
  HttpClient c(srv.port());
  c.send_all("HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n" + get("/n/7"));
  auto h = c.read(/*head_request=*/true);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->header("Content-Length"), "13");
  auto next = c.read();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body, "7") << "no body bytes after the HEAD answer";
}

TEST(HttpServer, AbsoluteFormAndPercentDecoding) {
  HttpServerThread srv(basic_routes);
  auto r = raw_exchange(srv.port(), "GET http://example.com/plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "Hello, World!");
  r = raw_exchange(srv.port(), get("/files/a%20b?x=1%202"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "a b|/files/a%20b|x=1%202") << "decoded capture, raw path and raw query";
  // Routing sees the decoded path: an encoded slash separates segments like a plain one.
  r = raw_exchange(srv.port(), get("/files/a%2Fb"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  expect_refused(srv.port(), get("/files/a%00b"), 400);
  expect_refused(srv.port(), get("/files/a%zzb"), 400);
}

TEST(HttpServer, NotFoundAndMethodNotAllowedWithAllow) {
  HttpServerThread srv(basic_routes);
  auto r = raw_exchange(srv.port(), get("/nothing/here"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = raw_exchange(srv.port(), "DELETE /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("Allow"), "GET, HEAD");
}

TEST(HttpServer, ContentLengthBodiesSmallAndLargeInPieces) {
  HttpServerThread srv(basic_routes);
  for (const std::size_t size : {std::size_t{5}, std::size_t{20'000}, std::size_t{900'000}}) {
    HttpClient c(srv.port());
    const std::string body = random_bytes(size, static_cast<unsigned>(size));
    const std::string req = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-test\r\nContent-Length: " +
                            std::to_string(size) + "\r\n\r\n" + body;
    // Sent in three pieces with pauses: the body spans reads.
    const std::size_t a = req.size() / 3;
    c.send_all(req.substr(0, a));
    std::this_thread::sleep_for(5ms);
    c.send_all(req.substr(a, a));
    std::this_thread::sleep_for(5ms);
    c.send_all(req.substr(2 * a));
    auto r = c.read();
    ASSERT_TRUE(r) << size;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("Content-Type"), "application/x-test");
    EXPECT_TRUE(r->body == body) << "body of " << size << " bytes comes back intact";
  }
}

TEST(HttpServer, ChunkedUploadWithExtensionsAndTrailers) {
  HttpServerThread srv(basic_routes);
  HttpClient c(srv.port());
  c.send_all("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n");
  std::this_thread::sleep_for(5ms);
  c.send_all("1\r\n \r\n6\r\nworld!\r\n0\r\nX-Trailer: yes\r\n\r\n" + get("/n/3"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello world!");
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "3") << "the request after the chunked one is read correctly";
}

TEST(HttpServer, ExpectContinueGetsAnInterimAnswerThenTheResponse) {
  HttpServerThread srv(basic_routes);
  HttpClient c(srv.port());
  c.send_all("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  auto interim = c.read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status_line, "HTTP/1.1 100 Continue");
  c.send_all("abcde");
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "abcde");
  // Too large: the final answer comes instead of 100 Continue.
  HttpClient c2(srv.port());
  c2.send_all("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\nExpect: 100-continue\r\n\r\n");
  r = c2.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(c2.at_eof());
}

TEST(HttpServer, LimitsAnswerTheirStatusAndClose) {
  HttpServerThread srv(basic_routes);
  expect_refused(srv.port(), get("/" + std::string(9000, 'a')), 414);
  expect_refused(srv.port(), get("/plaintext", "X-Big: " + std::string(17 * 1024, 'b') + "\r\n"), 431);
  std::string many;
  for (int i = 0; i < 101; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  expect_refused(srv.port(), get("/plaintext", many), 431);
  expect_refused(srv.port(), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n", 413);
  expect_refused(srv.port(), "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world", 413);
  expect_refused(srv.port(),
                 "POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n",
                 413);
  EXPECT_GE(srv.counters().protocol_errors, 6u);
}

TEST(HttpServer, APerRouteLimitMayExceedTheDefault) {
  HttpServerThread srv(basic_routes);
  HttpClient c(srv.port());
  const std::string body(2 * 1024 * 1024, 'x');
  c.send_all("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, std::to_string(body.size()));
}

TEST(HttpServer, MalformedRequestsAre400AndSmugglingIsRefused) {
  HttpServerThread srv(basic_routes);
  expect_refused(srv.port(), "GET /plaintext HTTP/1.1\nHost: t\n\n", 400);                       // bare LF
  expect_refused(srv.port(), "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-A: b\r\n c\r\n\r\n", 400);  // obs-fold
  expect_refused(srv.port(), "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-A: b\x01\r\n\r\n", 400);   // control char
  expect_refused(srv.port(), "GET /plaintext HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n", 400);
  expect_refused(srv.port(), "GET /plaintext HTTP/2.0\r\nHost: t\r\n\r\n", 505);
  expect_refused(srv.port(), "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
  expect_refused(srv.port(),
                 "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                 400);
  expect_refused(srv.port(), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                 400);
  expect_refused(srv.port(), "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400);
}

TEST(HttpServer, ARefusedClientStillUploadingReadsTheStatus) {
  // The client sends a 4 MiB body to a route that takes 10 bytes, without waiting: the
  // server answers 413 at once and lingers, so the client's upload is not reset and it
  // reads the answer.
  HttpServerThread srv(basic_routes);
  HttpClient c(srv.port());
  const std::string body(4 * 1024 * 1024, 'u');
  std::thread writer([&] {
    c.send_all("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
    c.send_all(body);
    ::shutdown(c.fd(), SHUT_WR);
  });
  auto r = c.read();
  writer.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST(HttpServer, SlowHeadsGet408AndSlowBodiesToo) {
  HttpServerThread srv(basic_routes, {.header_timeout = 200ms, .body_timeout = 200ms});
  HttpClient slow_head(srv.port());
  slow_head.send_all("GET /plaintext HTTP/1.1\r\nHost: t\r\n");  // never finishes
  HttpClient slow_body(srv.port());
  slow_body.send_all("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + std::string(30000, 'x'));
  HttpClient slow_small(srv.port());
  slow_small.send_all("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc");
  // Meanwhile a normal client is served at once.
  auto ok = raw_exchange(srv.port(), get("/plaintext"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  for (HttpClient* c : {&slow_head, &slow_body, &slow_small}) {
    auto r = c->read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408);
    EXPECT_TRUE(c->at_eof());
  }
  EXPECT_EQ(srv.counters().header_timeouts, 2u);
  EXPECT_EQ(srv.counters().body_timeouts, 1u);
}

TEST(HttpServer, ATrickledHeadIsStillTimedFromItsFirstByte) {
  HttpServerThread srv(basic_routes, {.header_timeout = 300ms});
  HttpClient c(srv.port());
  const std::string req = get("/plaintext", "X-Slow: " + std::string(200, 's') + "\r\n");
  const auto start = std::chrono::steady_clock::now();
  std::size_t i = 0;
  // One byte every 10 ms would take over 2 s; keep trickling until the answer shows up.
  // A server that timed from the latest byte would never answer while bytes keep coming.
  auto answered = [&] {
    pollfd p{c.fd(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  };
  while (i < req.size() && !answered() && c.send_all(req.substr(i, 1))) {
    ++i;
    std::this_thread::sleep_for(10ms);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(i, req.size()) << "cut off before the head was complete";
  EXPECT_LT(elapsed, 1500ms);
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
}

// ---- deferred responses -----------------------------------------------------------------

TEST(HttpServer, DeferredAnswersCompletedOutOfOrderFromTbbArriveInOrder) {
  tbb::task_group workers;
  std::mutex m;
  std::vector<std::pair<int, http::DeferredResponse>> parked;
  HttpServerThread srv([&](http::Server& s) {
    basic_routes(s);
    s.get("/d/:i", [&](http::Request& req, http::Response& res) {
      const std::lock_guard<std::mutex> lock(m);
      parked.emplace_back(std::stoi(std::string(req.param("i"))), res.defer());
    });
  });
  HttpClient c(srv.port());
  std::string batch;
  for (int i = 0; i < 10; ++i) {
    batch += get("/d/" + std::to_string(i));
    batch += get("/n/" + std::to_string(100 + i));  // immediate answers between the deferred ones
  }
  c.send_all(batch);
  ASSERT_TRUE(eventually([&] {
    const std::lock_guard<std::mutex> lock(m);
    return parked.size() == 10;
  }));
  // Complete them on TBB workers in reverse order, each a little after the previous.
  {
    const std::lock_guard<std::mutex> lock(m);
    for (auto& [i, d] : parked) {
      // task_group runs a const functor: the DeferredResponse travels in a shared_ptr.
      workers.run([i = i, d = std::make_shared<http::DeferredResponse>(std::move(d))] {
        std::this_thread::sleep_for(std::chrono::milliseconds(5 * (10 - i)));
        d->status(201).header("X-Worker", "tbb");
        d->json("{\"i\":" + std::to_string(i) + "}");
        EXPECT_THROW(d->text("again"), std::logic_error) << "completed exactly once";
      });
    }
  }
  workers.wait();
  for (int i = 0; i < 10; ++i) {
    auto r = c.read();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 201);
    EXPECT_EQ(r->header("X-Worker"), "tbb");
    EXPECT_EQ(r->body, "{\"i\":" + std::to_string(i) + "}");
    r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, std::to_string(100 + i));
  }
  EXPECT_EQ(srv.counters().deferred_completed, 10u);
}

TEST(HttpServer, DeferredHooksRunOnTheIoThreadAndSeeTheBody) {
  std::mutex m;
  std::vector<http::DeferredResponse> parked;
  std::vector<std::string> seen;  // written by the hook on the reactor thread only
  std::thread::id hook_thread;
  HttpServerThread* self = nullptr;
  HttpServerThread srv([&](http::Server& s) {
    s.get("/cmd/:c", [&](http::Request& req, http::Response& res) {
      auto d = res.defer();
      std::thread([d = std::move(d), c = std::string(req.param("c"))]() mutable { d.text("did " + c); }).detach();
    });
    s.add_deferred_hook([&](const http::DeferredView& v) {
      seen.emplace_back(v.body);
      hook_thread = std::this_thread::get_id();
    });
  });
  self = &srv;
  HttpClient c(srv.port());
  c.send_all(get("/cmd/join") + get("/cmd/ready"));
  auto a = c.read();
  auto b = c.read();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->body, "did join");
  EXPECT_EQ(b->body, "did ready");
  srv.stop();
  EXPECT_EQ(hook_thread, self->reactor_thread());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE((seen[0] == "did join" && seen[1] == "did ready") || (seen[0] == "did ready" && seen[1] == "did join"));
  (void)parked;
  (void)m;
}

TEST(HttpServer, CompletingAfterTheClientLeftIsACountedNoOp) {
  std::mutex m;
  std::vector<http::DeferredResponse> parked;
  HttpServerThread srv([&](http::Server& s) {
    s.get("/later", [&](http::Request&, http::Response& res) {
      const std::lock_guard<std::mutex> lock(m);
      parked.push_back(res.defer());
    });
  });
  {
    HttpClient c(srv.port());
    c.send_all(get("/later"));
    ASSERT_TRUE(eventually([&] {
      const std::lock_guard<std::mutex> lock(m);
      return parked.size() == 1;
    }));
    c.reset();  // the client leaves (a FIN alone would be a half-close: answers still go out)
  }
  ASSERT_TRUE(eventually([&] { return srv.reactor().counters().connections_open == 0; }));
  parked[0].text("too late");
  EXPECT_TRUE(eventually([&] { return srv.counters().deferred_dropped == 1; }));
  EXPECT_EQ(srv.counters().deferred_completed, 0u);
}

TEST(HttpServer, ADroppedDeferredResponseAnswers500) {
  HttpServerThread srv([&](http::Server& s) {
    s.get("/forgot", [](http::Request&, http::Response& res) {
      http::DeferredResponse d = res.defer();
      // d is destroyed here uncompleted
    });
    basic_routes(s);
  });
  HttpClient c(srv.port());
  c.send_all(get("/forgot") + get("/n/1"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "1") << "the connection goes on";
  EXPECT_EQ(srv.counters().deferred_abandoned, 1u);
}

TEST(HttpServer, TooManyOutstandingAnswersPauseReadingUntilTheyDrain) {
  std::mutex m;
  std::vector<http::DeferredResponse> parked;
  HttpServerThread srv(
      [&](http::Server& s) {
        s.get("/d/:i", [&](http::Request& req, http::Response& res) {
          auto d = res.defer();
          d.header("X-I", req.param("i"));
          const std::lock_guard<std::mutex> lock(m);
          parked.push_back(std::move(d));
        });
      },
      {.max_outstanding = 4});
  HttpClient c(srv.port());
  std::string batch;
  for (int i = 0; i < 20; ++i) batch += get("/d/" + std::to_string(i));
  c.send_all(batch);
  auto parked_count = [&] {
    const std::lock_guard<std::mutex> lock(m);
    return parked.size();
  };
  ASSERT_TRUE(eventually([&] { return parked_count() == 4; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(parked_count(), 4u) << "no more than max_outstanding requests are taken";
  EXPECT_GE(srv.counters().input_pauses, 1u);
  // Answer in waves; every answer arrives, in order.
  std::size_t done = 0;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(eventually([&] { return parked_count() > done; })) << i;
    {
      const std::lock_guard<std::mutex> lock(m);
      parked[done].text("ok");
    }
    ++done;
    auto r = c.read();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->header("X-I"), std::to_string(i));
  }
}

TEST(HttpServer, GracefulStopFinishesDeferredAnswersInFlight) {
  std::mutex m;
  std::vector<http::DeferredResponse> parked;
  HttpServerThread srv([&](http::Server& s) {
    s.get("/slow", [&](http::Request&, http::Response& res) {
      const std::lock_guard<std::mutex> lock(m);
      parked.push_back(res.defer());
    });
  });
  HttpClient c(srv.port());
  c.send_all(get("/slow"));
  ASSERT_TRUE(eventually([&] {
    const std::lock_guard<std::mutex> lock(m);
    return parked.size() == 1;
  }));
  srv.begin_stop();
  std::this_thread::sleep_for(100ms);
  {
    const std::lock_guard<std::mutex> lock(m);
    EXPECT_TRUE(parked[0].client_gone()) << "a stopping server cuts the lifelines of the answers it owes";
    parked[0].text("finished");
  }
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "finished");
  EXPECT_EQ(r->header("Connection"), "close") << "a stopping server announces that it closes";
  EXPECT_TRUE(c.at_eof());
  srv.join();
}

// ---- middleware, errors, streaming --------------------------------------------------------

TEST(HttpServer, MiddlewareRunsBeforeAndAfterAndMayAnswerEarly) {
  std::vector<std::string> order;
  HttpServerThread srv([&](http::Server& s) {
    basic_routes(s);
    s.before([&](http::Request& req, http::Response& res) {
      order.emplace_back("before " + std::string(req.path()));
      if (!req.header("Authorization")) res.status(401).header("WWW-Authenticate", "Bearer").text("no\n");
    });
    s.after([&](const http::Request&, http::Response& res) {
      order.emplace_back("after " + std::to_string(res.status_code()));
      res.header("X-Trace", "1");
    });
  });
  auto r = raw_exchange(srv.port(), get("/plaintext"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->header("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(r->header("X-Trace"), "1");
  r = raw_exchange(srv.port(), get("/plaintext", "Authorization: x\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("X-Trace"), "1");
  srv.stop();
  EXPECT_EQ(order, (std::vector<std::string>{"before /plaintext", "after 401", "before /plaintext", "after 200"}));
}

TEST(HttpServer, AThrowingHandlerAnswers500AndClosesOnlyItsConnection) {
  HttpServerThread srv([&](http::Server& s) {
    basic_routes(s);
    s.get("/boom", [](http::Request&, http::Response&) { throw std::runtime_error("kaboom"); });
    s.get("/silent", [](http::Request&, http::Response&) {});
    s.get("/bad-header", [](http::Request&, http::Response& res) { res.header("X-A", "b\r\nInjected: 1").text("x"); });
  });
  HttpClient other(srv.port());
  for (const char* path : {"/boom", "/silent", "/bad-header"}) {
    HttpClient c(srv.port());
    c.send_all(get(path) + get("/n/1"));
    auto r = c.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500) << path;
    EXPECT_FALSE(r->header("Injected"));
    EXPECT_TRUE(c.at_eof()) << path;
  }
  other.send_all(get("/n/2"));
  auto r = other.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "2");
  EXPECT_EQ(srv.counters().handler_errors, 3u);
}

TEST(HttpServer, LargeBodiesAreStreamedIntact) {
  const std::string big = random_bytes(6 * 1024 * 1024, 77);
  HttpServerThread srv(
      [&](http::Server& s) {
        s.get("/big", [&](http::Request&, http::Response& res) { res.bytes(big); });
        s.get("/gen", [](http::Request&, http::Response& res) {
          res.stream("text/plain", [n = 0](http::BodyWriter& w) mutable {
            w.write("line " + std::to_string(n) + "\n");
            return ++n < 100000;
          });
        });
        basic_routes(s);
      },
      {}, {.max_output_bytes = 1024 * 1024});  // well below the body sizes: streaming must pace
  HttpClient c(srv.port());
  c.send_all(get("/big") + get("/gen") + get("/n/5"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Content-Length"), std::to_string(big.size()));
  EXPECT_TRUE(r->body == big);
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Transfer-Encoding"), "chunked");
  EXPECT_EQ(r->body.substr(0, 14), "line 0\nline 1\n");
  EXPECT_EQ(r->body.substr(r->body.size() - 11), "line 99999\n");
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "5");
  // HTTP/1.0 gets a close-delimited stream.
  HttpClient c10(srv.port());
  c10.send_all("GET /gen HTTP/1.0\r\n\r\n");
  r = c10.read();
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->header("Transfer-Encoding"));
  EXPECT_EQ(r->body.substr(r->body.size() - 11), "line 99999\n");
}

TEST(HttpServer, ServerOptionsAreChecked) {
  rt::Reactor reactor;
  ra::Stage stage(reactor);
  EXPECT_THROW(http::Server(stage, {.header_timeout = 0ms}), std::invalid_argument);
  EXPECT_THROW(http::Server(stage, {.max_outstanding = 0}), std::invalid_argument);
  EXPECT_THROW(http::Server(stage, {.server_header = "a\r\nb"}), std::invalid_argument);
  http::Server s(stage);
  EXPECT_THROW(s.get("nope", [](http::Request&, http::Response&) {}), std::invalid_argument);
  EXPECT_THROW(s.route("BAD METHOD", "/", [](http::Request&, http::Response&) {}), std::invalid_argument);
  EXPECT_THROW(s.get("/", nullptr), std::invalid_argument);
}

// ---- curl ---------------------------------------------------------------------------------

class HttpCurl : public ::testing::Test {
 protected:
  void SetUp() override {
    if (run_command("curl --version >/dev/null 2>&1").first != 0) GTEST_SKIP() << "curl is not installed";
  }
  std::string url(std::uint16_t port, std::string_view path) {
    return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
  }
};

TEST_F(HttpCurl, GetHeadHttp10AndReuse) {
  HttpServerThread srv(basic_routes);
  auto [rc, out] = run_command("curl -sS " + url(srv.port(), "/plaintext"));
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, "Hello, World!");
  std::tie(rc, out) = run_command("curl -sS -I " + url(srv.port(), "/plaintext"));
  EXPECT_NE(out.find("Content-Length: 13"), std::string::npos) << out;
  std::tie(rc, out) = run_command("curl -sS --http1.0 -i " + url(srv.port(), "/n/4"));
  EXPECT_NE(out.find("Connection: close"), std::string::npos) << out;
  std::tie(rc, out) = run_command("curl -sS -v " + url(srv.port(), "/n/1") + " " + url(srv.port(), "/n/2") + " 2>&1");
  EXPECT_NE(out.find("Re-using existing connection"), std::string::npos) << out;
  EXPECT_EQ(srv.counters().connections, 4u) << "the two URLs of the last run shared a connection";
}

TEST_F(HttpCurl, ChunkedUploadAndExpectContinue) {
  HttpServerThread srv(basic_routes);
  const std::string file = ::testing::TempDir() + "ringactor_upload.bin";
  {
    FILE* f = std::fopen(file.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    const std::string data = random_bytes(1536 * 1024, 3);
    std::fwrite(data.data(), 1, data.size(), f);
    std::fclose(f);
  }
  // 1.5 MiB: above the 1 MiB default, so /big; curl sends Expect: 100-continue for it.
  auto [rc, out] = run_command("curl -sS -v --data-binary @" + file + " " + url(srv.port(), "/big") + " 2>&1");
  EXPECT_EQ(rc, 0);
  EXPECT_NE(out.find("HTTP/1.1 100 Continue"), std::string::npos) << out.substr(0, 2000);
  EXPECT_NE(out.find("1572864"), std::string::npos);
  std::tie(rc, out) = run_command("curl -sS -H 'Transfer-Encoding: chunked' --data-binary @" + file + " " +
                                  url(srv.port(), "/big"));
  EXPECT_EQ(out, "1572864");
  std::tie(rc, out) = run_command("curl -sS -o /dev/null -w '%{http_code}' --data-binary @" + file + " " +
                                  url(srv.port(), "/echo"));
  EXPECT_EQ(out, "413") << "over the default limit";
  std::remove(file.c_str());
}

}  // namespace

// ---- regressions from review --------------------------------------------------------------

namespace {
namespace regress {

TEST(HttpServerEdges, AStreamEndingInsideAFlushDoesNotResendOrCorrupt) {
  // A deferred answer holds back a stream that finishes in its first call and a plain
  // answer; completing the deferred one flushes all three, the stream's end re-entering
  // the flush.
  std::mutex m;
  std::vector<http::DeferredResponse> parked;
  HttpServerThread srv([&](http::Server& s) {
    basic_routes(s);
    s.get("/later", [&](http::Request&, http::Response& res) {
      const std::lock_guard<std::mutex> lock(m);
      parked.push_back(res.defer());
    });
    s.get("/short-stream", [](http::Request&, http::Response& res) {
      res.stream("text/plain", [](http::BodyWriter& w) {
        w.write("hi");
        return false;
      });
    });
  });
  HttpClient c(srv.port());
  c.send_all(get("/later") + get("/short-stream") + get("/n/9"));
  ASSERT_TRUE(eventually([&] {
    const std::lock_guard<std::mutex> lock(m);
    return parked.size() == 1;
  }));
  {
    const std::lock_guard<std::mutex> lock(m);
    parked[0].text("first");
  }
  auto a = c.read();
  auto b = c.read();
  auto d = c.read();
  ASSERT_TRUE(a && b && d);
  EXPECT_EQ(a->body, "first");
  EXPECT_EQ(b->body, "hi");
  EXPECT_EQ(d->body, "9");
  c.set_timeout(200ms);
  EXPECT_FALSE(c.read()) << "nothing is sent twice";
}

TEST(HttpServerEdges, AStreamThatWaitsForTheSocketDoesNotSpinTheReactor) {
  // The producer writes 256 KiB, then declines to write while those bytes are queued.
  HttpServerThread srv([&](http::Server& s) {
    basic_routes(s);
    s.get("/patient", [](http::Request&, http::Response& res) {
      res.stream("application/octet-stream", [sent = std::size_t{0}, declined = 0](http::BodyWriter& w) mutable {
        if (sent > 0 && declined < 3 && w.room() < 2 * 64 * 1024) {
          ++declined;  // "not yet": allowed while earlier bytes are still queued
          return true;
        }
        const std::string chunk(64 * 1024, static_cast<char>('a' + sent / (64 * 1024)));
        w.write(chunk);
        sent += chunk.size();
        return sent < 1024 * 1024;
      });
    });
  });
  HttpClient slow(srv.port());
  slow.send_all(get("/patient"));
  // While the slow client does not read, the reactor keeps serving others.
  auto other = raw_exchange(srv.port(), get("/n/1"));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->body, "1");
  auto r = slow.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.size(), 1024u * 1024);
  EXPECT_EQ(srv.counters().handler_errors, 0u);
}

TEST(HttpServerEdges, AnHttp10StreamEndsTheConnection) {
  HttpServerThread srv([&](http::Server& s) {
    basic_routes(s);
    s.get("/gen", [](http::Request&, http::Response& res) {
      res.stream("text/plain", [n = 0](http::BodyWriter& w) mutable {
        w.write("x");
        return ++n < 10;
      });
    });
  });
  HttpClient c(srv.port());
  c.send_all("GET /gen HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /n/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_EQ(r->body, "xxxxxxxxxx") << "close-delimited: nothing after the stream";
  // HEAD of a stream over HTTP/1.0 announces close and closes.
  HttpClient h(srv.port());
  h.send_all("HEAD /gen HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  r = h.read(/*head_request=*/true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_TRUE(h.at_eof());
}

TEST(HttpServerEdges, StatusRulesForDeferredStreamsAndHeaders) {
  std::mutex m;
  std::vector<http::DeferredResponse> parked;
  HttpServerThread srv([&](http::Server& s) {
    s.get("/accepted", [&](http::Request&, http::Response& res) {
      res.status(202);
      const std::lock_guard<std::mutex> lock(m);
      parked.push_back(res.defer());
    });
    s.get("/nocontent-stream", [](http::Request&, http::Response& res) {
      res.status(204).stream("text/plain", [](http::BodyWriter& w) {
        w.write("must not be sent");
        return false;
      });
    });
    s.get("/inject", [](http::Request&, http::Response& res) { res.bytes("x", "text/plain\r\nSet-Cookie: a=b"); });
    s.get("/interim", [](http::Request&, http::Response& res) { res.status(101).text("x"); });
    s.get("/ctype-header", [](http::Request&, http::Response& res) { res.header("Content-Type", "a/b").text("x"); });
    // As long as the last Content-Type checked ("text/plain"), equal but for its last byte:
    // the short compare that skips re-checking an unchanged one must see the difference.
    s.get("/plain", [](http::Request&, http::Response& res) { res.bytes("ok", "text/plain"); });
    s.get("/inject-last", [](http::Request&, http::Response& res) { res.bytes("x", "text/plai\n"); });
    basic_routes(s);
  });
  HttpClient c(srv.port());
  c.send_all(get("/accepted") + get("/nocontent-stream") + get("/n/3"));
  ASSERT_TRUE(eventually([&] {
    const std::lock_guard<std::mutex> lock(m);
    return parked.size() == 1;
  }));
  {
    const std::lock_guard<std::mutex> lock(m);
    parked[0].text("queued");
  }
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202) << "the status set before defer() is kept";
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_FALSE(r->header("Transfer-Encoding"));
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "3") << "no stray body bytes after the 204";
  for (const char* path : {"/inject", "/interim", "/ctype-header", "/inject-last"}) {
    auto plain = raw_exchange(srv.port(), get("/plain"));
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->status, 200);
    auto e = raw_exchange(srv.port(), get(path));
    ASSERT_TRUE(e) << path;
    EXPECT_EQ(e->status, 500) << path;
    EXPECT_FALSE(e->header("Set-Cookie"));
  }
}

TEST(HttpServerEdges, AHeadTimeoutAfterALargeBodyIsNotStretchedToTheBodyTimeout) {
  HttpServerThread srv(basic_routes, {.header_timeout = 200ms, .body_timeout = 20s});
  HttpClient c(srv.port());
  const std::string body(100 * 1024, 'b');
  c.send_all("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.size(), body.size());
  const auto start = std::chrono::steady_clock::now();
  c.send_all("GET /plaintext HTTP/1.1\r\n");
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(HttpServerEdges, ADrippedBodyIsCutByTheMinimumRate) {
  HttpServerThread srv(basic_routes, {.body_timeout = 300ms, .min_body_rate = 1000, .body_rate_grace = 300ms});
  HttpClient c(srv.port());
  c.send_all("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + std::string(100, 'a'));
  // One byte every 100 ms: progress within body_timeout, far below 1000 bytes/s.
  const auto start = std::chrono::steady_clock::now();
  auto answered = [&] {
    pollfd p{c.fd(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  };
  while (!answered() && std::chrono::steady_clock::now() - start < 10s) {
    c.send_all("a");
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_EQ(srv.counters().body_timeouts, 1u);
}

TEST(HttpServerEdges, PipelinedLargeAnswersPauseInputInsteadOfOverflowing) {
  const std::string blob = random_bytes(200 * 1024, 5);  // under stream_threshold: queued whole
  HttpServerThread srv([&](http::Server& s) {
    s.get("/blob", [&](http::Request&, http::Response& res) { res.bytes(blob); });
  });
  HttpClient c(srv.port());
  std::string batch;
  for (int i = 0; i < 40; ++i) batch += get("/blob");  // 8 MB of answers, twice the output cap
  c.send_all(batch);
  std::this_thread::sleep_for(100ms);  // let the server run ahead of the reader
  for (int i = 0; i < 40; ++i) {
    auto r = c.read();
    ASSERT_TRUE(r) << i;
    EXPECT_TRUE(r->body == blob) << i;
  }
  EXPECT_GE(srv.counters().input_pauses, 1u);
  EXPECT_EQ(srv.reactor().counters().output_overflows, 0u);
}

TEST(HttpServerEdges, SetupRulesAreEnforced) {
  {
    rt::Reactor reactor({.max_input_carry = 8 * 1024});
    ra::Stage stage(reactor);
    EXPECT_THROW(http::Server(stage, http::ServerOptions{}), std::invalid_argument) << "heads could outgrow the carry";
  }
  rt::Reactor reactor;
  ra::Stage stage(reactor);
  http::Server s(stage);
  s.listen({.port = 0});
  EXPECT_THROW(s.get("/late", [](http::Request&, http::Response& res) { res.end(); }), std::logic_error);
}

}  // namespace regress
}  // namespace
