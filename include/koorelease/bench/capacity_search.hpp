#pragma once
// `bench --find-capacity`: which rate to try next, given the steps so far and the bounds.
// The rate doubles from --start-rate while steps hold; once one fails, the rates between the
// highest that held and the lowest that failed are bisected until they are within
// --precision of each other. Pure: the bench loop runs each step and records its result.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace koorelease::bench {

struct capacity_bounds {
    double p99_us = 250'000;        // a step holds when its p99 latency is at most this ...
    double max_error_share = 0.01;  // ... and its error share at most this (0.01: 1%)
};

struct capacity_settings {
    double start_rate = 50;      // requests per second of the first step
    double max_rate = 100'000;   // never tried above this
    double growth = 2;           // factor between steps until one fails
    double precision = 0.05;     // stop when lowest failed / highest held - 1 <= this
    std::uint32_t max_steps = 30;
};

struct step_result {
    double rate = 0;           // intended requests per second
    double achieved_rate = 0;  // sent within the step's duration, per second
    double p99_us = 0;         // p99 latency from the intended send times
    double error_share = 0;    // see recorder::error_share
    bool held = false;         // filled by capacity_search::record
};

class capacity_search {
public:
    capacity_search(const capacity_settings& settings, const capacity_bounds& bounds);

    bool done() const { return !why_done_.empty(); }
    // The rate of the next step; valid while !done().
    double next_rate() const { return next_; }
    // Records the step just run at next_rate(); returns whether it held.
    bool record(step_result result);

    std::optional<double> highest_held() const { return highest_held_; }
    std::optional<double> lowest_failed() const { return lowest_failed_; }
    const std::vector<step_result>& steps() const { return steps_; }
    const std::string& why_done() const { return why_done_; }
    const capacity_bounds& bounds() const { return bounds_; }

private:
    capacity_settings settings_;
    capacity_bounds bounds_;
    double next_;
    std::optional<double> highest_held_;
    std::optional<double> lowest_failed_;
    std::vector<step_result> steps_;
    std::string why_done_;
};

}  // namespace koorelease::bench
