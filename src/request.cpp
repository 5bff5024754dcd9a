#include "koorelease/request.hpp"

#include <charconv>

#include "koorelease/json_text.hpp"

namespace koorelease {

request_builder::request_builder(const endpoint& ep, std::string_view token,
                                 std::string_view user_agent)
    : token_(token) {
    head_.reserve(256);
    head_ += "POST ";
    head_ += ep.release_target();
    head_ += " HTTP/1.1\r\nHost: ";
    head_ += ep.host_header();
    head_ += "\r\nUser-Agent: ";
    head_ += user_agent;
    head_ += "\r\nContent-Type: application/json\r\nAccept: application/json\r\nx-auth-token: ";
}

void request_builder::build(std::string& out, const request_id& id,
                            std::string_view instance_id) const {
    out.clear();
    append(out, id, instance_id);
}

void request_builder::append(std::string& out, const request_id& id,
                             std::string_view instance_id) const {
    out += head_;
    out += token_;
    out += "\r\nx-request-id: ";
    out += view(id);
    out += "\r\nContent-Length: ";
    // The body goes after the headers, but its length must come first: build it in a
    // reused scratch buffer (no allocation per request), then append it.
    thread_local std::string body;
    body.clear();
    body += "{\"instance_id\":\"";
    append_json_escaped(body, instance_id);
    body += "\"}";
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, body.size());
    (void)ec;
    out.append(digits, end);
    out += "\r\n\r\n";
    out += body;
}

std::string request_builder::redacted_example(const request_id& id,
                                              std::string_view instance_id) const {
    request_builder copy = *this;
    copy.token_ = "<redacted>";
    std::string out;
    copy.build(out, id, instance_id);
    return out;
}

std::string check_token(std::string_view token) {
    if (token.empty()) return "the token is empty";
    for (char ch : token) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c >= 0x7f) {
            return "the token holds a control or non-ASCII character (an IAM token is base64 "
                   "text: check the token file for stray bytes)";
        }
    }
    return {};
}

}  // namespace koorelease
