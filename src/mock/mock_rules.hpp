#pragma once
// What the mock server answers, as pure code: no sockets, no clock reads, no random source.
// The server passes in the request, the time, a random draw and the connection's answer
// count, and carries out the returned decision; the unit tests do the same by hand.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "mock/mock_server.hpp"

namespace koorelease::mock {

using mock_clock = std::chrono::steady_clock;

// The parts of a request the rules look at. Views into the server's request object.
struct request_view {
    std::string_view method{};                     // "POST", "GET"...
    std::string_view target{};                     // origin-form, may carry a "?query"
    std::optional<std::string_view> auth_token{};  // x-auth-token, absent when not sent
    std::optional<std::string_view> request_id{};  // x-request-id, absent when not sent
    std::string_view body{};
    bool keep_alive = true;  // false for "Connection: close" or HTTP/1.0 without keep-alive
};

// Values the rules must not fetch themselves, so that tests can script them.
struct rule_inputs {
    double draw = 0.5;                        // uniform random draw in [0,1)
    mock_clock::time_point now{};             // arrival time of the request
    std::uint64_t answers_on_connection = 0;  // answers already sent on this connection
    bool pipelined = false;  // the request was already buffered behind an earlier one
    std::chrono::system_clock::time_point wall_now{};  // for the expires_at of IAM tokens
    std::uint64_t random_bits = 0;  // makes IAM tokens unguessable (a random draw)
};

enum class outcome {
    answer,  // send `status` and `body`
    drop,    // close the connection without answering (fault injection)
};

// Which handler produced the decision: the server fills the body of stats answers itself.
enum class route {
    release,    // <prefix>/v1/instances/session/release
    stats,      // GET /mock/stats: the server answers with mock_stats::to_json()
    reset,      // POST /mock/reset: the server zeroes the stats, then answers `body`
    iam,        // POST /v3/auth/tokens: the server answers `owned_body`, X-Subject-Token
    not_found,  // any other path, or a wrong method on a known path
};

// What a release request contributes to the stats (all empty for other routes).
struct stats_record {
    bool release_request = false;  // counted in requests / per_second
    bool pipelined = false;        // arrived behind an earlier request, before its answer
    std::string_view request_id;   // x-request-id when sent and non-empty
    std::string_view released_id;  // instance_id when released (200 / "0")
    std::string_view error_code;   // answered error_code, empty when dropped
    bool iam_request = false;      // a POST /v3/auth/tokens
    bool iam_issued = false;       // ... that issued a token
    std::uint64_t iam_token = 0;   // serial number of the issued token a release request carried (0: none)
};

struct decision {
    outcome what = outcome::answer;
    route kind = route::not_found;
    unsigned status = 200;               // HTTP status of the answer
    std::string_view body;               // JSON body; for route::stats the server supplies it
    bool close = false;                  // send "Connection: close" and close after the answer
    std::uint32_t retry_after_s = 0;     // Retry-After header value, 0 = no header
    std::chrono::microseconds delay{0};  // wait this long before answering (or dropping)
    std::optional<std::string_view> echo_request_id;  // value for the X-Request-Id header
    stats_record record;
    // route::iam only: the body (it holds the expiry time) and the token for X-Subject-Token.
    std::string owned_body;
    std::string subject_token;
};

// Oversized requests are refused before the rules can see them.
enum class read_failure {
    header_too_large,  // 431
    body_too_large,    // 413
    malformed,         // 400
};

// Fixed one-second windows, the first one starting at the first request: the gateway's
// "limit:XX,time:1 second" policy. Not thread-safe; mock_rules serialises access.
class throttle_window {
  public:
    explicit throttle_window(std::uint32_t limit_per_second) : limit_(limit_per_second) {}

    // Counts one request arriving at `now`; true when it is beyond the limit of its window.
    bool over_limit(mock_clock::time_point now);
    void reset();

  private:
    std::uint32_t limit_;
    bool started_ = false;
    mock_clock::time_point window_start_{};
    std::uint32_t count_ = 0;
};

// How long an answer due at `due` is held by the stalls (--stall, --stall-every): the stall
// windows are [k * every, k * every + stall) of the clock's time since its epoch; an answer
// due inside one waits for its end. Zero outside the windows, or when either is zero.
std::chrono::microseconds held_by_stall(mock_clock::time_point due, std::chrono::microseconds stall,
                                        std::chrono::microseconds every);

// Hash that accepts std::string_view, so looking an id up allocates nothing.
struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

class mock_rules {
  public:
    explicit mock_rules(const mock_settings& settings);

