// Group<T>: a set of actor Refs kept by one actor (a room's players, a lobby's rooms), in
// join order, that drops a member when the member stops: no monitor() and on_down code.
//
//   class Room : public ra::Actor {
//     ra::Group<Player> players_{*this};
//     void join(ra::Ref<Player> p) { players_.join(p); }
//     void tick() { players_.tell_all(&Player::update, frame_); }
//   };
//
// Members may live on any stage (reactor). A member that stops is dropped when the notice of
// its stop reaches the owner (a message, like a monitor's DownNotice), then the hook given
// to on_member_down runs with that notice (a room starts a grace period there, say).
//
// Threads: a Group is a member of its owner actor and used only from the owner's handlers.
// Costs: join/leave/contains O(1) (a hash of the member ids), iteration O(members joined
// since the last compaction); each join places one watch on the member (a few bytes in the
// member's stage entry, taken back by leave() and by the group's destruction).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <utility>
#include <vector>

#include <ringactor/runtime/unique_function.hpp>

#include "ringactor/actors/actor.hpp"
#include "ringactor/actors/ref.hpp"

namespace ringactor::actors {

// The untyped part of Group<T>.
class GroupBase {
 public:
  using DownHook = runtime::UniqueFunction<void(const DownNotice&)>;

  GroupBase(const GroupBase&) = delete;
  GroupBase& operator=(const GroupBase&) = delete;

  std::size_t size() const noexcept { return index_.size(); }
  bool empty() const noexcept { return index_.empty(); }
  bool contains(ActorId member) const noexcept { return index_.count(member) != 0; }
  // Runs `hook` (in the owner's handler) after a member stopped and was dropped.
  void on_member_down(DownHook hook) { down_hook_ = std::move(hook); }

 protected:
  // `owner` is the actor this group is a member of (a data member: `Group<T> g_{*this};`).
  explicit GroupBase(Actor& owner);
  ~GroupBase();

  bool add(ActorId member);
  bool remove(ActorId member) noexcept;
  template <typename F>
  void visit(F&& f) {
    ++visiting_;
    const std::size_t n = order_.size();  // members joining during the visit are not visited
    for (std::size_t i = 0; i < n; ++i) {
      if (order_[i]) f(order_[i]);
    }
    if (--visiting_ == 0) compact();
  }

  std::vector<ActorId> order_;  // join order; empty ids are members that left

 private:
  friend class Stage;
  struct Hash {
    std::size_t operator()(const ActorId& id) const noexcept {
      const auto p = reinterpret_cast<std::uintptr_t>(id.stage);
      return std::hash<std::uint64_t>{}((static_cast<std::uint64_t>(id.slot) << 32 | id.generation) ^ (p >> 4));
    }
  };
  void member_down(const DownNotice& notice);
  void erase(ActorId member) noexcept;
  void compact() noexcept;

  Actor& owner_;
  ActorId owner_id_;
  std::unordered_map<ActorId, std::size_t, Hash> index_;  // member -> position in order_
  std::size_t holes_ = 0;
  int visiting_ = 0;
  DownHook down_hook_;
};

template <typename T>
class Group : public GroupBase {
 public:
  explicit Group(Actor& owner) : GroupBase(owner) {}

  // Adds a member (false if it is already one). A member that is already gone is dropped
  // when that news arrives (a message later).
  bool join(const Ref<T>& member) { return add(member.id()); }
  // Removes a member (false if it is not one). No down hook runs.
  bool leave(const Ref<T>& member) noexcept { return remove(member.id()); }
  bool contains(const Ref<T>& member) const noexcept { return GroupBase::contains(member.id()); }

  // Calls f(const Ref<T>&) for each member in join order. f may join (the new member is not
  // visited) and leave (a member not yet visited is skipped).
  template <typename F>
  void for_each(F&& f) {
    visit([&](ActorId id) { f(Ref<T>(id)); });
  }
  // Tells every member (args are copied for each); returns how many were told.
  template <typename M, typename... A>
  std::size_t tell_all(M method, const A&... args) {
    std::size_t n = 0;
    visit([&](ActorId id) {
      Ref<T>(id).tell(method, args...);
      ++n;
    });
    return n;
  }
  // The members, in join order (a copy).
  std::vector<Ref<T>> members() const {
    std::vector<Ref<T>> out;
    out.reserve(size());
    for (const ActorId& id : order_) {
      if (id) out.emplace_back(id);
    }
    return out;
  }
};

}  // namespace ringactor::actors
