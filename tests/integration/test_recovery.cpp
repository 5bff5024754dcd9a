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

std::string write_ids(const temp_dir& dir, const std::string& prefix, int count) {
    std::string text;
    for (int i = 0; i < count; ++i) text += prefix + std::to_string(i) + "\n";
    write_file(dir.file("ids.txt"), text);
    return dir.file("ids.txt");
}

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

TEST(Recovery, KilledRunIsFinishedByResumeWithOneFinalRecordPerId) {
    mock_server mock;
    temp_dir dir;
    const int n = 3'000;
    const auto ids = write_ids(dir, "k-", n);
    const auto journal = dir.file("journal.jsonl");
    spawn_options o;
    o.args = {"release", "--quiet", "--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--input", ids,
              "--output", journal, "--rate", "1000"};
    o.env["KOOPHONE_TOKEN"] = test_token;
    {
        child first(o);
        ASSERT_TRUE(wait_for_lines(journal, 200, std::chrono::seconds(30)));
        first.signal(SIGKILL);
        EXPECT_EQ(first.wait(std::chrono::seconds(10)), 128 + SIGKILL);
    }
    const auto before = read_lines(journal);
    ASSERT_LT(before.size(), static_cast<std::size_t>(n));  // it really was cut short

    o.args.push_back("--resume");
    o.stderr_file = dir.file("resume.err");
    child second(o);
    ASSERT_EQ(second.wait(std::chrono::seconds(60)), 0) << read_file(dir.file("resume.err"));
    const auto outcomes = final_outcomes(read_lines(journal));
    ASSERT_EQ(outcomes.size(), static_cast<std::size_t>(n));
    for (const auto& [id, what] : outcomes) ASSERT_EQ(what, "released") << id;
    const auto s = mock.stats();
    EXPECT_EQ(s.released, static_cast<std::uint64_t>(n));
    // Sent twice at most: the ids whose record had not reached the file when it was killed
    // (the journal is written a few times a second, so at most about a second's worth).
    EXPECT_LE(s.released_more_than_once, 1'100u);
    EXPECT_NE(read_file(dir.file("resume.err")).find("resuming"), std::string::npos);
}

TEST(Recovery, ResumeAfterAnInterruptSendsNoReleasedIdAgain) {
    mock_server mock;
    temp_dir dir;
    const int n = 2'000;
    const auto ids = write_ids(dir, "r-", n);
    const auto journal = dir.file("journal.jsonl");
    spawn_options o;
    o.args = {"release", "--quiet", "--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--input", ids,
              "--output", journal, "--rate", "1000"};
    o.env["KOOPHONE_TOKEN"] = test_token;
    {
        child first(o);
        ASSERT_TRUE(wait_for_lines(journal, 100, std::chrono::seconds(30)));
        first.signal(SIGTERM);
        EXPECT_EQ(first.wait(std::chrono::seconds(30)), 4);
    }
    o.args.push_back("--resume");
    child second(o);
    ASSERT_EQ(second.wait(std::chrono::seconds(60)), 0);
    const auto outcomes = final_outcomes(read_lines(journal));
    EXPECT_EQ(outcomes.size(), static_cast<std::size_t>(n));
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
