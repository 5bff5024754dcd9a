// The metrics exposition (golden text), the atomic file writer, the rewrite schedule and the
// Pushgateway path: no sockets.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "koorelease/metrics.hpp"

namespace koorelease {
namespace {

run_summary sample_summary() {
    run_summary s;
    s.released = 3;
    s.failed = 2;
    s.invalid = 1;
    s.aborted = 0;
    s.not_sent = 0;
    s.duplicates = 4;
    s.already_final = 0;
    s.requests = 8;
    s.retries = 2;
    s.throttled = 1;
    s.answers_by_code = {{"200 0", 3},
                         {"200 KOOPHONE.API.4001", 1},
                         {"429 APIG.0308", 1},
                         {"502 a\"b\\c\nd", 1},
                         {"no answer no complete answer within --request-timeout", 2}};
    for (const std::uint64_t us : {500u, 1000u, 3000u, 20000u, 2000000u}) s.latency.record_us(us);
    return s;
}

constexpr const char* golden_head =
    "# HELP koorelease_run_start_timestamp_seconds Unix time the run started.\n"
    "# TYPE koorelease_run_start_timestamp_seconds gauge\n"
    "koorelease_run_start_timestamp_seconds 1795780800.25\n"
    "# HELP koorelease_run_duration_seconds Seconds the run has taken so far (all of it once ended).\n"
    "# TYPE koorelease_run_duration_seconds gauge\n"
    "koorelease_run_duration_seconds 12.5\n";

constexpr const char* golden_end =
    "# HELP koorelease_run_end_timestamp_seconds Unix time the run ended.\n"
    "# TYPE koorelease_run_end_timestamp_seconds gauge\n"
    "koorelease_run_end_timestamp_seconds 1795780812.75\n"
    "# HELP koorelease_run_exit_code Exit code of the run: 0 all released, 1 some failed or invalid, 3 aborted, 4 interrupted.\n"
    "# TYPE koorelease_run_exit_code gauge\n";

constexpr const char* golden_success =
    "# HELP koorelease_last_success_timestamp_seconds Unix time a run ended with every id released (exit code 0).\n"
    "# TYPE koorelease_last_success_timestamp_seconds gauge\n"
    "koorelease_last_success_timestamp_seconds 1795780812.75\n";

constexpr const char* golden_body =
    "# HELP koorelease_ids_total Ids by outcome: released, failed, invalid (input lines), aborted (sent, outcome "
    "unknown), not_sent (read, never sent: the run stopped), duplicate (repeats, released once), already_final (in "
    "the journal already: --resume).\n"
    "# TYPE koorelease_ids_total counter\n"
    "koorelease_ids_total{outcome=\"released\"} 3\n"
    "koorelease_ids_total{outcome=\"failed\"} 2\n"
    "koorelease_ids_total{outcome=\"invalid\"} 1\n"
    "koorelease_ids_total{outcome=\"aborted\"} 0\n"
    "koorelease_ids_total{outcome=\"not_sent\"} 0\n"
    "koorelease_ids_total{outcome=\"duplicate\"} 4\n"
    "koorelease_ids_total{outcome=\"already_final\"} 0\n"
    "# HELP koorelease_requests_total Requests sent (attempts, retries included).\n"
    "# TYPE koorelease_requests_total counter\n"
    "koorelease_requests_total 8\n"
    "# HELP koorelease_retries_total Requests that were retries.\n"
    "# TYPE koorelease_retries_total counter\n"
    "koorelease_retries_total 2\n"
    "# HELP koorelease_throttled_total Throttled answers (429 or APIG.0308).\n"
    "# TYPE koorelease_throttled_total counter\n"
    "koorelease_throttled_total 1\n"
    "# HELP koorelease_answers_total Answers by HTTP status and the body's error_code (\"-\": no error_code in the "
    "body).\n"
    "# TYPE koorelease_answers_total counter\n"
    "koorelease_answers_total{status=\"200\",error_code=\"0\"} 3\n"
    "koorelease_answers_total{status=\"200\",error_code=\"KOOPHONE.API.4001\"} 1\n"
    "koorelease_answers_total{status=\"429\",error_code=\"APIG.0308\"} 1\n"
    "koorelease_answers_total{status=\"502\",error_code=\"a\\\"b\\\\c\\nd\"} 1\n"
    "# HELP koorelease_unanswered_requests_total Requests that got no answer, by why.\n"
    "# TYPE koorelease_unanswered_requests_total counter\n"
    "koorelease_unanswered_requests_total{reason=\"no complete answer within --request-timeout\"} 2\n"
    "# HELP koorelease_request_duration_seconds Time from sending a request to its whole answer, of answered "
    "requests.\n"
    "# TYPE koorelease_request_duration_seconds histogram\n"
    "koorelease_request_duration_seconds_bucket{le=\"0.001\"} 2\n"
    "koorelease_request_duration_seconds_bucket{le=\"0.0025\"} 2\n"
    "koorelease_request_duration_seconds_bucket{le=\"0.005\"} 3\n"
    "koorelease_request_duration_seconds_bucket{le=\"0.01\"} 3\n"
    "koorelease_request_duration_seconds_bucket{le=\"0.025\"} 4\n"
    "koorelease_request_duration_seconds_bucket{le=\"0.05\"} 4\n"
    "koorelease_request_duration_seconds_bucket{le=\"0.1\"} 4\n"
    "koorelease_request_duration_seconds_bucket{le=\"0.25\"} 4\n"
    "koorelease_request_duration_seconds_bucket{le=\"0.5\"} 4\n"
    "koorelease_request_duration_seconds_bucket{le=\"1\"} 4\n"
    "koorelease_request_duration_seconds_bucket{le=\"2.5\"} 5\n"
    "koorelease_request_duration_seconds_bucket{le=\"5\"} 5\n"
    "koorelease_request_duration_seconds_bucket{le=\"10\"} 5\n"
    "koorelease_request_duration_seconds_bucket{le=\"30\"} 5\n"
    "koorelease_request_duration_seconds_bucket{le=\"+Inf\"} 5\n"
    "koorelease_request_duration_seconds_sum 2.0245\n"
    "koorelease_request_duration_seconds_count 5\n";

TEST(Metrics, MidRunHasNoEndExitCodeOrSuccessTime) {
    const run_times t{1795780800.25, 1795780812.75, std::nullopt};
    EXPECT_EQ(format_metrics(sample_summary(), t), std::string(golden_head) + golden_body);
}

TEST(Metrics, ExitZeroAddsEndAndLastSuccessTime) {
    const run_times t{1795780800.25, 1795780812.75, 0};
    EXPECT_EQ(format_metrics(sample_summary(), t),
              std::string(golden_head) + golden_end + "koorelease_run_exit_code 0\n" + golden_success + golden_body);
}

TEST(Metrics, FailedRunHasNoLastSuccessTime) {
    for (const int code : {1, 3, 4}) {
        const run_times t{1795780800.25, 1795780812.75, code};
        EXPECT_EQ(format_metrics(sample_summary(), t), std::string(golden_head) + golden_end +
                                                           "koorelease_run_exit_code " + std::to_string(code) +
                                                           "\n" + golden_body);
    }
}

TEST(Metrics, EmptyRunHasEmptyFamiliesAndZeroBuckets) {
    const auto text = format_metrics(run_summary{}, run_times{100, 100, std::nullopt});
    EXPECT_NE(text.find("# TYPE koorelease_answers_total counter\n# HELP koorelease_unanswered"), std::string::npos);
    EXPECT_NE(text.find("koorelease_request_duration_seconds_bucket{le=\"+Inf\"} 0\n"), std::string::npos);
    EXPECT_NE(text.find("koorelease_request_duration_seconds_sum 0\n"), std::string::npos);
    EXPECT_NE(text.find("koorelease_run_duration_seconds 0\n"), std::string::npos);
}

TEST(Metrics, TimesAreToTheMillisecond) {
    const auto text = format_metrics(run_summary{}, run_times{1795792962.9915707, 1795792963.0987463, 0});
    EXPECT_NE(text.find("koorelease_run_start_timestamp_seconds 1795792962.992\n"), std::string::npos) << text;
    EXPECT_NE(text.find("koorelease_run_end_timestamp_seconds 1795792963.099\n"), std::string::npos) << text;
    EXPECT_NE(text.find("koorelease_last_success_timestamp_seconds 1795792963.099\n"), std::string::npos) << text;
    EXPECT_NE(text.find("koorelease_run_duration_seconds 0.107\n"), std::string::npos) << text;
}

TEST(Metrics, LabelValuesAreEscaped) {
    EXPECT_EQ(escape_label_value("plain"), "plain");
    EXPECT_EQ(escape_label_value("a\"b"), "a\\\"b");
    EXPECT_EQ(escape_label_value("a\\b"), "a\\\\b");
    EXPECT_EQ(escape_label_value("a\nb"), "a\\nb");
    EXPECT_EQ(escape_label_value(""), "");
    EXPECT_EQ(escape_label_value("\\\"\n"), "\\\\\\\"\\n");
}

TEST(Metrics, HistogramBucketsCountValuesAtOrBelowTheBound) {
    latency_histogram h;
    EXPECT_EQ(h.count_up_to_us(1000), 0u);
    for (std::uint64_t us = 1; us <= 200; ++us) h.record_us(us);
    EXPECT_EQ(h.count_up_to_us(0), 0u);
    EXPECT_EQ(h.count_up_to_us(1), 1u);
    EXPECT_EQ(h.count_up_to_us(127), 127u);  // exact below 128 us
    EXPECT_EQ(h.count_up_to_us(200), 200u);
    EXPECT_EQ(h.count_up_to_us(1'000'000), 200u);
    // Above 128 us a bucket spans 2^k values: 129 is in the bucket [128, 129].
    EXPECT_EQ(h.count_up_to_us(128), 129u);
    EXPECT_DOUBLE_EQ(h.sum_us(), 200.0 * 201 / 2);
}

TEST(MetricsSchedule, FirstCallThenEveryInterval) {
    rewrite_schedule s(5.0);
    EXPECT_TRUE(s.due(0.2));
    EXPECT_FALSE(s.due(0.4));
    EXPECT_FALSE(s.due(5.1));
    EXPECT_TRUE(s.due(5.2));
    EXPECT_FALSE(s.due(10.1));
    EXPECT_TRUE(s.due(10.25));
    EXPECT_TRUE(s.due(30));
}

class AtomicWrite : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/koorelease-metrics-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    static std::string read(const std::string& path) {
        std::ifstream in(path);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }
    std::string dir_;
};

TEST_F(AtomicWrite, ReplacesTheFileAndLeavesNoTemporary) {
    const auto path = dir_ + "/koorelease.prom";
    EXPECT_EQ(write_file_atomically(path, "a 1\n"), "");
    EXPECT_EQ(read(path), "a 1\n");
    EXPECT_EQ(write_file_atomically(path, "b 2\n"), "");
    EXPECT_EQ(read(path), "b 2\n");
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++files;
    EXPECT_EQ(files, 1u);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);  // readable by node_exporter
}

