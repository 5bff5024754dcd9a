// `koorelease bench`: an open-model load test of the release API (or a gateway in front of
// it), with latency measured from each request's intended send time, and a capacity search.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "bench/load_runner.hpp"
#include "commands.hpp"
#include "koorelease/atomic_file.hpp"
#include "koorelease/bench/capacity_search.hpp"
#include "koorelease/bench/report.hpp"
#include "koorelease/duration.hpp"
#include "koorelease/json_text.hpp"

namespace koorelease::cli {

namespace {

struct bench_options {
    std::string endpoint = "https://koophone.myhuaweicloud.com";
    double rate = 0;
    double ramp_from = -1;  // < 0: constant rate
    std::string duration = "60s";
    std::string ids_file;
    std::uint64_t synthetic = 10'000;
    std::uint32_t connections = 64;
    std::string token_file;
    std::string ca_file;
    bool insecure = false;
    std::string connect_timeout = "5s";
    std::string request_timeout = "10s";
    bool retry = false;
    std::uint32_t max_attempts = 3;
    std::string json_file;
    std::string html_file;
    bool quiet = false;
    bool find_capacity = false;
    std::string p99 = "250ms";
    std::string max_errors = "1%";
    double start_rate = 50;
    double max_rate = 100'000;
    std::string step_duration = "10s";
    std::string step_pause = "2s";
    std::string precision = "5%";
    std::uint32_t max_steps = 30;
};

[[noreturn]] void usage_error(const std::string& message) { throw CLI::ValidationError(message); }

std::chrono::nanoseconds duration_of(const std::string& name, const std::string& text) {
    const auto d = parse_duration(text);
    if (!d || d->count() == 0) usage_error(name + " '" + text + "' is not a duration above 0: write e.g. 250ms, 10s, 2m");
    return *d;
}

// "1%" or "0.01": a share from 0 to 1.
double share_of(const std::string& name, const std::string& text) {
    try {
        std::size_t used = 0;
        double v = std::stod(text, &used);
        if (used < text.size() && text.substr(used) == "%") {
            v /= 100;
        } else if (used != text.size()) {
            throw std::invalid_argument(text);
        }
        if (v < 0 || v > 1 || !std::isfinite(v)) throw std::out_of_range(text);
        return v;
    } catch (const std::exception&) {
        usage_error(name + " '" + text + "' is not a share: write e.g. 1% or 0.01");
    }
}

std::vector<std::string> read_ids(const std::string& path) {
    std::ifstream in(path);
    if (!in) usage_error("cannot read --ids '" + path + "'");
    std::vector<std::string> ids;
    std::string line;
    for (std::uint64_t n = 1; std::getline(in, line); ++n) {
        const auto first = line.find_first_not_of(" \t\r");
        if (first == std::string::npos || line[first] == '#') continue;
        const auto last = line.find_last_not_of(" \t\r");
        std::string id = line.substr(first, last - first + 1);
        const bool control = std::any_of(id.begin(), id.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
        if (id.size() > 128 || control || !is_valid_utf8(id)) {
            usage_error("--ids '" + path + "' line " + std::to_string(n) + " is not an instance id (over 128 bytes, control characters or not UTF-8)");
        }
        ids.push_back(std::move(id));
    }
    if (ids.empty()) usage_error("--ids '" + path + "' holds no instance id");
    return ids;
}

std::string utc_now() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

// The live line: on a terminal only, rewritten in place every second.
void print_live(const bench::live_status& s, const std::string& prefix) {
    const auto& seconds = s.step->seconds();
    std::string last;
    // The last second whose requests have all been answered is not known; the one before the
    // current one is nearly complete.
    if (seconds.size() >= 2) {
        const auto& b = seconds[seconds.size() - 2];
        last = ", last second p50 " + bench::format_latency(static_cast<double>(b.latency.value_at_percentile(50))) +
               " p99 " + bench::format_latency(static_cast<double>(b.latency.value_at_percentile(99))) + " max " +
               bench::format_latency(static_cast<double>(b.latency.max()));
    }
    const double achieved = s.step_elapsed_s > 0 ? static_cast<double>(s.sent) / s.step_elapsed_s : 0;
    std::fprintf(stderr, "\r\033[K%s%.0f/%.0f s, %.1f/s sent of %.1f/s, %llu answered (%.2f%% errors), %llu in flight%s",
                 prefix.c_str(), s.step_elapsed_s, s.step_duration_s, achieved, s.intended_rate,
                 static_cast<unsigned long long>(s.answered), 100 * s.step->error_share(),
                 static_cast<unsigned long long>(s.in_flight), last.c_str());
    std::fflush(stderr);
}

void write_output(const std::string& path, const std::string& text, const char* what) {
    if (path.empty()) return;
    if (const std::string error = write_file_atomically(path, text); !error.empty()) {
        std::fprintf(stderr, "koorelease: cannot write the %s report: %s\n", what, error.c_str());
    }
}

// A report file's directory must be writable before the run, not found out after it.
void check_writable(const std::string& option, const std::string& path) {
    if (path.empty()) return;
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    if (::access(dir.c_str(), W_OK) != 0) usage_error(option + " '" + path + "': the directory '" + dir + "' is not writable or does not exist");
}

int run_bench(const bench_options& o) {
    bench::bench_settings s;
    const auto target = parse_endpoint(o.endpoint);
    if (const auto* error = std::get_if<std::string>(&target)) usage_error("--endpoint: " + *error);
    s.target = std::get<endpoint>(target);
    s.token = load_token(o.token_file);
    s.user_agent = std::string("koorelease-bench/") + KOORELEASE_VERSION;
    s.ca_file = o.ca_file;
    s.insecure = o.insecure;
    s.connections = o.connections;
    s.connect_timeout = duration_of("--connect-timeout", o.connect_timeout);
    s.request_timeout = duration_of("--request-timeout", o.request_timeout);
    s.retries = o.retry;
    s.max_attempts = o.max_attempts;
    const auto run_duration = duration_of("--duration", o.duration);
    const auto step_duration = duration_of("--step-duration", o.step_duration);
    const auto step_pause = parse_duration(o.step_pause);
    if (!step_pause) usage_error("--step-pause '" + o.step_pause + "' is not a duration: write e.g. 0s, 2s");
    bench::capacity_bounds bounds{
        .p99_us = static_cast<double>(duration_of("--p99", o.p99).count()) / 1000.0,
        .max_error_share = share_of("--max-errors", o.max_errors),
    };
    bench::capacity_settings cs;
    cs.start_rate = o.start_rate;
    cs.max_rate = o.max_rate;
    cs.precision = share_of("--precision", o.precision);
    cs.max_steps = o.max_steps;
    if (!o.find_capacity && o.rate <= 0) usage_error("--rate is needed (requests per second), or --find-capacity");
    if (o.find_capacity && (o.ramp_from >= 0 || o.rate > 0)) {
        usage_error("--rate and --ramp-from are for a fixed schedule: --find-capacity chooses the rates (see --start-rate)");
    }
    check_writable("--json", o.json_file);
    check_writable("--html", o.html_file);
    if (!o.ids_file.empty()) {
        s.ids = read_ids(o.ids_file);
    } else {
        for (std::uint64_t i = 0; i < o.synthetic; ++i) s.ids.push_back("bench-" + std::to_string(i));
    }
    if (!s.target.tls && s.target.host != "127.0.0.1" && s.target.host != "localhost" && s.target.host != "::1") {
        std::fprintf(stderr, "koorelease: WARNING: plain http:// to %s: the token travels unencrypted\n", s.target.host.c_str());
    }
    if (o.insecure) std::fprintf(stderr, "koorelease: WARNING: --insecure: the server's certificate is NOT verified\n");

    const bool live = !o.quiet && ::isatty(STDERR_FILENO);
    std::string prefix = "bench: ";
    bool live_shown = false;
    bench::load_runner runner(
        s,
        [&](const bench::live_status& st) {
            if (!live) return;
            print_live(st, prefix);
            live_shown = true;
        },
        [](std::string_view w) { std::fprintf(stderr, "\nkoorelease: %.*s\n", static_cast<int>(w.size()), w.data()); });
    auto end_live = [&] {
        if (live_shown) std::fprintf(stderr, "\r\033[K");
        live_shown = false;
    };

    bench::bench_report report;
    report.endpoint = s.target.to_string();
    report.started_at = utc_now();
    report.connections = s.connections;
    report.retries = s.retries;
    report.find_capacity = o.find_capacity;
    report.bounds = bounds;

    if (!o.find_capacity) {
        const auto schedule = o.ramp_from >= 0 ? bench::load_schedule::ramp(o.ramp_from, o.rate, run_duration)
                                               : bench::load_schedule::constant(o.rate, run_duration);
        report.from_rate = schedule.from_rate();
        report.to_rate = schedule.to_rate();
        report.duration_s = std::chrono::duration<double>(run_duration).count();
        bench::recorder step;
        bench::pacing step_sends;
        const auto totals = runner.run(schedule, step, step_sends, report.answers, report.sends);
        report.scheduled = totals.scheduled;
        report.retried = totals.retried;
    } else {
        bench::capacity_search search(cs, bounds);
        while (!search.done() && runner.stopped_by().empty()) {
            // A pause between steps lets the server drain, and a gateway's per-second window
            // forget the step before, so that one step's load is not charged to the next.
            if (!search.steps().empty()) std::this_thread::sleep_for(*step_pause);
            const double rate = search.next_rate();
            const auto schedule = bench::load_schedule::constant(rate, step_duration);
            prefix = "bench: step " + std::to_string(search.steps().size() + 1) + " at " + std::to_string(std::lround(rate)) + " req/s: ";
            bench::recorder step;
            bench::pacing step_sends;
            const auto totals = runner.run(schedule, step, step_sends, report.answers, report.sends);
            report.scheduled += totals.scheduled;
            report.retried += totals.retried;
            report.duration_s += std::chrono::duration<double>(step_duration).count();
            if (!runner.stopped_by().empty()) break;  // an interrupted step is no evidence
            bench::step_evidence e;
            e.result.rate = rate;
            e.result.achieved_rate = step_sends.achieved_rate(step_duration);
            e.result.p99_us = static_cast<double>(step.latency().value_at_percentile(99));
            e.result.error_share = step.error_share();
            // Requests never sent because the server held every connection count as errors.
            if (totals.scheduled > 0 && step_sends.sent() < totals.scheduled) {
                e.result.error_share = std::min(1.0, e.result.error_share + static_cast<double>(totals.scheduled - step.total()) / static_cast<double>(totals.scheduled));
            }
            e.result.held = search.record(e.result);
            e.duration_s = std::chrono::duration<double>(step_duration).count();
            e.scheduled = totals.scheduled;
            e.sent = step_sends.sent();
            e.p50_us = static_cast<double>(step.latency().value_at_percentile(50));
            e.p99_9_us = static_cast<double>(step.latency().value_at_percentile(99.9));
            e.max_us = static_cast<double>(step.latency().max());
            e.max_lag_ms = static_cast<double>(step_sends.max_lag().count()) / 1e6;
            for (std::size_t k = 0; k < bench::answer_kind_count; ++k) e.by_kind[k] = step.by_kind(static_cast<bench::answer_kind>(k));
            report.steps.push_back(e);
            end_live();
            if (!o.quiet) {
                std::fprintf(stderr, "bench: %.0f req/s for %.0f s: p99 %s, errors %.2f%%: %s\n", rate, e.duration_s,
                             bench::format_latency(e.result.p99_us).c_str(), 100 * e.result.error_share,
                             e.result.held ? "held" : "did not hold");
            }
        }
        report.capacity = search.highest_held();
        report.lowest_failed = search.lowest_failed();
        report.capacity_why = search.done() ? search.why_done() : "stopped early: " + runner.stopped_by();
    }
    end_live();
    report.stopped_by = runner.stopped_by();
    report.elapsed_s = runner.elapsed_s();

    std::fputs(bench::to_text(report).c_str(), stdout);
    std::fflush(stdout);
    write_output(o.json_file, bench::to_json(report), "JSON");
    write_output(o.html_file, bench::to_html(report), "HTML");
    if (runner.stop_exit_code() != 0) return runner.stop_exit_code();
    if (o.find_capacity && !report.capacity) return 1;
    return 0;
}

}  // namespace

void add_bench_command(CLI::App& root, command_action& action) {
    auto o = std::make_shared<bench_options>();
    CLI::App* cmd = root.add_subcommand(
        "bench",
        "Load-test the release API (or a gateway in front of it) in an open model: requests leave on a fixed "
        "schedule whatever the answers do, and latency is measured from each one's intended send time "
        "(corrected for coordinated omission). Reports text, --json and --html. The token comes from "
        "KOOPHONE_TOKEN or --token-file.");
    cmd->add_option("--endpoint", o->endpoint, "Base URL of the API or gateway")->capture_default_str();
    cmd->add_option("--rate", o->rate, "Requests per second to send (the end rate of a --ramp-from ramp)");
    cmd->add_option("--ramp-from", o->ramp_from, "Ramp linearly from this rate to --rate over --duration");
    cmd->add_option("--duration", o->duration, "How long to send, e.g. 60s")->capture_default_str();
    CLI::Option* ids = cmd->add_option("--ids", o->ids_file, "File of instance ids (one a line), used in turn");
    CLI::Option* synthetic = cmd->add_option("--synthetic", o->synthetic,
                                             "Use N made-up ids bench-0 ... (the real API answers KOOPHONE.API.4001 for them)")
                                 ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}))
                                 ->capture_default_str();
    ids->excludes(synthetic);
    cmd->add_option("--connections", o->connections,
                    "Connections, and so the most requests in flight at once (1-4096); a request due while all are busy "
                    "waits, and its wait counts in its latency")
        ->check(CLI::Range(1u, 4096u))
        ->capture_default_str();
    cmd->add_option("--token-file", o->token_file, "File whose first line is the IAM token (default: $KOOPHONE_TOKEN)");
    cmd->add_option("--ca-file", o->ca_file, "PEM trust anchors added to the system store");
    cmd->add_flag("--insecure", o->insecure, "Skip certificate verification (warned about)");
    cmd->add_option("--connect-timeout", o->connect_timeout, "Per connection attempt")->capture_default_str();
    cmd->add_option("--request-timeout", o->request_timeout, "Per request, from the send to the whole answer")
        ->capture_default_str();
    cmd->add_flag("--retry", o->retry,
                  "Resend throttled, failed and unanswered requests (off: a load test measures first attempts); "
                  "latency then runs to the last attempt's answer");
    cmd->add_option("--max-attempts", o->max_attempts, "With --retry: attempts per request, the first included")
        ->check(CLI::Range(1u, 100u))
        ->capture_default_str();
    cmd->add_option("--json", o->json_file, "Write the report as JSON to this file");
    cmd->add_option("--html", o->html_file, "Write the report as a self-contained HTML page to this file");
    cmd->add_flag("-q,--quiet", o->quiet, "No live line and no step lines on stderr");
    cmd->add_flag("--find-capacity", o->find_capacity,
                  "Search the highest rate that holds the bounds: steps of --step-duration, doubling from "
                  "--start-rate, then bisecting");
    cmd->add_option("--p99", o->p99, "With --find-capacity: the p99 latency bound")->capture_default_str();
    cmd->add_option("--max-errors", o->max_errors,
                    "With --find-capacity: the error share bound (throttled, 5xx, token rejected, unanswered; "
                    "business errors such as KOOPHONE.API.4001 are answers, not errors)")
        ->capture_default_str();
    cmd->add_option("--start-rate", o->start_rate, "With --find-capacity: the first step's rate")->capture_default_str();
    cmd->add_option("--max-rate", o->max_rate, "With --find-capacity: the highest rate tried")->capture_default_str();
    cmd->add_option("--step-duration", o->step_duration, "With --find-capacity: how long each step sends")
        ->capture_default_str();
    cmd->add_option("--step-pause", o->step_pause,
                    "With --find-capacity: idle time between steps, so that a step's backlog or a gateway's "
                    "per-second window does not count against the next")
        ->capture_default_str();
    cmd->add_option("--precision", o->precision,
                    "With --find-capacity: stop when the lowest rate that failed is within this of the highest that held")
        ->capture_default_str();
    cmd->add_option("--max-steps", o->max_steps, "With --find-capacity: the most steps")
        ->check(CLI::Range(1u, 1000u))
        ->capture_default_str();
    cmd->callback([&action, o] { action = [o] { return run_bench(*o); }; });
}

}  // namespace koorelease::cli
