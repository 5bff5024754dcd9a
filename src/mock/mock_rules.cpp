#include "mock/mock_rules.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>

namespace koorelease::mock {

namespace {

// Error codes and answer bodies are static text so that answering allocates nothing; the
// codes and messages follow shared/koophone-api.md. Codes of our own (404/405/413/431) are
// prefixed MOCK. because the API documents none for those cases.
namespace code {
constexpr std::string_view ok = "0";
constexpr std::string_view bad_token = "APIG.0301";
constexpr std::string_view token_expired = "APIG.0307";
constexpr std::string_view throttled = "APIG.0308";
constexpr std::string_view missing_request_id = "KOOPHONE.API.0002";
constexpr std::string_view bad_parameter = "KOOPHONE.API.1000";
constexpr std::string_view no_permission = "KOOPHONE.API.1001";
constexpr std::string_view other_region = "KOOPHONE.API.1002";
constexpr std::string_view no_instance = "KOOPHONE.API.4001";
constexpr std::string_view internal_error = "KOOPHONE.API.9999";
constexpr std::string_view not_found = "MOCK.404";
constexpr std::string_view bad_method = "MOCK.405";
}  // namespace code

namespace body {
constexpr std::string_view ok = R"({"error_code":"0","error_msg":"OK"})";
constexpr std::string_view bad_token =
    R"({"error_code":"APIG.0301","error_msg":"Incorrect IAM authentication information: the x-auth-token is missing or not valid"})";
constexpr std::string_view token_expired =
    R"({"error_code":"APIG.0307","error_msg":"The token must be updated."})";
constexpr std::string_view missing_request_id =
    R"({"error_code":"KOOPHONE.API.0002","error_msg":"Missing header x-request-id."})";
constexpr std::string_view bad_body =
    R"({"error_code":"KOOPHONE.API.1000","error_msg":"Request parameter incorrect: the body must be a JSON object with a non-empty string instance_id."})";
constexpr std::string_view bad_parameter =
    R"({"error_code":"KOOPHONE.API.1000","error_msg":"Request parameter incorrect."})";
constexpr std::string_view no_permission =
    R"({"error_code":"KOOPHONE.API.1001","error_msg":"Insufficient instance permissions."})";
constexpr std::string_view other_region =
    R"({"error_code":"KOOPHONE.API.1002","error_msg":"The instances are not in the same region."})";
constexpr std::string_view no_instance =
    R"({"error_code":"KOOPHONE.API.4001","error_msg":"The instance does not exist."})";
constexpr std::string_view internal_error =
    R"({"error_code":"KOOPHONE.API.9999","error_msg":"Internal service error."})";
constexpr std::string_view not_found =
    R"({"error_code":"MOCK.404","error_msg":"No such path on the mock server."})";
constexpr std::string_view bad_method =
    R"({"error_code":"MOCK.405","error_msg":"Method not allowed on this path."})";
constexpr std::string_view reset = R"({"error_code":"0","error_msg":"Stats reset."})";
// IAM's errors are Keystone's shape: {"error":{"code","message","title"}}.
constexpr std::string_view iam_wrong_password =
    R"({"error":{"code":401,"message":"The username or password is wrong.","title":"Unauthorized"}})";
constexpr std::string_view iam_bad_request =
    R"({"error":{"code":400,"message":"The request body must be a password identity (user name, password, domain name) with a project scope (name or id).","title":"Bad Request"}})";
constexpr std::string_view iam_bad_method =
    R"({"error":{"code":405,"message":"Method not allowed: tokens are created with POST.","title":"Method Not Allowed"}})";
constexpr std::string_view header_too_large =
    R"({"error_code":"MOCK.431","error_msg":"Request header block larger than the mock accepts."})";
constexpr std::string_view body_too_large =
    R"({"error_code":"MOCK.413","error_msg":"Request body larger than the mock accepts."})";
constexpr std::string_view malformed =
    R"({"error_code":"MOCK.400","error_msg":"Malformed HTTP request."})";
}  // namespace body

constexpr std::string_view release_suffix = "/v1/instances/session/release";
constexpr std::string_view stats_path = "/mock/stats";
constexpr std::string_view reset_path = "/mock/reset";
constexpr std::string_view iam_path = "/v3/auth/tokens";

// What decide_iam needs from the token request body: the password identity and the scope.
struct iam_request {
    std::string user, password, domain, project;
};

std::optional<iam_request> parse_iam_request(std::string_view text) {
    thread_local simdjson::dom::parser parser;
    simdjson::padded_string padded(text);
    simdjson::dom::element doc;
    if (parser.parse(padded).get(doc)) return std::nullopt;
    simdjson::dom::array methods;
    if (doc["auth"]["identity"]["methods"].get(methods)) return std::nullopt;
    bool password_method = false;
    for (auto m : methods) {
        std::string_view name;
        if (!m.get(name) && name == "password") password_method = true;
    }
    if (!password_method) return std::nullopt;
    auto user = doc["auth"]["identity"]["password"]["user"];
    std::string_view name, password, domain, project;
    if (user["name"].get(name) || user["password"].get(password) || user["domain"]["name"].get(domain)) {
        return std::nullopt;
    }
    auto scope = doc["auth"]["scope"]["project"];
    if (scope["name"].get(project) && scope["id"].get(project)) return std::nullopt;
    if (name.empty() || domain.empty() || project.empty()) return std::nullopt;
    return iam_request{std::string(name), std::string(password), std::string(domain), std::string(project)};
}

// "2026-11-28T14:00:00.000000Z", as IAM writes expires_at.
std::string iam_time(std::chrono::system_clock::time_point t) {
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(micros / 1'000'000);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char text[40];
    const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(text + n, sizeof text - n, ".%06lldZ", static_cast<long long>(micros % 1'000'000));
    return text;
}

// Business errors are chosen by the id's prefix so that a demo or a test can ask for them.
struct prefix_error {
    std::string_view prefix;
    unsigned status;
    std::string_view error_code;
    std::string_view body;
};
// Ids with this prefix make the server close the connection without answering, every time:
// a request that kills its connection (the client must not retry it forever for free).
constexpr std::string_view drop_prefix = "drop-";

constexpr prefix_error prefix_errors[] = {
    {"missing-", 200, code::no_instance, body::no_instance},
    {"denied-", 200, code::no_permission, body::no_permission},
    {"invalid-", 400, code::bad_parameter, body::bad_parameter},
    {"region-", 400, code::other_region, body::other_region},
};

std::string normalise_prefix(std::string_view prefix) {
    std::string out;
    while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
    if (!prefix.empty() && prefix.front() != '/') out.push_back('/');
    out.append(prefix);
    return out;
}

// Extracts `instance_id` when the body is a JSON object holding it as a non-empty string.
// The DOM parser validates the whole document (on-demand in simdjson 3.0 cannot tell
// trailing garbage), which costs nothing noticeable on a 30-byte body. Parser and scratch
// copy are per thread: simdjson needs padded input and a parser must not be shared. The
// returned view lives until the next call on this thread.
std::optional<std::string_view> parse_instance_id(std::string_view body) {
    thread_local simdjson::dom::parser parser;
    thread_local std::string scratch;
    scratch.assign(body);
    scratch.reserve(body.size() + simdjson::SIMDJSON_PADDING);

    simdjson::dom::object object;
    if (parser.parse(scratch.data(), body.size(), false).get(object)) return std::nullopt;
    std::string_view id;
    if (object["instance_id"].get(id) || id.empty()) return std::nullopt;
    return id;
}

// Names echoed in the token body: only plain characters, so no JSON escaping is needed.
bool is_valid_name(std::string_view s) {
    return s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
           });
}

