#include "koorelease/duration.hpp"

#include <charconv>
#include <cmath>

namespace koorelease {

std::optional<duration> parse_duration(std::string_view text) {
    std::size_t unit_at = 0;
    while (unit_at < text.size() &&
           ((text[unit_at] >= '0' && text[unit_at] <= '9') || text[unit_at] == '.')) {
        ++unit_at;
    }
    if (unit_at == 0 || unit_at == text.size()) return std::nullopt;
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + unit_at, value);
    if (ec != std::errc{} || end != text.data() + unit_at || !std::isfinite(value)) {
        return std::nullopt;
    }
    const std::string_view unit = text.substr(unit_at);
    double ns_per_unit = 0;
    if (unit == "ns") ns_per_unit = 1;
    else if (unit == "us") ns_per_unit = 1e3;
    else if (unit == "ms") ns_per_unit = 1e6;
    else if (unit == "s") ns_per_unit = 1e9;
    else if (unit == "m") ns_per_unit = 60e9;
    else if (unit == "h") ns_per_unit = 3600e9;
    else return std::nullopt;
    const double ns = value * ns_per_unit;
    // Anything past ~100 years is a typo, and it would overflow the clock arithmetic.
    if (ns > 3.0e18) return std::nullopt;
    return duration{static_cast<duration::rep>(std::llround(ns))};
}

}  // namespace koorelease
