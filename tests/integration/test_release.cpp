// The real binary against `koorelease mock` over TLS on loopback: what an operator would check.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>

#include <algorithm>
#include <numeric>
#include <regex>
#include <set>

#include "support/mock.hpp"

namespace koorelease::test {
namespace {

struct record {
    std::string instance_id, outcome, reason, error_code;
    std::uint64_t attempts = 0, http_status = 0, line = 0;
    std::vector<std::string> request_ids;
};

std::vector<record> parse_journal(const std::vector<std::string>& lines) {
    std::vector<record> out;
    simdjson::dom::parser parser;
    for (const auto& line : lines) {
        simdjson::dom::element doc;
        EXPECT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << "not JSON: " << line;
        if (!doc.is_object()) continue;
        record r;
        std::string_view sv;
        if (doc["instance_id"].get(sv) == simdjson::SUCCESS) r.instance_id = sv;
        if (doc["outcome"].get(sv) == simdjson::SUCCESS) r.outcome = sv;
        if (doc["reason"].get(sv) == simdjson::SUCCESS) r.reason = sv;
        if (doc["error_code"].get(sv) == simdjson::SUCCESS) r.error_code = sv;
        std::uint64_t n = 0;
        if (doc["attempts"].get(n) == simdjson::SUCCESS) r.attempts = n;
        if (doc["http_status"].get(n) == simdjson::SUCCESS) r.http_status = n;
        if (doc["line"].get(n) == simdjson::SUCCESS) r.line = n;
        simdjson::dom::array ids;
        if (doc["request_ids"].get(ids) == simdjson::SUCCESS) {
            for (auto id : ids) r.request_ids.emplace_back(std::string_view(id));
        }
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<std::string> client_args(const mock_server& m, const std::string& input) {
    return {"--endpoint", m.url(), "--ca-file", m.ca_file(), "--input", input};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

void expect_token_not_leaked(const run_result& r) {
    EXPECT_EQ(r.stderr_text.find(test_token), std::string::npos);
    for (const auto& line : r.journal) ASSERT_EQ(line.find(test_token), std::string::npos);
}

TEST(Release, CleanServerReleasesEveryIdExactlyOnceWithFreshRequestIds) {
    mock_server mock;
    temp_dir dir;
    const int n = 10'000;
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "i-", n)));
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    const auto records = parse_journal(r.journal);
    ASSERT_EQ(records.size(), static_cast<std::size_t>(n));
    std::set<std::string> ids, request_ids;
    const std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
    for (const auto& rec : records) {
        EXPECT_EQ(rec.outcome, "released");
        EXPECT_EQ(rec.attempts, 1u);
        EXPECT_EQ(rec.http_status, 200u);
        EXPECT_EQ(rec.error_code, "0");
        ids.insert(rec.instance_id);
        ASSERT_EQ(rec.request_ids.size(), 1u);
        ASSERT_TRUE(std::regex_match(rec.request_ids[0], uuid)) << rec.request_ids[0];
        request_ids.insert(rec.request_ids[0]);
    }
    EXPECT_EQ(ids.size(), static_cast<std::size_t>(n));
    EXPECT_EQ(request_ids.size(), static_cast<std::size_t>(n));
    auto s = mock.stats();
    EXPECT_EQ(s.requests, static_cast<std::uint64_t>(n));
    EXPECT_EQ(s.released, static_cast<std::uint64_t>(n));
    EXPECT_EQ(s.released_more_than_once, 0u);
    EXPECT_EQ(s.request_ids_reused, 0u);
    EXPECT_EQ(s.missing_request_id, 0u);
    EXPECT_NE(r.stderr_text.find("10000 released"), std::string::npos) << r.stderr_text;
    expect_token_not_leaked(r);
}

TEST(Release, QuarterOfAnswersFailingStillReleasesEveryId) {
    mock_server mock({"--fail-rate", "0.25", "--seed", "11"});
    temp_dir dir;
    const int n = 4'000;
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "f-", n)) +
                                        std::vector<std::string>{"--max-attempts", "12", "--backoff-cap", "200ms"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    const auto records = parse_journal(r.journal);
    ASSERT_EQ(records.size(), static_cast<std::size_t>(n));
    std::uint64_t attempts = 0;
    std::set<std::string> request_ids;
    for (const auto& rec : records) {
        EXPECT_EQ(rec.outcome, "released");
        EXPECT_EQ(rec.request_ids.size(), rec.attempts);
        attempts += rec.attempts;
        request_ids.insert(rec.request_ids.begin(), rec.request_ids.end());
    }
    auto s = mock.stats();
    EXPECT_EQ(s.released, static_cast<std::uint64_t>(n));
    EXPECT_EQ(s.released_more_than_once, 0u);
    EXPECT_GT(s.by_status["500"], n / 5u);            // the faults really happened
    EXPECT_EQ(attempts, s.requests);                   // every request is in the journal
    EXPECT_EQ(request_ids.size(), s.requests);         // retries carry fresh request ids
    EXPECT_EQ(s.request_ids_reused, 0u);
}

TEST(Release, BusinessErrorsFailAfterOneAttemptAndExit1) {
    mock_server mock;
    temp_dir dir;
    write_file(dir.file("ids.txt"), "ok-1\nmissing-2\ndenied-3\ninvalid-4\nregion-5\nok-6\n");
    const auto r = run_release(dir, client_args(mock, dir.file("ids.txt")));
    EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
    const auto records = parse_journal(r.journal);
    ASSERT_EQ(records.size(), 6u);
    std::map<std::string, record> by_id;
    for (const auto& rec : records) by_id[rec.instance_id] = rec;
    EXPECT_EQ(by_id["ok-1"].outcome, "released");
    EXPECT_EQ(by_id["ok-6"].outcome, "released");
    const std::map<std::string, std::string> expected = {{"missing-2", "KOOPHONE.API.4001"},
                                                         {"denied-3", "KOOPHONE.API.1001"},
                                                         {"invalid-4", "KOOPHONE.API.1000"},
                                                         {"region-5", "KOOPHONE.API.1002"}};
    for (const auto& [id, code] : expected) {
        EXPECT_EQ(by_id[id].outcome, "failed") << id;
        EXPECT_EQ(by_id[id].error_code, code) << id;
        EXPECT_EQ(by_id[id].attempts, 1u) << id;
        EXPECT_FALSE(by_id[id].reason.empty()) << id;
    }
    EXPECT_EQ(by_id["missing-2"].reason, "instance does not exist");
    EXPECT_EQ(mock.stats().requests, 6u);  // no retry of a business error
    EXPECT_NE(r.stderr_text.find("instance does not exist"), std::string::npos);
}

TEST(Release, RateHoldsAtTheServer) {
    mock_server mock;
    temp_dir dir;
    const int n = 1'000;
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "r-", n)) + std::vector<std::string>{"--rate", "200"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    auto s = mock.stats();
    ASSERT_EQ(s.requests, static_cast<std::uint64_t>(n));
    // 1000 requests at 200/s with a burst of 10: five seconds, each at most 200 + the burst.
    // The server's seconds start at the first request's arrival, which the first TLS
    // handshakes delay by some milliseconds, so a second may hold a few sends more.
    ASSERT_GE(s.per_second.size(), 5u);
    ASSERT_LE(s.per_second.size(), 6u);
    for (std::size_t i = 0; i < s.per_second.size(); ++i) {
        EXPECT_LE(s.per_second[i], 220u) << "second " << i;
        if (i > 0 && i + 1 < s.per_second.size()) {
            EXPECT_GE(s.per_second[i], 185u) << "second " << i;
        }
    }
}

