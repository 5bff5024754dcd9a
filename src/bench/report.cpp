#include "koorelease/bench/report.hpp"

#include <cmath>
#include <cstdio>

#include "koorelease/json_text.hpp"

namespace koorelease::bench {

namespace {

constexpr double percentiles[] = {50, 90, 99, 99.9, 99.99};
constexpr const char* percentile_names[] = {"p50", "p90", "p99", "p99.9", "p99.99"};

std::string fixed(double v, int digits) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", digits, std::isfinite(v) ? v : 0.0);
    return text;
}

double ms(double micros) { return micros / 1000.0; }

// Objects and arrays written in order, commas placed by the writer.
class json_writer {
public:
    json_writer& open(char bracket) {
        separate();
        out_ += bracket;
        first_ = true;
        return *this;
    }
    json_writer& close(char bracket) {
        out_ += bracket;
        first_ = false;
        return *this;
    }
    json_writer& key(std::string_view name) {
        separate();
        string_value(name);
        out_ += ':';
        first_ = true;  // the value follows without a comma
        return *this;
    }
    json_writer& value(std::string_view v) {
        separate();
        string_value(v);
        return *this;
    }
    json_writer& number(double v, int digits = 3) {
        separate();
        out_ += fixed(v, digits);
        return *this;
    }
    json_writer& count(std::uint64_t v) {
        separate();
        out_ += std::to_string(v);
        return *this;
    }
    json_writer& boolean(bool v) {
        separate();
        out_ += v ? "true" : "false";
        return *this;
    }
    json_writer& null() {
        separate();
        out_ += "null";
        return *this;
    }
    std::string take() { return std::move(out_); }

private:
    void separate() {
        if (!first_) out_ += ',';
        first_ = false;
    }
    void string_value(std::string_view v) {
        out_ += '"';
        append_json_escaped_lossy(out_, v);
        out_ += '"';
    }
    std::string out_;
    bool first_ = true;
};

void latency_object(json_writer& w, const hdr_histogram& h) {
    w.open('{');
    w.key("count").count(h.count());
    for (std::size_t i = 0; i < std::size(percentiles); ++i) {
        w.key(percentile_names[i]).number(ms(static_cast<double>(h.value_at_percentile(percentiles[i]))));
    }
    w.key("max").number(ms(static_cast<double>(h.max())));
    w.key("min").number(ms(static_cast<double>(h.min())));
    w.key("mean").number(ms(h.mean()));
    w.key("clamped").count(h.clamped());
    w.close('}');
}

void kinds_object(json_writer& w, const std::array<std::uint64_t, answer_kind_count>& by_kind) {
    w.open('{');
    for (std::size_t k = 0; k < answer_kind_count; ++k) w.key(to_string(static_cast<answer_kind>(k))).count(by_kind[k]);
    w.close('}');
}

std::array<std::uint64_t, answer_kind_count> totals_by_kind(const recorder& r) {
    std::array<std::uint64_t, answer_kind_count> out{};
    for (std::size_t k = 0; k < answer_kind_count; ++k) out[k] = r.by_kind(static_cast<answer_kind>(k));
    return out;
}

std::string rate_text(double rate) { return rate == std::floor(rate) ? fixed(rate, 0) : fixed(rate, 1); }

std::string schedule_text(const bench_report& r) {
    if (r.find_capacity) return "capacity search";
    if (r.from_rate != r.to_rate) return "ramp " + rate_text(r.from_rate) + " to " + rate_text(r.to_rate) + " req/s";
    return rate_text(r.to_rate) + " req/s";
}

}  // namespace

std::string format_latency(double micros) {
    if (micros >= 1e6) return fixed(micros / 1e6, micros >= 1e7 ? 1 : 2) + " s";
    const double m = micros / 1000.0;
    return fixed(m, m >= 100 ? 0 : m >= 10 ? 1 : m >= 1 ? 2 : 3) + " ms";
}

double bench_report::intended_rate() const { return duration_s > 0 ? static_cast<double>(scheduled) / duration_s : 0; }

double bench_report::achieved_rate() const {
    if (find_capacity) {
        // The steps are apart (--step-pause): each one's sends within its own duration.
        double on_time = 0;
        for (const auto& s : steps) on_time += s.result.achieved_rate * s.duration_s;
        return duration_s > 0 ? on_time / duration_s : 0;
    }
    return sends.achieved_rate(std::chrono::nanoseconds{static_cast<std::int64_t>(duration_s * 1e9)});
}

