#include "koorelease/bench/schedule.hpp"

#include <cmath>

namespace koorelease::bench {

std::uint64_t load_schedule::count() const {
    const double seconds = std::chrono::duration<double>(duration_).count();
    const double n = intended_rate() * seconds;  // requests sent by the end
    // Request k is scheduled when k < n; a relative nudge absorbs the product's rounding.
    return n <= 0 ? 0 : static_cast<std::uint64_t>(std::ceil(n * (1 - 1e-12)));
}

std::chrono::nanoseconds load_schedule::send_offset(std::uint64_t k) const {
    if (k == 0) return std::chrono::nanoseconds{0};
    // Requests sent by time t: N(t) = r0 t + a t^2 with a = (r1 - r0) / (2 D). Request k goes
    // at N(t) = k: t = 2k / (r0 + sqrt(r0^2 + 4 a k)), the form that stays exact when a = 0.
    const double seconds = std::chrono::duration<double>(duration_).count();
    const double a = seconds > 0 ? (to_rate_ - from_rate_) / (2 * seconds) : 0;
    const double kd = static_cast<double>(k);
    const double discriminant = std::max(0.0, from_rate_ * from_rate_ + 4 * a * kd);
    const double t = 2 * kd / (from_rate_ + std::sqrt(discriminant));
    return std::chrono::nanoseconds{static_cast<std::int64_t>(std::llround(t * 1e9))};
}

}  // namespace koorelease::bench
