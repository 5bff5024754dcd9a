#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <array>

#include "koorelease/journal.hpp"

namespace koorelease {
namespace {

request_id id_of(char c) {
    request_id id;
    id.fill(c);
    return id;
}

const auto fixed_time = std::chrono::system_clock::time_point{} + std::chrono::milliseconds(1795776474123);

TEST(Journal, ReleasedRecordHasEveryField) {
    const std::array<request_id, 2> ids = {id_of('a'), id_of('b')};
    outcome_record r;
    r.instance_id = "i-1";
    r.outcome = outcome::released;
    r.attempts = 2;
    r.http_status = 200;
    r.error_code = "0";
    r.error_msg = "OK";
    r.request_ids = ids;
    r.latency_ms = 12.5;
    r.finished_at = fixed_time;
    std::string out;
    format_record(out, r);
    EXPECT_EQ(out, "{\"instance_id\":\"i-1\",\"outcome\":\"released\",\"attempts\":2,\"http_status\":200,"
                   "\"error_code\":\"0\",\"error_msg\":\"OK\",\"request_ids\":[\"" + std::string(36, 'a') +
                   "\",\"" + std::string(36, 'b') + "\"],\"latency_ms\":12.500,"
                   "\"finished_at\":\"2026-11-27T10:47:54.123Z\"}\n");
}

TEST(Journal, TimestampsFollowTheClockAcrossSecondsAndDays) {
    outcome_record r;
    r.instance_id = "t";
    r.outcome = outcome::released;
    std::string out;
    for (auto [ms, text] : std::initializer_list<std::pair<long long, const char*>>{
             {1795776474123, "2026-11-27T10:47:54.123Z"},
             {1795776474999, "2026-11-27T10:47:54.999Z"},
             {1795776475000, "2026-11-27T10:47:55.000Z"},
             {1795823999007, "2026-11-27T23:59:59.007Z"},
             {1795824000070, "2026-11-28T00:00:00.070Z"},
             {1795776474123, "2026-11-27T10:47:54.123Z"}}) {
        r.finished_at = std::chrono::system_clock::time_point{} + std::chrono::milliseconds(ms);
        out.clear();
        format_record(out, r);
        EXPECT_NE(out.find(std::string("\"finished_at\":\"") + text + "\""), std::string::npos) << out;
    }
}

TEST(Journal, HostileStringsStayValidJson) {
    outcome_record r;
    r.instance_id = "a\"b\\c";
    r.outcome = outcome::failed;
    r.reason = "instance does not exist";
    r.error_code = "KOOPHONE.API.4001";
    r.error_msg = "line1\nline2 \"quoted\" \x01";
    r.finished_at = fixed_time;
    std::string out;
    format_record(out, r);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(out).get(doc), simdjson::SUCCESS) << out;
    EXPECT_EQ(std::string_view(doc["instance_id"]), "a\"b\\c");
    EXPECT_EQ(std::string_view(doc["error_msg"]), "line1\nline2 \"quoted\" \x01");
    EXPECT_EQ(std::string_view(doc["reason"]), "instance does not exist");
    EXPECT_EQ(int64_t(doc["attempts"]), 0);
    EXPECT_EQ(out.find("latency_ms"), std::string::npos);  // nothing was sent
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);
}

TEST(Journal, InvalidRecordNamesTheLine) {
    outcome_record r;
    r.outcome = outcome::invalid;
    r.reason = "control character in the line";
    r.line = 42;
    r.finished_at = fixed_time;
    std::string out;
    format_record(out, r);
    EXPECT_NE(out.find("\"outcome\":\"invalid\",\"reason\":\"control character in the line\",\"line\":42"), std::string::npos) << out;
    EXPECT_EQ(out.find("attempts"), std::string::npos);
}

TEST(Journal, WritesInBatchesAndOnFlush) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    {
        jsonl_journal j(fds[1], "pipe", true);
        outcome_record r;
        r.instance_id = "x";
        r.outcome = outcome::released;
        r.finished_at = fixed_time;
        j.write(r);
        j.flush();
        char buf[512];
        const auto n = ::read(fds[0], buf, sizeof buf);
        ASSERT_GT(n, 0);
        EXPECT_EQ(std::string_view(buf, static_cast<std::size_t>(n)).substr(0, 17), "{\"instance_id\":\"x");
        j.write(r);
        j.sync();  // a pipe cannot be synced: not an error
    }
    ::close(fds[0]);
}

