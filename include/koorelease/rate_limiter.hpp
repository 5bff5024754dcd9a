#pragma once
// The run-wide limit on requests per second, with a burst allowance: the generic cell rate
// algorithm (GCRA), which is a token bucket kept as a single "theoretical arrival time".
// Every attempt reserves a slot, retries included, so --rate is what the server sees.
// The caller passes the time in: tests drive it with a hand-made clock.
#include <chrono>
#include <cstdint>

namespace koorelease {

class rate_limiter {
public:
    using clock = std::chrono::steady_clock;

    // rate: requests per second, 0 for no limit. burst: how many requests may go at once
    // after an idle spell (at least 1).
    rate_limiter(double rate, std::uint32_t burst, clock::time_point now);

    // Reserves the next slot and returns when its request may be sent: `now` or later.
    // The reservation is taken even if the caller then has to wait for it.
    clock::time_point reserve(clock::time_point now);

    // Reserves the next slot only if its request may be sent at `now`; otherwise reserves
    // nothing and returns false. For filling a pipeline without waiting.
    bool try_reserve(clock::time_point now);

    // Nothing is sent before `until` (a Retry-After from the server).
    void pause_until(clock::time_point until);

    // A new rate (0: no limit) for the reservations from now on; the burst stays.
    void set_rate(double rate, clock::time_point now);

    double rate() const { return rate_; }
    clock::time_point paused_until() const { return paused_until_; }
    std::uint32_t burst() const { return burst_; }

private:
    double rate_;
    std::uint32_t burst_;
    clock::duration interval_{};   // 1 / rate
    clock::time_point tat_;        // theoretical arrival time of the next request
    clock::time_point paused_until_{};
};

// The documented default burst for a rate: a twentieth of a second's worth of requests,
// at least 1, so that --rate holds over any window longer than ~50 ms.
std::uint32_t default_burst(double rate);

}  // namespace koorelease
