#include "koorelease/iam.hpp"
#include "koorelease/utc_time.hpp"

#include <simdjson.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <charconv>
#include <ctime>

#include "koorelease/json_text.hpp"
#include "koorelease/request.hpp"
#include "iam_client.hpp"
#include "tls.hpp"

namespace koorelease {

namespace {

bool is_loopback_host(const std::string& host) {
    if (host == "localhost") return true;
    boost::system::error_code ec;
    const auto a = boost::asio::ip::make_address(host, ec);
    return !ec && a.is_loopback();
}

// A server's message, made safe for one line of a terminal: printable ASCII, bounded.
std::string one_line(std::string_view text) {
    std::string out;
    for (char c : text.substr(0, 200)) out.push_back(c >= 0x20 && c < 0x7f ? c : ' ');
    return out;
}

// The error text of an IAM answer: Keystone's {"error":{"message":...}} or Huawei's
// {"error_msg":...}; empty if neither.
std::string error_message_of(std::string_view body) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(body);
    simdjson::dom::element doc;
    if (parser.parse(padded).get(doc) != simdjson::SUCCESS) return {};
    std::string_view message;
    if (doc["error"]["message"].get(message) == simdjson::SUCCESS) return one_line(message);
    if (doc["error_msg"].get(message) == simdjson::SUCCESS) return one_line(message);
    return {};
}

}  // namespace

bool is_project_id(std::string_view project) {
    return project.size() == 32 &&
           std::all_of(project.begin(), project.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string iam_request_body(const iam_credentials& c) {
    std::string out;
    out.reserve(256);
    out += R"({"auth":{"identity":{"methods":["password"],"password":{"user":{"name":")";
    append_json_escaped(out, c.user);
    out += R"(","password":")";
    append_json_escaped(out, c.password);
    out += R"(","domain":{"name":")";
    append_json_escaped(out, c.domain);
    out += R"("}}}},"scope":{"project":{)";
    out += is_project_id(c.project) ? R"("id":")" : R"("name":")";
    append_json_escaped(out, c.project);
    out += R"("}}}})";
    return out;
}

std::string iam_request_target(const endpoint& iam) {
    return iam.path_prefix + std::string(iam_tokens_path) + "?nocatalog=true";
}

std::string check_iam_settings(const iam_settings& s) {
    const auto& c = s.credentials;
    if (c.user.empty()) return "no IAM user: pass the IAM user name (--user / --iam-user)";
    if (c.domain.empty()) return "no IAM domain: pass the account (domain) name (--domain / --iam-domain)";
    if (c.project.empty()) return "no IAM project: pass the project name, e.g. cn-north-4, or its id (--project / --iam-project)";
    if (c.password.empty()) return "no IAM password: set KOOPHONE_IAM_PASSWORD";
    for (std::string_view v : {std::string_view(c.user), std::string_view(c.domain), std::string_view(c.project)}) {
        if (!is_valid_utf8(v)) return "the IAM user, domain and project must be UTF-8 text";
    }
    if (!is_valid_utf8(c.password)) return "the IAM password (KOOPHONE_IAM_PASSWORD) is not UTF-8 text";
    if (!s.target.tls && !is_loopback_host(s.target.host)) {
        return "the IAM endpoint " + s.target.to_string() +
               " is plain http://: the password would travel unencrypted; use https://";
    }
    return {};
}

std::optional<std::chrono::system_clock::time_point> parse_iam_time(std::string_view t) {
    return parse_utc_time(t);
}

