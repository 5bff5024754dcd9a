#include "koorelease/bench/recorder.hpp"

#include <algorithm>

namespace koorelease::bench {

namespace {

std::uint64_t micros(std::chrono::nanoseconds d) {
    return d.count() <= 0 ? 0 : static_cast<std::uint64_t>(d.count() / 1000);
}

}  // namespace

std::string_view to_string(answer_kind k) {
    switch (k) {
        case answer_kind::ok: return "ok";
        case answer_kind::rejected: return "rejected";
        case answer_kind::throttled: return "throttled";
        case answer_kind::server_error: return "server_error";
        case answer_kind::token_rejected: return "token_rejected";
        case answer_kind::no_answer: return "no_answer";
    }
    return "?";
}

answer_kind kind_of(verdict v) {
    switch (v) {
        case verdict::released: return answer_kind::ok;
        case verdict::failed: return answer_kind::rejected;
        case verdict::retry: return answer_kind::server_error;
        case verdict::throttled: return answer_kind::throttled;
        case verdict::token_rejected: return answer_kind::token_rejected;
    }
    return answer_kind::server_error;
}

bool is_error(answer_kind k) { return k != answer_kind::ok && k != answer_kind::rejected; }

bool bench_retries(answer_kind k, std::uint32_t attempts, std::uint32_t max_attempts) {
    const bool transient = k == answer_kind::throttled || k == answer_kind::server_error || k == answer_kind::no_answer;
    return transient && attempts < max_attempts;
}

void pacing::on_send(std::chrono::nanoseconds intended, std::chrono::nanoseconds actual) {
    ++sent_;
    const auto lag = std::max(std::chrono::nanoseconds{0}, actual - intended);
    if (lag > late_after) ++late_;
    max_lag_ = std::max(max_lag_, lag);
    lag_sum_ns_ += static_cast<long double>(lag.count());
    send_times_.push_back(actual);
}

std::chrono::nanoseconds pacing::mean_lag() const {
    if (sent_ == 0) return std::chrono::nanoseconds{0};
    return std::chrono::nanoseconds{static_cast<std::int64_t>(lag_sum_ns_ / static_cast<long double>(sent_))};
}

std::uint64_t pacing::sent_after(std::chrono::nanoseconds end) const {
    return static_cast<std::uint64_t>(
        std::count_if(send_times_.begin(), send_times_.end(), [end](auto t) { return t >= end; }));
}

double pacing::achieved_rate(std::chrono::nanoseconds duration) const {
    const double seconds = std::chrono::duration<double>(duration).count();
    if (seconds <= 0) return 0;
    return static_cast<double>(sent_ - sent_after(duration)) / seconds;
}

second_bucket& recorder::second_of(std::chrono::nanoseconds intended) {
    const auto s = static_cast<std::size_t>(std::max<std::int64_t>(0, intended.count() / 1'000'000'000));
    if (seconds_.size() <= s) seconds_.resize(s + 1);
    return seconds_[s];
}

namespace {

void count_code(std::map<std::string, std::uint64_t, std::less<>>& counts, std::string_view code) {
    if (auto it = counts.find(code); it != counts.end()) {
        ++it->second;
    } else {
        counts.emplace(std::string(code), 1);
    }
}

}  // namespace

void recorder::count(std::chrono::nanoseconds intended, answer_kind kind, std::string_view code) {
    ++total_;
    ++by_kind_[static_cast<std::size_t>(kind)];
    second_bucket& second = second_of(intended);
    ++second.by_kind[static_cast<std::size_t>(kind)];
    count_code(second.by_code, code);
    count_code(by_code_, code);
}

void recorder::on_answer(std::chrono::nanoseconds intended, std::chrono::nanoseconds sent,
                         std::chrono::nanoseconds answered, answer_kind kind, std::string_view code) {
    count(intended, kind, code);
    latency_.record(micros(answered - intended));
    service_time_.record(micros(answered - sent));
    second_of(intended).latency.record(micros(answered - intended));
}

void recorder::on_no_answer(std::chrono::nanoseconds intended, std::chrono::nanoseconds, std::string_view code) {
    count(intended, answer_kind::no_answer, code);
}

double recorder::error_share() const {
    if (total_ == 0) return 0;
    std::uint64_t errors = 0;
    for (std::size_t k = 0; k < answer_kind_count; ++k) {
        if (is_error(static_cast<answer_kind>(k))) errors += by_kind_[k];
    }
    return static_cast<double>(errors) / static_cast<double>(total_);
}

}  // namespace koorelease::bench
