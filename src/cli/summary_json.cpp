#include "summary_json.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "koorelease/json_text.hpp"

namespace koorelease::cli {

namespace {

// Server-given text (error codes, reasons) that is not UTF-8 cannot go into JSON as is.
void append_string(std::string& out, std::string_view v) {
    out += '"';
    append_json_escaped_lossy(out, v);
    out += '"';
}

void key(std::string& out, std::string_view name) {
    if (out.back() != '{') out += ',';
    append_string(out, name);
    out += ':';
}

void put(std::string& out, std::string_view name, std::uint64_t v) {
    key(out, name);
    out += std::to_string(v);
}

void put(std::string& out, std::string_view name, double v, const char* format = "%.3f") {
    key(out, name);
    char text[64];
    std::snprintf(text, sizeof text, format, std::isfinite(v) ? v : 0.0);
    out += text;
}

void put(std::string& out, std::string_view name, std::string_view v) {
    key(out, name);
    append_string(out, v);
}

void put(std::string& out, std::string_view name,
         const std::map<std::string, std::uint64_t, std::less<>>& m) {
    key(out, name);
    out += '{';
    for (const auto& [k, v] : m) put(out, k, v);
    out += '}';
}

std::string_view stop_name(run_error e) {
    switch (e) {
        case run_error::token_rejected:
            return "token_rejected";
        case run_error::tls_verification_failed:
            return "tls_verification_failed";
        case run_error::endpoint_unreachable:
            return "endpoint_unreachable";
        case run_error::interrupted:
            return "interrupted";
        case run_error::journal_failed:
            return "journal_failed";
        case run_error::input_failed:
            return "input_failed";
    }
    return "unknown";
}

std::string directory_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

}  // namespace

std::string utc_timestamp(std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    const auto since_epoch = t.time_since_epoch();
    const auto secs = floor<seconds>(since_epoch);
    const auto millis = duration_cast<milliseconds>(since_epoch - secs).count();
    const std::time_t tt = static_cast<std::time_t>(secs.count());
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    char stamp[96];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(millis));
    return stamp;
}

std::string summary_json(const run_summary& s, std::chrono::system_clock::time_point started,
                         std::chrono::system_clock::time_point finished) {
    std::string out = "{";
    put(out, "started_at", utc_timestamp(started));
    put(out, "finished_at", utc_timestamp(finished));
    put(out, "exit_code", static_cast<std::uint64_t>(s.exit_code()));
    put(out, "ids", s.ids);
    put(out, "released", s.released);
    put(out, "failed", s.failed);
    put(out, "invalid", s.invalid);
    put(out, "duplicates", s.duplicates);
    put(out, "already_final", s.already_final);
    put(out, "aborted", s.aborted);
    put(out, "not_sent", s.not_sent);
    put(out, "requests", s.requests);
    put(out, "retries", s.retries);
    put(out, "throttled", s.throttled);
    put(out, "connections_opened", s.connections_opened);
    put(out, "tls_resumed", s.tls_resumed);
    put(out, "elapsed_s", s.elapsed_s);
    put(out, "requests_per_second",
        s.elapsed_s > 0 ? static_cast<double>(s.requests) / s.elapsed_s : 0.0, "%.1f");
    key(out, "latency_ms");
    out += '{';
    put(out, "count", s.latency.count());
    put(out, "p50", s.latency.percentile_us(50) / 1000.0);
    put(out, "p90", s.latency.percentile_us(90) / 1000.0);
    put(out, "p99", s.latency.percentile_us(99) / 1000.0);
    put(out, "max", static_cast<double>(s.latency.max_us()) / 1000.0);
    out += '}';
    put(out, "answers_by_code", s.answers_by_code);
    put(out, "failures_by_reason", s.failures_by_reason);
    key(out, "input_complete");
    out += s.input_complete ? "true" : "false";
    key(out, "stopped_by");
    if (s.stopped_by) {
        append_string(out, stop_name(*s.stopped_by));
        put(out, "stop_detail", s.stop_detail);
        put(out, "stop_message", make_error_code(*s.stopped_by).message());
    } else {
        out += "null";
    }
    out += "}\n";
    return out;
}

bool can_create_file(const std::string& path, std::string& error) {
    const std::string dir = directory_of(path);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        error = "the directory '" + dir + "' does not exist: create it or choose another path";
        return false;
    }
    if (::access(dir.c_str(), W_OK) != 0) {
        error = "cannot create files in '" + dir + "': " + std::strerror(errno) +
                " (choose a writable directory)";
        return false;
    }
    return true;
}

}  // namespace koorelease::cli