TEST(Release, ThrottlingSettlesTheClientNearTheServersLimit) {
    mock_server mock({"--throttle-rps", "400"});
    temp_dir dir;
    const int n = 4'000;
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "t-", n)));
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    const auto records = parse_journal(r.journal);
    ASSERT_EQ(records.size(), static_cast<std::size_t>(n));
    for (const auto& rec : records) ASSERT_EQ(rec.outcome, "released");
    auto s = mock.stats();
    EXPECT_EQ(s.released, static_cast<std::uint64_t>(n));
    // Throttled answers stay a small share: the client slowed down instead of hammering.
    EXPECT_LT(s.by_status["429"], s.requests / 5) << r.stderr_text;
    // Between the first and the last second, releases ran at 55-100% of the server's limit.
    ASSERT_GE(s.released_per_second.size(), 5u);
    const auto& rps = s.released_per_second;
    const double middle = std::accumulate(rps.begin() + 1, rps.end() - 1, 0.0) / static_cast<double>(rps.size() - 2);
    EXPECT_GT(middle, 0.55 * 400) << r.stderr_text;
    EXPECT_LE(middle, 400.0);
    EXPECT_NE(r.stderr_text.find("throttling"), std::string::npos);
}

TEST(Release, ReadsIdsFromStdin) {
    mock_server mock;
    temp_dir dir;
    const auto input = write_ids(dir, "s-", 500);
    const auto r = run_release(dir, {"--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--input", "-"}, {}, input);
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    EXPECT_EQ(parse_journal(r.journal).size(), 500u);
    EXPECT_EQ(mock.stats().released, 500u);
}

