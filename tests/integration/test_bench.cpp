// `koorelease bench`, the real binary against `koorelease mock` over TLS on loopback: the
// open model shows a server's stalls in the tail, --find-capacity finds a throttling limit,
// and the HTML report renders its charts in headless Chromium.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <regex>

#include "support/mock.hpp"

namespace koorelease::test {
namespace {

struct bench_run {
    int exit_code = -1;
    std::string stdout_text, stderr_text;
};

bench_run run_bench(const temp_dir& dir, std::vector<std::string> args, std::chrono::seconds deadline = std::chrono::seconds(120)) {
    spawn_options o;
    o.args = {"bench", "--quiet"};
    o.args.insert(o.args.end(), args.begin(), args.end());
    o.env["KOOPHONE_TOKEN"] = test_token;
    o.stdout_file = dir.file("bench.out");
    o.stderr_file = dir.file("bench.err");
    child c(o);
    const auto code = c.wait(deadline);
    return {code ? *code : -1, read_file(dir.file("bench.out")), read_file(dir.file("bench.err"))};
}

double ms(simdjson::dom::element e) { return double(e); }

// One open-model run against a mock answering in 20 ms, with every answer due in a 500 ms
// window every 2.5 s held to the window's end: 4 s hold at least one whole window, so 12-25%
// of the requests meet a stall. One test for all its checks, since ctest runs each test in a
// process of its own and the run takes 5 s.
struct stalled_run {
    temp_dir dir;
    bench_run run;
    std::string json;
};

void check_schedule_and_answers(simdjson::dom::element r) {
    EXPECT_EQ(std::uint64_t(r["requests"]["scheduled"]), 800u);
    EXPECT_EQ(std::uint64_t(r["requests"]["sent"]), 800u);
    EXPECT_EQ(std::uint64_t(r["answers_by_kind"]["ok"]), 800u);
    EXPECT_EQ(std::uint64_t(r["answers_by_code"]["200 0"]), 800u);
    EXPECT_DOUBLE_EQ(double(r["intended_rate"]), 200.0);
    // 128 connections cover a stall's backlog (100 requests): sends keep to the schedule.
    EXPECT_GT(double(r["achieved_rate"]), 190.0);
    EXPECT_EQ(simdjson::dom::array(r["per_second"]).size(), 4u);
}

void check_latency(simdjson::dom::element r) {
    const auto latency = r["latency_ms"];
    // 20 ms to 3 significant digits, plus a loopback and sanitizer allowance.
    EXPECT_GE(ms(latency["p50"]), 20.0);
    EXPECT_LE(ms(latency["p50"]), 35.0);
    // A request arriving as a stall begins waits ~500 ms; at least 12% of them meet one.
    EXPECT_GE(ms(latency["p99.9"]), 400.0);
    EXPECT_GE(ms(latency["p99"]), 300.0);
    EXPECT_LE(ms(latency["max"]), 700.0);
    EXPECT_GE(ms(latency["max"]), ms(latency["p99.99"]));
}

void check_text_and_secrets(const stalled_run& s) {
    EXPECT_NE(s.run.stdout_text.find("200 req/s for 4.0 s, 128 connections, retries off"), std::string::npos) << s.run.stdout_text;
    EXPECT_NE(s.run.stdout_text.find("intended 200.0/s, achieved"), std::string::npos);
    EXPECT_TRUE(std::regex_search(s.run.stdout_text, std::regex("p99\\.9 [0-9.]+ ms")));
    for (const std::string* text : {&s.run.stdout_text, &s.run.stderr_text, &s.json}) {
        EXPECT_EQ(text->find(test_token), std::string::npos);
    }
    EXPECT_EQ(read_file(s.dir.file("report.html")).find(test_token), std::string::npos);
}

// The points of an SVG polyline of class `cls` in the DOM Chromium dumped, -1 if missing.
long polyline_points(const std::string& dom, const std::string& cls) {
    std::smatch m;
    if (!std::regex_search(dom, m, std::regex("<polyline class=\"" + cls + "\" points=\"([^\"]*)\""))) return -1;
    const std::string points = m[1];
    return static_cast<long>(std::count(points.begin(), points.end(), ','));
}

// Opens the HTML report in headless Chromium and checks that its script drew every chart.
void check_html_renders(const stalled_run& s, simdjson::dom::element r) {
    temp_dir profile;
    spawn_options o;
    o.program = "/usr/bin/chromium";
    o.args = {"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--user-data-dir=" + profile.path(), "--virtual-time-budget=5000", "--dump-dom",
              "file://" + s.dir.file("report.html")};
    o.stdout_file = s.dir.file("dom.html");
    o.stderr_file = s.dir.file("chromium.err");
    const auto code = child(o).wait(std::chrono::seconds(60));
    ASSERT_EQ(code, 0) << read_file(s.dir.file("chromium.err"));
    const std::string dom = read_file(s.dir.file("dom.html"));
    ASSERT_NE(dom.find("data-rendered=\"yes\""), std::string::npos) << "the page's script did not finish";

    long seconds_with_answers = 0, bars = 0, spectrum_points = 0;
    for (simdjson::dom::element second : simdjson::dom::array(r["per_second"])) {
        if (std::uint64_t(second["count"]) > 0) ++seconds_with_answers;
        for (auto [kind, n] : simdjson::dom::object(second["answers"])) bars += std::uint64_t(n) > 0;
    }
    for (simdjson::dom::element p : simdjson::dom::array(r["spectrum"])) spectrum_points += double(p.at(0)) < 100;
    // Latency over time: p50, p99 and max, a point per second.
    for (const char* cls : {"p50", "p99", "max"}) EXPECT_EQ(polyline_points(dom, cls), seconds_with_answers) << cls;
    // The spectrum: a point per percentile below 100.
    EXPECT_EQ(polyline_points(dom, "spectrum"), spectrum_points);
    EXPECT_GT(spectrum_points, 30);
    // Answers per second by kind: a bar per second and kind with answers.
    std::smatch m;
    ASSERT_TRUE(std::regex_search(dom, m, std::regex("data-bars=\"([0-9]+)\"")));
    EXPECT_EQ(std::stol(m[1]), bars);
    const std::string rect = "<rect class=\"bar kind-ok\"";
    long rects = 0;
    for (auto at = dom.find(rect); at != std::string::npos; at = dom.find(rect, at + 1)) ++rects;
    EXPECT_EQ(rects, bars);
}

TEST(BenchOpenModel, StallsShowInTheTailAndTheReportsSayIt) {
    stalled_run s;
    {
        mock_server mock({"--latency", "20ms", "--stall", "500ms", "--stall-every", "2500ms", "--no-track-ids"});
        s.run = run_bench(s.dir, {"--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--rate", "200",
                                  "--duration", "4s", "--connections", "128", "--json", s.dir.file("report.json"),
                                  "--html", s.dir.file("report.html")});
    }
    ASSERT_EQ(s.run.exit_code, 0) << s.run.stderr_text << s.run.stdout_text;
    s.json = read_file(s.dir.file("report.json"));
    simdjson::dom::parser parser;
    simdjson::dom::element r = parser.parse(s.json);
    check_schedule_and_answers(r);
    check_latency(r);
    check_text_and_secrets(s);
    if (::access("/usr/bin/chromium", X_OK) != 0) GTEST_SKIP() << "/usr/bin/chromium is not installed: the HTML report was not rendered";
    check_html_renders(s, r);
}

// A mock throttling at 300 requests a second (fixed one-second windows, like the gateway):
// steps of 2 s from 200 req/s, 1 s apart so that no window holds two steps. 200 holds, 400
// does not (25% throttled), 300 holds, 350 does not: 4 steps, 12 s.
TEST(BenchFindCapacity, FindsTheThrottlingLimit) {
    temp_dir dir;
    mock_server mock({"--throttle-rps", "300", "--no-track-ids"});
    const auto run = run_bench(dir, {"--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--find-capacity",
                                     "--p99", "250ms", "--max-errors", "1%", "--start-rate", "200",
                                     "--step-duration", "2s", "--step-pause", "1s", "--precision", "10%",
                                     "--max-steps", "4", "--json", dir.file("capacity.json")});
    ASSERT_EQ(run.exit_code, 0) << run.stderr_text << run.stdout_text;
    simdjson::dom::parser parser;
    simdjson::dom::element r = parser.parse(read_file(dir.file("capacity.json")));
    const double capacity = double(r["capacity"]["highest_held"]);
    EXPECT_GE(capacity, 250.0) << run.stdout_text;
    EXPECT_LE(capacity, 330.0) << run.stdout_text;
    // The evidence: a step above the limit failed on throttling, not on latency.
    bool throttled_step = false;
    for (simdjson::dom::element s : simdjson::dom::array(r["capacity"]["steps"])) {
        if (!bool(s["held"]) && std::uint64_t(s["answers"]["throttled"]) > 0 && double(s["rate"]) > 300) throttled_step = true;
    }
    EXPECT_TRUE(throttled_step) << run.stdout_text;
    EXPECT_NE(run.stdout_text.find("capacity: "), std::string::npos);
}

TEST(BenchOptions, BadFlagsSayWhatIsWrongInOneLineAndExit2) {
    temp_dir dir;
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--rate", "10", "--duration", "5"},
             {"--duration", "1s"},
             {"--rate", "10", "--find-capacity", "--max-errors", "lots"},
             {"--rate", "10", "--connections", "0"},
             {"--rate", "10", "--ids", dir.file("missing.txt")},
             {"--rate", "10", "--json", dir.file("no/such/dir/r.json")},
         }) {
        const auto run = run_bench(dir, args, std::chrono::seconds(20));
        EXPECT_EQ(run.exit_code, 2) << args[0] << " " << args[1] << ": " << run.stderr_text;
        EXPECT_EQ(std::count(run.stderr_text.begin(), run.stderr_text.end(), '\n'), 1) << run.stderr_text;
        EXPECT_EQ(run.stdout_text, "");
    }
}

