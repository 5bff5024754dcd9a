#include <gtest/gtest.h>

#include <random>

#include "koorelease/retry_budget.hpp"

namespace koorelease {
namespace {

using clk = retry_budget::clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
const clk::time_point t0 = clk::time_point{} + std::chrono::hours(1000);

TEST(RetryBudget, TheReservePaysForRetriesUntilEmpty) {
    retry_budget b({.enabled = true, .ratio = 0.5, .reserve = 5, .retry_cost = 1, .timeout_cost = 2});
    EXPECT_TRUE(b.try_acquire(false, t0));
    EXPECT_TRUE(b.try_acquire(true, t0));
    EXPECT_EQ(b.available(t0), 2);
    EXPECT_TRUE(b.try_acquire(true, t0));
    EXPECT_FALSE(b.try_acquire(false, t0));  // empty: refused, nothing taken
    EXPECT_EQ(b.available(t0), 0);
}

TEST(RetryBudget, FirstAttemptsPayForRetries) {
    retry_budget b({.enabled = true, .ratio = 0.5, .reserve = 0, .retry_cost = 1, .timeout_cost = 2});
    EXPECT_FALSE(b.try_acquire(false, t0));
    b.on_first_attempt(t0);
    EXPECT_FALSE(b.try_acquire(false, t0));  // half a token
    b.on_first_attempt(t0 + milliseconds(300));
    EXPECT_TRUE(b.try_acquire(false, t0 + milliseconds(600)));
    for (int i = 0; i < 100; ++i) b.on_first_attempt(t0 + milliseconds(700));
    EXPECT_EQ(b.available(t0 + milliseconds(800)), 50);  // no cap within the window
}

TEST(RetryBudget, TokensExpireAfterTheWindow) {
    retry_budget b({.enabled = true, .ratio = 1, .reserve = 0, .retry_cost = 1, .timeout_cost = 2});
    for (int i = 0; i < 10; ++i) b.on_first_attempt(t0);
    EXPECT_EQ(b.available(t0 + seconds(9)), 10);
    EXPECT_EQ(b.available(t0 + seconds(10)), 0);  // gone: an old success pays for no storm
    // Withdrawals expire too, so the reserve comes back.
    retry_budget r({.enabled = true, .ratio = 0.5, .reserve = 3, .retry_cost = 1, .timeout_cost = 2});
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(r.try_acquire(false, t0));
    EXPECT_FALSE(r.try_acquire(false, t0 + seconds(5)));
    EXPECT_TRUE(r.try_acquire(false, t0 + seconds(10)));
}

TEST(RetryBudget, DisabledAllowsEveryRetry) {
    retry_budget b({.enabled = false});
    for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(b.try_acquire(i % 2 == 0, t0));
}

// Ids whose attempts fail at random with probability p, retried up to 10 attempts, as fast
// as a bulk run sends them (`per_second` ids); the retries of the whole batch come at the end,
// as they do when backoff delays them.
struct outcome_counts {
    int refused_ids = 0;
    int requests = 0;
};

outcome_counts simulate(double p, int ids, int per_second) {
    retry_budget b({});
    std::mt19937_64 rng(1);
    std::bernoulli_distribution fails(p);
    outcome_counts out;
    auto now = t0;
    const auto step = std::chrono::microseconds(1'000'000 / per_second);
    std::vector<int> need_retry;
    for (int id = 0; id < ids; ++id) {
        b.on_first_attempt(now);
        now += step;
        ++out.requests;
        if (fails(rng)) need_retry.push_back(id);
    }
    for (std::size_t k = 0; k < need_retry.size(); ++k) {
        for (int attempt = 1; attempt < 10; ++attempt) {
            if (!b.try_acquire(false, now)) {
                ++out.refused_ids;
                break;
            }
            now += step;
            ++out.requests;
            if (!fails(rng)) break;
        }
    }
    return out;
}

TEST(RetryBudget, AQuarterOfAnswersFailingNeverExhaustsIt) {
    EXPECT_EQ(simulate(0.25, 100'000, 20'000).refused_ids, 0);
    EXPECT_EQ(simulate(0.25, 300, 1'000).refused_ids, 0);
}

TEST(RetryBudget, AServerFailingEverythingGetsAtMostOneAndAHalfTimesTheLoad) {
    const int ids = 100'000;
    const auto c = simulate(1.0, ids, 20'000);
    EXPECT_LE(c.requests, ids * 1.5 + 500 + 1);
    EXPECT_GT(c.refused_ids, ids * 0.9);  // without a budget: 10 requests for every id
}

}  // namespace
}  // namespace koorelease
