#include "koorelease/report.hpp"
#include "koorelease/utc_time.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <unordered_map>

#include "koorelease/journal.hpp"
#include "koorelease/json_text.hpp"

namespace koorelease {

namespace {

bool known_outcome(std::string_view o) {
    return o == outcome::released || o == outcome::failed || o == outcome::invalid || o == outcome::aborted;
}

std::string fixed(double v, int decimals) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, v);
    return text;
}

double nearest_rank(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    const auto rank = std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size()))));
    return sorted[std::min(rank, sorted.size()) - 1];
}

}  // namespace

std::optional<std::int64_t> parse_timestamp_ms(std::string_view t) {
    // YYYY-MM-DDTHH:MM:SS.mmmZ, exactly as format_record writes it.
    if (t.size() != 24 || t[10] != 'T' || t[19] != '.' || t[23] != 'Z') return std::nullopt;
    const auto at = parse_utc_time(t);
    if (!at) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::milliseconds>(at->time_since_epoch()).count();
}

std::string format_timestamp_ms(std::int64_t ms) {
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char text[64];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    return text;
}

std::optional<journal_entry> parse_journal_line(std::string_view line, std::string& error) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(line.data(), line.size()).get(doc) != simdjson::SUCCESS) {
        error = "not JSON";
        return std::nullopt;
    }
    simdjson::dom::object obj;
    if (doc.get(obj) != simdjson::SUCCESS) {
        error = "not a JSON object";
        return std::nullopt;
    }
    journal_entry e;
    std::string_view text;
    if (obj["instance_id"].get(text) != simdjson::SUCCESS) {
        error = "no \"instance_id\" string";
        return std::nullopt;
    }
    e.instance_id = text;
    if (obj["outcome"].get(text) != simdjson::SUCCESS || !known_outcome(text)) {
        error = "no \"outcome\" of released, failed, invalid or aborted";
        return std::nullopt;
    }
    e.outcome = text;
    if (obj["reason"].get(text) == simdjson::SUCCESS) e.reason = text;
    if (obj["error_code"].get(text) == simdjson::SUCCESS) e.error_code = text;
    std::uint64_t n = 0;
    if (auto field = obj["attempts"]; field.error() == simdjson::SUCCESS) {
        if (field.get(n) != simdjson::SUCCESS || n > UINT32_MAX) {
            error = "\"attempts\" is not a count";
            return std::nullopt;
        }
        e.attempts = static_cast<std::uint32_t>(n);
    }
    if (obj["http_status"].get(n) == simdjson::SUCCESS) e.http_status = static_cast<unsigned>(n);
    if (auto field = obj["latency_ms"]; field.error() == simdjson::SUCCESS) {
        double ms = 0;
        if (field.get(ms) != simdjson::SUCCESS) {
            error = "\"latency_ms\" is not a number";
            return std::nullopt;
        }
        e.latency_ms = ms;
    }
    if (auto field = obj["finished_at"]; field.error() == simdjson::SUCCESS) {
        std::optional<std::int64_t> t;
        if (field.get(text) == simdjson::SUCCESS) t = parse_timestamp_ms(text);
        if (!t) {
            error = "\"finished_at\" is not a time like 2026-11-27T10:47:54.123Z";
            return std::nullopt;
        }
        e.finished_at_ms = t;
    }
    return e;
}

bool parse_journal(std::string_view text, std::string_view name, std::vector<journal_entry>& out,
                   std::string& error, std::vector<std::string>& warnings) {
    std::uint64_t number = 0;
    std::size_t at = 0;
    while (at < text.size()) {
        ++number;
        const auto end = text.find('\n', at);
        if (end == std::string_view::npos) {
            // A run killed mid-write leaves its last line cut short; `release --resume` drops
            // it and sends its id again.
            warnings.push_back(std::string(name) + ":" + std::to_string(number) +
                               ": the last line is incomplete (a run was killed while writing it): skipped");
            break;
        }
        const std::string_view line = text.substr(at, end - at);
        at = end + 1;
        if (line.empty()) continue;
        std::string why;
        auto entry = parse_journal_line(line, why);
        if (!entry) {
            error = std::string(name) + ":" + std::to_string(number) + ": not a koorelease journal record (" + why +
                    "); give the JSON Lines journal written by `koorelease release --output`";
            return false;
        }
        out.push_back(std::move(*entry));
    }
    return true;
}