    // Thread-safe: the token-expiry count is atomic and the throttle is behind a mutex.
    // The views in the result point into `request`, static text or this object, except
    // record.released_id, which points into a per-thread parse buffer: record the decision
    // in mock_stats before this thread decides again (before the next co_await).
    decision decide(const request_view& request, const rule_inputs& inputs);

    // The answer to a request that could not be read (closes the connection).
    static decision decide_unreadable(read_failure failure);

    // Forget the token-expiry count and the throttle window (POST /mock/reset).
    void reset();

    std::string_view release_path() const { return release_path_; }

  private:
    decision decide_release(const request_view& request, const rule_inputs& inputs);
    decision decide_iam(const request_view& request, const rule_inputs& inputs);

    // What the token of a release request is worth: 0 accepted, else the error answer.
    struct token_check {
        bool ok = false;
        bool expired = false;
        std::uint64_t serial = 0;  // of the issued token, 0 for others
    };
    token_check check_token(std::string_view token, std::uint64_t request_number,
                            mock_clock::time_point now);

    // A token issued by POST /v3/auth/tokens. It expires at `expires`, and, with
    // --token-expire-after N, when the Nth release request is made if it was issued before
    // that (like a password change revoking the tokens in use): tokens issued after are
    // unaffected, so a client that fetches a new one can go on.
    struct issued_token {
        std::uint64_t serial = 0;
        mock_clock::time_point expires{};
        std::uint64_t issued_after_requests = 0;  // release requests made before it was issued
    };

    std::string release_path_;
    std::optional<std::string> expected_token_;
    std::uint64_t token_expire_after_;
    std::uint32_t retry_after_s_;
    double drop_rate_;
    double fail_rate_;
    std::uint32_t close_every_;
    std::chrono::microseconds latency_;
    std::chrono::microseconds stall_;
    std::chrono::microseconds stall_every_;
    std::string throttle_body_;  // holds the configured limit, built once
    std::optional<std::string> iam_password_;
    std::chrono::milliseconds iam_token_lifetime_;
    std::mutex iam_mutex_;
    std::unordered_map<std::string, issued_token, string_hash, std::equal_to<>> issued_;

    std::atomic<std::uint64_t> release_requests_{0};
    bool throttling_;
    std::mutex throttle_mutex_;
    throttle_window throttle_;
};

// What the server received, served as JSON by GET /mock/stats. Thread-safe: every record()
// takes one short lock.
class mock_stats {
  public:
    // track_ids: keep every request id and released id (see mock_settings::track_ids).
    explicit mock_stats(bool track_ids = true) : track_ids_(track_ids) {}
    void record(const decision& answered, mock_clock::time_point now);
    std::string to_json() const;
    void reset();

  private:
    mutable std::mutex mutex_;
    std::uint64_t requests_ = 0;
    std::uint64_t dropped_ = 0;
    std::uint64_t request_ids_reused_ = 0;
    std::uint64_t missing_request_id_ = 0;
    std::uint64_t released_more_than_once_ = 0;
    std::uint64_t released_answers_ = 0;
    std::uint64_t pipelined_ = 0;
    std::uint64_t iam_requests_ = 0;
    std::uint64_t iam_tokens_issued_ = 0;
    std::unordered_set<std::uint64_t> iam_tokens_used_;  // serials that release requests carried
    bool track_ids_;
    std::map<unsigned, std::uint64_t> by_status_;
    // Keys are the static error-code literals of mock_rules: no allocation.
    std::map<std::string_view, std::uint64_t> by_error_code_;
    std::unordered_map<std::string, std::uint32_t, string_hash, std::equal_to<>> released_;
    std::unordered_set<std::string, string_hash, std::equal_to<>> request_ids_;
    std::optional<mock_clock::time_point> first_request_;
    std::vector<std::uint64_t> per_second_;
    std::vector<std::uint64_t> released_per_second_;
};

}  // namespace koorelease::mock