TEST(Release, ReconnectsAfterConnectionCloseAndDroppedConnections) {
    mock_server mock({"--close-every", "3", "--drop-rate", "0.05", "--seed", "5"});
    temp_dir dir;
    const int n = 2'000;
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "c-", n)) +
                                        std::vector<std::string>{"--max-attempts", "10", "--backoff-cap", "100ms"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    auto s = mock.stats();
    EXPECT_EQ(s.released, static_cast<std::uint64_t>(n));
    EXPECT_EQ(s.released_more_than_once, 0u);
    EXPECT_GT(s.requests, static_cast<std::uint64_t>(n));  // the dropped ones were sent again
    EXPECT_EQ(parse_journal(r.journal).size(), static_cast<std::size_t>(n));
}

TEST(Release, ReconnectsResumeTheTlsSession) {
    mock_server mock({"--close-every", "1"});
    temp_dir dir;
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "z-", 300)) + std::vector<std::string>{"--concurrency", "8"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    // 300 connections, one per request; all but the first few (opened before any
    // session was known, about one per connection slot) resumed one.
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.stderr_text, m, std::regex("on (\\d+) connections \\((\\d+) TLS resumed\\)"))) << r.stderr_text;
    EXPECT_EQ(std::stoi(m[1]), 300);
    EXPECT_GE(std::stoi(m[2]), 280);
}

