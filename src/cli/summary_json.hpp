#pragma once
// --summary-file: the end-of-run summary as one JSON object, for the scheduler that ran the
// job (cron, systemd, a Kubernetes CronJob), written atomically so a reader never sees half.
#include <chrono>
#include <string>
#include <string_view>

#include "koorelease/engine.hpp"

namespace koorelease::cli {

// The summary as a JSON object on one line (with a final '\n'): counts by outcome, requests,
// retries, throttled, connections, TLS resumed, answers by status and error code, failures by
// reason, latency percentiles in ms, requests/s, exit code, start and end (UTC, RFC 3339).
std::string summary_json(const run_summary& s, std::chrono::system_clock::time_point started,
                         std::chrono::system_clock::time_point finished);


// Whether a file could be created at `path` (its directory exists and is writable); a one-line
// `error` saying what to fix when not. For checking options before a run starts.
bool can_create_file(const std::string& path, std::string& error);

// An RFC 3339 UTC time with milliseconds: 2026-11-27T10:47:54.123Z.
std::string utc_timestamp(std::chrono::system_clock::time_point t);

}  // namespace koorelease::cli
