// The bench report's renderings: JSON fields, the text summary, a self-contained HTML page.
#include <gtest/gtest.h>

#include <simdjson.h>

#include <chrono>

#include "koorelease/bench/report.hpp"

namespace koorelease::bench {
namespace {

using namespace std::chrono_literals;

bench_report sample() {
    bench_report r;
    r.endpoint = "https://127.0.0.1:8443/</script>";
    r.started_at = "2026-11-27T17:00:00Z";
    r.from_rate = r.to_rate = 100;
    r.duration_s = 2;
    r.connections = 16;
    r.scheduled = 200;
    for (int k = 0; k < 200; ++k) {
        const auto intended = std::chrono::milliseconds(10 * k);
        r.sends.on_send(intended, intended);
        if (k == 7) {
            r.answers.on_no_answer(intended, intended, "no answer connection_lost");
        } else if (k % 50 == 0) {
            r.answers.on_answer(intended, intended, intended + 500ms, answer_kind::throttled, "429 APIG.0308");
        } else {
            r.answers.on_answer(intended, intended, intended + 20ms, answer_kind::ok, "200 0");
        }
    }
    return r;
}

simdjson::dom::element parse(simdjson::dom::parser& parser, const std::string& text) {
    return parser.parse(text);
}

TEST(BenchReport, JsonHoldsTheFigures) {
    const auto r = sample();
    const std::string json = to_json(r);
    simdjson::dom::parser parser;
    auto doc = parse(parser, json);
    EXPECT_EQ(std::string_view(doc["mode"]), "rate");
    EXPECT_DOUBLE_EQ(double(doc["intended_rate"]), 100.0);
    EXPECT_DOUBLE_EQ(double(doc["achieved_rate"]), 100.0);
    EXPECT_EQ(std::uint64_t(doc["requests"]["scheduled"]), 200u);
    EXPECT_EQ(std::uint64_t(doc["requests"]["unanswered"]), 1u);
    EXPECT_EQ(std::uint64_t(doc["answers_by_kind"]["throttled"]), 4u);
    EXPECT_EQ(std::uint64_t(doc["answers_by_code"]["429 APIG.0308"]), 4u);
    EXPECT_NEAR(double(doc["latency_ms"]["p50"]), 20.0, 0.02);
    EXPECT_NEAR(double(doc["latency_ms"]["max"]), 500.0, 0.5);
    EXPECT_NEAR(double(doc["latency_ms"]["p99"]), 500.0, 0.5);  // 4 of 199 at 500 ms
    EXPECT_EQ(simdjson::dom::array(doc["per_second"]).size(), 2u);
    EXPECT_EQ(std::uint64_t(doc["per_second"].at(0)["answers"]["ok"]), 97u);
    EXPECT_EQ(std::uint64_t(doc["per_second"].at(0)["codes"]["429 APIG.0308"]), 2u);  // k = 0 and 50
    EXPECT_EQ(std::uint64_t(doc["per_second"].at(0)["codes"]["no answer connection_lost"]), 1u);
    EXPECT_EQ(std::uint64_t(doc["per_second"].at(1)["codes"]["200 0"]), 98u);
    EXPECT_GT(simdjson::dom::array(doc["spectrum"]).size(), 5u);
    EXPECT_TRUE(doc["capacity"].is_null());
    EXPECT_TRUE(doc["stopped_by"].is_null());
}

TEST(BenchReport, TextSaysRatesPercentilesAndAnswers) {
    const std::string t = to_text(sample());
    EXPECT_NE(t.find("100 req/s for 2.0 s, 16 connections, retries off"), std::string::npos) << t;
    EXPECT_NE(t.find("intended 100.0/s, achieved 100.0/s (0.0% behind)"), std::string::npos) << t;
    EXPECT_NE(t.find("p99.9 "), std::string::npos);
    EXPECT_NE(t.find("throttled 4"), std::string::npos);
    EXPECT_NE(t.find("no_answer 1"), std::string::npos);
    EXPECT_NE(t.find("429 APIG.0308: 4"), std::string::npos);
}

TEST(BenchReport, CapacityStepsAndResult) {
    auto r = sample();
    r.find_capacity = true;
    r.bounds = capacity_bounds{.p99_us = 250'000, .max_error_share = 0.01};
    step_evidence held;
    held.result = step_result{.rate = 300, .achieved_rate = 300, .p99_us = 21'000, .error_share = 0, .held = true};
    step_evidence failed;
    failed.result = step_result{.rate = 350, .achieved_rate = 350, .p99_us = 21'000, .error_share = 0.14, .held = false};
    r.steps = {held, failed};
    r.capacity = 300;
    r.lowest_failed = 350;
    r.capacity_why = "bracketed within 5%";
    simdjson::dom::parser parser;
    auto doc = parse(parser, to_json(r));
    EXPECT_DOUBLE_EQ(double(doc["capacity"]["highest_held"]), 300.0);
    EXPECT_EQ(simdjson::dom::array(doc["capacity"]["steps"]).size(), 2u);
    EXPECT_FALSE(bool(doc["capacity"]["steps"].at(1)["held"]));
    const std::string t = to_text(r);
    EXPECT_NE(t.find("capacity: 300 req/s held, 350 req/s did not (bracketed within 5%)"), std::string::npos) << t;
    // Achieved: each step's sends within its own duration, whatever the pauses between them.
    r.steps[0].duration_s = r.steps[1].duration_s = 10;
    r.duration_s = 20;
    EXPECT_DOUBLE_EQ(r.achieved_rate(), (300.0 * 10 + 350.0 * 10) / 20);
}

TEST(BenchReport, HtmlIsSelfContainedWithTheDataEmbedded) {
    const std::string html = to_html(sample());
    EXPECT_EQ(html.find(" src="), std::string::npos);
    EXPECT_EQ(html.find(" href="), std::string::npos);
    EXPECT_EQ(html.find("@import"), std::string::npos);
    EXPECT_NE(html.find(R"(id="report-data")"), std::string::npos);
    // The endpoint's "</script>" cannot end the data element early.
    EXPECT_EQ(html.find("</script>\""), std::string::npos);
    EXPECT_NE(html.find(R"(127.0.0.1:8443/<\/script>)"), std::string::npos);
    for (const char* id : {"latency-over-time", "spectrum", "answers"}) {
        EXPECT_NE(html.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
    }
}

TEST(BenchReport, FormatLatency) {
    EXPECT_EQ(format_latency(20'123), "20.1 ms");
    EXPECT_EQ(format_latency(512'000), "512 ms");
    EXPECT_EQ(format_latency(1'234'000), "1.23 s");
    EXPECT_EQ(format_latency(2'500), "2.50 ms");
    EXPECT_EQ(format_latency(250), "0.250 ms");
}

}  // namespace
}  // namespace koorelease::bench
