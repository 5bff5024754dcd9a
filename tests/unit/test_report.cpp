// `koorelease report`: parsing journal text and summing up records, without files.
#include <gtest/gtest.h>

#include <chrono>
#include <span>

#include "koorelease/journal.hpp"
#include "koorelease/report.hpp"

namespace koorelease {
namespace {

// A journal line exactly as `release` writes it.
std::string line_of(std::string_view id, std::string_view what, std::uint32_t attempts, std::string_view code,
                    double latency_ms, std::int64_t finished_ms, std::string_view reason = {}) {
    outcome_record r;
    r.instance_id = id;
    r.outcome = what;
    r.reason = reason;
    r.attempts = attempts;
    r.http_status = code.empty() ? 0 : 200;
    r.error_code = code;
    r.latency_ms = latency_ms;
    r.finished_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(finished_ms));
    std::string out;
    format_record(out, r);
    return out;
}

constexpr std::int64_t t0 = 1795766400000;  // 2026-11-27T08:00:00.000Z

std::vector<journal_entry> parse_ok(const std::string& text, std::vector<std::string>* warnings = nullptr) {
    std::vector<journal_entry> out;
    std::string error;
    std::vector<std::string> w;
    EXPECT_TRUE(parse_journal(text, "j.jsonl", out, error, w)) << error;
    if (warnings) *warnings = w;
    return out;
}

TEST(ReportParse, ReadsWhatReleaseWrites) {
    const auto entries = parse_ok(line_of("i-1", "released", 2, "0", 12.5, t0 + 123) +
                                  line_of("missing-1", "failed", 1, "KOOPHONE.API.4001", 3.25, t0, "instance not found"));
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[0].instance_id, "i-1");
    EXPECT_EQ(entries[0].outcome, "released");
    EXPECT_EQ(entries[0].attempts, 2u);
    EXPECT_EQ(entries[0].error_code, "0");
    EXPECT_EQ(entries[0].http_status, 200u);
    ASSERT_TRUE(entries[0].latency_ms);
    EXPECT_DOUBLE_EQ(*entries[0].latency_ms, 12.5);
    EXPECT_EQ(entries[0].finished_at_ms, t0 + 123);
    EXPECT_EQ(entries[1].reason, "instance not found");
    EXPECT_EQ(entries[1].error_code, "KOOPHONE.API.4001");
}

TEST(ReportParse, InvalidAndNoAnswerRecords) {
    outcome_record r;
    r.instance_id = "bad\x01";
    r.outcome = outcome::invalid;
    r.reason = "control character";
    r.line = 7;
    r.finished_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(t0));
    std::string text;
    format_record(text, r);
    text += line_of("i-2", "aborted", 1, "", -1, t0);
    const auto entries = parse_ok(text);
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[0].outcome, "invalid");
    EXPECT_EQ(entries[0].instance_id, "bad\x01");
    EXPECT_FALSE(entries[1].latency_ms);
    EXPECT_EQ(entries[1].error_code, "");
}

TEST(ReportParse, MalformedLineNamesItsNumber) {
    const std::string good = line_of("i-1", "released", 1, "0", 1, t0);
    for (const char* bad : {"{\"instance_id\":\"i-1\"", "[1,2]", "{\"outcome\":\"released\"}",
                                  "{\"instance_id\":\"i\",\"outcome\":\"done\"}", "hello",
                                  "{\"instance_id\":\"i\",\"outcome\":\"failed\",\"attempts\":-1}",
                                  "{\"instance_id\":\"i\",\"outcome\":\"failed\",\"latency_ms\":\"x\"}",
                                  "{\"instance_id\":\"i\",\"outcome\":\"failed\",\"finished_at\":\"yesterday\"}"}) {
        std::vector<journal_entry> out;
        std::string error;
        std::vector<std::string> warnings;
        EXPECT_FALSE(parse_journal(good + good + bad + "\n" + good, "j.jsonl", out, error, warnings)) << bad;
        EXPECT_EQ(error.rfind("j.jsonl:3: not a koorelease journal record (", 0), 0u) << error;
        EXPECT_NE(error.find("koorelease release --output"), std::string::npos) << error;
    }
}