decision answer(route kind, unsigned status, std::string_view error_code, std::string_view text) {
    decision d;
    d.kind = kind;
    d.status = status;
    d.body = text;
    d.record.error_code = error_code;
    return d;
}

}  // namespace

bool throttle_window::over_limit(mock_clock::time_point now) {
    using std::chrono::seconds;
    if (!started_) {
        started_ = true;
        window_start_ = now;
    } else if (now - window_start_ >= seconds(1)) {
        // Advance by whole seconds so windows stay aligned on the first request, as
        // per_second in the stats is.
        window_start_ += std::chrono::duration_cast<seconds>(now - window_start_);
        count_ = 0;
    }
    // A request from another thread may carry a slightly older time than the window
    // start: it counts in the current window.
    ++count_;
    return count_ > limit_;
}

std::chrono::microseconds held_by_stall(mock_clock::time_point due, std::chrono::microseconds stall,
                                        std::chrono::microseconds every) {
    using std::chrono::microseconds;
    if (stall.count() <= 0 || every.count() <= 0) return microseconds{0};
    const auto since_epoch = std::chrono::duration_cast<microseconds>(due.time_since_epoch());
    const microseconds into_period = since_epoch % every;
    return into_period < stall ? stall - into_period : microseconds{0};
}

void throttle_window::reset() {
    started_ = false;
    count_ = 0;
}

