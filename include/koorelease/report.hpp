#pragma once
// `koorelease report`: the summary of one or more outcome journals. Reading (parse_journal)
// and summing up (summarize) are pure functions over text and records, so they are tested
// without files.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace koorelease {

// One journal line, parsed.
struct journal_entry {
    std::string instance_id;
    std::string outcome;     // released, failed, invalid, aborted
    std::string reason;
    std::string error_code;  // "" when the record has none (no answer)
    std::uint32_t attempts = 0;
    unsigned http_status = 0;
    std::optional<double> latency_ms;
    std::optional<std::int64_t> finished_at_ms;  // Unix time, milliseconds
};

// Parses one line; nullopt with `error` saying what is wrong when it is not a record.
std::optional<journal_entry> parse_journal_line(std::string_view line, std::string& error);

// Parses a whole journal's text, appending its records to `out`. A malformed line returns
// false with `error` = "<name>:<line>: ..."; a last line without its '\n' (cut short by a
// killed run) is skipped with a warning in `warnings`, as `release --resume` drops it.
bool parse_journal(std::string_view text, std::string_view name, std::vector<journal_entry>& out,
                   std::string& error, std::vector<std::string>& warnings);

struct journal_report {
    std::uint64_t records = 0;
    std::uint64_t distinct_ids = 0;               // of released, failed and aborted records
    std::uint64_t ids_with_several_records = 0;   // resumed or repeated runs
    // Ids by the outcome of their last record (later journals and lines win), invalid records
    // by record.
    std::map<std::string, std::uint64_t, std::less<>> by_outcome;
    // Ids by the error code of their last record ("-": none, the last attempt got no answer).
    std::map<std::string, std::uint64_t, std::less<>> by_error_code;
    // Failed ids by reason (their last record).
    std::map<std::string, std::uint64_t, std::less<>> failures_by_reason;
    std::uint64_t attempts_total = 0;                     // over every record: requests sent
    std::map<std::uint32_t, std::uint64_t> attempts_distribution;  // records by attempts
    // Latency of the last attempt of each record that has one, exact nearest-rank percentiles.
    std::uint64_t latency_count = 0;
    double latency_p50_ms = 0, latency_p90_ms = 0, latency_p99_ms = 0, latency_max_ms = 0;
    std::optional<std::int64_t> first_finished_ms, last_finished_ms;
    double duration_s = 0;                // last - first finished_at
    std::vector<std::string> failed_ids;  // ids whose last record is failed, in first-seen order
};

journal_report summarize(const std::vector<journal_entry>& entries);

// "2026-11-27T10:47:54.123Z" <-> Unix milliseconds.
std::optional<std::int64_t> parse_timestamp_ms(std::string_view text);
std::string format_timestamp_ms(std::int64_t ms);

std::string format_report_text(const journal_report& r);
std::string format_report_json(const journal_report& r);

}  // namespace koorelease
