// A room of the arena (see room.hpp).
#include "room.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <ringactor/cluster/cluster.hpp>

#if defined(RINGACTOR_ARENA_GPU)
#include "gpu/sim_gpu.hpp"
#endif
#include "leaderboard.hpp"
#include "matchmaker.hpp"
#include "player.hpp"

namespace arena {

namespace ra = ringactor::actors;
namespace http = ringactor::http;
namespace off = ringactor::offload;
using Clock = std::chrono::steady_clock;

Room::Room(Game& game, std::uint32_t id, std::vector<SeatInit> seats)
    : game_(game),
      id_(id),
      topic_("room/" + std::to_string(id)),
      rng_(id * 2654435761u),
      watch_(game, [this](std::uint64_t process, ra::StopReason) {
        // A player's process went: its seats here are dropped as closed connections are.
        for (std::uint32_t i = 0; i < seats_.size(); ++i) {
          if (seats_[i].conn.remote() && seats_[i].conn.process == process) dropped(i);
        }
      }) {
  for (SeatInit& init : seats) {
    Seat s;
    s.name = std::move(init.name);
    s.token = std::move(init.token);
    s.bot = !init.conn;
    s.conn = init.conn;
    seats_.push_back(std::move(s));
  }
  world_ = make_world(static_cast<unsigned>(seats_.size()), game_.config.units_per_seat);
  countdown_ticks_ = static_cast<std::uint64_t>(game_.config.countdown / game_.config.tick);
  round_ticks_ = static_cast<std::uint64_t>(game_.config.round / game_.config.tick);
}

void Room::on_start() {
  ++game_.stats.rooms;  // (on_stop runs even if the rest of on_start throws)
  // --nats: named in the cluster before anyone hears of it (throws for a duplicate id).
  if (game_.cluster != nullptr) game_.cluster->register_name(room_name(id_), self<Room>());
  // State frames: a member that falls behind gets only the newest one (each frame says its
  // seq; full frames every second resynchronise it).
  game_.server->topic(topic_, {.policy = http::SlowConsumer::kKeepLatest, .behind_bytes = 32 * 1024});
  players_.on_member_down([this](const ra::DownNotice& n) { member_down(n); });
  for (std::uint32_t i = 0; i < seats_.size(); ++i) {
    if (seats_[i].conn) seat_connection(i, seats_[i].conn);
  }
  ticker_ = every_tick(game_.config.tick, [this](std::uint64_t index, Clock::duration) { tick(index); },
                       {.catch_up = ra::CatchUp::kSkip});
  report_status();
}

void Room::on_stop() {
  closing_ = true;
  if (phase_ != Phase::kOver) finish("the server is stopping");
  const bool shutting_down = reactor().lifeline().is_cut();
  for (const Seat& s : seats_) {
    // Players here whose server stops get close 1001 from it; players elsewhere go back to
    // their lobby.
    if (s.conn && (!shutting_down || s.conn.remote())) unseat_player(game_, s.conn, id_, R"({"t":"closed"})", true);
  }
  game_.server->forget_topic(topic_);
  --game_.stats.rooms;
  if (game_.cluster != nullptr) {
    watch_.forget_all();
    game_.cluster->named<Matchmaker>(kLobbyName).tell(RoomStatus{id_, game_.cluster->id(), {}});
  }
}

// ---- the clock ------------------------------------------------------------------------------

void Room::tick(std::uint64_t) {
  ++game_.stats.ticks;
  if (game_.cluster != nullptr) watch_.retry();
  const std::uint64_t per_second = std::max<std::uint64_t>(1, std::chrono::seconds(1) / game_.config.tick);
  switch (phase_) {
    case Phase::kCountdown:
      if (reactor().lifeline().is_cut()) {
        finish("the server is stopping");
        return;
      }
      if (countdown_ticks_ % per_second == 0 || !announced_) {
        announced_ = true;
        const std::uint64_t secs = (countdown_ticks_ + per_second - 1) / per_second;
        broadcast_text(R"({"t":"countdown","n":)" + std::to_string(secs) + "}");
        publish_frame(frames_.next(world_, phase_, ticks_left(), seat_lines()));
      }
      if (countdown_ticks_ == 0 || --countdown_ticks_ == 0) start_round();
      return;
    case Phase::kPlaying:
      if (reactor().lifeline().is_cut()) {
        finish("the server is stopping");
        return;
      }
      if (stepping_) {
        ++game_.stats.tick_overruns;  // the last step is late: skip this tick, never wait
        return;
      }
      bot_inputs();
      run_step();
      return;
    case Phase::kOver:
      return;
  }
}

void Room::start_round() {
  phase_ = Phase::kPlaying;
  broadcast_text(R"({"t":"start","ticks":)" + std::to_string(round_ticks_) + "}");
  report_status();
}

void Room::run_step() {
  for (std::uint32_t i = 0; i < seats_.size(); ++i) {
    Seat& s = seats_[i];
    if (!s.pending) continue;
    world_.commands[i] = *s.pending;
    s.last_input_seq = s.pending_seq;
    s.pending.reset();
  }
  stepping_ = true;
  const float dt = std::chrono::duration<float>(game_.config.tick).count();
  if (game_.config.gpu) {
    run_step_on_device(dt);
    return;
  }
  // The step runs on a worker, on a copy; its result comes back here, on the IO thread.
  // The copy goes into the spare world, whose buffers the last step left behind: no
  // allocation per tick once the room runs.
  spare_ = world_;
  game_.workers->offload(
      *this,
      [w = std::move(spare_), dt]() mutable {
        const auto t0 = Clock::now();
        step(w, dt);
        return StepResult{std::move(w), static_cast<std::uint64_t>((Clock::now() - t0).count())};
      },
      [this](off::Result<StepResult> r) { step_done(std::move(r)); });
}

// A step's result (CPU or device), on the IO thread.
void Room::step_done(off::Result<StepResult> r) {
  stepping_ = false;
  if (!r) {
    if (r.failure() != off::Failure::kCancelled && r.failure() != off::Failure::kShutdown) {
      std::fprintf(stderr, "arena: room %u: step failed: %s\n", id_, r.message().c_str());
    }
    return;
  }
  applied(std::move(*r));
}

// --gpu: the step is a polled device task. A worker launches it (and, for a checked step,
// runs the CPU step on a copy meanwhile); the arena's poller asks the stream every poll
// interval and, once it is done, applies the device's result; the world comes back here
// like the CPU step's.
void Room::run_step_on_device(float dt) {
#if defined(RINGACTOR_ARENA_GPU)
  const std::uint64_t every = game_.config.gpu_check_every;
  const bool check = every > 0 && device_steps_++ % every == 0;
  game_.workers->offload_polled(
      *this,
      [w = std::move(spare_), dt, check]() mutable {
        const auto t0 = Clock::now();
        std::shared_ptr<gpu::StepJob> job(gpu::launch(w, dt), gpu::release);
        std::optional<World> reference;
        if (check) {
          reference = w;
          step(*reference, dt);
        }
        return [job, w = std::move(w), reference = std::move(reference), t0]() mutable -> std::optional<StepResult> {
          if (!gpu::done(job.get())) return std::nullopt;
          gpu::finish(job.get(), w);
          StepResult r{std::move(w), static_cast<std::uint64_t>((Clock::now() - t0).count()), true, false, {}};
          if (reference) {
            r.checked = true;
            r.mismatch = differs(r.world, *reference);
          }
          return r;
        };
      },
      [this](off::Result<StepResult> r) { step_done(std::move(r)); });
#else
  (void)dt;
  stepping_ = false;
  throw std::logic_error("arena: --gpu in a build without CUDA");  // main() refuses --gpu first
#endif
}

void Room::applied(StepResult r) {
  if (r.on_device) {
    ++game_.stats.gpu_steps;
    if (r.checked) ++game_.stats.gpu_checks;
    if (!r.mismatch.empty()) {
      ++game_.stats.gpu_mismatches;
      std::fprintf(stderr, "arena: room %u: the device step %u differs from the CPU step: %s\n", id_, r.world.tick,
                   r.mismatch.c_str());
    }
  }
  if (phase_ != Phase::kPlaying) return;  // a step that finished after the round did
  std::swap(world_, r.world);
  spare_ = std::move(r.world);
  ++game_.stats.steps;
  game_.stats.step_ns_total += r.ns;
  game_.stats.step_ns_last = r.ns;
  const std::string frame = frames_.next(world_, phase_, ticks_left(), seat_lines());
  publish_frame(frame);
  ++game_.stats.frames;
  game_.stats.frame_bytes += frame.size();
  if (seats_alive(world_) <= 1) {
    finish("last army standing");
  } else if (world_.tick >= round_ticks_) {
    finish("time is up");
  }
}

// ---- the end of a round ------------------------------------------------------------------------

void Room::finish(const char* why) {
  if (phase_ == Phase::kOver) return;
  const bool played = phase_ == Phase::kPlaying;
  phase_ = Phase::kOver;
  // The winner: the last army standing, else the most units left, then the most kills.
  int winner = -1;
  unsigned best_alive = 0, best_kills = 0;
  nlohmann::json scores = nlohmann::json::array();
  std::vector<Score> record;
  for (std::uint32_t i = 0; i < seats_.size(); ++i) {
    const unsigned alive = units_alive(world_, i);
    const unsigned kills = world_.kills[i];
    if (alive > best_alive || (alive == best_alive && alive > 0 && kills > best_kills)) {
      winner = static_cast<int>(i);
      best_alive = alive;
      best_kills = kills;
    }
    scores.push_back({{"name", seats_[i].name}, {"bot", seats_[i].bot}, {"kills", kills}, {"alive", alive}});
  }
  for (std::uint32_t i = 0; i < seats_.size(); ++i) {
    if (!seats_[i].bot) record.push_back(Score{seats_[i].name, world_.kills[i], static_cast<int>(i) == winner});
  }
  broadcast_text(nlohmann::json{{"t", "result"}, {"why", why}, {"winner", winner}, {"scores", scores}}.dump());
  publish_frame(frames_.next(world_, phase_, 0, seat_lines()));
  ++game_.stats.rounds;
  if (played && !record.empty()) {
    // Queued here (cheap); written to SQLite on a worker. If the server is stopping, the
    // write may be skipped here: main() flushes what is still queued after the loop.
    game_.leaderboard->record(std::move(record));
    Leaderboard* lb = game_.leaderboard;
    game_.workers->offload(*this, [lb] { return lb->flush(); }, [id = id_](off::Result<std::size_t> r) {
      if (!r && r.failure() == off::Failure::kException) {
        std::fprintf(stderr, "arena: room %u: leaderboard: %s\n", id, r.message().c_str());
      }
    });
  }
  cancel(ticker_);
  if (!closing_) after(game_.config.linger, [this] { stop(); });
  report_status();
}

// ---- players -----------------------------------------------------------------------------------

void Room::seat_connection(std::uint32_t seat, const PlayerLink& conn) {
  seats_[seat].conn = conn;
  std::string frame = frames_.full(world_, phase_, ticks_left(), seat_lines());
  if (conn.local) {
    players_.join(conn.local);
    conn.local.tell(&PlayerSocket::seated, self<Room>(), seat, topic_, hello_json(seat), std::move(frame));
    return;
  }
  watch_.watch(conn.process);
  game_.cluster->named<Matchmaker>(gateway_name(conn.process))
      .tell(ToPlayer{ToPlayer::kSeated, conn.player, game_.cluster->id(), id_, seat, hello_json(seat), std::move(frame)});
}

int Room::seat_of(const PlayerLink& conn) const {
  for (std::uint32_t i = 0; i < seats_.size(); ++i) {
    if (seats_[i].conn && seats_[i].conn == conn) return static_cast<int>(i);
  }
  return -1;
}

void Room::member_down(const ra::DownNotice& n) {
  for (std::uint32_t i = 0; i < seats_.size(); ++i) {
    if (seats_[i].conn.local.id() == n.who) return dropped(i);
  }
}

// A seat's connection went (closed, or its process did).
void Room::dropped(std::uint32_t i) {
  Seat& s = seats_[i];
  s.conn = {};
  if (phase_ == Phase::kOver) return;
  // The seat waits for a rejoin with its token; then a bot plays it.
  s.grace = after(game_.config.grace, [this, i] {
    seats_[i].bot = true;
    seats_[i].token.clear();
    report_status();
  });
  report_status();
}

void Room::input(ra::Ref<PlayerSocket> from, std::uint32_t seq, float x, float y) { input_from(PlayerLink{from}, seq, x, y); }
void Room::remote_input(RoomInput m) { input_from(link_of(game_, m.process, m.player), m.seq, m.x, m.y); }

void Room::input_from(const PlayerLink& from, std::uint32_t seq, float x, float y) {
  const int i = seat_of(from);
  if (i < 0 || phase_ == Phase::kOver) return;
  if (!(x >= 0.0f && x <= kMapSize && y >= 0.0f && y <= kMapSize)) return;  // checked at the socket too
  Seat& s = seats_[static_cast<std::size_t>(i)];
  s.pending = Command{true, x, y};  // the newest input of a tick wins
  s.pending_seq = seq;
}

void Room::rejoin(ra::Ref<PlayerSocket> from, std::string token) { rejoin_from(PlayerLink{from}, std::move(token)); }
void Room::remote_rejoin(RoomRejoin m) { rejoin_from(link_of(game_, m.process, m.player), std::move(m.token)); }

void Room::rejoin_from(const PlayerLink& from, std::string token) {
  if (!from) return;
  for (std::uint32_t i = 0; i < seats_.size(); ++i) {
    Seat& s = seats_[i];
    if (s.bot || s.conn || s.token != token || phase_ == Phase::kOver) continue;
    cancel(s.grace);
    seat_connection(i, from);
    report_status();
    return;
  }
  unseat_player(game_, from, id_,
                R"({"t":"error","error":"rejoin refused: unknown token, seat taken or grace period over"})", false);
}

void Room::leave(ra::Ref<PlayerSocket> from) { leave_from(PlayerLink{from}); }

void Room::remote_leave(RoomLeave m) {
  const PlayerLink from = link_of(game_, m.process, m.player);
  if (m.forfeit != 0) return leave_from(from);
  const int i = seat_of(from);  // its connection dropped: the seat waits for a rejoin
  if (i >= 0) dropped(static_cast<std::uint32_t>(i));
}

void Room::leave_from(const PlayerLink& from) {
  const int i = seat_of(from);
  if (i < 0) return;
  if (from.local) players_.leave(from.local);
  Seat& s = seats_[static_cast<std::size_t>(i)];
  s.conn = {};
  s.bot = true;  // a player who leaves forfeits the seat at once
  s.token.clear();
  report_status();
}

// Bots (and nobody else) decide every one to three seconds: towards the nearest enemy
// army's centre, with some noise.
void Room::bot_inputs() {
  for (std::uint32_t i = 0; i < seats_.size(); ++i) {
    Seat& s = seats_[i];
    if (!s.bot || world_.tick < s.bot_next) continue;
    s.bot_next = world_.tick + 20 + rng_() % 40;
    float cx = 0, cy = 0, n = 0, ex = 0, ey = 0, best = 1e12f;
    for (const Unit& u : world_.units) {
      if (u.alive() && u.seat == i) {
        cx += u.x;
        cy += u.y;
        ++n;
      }
    }
    if (n == 0) continue;
    cx /= n;
    cy /= n;
    for (const Unit& u : world_.units) {
      if (!u.alive() || u.seat == i) continue;
      const float d = (u.x - cx) * (u.x - cx) + (u.y - cy) * (u.y - cy);
      if (d < best) {
        best = d;
        ex = u.x;
        ey = u.y;
      }
    }
    std::uniform_real_distribution<float> noise(-60.0f, 60.0f);
    s.pending = Command{true, std::clamp(ex + noise(rng_), 0.0f, kMapSize), std::clamp(ey + noise(rng_), 0.0f, kMapSize)};
  }
}

// ---- what clients see ----------------------------------------------------------------------------

std::vector<SeatLine> Room::seat_lines() const {
  std::vector<SeatLine> out;
  out.reserve(seats_.size());
  for (std::uint32_t i = 0; i < seats_.size(); ++i) {
    out.push_back(SeatLine{static_cast<std::uint16_t>(std::min<std::uint32_t>(world_.kills[i], 0xFFFF)),
                           static_cast<std::uint16_t>(units_alive(world_, i)), seats_[i].last_input_seq});
  }
  return out;
}

std::uint16_t Room::ticks_left() const {
  if (phase_ == Phase::kCountdown) return static_cast<std::uint16_t>(std::min<std::uint64_t>(round_ticks_, 0xFFFF));
  return static_cast<std::uint16_t>(std::min<std::uint64_t>(round_ticks_ > world_.tick ? round_ticks_ - world_.tick : 0, 0xFFFF));
}

std::string Room::hello_json(std::uint32_t seat) const {
  nlohmann::json players = nlohmann::json::array();
  for (const Seat& s : seats_) players.push_back({{"name", s.name}, {"bot", s.bot}});
  return nlohmann::json{{"t", "seat"},
                        {"room", id_},
                        {"seat", seat},
                        {"token", seats_[seat].token},
                        {"players", players},
                        {"map", kMapSize},
                        {"tick_ms", game_.config.tick.count()},
                        {"units_per_seat", game_.config.units_per_seat}}
      .dump();
}

void Room::broadcast_text(const std::string& json) {
  for (const Seat& s : seats_) {
    if (s.conn) notify_player(game_, s.conn, json);
  }
}

// The local topic's members (on every linked reactor), and with --nats the members of other
// processes (their gateways relay it to their own topic) when there are any.
void Room::publish_frame(const std::string& frame) {
  game_.server->publish(topic_, frame, http::WsOpcode::kBinary);
  if (game_.cluster == nullptr) return;
  // Only while a seat is held from another process: a room of local players costs no NATS.
  if (std::any_of(seats_.begin(), seats_.end(), [](const Seat& s) { return s.conn.remote(); })) {
    game_.cluster->publish(frames_topic(id_), frame);
  }
}

void Room::report_status() {
  if (game_.cluster == nullptr) {
    game_.matchmaker.tell(&Matchmaker::room_status, id_, describe());
  } else {
    game_.cluster->named<Matchmaker>(kLobbyName).tell(RoomStatus{id_, game_.cluster->id(), describe()});
  }
}

std::string Room::describe() const {
  static constexpr const char* kPhases[] = {"countdown", "playing", "over"};
  nlohmann::json seats = nlohmann::json::array();
  for (const Seat& s : seats_) {
    seats.push_back({{"name", s.name}, {"bot", s.bot}, {"connected", static_cast<bool>(s.conn)}});
  }
  nlohmann::json out{{"id", id_},
                     {"phase", kPhases[static_cast<int>(phase_)]},
                     {"tick", world_.tick},
                     {"ticks_left", ticks_left()},
                     {"seats", seats}};
  if (game_.cluster != nullptr) out["process"] = game_.process_name;  // where it lives
  return out.dump();
}

}  // namespace arena