TEST(Release, InterruptFinishesRequestsInFlightRecordsThemAndExits4) {
    mock_server mock;
    temp_dir dir;
    spawn_options o;
    o.args = {"release", "--quiet", "--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--input",
              write_ids(dir, "n-", 5'000), "--output", "-", "--rate", "500"};
    o.env["KOOPHONE_TOKEN"] = test_token;
    o.stderr_file = dir.file("stderr.txt");
    child c(o);
    std::vector<std::string> lines;
    for (int i = 0; i < 50; ++i) {  // some ids done: the run is under way
        auto line = c.read_line(std::chrono::seconds(20));
        ASSERT_TRUE(line);
        lines.push_back(*line);
    }
    c.signal(SIGINT);
    while (auto line = c.read_line(std::chrono::seconds(20))) lines.push_back(*line);
    EXPECT_EQ(c.wait(std::chrono::seconds(20)), 4);
    const auto records = parse_journal(lines);
    ASSERT_EQ(records.size(), lines.size());
    std::size_t released = 0;
    for (const auto& rec : records) {
        ASSERT_TRUE(rec.outcome == "released" || rec.outcome == "aborted") << rec.outcome;
        released += rec.outcome == "released";
    }
    const auto s = mock.stats();
    EXPECT_LT(s.requests, 5'000u);            // it did stop
    EXPECT_EQ(released, s.released);          // every release the server made is recorded
    const auto err = read_file(dir.file("stderr.txt"));
    EXPECT_NE(err.find("interrupted"), std::string::npos) << err;
}

TEST(Release, ASecondSignalExitsAtOnceWithoutWaitingForRequestsInFlight) {
    // Answers take 6 s; one request a second on 4 connections. When the first answer is in,
    // three more are in flight for up to 3 s: the first signal would wait for them, the
    // second must not.
    mock_server mock({"--latency", "6s"});
    temp_dir dir;
    spawn_options o;
    o.args = {"release", "--quiet", "--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--input",
              write_ids(dir, "q-", 50), "--output", "-", "--rate", "1", "--concurrency", "4"};
    o.env["KOOPHONE_TOKEN"] = test_token;
    o.stderr_file = dir.file("stderr.txt");
    child c(o);
    const auto first = c.read_line(std::chrono::seconds(30));
    ASSERT_TRUE(first);
    c.signal(SIGINT);
    // Two signals sent back to back may merge into one: wait until the first was handled.
    ASSERT_TRUE(wait_for_lines(dir.file("stderr.txt"), 1, std::chrono::seconds(10)));
    EXPECT_NE(read_file(dir.file("stderr.txt")).find("interrupted"), std::string::npos);
    c.signal(SIGINT);
    EXPECT_EQ(c.wait(std::chrono::milliseconds(1500)), 4);
    std::vector<std::string> lines{*first};
    while (auto line = c.read_line(std::chrono::seconds(1))) lines.push_back(*line);
    for (const auto& line : lines) {
        EXPECT_EQ(line.front(), '{');
        EXPECT_EQ(line.back(), '}');
    }
}

TEST(Release, RejectedTokenStopsTheRunQuicklyWithExit3) {
    mock_server mock({"--token-expire-after", "300"});
    temp_dir dir;
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "x-", 5'000)) + std::vector<std::string>{"--concurrency", "8"});
    EXPECT_EQ(r.exit_code, 3) << r.stderr_text;
    auto s = mock.stats();
    // No hammering: at most the requests already in flight got the 401 too.
    EXPECT_LE(s.by_status["401"], 8u);
    EXPECT_EQ(s.released, 300u);
    const auto records = parse_journal(r.journal);
    std::size_t released = 0, aborted = 0;
    for (const auto& rec : records) {
        released += rec.outcome == "released";
        aborted += rec.outcome == "aborted";
        if (rec.outcome == "aborted") {
            EXPECT_EQ(rec.error_code, "APIG.0307");
        }
    }
    EXPECT_EQ(released, 300u);  // every release the server made is in the journal
    EXPECT_EQ(aborted, s.by_status["401"]);
    EXPECT_NE(r.stderr_text.find("APIG.0307"), std::string::npos);
    EXPECT_NE(r.stderr_text.find("token"), std::string::npos);
    expect_token_not_leaked(r);
}

TEST(Release, DebugLogHasALinePerAttemptAndTheTokenNowhere) {
    // Faults, retries, throttling and finally an expired token: every path that writes.
    mock_server mock({"--fail-rate", "0.2", "--throttle-rps", "2000", "--token-expire-after", "1500", "--seed", "3"});
    temp_dir dir;
    const auto log = dir.file("debug.log");
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "l-", 3'000)) +
                                        std::vector<std::string>{"--log-level", "debug", "--log-file", log,
                                                                 "--output", "-", "--max-attempts", "8"});
    EXPECT_EQ(r.exit_code, 3) << r.stderr_text;
    const auto log_text = read_file(log);
    const auto s = mock.stats();
    EXPECT_EQ(std::count(log_text.begin(), log_text.end(), '\n') >= static_cast<long>(s.requests), true);
    EXPECT_NE(log_text.find(" debug attempt instance_id=l-"), std::string::npos);
    EXPECT_NE(log_text.find("status=500 error_code=KOOPHONE.API.9999"), std::string::npos);
    EXPECT_NE(log_text.find("status=401 error_code=APIG.0307"), std::string::npos);
    EXPECT_NE(log_text.find("server_request_id="), std::string::npos);
    for (const auto& text : {log_text, r.stderr_text, read_file(dir.file("stdout.txt"))}) {
        EXPECT_EQ(text.find(test_token), std::string::npos);
    }
    expect_token_not_leaked(r);
}

TEST(Release, WrongTokenIsRejectedAndNeverPrinted) {
    mock_server mock;
    temp_dir dir;
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "w-", 100)),
                               {{"KOOPHONE_TOKEN", "wrong-token-4242"}});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.stderr_text.find("APIG.0301"), std::string::npos) << r.stderr_text;
    EXPECT_EQ(r.stderr_text.find("wrong-token-4242"), std::string::npos);
}

