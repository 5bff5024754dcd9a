// Durations, endpoints and tokens: what the command line accepts.
#include <gtest/gtest.h>

#include "koorelease/duration.hpp"
#include "koorelease/endpoint.hpp"
#include "koorelease/request.hpp"

namespace koorelease {
namespace {

using namespace std::chrono_literals;

TEST(Duration, ParsesUnits) {
    EXPECT_EQ(parse_duration("250ms"), duration(250ms));
    EXPECT_EQ(parse_duration("5s"), duration(5s));
    EXPECT_EQ(parse_duration("2m"), duration(2min));
    EXPECT_EQ(parse_duration("1h"), duration(1h));
    EXPECT_EQ(parse_duration("1.5s"), duration(1500ms));
    EXPECT_EQ(parse_duration("10us"), duration(10us));
    EXPECT_EQ(parse_duration("7ns"), duration(7ns));
    EXPECT_EQ(parse_duration("0s"), duration(0s));
}

TEST(Duration, RejectsAmbiguousOrMalformed) {
    for (const char* bad : {"", "5", "s", "-5s", "5 s", "5sec", "5S", "1e3s", "ms", "1..5s", "99999999999h"}) {
        EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
    }
}

endpoint ok(std::string_view url) {
    auto r = parse_endpoint(url);
    EXPECT_TRUE(std::holds_alternative<endpoint>(r)) << url << ": " << (std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "");
    return std::holds_alternative<endpoint>(r) ? std::get<endpoint>(r) : endpoint{};
}

std::string bad(std::string_view url) {
    auto r = parse_endpoint(url);
    EXPECT_TRUE(std::holds_alternative<std::string>(r)) << url;
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}

TEST(Endpoint, Defaults) {
    const auto e = ok("https://koophone.myhuaweicloud.com");
    EXPECT_TRUE(e.tls);
    EXPECT_EQ(e.host, "koophone.myhuaweicloud.com");
    EXPECT_EQ(e.port, 443);
    EXPECT_EQ(e.release_target(), "/v1/instances/session/release");
    EXPECT_EQ(e.host_header(), "koophone.myhuaweicloud.com");
}

TEST(Endpoint, PortPrefixAndPlainHttp) {
    auto e = ok("https://gw.example:8443/koophone/");
    EXPECT_EQ(e.port, 8443);
    EXPECT_EQ(e.release_target(), "/koophone/v1/instances/session/release");
    EXPECT_EQ(e.host_header(), "gw.example:8443");
    e = ok("http://127.0.0.1:8080");
    EXPECT_FALSE(e.tls);
    EXPECT_EQ(e.port, 8080);
    EXPECT_EQ(e.host_header(), "127.0.0.1:8080");
    e = ok("http://localhost");
    EXPECT_EQ(e.port, 80);
    e = ok("https://[::1]:9443");
    EXPECT_EQ(e.host, "::1");
    EXPECT_EQ(e.host_header(), "[::1]:9443");
}

TEST(Endpoint, ErrorsSayWhatIsWrong) {
    EXPECT_NE(bad("ftp://x").find("scheme"), std::string::npos);
    EXPECT_NE(bad("koophone.myhuaweicloud.com").find("scheme"), std::string::npos);
    EXPECT_NE(bad("https://").find("no host"), std::string::npos);
    EXPECT_NE(bad("https://h:0").find("port"), std::string::npos);
    EXPECT_NE(bad("https://h:99999").find("port"), std::string::npos);
    EXPECT_NE(bad("https://h:").find("port"), std::string::npos);
    EXPECT_NE(bad("https://h:12x").find("port"), std::string::npos);
    EXPECT_NE(bad("https://u:p@h").find("credentials"), std::string::npos);
    EXPECT_NE(bad("https://h/?q=1").find("query"), std::string::npos);
    EXPECT_NE(bad("https://h a").find("host"), std::string::npos);
    EXPECT_NE(bad("https://h/v1/instances/session/release").find("appended"), std::string::npos);
    EXPECT_NE(bad("https://[::1").find("IPv6"), std::string::npos);
    EXPECT_NE(bad("https://h/a b").find("path"), std::string::npos);
}

TEST(Token, HeaderSafeOnly) {
    EXPECT_EQ(check_token("MIIPabc+/="), "");
    EXPECT_EQ(check_token(std::string(16 * 1024, 'A')), "");
    EXPECT_NE(check_token(""), "");
    const std::string secret = "secret\r\nX-Evil: 1";
    const auto message = check_token(secret);
    EXPECT_NE(message, "");
    EXPECT_EQ(message.find("secret"), std::string::npos);  // never quoted
    EXPECT_NE(check_token("tab\there"), "");
    EXPECT_NE(check_token("caf\xc3\xa9"), "");
}

}  // namespace
}  // namespace koorelease
