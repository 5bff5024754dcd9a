// IAM tokens: the request, the answer's meaning, when to refresh, and the token keeper's
// decisions on APIG.0307, all without a socket.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <string>

#include "koorelease/iam.hpp"

namespace koorelease {
namespace {

using namespace std::chrono_literals;
using expiry = token_keeper::on_expiry;

iam_credentials alice() { return {"alice", "s3cr\"t\\pw", "acme", "cn-north-4"}; }

std::string field(const std::string& json, const char* a, const char* b, const char* c, const char* d = nullptr,
                  const char* e = nullptr) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(json);
    auto v = doc[a][b][c];
    if (d) v = v[d];
    if (e) v = v[e];
    std::string_view out;
    if (v.get(out)) return "<missing>";
    return std::string(out);
}

TEST(IamRequest, BodyIsAPasswordIdentityWithAProjectScope) {
    const std::string body = iam_request_body(alice());
    EXPECT_EQ(field(body, "auth", "identity", "password", "user", "name"), "alice");
    EXPECT_EQ(field(body, "auth", "identity", "password", "user", "password"), "s3cr\"t\\pw");  // escaped, intact
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(body);
    std::string_view method, domain, project;
    ASSERT_EQ(doc["auth"]["identity"]["methods"].at(0).get(method), simdjson::SUCCESS);
    EXPECT_EQ(method, "password");
    ASSERT_EQ(doc["auth"]["identity"]["password"]["user"]["domain"]["name"].get(domain), simdjson::SUCCESS);
    EXPECT_EQ(domain, "acme");
    ASSERT_EQ(doc["auth"]["scope"]["project"]["name"].get(project), simdjson::SUCCESS);
    EXPECT_EQ(project, "cn-north-4");
}

TEST(IamRequest, ProjectIdIsSentAsId) {
    auto c = alice();
    c.project = "0123456789abcdef0123456789abcdef";
    EXPECT_TRUE(is_project_id(c.project));
    EXPECT_EQ(field(iam_request_body(c), "auth", "scope", "project", "id"), c.project);
    EXPECT_FALSE(is_project_id("cn-north-4"));
    EXPECT_FALSE(is_project_id("0123456789ABCDEF0123456789ABCDEF"));
    EXPECT_FALSE(is_project_id("0123456789abcdef0123456789abcde"));
}

TEST(IamRequest, TargetKeepsThePathPrefixAndSkipsTheCatalog) {
    endpoint ep;
    EXPECT_EQ(iam_request_target(ep), "/v3/auth/tokens?nocatalog=true");
    ep.path_prefix = "/iam";
    EXPECT_EQ(iam_request_target(ep), "/iam/v3/auth/tokens?nocatalog=true");
}

TEST(IamSettings, EachMissingPieceIsNamed) {
    iam_settings s;
    s.target.host = "iam.myhuaweicloud.com";
    s.credentials = alice();
    EXPECT_EQ(check_iam_settings(s), "");
    auto without = [&](std::string iam_credentials::*m) {
        iam_settings t = s;
        t.credentials.*m = "";
        return check_iam_settings(t);
    };
    EXPECT_NE(without(&iam_credentials::user).find("user"), std::string::npos);
    EXPECT_NE(without(&iam_credentials::domain).find("domain"), std::string::npos);
    EXPECT_NE(without(&iam_credentials::project).find("project"), std::string::npos);
    EXPECT_NE(without(&iam_credentials::password).find("KOOPHONE_IAM_PASSWORD"), std::string::npos);
}

TEST(IamSettings, PlainHttpOnlyOnLoopbackAndThePasswordIsNeverQuoted) {
    iam_settings s;
    s.credentials = alice();
    s.target.tls = false;
    s.target.host = "iam.example.com";
    const std::string problem = check_iam_settings(s);
    EXPECT_NE(problem.find("https://"), std::string::npos);
    EXPECT_EQ(problem.find(s.credentials.password), std::string::npos);
    s.target.host = "127.0.0.1";
    EXPECT_EQ(check_iam_settings(s), "");
    s.target.host = "localhost";
    EXPECT_EQ(check_iam_settings(s), "");
}

TEST(IamTime, ParsesIamExpiryForms) {
    const auto t = parse_iam_time("2026-11-28T14:00:00.000000Z");
    ASSERT_TRUE(t);
    EXPECT_EQ(format_utc(*t), "2026-11-28T14:00:00Z");
    EXPECT_EQ(std::chrono::system_clock::to_time_t(*t), 1795874400);
    const auto frac = parse_iam_time("2026-11-28T14:00:00.5Z");
    ASSERT_TRUE(frac);
    EXPECT_EQ(*frac - *t, 500ms);
    EXPECT_EQ(parse_iam_time("2026-11-28T14:00:00Z"), t);
    EXPECT_EQ(parse_iam_time("2026-11-28T14:00:00+00:00"), t);
}

TEST(IamTime, RefusesWhatIsNotATime) {
    for (const char* bad : {"", "2026-11-28", "2026-11-28T14:00:00", "2026-11-28T14:00:00.Z", "2026-13-28T14:00:00Z",
                            "2026-02-30T14:00:00Z", "2026-11-28T25:00:00Z", "2026-11-28T14:00:00+08:00",
                            "2026-11-28 14:00:00Z", "20x6-11-28T14:00:00Z", "2026-11-28T14:00:00Zjunk"}) {
        EXPECT_FALSE(parse_iam_time(bad)) << bad;
    }
}

constexpr std::string_view token_body = R"({"token":{"expires_at":"2026-11-28T14:00:00.000000Z","methods":["password"]}})";

TEST(IamAnswer, CreatedWithSubjectTokenAndExpiryIsAToken) {
    const iam_result r = interpret_iam_answer(201, "MIIPtoken", token_body);
    ASSERT_TRUE(std::holds_alternative<iam_token>(r));
    EXPECT_EQ(std::get<iam_token>(r).token, "MIIPtoken");
    EXPECT_EQ(format_utc(std::get<iam_token>(r).expires_at), "2026-11-28T14:00:00Z");
}

TEST(IamAnswer, CreatedButIncompleteIsAnError) {
    for (auto [token, body] : {std::pair<std::string_view, std::string_view>{"", token_body},
                               {"MIIP\r\ninjected: x", token_body},
                               {"MIIPtoken", R"({"token":{}})"},
                               {"MIIPtoken", R"({"token":{"expires_at":"tomorrow"}})"},
                               {"MIIPtoken", "not json"}}) {
        const iam_result r = interpret_iam_answer(201, token, body);
        ASSERT_TRUE(std::holds_alternative<iam_error>(r)) << body;
        EXPECT_FALSE(std::get<iam_error>(r).credentials_refused);
        EXPECT_EQ(std::get<iam_error>(r).message.find("injected"), std::string::npos);
    }
}

TEST(IamAnswer, WrongPasswordSaysWhatToCheck) {
    const iam_result r = interpret_iam_answer(
        401, "", R"({"error":{"code":401,"message":"The username or password is wrong.","title":"Unauthorized"}})");
    ASSERT_TRUE(std::holds_alternative<iam_error>(r));
    const auto& e = std::get<iam_error>(r);
    EXPECT_TRUE(e.credentials_refused);
    EXPECT_NE(e.message.find("HTTP 401: The username or password is wrong."), std::string::npos);
    EXPECT_NE(e.message.find("KOOPHONE_IAM_PASSWORD"), std::string::npos);
}

TEST(IamAnswer, OtherStatusesAndHuaweiErrorShape) {
    auto message = [](unsigned status, std::string_view body) {
        const iam_result r = interpret_iam_answer(status, "", body);
        EXPECT_TRUE(std::holds_alternative<iam_error>(r));
        return std::get<iam_error>(r);
    };
    EXPECT_TRUE(message(403, "").credentials_refused);
    EXPECT_NE(message(403, "").message.find("project"), std::string::npos);
    EXPECT_NE(message(400, R"({"error_msg":"project not found","error_code":"IAM.0001"})").message.find("project not found"),
              std::string::npos);
    EXPECT_NE(message(404, "").message.find("--iam-endpoint"), std::string::npos);
    EXPECT_FALSE(message(503, "").credentials_refused);
    EXPECT_NE(message(503, "").message.find("try again later"), std::string::npos);
    // A server message is cut and made one printable line.
    const auto long_one = message(500, R"({"error":{"message":")" + std::string(1000, 'x') + R"(\nnext"}})").message;
    EXPECT_LT(long_one.size(), 300u);
    EXPECT_EQ(long_one.find('\n'), std::string::npos);
}

TEST(RefreshAfter, NinetyPercentOrFiveMinutesBeforeButNotBeforeHalf) {
    EXPECT_EQ(refresh_after(24h), std::chrono::nanoseconds(24h) / 10 * 9);  // 21.6 h: 90% comes first
    EXPECT_EQ(refresh_after(30min), 25min);                                 // 5 minutes before comes first
    EXPECT_EQ(refresh_after(50min), 45min);                                 // both the same
    EXPECT_EQ(refresh_after(8min), 4min);                                   // not before half
    EXPECT_EQ(refresh_after(2s), 1s);
    EXPECT_EQ(refresh_after(0s), 0s);
    EXPECT_EQ(refresh_after(-5s), 0s);  // already expired (clock skew): now
}

TEST(TokenKeeper, ExpiryOfTheCurrentTokenFetchesOnceAndOthersWait) {
    token_keeper k;
    EXPECT_EQ(k.generation(), 1u);
    k.on_accepted(1);
    EXPECT_EQ(k.on_expired(1), expiry::refresh_and_wait);
    EXPECT_TRUE(k.refreshing());
    EXPECT_EQ(k.on_expired(1), expiry::wait);  // requests in flight with the same token
    EXPECT_EQ(k.on_expired(1), expiry::wait);
    EXPECT_FALSE(k.start_proactive());         // one fetch at a time
    k.refreshed();
    EXPECT_EQ(k.generation(), 2u);
    EXPECT_FALSE(k.refreshing());
    EXPECT_EQ(k.on_expired(1), expiry::resend);  // late answers for the old token
    EXPECT_EQ(k.reactive_refreshes(), 1u);
    EXPECT_EQ(k.proactive_refreshes(), 0u);
}

TEST(TokenKeeper, ASecondExpiryRightAfterARefreshStops) {
    token_keeper k;
    EXPECT_EQ(k.on_expired(1), expiry::refresh_and_wait);
    k.refreshed();
    EXPECT_EQ(k.on_expired(2), expiry::stop);  // the new token refused before any success
    EXPECT_EQ(k.on_expired(2), expiry::stop);
    EXPECT_EQ(k.on_expired(1), expiry::resend);
}

TEST(TokenKeeper, AnExpiryAfterTheNewTokenWorkedFetchesAgain) {
    token_keeper k;
    EXPECT_EQ(k.on_expired(1), expiry::refresh_and_wait);
    k.refreshed();
    k.on_accepted(1);  // an old token's success says nothing about the new one
    EXPECT_EQ(k.on_expired(2), expiry::stop);
    token_keeper k2;
    EXPECT_EQ(k2.on_expired(1), expiry::refresh_and_wait);
    k2.refreshed();
    k2.on_accepted(2);
    EXPECT_EQ(k2.on_expired(2), expiry::refresh_and_wait);
    k2.refreshed();
    EXPECT_EQ(k2.generation(), 3u);
    EXPECT_EQ(k2.reactive_refreshes(), 2u);
}

TEST(TokenKeeper, ExpiryDuringAProactiveFetchWaitsForIt) {
    token_keeper k;
    EXPECT_TRUE(k.start_proactive());
    EXPECT_EQ(k.on_expired(1), expiry::wait);
    k.refreshed();
    EXPECT_EQ(k.proactive_refreshes(), 1u);
    EXPECT_EQ(k.reactive_refreshes(), 0u);
    // A token fetched ahead of expiry and refused at once is refreshed once more, not stopped.
    EXPECT_EQ(k.on_expired(2), expiry::refresh_and_wait);
    k.refreshed();
    EXPECT_EQ(k.on_expired(3), expiry::stop);
}

TEST(TokenKeeper, AFailedFetchLetsTheNextExpiryTryAgain) {
    token_keeper k;
    EXPECT_TRUE(k.start_proactive());
    k.refresh_failed();
    EXPECT_FALSE(k.refreshing());
    EXPECT_EQ(k.generation(), 1u);
    EXPECT_EQ(k.proactive_refreshes(), 0u);
    EXPECT_EQ(k.on_expired(1), expiry::refresh_and_wait);
    k.refresh_failed();
    EXPECT_TRUE(k.start_proactive());
}

}  // namespace
}  // namespace koorelease
