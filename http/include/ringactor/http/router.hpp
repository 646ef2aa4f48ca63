// Router<Handler>: maps (method, path) to a handler, with `:param` captures and a trailing
// `*`, answering "not found" (404) and "method not allowed" (405 with the Allow list).
//
// Patterns are split on '/': a static segment matches itself, `:name` matches any one
// non-empty segment and captures it, and a final `*` matches the rest of the path (possibly
// empty) and captures it as "*". When several routes could match, static segments win over
// captures and captures over `*`, segment by segment, backtracking when a branch dead-ends.
// A GET route also answers HEAD unless a HEAD route exists.
//
// Matching allocates nothing: captures are views into the path given to match(). Build the
// router at setup (add() throws std::invalid_argument for a malformed or duplicate route),
// then match from the reactor thread; match() is const and needs no lock if nobody adds.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringactor::http {

// Captured path parameters of one match (at most kMax; views into the matched path).
class Params {
 public:
  static constexpr std::size_t kMax = 8;
  // The capture named `name` (without ':'), or an empty view.
  std::string_view get(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < size_; ++i) {
      if (items_[i].first == name) return items_[i].second;
    }
    return {};
  }
  std::size_t size() const noexcept { return size_; }
  void clear() noexcept { size_ = 0; }
  // Used by the router.
  void push(std::string_view name, std::string_view value) noexcept { items_[size_++] = {name, value}; }
  void pop() noexcept { --size_; }

 private:
  std::array<std::pair<std::string_view, std::string_view>, kMax> items_{};
  std::size_t size_ = 0;
};

template <typename Handler>
class Router {
 public:
  enum class Outcome { kFound, kNotFound, kMethodNotAllowed };
  struct Match {
    Outcome outcome = Outcome::kNotFound;
    const Handler* handler = nullptr;  // kFound only
    std::string allow;                 // kMethodNotAllowed only: "GET, HEAD, POST"
  };

  // Adds a route. `method` is a method token ("GET"); `pattern` starts with '/'.
  void add(std::string_view method, std::string_view pattern, Handler handler) {
    if (method.empty()) throw std::invalid_argument("Router::add: empty method");
    if (pattern.empty() || pattern.front() != '/') {
      throw std::invalid_argument("Router::add: pattern must start with '/': '" + std::string(pattern) + "'");
    }
    Node* node = &root_;
    std::size_t captures = 0;
    std::string_view rest = pattern.substr(1);
    if (rest.empty()) node = node->child({});  // "/" itself: one empty segment
    while (!rest.empty()) {
      const std::size_t slash = rest.find('/');
      const std::string_view seg = rest.substr(0, slash);
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
      if (seg == "*") {
        if (!rest.empty() || slash != std::string_view::npos) {
          throw std::invalid_argument("Router::add: '*' must be the last segment: '" + std::string(pattern) + "'");
        }
        if (!node->wildcard) node->wildcard = std::make_unique<Node>();
        node = node->wildcard.get();
        ++captures;
        break;
      }
      if (!seg.empty() && seg.front() == ':') {
        const std::string_view name = seg.substr(1);
        if (name.empty()) throw std::invalid_argument("Router::add: ':' needs a name: '" + std::string(pattern) + "'");
        if (!node->param) {
          node->param = std::make_unique<Node>();
          node->param_name = std::string(name);
        } else if (node->param_name != name) {
          throw std::invalid_argument("Router::add: conflicting capture names ':" + node->param_name + "' and ':" +
                                      std::string(name) + "' at the same position");
        }
        node = node->param.get();
        ++captures;
      } else {
        node = node->child(seg);
      }
      if (slash == std::string_view::npos) break;
      if (rest.empty()) {  // trailing slash: an empty last segment
        node = node->child({});
        break;
      }
    }
    if (captures > Params::kMax) throw std::invalid_argument("Router::add: too many captures (max 8)");
    for (const auto& [m, h] : node->handlers) {
      if (m == method) {
        throw std::invalid_argument("Router::add: duplicate route " + std::string(method) + " " + std::string(pattern));
      }
    }
    node->handlers.emplace_back(std::string(method), std::move(handler));
  }

  // Finds the handler for method + path. `params` receives the captures of the match.
  Match match(std::string_view method, std::string_view path, Params& params) const {
    params.clear();
    Match m;
    if (path.empty() || path.front() != '/') return m;
    const Node* node = find(&root_, path.substr(1), params);
    if (node == nullptr || node->handlers.empty()) return m;
    const Handler* get = nullptr;
    for (const auto& [meth, h] : node->handlers) {
      if (meth == method) {
        m.outcome = Outcome::kFound;
        m.handler = &h;
        return m;
      }
      if (meth == "GET") get = &h;
    }
    if (method == "HEAD" && get != nullptr) {
      m.outcome = Outcome::kFound;
      m.handler = get;
      return m;
    }
    m.outcome = Outcome::kMethodNotAllowed;
    for (const auto& [meth, h] : node->handlers) {
      if (!m.allow.empty()) m.allow += ", ";
      m.allow += meth;
      if (meth == "GET" && !has(node, "HEAD")) m.allow += ", HEAD";
    }
    return m;
  }

 private:
  struct Node {
    std::vector<std::pair<std::string, std::unique_ptr<Node>>> statics;
    std::unique_ptr<Node> param;
    std::string param_name;
    std::unique_ptr<Node> wildcard;
    std::vector<std::pair<std::string, Handler>> handlers;

    Node* child(std::string_view seg) {
      for (auto& [s, n] : statics) {
        if (s == seg) return n.get();
      }
      statics.emplace_back(std::string(seg), std::make_unique<Node>());
      return statics.back().second.get();
    }
  };

  static bool has(const Node* n, std::string_view method) {
    for (const auto& [m, h] : n->handlers) {
      if (m == method) return true;
    }
    return false;
  }

  // Depth-first: static, then capture, then wildcard; params are pushed and popped.
  static const Node* find(const Node* node, std::string_view rest, Params& params) {
    // `rest` is what follows the '/' that ended the previous segment.
    const std::size_t slash = rest.find('/');
    const std::string_view seg = rest.substr(0, slash);
    const bool last = slash == std::string_view::npos;
    const std::string_view after = last ? std::string_view() : rest.substr(slash + 1);
    for (const auto& [s, n] : node->statics) {
      if (s != seg) continue;
      const Node* hit = last ? (n->handlers.empty() ? nullptr : n.get()) : find(n.get(), after, params);
      if (hit != nullptr) return hit;
    }
    if (node->param && !seg.empty() && params.size() < Params::kMax) {
      params.push(node->param_name, seg);
      const Node* hit = last ? (node->param->handlers.empty() ? nullptr : node->param.get())
                             : find(node->param.get(), after, params);
      if (hit != nullptr) return hit;
      params.pop();
    }
    if (node->wildcard && !node->wildcard->handlers.empty() && params.size() < Params::kMax) {
      params.push("*", rest);
      return node->wildcard.get();
    }
    return nullptr;
  }

  Node root_;
};

}  // namespace ringactor::http
