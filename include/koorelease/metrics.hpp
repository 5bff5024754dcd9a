#pragma once
// A run's metrics in the Prometheus text exposition format (0.0.4): written to a file for the
// node_exporter textfile collector (--metrics-file) and pushed to a Pushgateway at the end of
// the run (--pushgateway), the two Prometheus conventions for batch jobs.
#include "koorelease/atomic_file.hpp"
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "koorelease/engine.hpp"

namespace koorelease {

struct run_times {
    double start_s = 0;            // Unix time the run started, in seconds
    double now_s = 0;              // Unix time of this exposition (duration = now_s - start_s)
    std::optional<int> exit_code;  // set once the run has ended (now_s is then its end)
};

// Upper bounds (`le`, seconds) of koorelease_request_duration_seconds' buckets.
inline constexpr double latency_bucket_bounds_s[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,    1,     2.5,  5,     10,   30};

// The exposition of a run: counters so far, the latency histogram, and the start time; once
// the run has ended (`t.exit_code` set) its end time, exit code and, when the exit code is 0,
// koorelease_last_success_timestamp_seconds.
std::string format_metrics(const run_summary& s, const run_times& t);

// A label value escaped for the exposition: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);


// When to rewrite the metrics file during a run: at the first call, then whenever
// `interval_s` of the run's time has passed since the last rewrite.
class rewrite_schedule {
public:
    explicit rewrite_schedule(double interval_s) : interval_s_(interval_s) {}
    bool due(double elapsed_s) {
        if (last_s_ && elapsed_s - *last_s_ < interval_s_) return false;
        last_s_ = elapsed_s;
        return true;
    }

private:
    double interval_s_;
    std::optional<double> last_s_;
};

// Where to push: a Pushgateway's base URL and the grouping key (job, then labels in order;
// `instance` is one of them).
struct push_target {
    std::string url;  // http:// or https://host[:port][/prefix]
    std::string job = "koorelease";
    std::vector<std::pair<std::string, std::string>> labels;
};

// Whether `name` is a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting "__").
bool is_label_name(std::string_view name);

// The Pushgateway path of a grouping key: /metrics/job/<job>/<name>/<value>... A value that is
// not plain ([A-Za-z0-9._~-]+) is written base64url-encoded with the `@base64` suffix on its
// name, as the Pushgateway documents (so '/' and the empty value are fine).
std::string pushgateway_path(const push_target& target);

// POSTs `body` to the Pushgateway (POST replaces the metrics of the same names in the group
// and keeps the others, so koorelease_last_success_timestamp_seconds of an earlier run stays
// when this one failed). Returns "" on a 2xx answer, else one line saying what went wrong.
std::string push_metrics(const push_target& target, std::string_view body, const std::string& ca_file,
                         bool insecure, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Where to push, from --pushgateway URL, --push-job, --push-instance (empty: the host name) and
// --push-label name=value (repeatable). Returns "" or a one-line error saying what to fix.
std::string make_push_target(const std::string& url, const std::string& job, const std::string& instance,
                             const std::vector<std::string>& labels, push_target& out);

// What --metrics-file and --pushgateway do over a run: the file written at start (zero
// counters: this checks that it can be written), rewritten from the progress hook every
// `interval_s` and at the end; then the push. Does nothing when neither is asked for.
class run_metrics {
public:
    run_metrics() = default;
    run_metrics(std::string file, std::optional<push_target> push, std::string ca_file, bool insecure,
                double interval_s = 5.0);

    // Takes the run's start time and writes the file; "" or the error.
    std::string start();
    // From run_hooks::on_progress: rewrites the file when due. Returns a warning when the
    // rewrite failed with an error not reported yet, else "".
    std::string on_progress(const progress_snapshot& p);
    // At the end: the final file, then the push. Returns warnings (none: all went well); a
    // failed write or push does not change the run's exit code.
    std::vector<std::string> finish(const run_summary& s);

private:
    std::string file_;
    std::optional<push_target> push_;
    std::string ca_file_;
    bool insecure_ = false;
    rewrite_schedule schedule_{5.0};
    double start_s_ = 0;
    std::string last_error_;
};

}  // namespace koorelease
