// arena mode (arena_bots): each connection is a bot of demos/arena. It upgrades, joins the
// lobby ({"t":"join"}), and in every round it is seated in sends an input every
// --input-interval (+-25%, a random point of the map) until the result; when its room
// closes it queues again. What it measures:
//   latency  an input's send until the first state frame whose seat line acknowledges it
//            (the seat's last applied input seq >= the input's): input to visible effect;
//   jitter   |gap between two state frames - the room's tick|, while playing;
//   answers  state frames received (frames per second, per player);
//   bytes    received, per player per second.
// A state frame of an unknown layout, a malformed one, an error event or a close from the
// server are protocol errors (counted; the exit status is 1).
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "options.hpp"
#include "protocol.hpp"
#include "worker.hpp"
#include "ws_frame.hpp"
#include "ws_handshake.hpp"

namespace loadgen {
namespace {

constexpr std::size_t kHead = 2048;  // a state frame's header and seat lines; whole small events
using Parser = BasicWsFrameParser<kHead>;
constexpr std::size_t kOutstanding = 16;  // inputs awaiting their acknowledgement, per bot

// The number after "key": in a JSON text (our own server's events: no nesting tricks).
long json_number(std::string_view text, std::string_view key) {
  std::string k = "\"";
  k.append(key).append("\":");
  const std::size_t at = text.find(k);
  if (at == std::string_view::npos) return -1;
  long v = 0;
  bool any = false;
  for (std::size_t i = at + k.size(); i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    v = v * 10 + (text[i] - '0');
    any = true;
  }
  return any ? v : -1;
}

class ArenaLoad final : public Protocol {
 public:
  ArenaLoad(Worker& w, const Options& o) : w_(w), o_(o), st_(w.size()) {
    interval_ns_ = static_cast<std::int64_t>(o.input_interval_s * 1e9);
    dirty_.reserve(w.size());
  }

  void on_connected(std::uint32_t c) override {
    State& s = st_[c];
    std::uint64_t seed = w_.xorshift();
    const std::string key = ws_key(seed);
    s.accept = ws_accept(key);
    const std::string req = ws_upgrade_request(o_.path, o_.host_header, key);
    s.fill = 0;
    s.out[1].assign(req.begin(), req.end());
    w_.send(c, s.out[1].data(), static_cast<std::uint32_t>(s.out[1].size()), true);
  }

  void start(std::int64_t) override {}

  void flush(std::int64_t now) override {
    // Inputs that are due (a walk of this thread's bots; cheap beside the frames they get).
    if (w_.started() && !w_.draining() && now >= next_due_) {
      std::int64_t next = std::numeric_limits<std::int64_t>::max();
      for (std::uint32_t c = 0; c < st_.size(); ++c) {
        State& s = st_[c];
        if (!s.open || !s.playing) continue;
        if (now >= s.next_input) send_input(s, c, now);
        next = std::min(next, s.next_input);
      }
      next_due_ = next;
    }
    for (const std::uint32_t c : dirty_) {
      State& s = st_[c];
      s.dirty = false;
      if (!s.open || !w_.open(c)) continue;
      if (!w_.sending(c) && !s.out[s.fill].empty()) {
        std::vector<char>& b = s.out[s.fill];
        s.fill ^= 1;
        w_.send(c, b.data(), static_cast<std::uint32_t>(b.size()), true);
      }
    }
    dirty_.clear();
  }

  std::int64_t next_wake() const override { return next_due_; }

  void on_sent(std::uint32_t c) override {
    State& s = st_[c];
    s.out[s.fill ^ 1].clear();
    if (!s.out[s.fill].empty()) mark(c);
  }

  Verdict on_data(std::uint32_t c, const char* p, std::size_t n) override {
    State& s = st_[c];
    if (!s.open) {
      std::size_t used = 0;
      std::string why;
      switch (ws_take_answer(s.hs, s.accept, p, n, used, why)) {
        case UpgradeStep::kNeedMore:
          return Verdict::Keep;
        case UpgradeStep::kFailed:
          w_.error(ErrorKind::Handshake, why);
          return Verdict::Close;
        case UpgradeStep::kDone:
          break;
      }
      s.open = true;
      w_.established(c);
      join(s, c);
      if (used == n) return Verdict::Keep;
      p += used;
      n -= used;
    }
    Sink sink{*this, s, c, w_.now()};
    const Parser::Error e = s.parser.feed(p, n, sink);
    if (e != Parser::Error::Ok) {
      w_.error(ErrorKind::BadFrame, "a WebSocket frame that breaks RFC 6455");
      return Verdict::Close;
    }
    if (sink.bad) return Verdict::Close;
    if (sink.closed) {
      w_.error(ErrorKind::Closed, "the server sent a WebSocket close");
      return Verdict::Close;
    }
    return Verdict::Keep;
  }

