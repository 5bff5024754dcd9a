// The mock's IAM route and the expiry of the tokens it issues, driven by hand.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "koorelease/iam.hpp"
#include "mock/mock_rules.hpp"

namespace koorelease::mock {
namespace {

using namespace std::chrono_literals;

const mock_clock::time_point t0 = mock_clock::time_point{} + 1000h;
const std::chrono::system_clock::time_point wall0 = std::chrono::system_clock::from_time_t(1795874400);  // 2026-11-28T14:00:00Z

rule_inputs at(mock_clock::time_point now, std::uint64_t bits = 7) {
    rule_inputs in;
    in.now = now;
    in.wall_now = wall0 + (now - t0);
    in.random_bits = bits;
    return in;
}

const std::string good_body = iam_request_body({"alice", "pw", "acme", "cn-north-4"});
const std::string wrong_body = iam_request_body({"alice", "nope", "acme", "cn-north-4"});

request_view token_request(const std::string& body) {
    return request_view{.method = "POST", .target = "/v3/auth/tokens?nocatalog=true", .body = body};
}

request_view release_with(std::string_view token) {
    return request_view{.method = "POST",
                        .target = "/v1/instances/session/release",
                        .auth_token = token,
                        .request_id = "req-1",
                        .body = R"({"instance_id":"i-1"})"};
}

std::string issue(mock_rules& rules, mock_clock::time_point now = t0, std::uint64_t bits = 7) {
    decision d = rules.decide(token_request(good_body), at(now, bits));
    EXPECT_EQ(d.status, 201u);
    EXPECT_EQ(d.kind, route::iam);
    EXPECT_TRUE(d.record.iam_issued);
    EXPECT_FALSE(d.subject_token.empty());
    return d.subject_token;
}

mock_settings with_password(std::chrono::milliseconds lifetime = 24h) {
    mock_settings s;
    s.iam_password = "pw";
    s.iam_token_lifetime = lifetime;
    return s;
}

TEST(MockIam, IssuesATokenWithItsExpiryInTheBody) {
    mock_rules rules(with_password(90s));
    decision d = rules.decide(token_request(good_body), at(t0));
    EXPECT_EQ(d.status, 201u);
    const iam_result r = interpret_iam_answer(d.status, d.subject_token, d.owned_body);
    ASSERT_TRUE(std::holds_alternative<iam_token>(r)) << std::get<iam_error>(r).message;
    EXPECT_EQ(format_utc(std::get<iam_token>(r).expires_at), "2026-11-28T14:01:30Z");
    EXPECT_FALSE(d.record.release_request);
}

TEST(MockIam, EveryTokenIsDifferent) {
    mock_rules rules(with_password());
    EXPECT_NE(issue(rules), issue(rules));
}

TEST(MockIam, WrongPasswordIs401WithAnIamLikeBody) {
    mock_rules rules(with_password());
    decision d = rules.decide(token_request(wrong_body), at(t0));
    EXPECT_EQ(d.status, 401u);
    EXPECT_TRUE(d.subject_token.empty());
    EXPECT_FALSE(d.record.iam_issued);
    EXPECT_TRUE(d.record.iam_request);
    const iam_result r = interpret_iam_answer(d.status, "", d.owned_body);
    ASSERT_TRUE(std::holds_alternative<iam_error>(r));
    EXPECT_TRUE(std::get<iam_error>(r).credentials_refused);
}

TEST(MockIam, AnyPasswordWhenNoneIsSet) {
    mock_rules rules(mock_settings{});
    EXPECT_EQ(rules.decide(token_request(wrong_body), at(t0)).status, 201u);
}

TEST(MockIam, MalformedRequestsAre400AndGetIs405) {
    mock_rules rules(with_password());
    for (const std::string& body : {std::string("{}"), std::string("not json"),
                                   std::string(R"({"auth":{"identity":{"methods":["token"]}}})"),
                                   iam_request_body({"alice", "pw", "acme", ""}), iam_request_body({"", "pw", "acme", "p"})}) {
        EXPECT_EQ(rules.decide(token_request(body), at(t0)).status, 400u) << body;
    }
    request_view get = token_request(good_body);
    get.method = "GET";
    EXPECT_EQ(rules.decide(get, at(t0)).status, 405u);
    // Project scope by id is accepted too.
    EXPECT_EQ(rules.decide(token_request(iam_request_body({"alice", "pw", "acme", "0123456789abcdef0123456789abcdef"})), at(t0)).status,
              201u);
}

TEST(MockIam, WithAPasswordOnlyIssuedTokensAreAccepted) {
    mock_rules rules(with_password());
    const std::string token = issue(rules);
    decision ok = rules.decide(release_with(token), at(t0));
    EXPECT_EQ(ok.status, 200u);
    EXPECT_EQ(ok.record.iam_token, 1u);
    EXPECT_EQ(rules.decide(release_with("MIIPmadeup"), at(t0)).record.error_code, "APIG.0301");
}

TEST(MockIam, KoophoneTokenStillWorksBesideIssuedOnes) {
    mock_settings s = with_password();
    s.expected_token = "static";
    mock_rules rules(s);
    EXPECT_EQ(rules.decide(release_with("static"), at(t0)).status, 200u);
    EXPECT_EQ(rules.decide(release_with(issue(rules)), at(t0)).status, 200u);
    EXPECT_EQ(rules.decide(release_with("other"), at(t0)).record.error_code, "APIG.0301");
}

TEST(MockIam, AnIssuedTokenExpiresAtItsLifetime) {
    mock_rules rules(with_password(10s));
    const std::string token = issue(rules);
    EXPECT_EQ(rules.decide(release_with(token), at(t0 + 9999ms)).status, 200u);
    decision d = rules.decide(release_with(token), at(t0 + 10s));
    EXPECT_EQ(d.status, 401u);
    EXPECT_EQ(d.record.error_code, "APIG.0307");
    EXPECT_EQ(d.record.iam_token, 1u);
    // A fresh one works.
    EXPECT_EQ(rules.decide(release_with(issue(rules, t0 + 10s)), at(t0 + 11s)).status, 200u);
}

TEST(MockIam, TokenExpireAfterRevokesTheTokensIssuedBeforeTheNthRequest) {
    mock_settings s = with_password();
    s.token_expire_after = 3;
    mock_rules rules(s);
    const std::string first = issue(rules);
    EXPECT_EQ(rules.decide(release_with(first), at(t0)).status, 200u);
    const std::string second = issue(rules);  // issued after 1 request: before the 3rd
    EXPECT_EQ(rules.decide(release_with(second), at(t0)).status, 200u);
    EXPECT_EQ(rules.decide(release_with(first), at(t0)).status, 200u);  // the 3rd
    EXPECT_EQ(rules.decide(release_with(first), at(t0)).record.error_code, "APIG.0307");
    EXPECT_EQ(rules.decide(release_with(second), at(t0)).record.error_code, "APIG.0307");
    const std::string third = issue(rules);  // issued after the 3rd request: unaffected
    for (int i = 0; i < 10; ++i) EXPECT_EQ(rules.decide(release_with(third), at(t0)).status, 200u);
    // A reset forgets the count (the tokens count as issued at 0 requests).
    rules.reset();
    EXPECT_EQ(rules.decide(release_with(first), at(t0)).status, 200u);
}

TEST(MockIam, StatsCountIssuedAndUsedTokens) {
    mock_rules rules(with_password());
    mock_stats stats;
    auto record = [&](const decision& d) { stats.record(d, t0); };
    record(rules.decide(token_request(wrong_body), at(t0)));
    const std::string a = issue(rules);
    record(rules.decide(token_request(good_body), at(t0)));  // a second token, never used
    record(rules.decide(release_with(a), at(t0)));
    record(rules.decide(release_with(a), at(t0)));
    const std::string json = stats.to_json();
    EXPECT_NE(json.find(R"("iam_requests":2)"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("iam_tokens_issued":1)"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("iam_tokens_used":1)"), std::string::npos) << json;
    EXPECT_NE(json.find(R"("requests":2)"), std::string::npos) << json;
    stats.reset();
    EXPECT_NE(stats.to_json().find(R"("iam_tokens_used":0)"), std::string::npos);
}

}  // namespace
}  // namespace koorelease::mock