TEST(BenchOptions, AnUnreachableEndpointStopsTheRunWithExit3) {
    temp_dir dir;
    // Nothing listens on port 1: every connect is refused at once.
    const auto run = run_bench(dir, {"--endpoint", "https://127.0.0.1:1", "--rate", "50", "--duration", "2s",
                                     "--connections", "2", "--json", dir.file("r.json")});
    EXPECT_EQ(run.exit_code, 3) << run.stderr_text << run.stdout_text;
    EXPECT_NE(run.stdout_text.find("stopped early: cannot connect to https://127.0.0.1:1"), std::string::npos) << run.stdout_text;
    EXPECT_NE(read_file(dir.file("r.json")).find("\"stopped_by\":\"cannot connect"), std::string::npos);
}

// Retries are off by default; --retry resends what failed and says how often.
TEST(BenchRetry, RetryResendsFailedRequestsOnlyWhenAsked) {
    temp_dir dir;
    mock_server mock({"--fail-rate", "0.3", "--seed", "7", "--no-track-ids"});
    simdjson::dom::parser parser;
    for (const bool retry : {false, true}) {
        std::vector<std::string> args{"--endpoint", mock.url(), "--ca-file", mock.ca_file(), "--rate", "200",
                                      "--duration", "1s", "--connections", "16", "--json", dir.file("r.json")};
        if (retry) args.insert(args.end(), {"--retry", "--max-attempts", "5"});
        const auto run = run_bench(dir, args);
        ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
        simdjson::dom::element r = parser.parse(read_file(dir.file("r.json")));
        const auto errors = std::uint64_t(r["answers_by_kind"]["server_error"]);
        const auto retries = std::uint64_t(r["requests"]["retries"]);
        EXPECT_EQ(std::uint64_t(r["requests"]["sent"]), 200u);
        if (!retry) {
            // 30% failing: 60 expected, far from 20 and 100 (binomial sd 6.5).
            EXPECT_GT(errors, 20u);
            EXPECT_LT(errors, 100u);
            EXPECT_EQ(retries, 0u);
        } else {
            // Five attempts each: 0.3^5 = 0.2% still failing.
            EXPECT_LT(errors, 10u);
            EXPECT_GT(retries, 20u);
        }
    }
}

}  // namespace
}  // namespace koorelease::test