mock_rules::mock_rules(const mock_settings& settings)
    : release_path_(normalise_prefix(settings.path_prefix) + std::string(release_suffix)),
      expected_token_(settings.expected_token),
      token_expire_after_(settings.token_expire_after),
      retry_after_s_(settings.retry_after_s),
      drop_rate_(settings.drop_rate),
      fail_rate_(settings.fail_rate),
      close_every_(settings.close_every),
      latency_(settings.latency),
      stall_(settings.stall),
      stall_every_(settings.stall_every),
      throttle_body_(
          R"({"error_code":"APIG.0308","error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:)" +
          std::to_string(settings.throttle_rps) + R"(,time:1 second"})"),
      iam_password_(settings.iam_password),
      iam_token_lifetime_(settings.iam_token_lifetime),
      throttling_(settings.throttle_rps > 0),
      throttle_(settings.throttle_rps) {}

decision mock_rules::decide(const request_view& request, const rule_inputs& inputs) {
    std::string_view path = request.target.substr(0, request.target.find('?'));

    decision d;
    if (path == release_path_) {
        d = decide_release(request, inputs);
    } else if (path == stats_path) {
        d = request.method == "GET"
                ? answer(route::stats, 200, {}, {})
                : answer(route::not_found, 405, code::bad_method, body::bad_method);
    } else if (path == iam_path) {
        d = decide_iam(request, inputs);
    } else if (path == reset_path) {
        d = request.method == "POST"
                ? answer(route::reset, 200, code::ok, body::reset)
                : answer(route::not_found, 405, code::bad_method, body::bad_method);
    } else {
        d = answer(route::not_found, 404, code::not_found, body::not_found);
    }

    if (request.request_id) d.echo_request_id = request.request_id;
    // The Nth, 2Nth... answer on a connection closes it, to exercise clients' reconnects.
    bool nth = close_every_ > 0 && (inputs.answers_on_connection + 1) % close_every_ == 0;
    d.close = d.close || nth || !request.keep_alive;
    return d;
}

decision mock_rules::decide_release(const request_view& request, const rule_inputs& inputs) {
    // Counted before any check: the token expires after N release requests of any kind.
    std::uint64_t number = release_requests_.fetch_add(1, std::memory_order_relaxed) + 1;
    std::uint64_t token_serial = 0;

    decision d = [&]() -> decision {
        if (request.method != "POST") {
            return answer(route::release, 405, code::bad_method, body::bad_method);
        }
        const token_check checked = check_token(request.auth_token.value_or(std::string_view{}), number, inputs.now);
        if (checked.expired) {
            decision e = answer(route::release, 401, code::token_expired, body::token_expired);
            e.record.iam_token = checked.serial;
            return e;
        }
        if (!checked.ok) return answer(route::release, 401, code::bad_token, body::bad_token);
        token_serial = checked.serial;
        if (throttling_) {
            bool over;
            {
                std::lock_guard lock(throttle_mutex_);
                over = throttle_.over_limit(inputs.now);
            }
            if (over) {
                decision t = answer(route::release, 429, code::throttled, throttle_body_);
                t.retry_after_s = retry_after_s_;
                return t;
            }
        }
        if (!request.request_id || request.request_id->empty()) {
            return answer(route::release, 200, code::missing_request_id, body::missing_request_id);
        }
        std::optional<std::string_view> id = parse_instance_id(request.body);
        if (!id) return answer(route::release, 400, code::bad_parameter, body::bad_body);

        // One draw split into shares: [0,drop) drops, [drop,drop+fail) fails, the rest passes.
        if (inputs.draw < drop_rate_ || id->starts_with(drop_prefix)) {
            decision dropped;
            dropped.kind = route::release;
            dropped.what = outcome::drop;
            dropped.close = true;
            return dropped;
        }
        if (inputs.draw < drop_rate_ + fail_rate_) {
            return answer(route::release, 500, code::internal_error, body::internal_error);
        }
        for (const prefix_error& e : prefix_errors) {
            if (id->starts_with(e.prefix)) {
                return answer(route::release, e.status, e.error_code, e.body);
            }
        }
        decision released = answer(route::release, 200, code::ok, body::ok);
        released.record.released_id = *id;
        return released;
    }();

    d.delay = latency_ + held_by_stall(inputs.now + latency_, stall_, stall_every_);
    if (token_serial != 0) d.record.iam_token = token_serial;
    d.record.release_request = true;
    d.record.pipelined = inputs.pipelined;
    if (request.request_id && !request.request_id->empty()) {
        d.record.request_id = *request.request_id;
    }
    return d;
}

