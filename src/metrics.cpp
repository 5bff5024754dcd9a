#include "koorelease/metrics.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>

#include "koorelease/endpoint.hpp"
#include "tls.hpp"

namespace koorelease {

namespace {

void append_number(std::string& out, double v) {
    if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
        return;
    }
    if (std::isnan(v)) {
        out += "NaN";
        return;
    }
    char text[32];
    auto [end, ec] = std::to_chars(text, text + sizeof text, v);
    if (ec == std::errc{}) out.append(text, end);
    else out += '0';
}

void append_number(std::string& out, std::uint64_t v) { out += std::to_string(v); }

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;  // constant texts, without backslashes or newlines
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

template <class Number>
void sample(std::string& out, std::string_view name, Number value,
            std::initializer_list<std::pair<std::string_view, std::string_view>> labels = {}) {
    out += name;
    if (labels.size() != 0) {
        out += '{';
        bool first = true;
        for (const auto& [label, text] : labels) {
            if (!first) out += ',';
            first = false;
            out += label;
            out += "=\"";
            out += escape_label_value(text);
            out += '"';
        }
        out += '}';
    }
    out += ' ';
    append_number(out, value);
    out += '\n';
}

template <class Number>
void gauge(std::string& out, std::string_view name, std::string_view help, Number value) {
    header(out, name, "gauge", help);
    sample(out, name, value);
}

template <class Number>
void counter(std::string& out, std::string_view name, std::string_view help, Number value) {
    header(out, name, "counter", help);
    sample(out, name, value);
}

constexpr std::string_view no_answer_prefix = "no answer ";  // answers_by_code key of unanswered requests

}  // namespace

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (const char c : value) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '"': out += "\\\""; break;
            case '\n': out += "\\n"; break;
            default: out += c;
        }
    }
    return out;
}

std::string format_metrics(const run_summary& s, const run_times& t) {
    std::string out;
    // Times to the millisecond, as the journal has them: "1795792962.992", not 17 digits.
    const double start_s = std::round(t.start_s * 1000) / 1000;
    const double now_s = std::round(t.now_s * 1000) / 1000;
    gauge(out, "koorelease_run_start_timestamp_seconds", "Unix time the run started.", start_s);
    gauge(out, "koorelease_run_duration_seconds", "Seconds the run has taken so far (all of it once ended).",
          std::round((now_s - start_s) * 1000) / 1000);
    if (t.exit_code) {
        gauge(out, "koorelease_run_end_timestamp_seconds", "Unix time the run ended.", now_s);
        gauge(out, "koorelease_run_exit_code",
              "Exit code of the run: 0 all released, 1 some failed or invalid, 3 aborted, 4 interrupted.",
              static_cast<std::uint64_t>(*t.exit_code));
        if (*t.exit_code == 0) {
            gauge(out, "koorelease_last_success_timestamp_seconds",
                  "Unix time a run ended with every id released (exit code 0).", now_s);
        }
    }

    constexpr std::string_view ids = "koorelease_ids_total";
    header(out, ids, "counter",
           "Ids by outcome: released, failed, invalid (input lines), aborted (sent, outcome unknown), "
           "not_sent (read, never sent: the run stopped), duplicate (repeats, released once), "
           "already_final (in the journal already: --resume).");
    sample(out, ids, s.released, {{"outcome", "released"}});
    sample(out, ids, s.failed, {{"outcome", "failed"}});
    sample(out, ids, s.invalid, {{"outcome", "invalid"}});
    sample(out, ids, s.aborted, {{"outcome", "aborted"}});
    sample(out, ids, s.not_sent, {{"outcome", "not_sent"}});
    sample(out, ids, s.duplicates, {{"outcome", "duplicate"}});
    sample(out, ids, s.already_final, {{"outcome", "already_final"}});

    counter(out, "koorelease_requests_total", "Requests sent (attempts, retries included).", s.requests);
    counter(out, "koorelease_retries_total", "Requests that were retries.", s.retries);
    counter(out, "koorelease_throttled_total", "Throttled answers (429 or APIG.0308).", s.throttled);

    constexpr std::string_view answers = "koorelease_answers_total";
    header(out, answers, "counter",
           "Answers by HTTP status and the body's error_code (\"-\": no error_code in the body).");
    for (const auto& [key, count] : s.answers_by_code) {
        if (key.starts_with(no_answer_prefix)) continue;
        const auto space = key.find(' ');
        const std::string_view k = key;
        sample(out, answers, count,
               {{"status", k.substr(0, space)},
                {"error_code", space == std::string_view::npos ? std::string_view("-") : k.substr(space + 1)}});
    }
    constexpr std::string_view unanswered = "koorelease_unanswered_requests_total";
    header(out, unanswered, "counter", "Requests that got no answer, by why.");
    for (const auto& [key, count] : s.answers_by_code) {
        if (key.starts_with(no_answer_prefix)) {
            sample(out, unanswered, count, {{"reason", std::string_view(key).substr(no_answer_prefix.size())}});
        }
    }

    constexpr std::string_view latency = "koorelease_request_duration_seconds";
    header(out, latency, "histogram", "Time from sending a request to its whole answer, of answered requests.");
    const std::string bucket = std::string(latency) + "_bucket";
    for (const double bound : latency_bucket_bounds_s) {
        std::string le;
        append_number(le, bound);
        sample(out, bucket, s.latency.count_up_to_us(static_cast<std::uint64_t>(std::llround(bound * 1e6))),
               {{"le", le}});
    }
    sample(out, bucket, s.latency.count(), {{"le", "+Inf"}});
    sample(out, std::string(latency) + "_sum", s.latency.sum_us() / 1e6);
    sample(out, std::string(latency) + "_count", s.latency.count());
    return out;
}

