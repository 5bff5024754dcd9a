#include <gtest/gtest.h>

#include "koorelease/throttle_controller.hpp"

namespace koorelease {
namespace {

using clk = throttle_controller::clock;
using std::chrono::milliseconds;
const clk::time_point t0 = clk::time_point{} + std::chrono::hours(1000);

// Sends `rate` requests per second for `ms` milliseconds starting at `from`; returns the
// time of the last one.
clk::time_point send(throttle_controller& c, clk::time_point from, int rate, int ms) {
    const auto step = std::chrono::microseconds(1'000'000 / rate);
    auto t = from;
    auto last = from;
    while (t < from + milliseconds(ms)) {
        c.on_sent(t);
        last = t;
        t += step;
    }
    return last;
}

TEST(ThrottleController, UnlimitedUntilThrottled) {
    throttle_controller c(0, {});
    EXPECT_EQ(c.limit(), 0);
    EXPECT_FALSE(c.on_tick(t0 + std::chrono::seconds(5)));
    EXPECT_EQ(c.limit(), 0);
}

TEST(ThrottleController, ThrottlingCutsFromTheMeasuredRate) {
    throttle_controller c(0, {});
    const auto t = send(c, t0, 1000, 1000);
    EXPECT_NEAR(c.measured_rate(t), 1000, 20);
    EXPECT_TRUE(c.on_throttled(t));
    EXPECT_NEAR(c.limit(), 700, 15);
    EXPECT_TRUE(c.lowered());
}

TEST(ThrottleController, CutsAtMostOncePerCooldown) {
    throttle_controller c(500, {});
    auto t = send(c, t0, 500, 1000);
    EXPECT_TRUE(c.on_throttled(t));
    const double after_first = c.limit();
    EXPECT_NEAR(after_first, 350, 1);
    EXPECT_FALSE(c.on_throttled(t + milliseconds(10)));
    EXPECT_FALSE(c.on_throttled(t + milliseconds(900)));
    EXPECT_EQ(c.limit(), after_first);
    EXPECT_EQ(c.throttled_count(), 3u);
    t = send(c, t + milliseconds(1), 350, 1100);
    EXPECT_TRUE(c.on_throttled(t));
    EXPECT_NEAR(c.limit(), 245, 5);
}

TEST(ThrottleController, RecoversGraduallyToTheCeiling) {
    throttle_controller c(400, {});
    const auto t = send(c, t0, 400, 1000);
    ASSERT_TRUE(c.on_throttled(t));
    EXPECT_NEAR(c.limit(), 280, 1);
    // No increase during the cooldown.
    EXPECT_FALSE(c.on_tick(t + milliseconds(500)));
    EXPECT_NEAR(c.limit(), 280, 1);
    // Then +5% of 400 = 20 per second.
    auto now = t + milliseconds(1000);
    c.on_tick(now);
    for (int i = 0; i < 4; ++i) {
        now += milliseconds(250);
        EXPECT_TRUE(c.on_tick(now));
    }
    EXPECT_NEAR(c.limit(), 300, 1);
    for (int i = 0; i < 40; ++i) {
        now += milliseconds(250);
        c.on_tick(now);
    }
    EXPECT_EQ(c.limit(), 400);  // capped at the ceiling
    EXPECT_FALSE(c.lowered());
}

TEST(ThrottleController, WithoutCeilingReturnsToNoLimit) {
    throttle_controller c(0, {});
    const auto t = send(c, t0, 100, 1000);
    ASSERT_TRUE(c.on_throttled(t));
    auto now = t;
    for (int i = 0; i < 200 && c.limit() != 0; ++i) {
        now += milliseconds(250);
        c.on_tick(now);
    }
    EXPECT_EQ(c.limit(), 0);
    EXPECT_FALSE(c.lowered());
}

TEST(ThrottleController, NeverBelowTheMinimum) {
    throttle_controller c(0, {.decrease_factor = 0.1, .decrease_cooldown = milliseconds(0), .increase_per_second = 0.05, .min_rate = 2});
    auto t = t0;
    for (int i = 0; i < 50; ++i) {
        c.on_throttled(t);
        t += milliseconds(1);
    }
    EXPECT_EQ(c.limit(), 2);
}

TEST(ThrottleController, MeasuredRateForgetsOldSends) {
    throttle_controller c(0, {});
    const auto t = send(c, t0, 1000, 500);
    EXPECT_NEAR(c.measured_rate(t), 500, 10);
    EXPECT_EQ(c.measured_rate(t + std::chrono::seconds(2)), 0);
}

}  // namespace
}  // namespace koorelease
