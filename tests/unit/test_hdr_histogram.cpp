// The bench's latency histogram against exact percentiles of known samples.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "koorelease/bench/hdr_histogram.hpp"

namespace koorelease::bench {
namespace {

// The exact nearest-rank percentile of sorted values, with the histogram's rank definition.
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double p) {
    return sorted[hdr_histogram::rank_of(p, sorted.size()) - 1];
}

// A percentile is the highest value of the bucket holding the exact one, never more than the
// max: within 1/1024 above the exact value (3 significant digits), never below it.
void expect_within_precision(const hdr_histogram& h, const std::vector<std::uint64_t>& sorted, double p) {
    const std::uint64_t exact = exact_percentile(sorted, p);
    const std::uint64_t got = h.value_at_percentile(p);
    EXPECT_GE(got, exact) << "p" << p;
    EXPECT_LE(got, exact + exact / 1024) << "p" << p;
    EXPECT_EQ(got, std::min(h.highest_equivalent(exact), sorted.back())) << "p" << p;
}

TEST(HdrHistogram, ThreeSignificantDigitsMeans2048SubBuckets) {
    hdr_histogram h(3);
    EXPECT_EQ(h.sub_bucket_count(), 2048u);
    // 1 us .. 60 s in 16 buckets of 1024 sub-buckets each, after the first 2048.
    EXPECT_EQ(h.counts_length(), 17u * 1024u);
    EXPECT_EQ(hdr_histogram(2).sub_bucket_count(), 256u);
}

TEST(HdrHistogram, BucketsAreContiguousExactBelow2048AndWithin1Of1024Above) {
    hdr_histogram h(3);
    std::uint64_t expected_low = 0;
    for (std::size_t i = 0; i < h.counts_length(); ++i) {
        ASSERT_EQ(h.lowest_at_index(i), expected_low) << i;
        const std::uint64_t high = h.highest_at_index(i);
        ASSERT_EQ(h.index_of(expected_low), i);
        ASSERT_EQ(h.index_of(high), i);
        if (expected_low < 2048) ASSERT_EQ(high, expected_low);
        else ASSERT_LE(high - expected_low + 1, expected_low / 1024);
        expected_low = high + 1;
    }
    EXPECT_GT(expected_low, hdr_histogram::highest_trackable_us);
}

TEST(HdrHistogram, EmptyReportsZero) {
    hdr_histogram h;
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.value_at_percentile(50), 0u);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.min(), 0u);
    EXPECT_EQ(h.mean(), 0);
    EXPECT_TRUE(h.percentile_spectrum().empty());
}