TEST(Release, UntrustedCertificateEndsTheRunBeforeAnyRequest) {
    mock_server mock;
    temp_dir dir;
    const auto r = run_release(dir, {"--endpoint", mock.url(), "--input", write_ids(dir, "u-", 100)});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.stderr_text.find("--ca-file"), std::string::npos) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("certificate"), std::string::npos);
    EXPECT_EQ(mock.stats().requests, 0u);
    EXPECT_TRUE(r.journal.empty());  // nothing was sent, so there is nothing to record
}

TEST(Release, ACertificateForAnotherHostNameIsRefused) {
    // The mock's certificate names localhost and 127.0.0.1; 127.0.0.2 is loopback too.
    mock_server mock({"--listen", "127.0.0.2:0"});
    temp_dir dir;
    const auto r = run_release(dir, {"--endpoint", "https://127.0.0.2:" + std::to_string(mock.port()), "--ca-file",
                                     mock.ca_file(), "--input", write_ids(dir, "n-", 10)});
    EXPECT_EQ(r.exit_code, 3) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("certificate"), std::string::npos) << r.stderr_text;
    EXPECT_TRUE(r.journal.empty());
}

TEST(Release, LargeTokenAndPlainHttpAndPathPrefix) {
    const std::string big_token(16 * 1024, 'T');
    mock_server mock({"--path-prefix", "/gw/koophone"}, true, big_token);
    temp_dir dir;
    const auto r = run_release(dir, {"--endpoint", mock.url() + "/gw/koophone", "--input", write_ids(dir, "p-", 200)},
                               {{"KOOPHONE_TOKEN", big_token}});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text.substr(0, 2000);
    EXPECT_EQ(mock.stats().released, 200u);
}

TEST(Release, InvalidLinesAndDuplicatesAreReportedNotSent) {
    mock_server mock;
    temp_dir dir;
    write_file(dir.file("ids.txt"), "good-1\n  good-2 \r\nbad\x01id\ngood-1\n# comment\n\n" + std::string(300, 'z') + "\ngood-3\n");
    const auto r = run_release(dir, client_args(mock, dir.file("ids.txt")));
    EXPECT_EQ(r.exit_code, 1);
    const auto records = parse_journal(r.journal);
    std::map<std::string, int> outcomes;
    std::set<std::uint64_t> invalid_lines;
    for (const auto& rec : records) {
        ++outcomes[rec.outcome];
        if (rec.outcome == "invalid") invalid_lines.insert(rec.line);
    }
    EXPECT_EQ(outcomes["released"], 3);
    EXPECT_EQ(outcomes["invalid"], 2);
    EXPECT_EQ(invalid_lines, (std::set<std::uint64_t>{3, 7}));
    EXPECT_EQ(mock.stats().requests, 3u);
    EXPECT_NE(r.stderr_text.find("line 3"), std::string::npos) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("1 duplicates"), std::string::npos) << r.stderr_text;
}

TEST(Release, WithoutDeduplicationRepeatsAreSentAndRecordedAgain) {
    mock_server mock;
    temp_dir dir;
    write_file(dir.file("ids.txt"), "d-1\nd-2\nd-1\n");
    const auto r = run_release(dir, client_args(mock, dir.file("ids.txt")) + std::vector<std::string>{"--no-dedup"});
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    EXPECT_EQ(r.journal.size(), 3u);
    auto s = mock.stats();
    EXPECT_EQ(s.requests, 3u);
    EXPECT_EQ(s.released, 2u);
    EXPECT_EQ(s.released_more_than_once, 1u);
}

