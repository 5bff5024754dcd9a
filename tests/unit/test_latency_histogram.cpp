#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "koorelease/latency_histogram.hpp"

namespace koorelease {
namespace {

TEST(LatencyHistogram, BucketsAreContiguousAndPrecise) {
    std::uint64_t expected_low = 0;
    for (std::size_t i = 0; i < 128 + 30 * 64; ++i) {
        ASSERT_EQ(latency_histogram::lowest_in(i), expected_low) << i;
        const auto high = latency_histogram::highest_in(i);
        ASSERT_EQ(latency_histogram::index_of(expected_low), i);
        ASSERT_EQ(latency_histogram::index_of(high), i);
        // Width within 1/64 of the bucket's lowest value: half-width under 1%.
        if (expected_low >= 128) {
            ASSERT_LE(high - expected_low + 1, expected_low / 64);
        }
        expected_low = high + 1;
    }
}

TEST(LatencyHistogram, EmptyReportsZero) {
    latency_histogram h;
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.percentile_us(50), 0);
    EXPECT_EQ(h.mean_us(), 0);
}

TEST(LatencyHistogram, PercentilesMatchExactOnesWithinOnePercent) {
    std::mt19937_64 rng(3);
    std::lognormal_distribution<double> dist(std::log(2000.0), 1.0);  // median 2 ms
    std::vector<std::uint64_t> values;
    latency_histogram h;
    for (int i = 0; i < 100'000; ++i) {
        const auto v = static_cast<std::uint64_t>(dist(rng)) + 1;
        values.push_back(v);
        h.record_us(v);
    }
    std::sort(values.begin(), values.end());
    for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
        const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * values.size()));
        const double exact = static_cast<double>(values[std::max<std::size_t>(rank, 1) - 1]);
        EXPECT_NEAR(h.percentile_us(p), exact, exact * 0.01 + 0.5) << "p" << p;
    }
    EXPECT_EQ(h.max_us(), values.back());
    EXPECT_EQ(h.min_us(), values.front());
}

TEST(LatencyHistogram, RecordsNanosecondsAsRoundedMicroseconds) {
    latency_histogram h;
    h.record(std::chrono::nanoseconds(1499));
    h.record(std::chrono::nanoseconds(1500));
    h.record(std::chrono::nanoseconds(-5));
    EXPECT_EQ(h.min_us(), 0u);
    EXPECT_EQ(h.max_us(), 2u);
    EXPECT_EQ(h.count(), 3u);
}

TEST(LatencyHistogram, HugeValuesLandInTheLastBucket) {
    latency_histogram h;
    h.record_us(UINT64_MAX / 2);
    EXPECT_EQ(h.count(), 1u);
    EXPECT_EQ(h.max_us(), UINT64_MAX / 2);
    EXPECT_EQ(h.percentile_us(50), static_cast<double>(UINT64_MAX / 2));
}

TEST(LatencyHistogram, MergeAddsCounts) {
    latency_histogram a, b;
    for (int i = 1; i <= 100; ++i) a.record_us(i);
    for (int i = 101; i <= 200; ++i) b.record_us(i);
    a.merge(b);
    EXPECT_EQ(a.count(), 200u);
    EXPECT_NEAR(a.percentile_us(50), 100, 1);
    EXPECT_EQ(a.max_us(), 200u);
    EXPECT_NEAR(a.mean_us(), 100.5, 1e-9);
}

}  // namespace
}  // namespace koorelease
