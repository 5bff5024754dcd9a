#pragma once
// The retry budget keeps a failing server from receiving a storm of retries, after Finagle's
// retry budget: over any sliding window (10 s), retries may add at most a fixed share to the
// load that first attempts make, plus a small reserve so that short runs can retry too.
// - Every first attempt sent puts `ratio` tokens in (0.5: retries up to half the first attempts).
// - A retry takes one token when it is sent; a retry after a timeout takes two (a server that
//   does not answer at all is the one most hurt by more requests).
// - Tokens put in or taken out more than `window` ago no longer count; `reserve` is always there.
// - When the window cannot pay, the retry is not sent: the id fails with "retry budget exhausted".
// So with 25% of answers failing (a third of the first attempts need a retry) every retry is
// paid for; a server failing everything receives at most 1.5x the first attempts' load (plus
// the reserve per window) instead of --max-attempts times it, and the run ends instead.
// The caller passes the time in, so tests drive it with a hand-made clock.
#include <array>
#include <chrono>
#include <cstdint>

namespace koorelease {

struct retry_budget_settings {
    bool enabled = true;         // false: every retry allowed up to --max-attempts
    double ratio = 0.5;          // tokens each first attempt puts in
    double reserve = 500;        // tokens always available in a window
    double retry_cost = 1;       // tokens a retry takes
    double timeout_cost = 2;     // tokens a retry after a timeout takes
};

class retry_budget {
public:
    using clock = std::chrono::steady_clock;
    static constexpr int window_seconds = 10;

    explicit retry_budget(retry_budget_settings settings);

    // A first attempt is being sent.
    void on_first_attempt(clock::time_point now);

    // Takes the tokens for one retry about to be sent; false if the window cannot pay.
    bool try_acquire(bool after_timeout, clock::time_point now);

    double available(clock::time_point now);
    bool enabled() const { return settings_.enabled; }

private:
    double& slot(clock::time_point now);

    retry_budget_settings settings_;
    std::array<double, window_seconds> net_{};       // tokens in minus tokens out, per second
    std::array<std::int64_t, window_seconds> second_{};  // which second each slot holds
};

}  // namespace koorelease
