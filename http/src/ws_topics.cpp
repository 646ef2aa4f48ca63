// Messages framed once (WsMessage) and topics: membership, publish by reference, and the
// slow-consumer policies.
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <ringactor/actors/stage.hpp>
#include <ringactor/runtime/reactor.hpp>

#include "server_impl.hpp"

namespace ringactor::http {

using detail::bump;
namespace ws = detail::ws;

// The frame (header and payload) in one block; compressed forms by window bits, made on
// first need.
struct WsMessage::Shared {
  runtime::SharedBlock frame;
  std::size_t head = 0;  // header bytes at the start of `frame`
  WsOpcode op = WsOpcode::kText;
  std::array<runtime::SharedBlock, 7> deflated{};  // window bits 9..15
  std::array<bool, 7> deflate_failed{};
  std::string_view payload() const noexcept {
    return {reinterpret_cast<const char*>(frame.data()) + head, frame.size() - head};
  }
};

WsMessage::WsMessage(std::string_view payload, WsOpcode op) : s_(std::make_shared<Shared>()) {
  if (op != WsOpcode::kText && op != WsOpcode::kBinary) {
    throw std::invalid_argument("WsMessage: the opcode must be text or binary");
  }
  char head[10];
  const std::size_t h = ws::write_header(head, op, payload.size());
  s_->head = h;
  s_->op = op;
  s_->frame = runtime::SharedBlock::build(h + payload.size(), [&](std::span<std::byte> out) {
    std::memcpy(out.data(), head, h);
    if (!payload.empty()) std::memcpy(out.data() + h, payload.data(), payload.size());
  });
}

std::size_t WsMessage::size() const noexcept { return s_ ? s_->frame.size() - s_->head : 0; }
WsOpcode WsMessage::opcode() const noexcept { return s_ ? s_->op : WsOpcode::kText; }

bool WebSocket::send(const WsMessage& message) {
  if (!message) throw std::invalid_argument("WebSocket::send: an empty WsMessage");
  if (close_code_ != 0 || closed_reported_ || !attached()) return false;
  return send_prepared(message);
}

// Queues a reference to the message's frame, or to its compressed frame when this
// connection negotiated permessage-deflate without server context takeover (the same
// compressed bytes suit every such connection using the same window).
bool WebSocket::send_prepared(const WsMessage& message) {
  WsMessage::Shared& m = *message.s_;
  detail::ServerCore& core = *route_->core;
  const WsDeflate& d = route_->options.deflate;
  if (deflate_ && message.size() >= d.min_size) {
    if (x_->server_takeover) return queue_frame(m.payload(), m.op, true);  // this connection's own window
    const std::size_t w = static_cast<std::size_t>(std::clamp<int>(x_->server_window, 9, 15) - 9);
    if (!m.deflated[w] && !m.deflate_failed[w]) {
      ws::Buffer& out = core.ws_out;
      out.clear();
      if (core.shared_deflater(x_->server_window).deflate(m.payload(), out)) {
        char head[10];
        const std::size_t h = ws::write_header(head, m.op, out.size(), true, true);
        m.deflated[w] = runtime::SharedBlock::build(h + out.size(), [&](std::span<std::byte> o) {
          std::memcpy(o.data(), head, h);
          std::memcpy(o.data() + h, out.data(), out.size());
        });
      } else {
        m.deflate_failed[w] = true;
      }
    }
    if (m.deflated[w]) {
      ConnectionActor::send(m.deflated[w]);
      bump(core.c.ws_messages_out);
      return check_buffered();
    }
  }
  ConnectionActor::send(m.frame);
  bump(core.c.ws_messages_out);
  return check_buffered();
}

// ---- membership ----------------------------------------------------------------------------

bool WebSocket::subscribe(std::string_view topic) {
  if (closed_reported_ || route_ == nullptr) return false;
  if (subscribed(topic)) return true;
  detail::ServerCore& core = *route_->core;
  if (x_ == nullptr) x_ = new detail::WsExtras();
  detail::TopicState& t = core.topic_for(topic);
  try {
    x_->topics.push_back({&t, {}});
    try {
      t.members.push_back(this);
    } catch (...) {
      x_->topics.pop_back();
      throw;
    }
  } catch (...) {
    core.drop_if_unused(t);
    throw;
  }
  ++t.c.members;
  return true;
}

bool WebSocket::unsubscribe(std::string_view topic) {
  if (x_ == nullptr || route_ == nullptr) return false;
  auto it = std::find_if(x_->topics.begin(), x_->topics.end(),
                         [&](const detail::WsExtras::TopicRef& r) { return r.topic->name == topic; });
  if (it == x_->topics.end()) return false;
  detail::TopicState& t = *it->topic;
  x_->topics.erase(it);
  t.remove(this);
  route_->core->drop_if_unused(t);
  return true;
}

bool WebSocket::subscribed(std::string_view topic) const noexcept {
  if (x_ == nullptr) return false;
  return std::any_of(x_->topics.begin(), x_->topics.end(),
                     [&](const detail::WsExtras::TopicRef& r) { return r.topic->name == topic; });
}

void WebSocket::leave_topics() noexcept {
  if (x_ == nullptr || route_ == nullptr) return;
  for (detail::WsExtras::TopicRef& r : x_->topics) {
    detail::TopicState& t = *r.topic;
    t.remove(this);
    route_->core->drop_if_unused(t);
  }
  x_->topics.clear();
}

std::size_t WebSocket::publish(std::string_view topic, std::string_view message, WsOpcode op, bool include_self) {
  if (route_ == nullptr) return 0;
  return route_->core->publish_everywhere(topic, message, op, include_self ? nullptr : this);
}

// Everything queued was sent: a member that fell behind gets the newest message it was held
// back (kKeepLatest).
void WebSocket::drain_internal() {
  if (x_ == nullptr || close_code_ != 0 || closed_reported_) return;
  for (std::size_t i = 0; i < x_->topics.size(); ++i) {
    detail::WsExtras::TopicRef& r = x_->topics[i];
    if (!r.latest) continue;
    WsMessage m = std::move(r.latest);
    r.latest = WsMessage();
    ++r.topic->c.delivered;
    if (!send_prepared(m)) return;
  }
}

namespace detail {

// Leaves the member list; during a publish the entry is only nulled, so the walk over the
// list stays valid (a member closed in the walk may leave from its on_close).
void TopicState::remove(WebSocket* m) noexcept {
  auto it = std::find(members.begin(), members.end(), m);
  if (it == members.end()) return;
  if (publishing) {
    *it = nullptr;
    holes = true;
  } else {
    members.erase(it);
  }
  --c.members;
}

void TopicState::deliver(WebSocket& m, const WsMessage& msg) {
  if (m.close_code_ != 0 || m.closed_reported_ || !m.attached()) return;
  if (m.buffered_amount() <= options.behind_bytes) {
    ++c.delivered;
    if (!m.send_prepared(msg)) ++c.closed;
    return;
  }
  switch (options.policy) {
    case SlowConsumer::kKeepLatest:
      for (WsExtras::TopicRef& r : m.x_->topics) {
        if (r.topic != this) continue;
        if (r.latest) ++c.dropped;  // replaced by a newer one
        r.latest = msg;
        break;
      }
      return;
    case SlowConsumer::kDrop:
      ++c.dropped;
      return;
    case SlowConsumer::kClose:
      ++c.closed;
      bump(m.route_->core->c.ws_slow_closed);
      m.protocol_error(ws_close::kTryAgainLater, "slow consumer");
      return;
    case SlowConsumer::kBuffer:
      ++c.delivered;
      if (!m.send_prepared(msg)) ++c.closed;
      return;
  }
}

TopicState* ServerCore::find_topic(std::string_view name) noexcept {
  auto it = topics.find(name);
  return it == topics.end() ? nullptr : it->second.get();
}

TopicState& ServerCore::topic_for(std::string_view name) {
  if (TopicState* t = find_topic(name)) return *t;
  auto t = std::make_unique<TopicState>();
  t->name.assign(name);
  TopicState& ref = *t;
  topics.emplace(ref.name, std::move(t));
  return ref;
}

void ServerCore::drop_if_unused(TopicState& t) noexcept {
  if (t.c.members != 0 || t.configured || t.publishing) return;
  auto it = topics.find(std::string_view(t.name));
  if (it != topics.end()) topics.erase(it);
}

std::size_t ServerCore::publish(std::string_view name, std::string_view message, WsOpcode op, const WebSocket* except) {
  TopicState* t = find_topic(name);
  if (t == nullptr) return 0;
  ++t->c.published;
  if (t->members.empty() || (t->members.size() == 1 && t->members.front() == except)) return 0;
  const WsMessage msg(message, op);
  // By index over the members at the start: one closed in the walk (a slow consumer) may
  // leave the topic from its on_close, which only nulls its entry while `publishing`;
  // members who join in the walk get the next message.
  std::size_t n = 0;
  const std::size_t count = t->members.size();
  t->publishing = true;
  for (std::size_t i = 0; i < count; ++i) {
    WebSocket* m = t->members[i];
    if (m == nullptr || m == except) continue;
    t->deliver(*m, msg);
    ++n;
  }
  t->publishing = false;
  if (t->holes) {
    t->members.erase(std::remove(t->members.begin(), t->members.end(), nullptr), t->members.end());
    t->holes = false;
  }
  drop_if_unused(*t);
  return n;
}

std::size_t ServerCore::publish_everywhere(std::string_view name, std::string_view message, WsOpcode op,
                                           const WebSocket* except) {
  if (!peers.empty()) {
    // One shared copy of the publish for every linked server (one allocation per publish;
    // each message then fits a Message's inline bytes); each frames it for its own members
    // (their compression settings are theirs).
    auto shared = std::make_shared<const Relayed>(Relayed{std::string(name), std::string(message), op});
    for (const actors::Ref<TopicRelay>& peer : peers) {
      peer.tell(&TopicRelay::deliver, shared);
      bump(c.topic_relays_out);
    }
  }
  return publish(name, message, op, except);
}

void ServerCore::configure_topic(std::string_view name, const TopicOptions& options) {
  TopicState& t = topic_for(name);
  t.options = options;
  t.configured = true;
}

bool ServerCore::forget_topic(std::string_view name) {
  TopicState* t = find_topic(name);
  if (t == nullptr) return false;
  t->options = TopicOptions{};
  t->configured = false;
  drop_if_unused(*t);
  return true;
}

void TopicRelay::configure(std::shared_ptr<const RelayedConfig> c) {
  const std::shared_ptr<ServerCore> core = core_.lock();
  if (!core) return;
  if (c->forget) {
    core->forget_topic(c->topic);
  } else {
    core->configure_topic(c->topic, c->options);
  }
}

void TopicRelay::deliver(std::shared_ptr<const Relayed> p) {
  const std::shared_ptr<ServerCore> core = core_.lock();
  if (!core) return;
  bump(core->c.topic_relays_in);
  core->publish(p->topic, p->message, p->op, nullptr);
}

}  // namespace detail

// ---- Server ---------------------------------------------------------------------------------

void Server::link(const std::vector<Server*>& servers) {
  for (std::size_t i = 0; i < servers.size(); ++i) {
    if (!servers[i]->core_->peers.empty()) throw std::invalid_argument("Server::link: a server is linked twice");
    for (std::size_t j = 0; j < i; ++j) {
      if (servers[i] == servers[j] || &servers[i]->core_->stage->reactor() == &servers[j]->core_->stage->reactor()) {
        throw std::invalid_argument("Server::link: one server per reactor");
      }
    }
  }
  // One relay per server, on its own stage; every server gets the others' relays.
  std::vector<actors::Ref<detail::TopicRelay>> relays;
  for (Server* s : servers) {
    relays.push_back(s->core_->stage->spawn<detail::TopicRelay>(std::weak_ptr<detail::ServerCore>(s->core_)));
  }
  for (std::size_t i = 0; i < servers.size(); ++i) {
    for (std::size_t j = 0; j < servers.size(); ++j) {
      if (i == j) continue;
      servers[i]->core_->peers.push_back(relays[j]);
      servers[i]->core_->linked.push_back(servers[j]->core_);
    }
  }
}

void Server::topic(std::string_view name, TopicOptions options) {
  core_->configure_topic(name, options);
  if (core_->peers.empty()) return;
  auto c = std::make_shared<const detail::RelayedConfig>(detail::RelayedConfig{std::string(name), options, false});
  for (const auto& peer : core_->peers) peer.tell(&detail::TopicRelay::configure, c);
}

bool Server::forget_topic(std::string_view name) {
  if (!core_->peers.empty()) {
    auto c = std::make_shared<const detail::RelayedConfig>(detail::RelayedConfig{std::string(name), {}, true});
    for (const auto& peer : core_->peers) peer.tell(&detail::TopicRelay::configure, c);
  }
  return core_->forget_topic(name);
}

std::size_t Server::publish(std::string_view topic, std::string_view message, WsOpcode op) {
  return core_->publish_everywhere(topic, message, op, nullptr);
}

TopicCounters Server::topic_counters(std::string_view topic) const {
  const detail::TopicState* t = core_->find_topic(topic);
  return t != nullptr ? t->c : TopicCounters{};
}

}  // namespace ringactor::http