TEST_F(AtomicWrite, MissingDirectoryIsAnErrorNamingTheFile) {
    const auto path = dir_ + "/no/such/dir/koorelease.prom";
    const auto error = write_file_atomically(path, "a 1\n");
    EXPECT_NE(error.find(path), std::string::npos) << error;
    EXPECT_NE(error.find("No such file"), std::string::npos) << error;
}

TEST(Pushgateway, PathHasJobAndLabelsInOrder) {
    push_target t;
    t.labels = {{"instance", "host-1"}, {"env", "prod"}};
    EXPECT_EQ(pushgateway_path(t), "/metrics/job/koorelease/instance/host-1/env/prod");
    t.job = "nightly_release";
    t.labels.clear();
    EXPECT_EQ(pushgateway_path(t), "/metrics/job/nightly_release");
}

TEST(Pushgateway, ValuesThatAreNotPlainAreBase64Url) {
    push_target t;
    t.job = "a/b";  // base64url of "a/b" is YS9i
    t.labels = {{"instance", ""}, {"path", "/var/tmp"}, {"x", "?" "?>"}};
    // "/var/tmp" -> L3Zhci90bXA= ; "?" "?>" -> Pz8- (base64url: a minus for the plus)
    EXPECT_EQ(pushgateway_path(t), "/metrics/job@base64/YS9i/instance@base64/=/path@base64/L3Zhci90bXA=/x@base64/Pz8-");
}

