#include "bench/load_runner.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include <optional>
#include <random>

#include "answer_reader.hpp"
#include "connect.hpp"
#include "koorelease/classify.hpp"
#include "koorelease/request.hpp"
#include "koorelease/request_id.hpp"
#include "koorelease/response.hpp"
#include "tls.hpp"

namespace koorelease::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using steady = std::chrono::steady_clock;
using std::chrono::nanoseconds;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t answer_header_limit = 32 * 1024;
constexpr std::uint64_t answer_body_limit = 64 * 1024;

void rethrow(std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
}

std::string_view failure_name(const error_code& ec) {
    if (ec == beast::error::timeout) return "no answer timeout";
    if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
        return "no answer malformed_answer";
    }
    return "no answer connection_lost";
}

// What became of one attempt.
struct attempt {
    bool answered = false;
    answer_kind kind = answer_kind::no_answer;
    std::string code;  // "<status> <error_code>" or "no answer <why>"
    bool keep_alive = true;
};

}  // namespace

class load_runner::impl {
public:
    impl(const bench_settings& s, std::function<void(const live_status&)> on_live,
         std::function<void(std::string_view)> on_warning)
        : settings_(s), on_live_(std::move(on_live)), on_warning_(std::move(on_warning)), io_(1),
          tls_ctx_(detail::make_client_context(s.ca_file, s.insecure)), sessions_(tls_ctx_.native_handle()),
          builder_(s.target, s.token, s.user_agent), signals_(io_, SIGINT, SIGTERM), ticker_(io_),
          rng_(std::random_device{}()) {
        tls_slots_.resize(s.connections);
        plain_slots_.resize(s.connections);
        error_code ec;
        tcp::resolver resolver(io_);
        resolved_ = resolver.resolve(s.target.host, std::to_string(s.target.port), ec);
        if (ec) stop("cannot resolve " + s.target.host + ": " + ec.message(), 3);
    }

    step_totals run(const load_schedule& schedule, recorder& step, pacing& step_sends, recorder& whole,
                    pacing& whole_sends) {
        step_totals totals;
        totals.scheduled = schedule.count();
        if (!stopped_by_.empty()) return totals;
        if (!run_start_) warm_up();
        if (!stopped_by_.empty()) return totals;
        const auto now = steady::now();
        if (!run_start_) run_start_ = now;
        current_ = step_state{&schedule, &step, &step_sends, &whole, &whole_sends, now, now - *run_start_};
        next_ticket_ = 0;
        in_flight_ = 0;
        retried_ = 0;
        workers_running_ = settings_.connections;
        signals_.async_wait([this](const error_code& e, int) { on_signal(e); });
        for (std::uint32_t i = 0; i < settings_.connections; ++i) {
            if (settings_.target.tls) {
                asio::co_spawn(io_, work(tls_slots_[i]), rethrow);
            } else {
                asio::co_spawn(io_, work(plain_slots_[i]), rethrow);
            }
        }
        asio::co_spawn(io_, tick(), rethrow);
        io_.run();
        io_.restart();
        totals.retried = retried_;
        end_ = steady::now();
        return totals;
    }

    const std::string& stopped_by() const { return stopped_by_; }
    int stop_exit_code() const { return stop_exit_code_; }
    double elapsed_s() const {
        return run_start_ ? std::chrono::duration<double>(end_ - *run_start_).count() : 0.0;
    }

private:
    // Opens every connection before the first step, all at once, so that the schedule's
    // first requests do not each wait for a handshake (failures are retried during the run).
    void warm_up() {
        for (std::uint32_t i = 0; i < settings_.connections; ++i) {
            if (settings_.target.tls) {
                asio::co_spawn(io_, connect_ignoring_errors(tls_slots_[i]), rethrow);
            } else {
                asio::co_spawn(io_, connect_ignoring_errors(plain_slots_[i]), rethrow);
            }
        }
        io_.run();
        io_.restart();
    }

    template <class Stream>
    asio::awaitable<void> connect_ignoring_errors(std::optional<Stream>& stream) {
        (void)co_await connect(stream);
    }

    struct step_state {
        const load_schedule* schedule = nullptr;
        recorder* step = nullptr;
        pacing* step_sends = nullptr;
        recorder* whole = nullptr;
        pacing* whole_sends = nullptr;
        steady::time_point start{};
        nanoseconds offset{};  // of this step from the run's start
    };

    void stop(std::string why, int exit_code) {
        if (!stopped_by_.empty()) return;
        stopped_by_ = std::move(why);
        stop_exit_code_ = exit_code;
        for (auto* t : waiting_timers_) t->cancel();
    }