std::string format_utc(std::chrono::system_clock::time_point t) {
    const std::time_t secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

iam_result interpret_iam_answer(unsigned status, std::string_view subject_token, std::string_view body) {
    const std::string server_says = error_message_of(body);
    const std::string detail = "HTTP " + std::to_string(status) + (server_says.empty() ? "" : ": " + server_says);
    if (status == 201 || status == 200) {
        if (subject_token.empty()) return iam_error{false, "IAM answered " + detail + " without an X-Subject-Token header: is --iam-endpoint an IAM endpoint?"};
        if (const auto problem = check_token(subject_token); !problem.empty()) {
            return iam_error{false, "IAM answered with an unusable token: " + problem};
        }
        simdjson::dom::parser parser;
        simdjson::padded_string padded(body);
        simdjson::dom::element doc;
        std::string_view expires;
        std::optional<std::chrono::system_clock::time_point> at;
        if (parser.parse(padded).get(doc) == simdjson::SUCCESS &&
            doc["token"]["expires_at"].get(expires) == simdjson::SUCCESS) {
            at = parse_iam_time(expires);
        }
        if (!at) return iam_error{false, "IAM answered " + std::to_string(status) + " without a readable token.expires_at in its body"};
        return iam_token{std::string(subject_token), *at};
    }
    if (status == 401) {
        return iam_error{true, "IAM refused the credentials (" + detail +
                                   "): check the user (--user/--iam-user), the domain (--domain/--iam-domain) and the "
                                   "password (KOOPHONE_IAM_PASSWORD)"};
    }
    if (status == 403) {
        return iam_error{true, "IAM refused the request (" + detail +
                                   "): the user may be locked, disabled or without access to the project; check the "
                                   "project (--project/--iam-project)"};
    }
    if (status == 400 || status == 404) {
        return iam_error{true, "IAM refused the request (" + detail +
                                   "): check the project and domain names, and that --iam-endpoint is the IAM "
                                   "endpoint of the region (e.g. https://iam.myhuaweicloud.com)"};
    }
    return iam_error{false, "IAM answered " + detail + ": try again later"};
}

std::chrono::nanoseconds refresh_after(std::chrono::nanoseconds lifetime) {
    using namespace std::chrono;
    if (lifetime <= nanoseconds::zero()) return nanoseconds::zero();
    const nanoseconds at_90 = lifetime / 10 * 9;
    const nanoseconds margin_before = lifetime - duration_cast<nanoseconds>(minutes(5));
    return std::max(std::min(at_90, margin_before), lifetime / 2);
}

// ---- token_keeper -------------------------------------------------------------------------

void token_keeper::on_accepted(std::uint32_t generation) {
    if (generation == generation_) current_accepted_ = true;
}

token_keeper::on_expiry token_keeper::on_expired(std::uint32_t generation) {
    if (generation < generation_) return on_expiry::resend;
    if (refreshing_) return on_expiry::wait;
    if (current_is_reactive_ && !current_accepted_) return on_expiry::stop;
    refreshing_ = true;
    refreshing_reactively_ = true;
    return on_expiry::refresh_and_wait;
}

bool token_keeper::start_proactive() {
    if (refreshing_) return false;
    refreshing_ = true;
    refreshing_reactively_ = false;
    return true;
}

void token_keeper::refreshed() {
    ++(refreshing_reactively_ ? reactive_ : proactive_);
    ++generation_;
    current_is_reactive_ = refreshing_reactively_;
    current_accepted_ = false;
    refreshing_ = false;
    refreshing_reactively_ = false;
}

void token_keeper::refresh_failed() {
    refreshing_ = false;
    refreshing_reactively_ = false;
}

// ---- the HTTPS call -------------------------------------------------------------------------

namespace detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

iam_client::iam_client(asio::any_io_executor executor, const iam_settings& settings)
    : executor_(std::move(executor)), settings_(settings),
      tls_(make_client_context(settings.ca_file, settings.insecure)) {}

void iam_client::cancel() {
    cancelled_ = true;
    if (cancel_current_) cancel_current_();
}

asio::awaitable<iam_result> iam_client::fetch() {
    constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
    const endpoint& ep = settings_.target;
    const std::string where = "cannot reach IAM at " + ep.to_string();
    cancelled_ = false;

    tcp::resolver resolver(executor_);
    cancel_current_ = [&resolver] { resolver.cancel(); };
    auto [rec, resolved] = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), use_tuple);
    cancel_current_ = nullptr;
    if (cancelled_) co_return iam_error{false, "cancelled"};
    if (rec) co_return iam_error{false, where + ": cannot resolve " + ep.host + ": " + rec.message()};

    ssl::stream<beast::tcp_stream> stream(executor_, tls_);
    auto& lowest = beast::get_lowest_layer(stream);
    cancel_current_ = [&lowest] { lowest.close(); };
    struct clear_on_exit {
        std::function<void()>& f;
        ~clear_on_exit() { f = nullptr; }
    } clear{cancel_current_};

    lowest.expires_after(settings_.connect_timeout);
    auto [cec, connected] = co_await lowest.async_connect(resolved, use_tuple);
    (void)connected;
    if (cancelled_) co_return iam_error{false, "cancelled"};
    if (cec) {
        co_return iam_error{false, where + ": " + (cec == beast::error::timeout ? std::string("no connection within the connect timeout") : cec.message())};
    }
    if (ep.tls) {
        SSL* native = stream.native_handle();
        if (!is_ip_literal(ep.host)) SSL_set_tlsext_host_name(native, ep.host.c_str());
        if (!settings_.insecure) stream.set_verify_callback(ssl::host_name_verification(ep.host));
        auto [hec] = co_await stream.async_handshake(ssl::stream_base::client, use_tuple);
        if (cancelled_) co_return iam_error{false, "cancelled"};
        if (hec) {
            if (is_certificate_error(hec)) {
                co_return iam_error{false, "the certificate of " + ep.host + " (IAM) was not accepted: " +
                                               verify_failure_text(native) + "; pass the CA that signed it with --ca-file"};
            }
            co_return iam_error{false, where + ": TLS handshake failed: " + hec.message()};
        }
    }

    http::request<http::string_body> request{http::verb::post, iam_request_target(ep), 11};
    request.set(http::field::host, ep.host_header());
    request.set(http::field::user_agent, settings_.user_agent);
    request.set(http::field::content_type, "application/json;charset=utf8");
    request.set(http::field::accept, "application/json");
    request.keep_alive(false);
    request.body() = iam_request_body(settings_.credentials);
    request.prepare_payload();

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);  // PKI tokens in X-Subject-Token reach 16 KB and more
    parser.body_limit(4 * 1024 * 1024);
    lowest.expires_after(settings_.request_timeout);

    {
        boost::system::error_code ec;
        if (ep.tls) {
            auto [wec, w] = co_await http::async_write(stream, request, use_tuple);
            (void)w;
            ec = wec;
            if (!ec) {
                auto [r_ec, r] = co_await http::async_read(stream, buffer, parser, use_tuple);
                (void)r;
                ec = r_ec;
            }
        } else {
            auto [wec, w] = co_await http::async_write(lowest, request, use_tuple);
            (void)w;
            ec = wec;
            if (!ec) {
                auto [r_ec, r] = co_await http::async_read(lowest, buffer, parser, use_tuple);
                (void)r;
                ec = r_ec;
            }
        }
        // The password is no longer needed in this buffer.
        std::fill(request.body().begin(), request.body().end(), '\0');
        if (cancelled_) co_return iam_error{false, "cancelled"};
        if (ec) {
            co_return iam_error{false, where + ": " + (ec == beast::error::timeout ? std::string("no answer within the request timeout") : ec.message())};
        }
    }
    boost::system::error_code ignored;
    lowest.socket().close(ignored);
    const auto& response = parser.get();
    std::string_view subject;
    if (auto it = response.find("X-Subject-Token"); it != response.end()) subject = it->value();
    co_return interpret_iam_answer(response.result_int(), subject, response.body());
}

}  // namespace detail

iam_result fetch_iam_token(const iam_settings& s) {
    boost::asio::io_context io(1);
    detail::iam_client client(io.get_executor(), s);
    iam_result result = iam_error{false, "no answer"};
    boost::asio::co_spawn(io, client.fetch(), [&](std::exception_ptr e, iam_result r) {
        if (e) std::rethrow_exception(e);
        result = std::move(r);
    });
    io.run();
    return result;
}

}  // namespace koorelease
