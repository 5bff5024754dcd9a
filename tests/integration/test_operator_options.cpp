// What an operator scripts around a run: a config file, the environment, --dry-run, the JSON
// log, --summary-file and the plain progress lines; the real binary against the mock.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>
#include <regex>
#include <set>

#include "support/mock.hpp"

namespace koorelease::test {
namespace {

std::vector<std::string> join(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

std::map<std::string, std::uint64_t> outcomes(const std::vector<std::string>& journal) {
    std::map<std::string, std::uint64_t> out;
    simdjson::dom::parser parser;
    for (const auto& line : journal) {
        simdjson::dom::element doc;
        EXPECT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
        std::string_view outcome;
        if (doc["outcome"].get(outcome) == simdjson::SUCCESS) ++out[std::string(outcome)];
    }
    return out;
}

std::uint64_t count_lines_with(const std::string& text, const std::string& what) {
    std::uint64_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

TEST(ConfigFile, AnUnknownKeyExitsTwoNamingTheKeyAndItsLine) {
    temp_dir dir;
    const auto config = dir.file("koorelease.toml");
    write_file(config, "# nightly\nrate = 100\nconcurency = 4\n");
    const auto r = run_release(dir, {"--config", config, "--input", write_ids(dir, "i-", 3)});
    EXPECT_EQ(r.exit_code, 2) << r.stderr_text;
    EXPECT_NE(
        r.stderr_text.find(config + ":3: unknown key 'concurency': did you mean 'concurrency'?"),
        std::string::npos)
        << r.stderr_text;
    EXPECT_EQ(count_lines_with(r.stderr_text, "\n"), 1u) << r.stderr_text;  // one line
}

TEST(ConfigFile, AWrongTypeExitsTwoNamingTheKeyAndItsLine) {
    temp_dir dir;
    const auto config = dir.file("koorelease.toml");
    write_file(config, "rate = 100\n\nconcurrency = \"8\"\n");
    const auto r = run_release(dir, {"--config", config, "--input", write_ids(dir, "i-", 3)});
    EXPECT_EQ(r.exit_code, 2) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find(config + ":3: key 'concurrency' must be a whole number"),
              std::string::npos)
        << r.stderr_text;
}

TEST(ConfigFile, AnOutOfRangeValueSaysWhereItWasSet) {
    temp_dir dir;
    const auto config = dir.file("koorelease.toml");
    write_file(config, "rate = 100\nconcurrency = 0\n");
    auto r = run_release(dir, {"--config", config, "--input", write_ids(dir, "i-", 3)});
    EXPECT_EQ(r.exit_code, 2) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("--concurrency must be from 1 to 4096 (set by " + config + ":2)"),
              std::string::npos)
        << r.stderr_text;
    r = run_release(dir, {"--input", write_ids(dir, "i-", 3)}, {{"KOOPHONE_RATE", "-5"}});
    EXPECT_EQ(r.exit_code, 2) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("(set by KOOPHONE_RATE)"), std::string::npos) << r.stderr_text;
}

TEST(ConfigFile, ATokenInTheFileIsRefusedWithoutBeingQuoted) {
    temp_dir dir;
    const auto config = dir.file("koorelease.toml");
    write_file(config, std::string("token = \"") + test_token + "\"\n");
    const auto r = run_release(dir, {"--config", config, "--input", write_ids(dir, "i-", 3)});
    EXPECT_EQ(r.exit_code, 2) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("token-file"), std::string::npos) << r.stderr_text;
    EXPECT_EQ(r.stderr_text.find(test_token), std::string::npos);
}

TEST(ConfigFile, SetsEndpointCaFileAndConcurrencyForARealRun) {
    mock_server mock;
    temp_dir dir;
    const auto config = dir.file("koorelease.toml");
    write_file(config, "endpoint = \"" + mock.url() + "\"\nca-file = \"" + mock.ca_file() +
                           "\"\nconcurrency = 3\nmax-attempts = 2\n");
    const int n = 2000;
    const auto r = run_release(dir, {"--config", config, "--input", write_ids(dir, "i-", n),
                                     "--summary-file", dir.file("summary.json")});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    EXPECT_EQ(r.journal.size(), static_cast<std::size_t>(n));
    EXPECT_EQ(mock.stats().released, static_cast<std::uint64_t>(n));
    simdjson::dom::parser parser;
    simdjson::dom::element summary;
    ASSERT_EQ(parser.load(dir.file("summary.json")).get(summary), simdjson::SUCCESS);
    // The pool kept to the file's concurrency.
    EXPECT_GE(std::uint64_t(summary["connections_opened"]), 1u);
    EXPECT_LE(std::uint64_t(summary["connections_opened"]), 3u);
}

