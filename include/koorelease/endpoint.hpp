#pragma once
// The base URL of the API, e.g. https://koophone.myhuaweicloud.com or
// https://gateway.example:8443/koophone (a path prefix is kept, for gateways).
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace koorelease {

inline constexpr std::string_view release_path = "/v1/instances/session/release";

struct endpoint {
    bool tls = true;            // https (default) or http
    std::string host;           // name or address, without brackets for IPv6
    std::uint16_t port = 443;
    std::string path_prefix;    // "" or "/something" (no trailing slash)

    // The request target: path_prefix + release_path.
    std::string release_target() const;
    // The Host header value: the port is named only when it is not the scheme's default.
    std::string host_header() const;
    // https://host[:port]/prefix, for messages.
    std::string to_string() const;
};

// On error, a message that says what is wrong and what a correct value looks like.
std::variant<endpoint, std::string> parse_endpoint(std::string_view url);

// The HOST[:PORT] or [IPV6][:PORT] part of a URL (for the API's and Redis's URLs alike): the
// host without brackets, and the port (0 when none is given). On error, what is wrong.
struct host_and_port {
    std::string host;
    std::uint16_t port = 0;
};
std::variant<host_and_port, std::string> parse_authority(std::string_view authority);

}  // namespace koorelease
