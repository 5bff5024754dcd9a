#include "koorelease/endpoint.hpp"

#include <charconv>

namespace koorelease {

namespace {

std::string error(std::string_view url, std::string_view why) {
    return "invalid endpoint '" + std::string(url) + "': " + std::string(why) +
           " (expected https://HOST[:PORT][/PATH-PREFIX], e.g. https://koophone.myhuaweicloud.com)";
}

bool valid_host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

}  // namespace

std::variant<host_and_port, std::string> parse_authority(std::string_view authority) {
    host_and_port out;
    std::string_view port_text;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return std::string("unclosed '[' in an IPv6 address");
        out.host = std::string(authority.substr(1, close - 1));
        const auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') return std::string("unexpected text after the IPv6 address");
            port_text = after.substr(1);
            if (port_text.empty()) return std::string("empty port");
        }
        for (char c : out.host) {
            if (!(c == ':' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                  (c >= 'A' && c <= 'F'))) {
                return std::string("invalid IPv6 address");
            }
        }
    } else {
        const auto colon = authority.find(':');
        out.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
            if (port_text.empty()) return std::string("empty port");
        }
        for (char c : out.host) {
            if (!valid_host_char(c)) return std::string("invalid character in the host name");
        }
    }
    if (out.host.empty()) return std::string("no host");
    if (!port_text.empty()) {
        unsigned port = 0;
        auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
            return std::string("the port must be a number from 1 to 65535");
        }
        out.port = static_cast<std::uint16_t>(port);
    }
    return out;
}

std::string endpoint::release_target() const { return path_prefix + std::string(release_path); }

std::string endpoint::host_header() const {
    const bool v6 = host.find(':') != std::string::npos;
    std::string h = v6 ? "[" + host + "]" : host;
    if (port != (tls ? 443 : 80)) h += ":" + std::to_string(port);
    return h;
}

std::string endpoint::to_string() const {
    return std::string(tls ? "https://" : "http://") + host_header() + path_prefix;
}

std::variant<endpoint, std::string> parse_endpoint(std::string_view url) {
    endpoint ep;
    std::string_view rest;
    if (url.starts_with("https://")) {
        ep.tls = true;
        ep.port = 443;
        rest = url.substr(8);
    } else if (url.starts_with("http://")) {
        ep.tls = false;
        ep.port = 80;
        rest = url.substr(7);
    } else {
        return error(url, "the scheme must be https:// or http://");
    }
    if (rest.find_first_of("?#") != std::string_view::npos) {
        return error(url, "a query or fragment has no place in the base URL");
    }
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    if (authority.find('@') != std::string_view::npos) {
        return error(url, "credentials in the URL are not supported (the token goes in KOOPHONE_TOKEN)");
    }
    auto hp = parse_authority(authority);
    if (auto* why = std::get_if<std::string>(&hp)) return error(url, *why);
    ep.host = std::move(std::get<host_and_port>(hp).host);
    if (const auto port = std::get<host_and_port>(hp).port; port != 0) ep.port = port;
    while (path.ends_with('/')) path.remove_suffix(1);
    for (char c : path) {
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
            return error(url, "the path may not hold spaces or control characters");
        }
    }
    ep.path_prefix = std::string(path);
    if (ep.path_prefix.ends_with(release_path)) {
        return error(url, "give the base URL only: the path " + std::string(release_path) +
                              " is appended by koorelease");
    }
    return ep;
}

}  // namespace koorelease