std::string to_text(const bench_report& r) {
    std::string t;
    const double intended = r.intended_rate(), achieved = r.achieved_rate();
    t += "koorelease bench: " + r.endpoint + ", " + schedule_text(r) + " for " + fixed(r.duration_s, 1) + " s, " +
         std::to_string(r.connections) + " connections, retries " + (r.retries ? "on" : "off") + "\n";
    if (!r.stopped_by.empty()) t += "stopped early: " + r.stopped_by + "\n";
    const auto no_answer = r.answers.by_kind(answer_kind::no_answer);
    t += "requests: " + std::to_string(r.scheduled) + " scheduled, " + std::to_string(r.sends.sent()) + " sent, " +
         std::to_string(r.answers.answered()) + " answered, " + std::to_string(no_answer) + " unanswered";
    if (r.retries) t += ", " + std::to_string(r.retried) + " retries";
    t += "\n";
    t += "rate: intended " + fixed(intended, 1) + "/s, achieved " + fixed(achieved, 1) + "/s (" +
         fixed(intended > 0 ? std::max(0.0, 100.0 * (1 - achieved / intended)) : 0, 1) + "% behind); " +
         std::to_string(r.sends.late()) + " sends more than 1 ms late, the latest by " +
         format_latency(static_cast<double>(r.sends.max_lag().count()) / 1000) + "\n";
    auto line = [&](const char* title, const hdr_histogram& h) {
        t += title;
        for (std::size_t i = 0; i < std::size(percentiles); ++i) {
            t += std::string("  ") + percentile_names[i] + " " + format_latency(static_cast<double>(h.value_at_percentile(percentiles[i])));
        }
        t += "  max " + format_latency(static_cast<double>(h.max())) + "\n";
    };
    line("latency (from the intended send time):\n ", r.answers.latency());
    line("service time (from the actual send; what a closed-loop tool shows):\n ", r.answers.service_time());
    if (r.answers.latency().clamped() > 0) {
        t += "  (" + std::to_string(r.answers.latency().clamped()) + " latencies above 60 s counted as 60 s)\n";
    }
    t += "answers:";
    for (std::size_t k = 0; k < answer_kind_count; ++k) {
        const auto n = r.answers.by_kind(static_cast<answer_kind>(k));
        if (n) t += " " + std::string(to_string(static_cast<answer_kind>(k))) + " " + std::to_string(n);
    }
    t += " (error share " + fixed(100 * r.answers.error_share(), 2) + "%)\n  by code:";
    for (const auto& [code, n] : r.answers.by_code()) t += " " + code + ": " + std::to_string(n) + ";";
    if (!r.answers.by_code().empty()) t.pop_back();
    t += "\npercentile spectrum (latency):\n";
    for (const auto& p : r.answers.latency().percentile_spectrum(1)) {
        t += "  " + fixed(p.percentile, 4) + "%  " + format_latency(static_cast<double>(p.value)) + "\n";
    }
    if (r.find_capacity) {
        t += "capacity steps (bounds: p99 <= " + format_latency(r.bounds.p99_us) + ", errors <= " +
             fixed(100 * r.bounds.max_error_share, 2) + "%):\n";
        for (const auto& s : r.steps) {
            t += "  " + rate_text(s.result.rate) + " req/s for " + fixed(s.duration_s, 1) + " s: achieved " +
                 fixed(s.result.achieved_rate, 1) + "/s, p50 " + format_latency(s.p50_us) + ", p99 " +
                 format_latency(s.result.p99_us) + ", p99.9 " + format_latency(s.p99_9_us) + ", errors " +
                 fixed(100 * s.result.error_share, 2) + "% (throttled " +
                 std::to_string(s.by_kind[static_cast<std::size_t>(answer_kind::throttled)]) + "): " +
                 (s.result.held ? "held" : "FAILED") + "\n";
        }
        if (r.capacity) {
            t += "capacity: " + rate_text(*r.capacity) + " req/s held";
            if (r.lowest_failed) t += ", " + rate_text(*r.lowest_failed) + " req/s did not";
            t += " (" + r.capacity_why + ")\n";
        } else {
            t += "capacity: no rate held (" + r.capacity_why + ")\n";
        }
    }
    return t;
}

