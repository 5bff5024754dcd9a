#pragma once
// The report of a `koorelease bench` run, and its three renderings: text (the terminal),
// JSON (--json) and a self-contained HTML page (--html: inline CSS, JS and SVG, the data as
// embedded JSON; nothing is fetched to view it). Pure: built from the recorder's figures.
#include <optional>
#include <string>
#include <vector>

#include "koorelease/bench/capacity_search.hpp"
#include "koorelease/bench/recorder.hpp"

namespace koorelease::bench {

// The evidence of one capacity step (a constant rate for --step-duration).
struct step_evidence {
    step_result result;          // rate, achieved rate, p99, error share, held
    double duration_s = 0;
    std::uint64_t scheduled = 0;
    std::uint64_t sent = 0;
    double p50_us = 0, p99_9_us = 0, max_us = 0;
    double max_lag_ms = 0;       // how far behind the schedule its sends fell at worst
    std::array<std::uint64_t, answer_kind_count> by_kind{};
};

struct bench_report {
    // What was run.
    std::string endpoint;          // base URL, as given (no token anywhere in a report)
    std::string started_at;        // UTC, ISO 8601
    bool find_capacity = false;
    double from_rate = 0, to_rate = 0;  // the schedule (--rate, or --ramp-from..--rate)
    double duration_s = 0;         // of the schedule (capacity: of all steps together)
    std::uint32_t connections = 0;
    bool retries = false;
    std::string stopped_by;        // empty, or why the run ended early
    double elapsed_s = 0;

    // What happened, over the whole run.
    std::uint64_t scheduled = 0;
    std::uint64_t retried = 0;     // attempts beyond the first (--retry)
    pacing sends;                  // first attempts against the schedule
    recorder answers;              // times from the start of the run

    // --find-capacity only.
    std::vector<step_evidence> steps;
    std::optional<double> capacity;       // highest rate that held
    std::optional<double> lowest_failed;
    std::string capacity_why;
    capacity_bounds bounds;

    double intended_rate() const;  // scheduled / duration
    double achieved_rate() const;  // sent within the duration / duration (capacity: within each step's)
};

std::string to_text(const bench_report& r);
std::string to_json(const bench_report& r);
std::string to_html(const bench_report& r);

// Milliseconds with 3 significant digits or more ("20.1 ms", "512 ms", "1.23 s"), for text.
std::string format_latency(double micros);

}  // namespace koorelease::bench
