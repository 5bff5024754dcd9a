#include "koorelease/classify.hpp"

namespace koorelease {

std::string_view to_string(verdict v) {
    switch (v) {
        case verdict::released: return "released";
        case verdict::failed: return "failed";
        case verdict::retry: return "retry";
        case verdict::throttled: return "throttled";
        case verdict::token_rejected: return "token_rejected";
    }
    return "unknown";
}

std::string_view to_string(transport_failure f) {
    switch (f) {
        case transport_failure::connection_lost: return "connection lost before the answer";
        case transport_failure::timeout: return "no complete answer within --request-timeout";
        case transport_failure::malformed_answer: return "malformed or oversized HTTP answer";
    }
    return "unknown";
}

bool counts_as_attempt(transport_failure f, bool connection_was_reused, std::uint32_t free_resends_so_far) {
    return !(connection_was_reused && f == transport_failure::connection_lost &&
             free_resends_so_far < max_free_resends);
}

namespace {

constexpr std::string_view koophone_prefix = "KOOPHONE.API.";

// Business errors of the release call, from the API's error table.
std::string_view business_reason(std::string_view code) {
    if (code == "KOOPHONE.API.1000") return "request parameter incorrect";
    if (code == "KOOPHONE.API.1001") return "insufficient instance permissions";
    if (code == "KOOPHONE.API.1002") return "instances not in the same region";
    if (code == "KOOPHONE.API.0002") return "missing header x-request-id (a koorelease bug: please report it)";
    if (code == "KOOPHONE.API.0000") return "tenant not found";
    if (code == "KOOPHONE.API.0004") return "project not found";
    if (code == "KOOPHONE.API.1004") return "service not subscribed";
    if (code == "KOOPHONE.API.4001") return "instance does not exist";
    return "business error";
}

bool retryable_status(unsigned s) { return s == 500 || s == 502 || s == 503 || s == 504; }

}  // namespace

classification classify(unsigned status, const api_body* body) {
    if (body != nullptr) {
        const std::string_view code = body->error_code;
        if (code == "0") {
            if (status == 200) return {verdict::released, "released"};
            // "0" with another status is not the documented success: judge by the status.
        } else if (code == "APIG.0308") {
            return {verdict::throttled, "throttled by the API gateway (APIG.0308)"};
        } else if (code == "APIG.0301") {
            return {verdict::token_rejected, "token rejected: incorrect IAM authentication information (APIG.0301)"};
        } else if (code == "APIG.0307") {
            return {verdict::token_rejected, "token rejected: the token must be updated (APIG.0307)"};
        } else if (code == "KOOPHONE.API.9999") {
            return {verdict::retry, "internal service error (KOOPHONE.API.9999)"};
        } else if (code.starts_with(koophone_prefix)) {
            return {verdict::failed, business_reason(code)};
        }
    }
    if (status == 429) return {verdict::throttled, "throttled (HTTP 429)"};
    if (status == 401) return {verdict::token_rejected, "token rejected (HTTP 401)"};
    if (retryable_status(status)) return {verdict::retry, "server error (HTTP 5xx)"};
    if (status == 200) {
        // A 200 whose body is not the expected JSON: a proxy page, a truncated answer.
        if (body == nullptr) return {verdict::retry, "HTTP 200 without the expected JSON body"};
        // Unknown codes on HTTP 200 are business failures, never successes.
        return {verdict::failed, "unknown error code"};
    }
    if (status >= 300 && status < 400) return {verdict::failed, "unexpected redirect (check --endpoint)"};
    if (status == 404) return {verdict::failed, "HTTP 404: no release API at this URL (check --endpoint)"};
    if (status >= 400 && status < 500) return {verdict::failed, "request refused (HTTP 4xx)"};
    if (body != nullptr && !body->error_code.empty() && body->error_code != "0") {
        return {verdict::failed, "unknown error code"};
    }
    return {verdict::failed, "unexpected HTTP status"};
}

}  // namespace koorelease
