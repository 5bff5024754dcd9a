// What goes on the wire and what comes back: the request bytes, the answer body, the ids.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "koorelease/json_text.hpp"
#include "koorelease/request.hpp"
#include "koorelease/request_id.hpp"
#include "koorelease/response.hpp"

namespace koorelease {
namespace {

request_id fixed_id() {
    request_id id;
    const std::string_view text = "0f8fad5b-d9cb-469f-a165-70867728950e";
    std::copy(text.begin(), text.end(), id.begin());
    return id;
}

TEST(RequestBuilder, BuildsTheWholeRequest) {
    endpoint ep;
    ep.host = "gw.example";
    ep.port = 8443;
    ep.path_prefix = "/kp";
    request_builder b(ep, "TOKEN123", "koorelease/9.9");
    std::string out;
    b.build(out, fixed_id(), "iRJEVP96");
    EXPECT_EQ(out,
              "POST /kp/v1/instances/session/release HTTP/1.1\r\n"
              "Host: gw.example:8443\r\n"
              "User-Agent: koorelease/9.9\r\n"
              "Content-Type: application/json\r\n"
              "Accept: application/json\r\n"
              "x-auth-token: TOKEN123\r\n"
              "x-request-id: 0f8fad5b-d9cb-469f-a165-70867728950e\r\n"
              "Content-Length: 26\r\n"
              "\r\n"
              "{\"instance_id\":\"iRJEVP96\"}");
}

TEST(RequestBuilder, EscapesTheIdAndCountsTheEscapedLength) {
    endpoint ep;
    ep.host = "h";
    request_builder b(ep, "T", "ua");
    std::string out;
    b.build(out, fixed_id(), "a\"b\\c");
    const std::string body = "{\"instance_id\":\"a\\\"b\\\\c\"}";
    EXPECT_TRUE(out.ends_with("Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body)) << out;
}

TEST(RequestBuilder, ReusesTheBufferAndCarriesLargeTokens) {
    endpoint ep;
    ep.host = "h";
    const std::string token(16 * 1024, 'M');
    request_builder b(ep, token, "ua");
    std::string out;
    b.build(out, fixed_id(), "first-id-that-is-long");
    b.build(out, fixed_id(), "x");
    EXPECT_NE(out.find("x-auth-token: " + token + "\r\n"), std::string::npos);
    EXPECT_TRUE(out.ends_with("{\"instance_id\":\"x\"}"));
    EXPECT_EQ(out.find("first-id"), std::string::npos);
}

TEST(RequestBuilder, AppendQueuesRequestsBackToBackForPipelining) {
    endpoint ep;
    ep.host = "h";
    request_builder b(ep, "T", "ua");
    request_id second = fixed_id();
    second[0] = 'a';
    std::string one, two, both = "left alone: ";
    b.build(one, fixed_id(), "id-1");
    b.build(two, second, "id-22");
    b.append(both, fixed_id(), "id-1");
    b.append(both, second, "id-22");
    EXPECT_EQ(both, "left alone: " + one + two);
}

TEST(RequestBuilder, RedactedExampleHidesTheToken) {
    endpoint ep;
    ep.host = "h";
    request_builder b(ep, "SECRET-TOKEN", "ua");
    const auto text = b.redacted_example(fixed_id(), "i1");
    EXPECT_EQ(text.find("SECRET-TOKEN"), std::string::npos);
    EXPECT_NE(text.find("x-auth-token: <redacted>"), std::string::npos);
}

TEST(JsonEscape, LossyReplacesTheBytesOfInvalidUtf8AndEscapesTheRest) {
    std::string out;
    append_json_escaped_lossy(out, "caf\xc3\xa9 \"ok\"");  // valid UTF-8: kept as is
    EXPECT_EQ(out, "caf\xc3\xa9 \\\"ok\\\"");
    out.clear();
    append_json_escaped_lossy(out, "bad\xff\xc3\xa9\n");  // not UTF-8: every byte above 0x7f
    EXPECT_EQ(out, "bad??\x3f\\n");
}

TEST(JsonEscape, EscapesExactly) {
    std::string out;
    append_json_escaped(out, std::string("a\"\\\n\r\t\b\f\x01\x1f/\xc3\xa9z", 14));
    EXPECT_EQ(out, "a\\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f/\xc3\xa9z");
}

TEST(RequestIds, AreVersion4UuidsAndDistinct) {
    request_id_generator g;
    const std::regex form("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
    std::set<std::string> seen;
    for (int i = 0; i < 20'000; ++i) {
        const std::string id(view(g.next()));
        ASSERT_TRUE(std::regex_match(id, form)) << id;
        ASSERT_TRUE(seen.insert(id).second) << "repeated " << id;
    }
    request_id_generator other;  // another generator (another run) starts elsewhere
    EXPECT_FALSE(seen.contains(std::string(view(other.next()))));
}

TEST(AnswerParser, ReadsTheCodeAndMessage) {
    answer_parser p;
    std::string body = R"({"error_code":"0","error_msg":"OK"})";
    auto r = p.parse(body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->error_code, "0");
    EXPECT_EQ(r->error_msg, "OK");
    body = R"( { "error_msg" : "The throttling threshold has been reached: policy user over ratelimit,limit:20,time:1 second", "error_code" : "APIG.0308", "extra": [1, {"a": null}] } )";
    r = p.parse(body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->error_code, "APIG.0308");
    EXPECT_TRUE(r->error_msg.starts_with("The throttling"));
}

TEST(AnswerParser, UnescapesStrings) {
    answer_parser p;
    std::string body = R"({"error_code":"KOOPHONE.API.4001","error_msg":"no \"such\" instance \u00e9"})";
    auto r = p.parse(body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->error_msg, "no \"such\" instance \xc3\xa9");
}

TEST(AnswerParser, RejectsWhatIsNotTheExpectedJson) {
    answer_parser p;
    for (std::string body : {std::string(""), std::string("<html>502 Bad Gateway</html>"),
                             std::string("[]"), std::string("\"0\""), std::string("{\"error_msg\":\"OK\"}"),
                             std::string("{\"error_code\":0}"), std::string("{\"error_code\":\"0\""),
                             std::string("{\"error_code\":\"0\"} trailing"),
                             std::string("{\"error_code\":\"0\",}"), std::string(1000, '{')}) {
        EXPECT_FALSE(p.parse(body)) << body;
    }
}

}  // namespace
}  // namespace koorelease
