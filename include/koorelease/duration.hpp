#pragma once
// Durations on the command line and in config files: "250ms", "5s", "2m", "1h", "1.5s".
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace koorelease {

using duration = std::chrono::nanoseconds;

// Parses a non-negative number followed by a unit (ns, us, ms, s, m, h). A bare number is
// rejected: "5" could mean seconds or milliseconds, and guessing wrong is worse than asking.
std::optional<duration> parse_duration(std::string_view text);

}  // namespace koorelease
