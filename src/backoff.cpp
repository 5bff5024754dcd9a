#include "koorelease/backoff.hpp"

#include <algorithm>

namespace koorelease {

std::chrono::nanoseconds backoff_policy::window(std::uint32_t retry) const {
    const auto b = std::max<std::int64_t>(base.count(), 0);
    const auto c = std::max<std::int64_t>(cap.count(), 0);
    if (b == 0) return std::chrono::nanoseconds{0};
    // Double until the cap is reached; stops early so the shift can never overflow.
    std::int64_t w = b;
    for (std::uint32_t i = 0; i < retry && w < c; ++i) w = w > c / 2 ? c : w * 2;
    return std::chrono::nanoseconds{std::min(w, c)};
}

}  // namespace koorelease
