// The bench's pure pieces: the schedule, pacing (coordinated omission), answer bucketing and
// the capacity search. No clock, no sockets: times are offsets given by hand.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "koorelease/bench/capacity_search.hpp"
#include "koorelease/bench/recorder.hpp"
#include "koorelease/bench/schedule.hpp"

namespace koorelease::bench {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

// ---- schedule ----

TEST(BenchSchedule, ConstantRateSendsEveryOneOverRate) {
    const auto s = load_schedule::constant(500, 60s);
    EXPECT_EQ(s.count(), 30'000u);
    EXPECT_EQ(s.send_offset(0), 0ns);
    EXPECT_EQ(s.send_offset(1), 2ms);
    EXPECT_EQ(s.send_offset(500), 1s);
    EXPECT_EQ(s.send_offset(29'999), 59'998ms);
    EXPECT_DOUBLE_EQ(s.intended_rate(), 500);
}

TEST(BenchSchedule, CountIsExactForWholeProductsAndRoundsUpOtherwise) {
    EXPECT_EQ(load_schedule::constant(300, 2s).count(), 600u);
    EXPECT_EQ(load_schedule::constant(0.1 * 3, 10s).count(), 3u);  // 0.30000000000000004 * 10
    EXPECT_EQ(load_schedule::constant(3, 1500ms).count(), 5u);     // 0, 333, 667, 1000, 1333 ms
    EXPECT_EQ(load_schedule::constant(1000, 1ms).count(), 1u);
}

TEST(BenchSchedule, EverySendOffsetIsWithinTheDuration) {
    for (double rate : {1.0, 3.0, 7.5, 300.0, 12'345.0}) {
        const auto s = load_schedule::constant(rate, 2500ms);
        ASSERT_GT(s.count(), 0u);
        EXPECT_LT(s.send_offset(s.count() - 1), 2500ms) << rate;
        EXPECT_GE(s.send_offset(s.count()), 2500ms - 1us) << rate;
    }
}

TEST(BenchSchedule, RampRaisesTheRateLinearly) {
    // 100/s rising to 300/s over 10 s: 2,000 requests, 200/s on average.
    const auto s = load_schedule::ramp(100, 300, 10s);
    EXPECT_EQ(s.count(), 2'000u);
    EXPECT_DOUBLE_EQ(s.intended_rate(), 200);
    // Requests sent by time t: 100 t + 10 t^2 (t in s). At t = 5 s: 750.
    EXPECT_NEAR(std::chrono::duration<double>(s.send_offset(750)).count(), 5.0, 1e-6);
    EXPECT_NEAR(std::chrono::duration<double>(s.send_offset(1'100)).count(), (-100 + std::sqrt(100.0 * 100 + 40 * 1'100)) / 20, 1e-6);
    // The gaps shrink: the rate rises.
    EXPECT_GT(s.send_offset(1) - s.send_offset(0), s.send_offset(1'999) - s.send_offset(1'998));
    for (std::uint64_t k = 1; k < s.count(); ++k) ASSERT_GT(s.send_offset(k), s.send_offset(k - 1));
    EXPECT_LT(s.send_offset(1'999), 10s);
}

TEST(BenchSchedule, RampDownAndRampFromZero) {
    const auto down = load_schedule::ramp(300, 100, 10s);
    EXPECT_EQ(down.count(), 2'000u);
    EXPECT_LT(down.send_offset(1'999), 10s);
    EXPECT_LT(down.send_offset(1) - down.send_offset(0), down.send_offset(1'999) - down.send_offset(1'998));
    const auto up = load_schedule::ramp(0, 200, 10s);
    EXPECT_EQ(up.count(), 1'000u);
    EXPECT_EQ(up.send_offset(0), 0ns);
    EXPECT_NEAR(std::chrono::duration<double>(up.send_offset(250)).count(), 5.0, 1e-6);  // 10 t^2 = 250
}

// ---- pacing: coordinated omission ----

TEST(BenchPacing, OnTimeSendsAreNotLate) {
    pacing p;
    for (int k = 0; k < 100; ++k) p.on_send(k * 10ms, k * 10ms + 50us);
    EXPECT_EQ(p.sent(), 100u);
    EXPECT_EQ(p.late(), 0u);
    EXPECT_EQ(p.max_lag(), 50us);
    EXPECT_DOUBLE_EQ(p.achieved_rate(1s), 100.0);
}

TEST(BenchPacing, AStalledClientFallsBehindAndTheReportSaysByHowMuch) {
    pacing p;
    // 100 requests scheduled over 1 s; the last 50 could only go out 1.5 s late, at 1.5-2 s.
    for (int k = 0; k < 50; ++k) p.on_send(k * 10ms, k * 10ms);
    for (int k = 50; k < 100; ++k) p.on_send(k * 10ms, 1500ms + (k - 50) * 10ms);
    EXPECT_EQ(p.late(), 50u);
    EXPECT_EQ(p.max_lag(), 1s);
    EXPECT_EQ(p.sent_after(1s), 50u);
    EXPECT_DOUBLE_EQ(p.achieved_rate(1s), 50.0);  // only what went out within the duration
}

// ---- the recorder: latency from the intended time, answers by kind per second ----

TEST(BenchRecorder, LatencyIsMeasuredFromTheIntendedSendTime) {
    recorder r;
    // Scheduled at 1 s, sent 480 ms late (no connection was free), answered 20 ms later.
    r.on_answer(1s, 1480ms, 1500ms, answer_kind::ok, "200 0");
    EXPECT_EQ(r.latency().max(), 500'000u);   // what the user of the API waited
    EXPECT_EQ(r.service_time().max(), 20'000u);  // what a closed-loop tool reports
    ASSERT_EQ(r.seconds().size(), 2u);        // bucketed by its intended second
    EXPECT_EQ(r.seconds()[1].by_kind[static_cast<std::size_t>(answer_kind::ok)], 1u);
    EXPECT_EQ(r.seconds()[0].latency.count(), 0u);
}

TEST(BenchRecorder, CountsByKindAndCodeAndErrorShare) {
    recorder r;
    for (int i = 0; i < 90; ++i) r.on_answer(i * 10ms, i * 10ms, i * 10ms + 20ms, answer_kind::ok, "200 0");
    for (int i = 0; i < 5; ++i) r.on_answer(i * 10ms, i * 10ms, i * 10ms + 1ms, answer_kind::throttled, "429 APIG.0308");
    for (int i = 0; i < 3; ++i) r.on_answer(i * 10ms, i * 10ms, i * 10ms + 1ms, answer_kind::rejected, "200 KOOPHONE.API.4001");
    r.on_no_answer(0ns, 0ns, "no answer connection_lost");
    r.on_no_answer(0ns, 0ns, "no answer connection_lost");
    EXPECT_EQ(r.answered(), 98u);
    EXPECT_EQ(r.total(), 100u);
    EXPECT_EQ(r.by_kind(answer_kind::ok), 90u);
    EXPECT_EQ(r.by_kind(answer_kind::throttled), 5u);
    EXPECT_EQ(r.by_kind(answer_kind::no_answer), 2u);
    EXPECT_EQ(r.by_code().at("429 APIG.0308"), 5u);
    EXPECT_EQ(r.by_code().at("no answer connection_lost"), 2u);
    // Business errors are the API's proper answers; throttling and no answer are not.
    EXPECT_DOUBLE_EQ(r.error_share(), 7.0 / 100);
    EXPECT_EQ(r.latency().count(), 98u);  // no answer: no latency
}

TEST(BenchRecorder, KindOfEveryVerdict) {
    EXPECT_EQ(kind_of(verdict::released), answer_kind::ok);
    EXPECT_EQ(kind_of(verdict::failed), answer_kind::rejected);
    EXPECT_EQ(kind_of(verdict::retry), answer_kind::server_error);
    EXPECT_EQ(kind_of(verdict::throttled), answer_kind::throttled);
    EXPECT_EQ(kind_of(verdict::token_rejected), answer_kind::token_rejected);
    EXPECT_EQ(to_string(answer_kind::no_answer), "no_answer");
}

TEST(BenchRecorder, RetriesOnlyTransientAnswersUpToMaxAttempts) {
    // Proper answers of the API, and a rejected token, are never sent again.
    for (const auto k : {answer_kind::ok, answer_kind::rejected, answer_kind::token_rejected}) {
        EXPECT_FALSE(bench_retries(k, 1, 5)) << to_string(k);
    }
    // Throttling, server errors and lost answers are, until the last attempt.
    for (const auto k : {answer_kind::throttled, answer_kind::server_error, answer_kind::no_answer}) {
        EXPECT_TRUE(bench_retries(k, 1, 3)) << to_string(k);
        EXPECT_TRUE(bench_retries(k, 2, 3)) << to_string(k);
        EXPECT_FALSE(bench_retries(k, 3, 3)) << to_string(k);
        EXPECT_FALSE(bench_retries(k, 1, 1)) << to_string(k);  // --max-attempts 1: no retry at all
    }
}

TEST(BenchRecorder, EmptyHasNoErrorShare) {
    recorder r;
    EXPECT_EQ(r.error_share(), 0.0);
    EXPECT_TRUE(r.seconds().empty());
}

// ---- capacity search ----

capacity_search search(double start = 100, double max = 100'000, double precision = 0.05) {
    capacity_settings s;
    s.start_rate = start;
    s.max_rate = max;
    s.precision = precision;
    return capacity_search(s, capacity_bounds{.p99_us = 250'000, .max_error_share = 0.01});
}

// A server that holds up to `limit` requests a second and throttles above.
step_result server_with_limit(double rate, double limit) {
    const double errors = rate > limit ? (rate - limit) / rate : 0;
    return step_result{.rate = rate, .achieved_rate = rate, .p99_us = 20'000, .error_share = errors};
}

TEST(CapacitySearch, DoublesThenBisectsToTheLimit) {
    auto s = search(100);
    std::vector<double> rates;
    while (!s.done()) {
        rates.push_back(s.next_rate());
        s.record(server_with_limit(s.next_rate(), 300));
    }
    // 100, 200 hold; 400 fails; bisection 300 holds (0 errors), 350, 325, 313 fail (over 1%).
    EXPECT_EQ(rates, (std::vector<double>{100, 200, 400, 300, 350, 325, 313}));
    ASSERT_TRUE(s.highest_held());
    EXPECT_EQ(*s.highest_held(), 300);
    EXPECT_EQ(*s.lowest_failed(), 313);
    EXPECT_EQ(s.why_done(), "bracketed within 5%");
    EXPECT_EQ(s.steps().size(), 7u);
    EXPECT_TRUE(s.steps()[3].held);
    EXPECT_FALSE(s.steps()[2].held);
}

TEST(CapacitySearch, LatencyBoundFailsAStepToo) {
    auto s = search(100);
    EXPECT_TRUE(s.record(step_result{.rate = 100, .achieved_rate = 100, .p99_us = 250'000, .error_share = 0}));
    EXPECT_FALSE(s.record(step_result{.rate = 200, .achieved_rate = 200, .p99_us = 250'001, .error_share = 0}));
    EXPECT_EQ(s.next_rate(), 150);
}

TEST(CapacitySearch, ErrorShareAtTheBoundHolds) {
    auto s = search(100);
    EXPECT_TRUE(s.record(step_result{.rate = 100, .achieved_rate = 100, .p99_us = 1, .error_share = 0.01}));
    EXPECT_FALSE(s.record(step_result{.rate = 200, .achieved_rate = 200, .p99_us = 1, .error_share = 0.0101}));
}

TEST(CapacitySearch, StopsAtTheMaxRateWhenItHolds) {
    auto s = search(100, 350);
    while (!s.done()) s.record(server_with_limit(s.next_rate(), 1e9));
    EXPECT_EQ(*s.highest_held(), 350);
    EXPECT_FALSE(s.lowest_failed());
    EXPECT_EQ(s.why_done(), "the maximum rate held");
}

TEST(CapacitySearch, FailingTheStartRateEndsWithNothingHeld) {
    auto s = search(100);
    s.record(server_with_limit(100, 10));
    EXPECT_TRUE(s.done());
    EXPECT_FALSE(s.highest_held());
    EXPECT_EQ(s.why_done(), "the start rate already crossed the bounds: try a lower --start-rate");
}

TEST(CapacitySearch, StopsAfterMaxSteps) {
    capacity_settings cs;
    cs.start_rate = 1;
    cs.max_steps = 3;
    capacity_search s(cs, capacity_bounds{.p99_us = 1e9, .max_error_share = 1});
    while (!s.done()) s.record(server_with_limit(s.next_rate(), 1e9));
    EXPECT_EQ(s.steps().size(), 3u);
    EXPECT_EQ(*s.highest_held(), 4);
    EXPECT_EQ(s.why_done(), "--max-steps reached");
}

}  // namespace
}  // namespace koorelease::bench