mock_rules::token_check mock_rules::check_token(std::string_view token, std::uint64_t number,
                                                mock_clock::time_point now) {
    token_check t;
    if (token.empty()) return t;
    {
        std::lock_guard lock(iam_mutex_);
        if (auto it = issued_.find(token); it != issued_.end()) {
            const issued_token& issued = it->second;
            t.serial = issued.serial;
            const bool revoked = token_expire_after_ > 0 && number > token_expire_after_ &&
                                 issued.issued_after_requests < token_expire_after_;
            t.expired = now >= issued.expires || revoked;
            t.ok = !t.expired;
            return t;
        }
    }
    if (expected_token_) {
        if (token != *expected_token_) return t;
    } else if (iam_password_) {
        return t;  // with IAM on, only the tokens it issued (or KOOPHONE_TOKEN's) are valid
    }
    t.expired = token_expire_after_ > 0 && number > token_expire_after_;
    t.ok = !t.expired;
    return t;
}

decision mock_rules::decide_iam(const request_view& request, const rule_inputs& inputs) {
    if (request.method != "POST") return answer(route::not_found, 405, {}, body::iam_bad_method);
    decision d;
    d.kind = route::iam;
    d.record.iam_request = true;
    std::optional<iam_request> r = parse_iam_request(request.body);
    if (!r) {
        d.status = 400;
        d.owned_body = body::iam_bad_request;
        return d;
    }
    if (iam_password_ && r->password != *iam_password_) {
        d.status = 401;
        d.owned_body = body::iam_wrong_password;
        return d;
    }
    issued_token issued;
    issued.expires = inputs.now + iam_token_lifetime_;
    issued.issued_after_requests = release_requests_.load(std::memory_order_relaxed);
    {
        std::lock_guard lock(iam_mutex_);
        issued.serial = issued_.size() + 1;
        // Long, like the PKI tokens IAM gives (MII...), and unique by its serial number.
        char text[64];
        std::snprintf(text, sizeof text, "MIIMock%016llx%08llx", static_cast<unsigned long long>(inputs.random_bits),
                      static_cast<unsigned long long>(issued.serial));
        d.subject_token = text;
        d.subject_token.append(512, 'A');
        issued_.emplace(d.subject_token, issued);
    }
    const auto expires_at = inputs.wall_now + std::chrono::duration_cast<std::chrono::system_clock::duration>(iam_token_lifetime_);
    const std::string now_text = iam_time(inputs.wall_now);
    d.status = 201;
    d.record.iam_issued = true;
    d.owned_body = R"({"token":{"expires_at":")" + iam_time(expires_at) + R"(","issued_at":")" + now_text +
                   R"(","methods":["password"],"project":{"name":")" + std::string(is_valid_name(r->project) ? r->project : "project") +
                   R"("},"user":{"name":")" + std::string(is_valid_name(r->user) ? r->user : "user") + R"("}}})";
    return d;
}

decision mock_rules::decide_unreadable(read_failure failure) {
    decision d;
    switch (failure) {
        case read_failure::header_too_large:
            d = answer(route::not_found, 431, {}, body::header_too_large);
            break;
        case read_failure::body_too_large:
            d = answer(route::not_found, 413, {}, body::body_too_large);
            break;
        case read_failure::malformed:
            d = answer(route::not_found, 400, {}, body::malformed);
            break;
    }
    // The rest of the stream cannot be parsed reliably after a refused request.
    d.close = true;
    return d;
}

void mock_rules::reset() {
    release_requests_.store(0, std::memory_order_relaxed);
    {
        std::lock_guard lock(iam_mutex_);
        for (auto& [token, issued] : issued_) issued.issued_after_requests = 0;
    }
    std::lock_guard lock(throttle_mutex_);
    throttle_.reset();
}

