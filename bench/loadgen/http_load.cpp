// http mode: keep-alive and pipelined HTTP/1.1 load. Each connection sends a batch of
// `depth` requests (one send of a span of the shared request tape, no copy), waits for all
// their answers, and sends the next batch. An answer's latency runs from the enter that
// sent its batch to the enter that received it. No allocation per request.
#include <fstream>
#include <iterator>
#include <sstream>

#include "http_response_parser.hpp"
#include "options.hpp"
#include "protocol.hpp"
#include "worker.hpp"

namespace loadgen {
namespace {

bool iprefix(const std::string& s, std::size_t at, const char* lower) {
  for (std::size_t i = 0; lower[i] != '\0'; ++i)
    if (at + i >= s.size() || std::tolower(static_cast<unsigned char>(s[at + i])) != lower[i]) return false;
  return true;
}

class HttpLoad final : public Protocol {
 public:
  HttpLoad(Worker& w, const Options& o, const RequestSet& rs, std::uint64_t budget)
      : w_(w), rs_(rs), depth_(o.depth), budget_(budget), st_(w.size()) {
    ready_.reserve(w.size());
    for (std::uint32_t c = 0; c < w.size(); ++c) st_[c].pos = (w.global_id(c) * o.depth) % rs.k;
  }

  void on_connected(std::uint32_t c) override {
    w_.established(c);
    if (w_.started()) ready_.push_back(c);
  }

  void start(std::int64_t) override {
    for (std::uint32_t c = 0; c < w_.size(); ++c)
      if (w_.open(c)) ready_.push_back(c);
  }

  void flush(std::int64_t now) override {
    for (const std::uint32_t c : ready_) {
      State& s = st_[c];
      if (s.expect != 0 || !w_.open(c)) continue;
      std::uint32_t b = depth_;
      if (budget_ != 0) {
        const std::uint64_t left = budget_ - answered_ - in_flight_;
        if (left == 0) continue;
        if (left < b) b = static_cast<std::uint32_t>(left);
      }
      s.batch_pos = s.pos;
      s.expect = b;
      s.batch = b;
      s.sent_ns = now;
      s.pos = (s.pos + b) % rs_.k;
      in_flight_ += b;
      w_.counters().sent += b;
      const char* p = rs_.tape.data() + rs_.off[s.batch_pos];
      w_.send(c, p, rs_.off[s.batch_pos + b] - rs_.off[s.batch_pos], false);
    }
    ready_.clear();
  }

  Verdict on_data(std::uint32_t c, const char* p, std::size_t n) override {
    State& s = st_[c];
    Sink sink{*this, s};
    const HttpResponseParser::Error e = s.parser.feed(p, n, sink);
    count(s, sink.answers);
    if (sink.unexpected) {
      w_.error(ErrorKind::BadResponse, "an answer to no request");
      return Verdict::Close;
    }
    if (e != HttpResponseParser::Error::Ok) {
      if (e == HttpResponseParser::Error::BadStatusLine)
        w_.error(ErrorKind::BadStatusLine, "not an HTTP/1.x status line");
      else
        w_.error(ErrorKind::BadResponse, error_text(e));
      return Verdict::Close;
    }
    if (s.close) return Verdict::CloseClean;  // the server said so; owed answers are not errors
    if (s.expect == 0) ready_.push_back(c);
    return Verdict::Keep;
  }

  Verdict on_eof(std::uint32_t c) override {
    State& s = st_[c];
    Sink sink{*this, s};
    const HttpResponseParser::Eof e = s.parser.finish(sink);
    count(s, sink.answers);
    if (e == HttpResponseParser::Eof::Truncated || (s.expect != 0 && !s.close)) {
      w_.error(ErrorKind::Closed, "the server closed with answers owed");
      return Verdict::Close;
    }
    return Verdict::CloseClean;
  }

  void on_closed(std::uint32_t c) override {
    State& s = st_[c];
    in_flight_ -= s.expect;
    s.pos = (s.batch_pos + s.batch - s.expect) % rs_.k;  // resend what went unanswered
    s.expect = s.batch = 0;
    s.close = false;
    s.parser.reset();
  }

  bool waiting(std::uint32_t c) const override { return st_[c].expect != 0; }
  bool finished() const override { return budget_ != 0 && answered_ >= budget_; }

 private:
  struct State {
    HttpResponseParser parser;
    std::int64_t sent_ns = 0;
    std::uint32_t pos = 0;        // the next batch starts at request pos of the set
    std::uint32_t batch_pos = 0;  // the current batch started there
    std::uint32_t batch = 0;      // requests in the current batch
    std::uint32_t expect = 0;     // answers still owed for it
    bool close = false;           // an answer said Connection: close
  };
  struct Sink {
    HttpLoad& h;
    State& s;
    std::uint64_t answers = 0;  // all in one on_data share one latency: one batch, one now
    bool unexpected = false;
    bool head_request() const {
      const std::uint32_t i = s.batch_pos + (s.batch - s.expect);
      return h.rs_.head[i % h.rs_.k] != 0;
    }
    void on_response(unsigned status, bool close) {
      if (s.expect == 0) {
        unexpected = true;
        return;
      }
      --s.expect;
      ++answers;
      ++h.w_.counters().status[status < 600 ? status / 100 : 0];
      if (close) s.close = true;
    }
  };