TEST(Pushgateway, LabelNames) {
    EXPECT_TRUE(is_label_name("instance"));
    EXPECT_TRUE(is_label_name("_a1"));
    EXPECT_TRUE(is_label_name("Env_2"));
    EXPECT_FALSE(is_label_name(""));
    EXPECT_FALSE(is_label_name("1a"));
    EXPECT_FALSE(is_label_name("__name"));
    EXPECT_FALSE(is_label_name("a-b"));
    EXPECT_FALSE(is_label_name("a.b"));
}

TEST(Pushgateway, TargetFromOptions) {
    push_target t;
    EXPECT_EQ(make_push_target("http://127.0.0.1:9091", "nightly", "box-1", {"env=prod", "team=a=b", "empty="}, t), "");
    EXPECT_EQ(t.url, "http://127.0.0.1:9091");
    EXPECT_EQ(t.job, "nightly");
    const std::vector<std::pair<std::string, std::string>> labels = {
        {"instance", "box-1"}, {"env", "prod"}, {"team", "a=b"}, {"empty", ""}};
    EXPECT_EQ(t.labels, labels);
    // The instance defaults to the host name.
    EXPECT_EQ(make_push_target("https://gw.example", "koorelease", "", {}, t), "");
    ASSERT_EQ(t.labels.size(), 1u);
    EXPECT_EQ(t.labels[0].first, "instance");
    EXPECT_FALSE(t.labels[0].second.empty());
}