bool is_label_name(std::string_view name) {
    if (name.empty() || name.starts_with("__")) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

namespace {

bool plain_segment(std::string_view v) {
    if (v.empty()) return false;
    for (const char c : v) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-' || c == '~';
        if (!ok) return false;
    }
    return true;
}

std::string base64url(std::string_view in) {
    static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const auto n = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8) |
                       std::uint8_t(in[i + 2]);
        out += table[n >> 18];
        out += table[(n >> 12) & 63];
        out += table[(n >> 6) & 63];
        out += table[n & 63];
    }
    if (in.size() - i == 1) {
        const auto n = std::uint32_t(std::uint8_t(in[i])) << 16;
        out += table[n >> 18];
        out += table[(n >> 12) & 63];
        out += "==";
    } else if (in.size() - i == 2) {
        const auto n = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8);
        out += table[n >> 18];
        out += table[(n >> 12) & 63];
        out += table[(n >> 6) & 63];
        out += '=';
    }
    return out;
}

void append_label(std::string& path, std::string_view name, std::string_view value) {
    path += '/';
    path += name;
    if (plain_segment(value)) {
        path += '/';
        path += value;
    } else {
        // The Pushgateway's documented form for values with '/' or other characters; "=" is
        // its spelling of the empty value.
        path += "@base64/";
        path += value.empty() ? std::string("=") : base64url(value);
    }
}

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

template <class Stream>
asio::awaitable<std::string> exchange(Stream& stream, http::request<http::string_body>& req,
                                      std::chrono::milliseconds timeout) {
    beast::get_lowest_layer(stream).expires_after(timeout);
    co_await http::async_write(stream, req, asio::use_awaitable);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    beast::get_lowest_layer(stream).expires_after(timeout);
    co_await http::async_read(stream, buffer, res, asio::use_awaitable);
    const unsigned status = res.result_int();
    if (status >= 200 && status < 300) co_return std::string();
    std::string body = res.body().substr(0, 200);
    for (char& c : body) {
        if (c == '\n' || c == '\r') c = ' ';
    }
    while (!body.empty() && body.back() == ' ') body.pop_back();
    co_return "the Pushgateway answered HTTP " + std::to_string(status) + (body.empty() ? "" : ": " + body);
}

asio::awaitable<std::string> push(const endpoint& ep, std::string target, std::string_view body,
                                  const std::string& ca_file, bool insecure, std::chrono::milliseconds timeout) {
    auto executor = co_await asio::this_coro::executor;
    tcp::resolver resolver(executor);
    const auto resolved = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), asio::use_awaitable);

    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, ep.host_header());
    req.set(http::field::user_agent, "koorelease/" KOORELEASE_VERSION);
    req.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    req.set(http::field::connection, "close");
    req.body() = std::string(body);
    req.prepare_payload();

    if (!ep.tls) {
        beast::tcp_stream stream(executor);
        stream.expires_after(timeout);
        co_await stream.async_connect(resolved, asio::use_awaitable);
        co_return co_await exchange(stream, req, timeout);
    }
    auto ctx = detail::make_client_context(ca_file, insecure);
    asio::ssl::stream<beast::tcp_stream> stream(executor, ctx);
    beast::get_lowest_layer(stream).expires_after(timeout);
    co_await beast::get_lowest_layer(stream).async_connect(resolved, asio::use_awaitable);
    if (!detail::is_ip_literal(ep.host)) SSL_set_tlsext_host_name(stream.native_handle(), ep.host.c_str());
    if (!insecure) stream.set_verify_callback(asio::ssl::host_name_verification(ep.host));
    co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    co_return co_await exchange(stream, req, timeout);
}

}  // namespace