TEST(ReportParse, TornLastLineIsAWarningAndSkipped) {
    const std::string good = line_of("i-1", "released", 1, "0", 1, t0);
    for (const std::string& tail : {good.substr(0, 20), good.substr(0, good.size() - 1)}) {
        std::vector<std::string> warnings;
        const auto entries = parse_ok(good + good + tail, &warnings);
        EXPECT_EQ(entries.size(), 2u);
        ASSERT_EQ(warnings.size(), 1u);
        EXPECT_EQ(warnings[0].rfind("j.jsonl:3: the last line is incomplete", 0), 0u) << warnings[0];
    }
    std::vector<std::string> warnings;
    EXPECT_TRUE(parse_ok("", &warnings).empty());
    EXPECT_TRUE(warnings.empty());
}

TEST(ReportParse, Timestamps) {
    EXPECT_EQ(parse_timestamp_ms("2026-11-27T08:00:00.000Z"), t0);
    EXPECT_EQ(parse_timestamp_ms("1970-01-01T00:00:01.250Z"), 1250);
    EXPECT_EQ(format_timestamp_ms(t0 + 5), "2026-11-27T08:00:00.005Z");
    EXPECT_FALSE(parse_timestamp_ms("2026-11-27T08:00:00Z"));
    EXPECT_FALSE(parse_timestamp_ms("2026-13-27T08:00:00.000Z"));
    EXPECT_FALSE(parse_timestamp_ms("2026-11-27 08:00:00.000Z"));
    EXPECT_FALSE(parse_timestamp_ms("2026-11-2xT08:00:00.000Z"));
}

journal_entry entry(std::string id, std::string what, std::uint32_t attempts, std::string code,
                    std::optional<double> latency, std::optional<std::int64_t> at, std::string reason = {}) {
    journal_entry e;
    e.instance_id = std::move(id);
    e.outcome = std::move(what);
    e.attempts = attempts;
    e.error_code = std::move(code);
    e.latency_ms = latency;
    e.finished_at_ms = at;
    e.reason = std::move(reason);
    return e;
}

TEST(ReportSummary, EmptyJournal) {
    const auto r = summarize({});
    EXPECT_EQ(r.records, 0u);
    EXPECT_EQ(r.distinct_ids, 0u);
    EXPECT_TRUE(r.by_outcome.empty());
    EXPECT_EQ(r.latency_count, 0u);
    EXPECT_FALSE(r.first_finished_ms);
    EXPECT_EQ(r.duration_s, 0);
    EXPECT_EQ(format_report_json(r),
              "{\"records\":0,\"distinct_ids\":0,\"ids_with_several_records\":0,\"outcomes\":{},\"error_codes\":{},"
              "\"failures_by_reason\":{},\"attempts\":{\"total\":0,\"distribution\":{}},\"latency_ms\":{\"count\":0,"
              "\"p50\":0.000,\"p90\":0.000,\"p99\":0.000,\"max\":0.000},\"first_finished_at\":null,"
              "\"last_finished_at\":null,\"duration_s\":0.000,\"failed\":0}\n");
}

TEST(ReportSummary, CountsByLastRecordOfEachId) {
    // A first run aborted i-2 and failed missing-1; the resumed run released i-2.
    const std::vector<journal_entry> entries = {
        entry("i-1", "released", 1, "0", 10, t0 + 1000),
        entry("i-2", "aborted", 1, "", std::nullopt, t0 + 2000, "interrupted"),
        entry("missing-1", "failed", 1, "KOOPHONE.API.4001", 30, t0 + 1500, "instance not found"),
        entry("bad", "invalid", 0, "", std::nullopt, t0 + 500),
        entry("i-2", "released", 3, "0", 20, t0 + 9500),
        entry("missing-2", "failed", 5, "", std::nullopt, t0 + 9000, "retries exhausted: timeout"),
        entry("i-3", "aborted", 2, "", std::nullopt, t0 + 9600, "interrupted"),
    };
    const auto r = summarize(entries);
    EXPECT_EQ(r.records, 7u);
    EXPECT_EQ(r.distinct_ids, 5u);  // i-1, i-2, missing-1, missing-2, i-3 (invalid lines are not ids)
    EXPECT_EQ(r.ids_with_several_records, 1u);
    const std::map<std::string, std::uint64_t, std::less<>> outcomes = {
        {"released", 2}, {"failed", 2}, {"aborted", 1}, {"invalid", 1}};
    EXPECT_EQ(r.by_outcome, outcomes);
    const std::map<std::string, std::uint64_t, std::less<>> codes = {{"0", 2}, {"KOOPHONE.API.4001", 1}, {"-", 2}};
    EXPECT_EQ(r.by_error_code, codes);
    const std::map<std::string, std::uint64_t, std::less<>> reasons = {{"instance not found", 1},
                                                                       {"retries exhausted: timeout", 1}};
    EXPECT_EQ(r.failures_by_reason, reasons);
    EXPECT_EQ(r.attempts_total, 13u);
    const std::map<std::uint32_t, std::uint64_t> dist = {{1, 3}, {2, 1}, {3, 1}, {5, 1}};
    EXPECT_EQ(r.attempts_distribution, dist);
    EXPECT_EQ(r.latency_count, 3u);
    EXPECT_EQ(r.latency_p50_ms, 20);
    EXPECT_EQ(r.latency_p90_ms, 30);
    EXPECT_EQ(r.latency_max_ms, 30);
    EXPECT_EQ(r.first_finished_ms, t0 + 500);
    EXPECT_EQ(r.last_finished_ms, t0 + 9600);
    EXPECT_DOUBLE_EQ(r.duration_s, 9.1);
    EXPECT_EQ(r.failed_ids, (std::vector<std::string>{"missing-1", "missing-2"}));
}

