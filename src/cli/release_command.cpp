// `koorelease release`: the command line over the engine.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "config_file.hpp"
#include "koorelease/id_set.hpp"
#include "koorelease/rate_limiter.hpp"
#include "koorelease/request_id.hpp"
#include "log_format.hpp"
#include "summary_json.hpp"
#include "koorelease/duration.hpp"
#include "koorelease/engine.hpp"
#include "koorelease/iam.hpp"
#include "koorelease/input.hpp"
#include "koorelease/journal.hpp"
#include "koorelease/atomic_file.hpp"
#include "koorelease/metrics.hpp"
#include "koorelease/request.hpp"
#include "progress_printer.hpp"
#include "queue_cli.hpp"
#include "queue_worker.hpp"

namespace koorelease::cli {

namespace {

struct release_options {
    std::string endpoint = "https://koophone.myhuaweicloud.com";
    std::string input = "-";
    std::string output = "-";
    std::string token_file;
    std::string iam_endpoint;  // --iam-*: fetch (and refresh) the token from IAM
    std::string iam_user;
    std::string iam_domain;
    std::string iam_project;
    std::uint32_t concurrency = 32;
    std::uint32_t pipeline = 1;
    double rate = 0;
    std::uint32_t burst = 0;
    std::uint32_t max_attempts = 5;
    std::uint32_t max_throttled = 50;
    std::string connect_timeout = "5s";
    std::string request_timeout = "30s";
    std::string backoff_base = "100ms";
    std::string backoff_cap = "10s";
    double retry_budget = 0.5;
    bool no_retry_budget = false;
    std::string ca_file;
    bool insecure = false;
    bool quiet = false;
    bool resume = false;
    bool force = false;
    bool no_dedup = false;
    std::string log_level = "off";
    std::string log_file;
    std::string metrics_file;  // --metrics-file, --pushgateway, --push-*: see koorelease/metrics.hpp
    std::string pushgateway;
    std::string push_job = "koorelease";
    std::string push_instance;  // empty: the host name
    std::vector<std::string> push_labels;
    std::string log_format = "text";
    std::string config;                    // --config FILE, applied by apply_config()
    std::string progress = "auto";
    std::string progress_interval = "10s";
    bool dry_run = false;
    std::string summary_file;
    std::string queue;  // --queue: take the ids from a shared Redis stream (queue_worker.hpp)
    bool drain = false;
    std::string claim_idle = "60s";
    std::uint32_t max_deliveries = 5;
    double shared_rate = 0;
};

[[noreturn]] void usage_error(const std::string& message) {
    throw CLI::ValidationError(message);
}

// The log: off by default (the summary and notices go to stderr anyway); at debug, one line
// per attempt. The token is in none of it: only the engine's request bytes hold it.
std::shared_ptr<spdlog::logger> make_logger(const release_options& o) {
    if (!parse_log_format(o.log_format)) usage_error("--log-format '" + o.log_format + "' is not one of text, json");
    const auto level = spdlog::level::from_str(o.log_level);
    if (level == spdlog::level::off && o.log_level != "off") {
        usage_error("--log-level '" + o.log_level + "' is not one of off, error, warn, info, debug");
    }
    std::shared_ptr<spdlog::logger> logger;
    try {
        if (o.log_file.empty()) {
            logger = std::make_shared<spdlog::logger>("koorelease", std::make_shared<spdlog::sinks::stderr_sink_mt>());
        } else {
            logger = std::make_shared<spdlog::logger>(
                "koorelease", std::make_shared<spdlog::sinks::basic_file_sink_mt>(o.log_file, false));
        }
    } catch (const spdlog::spdlog_ex& e) {
        usage_error("cannot write --log-file '" + o.log_file + "': " + e.what());
    }
    if (parse_log_format(o.log_format) == log_format::json) {
        logger->set_formatter(std::make_unique<json_log_formatter>());
    } else {
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    }
    logger->set_level(level);
    logger->flush_on(spdlog::level::warn);
    return logger;
}

duration duration_option(const std::string& name, const std::string& text, bool allow_zero) {
    const auto d = parse_duration(text);
    if (!d || (!allow_zero && d->count() == 0)) {
        usage_error(name + " '" + text + "' is not a duration: write a number and a unit, e.g. 250ms, 5s, 2m");
    }
    return *d;
}

}  // namespace

// The token comes from --token-file or KOOPHONE_TOKEN, never from a flag: a command line is
// visible to every user of the machine. Errors never quote it.
std::string load_token(const std::string& token_file) {
    std::string token;
    if (!token_file.empty()) {
        std::ifstream in(token_file);
        if (!in) {
            usage_error("cannot read --token-file '" + token_file + "': " + std::strerror(errno));
        }
        std::getline(in, token);
    } else if (const char* env = std::getenv("KOOPHONE_TOKEN"); env != nullptr && *env != '\0') {
        token = env;
    } else {
        usage_error("no token: set KOOPHONE_TOKEN or pass --token-file FILE (a project-scoped IAM token)");
    }
    const auto first = token.find_first_not_of(" \t\r\n");
    const auto last = token.find_last_not_of(" \t\r\n");
    token = first == std::string::npos ? std::string() : token.substr(first, last - first + 1);
    if (const auto problem = check_token(token); !problem.empty()) {
        usage_error(problem + (token_file.empty() ? " (from KOOPHONE_TOKEN)" : " (from --token-file)"));
    }
    return token;
}

namespace {

// --iam-*: the token comes from IAM, fetched by the engine at start and refreshed; the
// password only from KOOPHONE_IAM_PASSWORD. A token given as well would be ambiguous.
iam_settings iam_options(const release_options& o) {
    const char* token = std::getenv("KOOPHONE_TOKEN");
    if (!o.token_file.empty() || (token != nullptr && *token != '\0')) {
        usage_error(std::string("--iam-* fetches the token itself: drop ") +
                    (o.token_file.empty() ? "KOOPHONE_TOKEN from the environment" : "--token-file") +
                    ", or drop the --iam-* options");
    }
    if (o.iam_endpoint.empty()) usage_error("--iam-user, --iam-domain and --iam-project need --iam-endpoint URL (e.g. https://iam.myhuaweicloud.com)");
    iam_settings s;
    auto ep = parse_endpoint(o.iam_endpoint);
    if (auto* error = std::get_if<std::string>(&ep)) usage_error("--iam-endpoint: " + *error);
    s.target = std::get<endpoint>(ep);
    s.credentials.user = o.iam_user;
    s.credentials.domain = o.iam_domain;
    s.credentials.project = o.iam_project;
    if (const char* password = std::getenv("KOOPHONE_IAM_PASSWORD"); password != nullptr) s.credentials.password = password;
    if (o.iam_user.empty()) usage_error("--iam-endpoint needs --iam-user USER (the IAM user name)");
    if (o.iam_domain.empty()) usage_error("--iam-endpoint needs --iam-domain DOMAIN (the account name)");
    if (o.iam_project.empty()) usage_error("--iam-endpoint needs --iam-project PROJECT (e.g. cn-north-4, or the project id)");
    if (s.credentials.password.empty()) usage_error("--iam-endpoint needs the IAM password in KOOPHONE_IAM_PASSWORD");
    if (auto problem = check_iam_settings(s); !problem.empty()) usage_error(problem);
    s.ca_file = o.ca_file;
    s.insecure = o.insecure;
    return s;
}

int open_output(const std::string& path, bool append) {
    if (path == "-") return STDOUT_FILENO;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
    if (fd < 0) {
        usage_error("cannot write --output '" + path + "': " + std::strerror(errno) +
                    " (choose a writable path, or - for stdout)");
    }
    return fd;
}

std::string format_ms(double us) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f ms", us / 1000.0);
    return text;
}

void print_summary(const run_summary& s) {
    std::string out;
    char line[512];
    std::snprintf(line, sizeof line,
                  "koorelease: %llu ids: %llu released, %llu failed, %llu invalid lines, %llu duplicates",
                  static_cast<unsigned long long>(s.ids), static_cast<unsigned long long>(s.released),
                  static_cast<unsigned long long>(s.failed), static_cast<unsigned long long>(s.invalid),
                  static_cast<unsigned long long>(s.duplicates));
    out += line;
    if (s.aborted) out += ", " + std::to_string(s.aborted) + " aborted";
    if (s.not_sent) out += ", " + std::to_string(s.not_sent) + " not sent";
    if (s.already_final) out += ", " + std::to_string(s.already_final) + " already final in the journal (skipped)";
    const double rps = s.elapsed_s > 0 ? static_cast<double>(s.requests) / s.elapsed_s : 0;
    std::snprintf(line, sizeof line,
                  "\nkoorelease: %llu requests (%llu retries, %llu throttled) on %llu connections (%llu TLS resumed) in %.2f s: "
                  "%.0f requests/s; latency p50 %s, p90 %s, p99 %s, max %s",
                  static_cast<unsigned long long>(s.requests), static_cast<unsigned long long>(s.retries),
                  static_cast<unsigned long long>(s.throttled),
                  static_cast<unsigned long long>(s.connections_opened),
                  static_cast<unsigned long long>(s.tls_resumed), s.elapsed_s, rps,
                  format_ms(s.latency.percentile_us(50)).c_str(), format_ms(s.latency.percentile_us(90)).c_str(),
                  format_ms(s.latency.percentile_us(99)).c_str(),
                  format_ms(static_cast<double>(s.latency.max_us())).c_str());
    out += line;
    if (!s.answers_by_code.empty()) {
        out += "\nkoorelease: answers by status and error code:";
        for (const auto& [key, count] : s.answers_by_code) out += " [" + key + "] " + std::to_string(count);
    }
    if (s.token_refreshes_ahead + s.token_refreshes_on_expiry > 0) {
        out += "\nkoorelease: new IAM tokens: " + std::to_string(s.token_refreshes_ahead) + " ahead of expiry, " +
               std::to_string(s.token_refreshes_on_expiry) + " on APIG.0307 (" + std::to_string(s.token_resends) +
               " requests refused as expired were sent again, at no attempt)";
    }
    for (const auto& [reason, count] : s.failures_by_reason) {
        out += "\nkoorelease: failed: " + std::to_string(count) + " x " + reason;
    }
    if (s.stopped_by) {
        out += "\nkoorelease: stopped: " + s.stop_detail;
        out += "\nkoorelease: " + make_error_code(*s.stopped_by).message();
        out += "\nkoorelease: the journal has a record for every id that was released or failed";
        if (s.aborted) {
            out += "; " + std::to_string(s.aborted) +
                   " ids were sent but their outcome is unknown (\"aborted\" records)";
        }
        if (s.not_sent) out += "; " + std::to_string(s.not_sent) + " ids read were never sent (no record)";
        if (!s.input_complete) out += "; the rest of the input was not read";
    }
    out += "\n";
    std::fputs(out.c_str(), stderr);
}

// --dry-run: reads and checks the whole input as a run would (invalid lines reported the same
// way), shows one request with the token redacted and the plan, and sends nothing.
// Exit 0, or 1 when some input lines are invalid.
int dry_run(const release_options& o, const release_settings& s, id_source& source, const prior_outcomes* prior) {
    id_set seen;
    std::uint64_t ids = 0, invalid = 0, duplicates = 0, already_final = 0;
    std::string first_id;
    input_item item;
    while (source.next(item)) {
        if (!item.valid) {
            if (prior != nullptr && prior->invalid_lines.contains(item.line)) continue;
            ++invalid;
            std::fprintf(stderr, "koorelease: input line %llu: %s: not sent\n",
                         static_cast<unsigned long long>(item.line), item.text.c_str());
            continue;
        }
        if (prior != nullptr && prior->final_ids.is_final_before(item.text)) {
            ++already_final;
            continue;
        }
        if (s.deduplicate && !seen.insert(item.text)) {
            ++duplicates;
            continue;
        }
        if (first_id.empty()) first_id = item.text;
        ++ids;
    }
    request_builder builder(s.target, s.token, s.user_agent);
    request_id_generator ids_for_requests;
    std::string example = builder.redacted_example(ids_for_requests.next(), first_id.empty() ? "i-example" : first_id);
    // CRLF line ends, shown as plain lines.
    for (std::size_t at = 0; (at = example.find("\r\n", at)) != std::string::npos;) example.erase(at, 1);

    std::string out = "koorelease: dry run: nothing is sent\n";
    out += "one request as it would be sent (the token redacted; every attempt has a fresh x-request-id):\n\n";
    out += example;
    out += "\n\nplan: " + std::to_string(ids) + " ids to release";
    out += ", " + std::to_string(duplicates) + " duplicates dropped";
    out += ", " + std::to_string(invalid) + " invalid lines";
    if (prior != nullptr) out += ", " + std::to_string(already_final) + " already final in the journal (skipped)";
    char line[256];
    std::snprintf(line, sizeof line,
                  "\nendpoint %s, %u connections, pipeline %u, max attempts %u, journal %s",
                  s.target.to_string().c_str(), s.concurrency, s.pipeline, s.max_attempts,
                  o.output == "-" ? "<stdout>" : o.output.c_str());
    out += line;
    if (s.rate > 0) {
        std::snprintf(line, sizeof line, "\nrate %g requests/s (burst %u): about %s for the first attempts",
                      s.rate, s.burst ? s.burst : default_burst(s.rate),
                      format_eta(static_cast<double>(ids) / s.rate).c_str());
        out += line;
        out += " (retries and throttling add to it)";
    } else {
        out += "\nno rate limit (--rate 0): the duration depends on how fast the server answers";
    }
    out += "\n";
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
    return invalid > 0 ? 1 : 0;
}

// --config and the KOOPHONE_* variables: every option of `release` not given on the command
// line takes the environment's value, else the file's, else its default. The keys are the
// options' long names, so an option added to the command has its key at once.
// Returns what it applied, with where each value came from.
config_values apply_config(CLI::App& cmd, const std::string& config_path) {
    std::vector<config_key> keys;
    std::map<std::string, CLI::Option*, std::less<>> options;
    std::set<std::string, std::less<>> on_command_line;
    for (CLI::Option* opt : cmd.get_options()) {
        if (opt->get_lnames().empty()) continue;
        const std::string name = opt->get_lnames().front();
        if (name == "help" || name == "config") continue;
        value_kind kind = value_kind::text;
        const std::string type = opt->get_type_name();
        if (opt->get_items_expected_max() == 0) {
            kind = value_kind::flag;
        } else if (opt->get_expected_max() > 1) {
            kind = value_kind::texts;
        } else if (type.starts_with("UINT") || type.starts_with("INT")) {
            kind = value_kind::integer;
        } else if (type.starts_with("FLOAT")) {
            kind = value_kind::number;
        }
        keys.push_back({name, kind});
        options[name] = opt;
        if (opt->count() > 0) on_command_line.insert(name);
    }
    config_values file;
    if (!config_path.empty()) {
        auto parsed = read_config_file(config_path, keys);
        if (!parsed.error.empty()) usage_error(parsed.error);
        file = std::move(parsed.values);
    }
    const auto environment = values_from_environment([](const char* name) { return std::getenv(name); });
    const char* token = std::getenv("KOOPHONE_TOKEN");
    const auto merged = merge_config(on_command_line, environment, file, token != nullptr && *token != '\0');
    for (const auto& [key, value] : merged) {
        const auto it = options.find(key);
        if (it == options.end()) continue;
        try {
            if (value.list.empty()) {
                it->second->add_result(value.text);
            } else {
                it->second->add_result(value.list);
            }
            it->second->run_callback();
        } catch (const CLI::ParseError& e) {
            // Not quoting the value: it came from a file or the environment, which may hold secrets.
            usage_error(value.origin + ": the value of '" + key + "' is not valid: " + e.what());
        }
    }
    return merged;
}

// A usage error about an option set by the file or the environment says where it was set.
[[noreturn]] void rethrow_with_origin(const CLI::ValidationError& e, const config_values& applied) {
    const std::string message = e.what();
    for (const auto& [key, value] : applied) {
        const std::string flag = "--" + key;
        if (message.starts_with(flag) && (message.size() == flag.size() || message[flag.size()] == ' ')) {
            usage_error(message + " (set by " + value.origin + ")");
        }
    }
    throw e;
}

int run(const release_options& o) {
    const auto started = std::chrono::system_clock::now();
    release_settings s;
    auto ep = parse_endpoint(o.endpoint);
    if (auto* error = std::get_if<std::string>(&ep)) usage_error(*error);
    s.target = std::get<endpoint>(ep);
    if (o.concurrency == 0 || o.concurrency > 4096) usage_error("--concurrency must be from 1 to 4096");
    if (!(o.rate >= 0) || !std::isfinite(o.rate)) usage_error("--rate must be 0 (no limit) or a positive number of requests per second");
    if (o.max_attempts == 0) usage_error("--max-attempts must be at least 1 (the first attempt counts)");
    s.concurrency = o.concurrency;
    if (o.pipeline == 0 || o.pipeline > 64) usage_error("--pipeline must be from 1 to 64");
    s.pipeline = o.pipeline;
    s.rate = o.rate;
    s.burst = o.burst;
    s.max_attempts = o.max_attempts;
    s.max_throttled = o.max_throttled;
    s.connect_timeout = duration_option("--connect-timeout", o.connect_timeout, false);
    s.request_timeout = duration_option("--request-timeout", o.request_timeout, false);
    s.retry_backoff.base = duration_option("--backoff-base", o.backoff_base, true);
    s.retry_backoff.cap = duration_option("--backoff-cap", o.backoff_cap, true);
    if (s.retry_backoff.cap < s.retry_backoff.base) usage_error("--backoff-cap must not be below --backoff-base");
    if (!(o.retry_budget > 0) || !std::isfinite(o.retry_budget)) {
        usage_error("--retry-budget must be a positive share of first attempts, e.g. 0.5 (or use --no-retry-budget)");
    }
    s.retry_budget.ratio = o.retry_budget;
    s.retry_budget.enabled = !o.no_retry_budget;
    s.ca_file = o.ca_file;
    s.insecure = o.insecure;
    s.deduplicate = !o.no_dedup;
    if (!o.ca_file.empty() && ::access(o.ca_file.c_str(), R_OK) != 0) {
        usage_error("cannot read --ca-file '" + o.ca_file + "': " + std::strerror(errno));
    }
    if (!o.iam_endpoint.empty() || !o.iam_user.empty() || !o.iam_domain.empty() || !o.iam_project.empty()) {
        s.iam = iam_options(o);
    } else {
        s.token = load_token(o.token_file);
    }
    const auto interval = duration_option("--progress-interval", o.progress_interval, false);
    const bool log_on_stderr = o.log_file.empty() && o.log_level != "off";
    const auto mode = choose_progress_mode(o.progress, o.quiet, ::isatty(STDERR_FILENO) == 1, log_on_stderr);
    if (!mode) usage_error("--progress '" + o.progress + "' is not one of auto, plain, off");
    if (!o.summary_file.empty()) {
        std::string problem;
        if (!can_create_file(o.summary_file, problem)) usage_error("--summary-file '" + o.summary_file + "': " + problem);
    }

    std::string error;
    std::optional<queue_worker_settings> queue;
    if (!o.queue.empty()) {
        if (o.input != "-") usage_error("--input and --queue are exclusive: the ids come from the queue (add them with `koorelease enqueue`)");
        if (o.resume) usage_error("--resume has no use with --queue: entries not acknowledged are delivered again by the queue");
        if (o.dry_run) usage_error("--dry-run cannot be used with --queue");
        queue.emplace();
        queue->address = queue_option(o.queue);
        queue->password = redis_password();
        queue->consumer = queue->address.consumer.empty() ? default_consumer_name() : queue->address.consumer;
        queue->claim_idle = std::chrono::duration_cast<std::chrono::milliseconds>(
            duration_option("--claim-idle", o.claim_idle, false));
        if (o.max_deliveries == 0) usage_error("--max-deliveries must be at least 1");
        queue->max_deliveries = o.max_deliveries;
        queue->drain = o.drain;
        if (!(o.shared_rate >= 0) || !std::isfinite(o.shared_rate)) usage_error("--shared-rate must be 0 (none) or a positive number of requests per second");
        queue->shared_rate = o.shared_rate;
        queue->max_held = held_limit(s.concurrency, s.pipeline, o.shared_rate, o.rate);
        // Every entry is released: an id enqueued twice is two entries, each acknowledged.
        s.deduplicate = false;
    } else if (o.drain || o.shared_rate > 0) {
        usage_error(std::string(o.drain ? "--drain" : "--shared-rate") + " needs --queue redis://HOST:PORT/STREAM");
    }
    std::unique_ptr<id_source> source;
    if (!queue) {
        source = open_input(o.input, error);
        if (!source) usage_error(error);
    }
    if (!queue && o.input == "-" && ::isatty(STDIN_FILENO) == 1) {
        std::fprintf(stderr, "koorelease: reading instance ids from the terminal, one per line; end with Ctrl-D "
                             "(or give --input FILE)\n");
    }

    // The journal is the record of what was released: never overwrite one by accident.
    struct stat st {};
    const bool journal_exists = o.output != "-" && ::stat(o.output.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    std::unique_ptr<prior_outcomes> prior;
    if (o.resume) {
        if (o.output == "-") usage_error("--resume needs --output FILE: the journal of the run to continue");
        prior = std::make_unique<prior_outcomes>();
        if (journal_exists) {
            if (!load_prior_outcomes(o.output, *prior, error)) usage_error(error);
            if (prior->torn_tail && !o.dry_run) {
                // The previous run was killed mid-write: drop the incomplete line, so that
                // what we append starts on a line of its own.
                if (::truncate(o.output.c_str(), static_cast<off_t>(prior->keep_bytes)) != 0) {
                    usage_error("cannot repair the journal '" + o.output + "': " + std::strerror(errno));
                }
            }
            std::fprintf(stderr,
                         "koorelease: resuming '%s': %llu ids already final%s; %llu aborted ones will be sent again\n",
                         o.output.c_str(), static_cast<unsigned long long>(prior->final_ids.size()),
                         prior->torn_tail ? " (its incomplete last line was dropped)" : "",
                         static_cast<unsigned long long>(prior->aborted));
        } else {
            std::fprintf(stderr, "koorelease: no journal at '%s' yet: starting afresh\n", o.output.c_str());
        }
    } else if (journal_exists && st.st_size > 0 && !o.force) {
        usage_error("--output '" + o.output + "' already holds a journal: add --resume to finish that run, "
                    "or --force to overwrite it");
    }
    if (o.dry_run) return dry_run(o, s, *source, prior.get());
    std::optional<push_target> push;
    if (!o.pushgateway.empty()) {
        push.emplace();
        if (auto e = make_push_target(o.pushgateway, o.push_job, o.push_instance, o.push_labels, *push); !e.empty()) {
            usage_error(e);
        }
    }
    run_metrics metrics(o.metrics_file, std::move(push), o.ca_file, o.insecure);
    if (auto e = metrics.start(); !e.empty()) usage_error(e + " (choose a writable --metrics-file)");
    const int out_fd = open_output(o.output, o.resume);
    jsonl_journal journal(out_fd, o.output == "-" ? "<stdout>" : "'" + o.output + "'", out_fd != STDOUT_FILENO);
    std::unique_ptr<queue_worker> worker;
    if (queue) {
        worker = std::make_unique<queue_worker>(*queue, journal);
        try {
            worker->start();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "koorelease: %s\n", e.what());
            return 3;
        }
        s.permits = worker->permits();
        std::fprintf(stderr, "koorelease: worker %s of %s%s\n", queue->consumer.c_str(), queue->address.to_string().c_str(),
                     o.drain ? " (until it is drained)" : " (following it; stop with SIGTERM)");
    }

    const auto log = make_logger(o);
    progress_printer progress(*mode, std::chrono::duration<double>(interval).count());
    run_hooks hooks;
    hooks.on_progress = [&](const progress_snapshot& p) {
        if (worker) {
            for (const auto& w : worker->take_warnings()) progress.message(w);
        }
        progress.update(p);
        if (auto w = metrics.on_progress(p); !w.empty()) progress.message(w);
    };
    hooks.on_warning = [&](std::string_view text) {
        progress.message(text);
        if (!o.log_file.empty()) log->warn("{}", text);
    };
    if (log->should_log(spdlog::level::debug)) {
        const auto format = *parse_log_format(o.log_format);
        hooks.on_attempt = [&log, format](const attempt_report& a) { log->debug("{}", attempt_message(a, format)); };
    }
    log->info("releasing sessions at {} with {} connections, rate {} (0: no limit), input {}, journal {}",
              s.target.to_string(), s.concurrency, s.rate, o.input, o.output);

    const run_summary summary = worker ? run_release(s, worker->source(), worker->sink(), hooks)
                                       : run_release(s, *source, journal, hooks, prior.get());
    std::optional<queue_counts> queued;
    if (worker) queued = worker->finish();
    progress.finish();
    print_summary(summary);
    if (worker) {
        for (const auto& w : worker->take_warnings()) std::fprintf(stderr, "koorelease: %s\n", w.c_str());
        const auto& q = *queued;
        std::fprintf(stderr,
                     "koorelease: queue: %llu entries read, %llu claimed from idle workers; %llu finished, "
                     "%llu dead-lettered, %llu left pending for another delivery, %llu already finished by another "
                     "worker; %llu reconnects to Redis\n",
                     static_cast<unsigned long long>(q.taken), static_cast<unsigned long long>(q.claimed),
                     static_cast<unsigned long long>(q.finished), static_cast<unsigned long long>(q.dead_lettered),
                     static_cast<unsigned long long>(q.left_pending), static_cast<unsigned long long>(q.already_acked),
                     static_cast<unsigned long long>(q.reconnects));
        if (o.shared_rate > 0) {
            std::fprintf(stderr, "koorelease: shared rate: %llu permits in %llu requests to Redis\n",
                         static_cast<unsigned long long>(q.shared_permits),
                         static_cast<unsigned long long>(q.permit_requests));
        }
        if (q.unacknowledged > 0) {
            std::fprintf(stderr,
                         "koorelease: Redis stayed unreachable: %llu final outcomes (in the journal) were not "
                         "acknowledged; their entries will be delivered and released again\n",
                         static_cast<unsigned long long>(q.unacknowledged));
        }
    }
    for (const auto& w : metrics.finish(summary)) std::fprintf(stderr, "koorelease: warning: %s\n", w.c_str());
    if (!o.summary_file.empty()) {
        const auto json = summary_json(summary, started, std::chrono::system_clock::now());
        if (const auto problem = write_file_atomically(o.summary_file, json); !problem.empty()) {
            std::fprintf(stderr, "koorelease: --summary-file: %s\n", problem.c_str());
            log->error("--summary-file: {}", problem);
        }
    }
    log->info("done: {} released, {} failed, {} invalid, {} duplicates, {} requests in {:.2f} s, exit {}",
              summary.released, summary.failed, summary.invalid, summary.duplicates, summary.requests,
              summary.elapsed_s, summary.exit_code());
    log->flush();
    if (queued && queued->unacknowledged > 0) return 3;
    return summary.exit_code();
}

}  // namespace