TEST(Release, UsageErrorsExit2AndSendNothing) {
    mock_server mock;
    temp_dir dir;
    const auto ids = write_ids(dir, "e-", 10);
    struct bad_case {
        std::vector<std::string> args;
        std::map<std::string, std::string> env;
        std::string expect;
    };
    const std::vector<bad_case> cases = {
        {client_args(mock, ids), {{"KOOPHONE_TOKEN", "<unset>"}}, "KOOPHONE_TOKEN"},
        {client_args(mock, dir.file("missing.txt")), {}, "missing.txt"},
        {{"--endpoint", "ftp://x", "--input", ids}, {}, "scheme"},
        {client_args(mock, ids) + std::vector<std::string>{"--rate", "-5"}, {}, "--rate"},
        {client_args(mock, ids) + std::vector<std::string>{"--request-timeout", "5"}, {}, "unit"},
        {client_args(mock, ids) + std::vector<std::string>{"--concurrency", "0"}, {}, "--concurrency"},
        {client_args(mock, ids) + std::vector<std::string>{"--no-such-flag"}, {}, "no-such-flag"},
        {client_args(mock, ids) + std::vector<std::string>{"--output", dir.file("no/such/dir/out.jsonl")}, {}, "--output"},
        {client_args(mock, ids) + std::vector<std::string>{"--token-file", dir.file("nope")}, {}, "--token-file"},
        {client_args(mock, ids), {{"KOOPHONE_TOKEN", "bad\x01token"}}, "token"},
    };
    for (const auto& c : cases) {
        const auto r = run_release(dir, c.args, c.env);
        EXPECT_EQ(r.exit_code, 2) << c.expect << ": " << r.stderr_text;
        EXPECT_NE(r.stderr_text.find(c.expect), std::string::npos) << r.stderr_text;
        EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
    }
    EXPECT_EQ(mock.stats().requests, 0u);
}

TEST(Release, TokenFromFileAndHelpAndVersion) {
    mock_server mock;
    temp_dir dir;
    write_file(dir.file("token"), std::string(test_token) + "\r\n");
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "k-", 20)) +
                                        std::vector<std::string>{"--token-file", dir.file("token")},
                               {{"KOOPHONE_TOKEN", "<unset>"}});
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;

    spawn_options o;
    o.args = {"--version"};
    o.stdout_file = dir.file("version.txt");
    child v(o);
    EXPECT_EQ(v.wait(std::chrono::seconds(10)), 0);
    EXPECT_TRUE(read_file(dir.file("version.txt")).starts_with("koorelease "));
    o.args = {"release", "--help"};
    o.stdout_file = dir.file("help.txt");
    child h(o);
    EXPECT_EQ(h.wait(std::chrono::seconds(10)), 0);
    const auto help = read_file(dir.file("help.txt"));
    for (const char* flag : {"--endpoint", "--input", "--output", "--concurrency", "--rate", "--burst", "--max-attempts",
                             "--connect-timeout", "--request-timeout", "--ca-file", "--insecure", "--token-file",
                             "Exit codes"}) {
        EXPECT_NE(help.find(flag), std::string::npos) << flag;
    }
}

// ---- HTTP/1.1 pipelining (--pipeline) ----

std::uint64_t total_attempts(const std::vector<record>& records) {
    std::uint64_t n = 0;
    for (const auto& rec : records) n += rec.request_ids.size();
    return n;
}

TEST(Pipeline, ReleasesEveryIdOnceWithRequestsSentBackToBack) {
    mock_server mock;
    temp_dir dir;
    const int n = 10'000;
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "p-", n)) +
                                        std::vector<std::string>{"--pipeline", "8", "--concurrency", "8"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    const auto records = parse_journal(r.journal);
    ASSERT_EQ(records.size(), static_cast<std::size_t>(n));
    std::set<std::string> ids, request_ids;
    for (const auto& rec : records) {
        EXPECT_EQ(rec.outcome, "released");
        EXPECT_EQ(rec.attempts, 1u);
        ids.insert(rec.instance_id);
        request_ids.insert(rec.request_ids.begin(), rec.request_ids.end());
    }
    EXPECT_EQ(ids.size(), static_cast<std::size_t>(n));
    EXPECT_EQ(request_ids.size(), static_cast<std::size_t>(n));
    const auto s = mock.stats();
    EXPECT_EQ(s.requests, static_cast<std::uint64_t>(n));
    EXPECT_EQ(s.released, static_cast<std::uint64_t>(n));
    EXPECT_EQ(s.released_more_than_once, 0u);
    EXPECT_EQ(s.request_ids_reused, 0u);
    // The requests really went back to back: the server found most of them already waiting
    // behind an earlier one (a lower bound: it only sees what it has decrypted).
    EXPECT_GT(s.pipelined, static_cast<std::uint64_t>(n / 4)) << s.pipelined;
}

