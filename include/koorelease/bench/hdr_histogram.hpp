#pragma once
// Latencies for `koorelease bench`, in HdrHistogram's log-linear scheme (Gil Tene's): values
// below 2 * 10^digits are exact, above that each power of two is split into 10^digits-ish
// linear sub-buckets, so every recorded value is known to `digits` significant digits. With
// the default 3 digits: 2048 sub-buckets, a value known within 1/1024 of itself, from 1 us to
// 60 s in 17,408 counters (139 KB). Values above 60 s are clamped to it and counted.
//
// Debian 12 ships no C/C++ HdrHistogram (only the Java and Go ones), hence this one.
#include <cstdint>
#include <vector>

namespace koorelease::bench {

class hdr_histogram {
public:
    static constexpr std::uint64_t highest_trackable_us = 60'000'000;  // one minute

    // `significant_digits`: 1 to 5 (3: the bench's totals; 2: its per-second series).
    explicit hdr_histogram(int significant_digits = 3);

    // Records a value in microseconds; above highest_trackable_us it is clamped and counted.
    void record(std::uint64_t micros);
    // Adds every value of `other`, which must have the same number of significant digits.
    void merge(const hdr_histogram& other);

    std::uint64_t count() const { return count_; }
    std::uint64_t clamped() const { return clamped_; }  // values that were above the range
    std::uint64_t min() const { return count_ ? min_ : 0; }
    std::uint64_t max() const { return max_; }
    double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0; }

    // The p-th percentile (0 <= p <= 100): the value of nearest rank ceil(p/100 * count)
    // (at least 1), reported as the highest value of its bucket, at most the max. 0 when empty.
    std::uint64_t value_at_percentile(double p) const;

    struct spectrum_point {
        double percentile;
        std::uint64_t value;
    };
    // The percentile spectrum, as HdrHistogram's percentile iteration prints it: p = 0, then
    // 1 - 2^(-k / ticks_per_half) for k = 1, 2, ... while 1/(1-p) <= count, then 100 (the max).
    std::vector<spectrum_point> percentile_spectrum(int ticks_per_half = 5) const;

    // The nearest rank of the p-th percentile among n values (1..n), robust to p's binary
    // rounding (99.9% of 1000 is rank 999).
    static std::uint64_t rank_of(double p, std::uint64_t n);

    // Bucket arithmetic, public for the tests.
    std::size_t index_of(std::uint64_t micros) const;
    std::uint64_t lowest_at_index(std::size_t index) const;
    std::uint64_t highest_at_index(std::size_t index) const;
    std::uint64_t highest_equivalent(std::uint64_t micros) const { return highest_at_index(index_of(micros)); }
    std::size_t sub_bucket_count() const { return std::size_t{1} << sub_bucket_magnitude_; }
    std::size_t counts_length() const { return counts_.size(); }

private:
    int sub_bucket_magnitude_;  // log2 of the sub-bucket count
    std::uint64_t sub_bucket_mask_;
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t clamped_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
    std::uint64_t sum_ = 0;  // at most 60e6 a value: room for 3e11 values
};

}  // namespace koorelease::bench
