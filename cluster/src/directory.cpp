// The directory: which process holds which name, which processes are alive, monitors of
// names, and the name keepers that drop a name when its actor stops.
#include <ringactor/runtime/reactor.hpp>

#include "core.hpp"

namespace ringactor::cluster::detail {

void Core::on_directory(const Envelope& e) {
  std::vector<Watch> fired;
  actors::StopReason why = actors::StopReason::kNormal;
  bool ask_names = false;
  bool left = false;
  {
    const std::unique_lock lock(names_m);
    const auto [peer, joined] = peers.try_emplace(e.sender);
    peer->second.last_seen = Clock::now();
    if (e.kind == Kind::kHello || e.kind == Kind::kHeartbeat || e.kind == Kind::kNames) {
      peer->second.name = std::string(e.name);
    }
    if (e.kind == Kind::kHeartbeat) peer->second.load = e.extra;
    // A process heard from for the first time (or again, after it was declared down) that
    // did not say hello: ask for its names.
    ask_names = joined && e.kind != Kind::kHello && e.kind != Kind::kNames && e.kind != Kind::kBye;
    auto add = [&](std::string_view name) {
      auto it = names.find(name);
      if (it == names.end()) {
        names.emplace(std::string(name), NameEntry{false, {}, typeid(void), e.sender});
        names_elsewhere.fetch_add(1, std::memory_order_relaxed);
      } else if (!it->second.here) {
        it->second.process = e.sender;  // moved: the newest announcement wins
      }                                 // registered here: ours stays ours
    };
    switch (e.kind) {
      case Kind::kHello:
      case Kind::kNames:
        if (!for_each_name(e.payload, add)) bump(c.malformed);
        break;
      case Kind::kNameAdd:
        if (e.name.empty()) {
          bump(c.malformed);
          break;
        }
        add(e.name);
        break;
      case Kind::kNameRemove: {
        const auto it = names.find(e.name);
        if (it != names.end() && !it->second.here && it->second.process == e.sender) {
          names.erase(it);
          names_elsewhere.fetch_sub(1, std::memory_order_relaxed);
          why = e.extra <= static_cast<std::uint64_t>(actors::StopReason::kNodeDown)
                    ? static_cast<actors::StopReason>(e.extra)
                    : actors::StopReason::kNormal;
          take_watches_locked(e.name, fired);
        }
        break;
      }
      case Kind::kBye:
        why = actors::StopReason::kShutdown;
        forget_process_locked(e.sender, fired);
        peers.erase(e.sender);
        left = true;
        break;
      case Kind::kHeartbeat: break;
      default: bump(c.malformed); break;
    }
  }
  notify(fired, why);
  if (left) {
    fail_asks_to({e.sender}, "the process left before it answered");
    forget_numbers({e.sender});
  }
  if (e.kind == Kind::kHello) {
    // Our names, to it alone.
    std::string list;
    {
      const std::shared_lock lock(names_m);
      for (const auto& [name, entry] : names) {
        if (entry.here) append_name(list, name);
      }
    }
    std::string data;
    write(data, Kind::kNames, id, 0, 0, {}, process_name, list);
    send_to(e.sender, std::move(data));
  } else if (ask_names) {
    send_to(e.sender, hello());
  }
}

void Core::forget_process_locked(std::uint64_t process, std::vector<Watch>& fired) {
  for (auto it = names.begin(); it != names.end();) {
    if (!it->second.here && it->second.process == process) {
      take_watches_locked(it->first, fired);
      it = names.erase(it);
      names_elsewhere.fetch_sub(1, std::memory_order_relaxed);
    } else {
      ++it;
    }
  }
}

void Core::take_watches_locked(std::string_view name, std::vector<Watch>& fired) {
  auto [first, last] = watches_by_name.equal_range(name);
  for (auto it = first; it != last; ++it) {
    const auto w = watches.find(it->second);
    if (w != watches.end()) {
      fired.push_back(std::move(w->second));
      watches.erase(w);
    }
  }
  watches_by_name.erase(first, last);
}

void Core::notify(std::vector<Watch>& fired, actors::StopReason why) {
  for (Watch& w : fired) {
    actors::Stage::send(w.watcher, [fn = std::move(w.fn), why](actors::Actor* a) mutable {
      if (a != nullptr) fn(why);
    });
  }
  fired.clear();
}

void Core::drop_local(const std::string& name, actors::ActorId actor, actors::StopReason why) {
  std::vector<Watch> fired;
  {
    const std::unique_lock lock(names_m);
    const auto it = names.find(name);
    if (it == names.end() || !it->second.here || !(it->second.actor == actor)) return;
    names.erase(it);
    names_here.fetch_sub(1, std::memory_order_relaxed);
    take_watches_locked(name, fired);
  }
  notify(fired, why);
  announce(Kind::kNameRemove, name, static_cast<std::uint64_t>(why));
}

void Core::declare_down(const std::vector<std::uint64_t>& processes) {
  std::vector<Watch> fired;
  std::vector<std::uint64_t> down;
  {
    const std::unique_lock lock(names_m);
    const auto now = Clock::now();
    for (const std::uint64_t pid : processes) {
      const auto it = peers.find(pid);
      if (it == peers.end() || now - it->second.last_seen <= options.down_after) continue;  // heard meanwhile
      forget_process_locked(pid, fired);
      peers.erase(it);
      down.push_back(pid);
    }
  }
  if (down.empty()) return;
  bump(c.downs, down.size());
  forget_numbers(down);
  notify(fired, actors::StopReason::kNodeDown);
  fail_asks_to(down, "the process went down before it answered");
}

const Handler* Core::handler_for(std::type_index actor, std::string_view type) const {
  const std::shared_lock lock(handlers_m);
  const auto by_actor = handlers.find(actor);
  if (by_actor == handlers.end()) return nullptr;
  const auto it = by_actor->second.find(type);
  return it == by_actor->second.end() ? nullptr : &it->second;  // stable: never erased
}

bool Core::on_our_stages(actors::ActorId id) const noexcept {
  for (const actors::Stage* s : stages) {
    if (s == id.stage) return true;
  }
  return false;
}

std::uint64_t add_watch(Core& core, std::string_view name, MonitorFn fn) {
  const actors::ActorId watcher = actors::Stage::current();
  if (!watcher) throw std::logic_error("cluster: monitor from outside an actor's handler (the notice needs an actor to run on)");
  {
    const std::unique_lock lock(core.names_m);
    if (core.names.find(name) != core.names.end()) {
      const std::uint64_t wid = core.next_watch++;
      core.watches.emplace(wid, Watch{std::string(name), watcher, std::move(fn)});
      core.watches_by_name.emplace(std::string(name), wid);
      return wid;
    }
  }
  std::vector<Watch> now;
  now.push_back(Watch{std::string(name), watcher, std::move(fn)});
  Core::notify(now, actors::StopReason::kUnknown);
  return 0;
}

// ---- NameKeeper ----------------------------------------------------------------------------

void NameKeeper::watch(actors::ActorId actor, std::string name) {
  watched_.emplace(actor.slot, std::pair{actor, std::move(name)});
  monitor_id(actor);
}

void NameKeeper::unwatch(std::string name) {
  for (auto it = watched_.begin(); it != watched_.end(); ++it) {
    if (it->second.second == name) {
      watched_.erase(it);
      return;
    }
  }
}

void NameKeeper::on_down(const actors::DownNotice& notice) {
  const auto core = core_.lock();
  auto [first, last] = watched_.equal_range(notice.who.slot);
  while (first != last) {
    if (first->second.first == notice.who) {
      if (core) core->drop_local(first->second.second, notice.who, notice.reason);
      first = watched_.erase(first);
    } else {
      ++first;
    }
  }
}

}  // namespace ringactor::cluster::detail