TEST(ConfigFile, TheEnvironmentOverridesTheFileAndTheCommandLineOverridesBoth) {
    mock_server mock;
    temp_dir dir;
    const auto config = dir.file("koorelease.toml");
    // Nothing listens on port 1: used, this endpoint would end the run with exit 3.
    write_file(config, "endpoint = \"https://127.0.0.1:1\"\nconcurrency = 2\n");
    const auto r = run_release(
        dir, {"--config", config, "--input", write_ids(dir, "i-", 50), "--concurrency", "4"},
        {{"KOOPHONE_ENDPOINT", mock.url()},
         {"KOOPHONE_CA_FILE", mock.ca_file()},
         {"KOOPHONE_CONCURRENCY", "0"}});  // invalid, but the command line wins
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    EXPECT_EQ(mock.stats().released, 50u);
}

std::string source_dir() {
    const std::string file = __FILE__;
    return file.substr(0, file.rfind("/tests/integration/"));
}

TEST(ConfigFile, TheExampleHasEveryOptionAndTheBinaryAcceptsEveryDefaultInIt) {
    // The options of `release`, from its --help.
    temp_dir dir;
    spawn_options o;
    o.args = {"release", "--help"};
    o.stdout_file = dir.file("help.txt");
    child help(o);
    ASSERT_EQ(help.wait(std::chrono::seconds(30)), 0);
    std::set<std::string> options;
    const std::regex option_line(R"(^  (?:-[a-z],)?--([a-z][a-z-]+))");
    for (const auto& line : read_lines(dir.file("help.txt"))) {
        std::smatch m;
        if (std::regex_search(line, m, option_line) && m[1] != "help" && m[1] != "config")
            options.insert(m[1]);
    }
    ASSERT_GT(options.size(), 20u);

    // Every "# key = default" line of the example, uncommented.
    const std::regex entry(R"re(^# ([a-z][a-z-]*) = ("[^"]*"|\[[^\]]*\]|[^ ]+))re");
    std::set<std::string> keys;
    std::string uncommented;
    for (const auto& line : read_lines(source_dir() + "/config/koorelease.toml")) {
        std::smatch m;
        if (!std::regex_search(line, m, entry)) continue;
        keys.insert(m[1]);
        uncommented += std::string(m[1]) + " = " + std::string(m[2]) + "\n";
    }
    for (const auto& name : options)
        EXPECT_TRUE(keys.contains(name)) << "config/koorelease.toml lacks " << name;
    for (const auto& key : keys)
        EXPECT_TRUE(options.contains(key)) << "config/koorelease.toml has unknown " << key;

    const auto config = dir.file("all.toml");
    write_file(config, uncommented);
    const auto r =
        run_release(dir, {"--config", config, "--input", write_ids(dir, "i-", 3), "--dry-run"});
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text << "\n" << uncommented;
    EXPECT_NE(read_file(dir.file("stdout.txt")).find("plan: 3 ids to release"), std::string::npos);
}

TEST(ConfigFile, AnInvalidEnvironmentValueNamesTheVariable) {
    temp_dir dir;
    const auto r =
        run_release(dir, {"--input", write_ids(dir, "i-", 3)}, {{"KOOPHONE_RATE", "fast"}});
    EXPECT_EQ(r.exit_code, 2) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("KOOPHONE_RATE"), std::string::npos) << r.stderr_text;
}

