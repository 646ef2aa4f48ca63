// ws-echo and ws-rooms modes: WebSocket load. Every connection upgrades (the handshake's
// Sec-WebSocket-Accept is checked) and then sends masked binary messages whose payload
// starts with the send time (steady clock, ns), the sender's client number and a sequence
// number, padded to --size bytes:
//   ws-echo:  each connection keeps --inflight messages outstanding; every echo that comes
//             back gives one round-trip latency and lets the next message go.
//   ws-rooms: client i joins room (i mod --rooms); each publishes --rate messages per second
//             (the publishes of a thread are spread evenly over time); every delivery at
//             every member gives one latency, publish to delivery, and is counted.
// Messages are built at flush time (right before the ring is entered) into the connection's
// collecting buffer; one buffer is in flight while the other collects. No allocation per
// message once the buffers have grown to their working size.
#include <cmath>
#include <cstring>

#include "options.hpp"
#include "protocol.hpp"
#include "worker.hpp"
#include "ws_frame.hpp"
#include "ws_handshake.hpp"

namespace loadgen {
namespace {

constexpr std::size_t kMaxBacklog = 1u << 20;  // ws-rooms: above this, publishes are skipped

class WsLoad final : public Protocol {
 public:
  WsLoad(Worker& w, const Options& o, std::uint64_t budget)
      : w_(w),
        o_(o),
        rooms_(o.mode == Mode::WsRooms),
        size_(o.size),
        budget_(budget),
        st_(w.size()),
        total_clients_(o.connections) {
    dirty_.reserve(w.size());
    const std::size_t frame = 14 + size_;
    for (State& s : st_) {
      s.out[0].reserve(frame * (rooms_ ? 4 : o.inflight) + 256);
      s.out[1].reserve(frame * (rooms_ ? 4 : o.inflight) + 256);
    }
    // The thread's publishes are evenly spaced: all its clients together publish n x rate/s.
    if (rooms_) interval_ns_ = 1e9 / (o.rate * static_cast<double>(w.size()));
  }

  void on_connected(std::uint32_t c) override {
    State& s = st_[c];
    std::uint64_t seed = w_.xorshift();
    const std::string key = ws_key(seed);
    s.accept = ws_accept(key);
    std::string path = o_.path;
    if (rooms_) path += o_.room_prefix + std::to_string(w_.global_id(c) % o_.rooms);
    const std::string req = ws_upgrade_request(path, o_.host_header, key);
    s.fill = 0;
    s.out[1].assign(req.begin(), req.end());
    w_.send(c, s.out[1].data(), static_cast<std::uint32_t>(s.out[1].size()), true);
  }

  void start(std::int64_t) override {
    for (std::uint32_t c = 0; c < w_.size(); ++c)
      if (st_[c].open) begin(c);
  }

  void flush(std::int64_t now) override {
    if (rooms_ && w_.started() && !w_.draining() && (w_.end_ns() == 0 || now < w_.end_ns())) publish_due(now);
    for (const std::uint32_t c : dirty_) {
      State& s = st_[c];
      s.dirty = false;
      if (!s.open || !w_.open(c)) continue;
      for (; s.want != 0; --s.want) {
        if (budget_ != 0 && answered_ + in_flight_ >= budget_) {
          s.want = 0;
          break;
        }
        append_message(s, c, now);
        ++s.outstanding;
        ++in_flight_;
        ++w_.counters().sent;
      }
      if (!w_.sending(c) && !s.out[s.fill].empty()) {
        std::vector<char>& b = s.out[s.fill];
        s.fill ^= 1;
        w_.send(c, b.data(), static_cast<std::uint32_t>(b.size()), true);
      }
    }
    dirty_.clear();
  }

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
      if (w_.started()) begin(c);
      if (used == n) return Verdict::Keep;
      p += used;
      n -= used;
    }
    Sink sink{*this, s, c, w_.now()};
    const WsFrameParser::Error e = s.parser.feed(p, n, sink);
    if (e != WsFrameParser::Error::Ok) {
      w_.error(ErrorKind::BadFrame, frame_error(e));
      return Verdict::Close;
    }
    if (sink.closed) {
      w_.error(ErrorKind::Closed, "the server sent a WebSocket close");
      return Verdict::Close;
    }
    return Verdict::Keep;
  }

  Verdict on_eof(std::uint32_t c) override {
    if (!st_[c].open)
      w_.error(ErrorKind::Handshake, "the server closed during the upgrade");
    else
      w_.error(ErrorKind::Closed, "the server closed the connection");
    return Verdict::Close;
  }

  void on_closed(std::uint32_t c) override {
    State& s = st_[c];
    in_flight_ -= s.outstanding;
    s.outstanding = s.want = 0;
    s.open = false;
    s.parser.reset();
    s.out[0].clear();
    s.out[1].clear();
    std::string().swap(s.hs);
  }

  bool waiting(std::uint32_t c) const override {
    return !st_[c].open || (!rooms_ && st_[c].outstanding != 0);
  }

  std::int64_t next_wake() const override {
    if (!rooms_) return std::numeric_limits<std::int64_t>::max();
    return w_.start_ns() + static_cast<std::int64_t>(static_cast<double>(scheduled_ + 1) * interval_ns_);
  }

  bool finished() const override {
    if (budget_ == 0) return false;
    return rooms_ ? scheduled_ >= budget_ : answered_ >= budget_;
  }
  bool needs_drain() const override { return rooms_; }

