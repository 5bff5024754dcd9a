#pragma once
// The log's two formats (--log-format): text, one line per event, for people and grep; json,
// one object per line, for log shippers (Loki, Elasticsearch, journald's JSON). Every message
// logged goes through the same logger; in json each becomes {"time","level","msg"}, and the
// per-attempt line carries its fields as JSON members instead of a message.
#include <spdlog/formatter.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "koorelease/engine.hpp"

namespace koorelease::cli {

enum class log_format { text, json };

std::optional<log_format> parse_log_format(std::string_view name);

// Formats every record as one JSON object: {"time":"...Z","level":"info","msg":"..."}. A
// message made by attempt_message(..., json) is written as its fields instead of "msg".
class json_log_formatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
    std::unique_ptr<spdlog::formatter> clone() const override;
};

// The debug line for one attempt: "attempt instance_id=... x-request-id=..." in text, JSON
// members (marked for json_log_formatter) in json. Holds no token: attempt_report has none.
std::string attempt_message(const attempt_report& a, log_format format);

}  // namespace koorelease::cli