  Verdict on_eof(std::uint32_t c) override {
    w_.error(st_[c].open ? ErrorKind::Closed : ErrorKind::Handshake, "the server closed the connection");
    return Verdict::Close;
  }

  void on_closed(std::uint32_t c) override {
    State& s = st_[c];
    s = State{};
  }

  bool waiting(std::uint32_t c) const override { return !st_[c].open; }

 private:
  struct State {
    Parser parser;
    std::vector<char> out[2];
    std::string hs;
    std::string accept;
    std::array<std::uint32_t, kOutstanding> sent_seq{};
    std::array<std::int64_t, kOutstanding> sent_at{};
    std::uint32_t outstanding = 0;  // entries in use, oldest first
    std::uint32_t input_seq = 0;
    std::int64_t next_input = std::numeric_limits<std::int64_t>::max();
    std::int64_t last_frame = 0;
    std::int64_t tick_ns = 50'000'000;
    int seat = -1;
    std::uint8_t last_phase = 0;
    std::uint8_t fill = 0;
    bool open = false;
    bool dirty = false;
    bool playing = false;
  };
  struct Sink {
    ArenaLoad& l;
    State& s;
    std::uint32_t c;
    std::int64_t now;
    bool closed = false;
    bool bad = false;
    void on_message(std::uint8_t op, const unsigned char* head, std::size_t head_len, std::uint64_t len) {
      if (bad) return;
      if (op == kWsText) {
        bad = !l.on_event(s, c, now, std::string_view(reinterpret_cast<const char*>(head), head_len));
      } else {
        bad = !l.on_frame(s, now, head, head_len, len);
      }
    }
    void on_control(std::uint8_t op, const unsigned char* p, std::size_t n) {
      if (op == kWsClose) closed = true;
      if (op == kWsPing) {
        l.append_frame(s, kWsPong, reinterpret_cast<const char*>(p), n);
        l.mark(c);
      }
    }
  };

  void join(State& s, std::uint32_t c) {
    const std::string msg = "{\"t\":\"join\",\"name\":\"bot" + std::to_string(w_.global_id(c)) + "\"}";
    append_frame(s, kWsText, msg.data(), msg.size());
    mark(c);
  }

  void send_input(State& s, std::uint32_t c, std::int64_t now) {
    const std::uint32_t seq = ++s.input_seq;
    const unsigned x = 100 + static_cast<unsigned>(w_.xorshift() % 801);
    const unsigned y = 100 + static_cast<unsigned>(w_.xorshift() % 801);
    char msg[96];
    const int n = std::snprintf(msg, sizeof msg, "{\"t\":\"input\",\"seq\":%u,\"x\":%u,\"y\":%u}", seq, x, y);
    append_frame(s, kWsText, msg, static_cast<std::size_t>(n));
    mark(c);
    ++w_.counters().sent;
    if (s.outstanding == kOutstanding) {  // the oldest was never acknowledged: forget it
      std::memmove(&s.sent_seq[0], &s.sent_seq[1], (kOutstanding - 1) * sizeof s.sent_seq[0]);
      std::memmove(&s.sent_at[0], &s.sent_at[1], (kOutstanding - 1) * sizeof s.sent_at[0]);
      --s.outstanding;
    }
    s.sent_seq[s.outstanding] = seq;
    s.sent_at[s.outstanding] = now;
    ++s.outstanding;
    // The next one in interval +-25%.
    const double spread = 0.75 + 0.5 * static_cast<double>(w_.xorshift() % 1000) / 1000.0;
    s.next_input = now + static_cast<std::int64_t>(static_cast<double>(interval_ns_) * spread);
  }

