// Interruption, resume, timeouts and unreachable endpoints: the operator must always end up
// knowing which sessions were released and be able to finish the rest with one command.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>

#include <map>
#include <set>

#include "support/mock.hpp"

namespace koorelease::test {
namespace {

// outcome by id, failing the test on a repeated final record or a line that is not JSON.
std::map<std::string, std::string> final_outcomes(const std::vector<std::string>& lines) {
    std::map<std::string, std::string> out;
    simdjson::dom::parser parser;
    for (const auto& line : lines) {
        simdjson::dom::element doc;
        EXPECT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
        std::string_view id, what;
        if (doc["instance_id"].get(id) || doc["outcome"].get(what)) continue;
        if (what == "aborted") continue;
        EXPECT_TRUE(out.emplace(std::string(id), std::string(what)).second) << "two final records for " << id;
    }
    return out;
}

// Starts a release of `n` ids at 1000/s into `journal`, stops it with `sig` once `lines`
// records are written, checks its exit code, then finishes it with --resume (exit 0).
// Returns the whole journal and what the --resume run printed.
struct two_runs {
    std::vector<std::string> journal_before, journal_after;
    std::string resume_stderr;
};

two_runs stop_then_resume(const mock_server& mock, const temp_dir& dir, int n, int sig, std::size_t lines,
                          int expected_exit) {
    two_runs out;
    const auto journal = dir.file("journal.jsonl");
    spawn_options o;
    o.args = {"release", "--quiet", "--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--input",
              write_ids(dir, "k-", n), "--output", journal, "--rate", "1000"};
    o.env["KOOPHONE_TOKEN"] = test_token;
    {
        child first(o);
        EXPECT_TRUE(wait_for_lines(journal, lines, std::chrono::seconds(30)));
        first.signal(sig);
        EXPECT_EQ(first.wait(std::chrono::seconds(30)), expected_exit);
    }
    out.journal_before = read_lines(journal);
    o.args.push_back("--resume");
    o.stderr_file = dir.file("resume.err");
    child second(o);
    EXPECT_EQ(second.wait(std::chrono::seconds(60)), 0);
    out.resume_stderr = read_file(dir.file("resume.err"));
    out.journal_after = read_lines(journal);
    return out;
}

TEST(Recovery, KilledRunIsFinishedByResumeWithOneFinalRecordPerId) {
    mock_server mock;
    temp_dir dir;
    const int n = 3'000;
    const auto runs = stop_then_resume(mock, dir, n, SIGKILL, 200, 128 + SIGKILL);
    ASSERT_LT(runs.journal_before.size(), static_cast<std::size_t>(n));  // it really was cut short
    const auto outcomes = final_outcomes(runs.journal_after);
    ASSERT_EQ(outcomes.size(), static_cast<std::size_t>(n)) << runs.resume_stderr;
    for (const auto& [id, what] : outcomes) ASSERT_EQ(what, "released") << id;
    const auto s = mock.stats();
    EXPECT_EQ(s.released, static_cast<std::uint64_t>(n));
    // Sent twice at most: the ids whose record had not reached the file when it was killed
    // (the journal is written every 250 ms: a quarter second's worth, plus those in flight).
    EXPECT_LE(s.released_more_than_once, 600u);
    EXPECT_NE(runs.resume_stderr.find("resuming"), std::string::npos);
}

TEST(Recovery, ResumeAfterAnInterruptSendsNoReleasedIdAgain) {
    mock_server mock;
    temp_dir dir;
    const int n = 2'000;
    const auto runs = stop_then_resume(mock, dir, n, SIGTERM, 100, 4);
    EXPECT_EQ(final_outcomes(runs.journal_after).size(), static_cast<std::size_t>(n));
    const auto s = mock.stats();
    EXPECT_EQ(s.released, static_cast<std::uint64_t>(n));
    EXPECT_EQ(s.released_more_than_once, 0u);
}

TEST(Recovery, ResumeToleratesATornLastLineAndRepairsIt) {
    mock_server mock;
    temp_dir dir;
    const auto ids = write_ids(dir, "t-", 10);
    const auto journal = dir.file("journal.jsonl");
    write_file(journal, "{\"instance_id\":\"t-0\",\"outcome\":\"released\",\"attempts\":1}\n{\"instance_id\":\"t-1\",\"outc");
    const auto r = run_release(dir, {"--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--input", ids,
                                     "--output", journal, "--resume"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    const auto outcomes = final_outcomes(r.journal);
    EXPECT_EQ(outcomes.size(), 10u);
    EXPECT_EQ(mock.stats().requests, 9u);  // t-0 was final already
    EXPECT_NE(r.stderr_text.find("incomplete last line"), std::string::npos) << r.stderr_text;
}

TEST(Recovery, AnExistingJournalIsNeverOverwrittenByAccident) {
    mock_server mock;
    temp_dir dir;
    const auto ids = write_ids(dir, "o-", 5);
    const auto journal = dir.file("journal.jsonl");
    write_file(journal, "{\"instance_id\":\"x\",\"outcome\":\"released\"}\n");
    auto r = run_release(dir, {"--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--input", ids, "--output", journal});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.stderr_text.find("--resume"), std::string::npos) << r.stderr_text;
    EXPECT_EQ(read_file(journal), "{\"instance_id\":\"x\",\"outcome\":\"released\"}\n");
    EXPECT_EQ(mock.stats().requests, 0u);
    r = run_release(dir, {"--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--input", ids, "--output", journal, "--force"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.journal.size(), 5u);
}

TEST(Recovery, SlowAnswersHitTheRequestTimeoutAndAreRetried) {
    mock_server mock({"--latency", "2s"});
    temp_dir dir;
    const auto r = run_release(dir, {"--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--input",
                                     write_ids(dir, "s-", 4), "--request-timeout", "200ms", "--max-attempts", "2",
                                     "--backoff-base", "5ms", "--backoff-cap", "10ms"},
                               {}, {}, std::chrono::seconds(20));
    EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
    const auto outcomes = final_outcomes(r.journal);
    ASSERT_EQ(outcomes.size(), 4u);
    for (const auto& [id, what] : outcomes) EXPECT_EQ(what, "failed");
    EXPECT_NE(r.stderr_text.find("retries exhausted: no complete answer within --request-timeout"), std::string::npos)
        << r.stderr_text;
}

TEST(Recovery, AnUnreachableEndpointEndsTheRunWithExit3) {
    temp_dir dir;
    // A port nothing listens on: take one from a mock, then stop it.
    std::uint16_t port = 0;
    {
        mock_server gone;
        port = gone.port();
    }
    const auto r = run_release(dir, {"--endpoint", "https://127.0.0.1:" + std::to_string(port), "--input",
                                     write_ids(dir, "u-", 50)},
                               {}, {}, std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.stderr_text.find("unreachable"), std::string::npos) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("refused"), std::string::npos) << r.stderr_text;
}

}  // namespace
}  // namespace koorelease::test
