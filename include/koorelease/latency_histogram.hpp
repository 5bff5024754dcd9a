#pragma once
// Latencies in a log-linear histogram (HdrHistogram's bucket scheme): exact below 128 us,
// then 64 linear sub-buckets per power of two, so any recorded value is known to within
// 1/128 of itself (better than 1%) from 1 us to days, in a fixed 18 KB however many values.
#include <array>
#include <chrono>
#include <cstdint>

namespace koorelease {

class latency_histogram {
public:
    void record(std::chrono::nanoseconds latency);
    void record_us(std::uint64_t micros);

    std::uint64_t count() const { return count_; }
    // The p-th percentile (0 < p <= 100) in microseconds: the middle of the bucket holding
    // the value of rank ceil(p/100 * count), clamped to the exact min and max. 0 when empty.
    double percentile_us(double p) const;
    double mean_us() const;
    std::uint64_t min_us() const { return count_ ? min_ : 0; }
    std::uint64_t max_us() const { return max_; }
    double sum_us() const { return static_cast<double>(sum_); }
    // Values recorded at or below `micros` (a Prometheus `le` bucket), counted by bucket: exact
    // below 128 us; above, a bucket counts when it starts at or below `micros` (within 1/128).
    std::uint64_t count_up_to_us(std::uint64_t micros) const;

    void merge(const latency_histogram& other);

    // Bucket arithmetic, public for the tests.
    static std::size_t index_of(std::uint64_t micros);
    static std::uint64_t lowest_in(std::size_t index);
    static std::uint64_t highest_in(std::size_t index);

private:
    static constexpr int max_shift = 40;  // values up to 2^46 us (two years)
    static constexpr std::size_t bucket_count = 128 + max_shift * 64;

    std::array<std::uint64_t, bucket_count> buckets_{};
    std::uint64_t count_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
    long double sum_ = 0;
};

}  // namespace koorelease
