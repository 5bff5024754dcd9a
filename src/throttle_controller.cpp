#include "koorelease/throttle_controller.hpp"

#include <algorithm>

namespace koorelease {

namespace {
std::int64_t slot_of(throttle_controller::clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() / 100;
}
}  // namespace

throttle_controller::throttle_controller(double ceiling, adaptive_rate_settings settings)
    : ceiling_(ceiling > 0 ? ceiling : 0), settings_(settings), limit_(ceiling_) {}

void throttle_controller::advance(clock::time_point now) {
    const auto slot = slot_of(now);
    if (slot_index_ < 0 || slot - slot_index_ >= slots) {
        sent_.fill(0);
    } else {
        for (auto s = slot_index_ + 1; s <= slot; ++s) sent_[s % slots] = 0;
    }
    slot_index_ = std::max(slot_index_, slot);
}

void throttle_controller::on_sent(clock::time_point now) {
    advance(now);
    ++sent_[slot_of(now) % slots];
}

double throttle_controller::measured_rate(clock::time_point now) {
    advance(now);
    std::uint64_t sum = 0;
    for (auto v : sent_) sum += v;
    return static_cast<double>(sum);
}

bool throttle_controller::on_throttled(clock::time_point now) {
    ++throttled_;
    if (lowered_ && now - last_cut_ < settings_.decrease_cooldown) return false;
    // The level to cut from: what is being sent now, or the limit if that is lower.
    double level = measured_rate(now);
    if (limit_ > 0) level = std::min(level, limit_);
    level = std::max(level, settings_.min_rate);
    cut_level_ = level;
    limit_ = std::max(settings_.min_rate, level * settings_.decrease_factor);
    lowered_ = true;
    last_cut_ = now;
    last_tick_ = now;
    return true;
}

bool throttle_controller::on_tick(clock::time_point now) {
    if (!lowered_) return false;
    // The rate grows only with the time since the cooldown after the last cut ended.
    const auto from = std::max(last_tick_, last_cut_ + settings_.decrease_cooldown);
    if (now <= from) return false;
    const double seconds = std::chrono::duration<double>(now - from).count();
    last_tick_ = now;
    limit_ += settings_.increase_per_second * cut_level_ * seconds;
    // Back to the configured ceiling; with none, back to no limit once well past the level
    // that was throttled (the next throttled answer cuts from the measured rate again).
    if (ceiling_ > 0 && limit_ >= ceiling_) {
        limit_ = ceiling_;
        lowered_ = false;
    } else if (ceiling_ == 0 && limit_ >= 1.5 * cut_level_) {
        limit_ = 0;
        lowered_ = false;
    }
    return true;
}

}  // namespace koorelease
