#include "koorelease/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace koorelease {

std::size_t latency_histogram::index_of(std::uint64_t v) {
    if (v < 128) return static_cast<std::size_t>(v);
    // Shift v right until it fits in [64, 128): the shift names the power of two, the
    // remaining value the linear sub-bucket.
    const int shift = std::bit_width(v) - 7;
    if (shift > max_shift) return bucket_count - 1;
    return 128 + static_cast<std::size_t>(shift - 1) * 64 + static_cast<std::size_t>((v >> shift) - 64);
}

std::uint64_t latency_histogram::lowest_in(std::size_t index) {
    if (index < 128) return index;
    const auto shift = (index - 128) / 64 + 1;
    const auto sub = (index - 128) % 64 + 64;
    return static_cast<std::uint64_t>(sub) << shift;
}

std::uint64_t latency_histogram::highest_in(std::size_t index) {
    if (index < 128) return index;
    const auto shift = (index - 128) / 64 + 1;
    return lowest_in(index) + ((std::uint64_t{1} << shift) - 1);
}

void latency_histogram::record(std::chrono::nanoseconds latency) {
    const auto ns = std::max<std::int64_t>(latency.count(), 0);
    record_us(static_cast<std::uint64_t>((ns + 500) / 1000));
}

void latency_histogram::record_us(std::uint64_t v) {
    ++buckets_[index_of(v)];
    ++count_;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
    sum_ += static_cast<long double>(v);
}

double latency_histogram::percentile_us(double p) const {
    if (count_ == 0) return 0;
    p = std::clamp(p, 0.0, 100.0);
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
        seen += buckets_[i];
        if (seen >= rank) {
            const double mid = (static_cast<double>(lowest_in(i)) + static_cast<double>(highest_in(i))) / 2;
            return std::clamp(mid, static_cast<double>(min_), static_cast<double>(max_));
        }
    }
    return static_cast<double>(max_);
}

std::uint64_t latency_histogram::count_up_to_us(std::uint64_t micros) const {
    if (count_ == 0 || micros < min_) return 0;
    if (micros >= max_) return count_;
    const std::size_t last = index_of(micros);
    std::uint64_t n = 0;
    for (std::size_t i = 0; i <= last; ++i) n += buckets_[i];
    return n;
}

double latency_histogram::mean_us() const {
    return count_ ? static_cast<double>(sum_ / static_cast<long double>(count_)) : 0.0;
}

void latency_histogram::merge(const latency_histogram& other) {
    for (std::size_t i = 0; i < bucket_count; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
}

}  // namespace koorelease