TEST(Journal, AWriteErrorIsReportedNotSwallowed) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    ::close(fds[0]);  // nobody reads: EPIPE (SIGPIPE is ignored below)
    signal(SIGPIPE, SIG_IGN);
    jsonl_journal j(fds[1], "'broken'", true);
    outcome_record r;
    r.instance_id = "x";
    r.outcome = outcome::released;
    j.write(r);
    EXPECT_THROW(j.flush(), std::runtime_error);
}

}  // namespace
}  // namespace koorelease

namespace koorelease {
namespace {

std::string journal_file(const std::string& content) {
    char name[] = "/tmp/koorelease-journal-XXXXXX";
    const int fd = ::mkstemp(name);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::close(fd);
    return name;
}

TEST(JournalReplay, FinalRecordsAreSkippedAbortedOnesAreNot) {
    const std::string text =
        "{\"instance_id\":\"a\",\"outcome\":\"released\",\"attempts\":1}\n"
        "{\"instance_id\":\"b\",\"outcome\":\"failed\",\"reason\":\"instance does not exist\"}\n"
        "{\"instance_id\":\"c\",\"outcome\":\"aborted\",\"attempts\":1}\n"
        "{\"instance_id\":\"\",\"outcome\":\"invalid\",\"reason\":\"control character\",\"line\":7}\n";
    const auto path = journal_file(text);
    prior_outcomes p;
    std::string error;
    ASSERT_TRUE(load_prior_outcomes(path, p, error)) << error;
    EXPECT_TRUE(p.final_ids.is_final_before("a"));
    EXPECT_TRUE(p.final_ids.is_final_before("b"));
    EXPECT_FALSE(p.final_ids.contains("c"));
    EXPECT_EQ(p.aborted, 1u);
    EXPECT_EQ(p.invalid_lines.count(7), 1u);
    EXPECT_EQ(p.records, 4u);
    EXPECT_FALSE(p.torn_tail);
    EXPECT_EQ(p.keep_bytes, text.size());
    ::unlink(path.c_str());
}

TEST(JournalReplay, ATornLastLineIsDroppedEvenWhenItParses) {
    const std::string good = "{\"instance_id\":\"a\",\"outcome\":\"released\"}\n";
    for (const std::string tail : {"{\"instance_id\":\"b\",\"outc", "{\"instance_id\":\"b\",\"outcome\":\"released\"}"}) {
        const auto path = journal_file(good + tail);
        prior_outcomes p;
        std::string error;
        ASSERT_TRUE(load_prior_outcomes(path, p, error)) << error;
        EXPECT_TRUE(p.torn_tail);
        EXPECT_TRUE(p.final_ids.contains("a"));
        EXPECT_FALSE(p.final_ids.contains("b"));  // sent again: the release is idempotent
        EXPECT_EQ(p.keep_bytes, good.size());
        ::unlink(path.c_str());
    }
}

TEST(JournalReplay, ACorruptLineInTheMiddleIsAnError) {
    const auto path = journal_file("{\"instance_id\":\"a\",\"outcome\":\"released\"}\nnot json\n{\"instance_id\":\"b\",\"outcome\":\"released\"}\n");
    prior_outcomes p;
    std::string error;
    EXPECT_FALSE(load_prior_outcomes(path, p, error));
    EXPECT_NE(error.find("line 2"), std::string::npos) << error;
    ::unlink(path.c_str());
}

TEST(JournalReplay, AnEmptyJournalIsFine) {
    const auto path = journal_file("");
    prior_outcomes p;
    std::string error;
    ASSERT_TRUE(load_prior_outcomes(path, p, error));
    EXPECT_EQ(p.records, 0u);
    EXPECT_EQ(p.keep_bytes, 0u);
    ::unlink(path.c_str());
}

TEST(JournalReplay, AMissingJournalSaysSo) {
    prior_outcomes p;
    std::string error;
    EXPECT_FALSE(load_prior_outcomes("/nonexistent/journal.jsonl", p, error));
    EXPECT_NE(error.find("/nonexistent/journal.jsonl"), std::string::npos);
}

}  // namespace
}  // namespace koorelease