TEST(ReportSummary, ALaterJournalReleasingAFailedIdRemovesItFromFailed) {
    const auto r = summarize({entry("x", "failed", 1, "KOOPHONE.API.1001", 1, t0, "denied"),
                              entry("y", "failed", 1, "KOOPHONE.API.1001", 1, t0, "denied"),
                              entry("x", "released", 1, "0", 1, t0 + 60000)});
    EXPECT_EQ(r.failed_ids, std::vector<std::string>{"y"});
    EXPECT_EQ(r.by_outcome.at("released"), 1u);
    EXPECT_EQ(r.by_outcome.at("failed"), 1u);
    EXPECT_DOUBLE_EQ(r.duration_s, 60);
}

TEST(ReportSummary, PercentilesAreNearestRank) {
    std::vector<journal_entry> entries;
    for (int i = 1; i <= 100; ++i) entries.push_back(entry("i-" + std::to_string(i), "released", 1, "0", i, t0));
    const auto r = summarize(entries);
    EXPECT_EQ(r.latency_p50_ms, 50);
    EXPECT_EQ(r.latency_p90_ms, 90);
    EXPECT_EQ(r.latency_p99_ms, 99);
    EXPECT_EQ(r.latency_max_ms, 100);
    EXPECT_EQ(summarize({entry("a", "released", 1, "0", 7, t0)}).latency_p50_ms, 7);
}

TEST(ReportSummary, TextAndJson) {
    const auto r = summarize({entry("i-1", "released", 1, "0", 10, t0),
                              entry("missing-1", "failed", 2, "KOOPHONE.API.4001", 30.5, t0 + 2500, "instance \"x\" not found")});
    EXPECT_EQ(format_report_text(r),
              "2 records, 2 distinct ids, 0 ids with more than one record\n"
              "outcomes (of each id's last record): failed 1, released 1\n"
              "error codes: 0 1, KOOPHONE.API.4001 1\n"
              "failed: 1 x instance \"x\" not found\n"
              "attempts: 3 in all; records by attempts: 1: 1, 2: 1\n"
              "latency of the last attempt (2 records): p50 10.000 ms, p90 30.500 ms, p99 30.500 ms, max 30.500 ms\n"
              "finished from 2026-11-27T08:00:00.000Z to 2026-11-27T08:00:02.500Z (2.500 s)\n");
    EXPECT_EQ(format_report_json(r),
              "{\"records\":2,\"distinct_ids\":2,\"ids_with_several_records\":0,"
              "\"outcomes\":{\"failed\":1,\"released\":1},\"error_codes\":{\"0\":1,\"KOOPHONE.API.4001\":1},"
              "\"failures_by_reason\":{\"instance \\\"x\\\" not found\":1},"
              "\"attempts\":{\"total\":3,\"distribution\":{\"1\":1,\"2\":1}},"
              "\"latency_ms\":{\"count\":2,\"p50\":10.000,\"p90\":30.500,\"p99\":30.500,\"max\":30.500},"
              "\"first_finished_at\":\"2026-11-27T08:00:00.000Z\",\"last_finished_at\":\"2026-11-27T08:00:02.500Z\","
              "\"duration_s\":2.500,\"failed\":1}\n");
}

}  // namespace
}  // namespace koorelease