 private:
  struct State {
    WsFrameParser parser;
    std::vector<char> out[2];       // out[fill] collects frames; the other one is in flight
    std::string hs;                 // the upgrade answer so far
    std::string accept;             // the Sec-WebSocket-Accept it must carry
    std::uint32_t outstanding = 0;  // ws-echo: messages whose echo is owed
    std::uint32_t want = 0;         // ws-echo: messages to build at the next flush
    std::uint32_t seq = 0;
    std::uint8_t fill = 0;
    bool open = false;   // upgraded
    bool dirty = false;  // in dirty_
  };
  struct Sink {
    WsLoad& l;
    State& s;
    std::uint32_t c;
    std::int64_t now;
    bool closed = false;
    void on_message(std::uint8_t, const unsigned char* head, std::size_t head_len, std::uint64_t len) {
      l.on_message(s, c, now, head, head_len, len);
    }
    void on_control(std::uint8_t op, const unsigned char* p, std::size_t n) {
      if (op == kWsClose) closed = true;
      if (op == kWsPing) {
        l.append_frame(s, kWsPong, reinterpret_cast<const char*>(p), n);
        l.mark(c);
      }
    }
  };

  void begin(std::uint32_t c) {
    if (rooms_) return;
    st_[c].want = o_.inflight;
    mark(c);
  }

  void mark(std::uint32_t c) {
    if (!st_[c].dirty) {
      st_[c].dirty = true;
      dirty_.push_back(c);
    }
  }

  void publish_due(std::int64_t now) {
    const double elapsed = static_cast<double>(now - w_.start_ns());
    std::uint64_t due = elapsed < 0 ? 0 : static_cast<std::uint64_t>(elapsed / interval_ns_) + 1;
    if (budget_ != 0 && due > budget_) due = budget_;
    for (; scheduled_ < due; ++scheduled_) {
      const std::uint32_t c = cursor_;
      cursor_ = cursor_ + 1 == w_.size() ? 0 : cursor_ + 1;
      State& s = st_[c];
      if (!s.open || !w_.open(c) || s.out[s.fill].size() > kMaxBacklog) {
        ++w_.counters().skipped;
        continue;
      }
      append_message(s, c, now);
      ++w_.counters().sent;
      mark(c);
    }
  }

  // One masked binary frame: [send ns][sender][sequence] then zero padding to size_.
  void append_message(State& s, std::uint32_t c, std::int64_t now) {
    std::vector<char>& b = s.out[s.fill];
    const std::size_t old = b.size();
    b.resize(old + 14 + size_);
    char* f = b.data() + old;
    const auto key = static_cast<std::uint32_t>(w_.xorshift());
    const std::size_t h = ws_frame_header(f, kWsBinary, size_, key);
    char* pl = f + h;
    const std::uint32_t id = w_.global_id(c);
    std::memcpy(pl, &now, 8);
    std::memcpy(pl + 8, &id, 4);
    std::memcpy(pl + 12, &s.seq, 4);
    ++s.seq;
    std::memset(pl + 16, 0, size_ - 16);
    ws_mask(pl, size_, key);
    b.resize(old + h + size_);
  }

  void append_frame(State& s, std::uint8_t op, const char* p, std::size_t n) {
    ws_append_frame(s.out[s.fill], op, p, n, static_cast<std::uint32_t>(w_.xorshift()));
  }

  void on_message(State& s, std::uint32_t c, std::int64_t now, const unsigned char* head,
                  std::size_t head_len, std::uint64_t len) {
    std::int64_t sent;
    std::uint32_t sender;
    if (len != size_ || head_len < 16) {
      w_.error(ErrorKind::BadPayload,
               "a message of " + std::to_string(len) + " bytes, expected " + std::to_string(size_));
      return;
    }
    std::memcpy(&sent, head, 8);
    std::memcpy(&sender, head + 8, 4);
    const bool mine = sender == w_.global_id(c);
    if (rooms_ ? sender >= total_clients_ : (!mine || s.outstanding == 0)) {
      w_.error(ErrorKind::BadPayload, "a message that is not one of ours");
      return;
    }
    Counters& ct = w_.counters();
    ++ct.answers;
    if (now > sent)
      w_.latency().record(static_cast<std::uint64_t>(now - sent));
    else
      w_.latency().record(0);
    if (rooms_) {
      if (mine) ++ct.self_deliveries;
      return;
    }
    --s.outstanding;
    --in_flight_;
    ++answered_;
    if (!w_.draining()) {
      ++s.want;
      mark(c);
    }
  }

  static const char* frame_error(WsFrameParser::Error e) {
    switch (e) {
      case WsFrameParser::Error::Masked:
        return "a masked server frame";
      case WsFrameParser::Error::Reserved:
        return "reserved bits set";
      case WsFrameParser::Error::BadOpcode:
        return "bad opcode or fragment order";
      case WsFrameParser::Error::BadControl:
        return "a fragmented or long control frame";
      default:
        return "bad frame";
    }
  }

  Worker& w_;
  const Options& o_;
  bool rooms_;
  std::uint32_t size_;
  std::uint64_t budget_;  // ws-echo: echoes; ws-rooms: publishes (this thread's share)
  std::vector<State> st_;
  std::vector<std::uint32_t> dirty_;  // connections with frames to build or send
  std::uint32_t total_clients_;
  std::uint64_t answered_ = 0;   // ws-echo
  std::uint64_t in_flight_ = 0;  // ws-echo
  std::uint64_t scheduled_ = 0;  // ws-rooms: publish slots passed (sent or skipped)
  std::uint32_t cursor_ = 0;     // ws-rooms: the client whose turn is next
  double interval_ns_ = 0;
};

}  // namespace

std::unique_ptr<Protocol> make_ws_load(Worker& w, const Options& o, std::uint64_t budget) {
  return std::make_unique<WsLoad>(w, o, budget);
}

}  // namespace loadgen