    void on_signal(const error_code& ec) {
        if (ec) return;
        stop("interrupted by a signal", 4);
        if (on_warning_) on_warning_("interrupted: finishing the requests in flight");
    }

    asio::awaitable<void> tick() {
        while (workers_running_ > 0) {
            ticker_.expires_after(settings_.live_interval);
            co_await ticker_.async_wait(use_tuple);
            if (workers_running_ == 0 || !on_live_) continue;
            live_status s;
            s.step_elapsed_s = std::chrono::duration<double>(steady::now() - current_.start).count();
            s.step_duration_s = std::chrono::duration<double>(current_.schedule->duration()).count();
            s.intended_rate = current_.schedule->intended_rate();
            s.sent = current_.step_sends->sent();
            s.answered = current_.step->total();
            s.in_flight = in_flight_;
            s.step = current_.step;
            on_live_(s);
        }
    }

    void record(std::uint64_t k, steady::time_point sent_at, steady::time_point done, const attempt& a) {
        const nanoseconds intended = current_.schedule->send_offset(k);
        const nanoseconds sent = sent_at - current_.start;
        const nanoseconds answered = done - current_.start;
        const nanoseconds o = current_.offset;
        if (a.answered) {
            current_.step->on_answer(intended, sent, answered, a.kind, a.code);
            current_.whole->on_answer(o + intended, o + sent, o + answered, a.kind, a.code);
        } else {
            current_.step->on_no_answer(intended, sent, a.code);
            current_.whole->on_no_answer(o + intended, o + sent, a.code);
        }
    }

    // Waits on `timer` until `when`; false when the run was stopped meanwhile.
    asio::awaitable<bool> wait_until(asio::steady_timer& timer, steady::time_point when) {
        if (when > steady::now()) {
            timer.expires_at(when);
            waiting_timers_.push_back(&timer);
            co_await timer.async_wait(use_tuple);
            std::erase(waiting_timers_, &timer);
        }
        co_return stopped_by_.empty();
    }

    // One connection: take the next request of the schedule, wait for its time, send it,
    // read its answer; again until the schedule is done.
    template <class Stream>
    asio::awaitable<void> work(std::optional<Stream>& stream) {
        asio::steady_timer timer(io_);
        beast::flat_buffer buffer;
        std::string request;
        detail::answer_fields fields;
        answer_parser parser;
        const std::uint64_t count = current_.schedule->count();
        // Requests not sent by the end of the schedule plus one request timeout are left
        // unsent (reported as such): the server is not keeping up at all.
        const auto give_up = current_.start + current_.schedule->duration() + settings_.request_timeout;
        for (;;) {
            if (!stopped_by_.empty() || next_ticket_ >= count) break;
            if (steady::now() >= give_up) break;
            const std::uint64_t k = next_ticket_++;
            const steady::time_point intended = current_.start + current_.schedule->send_offset(k);
            if (!co_await wait_until(timer, intended)) break;
            const std::string& id = settings_.ids[(ids_used_++) % settings_.ids.size()];
            ++in_flight_;
            std::optional<steady::time_point> first_sent;
            attempt a;
            for (std::uint32_t n = 1;; ++n) {
                steady::time_point sent_at;
                a = co_await send_one(stream, timer, buffer, request, fields, parser, id, sent_at);
                if (!first_sent && a.code != "no answer cannot_connect") {
                    first_sent = sent_at;
                    const nanoseconds intended_offset = current_.schedule->send_offset(k);
                    current_.step_sends->on_send(intended_offset, sent_at - current_.start);
                    current_.whole_sends->on_send(current_.offset + intended_offset,
                                                 current_.offset + (sent_at - current_.start));
                }
                if (!settings_.retries || !bench_retries(a.kind, n, settings_.max_attempts) || !stopped_by_.empty()) break;
                ++retried_;
                if (!co_await wait_until(timer, steady::now() + settings_.backoff.delay(n - 1, rng_))) break;
            }
            --in_flight_;
            record(k, first_sent.value_or(steady::now()), steady::now(), a);
            if (a.kind == answer_kind::token_rejected) {
                stop("the token was rejected (" + a.code + "): check KOOPHONE_TOKEN or --token-file", 3);
            }
        }
        if (--workers_running_ == 0) {
            ticker_.cancel();
            signals_.cancel();
        }
    }

