#include "koorelease/retry_budget.hpp"

namespace koorelease {

namespace {
std::int64_t second_of(retry_budget::clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
}  // namespace

retry_budget::retry_budget(retry_budget_settings settings) : settings_(settings) {
    second_.fill(-1);
}

double& retry_budget::slot(clock::time_point now) {
    const auto s = second_of(now);
    const auto i = static_cast<std::size_t>(s % window_seconds);
    if (second_[i] != s) {
        second_[i] = s;
        net_[i] = 0;
    }
    return net_[i];
}

double retry_budget::available(clock::time_point now) {
    const auto s = second_of(now);
    double sum = settings_.reserve;
    for (std::size_t i = 0; i < net_.size(); ++i) {
        if (second_[i] > s - window_seconds && second_[i] <= s) sum += net_[i];
    }
    return sum;
}

void retry_budget::on_first_attempt(clock::time_point now) { slot(now) += settings_.ratio; }

bool retry_budget::try_acquire(bool after_timeout, clock::time_point now) {
    if (!settings_.enabled) return true;
    const double cost = after_timeout ? settings_.timeout_cost : settings_.retry_cost;
    if (available(now) < cost) return false;
    slot(now) -= cost;
    return true;
}

}  // namespace koorelease
