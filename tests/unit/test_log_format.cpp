// --log-format json: every record is one JSON object on one line, whatever the message holds;
// attempt lines carry their fields.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "cli/log_format.hpp"

namespace koorelease::cli {
namespace {

struct json_log {
    std::ostringstream stream;
    std::shared_ptr<spdlog::logger> logger;
    json_log() {
        logger = std::make_shared<spdlog::logger>(
            "t", std::make_shared<spdlog::sinks::ostream_sink_st>(stream));
        logger->set_formatter(std::make_unique<json_log_formatter>());
        logger->set_level(spdlog::level::debug);
    }
    std::vector<std::string> lines() {
        logger->flush();
        std::vector<std::string> out;
        std::istringstream in(stream.str());
        for (std::string line; std::getline(in, line);) out.push_back(line);
        return out;
    }
};

attempt_report report() {
    attempt_report a;
    a.instance_id = "i-\"quoted\"\\id";
    a.request_id = "1b4e28ba-2fa1-4d2c-883f-0016d3cca427";
    a.server_request_id = "srv-1";
    a.http_status = 503;
    a.error_code = "KOOPHONE.API.9999";
    a.what = "retry: server error \"busy\"";
    a.latency_ms = 12.3456;
    a.attempt = 2;
    return a;
}

TEST(LogFormat, Names) {
    EXPECT_EQ(parse_log_format("text"), log_format::text);
    EXPECT_EQ(parse_log_format("json"), log_format::json);
    EXPECT_FALSE(parse_log_format("JSON").has_value());
    EXPECT_FALSE(parse_log_format("").has_value());
}

TEST(LogFormat, TextAttemptLine) {
    EXPECT_EQ(attempt_message(report(), log_format::text),
              "attempt instance_id=i-\"quoted\"\\id attempt=2 "
              "x-request-id=1b4e28ba-2fa1-4d2c-883f-0016d3cca427 "
              "status=503 error_code=KOOPHONE.API.9999 server_request_id=srv-1 latency_ms=12.346 "
              "result=\"retry: server error \"busy\"\"");
    auto a = report();
    a.error_code = {};
    a.server_request_id = {};
    const auto text = attempt_message(a, log_format::text);
    EXPECT_NE(text.find("error_code=- server_request_id=-"), std::string::npos) << text;
}

TEST(LogFormat, JsonLinesParseWithTheirFields) {
    json_log log;
    log.logger->info("plain message with \"quotes\", a \\ backslash,\ta tab and a\nnewline");
    log.logger->debug("{}", attempt_message(report(), log_format::json));
    log.logger->warn("invalid UTF-8 \xff\xfe here");
    const auto lines = log.lines();
    ASSERT_EQ(lines.size(), 3u);  // the newline inside a message is escaped, not a line break
    simdjson::dom::parser parser;
    for (const auto& line : lines) {
        simdjson::dom::element doc;
        ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
        std::string_view time, level;
        ASSERT_EQ(doc["time"].get(time), simdjson::SUCCESS) << line;
        EXPECT_EQ(time.size(), 24u) << time;  // 2026-11-27T10:47:54.123Z
        EXPECT_EQ(time.back(), 'Z');
        ASSERT_EQ(doc["level"].get(level), simdjson::SUCCESS) << line;
    }
    simdjson::dom::element first, attempt, third;
    ASSERT_EQ(parser.parse(lines[0]).get(first), simdjson::SUCCESS);
    EXPECT_EQ(std::string_view(first["level"]), "info");
    EXPECT_EQ(std::string_view(first["msg"]),
              "plain message with \"quotes\", a \\ backslash,\ta tab and a\nnewline");

    simdjson::dom::parser parser2;
    ASSERT_EQ(parser2.parse(lines[1]).get(attempt), simdjson::SUCCESS);
    EXPECT_EQ(std::string_view(attempt["level"]), "debug");
    EXPECT_EQ(std::string_view(attempt["event"]), "attempt");
    EXPECT_EQ(std::string_view(attempt["instance_id"]), "i-\"quoted\"\\id");
    EXPECT_EQ(std::uint64_t(attempt["attempt"]), 2u);
    EXPECT_EQ(std::string_view(attempt["x_request_id"]), "1b4e28ba-2fa1-4d2c-883f-0016d3cca427");
    EXPECT_EQ(std::string_view(attempt["server_request_id"]), "srv-1");
    EXPECT_EQ(std::uint64_t(attempt["status"]), 503u);
    EXPECT_EQ(std::string_view(attempt["error_code"]), "KOOPHONE.API.9999");
    EXPECT_NEAR(double(attempt["latency_ms"]), 12.346, 1e-9);
    EXPECT_EQ(std::string_view(attempt["result"]), "retry: server error \"busy\"");
    EXPECT_TRUE(attempt["msg"].error() == simdjson::NO_SUCH_FIELD);

    simdjson::dom::parser parser3;
    ASSERT_EQ(parser3.parse(lines[2]).get(third), simdjson::SUCCESS);
    EXPECT_EQ(std::string_view(third["msg"]), "invalid UTF-8 ?? here");
}

TEST(LogFormat, ServerTextThatIsNotUtf8StillMakesJson) {
    json_log log;
    auto a = report();
    a.error_code = "\xc3\x28";
    a.server_request_id = "\x80srv";
    log.logger->debug("{}", attempt_message(a, log_format::json));
    const auto lines = log.lines();
    ASSERT_EQ(lines.size(), 1u);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(lines[0]).get(doc), simdjson::SUCCESS) << lines[0];
    EXPECT_EQ(std::string_view(doc["server_request_id"]), "?srv");
}

}  // namespace
}  // namespace koorelease::cli