    template <class Stream>
    asio::awaitable<attempt> send_one(std::optional<Stream>& stream, asio::steady_timer& timer,
                                      beast::flat_buffer& buffer, std::string& request,
                                      detail::answer_fields& fields, answer_parser& parser,
                                      const std::string& id, steady::time_point& sent_at) {
        attempt a;
        sent_at = steady::now();
        if (!stream) {
            if (const error_code ec = co_await connect(stream); ec) {
                a.code = "no answer cannot_connect";
                if (open_connections_ == 0 && ++connect_failures_ >= settings_.max_connect_failures) {
                    stop("cannot connect to " + settings_.target.to_string() + ": " + last_connect_error_, 3);
                } else {
                    co_await wait_until(timer, steady::now() + settings_.connect_retry_delay);
                }
                co_return a;
            }
            connect_failures_ = 0;
            sent_at = steady::now();  // a send delayed by a (re)connect is late by that much
        }
        request.clear();
        builder_.append(request, request_ids_.next(), id);
        auto& lowest = beast::get_lowest_layer(*stream);
        lowest.expires_after(settings_.request_timeout);
        auto [wec, written] = co_await asio::async_write(*stream, asio::buffer(request), use_tuple);
        (void)written;
        error_code rec = wec;
        if (!wec) {
            detail::answer_reader reader(fields, false);
            reader.header_limit(answer_header_limit);
            reader.body_limit(answer_body_limit);
            auto [e, read] = co_await http::async_read(*stream, buffer, reader, use_tuple);
            (void)read;
            rec = e;
            if (!e) {
                a.answered = true;
                a.keep_alive = reader.keep_alive();
            }
        }
        if (!a.answered) {
            a.code = failure_name(rec);
            close(stream);
            buffer.clear();
            co_return a;
        }
        lowest.expires_never();
        const std::optional<api_body> body = parser.parse(fields.body);
        a.kind = kind_of(classify(fields.status, body ? &*body : nullptr).what);
        a.code = std::to_string(fields.status) + " " + (body ? std::string(body->error_code) : std::string("-"));
        if (!a.keep_alive) {
            close(stream);
            buffer.clear();
        }
        co_return a;
    }

    template <class Stream>
    asio::awaitable<error_code> connect(std::optional<Stream>& stream) {
        const detail::connect_outcome r = co_await detail::open_connection(
            stream, detail::connection_target{io_, tls_ctx_, sessions_, resolved_, settings_.target, settings_.insecure,
                                              settings_.connect_timeout, false});
        if (!r.certificate_problem.empty()) {
            stop("the certificate of " + settings_.target.host + " was not accepted: " + r.certificate_problem, 3);
        }
        if (r.ec) {
            last_connect_error_ = r.error_text;
            co_return r.ec;
        }
        ++open_connections_;
        co_return error_code{};
    }

    template <class Stream>
    void close(std::optional<Stream>& stream) {
        if (detail::close_connection(stream)) --open_connections_;
    }

    const bench_settings& settings_;
    std::function<void(const live_status&)> on_live_;
    std::function<void(std::string_view)> on_warning_;
    asio::io_context io_;
    ssl::context tls_ctx_;
    detail::session_cache sessions_;
    request_builder builder_;
    request_id_generator request_ids_;
    tcp::resolver::results_type resolved_;
    asio::signal_set signals_;
    asio::steady_timer ticker_;
    std::mt19937_64 rng_;
    std::vector<std::optional<ssl::stream<beast::tcp_stream>>> tls_slots_;  // kept across steps
    std::vector<std::optional<beast::tcp_stream>> plain_slots_;
    std::vector<asio::steady_timer*> waiting_timers_;  // cancelled by a stop

    step_state current_;
    std::optional<steady::time_point> run_start_;
    steady::time_point end_{};
    std::uint64_t next_ticket_ = 0;
    std::uint64_t ids_used_ = 0;
    std::uint64_t in_flight_ = 0;
    std::uint64_t retried_ = 0;
    std::uint32_t workers_running_ = 0;
    std::uint32_t open_connections_ = 0;
    std::uint32_t connect_failures_ = 0;
    std::string last_connect_error_;
    std::string stopped_by_;
    int stop_exit_code_ = 0;
};

load_runner::load_runner(const bench_settings& settings, std::function<void(const live_status&)> on_live,
                         std::function<void(std::string_view)> on_warning)
    : impl_(std::make_unique<impl>(settings, std::move(on_live), std::move(on_warning))) {}

load_runner::~load_runner() = default;

step_totals load_runner::run(const load_schedule& schedule, recorder& step, pacing& step_sends, recorder& whole,
                             pacing& whole_sends) {
    return impl_->run(schedule, step, step_sends, whole, whole_sends);
}

const std::string& load_runner::stopped_by() const { return impl_->stopped_by(); }
int load_runner::stop_exit_code() const { return impl_->stop_exit_code(); }
double load_runner::elapsed_s() const { return impl_->elapsed_s(); }

}  // namespace koorelease::bench
