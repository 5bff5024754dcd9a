#pragma once
// Project-scoped IAM tokens (Huawei Cloud IAM, POST /v3/auth/tokens with a password identity):
// the request body, the answer's meaning, when to refresh, and what to do when the API says
// a token expired. All pure: the HTTPS call is in src/iam_client.hpp, the token command and
// the engine carry out what these decide.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "koorelease/endpoint.hpp"

namespace koorelease {

inline constexpr std::string_view iam_tokens_path = "/v3/auth/tokens";

struct iam_credentials {
    std::string user;      // IAM user name
    std::string password;  // never logged, never on a command line (KOOPHONE_IAM_PASSWORD)
    std::string domain;    // account (domain) name
    std::string project;   // project name (e.g. cn-north-4), or a project id (32 hex digits)
};

// Everything needed to obtain a token, for `koorelease token` and for `release --iam-*`.
struct iam_settings {
    endpoint target;                      // the IAM endpoint, e.g. https://iam.myhuaweicloud.com
    iam_credentials credentials;
    std::string ca_file;                  // PEM trust anchors added to the system store
    bool insecure = false;                // skip certificate verification
    std::chrono::nanoseconds connect_timeout{std::chrono::seconds(5)};   // TCP + TLS
    std::chrono::nanoseconds request_timeout{std::chrono::seconds(30)};  // send to whole answer
    std::string user_agent = std::string("koorelease/") + KOORELEASE_VERSION;
};

// Whether `project` is a project id (32 lower-case hex digits) rather than a name.
bool is_project_id(std::string_view project);

// The JSON body of the token request (password identity, project scope). Holds the password.
std::string iam_request_body(const iam_credentials& c);

// The request target: the endpoint's path prefix + /v3/auth/tokens?nocatalog=true (the
// catalog, often tens of KB, is not needed).
std::string iam_request_target(const endpoint& iam);

// Checks the flags before anything is sent: a message naming what to fix, or empty.
// Plain http:// is refused except on loopback: the password would travel unencrypted.
std::string check_iam_settings(const iam_settings& s);

struct iam_token {
    std::string token;                               // the X-Subject-Token header
    std::chrono::system_clock::time_point expires_at;
};

// Why no token was obtained. `credentials_refused` is the IAM's 401/403: retrying will not help.
struct iam_error {
    bool credentials_refused = false;
    std::string message;  // one line, says what to fix; never quotes the password or a token
};

using iam_result = std::variant<iam_token, iam_error>;

// Parses "2026-11-28T14:00:00.000000Z" (fraction optional, "Z" or "+00:00"). nullopt if not.
std::optional<std::chrono::system_clock::time_point> parse_iam_time(std::string_view text);

// "2026-11-28T14:00:00Z"
std::string format_utc(std::chrono::system_clock::time_point t);

// The meaning of the IAM's answer: 201 with X-Subject-Token and token.expires_at is a token;
// anything else an error whose message names the cause (401: user, password or domain wrong).
// `subject_token` is empty when the header was absent.
iam_result interpret_iam_answer(unsigned status, std::string_view subject_token, std::string_view body);

// When to fetch the next token, counted from when this one was obtained: at 90% of its
// lifetime or 5 minutes before it expires, whichever comes first, but never before half its
// lifetime (so a short-lived token is not refreshed in a loop). A lifetime of 0 or less: now.
std::chrono::nanoseconds refresh_after(std::chrono::nanoseconds lifetime);

// What the engine does about the token. Every request carries the generation of the token it
// was sent with; generation 1 is the token fetched at start.
class token_keeper {
public:
    enum class on_expiry {
        resend,          // the id was sent with an older token than the current one: send it again now
        wait,            // a new token is being fetched: send the id again when it arrives
        refresh_and_wait,  // fetch a new token (reactively), send the id again when it arrives
        stop,            // the token fetched on an expiry was itself refused: stop the run
    };

    std::uint32_t generation() const { return generation_; }
    bool refreshing() const { return refreshing_; }

    // An answer that was not a token rejection came for a request sent with `generation`.
    void on_accepted(std::uint32_t generation);
    // An APIG.0307 answer came for a request sent with `generation`.
    on_expiry on_expired(std::uint32_t generation);
    // A proactive refresh is starting; false if one is already under way.
    bool start_proactive();
    // The fetch ended: with a new token (the generation moves on), or without (a later
    // APIG.0307 then triggers a reactive fetch).
    void refreshed();
    void refresh_failed();

    // New tokens obtained ahead of expiry / because of an APIG.0307.
    std::uint32_t proactive_refreshes() const { return proactive_; }
    std::uint32_t reactive_refreshes() const { return reactive_; }

private:
    std::uint32_t generation_ = 1;
    bool refreshing_ = false;
    bool refreshing_reactively_ = false;
    bool current_is_reactive_ = false;  // the current token was fetched because of an APIG.0307
    bool current_accepted_ = false;     // the API has accepted the current token at least once
    std::uint32_t proactive_ = 0;
    std::uint32_t reactive_ = 0;
};

// Obtains a token with a blocking call (its own event loop): for `koorelease token`.
iam_result fetch_iam_token(const iam_settings& s);

}  // namespace koorelease