TEST(HdrHistogram, OneValue) {
    hdr_histogram h;
    h.record(20'123);
    for (double p : {0.0, 1.0, 50.0, 99.99, 100.0}) EXPECT_EQ(h.value_at_percentile(p), 20'123u) << p;
    EXPECT_EQ(h.min(), 20'123u);
    EXPECT_EQ(h.max(), 20'123u);
}

TEST(HdrHistogram, EdgeValues) {
    hdr_histogram h;
    h.record(0);
    h.record(1);
    h.record(2047);
    h.record(2048);
    h.record(hdr_histogram::highest_trackable_us);
    EXPECT_EQ(h.count(), 5u);
    EXPECT_EQ(h.clamped(), 0u);
    EXPECT_EQ(h.value_at_percentile(20), 0u);
    EXPECT_EQ(h.value_at_percentile(40), 1u);
    EXPECT_EQ(h.value_at_percentile(60), 2047u);
    EXPECT_EQ(h.value_at_percentile(80), 2049u);  // 2048 and 2049 share a bucket above 2048
    EXPECT_EQ(h.value_at_percentile(100), hdr_histogram::highest_trackable_us);
}

TEST(HdrHistogram, ValuesAboveTheRangeAreClampedAndCounted) {
    hdr_histogram h;
    h.record(10);
    h.record(hdr_histogram::highest_trackable_us + 1);
    h.record(3'600'000'000ULL);  // an hour
    EXPECT_EQ(h.count(), 3u);
    EXPECT_EQ(h.clamped(), 2u);
    EXPECT_EQ(h.max(), hdr_histogram::highest_trackable_us);
    EXPECT_EQ(h.value_at_percentile(100), hdr_histogram::highest_trackable_us);
    EXPECT_EQ(h.value_at_percentile(30), 10u);
}

TEST(HdrHistogram, RankIsNearestRank) {
    EXPECT_EQ(hdr_histogram::rank_of(50, 10), 5u);
    EXPECT_EQ(hdr_histogram::rank_of(50, 11), 6u);
    EXPECT_EQ(hdr_histogram::rank_of(99.9, 1000), 999u);  // not 1000 through rounding
    EXPECT_EQ(hdr_histogram::rank_of(99.99, 10000), 9999u);
    EXPECT_EQ(hdr_histogram::rank_of(0, 10), 1u);
    EXPECT_EQ(hdr_histogram::rank_of(100, 10), 10u);
}

class HdrHistogramDistributions : public ::testing::TestWithParam<int> {};

// Seeded random distributions of many shapes: every reported percentile is within the
// histogram's precision of the exact one.
TEST_P(HdrHistogramDistributions, PercentilesMatchExactOnes) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(GetParam()));
    std::vector<std::uint64_t> values;
    const int n = 20'000 + GetParam() * 1'000;
    auto draw = [&]() -> double {
        switch (GetParam() % 5) {
            case 0: return std::lognormal_distribution<double>(std::log(20'000.0), 0.5)(rng);
            case 1: return std::uniform_real_distribution<double>(0, 60'000'000.0)(rng);
            case 2: return std::exponential_distribution<double>(1.0 / 5'000.0)(rng);
            case 3: {  // 20 ms with 1% of 500 ms stalls: bimodal, the tail in p99.9
                const bool stall = std::uniform_real_distribution<double>(0, 1)(rng) < 0.01;
                return (stall ? 500'000.0 : 20'000.0) + std::uniform_real_distribution<double>(0, 2'000.0)(rng);
            }
            default: return std::pow(10.0, std::uniform_real_distribution<double>(0, 7.7)(rng));  // log-uniform
        }
    };
    hdr_histogram h;
    for (int i = 0; i < n; ++i) {
        const auto v = static_cast<std::uint64_t>(draw());
        values.push_back(v);
        h.record(v);
    }
    std::sort(values.begin(), values.end());
    for (double p : {0.0, 0.1, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
        expect_within_precision(h, values, p);
    }
    for (int p10 = 1; p10 < 1000; p10 += 7) expect_within_precision(h, values, p10 / 10.0);
    EXPECT_EQ(h.min(), values.front());
    EXPECT_EQ(h.max(), values.back());
    EXPECT_EQ(h.count(), values.size());
    double sum = 0;
    for (auto v : values) sum += static_cast<double>(v);
    EXPECT_NEAR(h.mean(), sum / static_cast<double>(values.size()), 1e-6 * sum / static_cast<double>(values.size()));
}

INSTANTIATE_TEST_SUITE_P(Seeds, HdrHistogramDistributions, ::testing::Range(1, 11));

TEST(HdrHistogram, MergeEqualsRecordingEverythingInOne) {
    std::mt19937_64 rng(7);
    std::exponential_distribution<double> dist(1.0 / 30'000.0);
    hdr_histogram a, b, all;
    for (int i = 0; i < 5000; ++i) {
        const auto v = static_cast<std::uint64_t>(dist(rng));
        (i % 3 ? a : b).record(v);
        all.record(v);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    EXPECT_EQ(a.min(), all.min());
    EXPECT_EQ(a.max(), all.max());
    for (double p : {1.0, 50.0, 99.0, 99.9}) EXPECT_EQ(a.value_at_percentile(p), all.value_at_percentile(p));
}

TEST(HdrHistogram, SpectrumRisesToTheMaxAtFiveTicksPerHalvingOfTheRest) {
    hdr_histogram h;
    for (std::uint64_t v = 1; v <= 100'000; ++v) h.record(v);
    const auto s = h.percentile_spectrum(5);
    ASSERT_FALSE(s.empty());
    EXPECT_EQ(s.front().percentile, 0.0);
    EXPECT_EQ(s.front().value, 1u);
    EXPECT_EQ(s.back().percentile, 100.0);
    EXPECT_EQ(s.back().value, 100'000u);
    // 0, then 1 - 2^(-k/5) for k = 1.. while 1/(1-p) <= count: 5 * log2(100000) = 83 levels.
    EXPECT_EQ(s.size(), 1u + 83u + 1u);
    EXPECT_NEAR(s[5].percentile, 50.0, 1e-9);
    EXPECT_NEAR(s[10].percentile, 75.0, 1e-9);
    for (std::size_t i = 1; i < s.size(); ++i) {
        EXPECT_GT(s[i].percentile, s[i - 1].percentile);
        EXPECT_GE(s[i].value, s[i - 1].value);
        EXPECT_EQ(s[i].value, h.value_at_percentile(s[i].percentile));
    }
}

}  // namespace
}  // namespace koorelease::bench