TEST(Pushgateway, BadOptionsSayWhatToFix) {
    push_target t;
    const auto error_of = [&](const std::string& url, const std::string& job, std::vector<std::string> labels) {
        return make_push_target(url, job, "h", labels, t);
    };
    EXPECT_NE(error_of("gw:9091", "j", {}).find("--pushgateway"), std::string::npos);
    EXPECT_NE(error_of("http://gw", "", {}).find("--push-job must not be empty"), std::string::npos);
    EXPECT_NE(error_of("http://gw", "j", {"env"}).find("--push-label 'env' is not name=value"), std::string::npos);
    EXPECT_NE(error_of("http://gw", "j", {"1x=a"}).find("is not name=value"), std::string::npos);
    EXPECT_NE(error_of("http://gw", "j", {"=a"}).find("is not name=value"), std::string::npos);
    EXPECT_NE(error_of("http://gw", "j", {"job=x"}).find("set job with --push-job"), std::string::npos);
    EXPECT_NE(error_of("http://gw", "j", {"instance=x"}).find("set instance with --push-instance"), std::string::npos);
    EXPECT_NE(error_of("http://gw", "j", {"a=1", "a=2"}).find("given twice"), std::string::npos);
}

TEST(Pushgateway, BadUrlIsReportedNotThrown) {
    push_target t;
    t.url = "ftp://example";
    const auto error = push_metrics(t, "a 1\n", "", false);
    EXPECT_NE(error.find("https:// or http://"), std::string::npos) << error;
}

}  // namespace
}  // namespace koorelease