  void count(const State& s, std::uint64_t n) {
    if (n == 0) return;
    in_flight_ -= n;
    answered_ += n;
    w_.counters().answers += n;
    w_.latency().record_n(static_cast<std::uint64_t>(w_.now() - s.sent_ns), n);
  }

  static const char* error_text(HttpResponseParser::Error e) {
    switch (e) {
      case HttpResponseParser::Error::BadHeader:
        return "bad Content-Length";
      case HttpResponseParser::Error::BadChunk:
        return "bad chunked body";
      case HttpResponseParser::Error::TooLarge:
        return "answer head over 1 MiB";
      case HttpResponseParser::Error::Upgrade:
        return "101 Switching Protocols";
      default:
        return "bad answer";
    }
  }

  Worker& w_;
  const RequestSet& rs_;
  std::uint32_t depth_;
  std::uint64_t budget_;  // this worker's share of --requests; 0: by duration
  std::uint64_t answered_ = 0;
  std::uint64_t in_flight_ = 0;
  std::vector<State> st_;
  std::vector<std::uint32_t> ready_;  // connections whose next batch is due
};

}  // namespace

std::vector<std::string> split_raw_requests(std::string text) {
  if (text.find('\r') == std::string::npos) {  // LF-only file: make the lines CRLF
    std::string crlf;
    crlf.reserve(text.size() + text.size() / 16);
    for (const char ch : text) {
      if (ch == '\n') crlf += '\r';
      crlf += ch;
    }
    text.swap(crlf);
  }
  std::vector<std::string> out;
  std::size_t at = 0;
  for (;;) {
    while (at < text.size() && (text[at] == '\r' || text[at] == '\n')) ++at;
    if (at >= text.size()) break;
    const std::size_t end = text.find("\r\n\r\n", at);
    if (end == std::string::npos)
      throw UsageError("request file: request " + std::to_string(out.size() + 1) +
                       " has no blank line after its headers");
    std::size_t body = 0;
    for (std::size_t line = text.find("\r\n", at); line < end; line = text.find("\r\n", line + 2)) {
      if (iprefix(text, line + 2, "content-length:"))
        body = std::strtoull(text.c_str() + line + 17, nullptr, 10);
      if (iprefix(text, line + 2, "transfer-encoding:"))
        throw UsageError("request file: chunked request bodies are not supported; use Content-Length");
    }
    const std::size_t stop = end + 4 + body;
    if (stop > text.size())
      throw UsageError("request file: request " + std::to_string(out.size() + 1) +
                       " is shorter than its Content-Length");
    const std::string first = text.substr(at, text.find("\r\n", at) - at);
    if (first.find(" HTTP/1.") == std::string::npos)
      throw UsageError("request file: '" + first.substr(0, 80) + "' is not an HTTP/1.x request line");
    out.push_back(text.substr(at, stop - at));
    at = stop;
  }
  if (out.empty()) throw UsageError("request file: no requests in it");
  return out;
}

RequestSet build_request_set(const Options& o) {
  std::vector<std::string> reqs;
  if (!o.request_file.empty()) {
    std::ifstream in(o.request_file, std::ios::binary);
    if (!in) throw UsageError("cannot read --request-file " + o.request_file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    reqs = split_raw_requests(std::move(text));
  } else {
    std::vector<std::string> paths = o.paths;
    if (paths.empty()) paths.push_back(o.path);
    for (const std::string& p : paths) {
      if (p.empty() || p[0] != '/') throw UsageError("--path must start with /: '" + p + "'");
      std::string r = o.method + " " + p + " HTTP/1.1\r\nHost: " + o.host_header + "\r\n";
      for (const std::string& h : o.headers) {
        if (h.find(':') == std::string::npos)
          throw UsageError("--header needs 'Name: value', got '" + h + "'");
        r += h + "\r\n";
      }
      r += "\r\n";
      reqs.push_back(std::move(r));
    }
  }
  RequestSet rs;
  rs.k = static_cast<std::uint32_t>(reqs.size());
  const std::size_t total = rs.k + o.depth;
  rs.off.reserve(total + 1);
  for (std::size_t i = 0; i < total; ++i) {
    const std::string& r = reqs[i % rs.k];
    rs.off.push_back(static_cast<std::uint32_t>(rs.tape.size()));
    rs.tape += r;
    if (rs.tape.size() > (1u << 31)) throw UsageError("request set too large (over 2 GiB with --depth)");
  }
  rs.off.push_back(static_cast<std::uint32_t>(rs.tape.size()));
  for (const std::string& r : reqs) rs.head.push_back(r.rfind("HEAD ", 0) == 0 ? 1 : 0);
  return rs;
}

std::unique_ptr<Protocol> make_http_load(Worker& w, const Options& o, const RequestSet& rs,
                                         std::uint64_t budget) {
  return std::make_unique<HttpLoad>(w, o, rs, budget);
}

}  // namespace loadgen