  bool on_event(State& s, std::uint32_t c, std::int64_t now, std::string_view text) {
    if (text.find("\"t\":\"seat\"") != std::string_view::npos) {
      s.seat = static_cast<int>(json_number(text, "seat"));
      const long tick = json_number(text, "tick_ms");
      if (tick > 0) s.tick_ns = tick * 1'000'000;
      s.playing = false;
      s.last_frame = 0;
      if (s.seat < 0) {
        w_.error(ErrorKind::BadPayload, "a seat event without its seat (or longer than the bots read)");
        return false;
      }
    } else if (text.find("\"t\":\"start\"") != std::string_view::npos) {
      s.playing = true;
      s.next_input = now + static_cast<std::int64_t>(w_.xorshift() % static_cast<std::uint64_t>(interval_ns_));
      next_due_ = std::min(next_due_, s.next_input);
    } else if (text.find("\"t\":\"result\"") != std::string_view::npos) {
      ++w_.counters().rounds;
      s.playing = false;
      s.outstanding = 0;
    } else if (text.find("\"t\":\"closed\"") != std::string_view::npos) {
      s.seat = -1;
      s.playing = false;
      if (!w_.draining()) join(s, c);  // the room ended: queue for the next one
    } else if (text.find("\"t\":\"error\"") != std::string_view::npos) {
      w_.error(ErrorKind::BadPayload, "the arena answered an error: " + std::string(text.substr(0, 200)));
      return false;
    }
    return true;  // welcome, queued, countdown, left: nothing to do
  }

  bool on_frame(State& s, std::int64_t now, const unsigned char* h, std::size_t head_len, std::uint64_t len) {
    if (len < 16 || h[0] != 1) {
      w_.error(ErrorKind::BadPayload, "a state frame of an unknown layout (" + std::to_string(len) + " bytes)");
      return false;
    }
    const std::size_t seats = h[13];
    if (len < 16 + seats * 8 || head_len < std::min<std::uint64_t>(len, 14 + seats * 8)) {
      w_.error(ErrorKind::BadPayload, "a state frame shorter than its seat lines");
      return false;
    }
    Counters& ct = w_.counters();
    ++ct.answers;
    const std::uint8_t phase = h[12];
    // Gaps between two frames of play only (the countdown sends one frame a second).
    if (phase == 1 && s.last_phase == 1 && s.last_frame != 0) {
      const std::int64_t gap = now - s.last_frame;
      w_.jitter().record(static_cast<std::uint64_t>(std::llabs(gap - s.tick_ns)));
    }
    s.last_frame = now;
    s.last_phase = phase;
    if (s.seat < 0 || static_cast<std::size_t>(s.seat) >= seats) return true;
    std::uint32_t ack;
    std::memcpy(&ack, h + 14 + 8 * static_cast<std::size_t>(s.seat) + 4, 4);  // little-endian, as on x86
    std::uint32_t done = 0;
    while (done < s.outstanding && s.sent_seq[done] <= ack) {
      const std::int64_t t = s.sent_at[done];
      w_.latency().record(now > t ? static_cast<std::uint64_t>(now - t) : 0);
      ++ct.acked;
      ++done;
    }
    if (done != 0) {
      std::memmove(&s.sent_seq[0], &s.sent_seq[done], (s.outstanding - done) * sizeof s.sent_seq[0]);
      std::memmove(&s.sent_at[0], &s.sent_at[done], (s.outstanding - done) * sizeof s.sent_at[0]);
      s.outstanding -= done;
    }
    return true;
  }

  void mark(std::uint32_t c) {
    if (!st_[c].dirty) {
      st_[c].dirty = true;
      dirty_.push_back(c);
    }
  }

  void append_frame(State& s, std::uint8_t op, const char* p, std::size_t n) {
    ws_append_frame(s.out[s.fill], op, p, n, static_cast<std::uint32_t>(w_.xorshift()));
  }

  Worker& w_;
  const Options& o_;
  std::vector<State> st_;
  std::vector<std::uint32_t> dirty_;
  std::int64_t interval_ns_ = 1'000'000'000;
  std::int64_t next_due_ = 0;
};

}  // namespace

std::unique_ptr<Protocol> make_arena_load(Worker& w, const Options& o) { return std::make_unique<ArenaLoad>(w, o); }

}  // namespace loadgen