TEST(DryRun, SendsNothingAndShowsTheRequestWithTheTokenRedacted) {
    mock_server mock;
    temp_dir dir;
    const auto r =
        run_release(dir, {"--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--input",
                          write_ids(dir, "i-", 100), "--rate", "50", "--dry-run"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    const auto shown = read_file(dir.file("stdout.txt"));
    EXPECT_NE(shown.find("POST /v1/instances/session/release HTTP/1.1"), std::string::npos)
        << shown;
    EXPECT_NE(shown.find("x-auth-token: <redacted>"), std::string::npos) << shown;
    EXPECT_NE(shown.find("{\"instance_id\":\"i-0\"}"), std::string::npos) << shown;
    EXPECT_NE(shown.find("plan: 100 ids to release"), std::string::npos) << shown;
    EXPECT_NE(shown.find("rate 50 requests/s"), std::string::npos) << shown;
    EXPECT_NE(shown.find("about 2s"), std::string::npos) << shown;
    EXPECT_EQ(shown.find(test_token), std::string::npos);
    EXPECT_EQ(r.stderr_text.find(test_token), std::string::npos);
    EXPECT_TRUE(r.journal.empty());  // no journal written
    EXPECT_EQ(mock.stats().requests, 0u);
}

TEST(DryRun, InvalidLinesAreReportedAndExitOne) {
    mock_server mock;
    temp_dir dir;
    const auto input = dir.file("ids.txt");
    write_file(input, "i-1\nbad\x01id\ni-2\ni-1\n");
    const auto r = run_release(dir, {"--endpoint", mock.url(), "--ca-file", mock.ca_file(),
                                     "--input", input, "--dry-run"});
    EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("input line 2:"), std::string::npos) << r.stderr_text;
    const auto shown = read_file(dir.file("stdout.txt"));
    EXPECT_NE(shown.find("plan: 2 ids to release, 1 duplicates dropped, 1 invalid lines"),
              std::string::npos)
        << shown;
    EXPECT_EQ(mock.stats().requests, 0u);
}

TEST(JsonLog, EveryLineParsesAttemptsCarryTheirFieldsAndTheTokenNeverAppears) {
    mock_server mock({"--fail-rate", "0.2", "--seed", "5"});
    temp_dir dir;
    const auto log = dir.file("koorelease.log");
    const int n = 300;
    const auto r =
        run_release(dir, {"--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--input",
                          write_ids(dir, "i-", n), "--log-level", "debug", "--log-format", "json",
                          "--log-file", log, "--no-retry-budget", "--max-attempts", "10"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    const auto lines = read_lines(log);
    ASSERT_FALSE(lines.empty());
    simdjson::dom::parser parser;
    std::uint64_t attempts = 0, retried = 0, info = 0;
    for (const auto& line : lines) {
        ASSERT_EQ(line.find(test_token), std::string::npos);
        simdjson::dom::element doc;
        ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
        std::string_view level, event;
        ASSERT_EQ(doc["level"].get(level), simdjson::SUCCESS) << line;
        ASSERT_EQ(doc["time"].get_string().error(), simdjson::SUCCESS) << line;
        if (doc["event"].get(event) == simdjson::SUCCESS && event == "attempt") {
            ++attempts;
            EXPECT_EQ(level, "debug");
            EXPECT_EQ(std::string_view(doc["instance_id"]).substr(0, 2), "i-") << line;
            EXPECT_EQ(std::string_view(doc["x_request_id"]).size(), 36u) << line;
            std::uint64_t status = doc["status"];
            EXPECT_TRUE(status == 200 || status == 500) << line;
            EXPECT_FALSE(std::string_view(doc["error_code"]).empty()) << line;
            EXPECT_FALSE(std::string_view(doc["server_request_id"]).empty()) << line;
            EXPECT_GE(double(doc["latency_ms"]), 0.0) << line;
            if (status == 500) ++retried;
        } else {
            ASSERT_EQ(doc["msg"].get_string().error(), simdjson::SUCCESS) << line;
            if (level == "info") ++info;
        }
    }
    EXPECT_EQ(attempts, mock.stats().requests);
    EXPECT_GT(retried, 0u);
    EXPECT_GE(info, 2u);  // start and end
    EXPECT_EQ(r.stderr_text.find(test_token), std::string::npos);
}

TEST(SummaryFile, ItsCountsMatchTheJournal) {
    mock_server mock({"--fail-rate", "0.1", "--seed", "3"});
    temp_dir dir;
    const auto input = dir.file("ids.txt");
    std::string ids;
    for (int i = 0; i < 500; ++i) ids += "i-" + std::to_string(i) + "\n";
    for (int i = 0; i < 20; ++i) ids += "missing-" + std::to_string(i) + "\n";  // 4001: failed
    ids += "i-1\ni-2\n";                                                        // duplicates
    ids += "bad\x02line\n";                                                     // invalid
    write_file(input, ids);
    const auto summary_path = dir.file("run/summary.json");
    ASSERT_EQ(std::system(("mkdir -p '" + dir.file("run") + "'").c_str()), 0);
    const auto r = run_release(dir, {"--endpoint", mock.url(), "--ca-file", mock.ca_file(),
                                     "--input", input, "--summary-file", summary_path});
    ASSERT_EQ(r.exit_code, 1) << r.stderr_text;
    const auto by_outcome = outcomes(r.journal);
    simdjson::dom::parser parser;
    simdjson::dom::element s;
    ASSERT_EQ(parser.load(summary_path).get(s), simdjson::SUCCESS) << read_file(summary_path);
    EXPECT_EQ(std::uint64_t(s["released"]), by_outcome.at("released"));
    EXPECT_EQ(std::uint64_t(s["failed"]), by_outcome.at("failed"));
    EXPECT_EQ(std::uint64_t(s["invalid"]), by_outcome.at("invalid"));
    EXPECT_EQ(std::uint64_t(s["released"]), 500u);
    EXPECT_EQ(std::uint64_t(s["failed"]), 20u);
    EXPECT_EQ(std::uint64_t(s["invalid"]), 1u);
    EXPECT_EQ(std::uint64_t(s["ids"]), 520u);
    EXPECT_EQ(std::uint64_t(s["duplicates"]), 2u);
    EXPECT_EQ(std::uint64_t(s["exit_code"]), 1u);
    const auto stats = mock.stats();
    EXPECT_EQ(std::uint64_t(s["requests"]), stats.requests);
    EXPECT_GT(std::uint64_t(s["retries"]), 0u);
    EXPECT_EQ(std::uint64_t(s["answers_by_code"]["200 0"]), 500u);
    EXPECT_EQ(std::uint64_t(s["failures_by_reason"].get_object().size()), 1u);
    EXPECT_GT(double(s["latency_ms"]["p50"]), 0.0);
    EXPECT_GT(double(s["requests_per_second"]), 0.0);
    EXPECT_LE(std::string_view(s["started_at"]), std::string_view(s["finished_at"]));
    EXPECT_TRUE(s["stopped_by"].is_null());
    // Written by rename: no temporary file is left next to it.
    EXPECT_EQ(std::system(("test $(ls -A '" + dir.file("run") + "' | wc -l) -eq 1").c_str()), 0);
}

TEST(SummaryFile, AnUnwritableDirectoryIsRefusedBeforeAnythingIsSent) {
    mock_server mock;
    temp_dir dir;
    const auto r = run_release(
        dir, {"--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--input",
              write_ids(dir, "i-", 5), "--summary-file", dir.file("no/such/dir/s.json")});
    EXPECT_EQ(r.exit_code, 2) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("--summary-file"), std::string::npos) << r.stderr_text;
    EXPECT_EQ(mock.stats().requests, 0u);
}

// Without run_release's --quiet: the progress options as an operator's job would use them.
std::string run_with_progress(const mock_server& mock, const temp_dir& dir,
                              std::vector<std::string> extra) {
    spawn_options o;
    o.args = join({"release", "--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--input",
                   write_ids(dir, "i-", 500), "--output", dir.file("out.jsonl"), "--force"},
                  extra);
    o.env["KOOPHONE_TOKEN"] = test_token;
    o.stdout_file = dir.file("stdout.txt");
    o.stderr_file = dir.file("stderr.txt");
    child c(o);
    EXPECT_EQ(c.wait(std::chrono::seconds(60)), 0);
    return read_file(dir.file("stderr.txt"));
}

TEST(Progress, PlainPrintsLinesForLogsAndAutoIsSilentOffATerminal) {
    mock_server mock;
    temp_dir dir;
    const auto plain =
        run_with_progress(mock, dir, {"--progress", "plain", "--progress-interval", "1s"});
    // At least the final state, as a whole line of its own (no carriage returns).
    EXPECT_NE(plain.find("koorelease: progress: 500/500 done: 500 released, 0 failed"),
              std::string::npos)
        << plain;
    EXPECT_EQ(plain.find('\r'), std::string::npos);
    const auto automatic = run_with_progress(mock, dir, {"--progress", "auto"});
    EXPECT_EQ(automatic.find("progress:"), std::string::npos) << automatic;
    EXPECT_EQ(automatic.find('\r'), std::string::npos);
    const auto quiet = run_with_progress(mock, dir, {"--progress", "plain", "--quiet"});
    EXPECT_EQ(quiet.find("progress:"), std::string::npos) << quiet;
}

TEST(Progress, AnUnknownModeExitsTwo) {
    temp_dir dir;
    const auto r = run_release(dir, {"--input", write_ids(dir, "i-", 3), "--progress", "fancy"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.stderr_text.find("--progress 'fancy' is not one of auto, plain, off"),
              std::string::npos)
        << r.stderr_text;
}

}  // namespace
}  // namespace koorelease::test
