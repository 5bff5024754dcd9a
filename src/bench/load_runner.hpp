#pragma once
// The open-model load loop of `koorelease bench`: requests leave on the schedule's times over
// a pool of keep-alive connections (at most one request in flight on each), whatever the
// answers do. A request whose time has come while every connection is busy waits for one,
// and its latency is still measured from its intended time. It reuses the release engine's
// pieces (request bytes, answer reader, TLS set-up, classification), not its queue, retries
// or rate limiter, which would turn the load into a closed loop.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "koorelease/backoff.hpp"
#include "koorelease/bench/recorder.hpp"
#include "koorelease/bench/schedule.hpp"
#include "koorelease/endpoint.hpp"

namespace koorelease::bench {

struct bench_settings {
    endpoint target;
    std::string token;                  // sent as x-auth-token; never printed
    std::string user_agent;
    std::string ca_file;                // PEM trust anchors added to the system store
    bool insecure = false;              // skip certificate verification
    std::uint32_t connections = 64;     // the most requests in flight at once
    std::chrono::nanoseconds connect_timeout = std::chrono::seconds(5);
    std::chrono::nanoseconds request_timeout = std::chrono::seconds(10);  // from the send to the whole answer
    bool retries = false;               // resend throttled / failed / unanswered requests
    std::uint32_t max_attempts = 3;     // with retries: attempts per request, the first included
    backoff_policy backoff{std::chrono::milliseconds(50), std::chrono::seconds(1)};  // with retries
    std::vector<std::string> ids;       // instance ids, used in turn (never empty)
    std::chrono::nanoseconds live_interval = std::chrono::seconds(1);  // between live lines
    std::uint32_t max_connect_failures = 6;  // in a row with no connection open: unreachable
    // After a failed connect, the connection waits this long before its next request (a
    // refused connect fails at once: without it the schedule would spin through).
    std::chrono::nanoseconds connect_retry_delay = std::chrono::milliseconds(100);
};

// A snapshot for the live line.
struct live_status {
    double step_elapsed_s = 0;
    double step_duration_s = 0;
    double intended_rate = 0;
    std::uint64_t sent = 0;       // in this step
    std::uint64_t answered = 0;   // in this step
    std::uint64_t in_flight = 0;
    const recorder* step = nullptr;  // this step's answers so far
};

struct step_totals {
    std::uint64_t scheduled = 0;
    std::uint64_t retried = 0;
};

class load_runner {
public:
    load_runner(const bench_settings& settings, std::function<void(const live_status&)> on_live,
                std::function<void(std::string_view)> on_warning);
    ~load_runner();

    // Runs one schedule, starting now. Times go to `step` and `step_sends` from the step's
    // start, and to `whole` and `whole_sends` from the run's start (the first step's).
    step_totals run(const load_schedule& schedule, recorder& step, pacing& step_sends, recorder& whole,
                    pacing& whole_sends);

    // Why the run stopped early ("" if it did not), and the exit code that goes with it
    // (3: token rejected, endpoint unreachable, TLS verification failed; 4: a signal).
    const std::string& stopped_by() const;
    int stop_exit_code() const;
    double elapsed_s() const;  // since the first step started

private:
    class impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace koorelease::bench
