#pragma once
// The release engine: ids flow from a source through a bounded queue to a pool of keep-alive
// HTTPS connections, and each id's final outcome goes to a sink.
//
//   reader thread --(batches, bounded)--> dispatcher --> N connection workers --> sink
//                                              ^                |
//                                              +--- retry timers+
//
// Decisions (classification, backoff, rate, retry budget) are made by the small classes in
// this folder; the engine's coroutines only carry them out.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <system_error>

#include "koorelease/errors.hpp"
#include "koorelease/input.hpp"
#include "koorelease/journal.hpp"
#include "koorelease/latency_histogram.hpp"
#include "koorelease/settings.hpp"

namespace koorelease {

struct run_summary;

// A live view of a run, for the progress line.
struct progress_snapshot {
    std::uint64_t ids_read = 0;       // distinct ids taken from the input so far
    std::uint64_t released = 0;
    std::uint64_t failed = 0;
    std::uint64_t invalid = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t in_flight = 0;      // requests sent and not answered
    std::uint64_t waiting_retry = 0;
    std::uint64_t requests = 0;       // attempts sent
    std::uint64_t input_bytes_read = 0;
    std::uint64_t input_lines_read = 0;  // lines the reader handed out (ids, comments, invalid)
    std::uint64_t input_size = 0;     // 0 when unknown (stdin)
    double rate_limit = 0;            // requests per second in force; 0: none
    bool rate_lowered = false;        // throttling has lowered it
    double elapsed_s = 0;
    bool input_done = false;
    std::uint64_t throttled = 0;      // throttled answers so far
    // The run's counters so far (answers by code, latency, retries): for --metrics-file.
    // Valid only during the on_progress call; duplicates, throttled and elapsed_s are above.
    const run_summary* counters = nullptr;
};

struct run_summary {
    std::uint64_t ids = 0;            // distinct ids read
    std::uint64_t released = 0;
    std::uint64_t failed = 0;
    std::uint64_t invalid = 0;        // lines that were not ids
    std::uint64_t duplicates = 0;     // repeated ids, released once
    std::uint64_t already_final = 0;  // ids final in the journal already (--resume): not sent
    std::uint64_t aborted = 0;        // ids sent whose outcome is unknown because the run stopped
    std::uint64_t not_sent = 0;       // ids read but never sent because the run stopped (no record)
    std::uint64_t requests = 0;       // attempts sent
    std::uint64_t retries = 0;
    std::uint64_t throttled = 0;      // throttled answers
    std::uint64_t connections_opened = 0;
    std::uint64_t tls_resumed = 0;    // connections whose TLS session was resumed
    std::uint32_t token_refreshes_ahead = 0;      // IAM tokens fetched ahead of expiry (--iam-*)
    std::uint32_t token_refreshes_on_expiry = 0;  // ... fetched because the API answered APIG.0307
    std::uint64_t token_resends = 0;  // requests refused with APIG.0307 and sent again with a newer token
    std::map<std::string, std::uint64_t, std::less<>> failures_by_reason;
    std::map<std::string, std::uint64_t, std::less<>> answers_by_code;  // "200 0", "500 KOOPHONE.API.9999", ...
    latency_histogram latency;        // of every answered attempt
    double elapsed_s = 0;
    bool input_complete = false;      // the whole input was read
    std::optional<run_error> stopped_by;  // set when the run did not finish every id
    std::string stop_detail;          // what was seen, e.g. the error code or the TLS error

    // 0 all released; 1 some failed or invalid; 3 / 4 stopped (see exit_code_for).
    int exit_code() const;
};

// One attempt, as it ended: for the debug log.
struct attempt_report {
    std::string_view instance_id;
    std::string_view request_id;         // the x-request-id we sent
    std::string_view server_request_id;  // the X-Request-Id the server answered with, if any
    unsigned http_status = 0;            // 0: no answer
    std::string_view error_code;
    std::string_view what;               // the verdict, or why there was no answer
    double latency_ms = 0;
    std::uint32_t attempt = 0;           // 1 for the first
};

struct run_hooks {
    std::function<void(const attempt_report&)> on_attempt;     // after every attempt (debug log)
    std::function<void(const progress_snapshot&)> on_progress;  // every progress_interval
    std::function<void(std::string_view)> on_warning;           // one-line notices for stderr
};

// Runs the whole job and returns when every id is final or the run stopped. Signals
// (SIGINT, SIGTERM) stop it gracefully: no new requests, the ones in flight finish.
// Throws std::runtime_error for start-up failures (bad --ca-file, ...).
// `prior`: what an earlier run's journal settled (--resume); its ids are not sent again.
run_summary run_release(const release_settings& settings, id_source& source, outcome_sink& sink,
                        const run_hooks& hooks = {}, prior_outcomes* prior = nullptr);

}  // namespace koorelease