TEST(Pipeline, IsOffByDefault) {
    mock_server mock;
    temp_dir dir;
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "o-", 2'000)));
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    const auto s = mock.stats();
    EXPECT_EQ(s.released, 2'000u);
    EXPECT_EQ(s.pipelined, 0u);  // never a request before the previous answer
}

TEST(Pipeline, ServerClosingMidPipelineLosesNoId) {
    // The server answers three requests per connection, then closes ("Connection: close"):
    // the other five of each pipeline were sent but never read. They must go out again.
    mock_server mock({"--close-every", "3"});
    temp_dir dir;
    const int n = 3'000;
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "c-", n)) +
                                        std::vector<std::string>{"--pipeline", "8", "--concurrency", "4"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    const auto records = parse_journal(r.journal);
    ASSERT_EQ(records.size(), static_cast<std::size_t>(n));
    for (const auto& rec : records) ASSERT_EQ(rec.outcome, "released") << rec.instance_id;
    const auto s = mock.stats();
    EXPECT_EQ(s.requests, static_cast<std::uint64_t>(n));  // each id read by the server once
    EXPECT_EQ(s.released, static_cast<std::uint64_t>(n));
    EXPECT_EQ(s.released_more_than_once, 0u);
    EXPECT_EQ(s.request_ids_reused, 0u);
    // Requests cut off by a close were sent again, each with a fresh request id, and the
    // journal lists them all.
    EXPECT_GT(total_attempts(records), static_cast<std::uint64_t>(n) + n / 4);
}

TEST(Pipeline, ConnectionsLostMidPipelineLoseNoId) {
    mock_server mock({"--drop-rate", "0.03", "--seed", "5"});
    temp_dir dir;
    const int n = 3'000;
    const auto r = run_release(dir, client_args(mock, write_ids(dir, "l-", n)) +
                                        std::vector<std::string>{"--pipeline", "8", "--concurrency", "8"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    const auto records = parse_journal(r.journal);
    ASSERT_EQ(records.size(), static_cast<std::size_t>(n));
    for (const auto& rec : records) ASSERT_EQ(rec.outcome, "released") << rec.instance_id;
    const auto s = mock.stats();
    EXPECT_GT(s.dropped, 30u);  // the faults happened
    EXPECT_EQ(s.released, static_cast<std::uint64_t>(n));
    EXPECT_EQ(s.released_more_than_once, 0u);
}

class ConnectionKiller : public ::testing::TestWithParam<int> {};

TEST_P(ConnectionKiller, AnIdThatKillsEveryConnectionFailsAndTheRunEnds) {
    // "drop-" ids make the mock close the connection unanswered, every time. A lost kept-alive
    // connection is usually the server's idle close and costs no attempt, but not forever.
    mock_server mock;
    temp_dir dir;
    std::string ids;
    for (int i = 0; i < 400; ++i) {
        ids += "k-" + std::to_string(i) + "\n";
        if (i % 100 == 50) ids += "drop-" + std::to_string(i) + "\n";
    }
    write_file(dir.file("ids.txt"), ids);
    const auto r = run_release(dir, client_args(mock, dir.file("ids.txt")) +
                                        std::vector<std::string>{"--pipeline", std::to_string(GetParam()),
                                                                 "--concurrency", "4", "--max-attempts", "3",
                                                                 "--backoff-base", "10ms", "--backoff-cap", "50ms"});
    EXPECT_EQ(r.exit_code, 1) << r.stderr_text;
    const auto records = parse_journal(r.journal);
    ASSERT_EQ(records.size(), 404u);
    int failed = 0;
    for (const auto& rec : records) {
        if (rec.instance_id.starts_with("drop-")) {
            ++failed;
            EXPECT_EQ(rec.outcome, "failed");
            EXPECT_NE(rec.reason.find("connection"), std::string::npos) << rec.reason;
            // Each of the 4 kills at most 3 + 3 connections (--max-attempts, then the free
            // resends); an id can also ride, at no cost, behind another's kill in a pipeline.
            EXPECT_LE(rec.request_ids.size(), 4u * (3u + 3u));
        } else {
            EXPECT_EQ(rec.outcome, "released") << rec.instance_id;
        }
    }
    EXPECT_EQ(failed, 4);
    EXPECT_EQ(mock.stats().released, 400u);
}

INSTANTIATE_TEST_SUITE_P(Depth, ConnectionKiller, ::testing::Values(1, 4));

}  // namespace
}  // namespace koorelease::test
