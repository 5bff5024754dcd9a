#pragma once
// The retry budget keeps a failing server from receiving a storm of retries. It follows the
// AWS SDKs' retry quota: a pool of tokens that retries draw from and successes refill.
// - The pool starts full, at `capacity` tokens.
// - A retry costs `retry_cost` tokens (`timeout_cost` after a timeout: a server that does not
//   answer at all is the most expensive to keep retrying).
// - A success refills `success_refund` tokens, or the cost of the retry that succeeded.
// - When the pool holds less than a retry costs, the retry is not made: the id fails with
//   "retry budget exhausted". So while most requests succeed, retries are free; when most
//   fail, each failing id gets one attempt and the run ends instead of hammering the server.
// capacity 0 turns the budget off (every retry allowed up to --max-attempts).
#include <cstdint>
#include <optional>

namespace koorelease {

struct retry_budget_settings {
    std::uint32_t capacity = 500;     // tokens when full; 0: no budget
    std::uint32_t retry_cost = 5;     // tokens a retry takes
    std::uint32_t timeout_cost = 10;  // tokens a retry after a timeout takes
    std::uint32_t success_refund = 1; // tokens a first-attempt success gives back
};

class retry_budget {
public:
    explicit retry_budget(retry_budget_settings settings);

    // Takes the tokens for one retry. Returns the cost taken (to hand back to on_success
    // if that retry succeeds), or nullopt if the budget cannot pay for it.
    std::optional<std::uint32_t> try_acquire(bool after_timeout);

    // A request succeeded; `retry_cost_paid` is what its last retry cost (0 if it was a
    // first attempt).
    void on_success(std::uint32_t retry_cost_paid);

    std::uint32_t available() const { return available_; }
    bool enabled() const { return settings_.capacity > 0; }

private:
    retry_budget_settings settings_;
    std::uint32_t available_;
};

}  // namespace koorelease
