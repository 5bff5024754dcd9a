#include <gtest/gtest.h>

#include "koorelease/rate_limiter.hpp"

namespace koorelease {
namespace {

using clock_t_ = rate_limiter::clock;
using std::chrono::milliseconds;

const clock_t_::time_point t0 = clock_t_::time_point{} + std::chrono::hours(1000);

TEST(RateLimiter, NoLimitSendsEverythingAtOnce) {
    rate_limiter l(0, 1, t0);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(l.reserve(t0), t0);
}

TEST(RateLimiter, BurstGoesAtOnceThenOneEveryInterval) {
    rate_limiter l(100, 5, t0);  // 10 ms apart
    for (int i = 0; i < 5; ++i) EXPECT_EQ(l.reserve(t0), t0) << i;
    EXPECT_EQ(l.reserve(t0), t0 + milliseconds(10));
    EXPECT_EQ(l.reserve(t0), t0 + milliseconds(20));
    EXPECT_EQ(l.reserve(t0), t0 + milliseconds(30));
}

TEST(RateLimiter, HoldsTheRateOverAnyWindow) {
    // Reserve as fast as possible and check every one-second window of send times.
    const double rate = 200;
    const std::uint32_t burst = 10;
    rate_limiter l(rate, burst, t0);
    std::vector<clock_t_::time_point> sent;
    auto now = t0;
    for (int i = 0; i < 2000; ++i) {
        const auto at = l.reserve(now);
        ASSERT_GE(at, now);
        sent.push_back(at);
        now += std::chrono::microseconds(100);  // callers arrive far faster than the rate
        if (now < at) now = at;
    }
    std::size_t first = 0;
    for (std::size_t last = 0; last < sent.size(); ++last) {
        while (sent[last] - sent[first] >= std::chrono::seconds(1)) ++first;
        ASSERT_LE(last - first + 1, static_cast<std::size_t>(rate) + burst);
    }
    const double seconds = std::chrono::duration<double>(sent.back() - sent.front()).count();
    EXPECT_NEAR((2000 - burst) / seconds, rate, 1.0);
}

TEST(RateLimiter, IdleTimeRefillsOnlyTheBurst) {
    rate_limiter l(10, 3, t0);
    for (int i = 0; i < 3; ++i) l.reserve(t0);
    const auto later = t0 + std::chrono::seconds(60);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(l.reserve(later), later);
    EXPECT_EQ(l.reserve(later), later + milliseconds(100));
}

TEST(RateLimiter, PauseUntilDelaysEverything) {
    rate_limiter l(0, 1, t0);
    l.pause_until(t0 + std::chrono::seconds(2));
    EXPECT_EQ(l.reserve(t0), t0 + std::chrono::seconds(2));
    EXPECT_EQ(l.reserve(t0 + std::chrono::seconds(3)), t0 + std::chrono::seconds(3));
    rate_limiter limited(100, 1, t0);
    limited.pause_until(t0 + milliseconds(500));
    EXPECT_EQ(limited.reserve(t0), t0 + milliseconds(500));
    EXPECT_EQ(limited.reserve(t0), t0 + milliseconds(510));
}

TEST(RateLimiter, SetRateAppliesToLaterReservations) {
    rate_limiter l(100, 1, t0);
    EXPECT_EQ(l.reserve(t0), t0);
    EXPECT_EQ(l.reserve(t0), t0 + milliseconds(10));
    l.set_rate(10, t0);
    EXPECT_EQ(l.reserve(t0), t0 + milliseconds(20));   // the slot already due stays
    EXPECT_EQ(l.reserve(t0), t0 + milliseconds(120));  // then 100 ms apart
    l.set_rate(0, t0);
    EXPECT_EQ(l.reserve(t0), t0);
    l.set_rate(1, t0 + std::chrono::seconds(5));  // from no limit: starts afresh at `now`
    EXPECT_EQ(l.reserve(t0 + std::chrono::seconds(5)), t0 + std::chrono::seconds(5));
    EXPECT_EQ(l.reserve(t0 + std::chrono::seconds(5)), t0 + std::chrono::seconds(6));
}

TEST(RateLimiter, TryReserveTakesOnlyASlotThatIsDueNow) {
    rate_limiter l(100, 3, t0);  // 10 ms apart, 3 at once
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(l.try_reserve(t0)) << i;
    EXPECT_FALSE(l.try_reserve(t0));  // the burst is spent
    EXPECT_FALSE(l.try_reserve(t0));  // a refusal reserves nothing...
    EXPECT_EQ(l.reserve(t0), t0 + milliseconds(10));  // ...so the next slot is still the first one due
    EXPECT_FALSE(l.try_reserve(t0 + milliseconds(19)));
    EXPECT_TRUE(l.try_reserve(t0 + milliseconds(20)));
    EXPECT_FALSE(l.try_reserve(t0 + milliseconds(20)));
}

TEST(RateLimiter, TryReserveAgreesWithReserveOverAnyPattern) {
    // Two limiters see the same times; one is asked with try_reserve, the other with reserve
    // whenever try_reserve says yes: every yes must be a slot reserve would give at once.
    rate_limiter a(250, 4, t0);
    rate_limiter b(250, 4, t0);
    auto now = t0;
    int granted = 0;
    for (int i = 0; i < 5000; ++i) {
        now += std::chrono::microseconds((i * 7919) % 3000);
        if (a.try_reserve(now)) {
            ++granted;
            EXPECT_EQ(b.reserve(now), now) << i;
        }
    }
    const double seconds = std::chrono::duration<double>(now - t0).count();
    EXPECT_LE(granted, 250 * seconds + 4);
    EXPECT_GE(granted, 250 * seconds * 0.9);
}

TEST(RateLimiter, TryReserveRespectsAPauseAndNoLimit) {
    rate_limiter unlimited(0, 1, t0);
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(unlimited.try_reserve(t0));
    unlimited.pause_until(t0 + milliseconds(100));
    EXPECT_FALSE(unlimited.try_reserve(t0 + milliseconds(99)));
    EXPECT_TRUE(unlimited.try_reserve(t0 + milliseconds(100)));
    rate_limiter limited(10, 5, t0);
    limited.pause_until(t0 + milliseconds(50));
    EXPECT_FALSE(limited.try_reserve(t0));
    EXPECT_TRUE(limited.try_reserve(t0 + milliseconds(50)));
}

TEST(RateLimiter, DefaultBurstIsATwentiethOfTheRate) {
    EXPECT_EQ(default_burst(0), 1u);
    EXPECT_EQ(default_burst(5), 1u);
    EXPECT_EQ(default_burst(200), 10u);
    EXPECT_EQ(default_burst(1000), 50u);
    EXPECT_EQ(default_burst(201), 11u);
}

}  // namespace
}  // namespace koorelease
