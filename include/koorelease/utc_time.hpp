#pragma once
// UTC times as text (RFC 3339, "Z" or "+00:00"): IAM's token expiry and the journal's
// finished_at are read with the same parser.
#include <chrono>
#include <optional>
#include <string_view>

namespace koorelease {

// Parses "2026-11-28T14:00:00.000000Z" (fraction optional, any number of digits; "Z", "z" or
// "+00:00"). nullopt if it is not such a time or names a day that does not exist.
std::optional<std::chrono::system_clock::time_point> parse_utc_time(std::string_view text);

}  // namespace koorelease
