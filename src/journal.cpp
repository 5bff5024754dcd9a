#include "koorelease/journal.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "koorelease/json_text.hpp"

#include <simdjson.h>

#include <fstream>

namespace koorelease {

namespace {

constexpr std::size_t batch_bytes = 256 * 1024;

void append_string(std::string& out, std::string_view key, std::string_view value) {
    out += ",\"";
    out += key;
    out += "\":\"";
    append_json_escaped(out, value);
    out += '"';
}

template <class Int>
void append_int(std::string& out, std::string_view key, Int value) {
    out += ",\"";
    out += key;
    out += "\":";
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    (void)ec;
    out.append(digits, end);
}

void append_timestamp(std::string& out, std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    // Records come by the thousand each second: format the date and time once a second.
    thread_local std::time_t cached_secs = -1;
    thread_local char cached[64];  // "YYYY-MM-DDTHH:MM:SS." (room for any int the compiler imagines)
    if (secs != cached_secs) {
        std::tm tm{};
        gmtime_r(&secs, &tm);
        std::snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_secs = secs;
    }
    out.append(cached, 20);
    const auto milli = static_cast<int>(ms % 1000);
    out += static_cast<char>('0' + milli / 100);
    out += static_cast<char>('0' + milli / 10 % 10);
    out += static_cast<char>('0' + milli % 10);
    out += 'Z';
}

}  // namespace

void format_record(std::string& out, const outcome_record& r) {
    out += "{\"instance_id\":\"";
    append_json_escaped(out, r.instance_id);
    out += '"';
    append_string(out, "outcome", r.outcome);
    if (!r.reason.empty()) append_string(out, "reason", r.reason);
    if (r.outcome == outcome::invalid) {
        append_int(out, "line", r.line);
    } else {
        append_int(out, "attempts", r.attempts);
        if (r.http_status != 0) append_int(out, "http_status", r.http_status);
        if (!r.error_code.empty()) append_string(out, "error_code", r.error_code);
        if (!r.error_msg.empty()) append_string(out, "error_msg", r.error_msg);
        out += ",\"request_ids\":[";
        for (std::size_t i = 0; i < r.request_ids.size(); ++i) {
            if (i) out += ',';
            out += '"';
            out += view(r.request_ids[i]);
            out += '"';
        }
        out += ']';
        if (r.latency_ms >= 0) {
            out += ",\"latency_ms\":";
            char text[32];
            auto [end, ec] = std::to_chars(text, text + sizeof text, r.latency_ms, std::chars_format::fixed, 3);
            if (ec == std::errc{}) out.append(text, end);
            else out += '0';
        }
    }
    out += ",\"finished_at\":\"";
    append_timestamp(out, r.finished_at);
    out += "\"}\n";
}

jsonl_journal::jsonl_journal(int fd, std::string name, bool owns_fd)
    : fd_(fd), name_(std::move(name)), owns_fd_(owns_fd) {
    buffer_.reserve(batch_bytes + 4096);
}

jsonl_journal::~jsonl_journal() {
    try {
        sync();
    } catch (...) {
        // The engine syncs explicitly and reports failures; a destructor cannot.
    }
    if (owns_fd_) ::close(fd_);
}

void jsonl_journal::write(const outcome_record& r) {
    format_record(buffer_, r);
    if (buffer_.size() >= batch_bytes) flush();
}

void jsonl_journal::flush() {
    std::size_t done = 0;
    while (done < buffer_.size()) {
        const auto n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            const std::string why = std::strerror(errno);
            buffer_.erase(0, done);
            throw std::runtime_error("cannot write the journal " + name_ + ": " + why);
        }
        done += static_cast<std::size_t>(n);
    }
    buffer_.clear();
}

void jsonl_journal::sync() {
    flush();
    // Pipes and terminals cannot be synced (EINVAL); that is fine.
    if (::fdatasync(fd_) != 0 && errno != EINVAL && errno != EROFS) {
        throw std::runtime_error("cannot sync the journal " + name_ + ": " + std::strerror(errno));
    }
}

bool load_prior_outcomes(const std::string& path, prior_outcomes& out, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot read the journal '" + path + "' to resume: " + std::strerror(errno);
        return false;
    }
    simdjson::dom::parser parser;
    std::string line;
    std::uint64_t number = 0;
    std::uint64_t offset = 0;
    while (std::getline(in, line)) {
        ++number;
        const bool complete = !in.eof();  // getline stopped at a '\n'
        simdjson::dom::element doc;
        std::string_view id, what;
        std::uint64_t input_line = 0;
        const bool parsed = parser.parse(line).get(doc) == simdjson::SUCCESS &&
                            doc["outcome"].get(what) == simdjson::SUCCESS;
        if (!complete) {
            // The last line of a run that was killed: it may be cut anywhere, even where it
            // still parses. Its id is simply sent again.
            out.torn_tail = true;
            break;
        }
        if (!parsed) {
            error = "the journal '" + path + "' is not a koorelease journal: line " +
                    std::to_string(number) +
                    " is not a JSON record (only the last line may be incomplete); use another --output";
            return false;
        }
        offset += line.size() + 1;
        ++out.records;
        if (what == outcome::invalid) {
            if (doc["line"].get(input_line) == simdjson::SUCCESS) out.invalid_lines.insert(input_line);
            continue;
        }
        if (doc["instance_id"].get(id) != simdjson::SUCCESS) {
            error = "the journal '" + path + "': line " + std::to_string(number) + " has no instance_id";
            return false;
        }
        if (what == outcome::released || what == outcome::failed) {
            out.final_ids.insert(id, id_set::mark::final_before);
        } else {
            ++out.aborted;
        }
    }
    out.keep_bytes = offset;
    return true;
}

}  // namespace koorelease
