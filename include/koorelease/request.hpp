#pragma once
// The bytes of one release request. Everything but the x-request-id, the Content-Length and
// the body is the same for every request of a run, so it is formatted once; each attempt
// then costs one small append into a reused buffer, written with a single write call.
#include <array>
#include <string>
#include <string_view>

#include "koorelease/endpoint.hpp"

namespace koorelease {

// A request id in RFC 9562 textual form: 8-4-4-4-12 lower-case hex digits.
using request_id = std::array<char, 36>;

inline std::string_view view(const request_id& id) { return {id.data(), id.size()}; }

class request_builder {
public:
    // The token must already be checked (see check_token): it goes into a header as is.
    request_builder(const endpoint& ep, std::string_view token, std::string_view user_agent);

    // Replaces `out` with the whole request for one attempt.
    void build(std::string& out, const request_id& id, std::string_view instance_id) const;

    // Appends the request to `out`: pipelined requests go back to back in one buffer.
    void append(std::string& out, const request_id& id, std::string_view instance_id) const;

    // Replaces the token (a fresh one from IAM); it must already be checked.
    void set_token(std::string_view token) { token_.assign(token); }

    // The request with the token replaced by "<redacted>", for --dry-run and debugging.
    std::string redacted_example(const request_id& id, std::string_view instance_id) const;

private:
    std::string head_;      // request line and the constant headers, up to the token
    std::string token_;
};

// Checks a token before use: empty, or holding characters a header cannot carry (CR, LF and
// other control characters would let a token file inject headers). Returns an error message
// that does not quote the token, or empty when it is fine.
std::string check_token(std::string_view token);

}  // namespace koorelease
