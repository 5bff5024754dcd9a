#include "koorelease/utc_time.hpp"

#include <charconv>
#include <cstdint>
#include <ctime>

namespace koorelease {

namespace {
int two_digits(std::string_view s, std::size_t at) {
    if (at + 2 > s.size() || s[at] < '0' || s[at] > '9' || s[at + 1] < '0' || s[at + 1] > '9') return -1;
    return (s[at] - '0') * 10 + (s[at + 1] - '0');
}
}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_utc_time(std::string_view t) {
    // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)
    if (t.size() < 20 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't') || t[13] != ':' || t[16] != ':') {
        return std::nullopt;
    }
    int year = 0;
    if (std::from_chars(t.data(), t.data() + 4, year).ptr != t.data() + 4) return std::nullopt;
    const int month = two_digits(t, 5), day = two_digits(t, 8), hour = two_digits(t, 11), minute = two_digits(t, 14),
              second = two_digits(t, 17);
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
        second < 0 || second > 60) {
        return std::nullopt;
    }
    std::size_t i = 19;
    std::chrono::nanoseconds fraction{0};
    if (i < t.size() && t[i] == '.') {
        ++i;
        std::int64_t scale = 100'000'000;
        const std::size_t start = i;
        while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
            fraction += std::chrono::nanoseconds((t[i] - '0') * scale);
            scale /= 10;
            ++i;
        }
        if (i == start) return std::nullopt;
    }
    const std::string_view zone = t.substr(i);
    if (zone != "Z" && zone != "z" && zone != "+00:00") return std::nullopt;
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    const std::time_t secs = ::timegm(&tm);
    if (tm.tm_mday != day) return std::nullopt;  // 31 February and the like were normalised
    return std::chrono::system_clock::from_time_t(secs) +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(fraction);
}

}  // namespace koorelease
