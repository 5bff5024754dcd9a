#pragma once
// Adaptive sending rate: additive increase, multiplicative decrease (AIMD, as TCP does).
// A throttled answer (429 / APIG.0308) cuts the rate limit; a spell without throttling
// raises it again gradually, up to the configured --rate (or back to no limit).
// The caller passes the time in, so tests drive it with a hand-made clock.
#include <array>
#include <chrono>
#include <cstdint>

namespace koorelease {

struct adaptive_rate_settings {
    // The limit is multiplied by this on throttling (0 < f < 1).
    double decrease_factor = 0.7;
    // At most one cut per this interval: answers to requests sent before a cut keep coming
    // back throttled for about a round trip, and must not cut the rate again and again.
    std::chrono::nanoseconds decrease_cooldown{std::chrono::seconds(1)};
    // Each second without throttling (after the cooldown) adds this share of the rate at
    // which throttling was last seen.
    double increase_per_second = 0.05;
    // Never below this many requests per second.
    double min_rate = 1.0;
};

class throttle_controller {
public:
    using clock = std::chrono::steady_clock;

    // ceiling: the configured --rate, 0 for none.
    throttle_controller(double ceiling, adaptive_rate_settings settings);

    // Counts a request sent at `now`, for the measured sending rate.
    void on_sent(clock::time_point now);

    // A throttled answer arrived. Returns true when the limit was lowered.
    bool on_throttled(clock::time_point now);

    // Called regularly (a few times a second). Returns true when the limit was raised.
    bool on_tick(clock::time_point now);

    // The limit in force, requests per second; 0 means none.
    double limit() const { return limit_; }
    // Whether throttling has the limit below the ceiling now.
    bool lowered() const { return lowered_; }
    // Requests sent in the last second, as measured.
    double measured_rate(clock::time_point now);
    std::uint64_t throttled_count() const { return throttled_; }

private:
    static constexpr int slots = 10;  // 100 ms each: a one-second sliding window
    void advance(clock::time_point now);

    double ceiling_;
    adaptive_rate_settings settings_;
    double limit_;
    bool lowered_ = false;
    double cut_level_ = 0;  // the rate at which throttling was last seen
    clock::time_point last_cut_{};
    clock::time_point last_tick_{};
    std::uint64_t throttled_ = 0;
    std::array<std::uint32_t, slots> sent_{};
    std::int64_t slot_index_ = -1;  // absolute 100 ms slot number of sent_[slot_index_ % slots]
};

}  // namespace koorelease
