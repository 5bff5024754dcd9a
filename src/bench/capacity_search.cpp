#include "koorelease/bench/capacity_search.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace koorelease::bench {

capacity_search::capacity_search(const capacity_settings& settings, const capacity_bounds& bounds)
    : settings_(settings), bounds_(bounds), next_(std::min(settings.start_rate, settings.max_rate)) {}

bool capacity_search::record(step_result r) {
    r.held = r.p99_us <= bounds_.p99_us && r.error_share <= bounds_.max_error_share;
    steps_.push_back(r);
    if (r.held) {
        highest_held_ = std::max(highest_held_.value_or(0), r.rate);
    } else {
        lowest_failed_ = std::min(lowest_failed_.value_or(r.rate), r.rate);
    }

    if (!highest_held_) {
        why_done_ = "the start rate already crossed the bounds: try a lower --start-rate";
    } else if (!lowest_failed_ && *highest_held_ >= settings_.max_rate) {
        why_done_ = "the maximum rate held";
    } else if (lowest_failed_ && *lowest_failed_ / *highest_held_ - 1 <= settings_.precision) {
        char text[64];
        std::snprintf(text, sizeof text, "bracketed within %g%%", settings_.precision * 100);
        why_done_ = text;
    } else if (steps_.size() >= settings_.max_steps) {
        why_done_ = "--max-steps reached";
    } else if (!lowest_failed_) {
        next_ = std::min(*highest_held_ * settings_.growth, settings_.max_rate);
    } else {
        // Whole requests per second; a midpoint that rounds onto a bound ends the search.
        next_ = std::round((*highest_held_ + *lowest_failed_) / 2);
        if (next_ <= *highest_held_ || next_ >= *lowest_failed_) why_done_ = "bracketed to 1 request/s";
    }
    return r.held;
}

}  // namespace koorelease::bench
