// --summary-file: the summary as one JSON object, written atomically.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cli/summary_json.hpp"
#include "koorelease/atomic_file.hpp"

namespace koorelease::cli {
namespace {

using namespace std::chrono;

run_summary sample() {
    run_summary s;
    s.ids = 10;
    s.released = 7;
    s.failed = 2;
    s.invalid = 1;
    s.duplicates = 3;
    s.requests = 14;
    s.retries = 4;
    s.throttled = 1;
    s.connections_opened = 5;
    s.tls_resumed = 4;
    s.elapsed_s = 2.0;
    s.input_complete = true;
    s.answers_by_code["200 0"] = 7;
    s.answers_by_code["500 KOOPHONE.API.9999"] = 6;
    s.answers_by_code["400 \"odd\xff"] = 1;
    s.failures_by_reason["retries exhausted: 500 KOOPHONE.API.9999"] = 2;
    for (int i = 1; i <= 100; ++i) s.latency.record_us(static_cast<std::uint64_t>(i) * 1000);
    return s;
}

const system_clock::time_point start =
    system_clock::time_point(seconds(1'795'000'000)) + milliseconds(123);

TEST(SummaryJson, EveryFieldParses) {
    const auto text = summary_json(sample(), start, start + milliseconds(2500));
    ASSERT_EQ(text.back(), '\n');
    ASSERT_EQ(text.find('\n'), text.size() - 1);  // one line
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS) << text;
    EXPECT_EQ(std::string_view(doc["started_at"]), "2026-11-18T11:06:40.123Z");
    EXPECT_EQ(std::string_view(doc["finished_at"]), "2026-11-18T11:06:42.623Z");
    EXPECT_EQ(std::uint64_t(doc["exit_code"]), 1u);
    EXPECT_EQ(std::uint64_t(doc["ids"]), 10u);
    EXPECT_EQ(std::uint64_t(doc["released"]), 7u);
    EXPECT_EQ(std::uint64_t(doc["failed"]), 2u);
    EXPECT_EQ(std::uint64_t(doc["invalid"]), 1u);
    EXPECT_EQ(std::uint64_t(doc["duplicates"]), 3u);
    EXPECT_EQ(std::uint64_t(doc["requests"]), 14u);
    EXPECT_EQ(std::uint64_t(doc["retries"]), 4u);
    EXPECT_EQ(std::uint64_t(doc["throttled"]), 1u);
    EXPECT_EQ(std::uint64_t(doc["connections_opened"]), 5u);
    EXPECT_EQ(std::uint64_t(doc["tls_resumed"]), 4u);
    EXPECT_DOUBLE_EQ(double(doc["requests_per_second"]), 7.0);
    EXPECT_EQ(std::uint64_t(doc["latency_ms"]["count"]), 100u);
    EXPECT_NEAR(double(doc["latency_ms"]["p50"]), 50.0, 0.5);
    EXPECT_NEAR(double(doc["latency_ms"]["p99"]), 99.0, 1.0);
    EXPECT_NEAR(double(doc["latency_ms"]["max"]), 100.0, 1e-9);
    EXPECT_EQ(std::uint64_t(doc["answers_by_code"]["200 0"]), 7u);
    EXPECT_EQ(std::uint64_t(doc["answers_by_code"]["500 KOOPHONE.API.9999"]), 6u);
    EXPECT_EQ(std::uint64_t(doc["answers_by_code"]["400 \"odd?"]), 1u);
    EXPECT_EQ(std::uint64_t(doc["failures_by_reason"]["retries exhausted: 500 KOOPHONE.API.9999"]),
              2u);
    EXPECT_TRUE(bool(doc["input_complete"]));
    EXPECT_TRUE(doc["stopped_by"].is_null());
}

TEST(SummaryJson, AStoppedRunSaysWhy) {
    auto s = sample();
    s.stopped_by = run_error::token_rejected;
    s.stop_detail = "401 APIG.0307";
    s.aborted = 3;
    const auto text = summary_json(s, start, start);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS) << text;
    EXPECT_EQ(std::uint64_t(doc["exit_code"]), 3u);
    EXPECT_EQ(std::string_view(doc["stopped_by"]), "token_rejected");
    EXPECT_EQ(std::string_view(doc["stop_detail"]), "401 APIG.0307");
    EXPECT_FALSE(std::string_view(doc["stop_message"]).empty());
    EXPECT_EQ(std::uint64_t(doc["aborted"]), 3u);
}

TEST(SummaryJson, AnEmptyRunIsValidJson) {
    const auto text = summary_json(run_summary{}, start, start);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS) << text;
    EXPECT_EQ(std::uint64_t(doc["requests"]), 0u);
    EXPECT_EQ(double(doc["requests_per_second"]), 0.0);
}

struct scratch_dir {
    std::string path;
    scratch_dir() {
        const char* tmp = std::getenv("TMPDIR");
        path = std::string(tmp != nullptr ? tmp : "/tmp") + "/koorelease-summary-XXXXXX";
        if (::mkdtemp(path.data()) == nullptr) path.clear();
    }
    ~scratch_dir() {
        if (!path.empty()) (void)std::system(("rm -rf '" + path + "'").c_str());
    }
};

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(SummaryFile, ReplacedAtomicallyWithNoTemporaryLeftBehind) {
    scratch_dir dir;
    ASSERT_FALSE(dir.path.empty());
    const auto path = dir.path + "/summary.json";
    ASSERT_EQ(write_file_atomically(path, "{\"a\":1}\n"), "");
    ASSERT_EQ(write_file_atomically(path, "{\"a\":2}\n"), "");
    EXPECT_EQ(slurp(path), "{\"a\":2}\n");
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    EXPECT_EQ(std::system(("test $(ls -A '" + dir.path + "' | wc -l) -eq 1").c_str()), 0);
}

TEST(SummaryFile, AMissingDirectoryIsAClearError) {
    std::string error = write_file_atomically("/nonexistent-dir/summary.json", "{}");
    EXPECT_NE(error.find("/nonexistent-dir/summary.json"), std::string::npos) << error;
    error.clear();
    EXPECT_FALSE(can_create_file("/nonexistent-dir/summary.json", error));
    EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
    error.clear();
    EXPECT_TRUE(can_create_file("summary.json", error)) << error;  // the current directory
}

}  // namespace
}  // namespace koorelease::cli