journal_report summarize(const std::vector<journal_entry>& entries) {
    journal_report r;
    r.records = entries.size();
    std::unordered_map<std::string_view, std::pair<std::size_t, std::uint64_t>> last;  // id -> (last index, records)
    std::vector<std::string_view> order;
    std::vector<double> latencies;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& e = entries[i];
        if (e.outcome == outcome::invalid) {
            ++r.by_outcome[std::string(outcome::invalid)];
        } else {
            auto [it, fresh] = last.try_emplace(e.instance_id, i, 0);
            if (fresh) order.push_back(e.instance_id);
            it->second.first = i;
            ++it->second.second;
            r.attempts_total += e.attempts;
            ++r.attempts_distribution[e.attempts];
        }
        if (e.latency_ms) latencies.push_back(*e.latency_ms);
        if (e.finished_at_ms) {
            if (!r.first_finished_ms || *e.finished_at_ms < *r.first_finished_ms) r.first_finished_ms = e.finished_at_ms;
            if (!r.last_finished_ms || *e.finished_at_ms > *r.last_finished_ms) r.last_finished_ms = e.finished_at_ms;
        }
    }
    r.distinct_ids = order.size();
    for (const auto id : order) {
        const auto& [index, count] = last.at(id);
        const auto& e = entries[index];
        if (count > 1) ++r.ids_with_several_records;
        ++r.by_outcome[e.outcome];
        ++r.by_error_code[e.error_code.empty() ? std::string("-") : e.error_code];
        if (e.outcome == outcome::failed) {
            ++r.failures_by_reason[e.reason];
            r.failed_ids.push_back(e.instance_id);
        }
    }
    std::sort(latencies.begin(), latencies.end());
    r.latency_count = latencies.size();
    r.latency_p50_ms = nearest_rank(latencies, 50);
    r.latency_p90_ms = nearest_rank(latencies, 90);
    r.latency_p99_ms = nearest_rank(latencies, 99);
    r.latency_max_ms = latencies.empty() ? 0 : latencies.back();
    if (r.first_finished_ms) r.duration_s = static_cast<double>(*r.last_finished_ms - *r.first_finished_ms) / 1000.0;
    return r;
}

std::string format_report_text(const journal_report& r) {
    std::string out = std::to_string(r.records) + " records, " + std::to_string(r.distinct_ids) + " distinct ids, " +
                      std::to_string(r.ids_with_several_records) + " ids with more than one record\n";
    out += "outcomes (of each id's last record):";
    for (const auto& [what, count] : r.by_outcome) out += " " + what + " " + std::to_string(count) + ",";
    if (out.back() == ',') out.pop_back();
    out += "\nerror codes:";
    for (const auto& [code, count] : r.by_error_code) out += " " + code + " " + std::to_string(count) + ",";
    if (out.back() == ',') out.pop_back();
    out += '\n';
    for (const auto& [reason, count] : r.failures_by_reason) {
        out += "failed: " + std::to_string(count) + " x " + (reason.empty() ? std::string("(no reason)") : reason) + "\n";
    }
    out += "attempts: " + std::to_string(r.attempts_total) + " in all; records by attempts:";
    for (const auto& [attempts, count] : r.attempts_distribution) {
        out += " " + std::to_string(attempts) + ": " + std::to_string(count) + ",";
    }
    if (out.back() == ',') out.pop_back();
    out += '\n';
    if (r.latency_count) {
        out += "latency of the last attempt (" + std::to_string(r.latency_count) + " records): p50 " +
               fixed(r.latency_p50_ms, 3) + " ms, p90 " + fixed(r.latency_p90_ms, 3) + " ms, p99 " +
               fixed(r.latency_p99_ms, 3) + " ms, max " + fixed(r.latency_max_ms, 3) + " ms\n";
    }
    if (r.first_finished_ms) {
        out += "finished from " + format_timestamp_ms(*r.first_finished_ms) + " to " +
               format_timestamp_ms(*r.last_finished_ms) + " (" + fixed(r.duration_s, 3) + " s)\n";
    }
    return out;
}

namespace {

void json_key(std::string& out, std::string_view key) {
    out += '"';
    append_json_escaped(out, key);
    out += "\":";
}

template <class Map>
void json_counts(std::string& out, std::string_view key, const Map& m) {
    json_key(out, key);
    out += '{';
    bool first = true;
    for (const auto& [k, v] : m) {
        if (!first) out += ',';
        first = false;
        if constexpr (std::is_integral_v<std::decay_t<decltype(k)>>) json_key(out, std::to_string(k));
        else json_key(out, k);
        out += std::to_string(v);
    }
    out += '}';
}

}  // namespace

std::string format_report_json(const journal_report& r) {
    std::string out = "{";
    json_key(out, "records");
    out += std::to_string(r.records) + ",";
    json_key(out, "distinct_ids");
    out += std::to_string(r.distinct_ids) + ",";
    json_key(out, "ids_with_several_records");
    out += std::to_string(r.ids_with_several_records) + ",";
    json_counts(out, "outcomes", r.by_outcome);
    out += ',';
    json_counts(out, "error_codes", r.by_error_code);
    out += ',';
    json_counts(out, "failures_by_reason", r.failures_by_reason);
    out += ',';
    json_key(out, "attempts");
    out += "{\"total\":" + std::to_string(r.attempts_total) + ",";
    json_counts(out, "distribution", r.attempts_distribution);
    out += "},";
    json_key(out, "latency_ms");
    out += "{\"count\":" + std::to_string(r.latency_count) + ",\"p50\":" + fixed(r.latency_p50_ms, 3) +
           ",\"p90\":" + fixed(r.latency_p90_ms, 3) + ",\"p99\":" + fixed(r.latency_p99_ms, 3) +
           ",\"max\":" + fixed(r.latency_max_ms, 3) + "},";
    json_key(out, "first_finished_at");
    out += r.first_finished_ms ? "\"" + format_timestamp_ms(*r.first_finished_ms) + "\"" : std::string("null");
    out += ',';
    json_key(out, "last_finished_at");
    out += r.last_finished_ms ? "\"" + format_timestamp_ms(*r.last_finished_ms) + "\"" : std::string("null");
    out += ',';
    json_key(out, "duration_s");
    out += fixed(r.duration_s, 3);
    out += ',';
    json_key(out, "failed");
    out += std::to_string(r.failed_ids.size());
    out += "}\n";
    return out;
}

}  // namespace koorelease