void add_release_command(CLI::App& root, command_action& action) {
    auto opts = std::make_shared<release_options>();
    CLI::App* cmd = root.add_subcommand(
        "release",
        "Release the sessions of the instances listed in the input (POST /v1/instances/session/release "
        "for each id), and write one JSON line per id to the output. The token is read from the "
        "environment variable KOOPHONE_TOKEN or from --token-file.");
    cmd->add_option("--endpoint", opts->endpoint, "Base URL of the API; /v1/instances/session/release is appended (a path prefix is kept)")
        ->capture_default_str();
    cmd->add_option("--input", opts->input,
                    "File of instance ids, one per line, - for stdin; blank lines and #comments skipped")
        ->capture_default_str();
    cmd->add_option("--output", opts->output, "Outcome journal (JSON Lines, one line per id), - for stdout")
        ->capture_default_str();
    cmd->add_option("--token-file", opts->token_file, "File whose first line is the IAM token (default: $KOOPHONE_TOKEN)");
    cmd->add_option("--iam-endpoint", opts->iam_endpoint,
                    "Fetch the token from this IAM endpoint (e.g. https://iam.myhuaweicloud.com) at start, and again "
                    "ahead of its expiry and on APIG.0307; the password from KOOPHONE_IAM_PASSWORD");
    cmd->add_option("--iam-user", opts->iam_user, "IAM user name (with --iam-endpoint)");
    cmd->add_option("--iam-domain", opts->iam_domain, "Account (domain) name of the IAM user (with --iam-endpoint)");
    cmd->add_option("--iam-project", opts->iam_project, "Project name (e.g. cn-north-4) or id the token is scoped to (with --iam-endpoint)");
    cmd->add_option("--concurrency", opts->concurrency, "Connections kept open to the endpoint")->capture_default_str();
    cmd->add_option("--pipeline", opts->pipeline,
                    "Requests sent back to back on a connection before their answers (HTTP/1.1 "
                    "pipelining; 1: off). Only for gateways known to support it")
        ->capture_default_str();
    cmd->add_option("--rate", opts->rate, "Requests per second across the run, retries included; 0 = no limit")
        ->capture_default_str();
    cmd->add_option("--burst", opts->burst,
                    "Requests allowed at once above the rate (default: rate/20, at least 1)");
    cmd->add_option("--max-attempts", opts->max_attempts,
                    "Attempts per id, the first included; throttled attempts are not counted")
        ->capture_default_str();
    cmd->add_option("--max-throttled", opts->max_throttled, "Throttled answers per id before it fails")
        ->capture_default_str();
    cmd->add_option("--connect-timeout", opts->connect_timeout, "Per connection attempt (TCP and TLS), e.g. 5s")
        ->capture_default_str();
    cmd->add_option("--request-timeout", opts->request_timeout, "Per request, from send to the whole answer")
        ->capture_default_str();
    cmd->add_option("--backoff-base", opts->backoff_base, "First retry waits up to this (full jitter)")
        ->capture_default_str();
    cmd->add_option("--backoff-cap", opts->backoff_cap, "Longest retry wait window")->capture_default_str();
    cmd->add_option("--retry-budget", opts->retry_budget,
                    "Retries allowed as a share of first attempts over any 10 s (plus 500); past it failing ids are not retried")
        ->capture_default_str();
    cmd->add_flag("--no-retry-budget", opts->no_retry_budget, "Retry every id up to --max-attempts, whatever the failure rate");
    cmd->add_option("--ca-file", opts->ca_file, "PEM trust anchors added to the system store");
    cmd->add_flag("--insecure", opts->insecure, "Skip certificate verification (dangerous; warned about on every run)");
    cmd->add_flag("-q,--quiet", opts->quiet, "No progress line (--progress off)");
    cmd->add_flag("--resume", opts->resume,
                  "Continue the run whose journal is --output: skip ids it records as released or failed, append the rest");
    cmd->add_flag("--force", opts->force, "Overwrite an existing --output journal");
    cmd->add_option("--log-level", opts->log_level, "off, error, warn, info or debug (one line per attempt)")
        ->capture_default_str();
    cmd->add_option("--log-file", opts->log_file, "Append the log here (default: stderr)");
    cmd->add_option("--metrics-file", opts->metrics_file,
                    "Prometheus text file (node_exporter textfile collector), rewritten atomically every 5 s and at exit");
    cmd->add_option("--pushgateway", opts->pushgateway,
                    "Push the metrics to this Prometheus Pushgateway at the end (a failed push is only a warning)");
    cmd->add_option("--push-job", opts->push_job, "Pushgateway job label")->capture_default_str();
    cmd->add_option("--push-instance", opts->push_instance, "Pushgateway instance label (default: the host name)");
    cmd->add_option("--push-label", opts->push_labels, "Another Pushgateway grouping label, name=value (repeatable)")
        ->allow_extra_args(false);
    cmd->add_flag("--no-dedup", opts->no_dedup,
                  "Do not remember ids to drop repeats (saves ~35 bytes per id on huge inputs known to be unique)");
    cmd->add_option("--log-format", opts->log_format, "text, or json: one object per line for log shippers")
        ->capture_default_str();
    cmd->add_option("--config", opts->config,
                    "TOML file of option values (keys: the long options without dashes, e.g. max-attempts = 5); "
                    "the command line and KOOPHONE_* variables override it. The token is not a key: use token-file");
    cmd->add_option("--progress", opts->progress,
                    "auto: a live line when stderr is a terminal; plain: a line every --progress-interval, for logs; off")
        ->capture_default_str();
    cmd->add_option("--progress-interval", opts->progress_interval, "Time between --progress plain lines, e.g. 30s")
        ->capture_default_str();
    cmd->add_flag("--dry-run", opts->dry_run,
                  "Read and check the input, show a request (token redacted) and the plan; send nothing");
    cmd->add_option("--summary-file", opts->summary_file,
                    "Write the end-of-run summary here as one JSON object (replaced atomically)");
    cmd->add_option("--queue", opts->queue,
                    "Take the ids from a shared queue instead of --input: redis://HOST[:PORT]/STREAM[?group=NAME&"
                    "consumer=NAME&db=N] (password in KOORELEASE_REDIS_PASSWORD; README: Many workers)");
    cmd->add_flag("--drain", opts->drain,
                  "With --queue: exit once the stream and the group's pending list are empty (default: keep following)");
    cmd->add_option("--claim-idle", opts->claim_idle,
                    "With --queue: take over entries another worker has held this long without a heartbeat")
        ->capture_default_str();
    cmd->add_option("--max-deliveries", opts->max_deliveries,
                    "With --queue: an entry that failed transiently this many times goes to STREAM:dead")
        ->capture_default_str();
    cmd->add_option("--shared-rate", opts->shared_rate,
                    "With --queue: requests per second for all workers together, kept in Redis; 0 = none")
        ->capture_default_str();
    cmd->callback([&action, opts, cmd] {
        action = [opts, cmd] {
            const auto applied = apply_config(*cmd, opts->config);
            try {
                return run(*opts);
            } catch (const CLI::ValidationError& e) {
                rethrow_with_origin(e, applied);
            }
        };
    });
}

}  // namespace koorelease::cli
