#pragma once
// Every knob of a release run, with its default and unit, in one place.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "koorelease/backoff.hpp"
#include "koorelease/endpoint.hpp"
#include "koorelease/iam.hpp"
#include "koorelease/permits.hpp"
#include "koorelease/retry_budget.hpp"
#include "koorelease/throttle_controller.hpp"

namespace koorelease {

struct release_settings {
    endpoint target;                       // where the API is
    std::string token;                     // IAM token, sent as x-auth-token; never logged
    // Set: the token is fetched from IAM at start (`token` is ignored) and fetched again ahead
    // of its expiry (see refresh_after) and once on APIG.0307.
    std::optional<iam_settings> iam;
    // After a failed fetch ahead of expiry, the next try waits this long.
    std::chrono::nanoseconds iam_retry_delay{std::chrono::seconds(30)};
    // Fetches ahead of expiry are at least this far apart, whatever lifetime IAM states (a
    // token that comes back already expired must not start a loop of fetches).
    std::chrono::nanoseconds iam_min_refresh_interval{std::chrono::seconds(1)};

    std::uint32_t concurrency = 32;        // connections kept open to the endpoint
    // Requests written back to back on one connection before their answers come (HTTP/1.1
    // pipelining): 1 is off. Answers are matched in order; requests a lost connection leaves
    // unanswered go back to the queue.
    std::uint32_t pipeline = 1;
    double rate = 0;                       // requests per second, all attempts; 0: no limit
    std::uint32_t burst = 0;               // requests at once above the rate; 0: default_burst(rate)
    // Set: every attempt also takes a permit from here (--shared-rate: one rate for a fleet).
    std::shared_ptr<permit_source> permits;
    std::uint32_t max_attempts = 5;        // attempts per id, the first included (throttled ones not counted)
    std::uint32_t max_throttled = 50;      // throttled answers per id before it fails (a server that throttles forever must not hang the run)

    std::chrono::nanoseconds connect_timeout{std::chrono::seconds(5)};   // TCP connect + TLS handshake
    std::chrono::nanoseconds request_timeout{std::chrono::seconds(30)};  // from send to the whole answer

    backoff_policy retry_backoff{std::chrono::milliseconds(100), std::chrono::seconds(10)};
    // Throttled ids wait this (unless the server sends Retry-After); the run-wide rate cut
    // by the throttle controller does most of the slowing down.
    backoff_policy throttle_backoff{std::chrono::milliseconds(250), std::chrono::seconds(5)};
    // Between failed connection attempts of one connection slot.
    backoff_policy connect_backoff{std::chrono::milliseconds(200), std::chrono::seconds(5)};
    // A Retry-After longer than this is capped to it.
    std::chrono::nanoseconds max_retry_after{std::chrono::seconds(60)};
    // The endpoint counts as unreachable when this many connection attempts in a row fail
    // while no connection of the run is open.
    std::uint32_t max_connect_failures = 6;

    retry_budget_settings retry_budget;
    adaptive_rate_settings adaptive_rate;

    std::string ca_file;                   // PEM trust anchors added to the system store
    bool insecure = false;                 // skip certificate verification (warned about)

    // Release a repeated id once (memory: about 35 bytes per distinct id). Off, memory stays
    // the same however long the input; repeated ids are then sent and recorded again.
    bool deduplicate = true;
    std::uint32_t queue_capacity = 0;      // ids read ahead of the workers; 0: 4 * concurrency * pipeline + 64
    std::chrono::nanoseconds journal_sync_interval{std::chrono::seconds(1)};
    std::chrono::nanoseconds progress_interval{std::chrono::milliseconds(250)};
    std::string user_agent = std::string("koorelease/") + KOORELEASE_VERSION;
};

}  // namespace koorelease
