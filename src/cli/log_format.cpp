#include "log_format.hpp"

#include <spdlog/fmt/fmt.h>

#include "koorelease/json_text.hpp"
#include "summary_json.hpp"

namespace koorelease::cli {

namespace {

// Starts a message that is already JSON members: a control character no text message holds
// (the engine's messages are ours, and ids with control characters never get this far).
constexpr char fields_mark = '\x1f';

// Text from elsewhere (a server's error code or header, a message) may hold bytes that are not
// UTF-8: they become '?'.
void append_string(std::string& out, std::string_view key, std::string_view value) {
    out += '"';
    out += key;
    out += "\":\"";
    append_json_escaped_lossy(out, value);
    out += '"';
}

}  // namespace

std::optional<log_format> parse_log_format(std::string_view name) {
    if (name == "text") return log_format::text;
    if (name == "json") return log_format::json;
    return std::nullopt;
}

void json_log_formatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
    std::string out = "{\"time\":\"";
    out += utc_timestamp(msg.time);
    out += "\",\"level\":\"";
    const auto level = spdlog::level::to_string_view(msg.level);
    out.append(level.data(), level.size());
    out += "\",";
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    if (!payload.empty() && payload.front() == fields_mark) {
        out.append(payload.substr(1));
    } else {
        append_string(out, "msg", payload);
    }
    out += "}\n";
    dest.append(out.data(), out.data() + out.size());
}

std::unique_ptr<spdlog::formatter> json_log_formatter::clone() const {
    return std::make_unique<json_log_formatter>();
}

std::string attempt_message(const attempt_report& a, log_format format) {
    if (format == log_format::text) {
        return fmt::format(
            "attempt instance_id={} attempt={} x-request-id={} status={} error_code={} "
            "server_request_id={} "
            "latency_ms={:.3f} result=\"{}\"",
            a.instance_id, a.attempt, a.request_id, a.http_status,
            a.error_code.empty() ? "-" : a.error_code,
            a.server_request_id.empty() ? "-" : a.server_request_id, a.latency_ms, a.what);
    }
    std::string out(1, fields_mark);
    append_string(out, "event", "attempt");
    out += ',';
    append_string(out, "instance_id", a.instance_id);
    out += ",\"attempt\":" + std::to_string(a.attempt) + ',';
    append_string(out, "x_request_id", a.request_id);
    out += ",\"status\":" + std::to_string(a.http_status) + ',';
    append_string(out, "error_code", a.error_code);
    out += ',';
    append_string(out, "server_request_id", a.server_request_id);
    out += fmt::format(",\"latency_ms\":{:.3f},", a.latency_ms);
    append_string(out, "result", a.what);
    return out;
}

}  // namespace koorelease::cli
