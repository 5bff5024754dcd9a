#pragma once
// Capped exponential backoff with full jitter (the AWS Architecture Blog's "Exponential
// Backoff and Jitter"): the n-th retry waits a time drawn uniformly from
// [0, min(cap, base * 2^n)]. Full jitter spreads the retries of many failed requests
// over the whole window, so a server that failed them all at once is not hit again at once.
#include <chrono>
#include <cstdint>
#include <random>

namespace koorelease {

struct backoff_policy {
    std::chrono::nanoseconds base{std::chrono::milliseconds(100)};  // window of the first retry
    std::chrono::nanoseconds cap{std::chrono::seconds(10)};         // largest window

    // The window after `retry` earlier retries (0 for the first retry): min(cap, base * 2^retry).
    std::chrono::nanoseconds window(std::uint32_t retry) const;

    // A delay drawn uniformly from [0, window(retry)] with the given generator.
    template <class URBG>
    std::chrono::nanoseconds delay(std::uint32_t retry, URBG& random) const {
        const auto w = window(retry).count();
        if (w <= 0) return std::chrono::nanoseconds{0};
        std::uniform_int_distribution<std::int64_t> pick(0, w);
        return std::chrono::nanoseconds{pick(random)};
    }
};

}  // namespace koorelease