std::string to_json(const bench_report& r) {
    json_writer w;
    w.open('{');
    w.key("tool").value("koorelease bench");
    w.key("version").value(KOORELEASE_VERSION);
    w.key("endpoint").value(r.endpoint);
    w.key("started_at").value(r.started_at);
    w.key("mode").value(r.find_capacity ? "find-capacity" : "rate");
    w.key("schedule").open('{').key("from_rate").number(r.from_rate).key("to_rate").number(r.to_rate);
    w.key("duration_s").number(r.duration_s).close('}');
    w.key("connections").count(r.connections);
    w.key("retries").boolean(r.retries);
    w.key("stopped_by");
    if (r.stopped_by.empty()) w.null(); else w.value(r.stopped_by);
    w.key("elapsed_s").number(r.elapsed_s);
    const double intended = r.intended_rate(), achieved = r.achieved_rate();
    w.key("intended_rate").number(intended);
    w.key("achieved_rate").number(achieved);
    w.key("behind_percent").number(intended > 0 ? std::max(0.0, 100.0 * (1 - achieved / intended)) : 0);
    w.key("requests").open('{');
    w.key("scheduled").count(r.scheduled).key("sent").count(r.sends.sent());
    w.key("answered").count(r.answers.answered()).key("unanswered").count(r.answers.by_kind(answer_kind::no_answer));
    w.key("not_sent").count(r.scheduled > r.sends.sent() ? r.scheduled - r.sends.sent() : 0);
    w.key("retries").count(r.retried).close('}');
    w.key("pacing").open('{');
    w.key("late_sends").count(r.sends.late());
    w.key("sent_after_end").count(r.sends.sent_after(std::chrono::nanoseconds{static_cast<std::int64_t>(r.duration_s * 1e9)}));
    w.key("max_lag_ms").number(static_cast<double>(r.sends.max_lag().count()) / 1e6);
    w.key("mean_lag_ms").number(static_cast<double>(r.sends.mean_lag().count()) / 1e6).close('}');
    w.key("latency_ms");
    latency_object(w, r.answers.latency());
    w.key("service_time_ms");
    latency_object(w, r.answers.service_time());
    w.key("spectrum").open('[');
    for (const auto& p : r.answers.latency().percentile_spectrum(5)) {
        w.open('[').number(p.percentile, 6).number(ms(static_cast<double>(p.value))).close(']');
    }
    w.close(']');
    w.key("answers_by_kind");
    kinds_object(w, totals_by_kind(r.answers));
    w.key("answers_by_code").open('{');
    for (const auto& [code, n] : r.answers.by_code()) w.key(code).count(n);
    w.close('}');
    w.key("error_share").number(r.answers.error_share(), 6);
    w.key("per_second").open('[');
    const auto& seconds = r.answers.seconds();
    for (std::size_t s = 0; s < seconds.size(); ++s) {
        const auto& b = seconds[s];
        w.open('{').key("t").count(s).key("count").count(b.latency.count());
        w.key("p50_ms").number(ms(static_cast<double>(b.latency.value_at_percentile(50))));
        w.key("p99_ms").number(ms(static_cast<double>(b.latency.value_at_percentile(99))));
        w.key("max_ms").number(ms(static_cast<double>(b.latency.max())));
        w.key("answers");
        kinds_object(w, b.by_kind);
        w.key("codes").open('{');
        for (const auto& [code, n] : b.by_code) w.key(code).count(n);
        w.close('}').close('}');
    }
    w.close(']');
    w.key("capacity");
    if (!r.find_capacity) {
        w.null();
    } else {
        w.open('{');
        w.key("p99_bound_ms").number(ms(r.bounds.p99_us));
        w.key("max_error_share").number(r.bounds.max_error_share, 6);
        w.key("highest_held");
        if (r.capacity) w.number(*r.capacity, 1); else w.null();
        w.key("lowest_failed");
        if (r.lowest_failed) w.number(*r.lowest_failed, 1); else w.null();
        w.key("why").value(r.capacity_why);
        w.key("steps").open('[');
        for (const auto& s : r.steps) {
            w.open('{').key("rate").number(s.result.rate, 1).key("duration_s").number(s.duration_s);
            w.key("scheduled").count(s.scheduled).key("sent").count(s.sent);
            w.key("achieved_rate").number(s.result.achieved_rate).key("max_lag_ms").number(s.max_lag_ms);
            w.key("p50_ms").number(ms(s.p50_us)).key("p99_ms").number(ms(s.result.p99_us));
            w.key("p99.9_ms").number(ms(s.p99_9_us)).key("max_ms").number(ms(s.max_us));
            w.key("error_share").number(s.result.error_share, 6).key("held").boolean(s.result.held);
            w.key("answers");
            kinds_object(w, s.by_kind);
            w.close('}');
        }
        w.close(']').close('}');
    }
    w.close('}');
    return w.take();
}

}  // namespace koorelease::bench
