#include "koorelease/bench/hdr_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>

namespace koorelease::bench {

hdr_histogram::hdr_histogram(int significant_digits) {
    if (significant_digits < 1 || significant_digits > 5) {
        throw std::invalid_argument("hdr_histogram: significant digits must be 1 to 5");
    }
    // Values below 2 * 10^digits need a bucket of their own to be told apart at that precision.
    const std::uint64_t largest_single_unit = 2 * static_cast<std::uint64_t>(std::pow(10, significant_digits));
    sub_bucket_magnitude_ = std::bit_width(largest_single_unit - 1);  // ceil(log2)
    const std::uint64_t sub_buckets = std::uint64_t{1} << sub_bucket_magnitude_;
    sub_bucket_mask_ = sub_buckets - 1;
    std::size_t buckets = 1;
    for (std::uint64_t untrackable = sub_buckets; untrackable <= highest_trackable_us; untrackable <<= 1) ++buckets;
    counts_.assign((buckets + 1) * (sub_buckets / 2), 0);
}

std::size_t hdr_histogram::index_of(std::uint64_t v) const {
    const int half_magnitude = sub_bucket_magnitude_ - 1;
    // The power of two above the sub-bucket range that holds v (0 for the exact range).
    const int bucket = 64 - std::countl_zero(v | sub_bucket_mask_) - sub_bucket_magnitude_;
    const std::uint64_t sub_bucket = v >> bucket;
    return (static_cast<std::size_t>(bucket + 1) << half_magnitude) +
           static_cast<std::size_t>(sub_bucket - (std::uint64_t{1} << half_magnitude));
}

std::uint64_t hdr_histogram::lowest_at_index(std::size_t index) const {
    const int half_magnitude = sub_bucket_magnitude_ - 1;
    const std::uint64_t half = std::uint64_t{1} << half_magnitude;
    int bucket = static_cast<int>(index >> half_magnitude) - 1;
    std::uint64_t sub_bucket = (index & (half - 1)) + half;
    if (bucket < 0) {
        sub_bucket -= half;
        bucket = 0;
    }
    return sub_bucket << bucket;
}

std::uint64_t hdr_histogram::highest_at_index(std::size_t index) const {
    const int half_magnitude = sub_bucket_magnitude_ - 1;
    const int bucket = std::max(0, static_cast<int>(index >> half_magnitude) - 1);
    return lowest_at_index(index) + (std::uint64_t{1} << bucket) - 1;
}

void hdr_histogram::record(std::uint64_t micros) {
    if (micros > highest_trackable_us) {
        micros = highest_trackable_us;
        ++clamped_;
    }
    ++counts_[index_of(micros)];
    ++count_;
    sum_ += micros;
    min_ = std::min(min_, micros);
    max_ = std::max(max_, micros);
}

void hdr_histogram::merge(const hdr_histogram& other) {
    if (other.sub_bucket_magnitude_ != sub_bucket_magnitude_) {
        throw std::invalid_argument("hdr_histogram: merging histograms of different precision");
    }
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    clamped_ += other.clamped_;
    sum_ += other.sum_;
    if (other.count_) {
        min_ = std::min(min_, other.min_);
        max_ = std::max(max_, other.max_);
    }
}

std::uint64_t hdr_histogram::rank_of(double p, std::uint64_t n) {
    const double exact = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(n);
    // A relative nudge down, so that 99.9% of 1000 (999.0000000000001 in binary) is 999.
    const auto rank = static_cast<std::uint64_t>(std::ceil(exact * (1 - 1e-12)));
    return std::clamp<std::uint64_t>(rank, 1, std::max<std::uint64_t>(n, 1));
}

std::uint64_t hdr_histogram::value_at_percentile(double p) const {
    if (count_ == 0) return 0;
    const std::uint64_t rank = rank_of(p, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank) return std::clamp(highest_at_index(i), min_, max_);
    }
    return max_;
}

std::vector<hdr_histogram::spectrum_point> hdr_histogram::percentile_spectrum(int ticks_per_half) const {
    std::vector<spectrum_point> out;
    if (count_ == 0) return out;
    out.push_back({0.0, value_at_percentile(0)});
    for (int k = 1;; ++k) {
        const double rest = std::exp2(-static_cast<double>(k) / ticks_per_half);  // 1 - p
        if (1.0 / rest > static_cast<double>(count_) * (1 + 1e-12)) break;
        const double p = 100.0 * (1.0 - rest);
        out.push_back({p, value_at_percentile(p)});
    }
    out.push_back({100.0, max_});
    return out;
}

}  // namespace koorelease::bench
