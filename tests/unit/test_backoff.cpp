#include <gtest/gtest.h>

#include <random>

#include "koorelease/backoff.hpp"

namespace koorelease {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

TEST(Backoff, WindowDoublesUpToTheCap) {
    backoff_policy p{milliseconds(100), milliseconds(1000)};
    EXPECT_EQ(p.window(0), milliseconds(100));
    EXPECT_EQ(p.window(1), milliseconds(200));
    EXPECT_EQ(p.window(2), milliseconds(400));
    EXPECT_EQ(p.window(3), milliseconds(800));
    EXPECT_EQ(p.window(4), milliseconds(1000));
    EXPECT_EQ(p.window(5), milliseconds(1000));
    EXPECT_EQ(p.window(1'000'000), milliseconds(1000));  // no overflow however many retries
}

TEST(Backoff, ZeroBaseMeansNoWait) {
    backoff_policy p{nanoseconds(0), milliseconds(1000)};
    std::mt19937_64 rng(1);
    EXPECT_EQ(p.window(7), nanoseconds(0));
    EXPECT_EQ(p.delay(7, rng), nanoseconds(0));
}

TEST(Backoff, CapBelowBaseIsTheCap) {
    backoff_policy p{milliseconds(500), milliseconds(200)};
    EXPECT_EQ(p.window(0), milliseconds(200));
}

TEST(Backoff, DelaysStayWithinTheWindow) {
    backoff_policy p{milliseconds(100), milliseconds(1000)};
    std::mt19937_64 rng(42);
    for (std::uint32_t retry = 0; retry < 8; ++retry) {
        for (int i = 0; i < 2000; ++i) {
            const auto d = p.delay(retry, rng);
            ASSERT_GE(d.count(), 0);
            ASSERT_LE(d, p.window(retry));
        }
    }
}

TEST(Backoff, FullJitterSpreadsOverTheWholeWindow) {
    backoff_policy p{milliseconds(100), milliseconds(10'000)};
    std::mt19937_64 rng(7);
    const auto w = p.window(3).count();
    int buckets[10] = {};
    double sum = 0;
    const int n = 20'000;
    for (int i = 0; i < n; ++i) {
        const auto d = p.delay(3, rng).count();
        ++buckets[std::min<std::int64_t>(9, d * 10 / w)];
        sum += static_cast<double>(d);
    }
    for (int b : buckets) {  // uniform: each tenth gets about n/10
        EXPECT_GT(b, n / 10 * 0.85);
        EXPECT_LT(b, n / 10 * 1.15);
    }
    EXPECT_NEAR(sum / n / static_cast<double>(w), 0.5, 0.02);
}

TEST(Backoff, DeterministicWithASeededSource) {
    backoff_policy p{milliseconds(100), milliseconds(10'000)};
    std::mt19937_64 a(99), b(99), c(100);
    bool any_different = false;
    for (std::uint32_t i = 0; i < 20; ++i) {
        const auto da = p.delay(i, a);
        EXPECT_EQ(da, p.delay(i, b));
        any_different |= da != p.delay(i, c);
    }
    EXPECT_TRUE(any_different);
}

}  // namespace
}  // namespace koorelease
