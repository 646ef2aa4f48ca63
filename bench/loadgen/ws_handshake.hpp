// The client side of the WebSocket opening handshake (RFC 6455 section 4): the upgrade
// request, the Sec-WebSocket-Key, and the check of the server's 101 answer, whose
// Sec-WebSocket-Accept must be base64(SHA-1(key + GUID)) (OpenSSL's libcrypto). Used once
// per connection at its start, so these functions may allocate; any thread may call them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace loadgen {

// A fresh 16-byte nonce, base64-encoded (24 characters), from the caller's xorshift state.
std::string ws_key(std::uint64_t& rng);

// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")): 28 characters.
std::string ws_accept(std::string_view key);

// The GET that asks for the upgrade.
std::string ws_upgrade_request(std::string_view path, std::string_view host, std::string_view key);

// Checks a complete answer head (status line and headers, up to and including the blank
// line): status 101, "Upgrade: websocket", "Connection: upgrade" and the expected accept
// value. On failure returns false and sets `why` (the status line when it is not 101).
bool ws_check_answer(std::string_view head, std::string_view expected_accept, std::string& why);

// Gathers the upgrade answer as it arrives, for a connection that sent the upgrade request:
// `hs` collects it (freed once done). kDone: the answer was checked and good; `used` says how
// many of these n bytes were the answer (the rest are frames). kFailed: `why` says what.
enum class UpgradeStep { kNeedMore, kDone, kFailed };
UpgradeStep ws_take_answer(std::string& hs, std::string_view expected_accept, const char* p, std::size_t n,
                           std::size_t& used, std::string& why);

}  // namespace loadgen
