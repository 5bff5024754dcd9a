#include "koorelease/retry_budget.hpp"

#include <algorithm>

namespace koorelease {

retry_budget::retry_budget(retry_budget_settings settings)
    : settings_(settings), available_(settings.capacity) {}

std::optional<std::uint32_t> retry_budget::try_acquire(bool after_timeout) {
    if (!enabled()) return 0u;
    const std::uint32_t cost = after_timeout ? settings_.timeout_cost : settings_.retry_cost;
    if (available_ < cost) return std::nullopt;
    available_ -= cost;
    return cost;
}

void retry_budget::on_success(std::uint32_t retry_cost_paid) {
    if (!enabled()) return;
    const std::uint32_t refund = retry_cost_paid > 0 ? retry_cost_paid : settings_.success_refund;
    available_ = std::min(settings_.capacity, available_ + refund);
}

}  // namespace koorelease