std::string pushgateway_path(const push_target& target) {
    std::string path = "/metrics";
    append_label(path, "job", target.job);
    for (const auto& [name, value] : target.labels) append_label(path, name, value);
    return path;
}

std::string push_metrics(const push_target& target, std::string_view body, const std::string& ca_file,
                         bool insecure, std::chrono::milliseconds timeout) {
    auto parsed = parse_endpoint(target.url);
    if (auto* error = std::get_if<std::string>(&parsed)) return *error;
    const endpoint ep = std::get<endpoint>(parsed);
    const std::string where = ep.to_string();
    asio::io_context io;
    std::string result;
    asio::co_spawn(io, push(ep, ep.path_prefix + pushgateway_path(target), body, ca_file, insecure, timeout),
                   [&](std::exception_ptr e, std::string r) {
                       if (!e) {
                           result = std::move(r);
                           return;
                       }
                       try {
                           std::rethrow_exception(e);
                       } catch (const boost::system::system_error& se) {
                           result = se.code() == beast::error::timeout
                                        ? "no answer within " + std::to_string(timeout.count()) + " ms"
                                        : se.code().message();
                       } catch (const std::exception& other) {
                           result = other.what();
                       }
                   });
    io.run();
    if (result.empty()) return {};
    return "cannot push the metrics to " + where + ": " + result;
}

std::string make_push_target(const std::string& url, const std::string& job, const std::string& instance,
                             const std::vector<std::string>& labels, push_target& out) {
    out = {};
    auto parsed = parse_endpoint(url);
    if (auto* error = std::get_if<std::string>(&parsed)) {
        return "--pushgateway: " + *error + " (e.g. http://pushgateway.example:9091)";
    }
    out.url = url;
    if (job.empty()) return "--push-job must not be empty (default: koorelease)";
    out.job = job;
    std::string host = instance;
    if (host.empty()) {
        char name[256] = {};
        if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') {
            return "cannot read the host name for the instance label: give --push-instance NAME";
        }
        host = name;
    }
    out.labels.emplace_back("instance", host);
    for (const auto& label : labels) {
        const auto eq = label.find('=');
        const std::string name = label.substr(0, eq);
        if (eq == std::string::npos || !is_label_name(name)) {
            return "--push-label '" + label + "' is not name=value with a Prometheus label name (letters, digits, _)";
        }
        if (name == "job" || name == "instance") {
            return "--push-label '" + label + "': set " + name + " with --push-" + name;
        }
        for (const auto& [seen, value] : out.labels) {
            if (seen == name) return "--push-label '" + label + "': the label " + name + " is given twice";
        }
        out.labels.emplace_back(name, label.substr(eq + 1));
    }
    return {};
}

namespace {

double unix_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

run_metrics::run_metrics(std::string file, std::optional<push_target> push, std::string ca_file, bool insecure,
                         double interval_s)
    : file_(std::move(file)),
      push_(std::move(push)),
      ca_file_(std::move(ca_file)),
      insecure_(insecure),
      schedule_(interval_s) {}

std::string run_metrics::start() {
    start_s_ = unix_now();
    if (file_.empty()) return {};
    return write_file_atomically(file_, format_metrics(run_summary{}, run_times{start_s_, start_s_, std::nullopt}));
}

std::string run_metrics::on_progress(const progress_snapshot& p) {
    if (file_.empty() || p.counters == nullptr || !schedule_.due(p.elapsed_s)) return {};
    run_summary s = *p.counters;  // the engine keeps these two elsewhere during the run
    s.duplicates = p.duplicates;
    s.throttled = p.throttled;
    auto error = write_file_atomically(file_, format_metrics(s, run_times{start_s_, unix_now(), std::nullopt}));
    if (error.empty() || error == last_error_) return {};
    last_error_ = error;
    return error + " (will retry; the run goes on)";
}

std::vector<std::string> run_metrics::finish(const run_summary& s) {
    std::vector<std::string> warnings;
    if (file_.empty() && !push_) return warnings;
    const std::string text = format_metrics(s, run_times{start_s_, unix_now(), s.exit_code()});
    if (!file_.empty()) {
        if (auto error = write_file_atomically(file_, text); !error.empty()) warnings.push_back(error);
    }
    if (push_) {
        if (auto error = push_metrics(*push_, text, ca_file_, insecure_); !error.empty()) {
            warnings.push_back(error + " (the run's exit code is not changed)");
        }
    }
    return warnings;
}

}  // namespace koorelease
