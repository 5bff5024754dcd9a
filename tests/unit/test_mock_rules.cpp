// The mock server's decisions, driven by hand: scripted draws, a hand-moved clock, no sockets.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "mock/mock_rules.hpp"

namespace koorelease::mock {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view release_target = "/v1/instances/session/release";
const mock_clock::time_point t0 = mock_clock::time_point{} + 1000h;

request_view release(std::string_view body = R"({"instance_id":"iRJEVP96"})") {
    return request_view{
        .method = "POST",
        .target = release_target,
        .auth_token = "MIIPtoken",
        .request_id = "3f0c1a52-request",
        .body = body,
        .keep_alive = true,
    };
}

rule_inputs at(mock_clock::time_point now, double draw = 0.5, std::uint64_t answers = 0) {
    return rule_inputs{.draw = draw, .now = now, .answers_on_connection = answers};
}

// The error_code of an answer body, read the cheap way (the bodies are our own literals).
std::string error_code_of(const decision& d) {
    std::string_view body = d.body;
    auto start = body.find(R"("error_code":")");
    if (start == std::string_view::npos) return "<none>";
    start += 14;
    return std::string(body.substr(start, body.find('"', start) - start));
}

void expect_answer(const decision& d, unsigned status, std::string_view code) {
    EXPECT_EQ(d.what, outcome::answer);
    EXPECT_EQ(d.status, status);
    EXPECT_EQ(error_code_of(d), code);
    EXPECT_EQ(d.record.error_code, code);
}

// ---- routing ----

TEST(MockRules, SuccessReleasesTheId) {
    mock_rules rules(mock_settings{});
    decision d = rules.decide(release(), at(t0));
    expect_answer(d, 200, "0");
    EXPECT_EQ(d.body, R"({"error_code":"0","error_msg":"OK"})");
    EXPECT_EQ(d.kind, route::release);
    EXPECT_FALSE(d.close);
    EXPECT_EQ(d.retry_after_s, 0u);
    EXPECT_TRUE(d.record.release_request);
    EXPECT_EQ(d.record.released_id, "iRJEVP96");
    EXPECT_EQ(d.record.request_id, "3f0c1a52-request");
    ASSERT_TRUE(d.echo_request_id);
    EXPECT_EQ(*d.echo_request_id, "3f0c1a52-request");
}

TEST(MockRules, UnknownPathIs404AndNotARelease) {
    mock_rules rules(mock_settings{});
    request_view r = release();
    r.target = "/v1/instances/session/stop";
    decision d = rules.decide(r, at(t0));
    expect_answer(d, 404, "MOCK.404");
    EXPECT_EQ(d.kind, route::not_found);
    EXPECT_FALSE(d.record.release_request);
}

TEST(MockRules, WrongMethodOnReleasePathIs405) {
    mock_rules rules(mock_settings{});
    request_view r = release();
    r.method = "GET";
    decision d = rules.decide(r, at(t0));
    expect_answer(d, 405, "MOCK.405");
    EXPECT_TRUE(d.record.release_request);
}

TEST(MockRules, QueryStringIsIgnoredForRouting) {
    mock_rules rules(mock_settings{});
    request_view r = release();
    r.target = "/v1/instances/session/release?x=1";
    expect_answer(rules.decide(r, at(t0)), 200, "0");
}

TEST(MockRules, PathPrefixIsRequired) {
    mock_settings s;
    s.path_prefix = "/koophone/";  // a trailing slash is forgiven
    mock_rules rules(s);
    EXPECT_EQ(rules.release_path(), "/koophone/v1/instances/session/release");
    expect_answer(rules.decide(release(), at(t0)), 404, "MOCK.404");
    request_view r = release();
    r.target = "/koophone/v1/instances/session/release";
    expect_answer(rules.decide(r, at(t0)), 200, "0");

    s.path_prefix = "api";  // a missing leading slash too
    EXPECT_EQ(mock_rules(s).release_path(), "/api/v1/instances/session/release");
}

TEST(MockRules, StatsAndResetRoutes) {
    mock_rules rules(mock_settings{});
    request_view r{.method = "GET", .target = "/mock/stats"};  // no token needed
    decision stats = rules.decide(r, at(t0));
    EXPECT_EQ(stats.kind, route::stats);
    EXPECT_EQ(stats.status, 200u);
    EXPECT_FALSE(stats.record.release_request);

    r.method = "POST";
    EXPECT_EQ(rules.decide(r, at(t0)).status, 405u);

    request_view reset{.method = "POST", .target = "/mock/reset"};
    decision d = rules.decide(reset, at(t0));
    EXPECT_EQ(d.kind, route::reset);
    EXPECT_EQ(d.status, 200u);
    reset.method = "GET";
    EXPECT_EQ(rules.decide(reset, at(t0)).status, 405u);
}

// ---- the token ----

TEST(MockRules, MissingOrEmptyTokenIs401Apig0301) {
    mock_rules rules(mock_settings{});
    request_view r = release();
    r.auth_token.reset();
    expect_answer(rules.decide(r, at(t0)), 401, "APIG.0301");
    r.auth_token = "";
    expect_answer(rules.decide(r, at(t0)), 401, "APIG.0301");
}

TEST(MockRules, AnyTokenPassesWhenNoneIsExpected) {
    mock_rules rules(mock_settings{});
    request_view r = release();
    r.auth_token = "whatever";
    expect_answer(rules.decide(r, at(t0)), 200, "0");
}

TEST(MockRules, ExpectedTokenMustMatch) {
    mock_settings s;
    s.expected_token = "MIIPgood";
    mock_rules rules(s);
    request_view r = release();
    r.auth_token = "MIIPbad";
    expect_answer(rules.decide(r, at(t0)), 401, "APIG.0301");
    r.auth_token = "MIIPgood";
    expect_answer(rules.decide(r, at(t0)), 200, "0");
}

TEST(MockRules, LongTokenIsAccepted) {
    mock_settings s;
    s.expected_token = std::string(16 * 1024, 'A');
    mock_rules rules(s);
    request_view r = release();
    std::string token(16 * 1024, 'A');
    r.auth_token = token;
    expect_answer(rules.decide(r, at(t0)), 200, "0");
}

TEST(MockRules, TokenExpiresAfterNReleaseRequests) {
    mock_settings s;
    s.token_expire_after = 3;
    mock_rules rules(s);
    for (int i = 0; i < 3; ++i) expect_answer(rules.decide(release(), at(t0)), 200, "0");
    decision d = rules.decide(release(), at(t0));
    expect_answer(d, 401, "APIG.0307");
    EXPECT_NE(d.body.find("The token must be updated."), std::string_view::npos);
    // Stays expired, and a bad token still reads as bad rather than expired.
    expect_answer(rules.decide(release(), at(t0)), 401, "APIG.0307");
    request_view no_token = release();
    no_token.auth_token.reset();
    expect_answer(rules.decide(no_token, at(t0)), 401, "APIG.0301");

    rules.reset();
    expect_answer(rules.decide(release(), at(t0)), 200, "0");
}

TEST(MockRules, ZeroMeansTheTokenNeverExpires) {
    mock_rules rules(mock_settings{});
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(rules.decide(release(), at(t0)).status, 200u);
}

// ---- throttling ----

TEST(ThrottleWindow, CountsPerSecondFromTheFirstRequest) {
    throttle_window w(2);
    EXPECT_FALSE(w.over_limit(t0));
    EXPECT_FALSE(w.over_limit(t0 + 500ms));
    EXPECT_TRUE(w.over_limit(t0 + 999ms));
    EXPECT_TRUE(w.over_limit(t0 + 999ms));
    // A new window at t0 + 1 s, not at the first refused request.
    EXPECT_FALSE(w.over_limit(t0 + 1s));
    EXPECT_FALSE(w.over_limit(t0 + 1999ms));
    EXPECT_TRUE(w.over_limit(t0 + 1999ms));
    // Skipping seconds keeps the windows aligned on whole seconds since t0.
    EXPECT_FALSE(w.over_limit(t0 + 5500ms));
    EXPECT_FALSE(w.over_limit(t0 + 5999ms));
    EXPECT_TRUE(w.over_limit(t0 + 5999ms));
    EXPECT_FALSE(w.over_limit(t0 + 6s));
}

TEST(ThrottleWindow, OlderTimeFromAnotherThreadCountsInTheCurrentWindow) {
    throttle_window w(1);
    EXPECT_FALSE(w.over_limit(t0));
    EXPECT_TRUE(w.over_limit(t0 - 1ms));
}

TEST(ThrottleWindow, ResetStartsAfresh) {
    throttle_window w(1);
    EXPECT_FALSE(w.over_limit(t0));
    EXPECT_TRUE(w.over_limit(t0));
    w.reset();
    EXPECT_FALSE(w.over_limit(t0 + 10ms));
}

TEST(MockRules, ThrottledIs429Apig0308WithTheGatewayMessage) {
    mock_settings s;
    s.throttle_rps = 2;
    mock_rules rules(s);
    expect_answer(rules.decide(release(), at(t0)), 200, "0");
    expect_answer(rules.decide(release(), at(t0 + 100ms)), 200, "0");
    decision d = rules.decide(release(), at(t0 + 200ms));
    expect_answer(d, 429, "APIG.0308");
    EXPECT_EQ(
        d.body,
        R"({"error_code":"APIG.0308","error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:2,time:1 second"})");
    EXPECT_EQ(d.retry_after_s, 0u);  // the real gateway documents no Retry-After
    expect_answer(rules.decide(release(), at(t0 + 1s)), 200, "0");
}

TEST(MockRules, RetryAfterIsSentWhenConfigured) {
    mock_settings s;
    s.throttle_rps = 1;
    s.retry_after_s = 3;
    mock_rules rules(s);
    EXPECT_EQ(rules.decide(release(), at(t0)).retry_after_s, 0u);
    decision d = rules.decide(release(), at(t0));
    EXPECT_EQ(d.status, 429u);
    EXPECT_EQ(d.retry_after_s, 3u);
}

TEST(MockRules, ZeroRpsNeverThrottles) {
    mock_rules rules(mock_settings{});
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(rules.decide(release(), at(t0)).status, 200u);
}

// ---- request checks ----

TEST(MockRules, MissingRequestIdIs200Koophone0002) {
    mock_rules rules(mock_settings{});
    request_view r = release();
    r.request_id.reset();
    decision d = rules.decide(r, at(t0));
    expect_answer(d, 200, "KOOPHONE.API.0002");
    EXPECT_FALSE(d.echo_request_id);
    EXPECT_TRUE(d.record.request_id.empty());
    EXPECT_TRUE(d.record.released_id.empty());
    r.request_id = "";
    expect_answer(rules.decide(r, at(t0)), 200, "KOOPHONE.API.0002");
}

TEST(MockRules, BodyMustBeAnObjectWithAStringInstanceId) {
    mock_rules rules(mock_settings{});
    for (std::string_view body : {
             "",
             "not json",
             "[]",
             R"(["iRJEVP96"])",
             R"({})",
             R"({"instance_ids":["a"]})",
             R"({"instance_id":42})",
             R"({"instance_id":null})",
             R"({"instance_id":""})",
             R"({"instance_id":"a")",
             R"({"instance_id":"a"} trailing)",
         }) {
        SCOPED_TRACE(body);
        decision d = rules.decide(release(body), at(t0));
        expect_answer(d, 400, "KOOPHONE.API.1000");
        EXPECT_TRUE(d.record.release_request);
    }
}

TEST(MockRules, BodyMayHaveOtherFieldsWhitespaceAndEscapes) {
    mock_rules rules(mock_settings{});
    decision d =
        rules.decide(release(R"( { "x": [1, {"y": 2}], "instance_id" : "a\"b" } )"), at(t0));
    expect_answer(d, 200, "0");
    EXPECT_EQ(d.record.released_id, "a\"b");
}

// ---- faults: one draw, split into shares ----

TEST(MockRules, FaultSharesFollowTheDraw) {
    // Shares that are exact in binary, so the boundaries are exact too.
    mock_settings s;
    s.drop_rate = 0.25;
    s.fail_rate = 0.25;
    mock_rules rules(s);

    decision dropped = rules.decide(release(), at(t0, 0.0));
    EXPECT_EQ(dropped.what, outcome::drop);
    EXPECT_TRUE(dropped.close);
    EXPECT_TRUE(dropped.record.release_request);
    EXPECT_TRUE(dropped.record.error_code.empty());
    EXPECT_TRUE(dropped.record.released_id.empty());
    EXPECT_EQ(rules.decide(release(), at(t0, 0.2499)).what, outcome::drop);

    expect_answer(rules.decide(release(), at(t0, 0.25)), 500, "KOOPHONE.API.9999");
    expect_answer(rules.decide(release(), at(t0, 0.4999)), 500, "KOOPHONE.API.9999");
    expect_answer(rules.decide(release(), at(t0, 0.5)), 200, "0");
    expect_answer(rules.decide(release(), at(t0, 0.9999)), 200, "0");
}

TEST(MockRules, NoFaultsWhenRatesAreZero) {
    mock_rules rules(mock_settings{});
    expect_answer(rules.decide(release(), at(t0, 0.0)), 200, "0");
}

TEST(MockRules, AllDropWhenRateIsOne) {
    mock_settings s;
    s.drop_rate = 1.0;
    mock_rules rules(s);
    EXPECT_EQ(rules.decide(release(), at(t0, 0.9999999)).what, outcome::drop);
}

TEST(MockRules, EarlierChecksWinOverLaterOnes) {
    mock_settings s;
    s.drop_rate = 1.0;
    s.throttle_rps = 1;
    mock_rules rules(s);
    // A bad token beats everything after it, and does not use up the throttle window.
    request_view bad = release("nonsense");
    bad.auth_token.reset();
    bad.request_id.reset();
    expect_answer(rules.decide(bad, at(t0)), 401, "APIG.0301");
    // A missing request id beats a bad body; the bad body beats the drop draw.
    request_view no_id = release("nonsense");
    no_id.request_id.reset();
    expect_answer(rules.decide(no_id, at(t0)), 200, "KOOPHONE.API.0002");
    // Now the window is used: throttling beats the missing request id.
    expect_answer(rules.decide(no_id, at(t0)), 429, "APIG.0308");
    expect_answer(rules.decide(release("nonsense"), at(t0 + 1s)), 400, "KOOPHONE.API.1000");
    // The fault draw comes before the business errors of the id.
    EXPECT_EQ(rules.decide(release(R"({"instance_id":"missing-1"})"), at(t0 + 2s, 0.5)).what,
              outcome::drop);
}

// ---- business errors by id prefix ----

TEST(MockRules, IdPrefixesChooseBusinessErrors) {
    mock_rules rules(mock_settings{});
    struct row {
        std::string_view body;
        unsigned status;
        std::string_view code;
    };
    for (const row& r : {
             row{R"({"instance_id":"missing-7"})", 200, "KOOPHONE.API.4001"},
             row{R"({"instance_id":"denied-7"})", 200, "KOOPHONE.API.1001"},
             row{R"({"instance_id":"invalid-7"})", 400, "KOOPHONE.API.1000"},
             row{R"({"instance_id":"region-7"})", 400, "KOOPHONE.API.1002"},
             row{R"({"instance_id":"7-missing-"})", 200, "0"},
         }) {
        SCOPED_TRACE(r.body);
        decision d = rules.decide(release(r.body), at(t0));
        expect_answer(d, r.status, r.code);
        EXPECT_EQ(d.record.released_id.empty(), r.code != "0");
    }
}

TEST(MockRules, DropPrefixClosesTheConnectionEveryTime) {
    mock_rules rules(mock_settings{});
    for (double draw : {0.0, 0.5, 0.99}) {
        decision d = rules.decide(release(R"({"instance_id":"drop-7"})"), at(t0, draw));
        EXPECT_EQ(d.what, outcome::drop);
        EXPECT_TRUE(d.close);
        EXPECT_TRUE(d.record.released_id.empty());
    }
    EXPECT_EQ(rules.decide(release(R"({"instance_id":"7-drop-"})"), at(t0)).what, outcome::answer);
}

// ---- connection handling ----

TEST(MockRules, CloseEveryNthAnswerOnAConnection) {
    mock_settings s;
    s.close_every = 3;
    mock_rules rules(s);
    EXPECT_FALSE(rules.decide(release(), at(t0, 0.5, 0)).close);
    EXPECT_FALSE(rules.decide(release(), at(t0, 0.5, 1)).close);
    EXPECT_TRUE(rules.decide(release(), at(t0, 0.5, 2)).close);
    EXPECT_FALSE(rules.decide(release(), at(t0, 0.5, 3)).close);
    EXPECT_TRUE(rules.decide(release(), at(t0, 0.5, 5)).close);
    // Every answer counts, not only releases.
    request_view stats{.method = "GET", .target = "/mock/stats"};
    EXPECT_TRUE(rules.decide(stats, at(t0, 0.5, 2)).close);
}

TEST(MockRules, CloseEveryOneClosesEachAnswer) {
    mock_settings s;
    s.close_every = 1;
    mock_rules rules(s);
    EXPECT_TRUE(rules.decide(release(), at(t0, 0.5, 0)).close);
}

TEST(MockRules, ClientWithoutKeepAliveGetsClosed) {
    mock_rules rules(mock_settings{});
    request_view r = release();
    r.keep_alive = false;
    EXPECT_TRUE(rules.decide(r, at(t0)).close);
}

TEST(MockRules, LatencyDelaysReleaseAnswersOnly) {
    mock_settings s;
    s.latency = 250ms;
    mock_rules rules(s);
    EXPECT_EQ(rules.decide(release(), at(t0)).delay, 250ms);
    request_view no_token = release();
    no_token.auth_token.reset();
    EXPECT_EQ(rules.decide(no_token, at(t0)).delay, 250ms);
    request_view stats{.method = "GET", .target = "/mock/stats"};
    EXPECT_EQ(rules.decide(stats, at(t0)).delay, 0ms);
}

// ---- stalls (--stall, --stall-every) ----

TEST(MockStall, AnswersDueInAWindowWaitForItsEnd) {
    // t0 is a whole number of periods since the clock's epoch: a window starts there.
    EXPECT_EQ(held_by_stall(t0, 500ms, 5s), 500ms);
    EXPECT_EQ(held_by_stall(t0 + 1ms, 500ms, 5s), 499ms);
    EXPECT_EQ(held_by_stall(t0 + 499ms, 500ms, 5s), 1ms);
    EXPECT_EQ(held_by_stall(t0 + 500ms, 500ms, 5s), 0ms);
    EXPECT_EQ(held_by_stall(t0 + 4999ms, 500ms, 5s), 0ms);
    EXPECT_EQ(held_by_stall(t0 + 5s, 500ms, 5s), 500ms);
    EXPECT_EQ(held_by_stall(t0 + 10s + 250ms, 500ms, 5s), 250ms);
}

TEST(MockStall, OffWhenEitherIsZero) {
    EXPECT_EQ(held_by_stall(t0, 0ms, 5s), 0ms);
    EXPECT_EQ(held_by_stall(t0, 500ms, 0s), 0ms);
}

TEST(MockStall, ShareOfTimeStalledIsStallOverPeriod) {
    int held = 0;
    for (int ms = 0; ms < 20'000; ++ms) held += held_by_stall(t0 + std::chrono::milliseconds(ms), 500ms, 5s) > 0ms;
    EXPECT_EQ(held, 2'000);  // 10% of the time
}

TEST(MockStall, ReleaseAnswersGetLatencyPlusTheHoldOfTheirDueTime) {
    mock_settings s;
    s.latency = 20ms;
    s.stall = 500ms;
    s.stall_every = 5s;
    mock_rules rules(s);
    // Arrives 30 ms before a window: due 10 ms before it, not held.
    EXPECT_EQ(rules.decide(release(), at(t0 + 5s - 30ms)).delay, 20ms);
    // Arrives 10 ms before: due 10 ms into it, held to its end (510 ms in all).
    EXPECT_EQ(rules.decide(release(), at(t0 + 5s - 10ms)).delay, 510ms);
    // Arrives in the middle: held to the end, then answered.
    EXPECT_EQ(rules.decide(release(), at(t0 + 5s + 200ms)).delay, 20ms + 280ms);
    request_view stats{.method = "GET", .target = "/mock/stats"};
    EXPECT_EQ(rules.decide(stats, at(t0)).delay, 0ms);
}

TEST(MockRules, UnreadableRequestsCloseTheConnection) {
    decision h = mock_rules::decide_unreadable(read_failure::header_too_large);
    EXPECT_EQ(h.status, 431u);
    EXPECT_TRUE(h.close);
    EXPECT_FALSE(h.record.release_request);
    EXPECT_EQ(mock_rules::decide_unreadable(read_failure::body_too_large).status, 413u);
    EXPECT_EQ(mock_rules::decide_unreadable(read_failure::malformed).status, 400u);
}

// ---- stats ----

TEST(MockStats, EmptyStats) {
    mock_stats stats;
    EXPECT_EQ(stats.to_json(),
              R"({"requests":0,"by_status":{},"by_error_code":{},"released":0,)"
              R"("released_more_than_once":0,"request_ids_reused":0,"tracking_ids":true,)"
              R"("pipelined":0,"missing_request_id":0,)"
              R"("dropped":0,"per_second":[],"released_per_second":[],)"
              R"("iam_requests":0,"iam_tokens_issued":0,"iam_tokens_used":0,"max_rps":0})");
}

TEST(MockStats, CountsWhatTheRulesDecided) {
    mock_settings s;
    s.drop_rate = 0.1;
    mock_rules rules(s);
    mock_stats stats;
    auto feed = [&](request_view r, mock_clock::time_point now, double draw = 0.5) {
        stats.record(rules.decide(r, at(now, draw)), now);
    };
    request_view a = release(R"({"instance_id":"a"})");
    a.request_id = "r1";
    feed(a, t0);
    a.request_id = "r2";
    feed(a, t0 + 100ms);  // a released twice
    a.request_id = "r2";
    feed(a, t0 + 200ms);  // a released three times, r2 reused
    request_view b = release(R"({"instance_id":"b"})");
    b.request_id = "r3";
    feed(b, t0 + 1500ms);
    request_view missing = release(R"({"instance_id":"missing-x"})");
    missing.request_id.reset();  // answered 0002 before the id is looked at
    feed(missing, t0 + 3100ms);
    request_view dropped = release(R"({"instance_id":"c"})");
    dropped.request_id = "r4";
    feed(dropped, t0 + 3200ms, 0.0);
    request_view not_found = release();
    not_found.target = "/nope";
    feed(not_found, t0 + 3300ms);  // not a release request: not counted

    EXPECT_EQ(stats.to_json(),
              R"({"requests":6,"by_status":{"200":5},)"
              R"("by_error_code":{"0":4,"KOOPHONE.API.0002":1},"released":2,)"
              R"("released_more_than_once":1,"request_ids_reused":1,"tracking_ids":true,)"
              R"("pipelined":0,"missing_request_id":1,)"
              R"("dropped":1,"per_second":[3,1,0,2],"released_per_second":[3,1,0,0],)"
              R"("iam_requests":0,"iam_tokens_issued":0,"iam_tokens_used":0,"max_rps":3})");

    stats.reset();
    EXPECT_EQ(stats.to_json(),
              R"({"requests":0,"by_status":{},"by_error_code":{},"released":0,)"
              R"("released_more_than_once":0,"request_ids_reused":0,"tracking_ids":true,)"
              R"("pipelined":0,"missing_request_id":0,)"
              R"("dropped":0,"per_second":[],"released_per_second":[],)"
              R"("iam_requests":0,"iam_tokens_issued":0,"iam_tokens_used":0,"max_rps":0})");
    // After a reset the seconds count from the next first request.
    feed(b, t0 + 10s);
    EXPECT_NE(stats.to_json().find(R"("per_second":[1])"), std::string::npos);
}

TEST(MockStats, CountsPipelinedRequests) {
    mock_rules rules(mock_settings{});
    mock_stats stats;
    rule_inputs inputs = at(t0);
    stats.record(rules.decide(release(), inputs), t0);
    inputs.pipelined = true;
    stats.record(rules.decide(release(), inputs), t0);
    stats.record(rules.decide(release(), inputs), t0);
    EXPECT_NE(stats.to_json().find(R"("requests":3,)"), std::string::npos);
    EXPECT_NE(stats.to_json().find(R"("pipelined":2,)"), std::string::npos) << stats.to_json();
}

TEST(MockStats, WithoutTrackingCountsReleasedAnswersAndOmitsTheReuseChecks) {
    mock_rules rules(mock_settings{});
    mock_stats stats(false);
    request_view a = release(R"({"instance_id":"a"})");
    a.request_id = "r1";
    for (int i = 0; i < 3; ++i) stats.record(rules.decide(a, at(t0)), t0);
    const std::string json = stats.to_json();
    EXPECT_NE(json.find(R"("released":3,"tracking_ids":false,)"), std::string::npos) << json;
    EXPECT_EQ(json.find("released_more_than_once"), std::string::npos) << json;
    EXPECT_EQ(json.find("request_ids_reused"), std::string::npos) << json;
}

TEST(MockStats, ErrorsByStatusAndCode) {
    mock_settings s;
    s.fail_rate = 1.0;
    mock_rules rules(s);
    mock_stats stats;
    stats.record(rules.decide(release(), at(t0)), t0);
    request_view no_token = release();
    no_token.auth_token.reset();
    stats.record(rules.decide(no_token, at(t0)), t0);
    std::string json = stats.to_json();
    EXPECT_NE(json.find(R"("by_status":{"401":1,"500":1})"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("by_error_code":{"APIG.0301":1,"KOOPHONE.API.9999":1})"),
              std::string::npos)
        << json;
    EXPECT_NE(json.find(R"("released":0)"), std::string::npos) << json;
}

}  // namespace
}  // namespace koorelease::mock
