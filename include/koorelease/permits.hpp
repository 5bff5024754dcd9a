#pragma once
// Permission to send, granted from outside the engine: --shared-rate takes it from Redis in
// batches, so that several workers together keep one rate (koorelease/queue.hpp). The engine
// takes one permit per attempt, after its own rate limiter (which still carries the
// throttling feedback of this worker's answers).
#include <chrono>
#include <cstdint>

namespace koorelease {

class permit_source {
public:
    virtual ~permit_source() = default;
    // Takes one permit if one is at hand now. Thread-safe; never blocks.
    virtual bool try_take() = 0;
    // After a failed try_take: how long to wait before trying again.
    virtual std::chrono::nanoseconds retry_after() const = 0;
};

}  // namespace koorelease
