#include "koorelease/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace koorelease {

namespace {
rate_limiter::clock::duration interval_of(double rate) {
    if (rate <= 0) return {};
    return std::chrono::duration_cast<rate_limiter::clock::duration>(
        std::chrono::duration<double>(1.0 / rate));
}
}  // namespace

rate_limiter::rate_limiter(double rate, std::uint32_t burst, clock::time_point now)
    : rate_(rate > 0 ? rate : 0), burst_(std::max<std::uint32_t>(burst, 1)),
      interval_(interval_of(rate)), tat_(now) {}

rate_limiter::clock::time_point rate_limiter::reserve(clock::time_point now) {
    const auto earliest = std::max(now, paused_until_);
    if (rate_ <= 0) return earliest;
    // GCRA: a request conforms if it comes no earlier than tat - (burst - 1) * interval.
    const auto tat = std::max(tat_, earliest);
    const auto allowed_at = tat - interval_ * (burst_ - 1);
    tat_ = tat + interval_;
    return std::max(earliest, allowed_at);
}

bool rate_limiter::try_reserve(clock::time_point now) {
    if (now < paused_until_) return false;
    if (rate_ <= 0) return true;
    const auto tat = std::max(tat_, now);
    if (tat - interval_ * (burst_ - 1) > now) return false;
    tat_ = tat + interval_;
    return true;
}

void rate_limiter::pause_until(clock::time_point until) {
    paused_until_ = std::max(paused_until_, until);
}

void rate_limiter::set_rate(double rate, clock::time_point now) {
    const bool was_unlimited = rate_ <= 0;
    rate_ = rate > 0 ? rate : 0;
    interval_ = interval_of(rate_);
    // Coming from no limit, the bucket starts full at `now`, not at the construction time.
    if (was_unlimited) tat_ = now;
}

std::uint32_t default_burst(double rate) {
    if (rate <= 0) return 1;
    return static_cast<std::uint32_t>(std::max(1.0, std::ceil(rate / 20.0)));
}

}  // namespace koorelease
