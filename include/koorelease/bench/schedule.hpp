#pragma once
// When each request of an open-model load test is meant to be sent: at a constant rate, or
// on a linear ramp from one rate to another. Requests go out on this schedule whatever the
// answers do; latency is measured from these times (see recorder.hpp).
#include <chrono>
#include <cstdint>

namespace koorelease::bench {

class load_schedule {
public:
    static load_schedule constant(double rate, std::chrono::nanoseconds duration) { return {rate, rate, duration}; }
    static load_schedule ramp(double from, double to, std::chrono::nanoseconds duration) { return {from, to, duration}; }

    // Requests scheduled: those whose send offset falls before the duration.
    std::uint64_t count() const;
    // The intended send time of request k (0 for the first), from the start of the schedule.
    std::chrono::nanoseconds send_offset(std::uint64_t k) const;
    // The mean intended rate (requests per second).
    double intended_rate() const { return (from_rate_ + to_rate_) / 2; }
    double from_rate() const { return from_rate_; }
    double to_rate() const { return to_rate_; }
    std::chrono::nanoseconds duration() const { return duration_; }

private:
    load_schedule(double from, double to, std::chrono::nanoseconds d) : from_rate_(from), to_rate_(to), duration_(d) {}
    double from_rate_;  // requests per second at the start
    double to_rate_;    // ... at the end (the same for a constant rate)
    std::chrono::nanoseconds duration_;
};

}  // namespace koorelease::bench