void mock_stats::record(const decision& answered, mock_clock::time_point now) {
    const stats_record& r = answered.record;
    if (r.iam_request) {
        std::lock_guard lock(mutex_);
        ++iam_requests_;
        if (r.iam_issued) ++iam_tokens_issued_;
        return;
    }
    if (!r.release_request) return;
    std::lock_guard lock(mutex_);
    if (r.iam_token != 0) iam_tokens_used_.insert(r.iam_token);
    ++requests_;
    if (!first_request_) first_request_ = now;
    // Threads may record slightly out of order: an earlier time lands in second 0.
    auto since = now > *first_request_ ? now - *first_request_ : mock_clock::duration::zero();
    auto second =
        static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::seconds>(since).count());
    if (per_second_.size() <= second) {
        per_second_.resize(second + 1, 0);
        released_per_second_.resize(second + 1, 0);
    }
    ++per_second_[second];
    if (r.pipelined) ++pipelined_;

    if (answered.what == outcome::drop) {
        ++dropped_;
    } else {
        ++by_status_[answered.status];
        if (!r.error_code.empty()) ++by_error_code_[r.error_code];
    }

    if (r.request_id.empty()) {
        ++missing_request_id_;
    } else if (!track_ids_) {
    } else if (request_ids_.find(r.request_id) != request_ids_.end()) {
        ++request_ids_reused_;
    } else {
        request_ids_.emplace(r.request_id);
    }

    if (!r.released_id.empty()) {
        ++released_per_second_[second];
        ++released_answers_;
        if (!track_ids_) return;
        auto it = released_.find(r.released_id);
        if (it == released_.end()) {
            released_.emplace(std::string(r.released_id), 1);
        } else if (++it->second == 2) {
            ++released_more_than_once_;
        }
    }
}

namespace {

void append_number(std::string& out, std::uint64_t value) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    (void)ec;  // 24 digits always suffice for a uint64
    out.append(digits, end);
}

void append_array(std::string& out, const std::vector<std::uint64_t>& values) {
    out.push_back('[');
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out.push_back(',');
        append_number(out, values[i]);
    }
    out.push_back(']');
}

}  // namespace

std::string mock_stats::to_json() const {
    std::lock_guard lock(mutex_);
    std::string out;
    out.reserve(256 + 12 * per_second_.size() * 2);
    out += R"({"requests":)";
    append_number(out, requests_);
    out += R"(,"by_status":{)";
    bool first = true;
    for (auto [status, count] : by_status_) {
        if (!first) out.push_back(',');
        first = false;
        out.push_back('"');
        append_number(out, status);
        out += "\":";
        append_number(out, count);
    }
    out += R"(},"by_error_code":{)";
    first = true;
    for (auto [error_code, count] : by_error_code_) {
        if (!first) out.push_back(',');
        first = false;
        // The codes are our own literals: no characters that need escaping.
        out.push_back('"');
        out += error_code;
        out += "\":";
        append_number(out, count);
    }
    // Without id tracking, "released" counts answers (an id released twice counts twice)
    // and the fields that need the ids are left out.
    out += R"(},"released":)";
    append_number(out, track_ids_ ? released_.size() : released_answers_);
    if (track_ids_) {
        out += R"(,"released_more_than_once":)";
        append_number(out, released_more_than_once_);
        out += R"(,"request_ids_reused":)";
        append_number(out, request_ids_reused_);
    }
    out += R"(,"tracking_ids":)";
    out += track_ids_ ? "true" : "false";
    out += R"(,"pipelined":)";
    append_number(out, pipelined_);
    out += R"(,"missing_request_id":)";
    append_number(out, missing_request_id_);
    out += R"(,"dropped":)";
    append_number(out, dropped_);
    out += R"(,"per_second":)";
    append_array(out, per_second_);
    out += R"(,"released_per_second":)";
    append_array(out, released_per_second_);
    out += R"(,"iam_requests":)";
    append_number(out, iam_requests_);
    out += R"(,"iam_tokens_issued":)";
    append_number(out, iam_tokens_issued_);
    out += R"(,"iam_tokens_used":)";
    append_number(out, iam_tokens_used_.size());
    out += R"(,"max_rps":)";
    append_number(
        out, per_second_.empty() ? 0 : *std::max_element(per_second_.begin(), per_second_.end()));
    out += "}";
    return out;
}

void mock_stats::reset() {
    std::lock_guard lock(mutex_);
    requests_ = dropped_ = request_ids_reused_ = missing_request_id_ = 0;
    released_more_than_once_ = released_answers_ = pipelined_ = 0;
    iam_requests_ = iam_tokens_issued_ = 0;
    iam_tokens_used_.clear();
    by_status_.clear();
    by_error_code_.clear();
    released_.clear();
    request_ids_.clear();
    first_request_.reset();
    per_second_.clear();
    released_per_second_.clear();
}

}  // namespace koorelease::mock
