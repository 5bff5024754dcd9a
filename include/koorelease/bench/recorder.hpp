#pragma once
// What a load test saw, as pure bookkeeping: each request's intended send time, actual send
// time and answer time (offsets from the start of the run) go in; latency histograms,
// answers by kind and by code, per-second series and the pacing come out. No clock is read
// here: the bench loop passes the times, and the tests pass them by hand.
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "koorelease/bench/hdr_histogram.hpp"
#include "koorelease/classify.hpp"

namespace koorelease::bench {

// How an answer counts in a load test.
enum class answer_kind {
    ok,              // 200 and error_code "0": released
    rejected,        // a business error (KOOPHONE.API.4001 ...): a proper answer of the API
    throttled,       // 429 or APIG.0308
    server_error,    // 5xx, KOOPHONE.API.9999, a 200 without the expected JSON
    token_rejected,  // 401, APIG.0301, APIG.0307
    no_answer,       // connection lost or refused, timeout, malformed answer
};
inline constexpr std::size_t answer_kind_count = 6;
std::string_view to_string(answer_kind k);
answer_kind kind_of(verdict v);
// Whether the kind means the API did not cope (counted in the error share the capacity
// search bounds): throttled, server_error, token_rejected, no_answer.
bool is_error(answer_kind k);
// With --retry: whether a request whose attempt `attempts` (1 for the first) ended as `k` is
// sent again. Throttled, server errors and lost answers are; proper answers and a rejected
// token are not; nor anything once max_attempts attempts were made.
bool bench_retries(answer_kind k, std::uint32_t attempts, std::uint32_t max_attempts);

// Sends against the schedule: how far the client fell behind (coordinated omission shows
// here when the client cannot keep up, and in the latency, measured from the intended time).
class pacing {
public:
    void on_send(std::chrono::nanoseconds intended, std::chrono::nanoseconds actual);
    std::uint64_t sent() const { return sent_; }
    // Sends more than `late_after` behind their intended time.
    std::uint64_t late() const { return late_; }
    std::chrono::nanoseconds max_lag() const { return max_lag_; }
    std::chrono::nanoseconds mean_lag() const;
    // Sends that went out at or after `end` (the schedule's duration).
    std::uint64_t sent_after(std::chrono::nanoseconds end) const;
    // Requests sent within the first `duration`, per second of it.
    double achieved_rate(std::chrono::nanoseconds duration) const;

    static constexpr std::chrono::nanoseconds late_after = std::chrono::milliseconds(1);

private:
    std::uint64_t sent_ = 0;
    std::uint64_t late_ = 0;
    std::chrono::nanoseconds max_lag_{0};
    long double lag_sum_ns_ = 0;
    std::vector<std::chrono::nanoseconds> send_times_;  // for sent_after / achieved_rate
};

// One second of the run (by the intended send time of its requests).
struct second_bucket {
    std::array<std::uint64_t, answer_kind_count> by_kind{};
    std::map<std::string, std::uint64_t, std::less<>> by_code;  // "429 APIG.0308": 12, ...
    hdr_histogram latency{2};  // from the intended time, 2 significant digits (20 KB a second)
};

class recorder {
public:
    // An answered request: latency = answered - intended; service time = answered - sent.
    // `code`: "<status> <error_code>", e.g. "200 0", "429 APIG.0308".
    void on_answer(std::chrono::nanoseconds intended, std::chrono::nanoseconds sent,
                   std::chrono::nanoseconds answered, answer_kind kind, std::string_view code);
    // A request that got no answer (no latency is recorded). `code`: "no answer <why>".
    void on_no_answer(std::chrono::nanoseconds intended, std::chrono::nanoseconds sent, std::string_view code);

    const hdr_histogram& latency() const { return latency_; }            // from the intended time
    const hdr_histogram& service_time() const { return service_time_; }  // from the actual send
    const std::vector<second_bucket>& seconds() const { return seconds_; }
    const std::map<std::string, std::uint64_t, std::less<>>& by_code() const { return by_code_; }
    std::uint64_t by_kind(answer_kind k) const { return by_kind_[static_cast<std::size_t>(k)]; }
    std::uint64_t answered() const { return total_ - by_kind(answer_kind::no_answer); }
    std::uint64_t total() const { return total_; }  // answered and unanswered
    // Share of the requests whose answer was an error kind (see is_error); 0 when none.
    double error_share() const;

private:
    second_bucket& second_of(std::chrono::nanoseconds intended);
    void count(std::chrono::nanoseconds intended, answer_kind kind, std::string_view code);

    hdr_histogram latency_{3};
    hdr_histogram service_time_{3};
    std::vector<second_bucket> seconds_;
    std::map<std::string, std::uint64_t, std::less<>> by_code_;
    std::array<std::uint64_t, answer_kind_count> by_kind_{};
    std::uint64_t total_ = 0;
};

}  // namespace koorelease::bench
