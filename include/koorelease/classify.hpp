#pragma once
// What an answer of the release API means for the id it was about, following the table in
// shared/koophone-api.md: success is HTTP 200 *and* error_code "0"; the error code decides
// before the status does.
#include <cstdint>
#include <optional>
#include <string_view>

namespace koorelease {

enum class verdict {
    released,        // done
    failed,          // permanent failure of this id: no retry
    retry,           // transient: retry with backoff (counts against --max-attempts)
    throttled,       // slow the whole run down and retry (does not count against --max-attempts)
    token_rejected,  // the token is wrong or expired: stop sending
};

std::string_view to_string(verdict v);

// The fields of the answer body, when it was the expected JSON object.
struct api_body {
    std::string_view error_code;
    std::string_view error_msg;
};

struct classification {
    verdict what;
    std::string_view reason;  // static text for the journal, e.g. "instance does not exist"
};

// `body` is null when the answer had no body or it was not the expected JSON.
classification classify(unsigned http_status, const api_body* body);

// Why an attempt got no usable answer at all. Every one of them is retried: the release is
// idempotent, so repeating a request whose answer was lost is safe.
enum class transport_failure {
    connection_lost,   // reset, closed before the whole answer, TLS alert
    timeout,           // --request-timeout passed before the whole answer
    malformed_answer,  // not HTTP/1.1, or over the size limits
};

std::string_view to_string(transport_failure f);

// Whether an attempt that got no answer counts against --max-attempts. A kept-alive
// connection that the server closed while it was idle loses the request before the server
// could act on it: that one is sent again on a fresh connection at no cost to the id.
// A fresh connection failing the same way counts, so a server that always drops requests
// still ends in "retries exhausted"; and so does the idle case once an id has been sent again
// for free `max_free_resends` times (an id that kills every connection must not go forever).
inline constexpr std::uint32_t max_free_resends = 3;
bool counts_as_attempt(transport_failure f, bool connection_was_reused, std::uint32_t free_resends_so_far);

}  // namespace koorelease
