// Group: members kept in join order, each watched (a group watch, see Stage::send_down) so
// that its stop reaches the owner's groups instead of on_down.
#include "ringactor/actors/group.hpp"

#include <algorithm>
#include <stdexcept>

namespace ringactor::actors {

GroupBase::GroupBase(Actor& owner) : owner_(owner) {}

GroupBase::~GroupBase() {
  if (!owner_id_) return;  // never joined: never registered
  Stage& stage = *owner_id_.stage;
  for (const ActorId& id : order_) {
    if (id) stage.unwatch(owner_id_, id, true);
  }
  stage.unregister_group(owner_id_, this);
}

bool GroupBase::add(ActorId member) {
  if (!member) throw std::invalid_argument("actors::Group::join: an empty Ref");
  if (index_.count(member) != 0) return false;
  if (!owner_id_) {
    // Registered with the owner's stage entry on first use: the owner had no id yet when
    // its members (this group among them) were constructed.
    if (!owner_.id()) throw std::logic_error("actors::Group::join: the owner actor is not spawned yet");
    owner_.id().stage->register_group(owner_.id(), this);
    owner_id_ = owner_.id();
  }
  if (visiting_ == 0 && holes_ > 16 && holes_ * 2 > order_.size()) compact();
  order_.push_back(member);
  index_.emplace(member, order_.size() - 1);
  owner_id_.stage->watch_for_group(owner_id_, member);
  return true;
}

bool GroupBase::remove(ActorId member) noexcept {
  if (index_.count(member) == 0) return false;  // (so owner_id_ is set)
  erase(member);
  owner_id_.stage->unwatch(owner_id_, member, true);
  return true;
}

void GroupBase::erase(ActorId member) noexcept {
  const auto it = index_.find(member);
  if (it == index_.end()) return;
  order_[it->second] = ActorId{};
  ++holes_;
  index_.erase(it);
  if (visiting_ == 0 && holes_ * 2 > order_.size()) compact();
}

void GroupBase::compact() noexcept {
  if (holes_ == 0) return;
  std::size_t out = 0;
  for (std::size_t i = 0; i < order_.size(); ++i) {
    if (!order_[i]) continue;
    order_[out] = order_[i];
    index_[order_[out]] = out;
    ++out;
  }
  order_.resize(out);
  holes_ = 0;
}

void GroupBase::member_down(const DownNotice& notice) {
  if (index_.count(notice.who) == 0) return;  // left before it stopped, or another group's
  erase(notice.who);
  if (down_hook_) down_hook_(notice);
}

// ---- the stage's side -------------------------------------------------------------------

void Stage::register_group(ActorId owner, GroupBase* group) {
  Entry* e = table_.find(owner.slot, owner.generation);
  if (e == nullptr) throw std::logic_error("actors::Group: its owner actor is gone");
  if (!e->extras) e->extras = std::make_unique<Extras>();
  e->extras->groups.push_back(group);
}

void Stage::unregister_group(ActorId owner, GroupBase* group) noexcept {
  Entry* e = table_.find(owner.slot, owner.generation);
  if (e == nullptr || !e->extras) return;  // the owner is being finalised: its extras are gone
  std::erase(e->extras->groups, group);
}

void Stage::groups_down(ActorId owner, const DownNotice& notice) {
  Entry* e = table_.find(owner.slot, owner.generation);
  if (e == nullptr || !e->extras) return;
  // A down hook may destroy a group or make one: walk a copy.
  const std::vector<GroupBase*> groups = e->extras->groups;
  for (GroupBase* g : groups) {
    Entry* again = table_.find(owner.slot, owner.generation);
    if (again == nullptr || !again->extras) return;
    if (std::find(again->extras->groups.begin(), again->extras->groups.end(), g) == again->extras->groups.end()) continue;
    g->member_down(notice);
  }
}

void Stage::watch_for_group(ActorId owner, ActorId target) { watch(Watcher{owner, true}, target); }

void Stage::unwatch(ActorId watcher, ActorId target, bool group) noexcept {
  const Watcher w{watcher, group};
  Stage* ts = target.stage;
  if (ts->reactor_.in_reactor_thread()) {
    ts->remove_watcher(target, w);
    return;
  }
  // A watch left behind (the target's reactor has finished, or no memory for the message)
  // only costs a notice that finds no member, or a dead letter.
  try {
    (void)ts->reactor_.post([ts, target, w] { ts->remove_watcher(target, w); });
  } catch (...) {
  }
}

void Stage::remove_watcher(ActorId target, Watcher watcher) noexcept {
  Entry* e = table_.find(target.slot, target.generation);
  if (e == nullptr || !e->extras) return;
  auto& ws = e->extras->watchers;
  const auto it = std::find_if(ws.begin(), ws.end(), [&](const Watcher& x) { return x.id == watcher.id && x.group == watcher.group; });
  if (it != ws.end()) ws.erase(it);
}

}  // namespace ringactor::actors
