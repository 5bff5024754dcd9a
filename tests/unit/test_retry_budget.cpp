#include <gtest/gtest.h>

#include "koorelease/retry_budget.hpp"

namespace koorelease {
namespace {

TEST(RetryBudget, RetriesDrawFromAFullPoolUntilItIsEmpty) {
    retry_budget b({.capacity = 20, .retry_cost = 5, .timeout_cost = 10, .success_refund = 1});
    EXPECT_EQ(b.available(), 20u);
    EXPECT_EQ(b.try_acquire(false), 5u);
    EXPECT_EQ(b.try_acquire(true), 10u);
    EXPECT_EQ(b.available(), 5u);
    EXPECT_EQ(b.try_acquire(true), std::nullopt);  // 10 > 5: refused, nothing taken
    EXPECT_EQ(b.available(), 5u);
    EXPECT_EQ(b.try_acquire(false), 5u);
    EXPECT_EQ(b.try_acquire(false), std::nullopt);
}

TEST(RetryBudget, SuccessesRefill) {
    retry_budget b({.capacity = 10, .retry_cost = 5, .timeout_cost = 10, .success_refund = 1});
    ASSERT_EQ(b.try_acquire(true), 10u);
    b.on_success(0);  // a first attempt: +1
    EXPECT_EQ(b.available(), 1u);
    b.on_success(10);  // a retry that succeeded gives back what it cost
    EXPECT_EQ(b.available(), 10u);
    b.on_success(5);  // never above capacity
    EXPECT_EQ(b.available(), 10u);
}

TEST(RetryBudget, ZeroCapacityMeansNoBudget) {
    retry_budget b({.capacity = 0, .retry_cost = 5, .timeout_cost = 10, .success_refund = 1});
    for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(b.try_acquire(i % 2 == 0).has_value());
    EXPECT_FALSE(b.enabled());
}

TEST(RetryBudget, ToleratesAQuarterOfAnswersFailingButNotMostOfThem) {
    // Simulate ids whose every attempt fails with probability p (deterministic sequence).
    auto exhausted_share = [](int fail_every_n_of_4) {
        retry_budget b({});
        int refused = 0;
        std::uint64_t k = 0;
        for (int id = 0; id < 10'000; ++id) {
            std::uint32_t paid = 0;
            for (int attempt = 0; attempt < 10; ++attempt) {
                const bool fails = (k++ % 4) < static_cast<std::uint64_t>(fail_every_n_of_4);
                if (!fails) {
                    b.on_success(paid);
                    break;
                }
                const auto cost = b.try_acquire(false);
                if (!cost) {
                    ++refused;
                    break;
                }
                paid = *cost;
            }
        }
        return refused / 10'000.0;
    };
    EXPECT_EQ(exhausted_share(1), 0.0);  // 25% failures: never refused
    EXPECT_GT(exhausted_share(3), 0.5);  // 75% failures: most ids stop retrying
}

}  // namespace
}  // namespace koorelease
