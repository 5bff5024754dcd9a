#include "koorelease/engine.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/container/small_vector.hpp>

#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_set>
#include <vector>

#include "koorelease/classify.hpp"
#include "koorelease/iam.hpp"
#include "koorelease/rate_limiter.hpp"
#include "koorelease/request.hpp"
#include "koorelease/request_id.hpp"
#include "koorelease/response.hpp"
#include "answer_reader.hpp"
#include "connect.hpp"
#include "iam_client.hpp"
#include "tls.hpp"

namespace koorelease {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t batch_size = 256;       // ids handed from the reader thread at once
constexpr std::size_t batches_ahead = 4;      // batches the reader may get ahead by
constexpr std::uint32_t answer_header_limit = 32 * 1024;
constexpr std::uint64_t answer_body_limit = 64 * 1024;
constexpr std::size_t read_chunk = 16 * 1024;  // at most one TLS record's worth

// Completion of the engine's coroutines: an exception escaping one is a bug; let it end the
// run loudly (out of io_context::run) rather than leave the run waiting for it forever.
void rethrow(std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
}

bool is_loopback(const std::string& host) {
    if (host == "localhost") return true;
    boost::system::error_code ec;
    const auto a = asio::ip::make_address(host, ec);
    return !ec && a.is_loopback();
}

// One distinct id on its way to a final outcome.
struct job {
    std::string id;
    std::uint32_t counted_attempts = 0;  // the ones --max-attempts counts (not throttled ones)
    std::uint32_t throttled = 0;
    std::uint32_t free_resends = 0;      // times its connection was lost before it, at no cost
    std::uint32_t token_generation = 0;  // of the token its latest attempt carried (see token_keeper)
    bool retry_pending = false;          // the next attempt is a retry, to be paid for when sent
    bool retry_after_timeout = false;    // ... after a timeout (costs more)
    // Every attempt's x-request-id; the first in place (most ids need one attempt).
    boost::container::small_vector<request_id, 1> request_ids;
    unsigned http_status = 0;            // of the latest answer
    std::string error_code, error_msg;
    double latency_ms = -1;
    std::string last_failure;            // why the latest attempt did not succeed
    std::unique_ptr<asio::steady_timer> retry_timer;
};
using job_list = std::list<job>;
using job_ref = job_list::iterator;

// What one attempt came back with. One per connection, its buffers reused.
struct attempt_result {
    bool answered = false;
    transport_failure failure{};
    bool keep_alive = true;
    std::optional<std::chrono::nanoseconds> retry_after;
    detail::answer_fields answer;  // status, body, the server's request id (when logged)
};

std::optional<std::chrono::nanoseconds> parse_retry_after(std::string_view v) {
    // Only the delta-seconds form; an HTTP-date is rare from API gateways and is ignored.
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    std::uint32_t seconds = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (ec != std::errc{} || end != v.data() + v.size()) return std::nullopt;
    return std::chrono::seconds(seconds);
}

transport_failure failure_of(const error_code& ec) {
    if (ec == beast::error::timeout) return transport_failure::timeout;
    if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
        return transport_failure::malformed_answer;
    }
    return transport_failure::connection_lost;
}

// Ids pass from the reader thread to the engine's thread in batches, through this bounded
// hand-off: the reader blocks when the engine is `batches_ahead` batches behind.
class handoff {
public:
    // Reader side. Returns false when the engine no longer wants input.
    bool push(std::vector<input_item>&& batch) {
        std::unique_lock lock(mutex_);
        space_.wait(lock, [&] { return batches_.size() < batches_ahead || closed_; });
        if (closed_) return false;
        batches_.push_back(std::move(batch));
        return true;
    }
    void finish(std::string error) {
        std::lock_guard lock(mutex_);
        eof_ = true;
        error_ = std::move(error);
    }
    // Engine side.
    bool pop(std::vector<input_item>& out) {
        std::lock_guard lock(mutex_);
        if (batches_.empty()) return false;
        out = std::move(batches_.front());
        batches_.pop_front();
        space_.notify_one();
        return true;
    }
    bool finished(std::string& error) {
        std::lock_guard lock(mutex_);
        if (!eof_ || !batches_.empty()) return false;
        error = error_;
        return true;
    }
    void close() {
        std::lock_guard lock(mutex_);
        closed_ = true;
        space_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable space_;
    std::deque<std::vector<input_item>> batches_;
    bool eof_ = false;
    bool closed_ = false;
    std::string error_;
};

// A timer that never expires, used as a condition: waiters wait on it, notify cancels it.
class notifier {
public:
    explicit notifier(asio::io_context& io) : timer_(io, steady::time_point::max()) {}
    asio::awaitable<void> wait() { co_await timer_.async_wait(use_tuple); }
    void notify_one() { timer_.cancel_one(); }
    void notify_all() { timer_.cancel(); }

private:
    asio::steady_timer timer_;
};

class engine {
public:
    engine(const release_settings& s, id_source& source, outcome_sink& sink, const run_hooks& hooks,
           prior_outcomes* prior)
        : settings_(s), source_(source), sink_(sink), hooks_(hooks), io_(1),
          tls_ctx_(detail::make_client_context(s.ca_file, s.insecure)),
          sessions_(tls_ctx_.native_handle()),
          builder_(s.target, s.token, s.user_agent),
          limiter_(s.rate, s.burst ? s.burst : default_burst(s.rate), steady::now()),
          throttle_(s.rate, s.adaptive_rate), budget_(s.retry_budget),
          rng_(std::random_device{}()), work_available_(io_), space_available_(io_),
          input_available_(io_), signals_(io_, SIGINT, SIGTERM), ticker_(io_), refresh_timer_(io_) {
        if (s.iam) iam_ = std::make_unique<detail::iam_client>(io_.get_executor(), *s.iam);
        queue_capacity_ = s.queue_capacity ? s.queue_capacity : 4 * s.concurrency * std::max<std::uint32_t>(s.pipeline, 1) + 64;
        if (prior != nullptr) {
            seen_ = std::move(prior->final_ids);
            has_prior_ = seen_.size() > 0;
            invalid_lines_done_ = std::move(prior->invalid_lines);
        }
    }

    run_summary run() {
        start_ = steady::now();
        if (settings_.insecure) warn("WARNING: --insecure: the server's certificate is NOT verified; anyone on the path can read the token");
        if (!settings_.target.tls && !is_loopback(settings_.target.host)) {
            warn("WARNING: plain http:// to " + settings_.target.host + ": the token travels unencrypted");
        }

        error_code ec;
        tcp::resolver resolver(io_);
        resolved_ = resolver.resolve(settings_.target.host, std::to_string(settings_.target.port), ec);
        if (ec) {
            stop(run_error::endpoint_unreachable, "cannot resolve " + settings_.target.host + ": " + ec.message());
        }

        // With --iam-*, the token first: nothing is read or sent without it.
        if (iam_ && !stopping_) {
            std::optional<iam_result> first;
            asio::co_spawn(io_, iam_->fetch(), [&first](std::exception_ptr e, iam_result r) {
                rethrow(e);
                first = std::move(r);
            });
            io_.run();
            io_.restart();
            if (const auto* error = first ? std::get_if<iam_error>(&*first) : nullptr) {
                stop(run_error::token_rejected, "cannot obtain a token from IAM: " + error->message);
            } else if (first) {
                use_token(std::get<iam_token>(*first));
            }
        }

        std::thread reader;
        if (!stopping_) reader = std::thread([this] { read_input(); });

        signals_.async_wait([this](const error_code& e, int) { on_signal(e); });
        if (!stopping_) {
            asio::co_spawn(io_, feed(), rethrow);
            for (std::uint32_t i = 0; i < settings_.concurrency; ++i) {
                ++workers_running_;
                worker_timers_.push_back(std::make_unique<asio::steady_timer>(io_));
                asio::co_spawn(io_, worker(i), rethrow);
            }
            asio::co_spawn(io_, tick(), rethrow);
        } else {
            signals_.cancel();
        }
        io_.run();

        // Everything has stopped. Ids still live have no final outcome: say so.
        handoff_.close();
        source_.cancel();
        if (reader.joinable()) reader.join();
        // Ids the reader had handed over but the engine never took: read, not sent.
        for (std::vector<input_item> batch; handoff_.pop(batch);) {
            for (const auto& item : batch) summary_.not_sent += item.valid ? 1 : 0;
        }
        // Ids never sent get no record (a later run simply sends them); ids sent without a
        // known outcome get an "aborted" one, with the request ids a support ticket needs.
        for (auto& j : live_) {
            if (j.request_ids.empty()) {
                ++summary_.not_sent;
            } else {
                write_record(record_of(j, outcome::aborted, aborted_reason(summary_.stopped_by.value_or(run_error::interrupted))));
                ++summary_.aborted;
            }
        }
        live_.clear();
        try {
            sink_.sync();
        } catch (const std::exception& e) {
            journal_error(e.what());
        }
        summary_.duplicates = duplicates_.load();
        summary_.already_final = already_final_.load();
        summary_.input_complete = input_done_ && summary_.stopped_by != run_error::input_failed;
        summary_.elapsed_s = std::chrono::duration<double>(steady::now() - start_).count();
        summary_.throttled = throttle_.throttled_count();
        summary_.token_refreshes_ahead = tokens_.proactive_refreshes();
        summary_.token_refreshes_on_expiry = tokens_.reactive_refreshes();
        if (hooks_.on_progress) hooks_.on_progress(snapshot());
        return std::move(summary_);
    }

private:
    // ---- input -------------------------------------------------------------------------

    // On the reader thread: read, drop duplicates, hand batches over.
    void read_input() {
        std::vector<input_item> batch;
        batch.reserve(batch_size);
        auto hand_over = [&]() -> bool {
            if (batch.empty()) return true;
            if (!handoff_.push(std::move(batch))) return false;
            batch = {};
            batch.reserve(batch_size);
            asio::post(io_, [this] { input_available_.notify_all(); });
            return true;
        };
        bool open = true;
        source_.before_blocking_read = [&] { open = open && hand_over(); };
        std::string error;
        try {
            input_item item;
            while (open && source_.next(item)) {
                if (item.valid && has_prior_ && seen_.is_final_before(item.text)) {
                    already_final_.fetch_add(1, std::memory_order_relaxed);  // --resume
                    continue;
                }
                if (item.valid && settings_.deduplicate && !seen_.insert(item.text)) {
                    duplicates_.fetch_add(1, std::memory_order_relaxed);
                    continue;
                }
                if (!item.valid && invalid_lines_done_.contains(item.line)) continue;
                batch.push_back(std::move(item));
                item = {};
                if (batch.size() >= batch_size) open = hand_over();
            }
            if (open) hand_over();
        } catch (const std::exception& e) {
            error = e.what();
            hand_over();
        }
        source_.before_blocking_read = nullptr;
        handoff_.finish(std::move(error));
        asio::post(io_, [this] { input_available_.notify_all(); });
    }

    // On the engine thread: turn input into jobs, keeping the ready queue short.
    asio::awaitable<void> feed() {
        std::vector<input_item> batch;
        for (;;) {
            while (!stopping_ && ready_.size() >= queue_capacity_) co_await space_available_.wait();
            if (stopping_) co_return;
            if (!handoff_.pop(batch)) {
                std::string error;
                if (handoff_.finished(error)) {
                    input_done_ = true;
                    if (!error.empty()) {
                        warn(error);
                        stop(run_error::input_failed, error);
                    }
                    maybe_finish();
                    co_return;
                }
                co_await input_available_.wait();
                continue;
            }
            for (auto& item : batch) {
                if (!item.valid) {
                    ++summary_.invalid;
                    warn("input line " + std::to_string(item.line) + ": " + item.text + ": not sent");
                    outcome_record r;
                    r.outcome = outcome::invalid;
                    r.reason = item.text;
                    r.line = item.line;
                    r.finished_at = std::chrono::system_clock::now();
                    write_record(r);
                    continue;
                }
                ++summary_.ids;
                auto& j = live_.emplace_back();
                j.id = std::move(item.text);
                ready_.push_back(std::prev(live_.end()));
                work_available_.notify_one();
            }
            batch.clear();
        }
    }

    // ---- the connection workers --------------------------------------------------------

    asio::awaitable<void> worker(std::uint32_t slot) {
        if (settings_.target.tls) {
            co_await work<ssl::stream<beast::tcp_stream>>(slot);
        } else {
            co_await work<beast::tcp_stream>(slot);
        }
        if (--workers_running_ == 0) {
            // The last worker out ends the run: nothing else is left to wait for.
            signals_.cancel();
            ticker_.cancel();
            refresh_timer_.cancel();
            if (iam_) iam_->cancel();
            space_available_.notify_all();
            input_available_.notify_all();
        }
    }

    job_ref take() {
        const job_ref j = ready_.front();
        ready_.pop_front();
        if (ready_.size() < queue_capacity_ / 2) space_available_.notify_one();
        return j;
    }

    // A retry is paid for from the retry budget when it is about to be sent, not when it was
    // scheduled: otherwise the retries waiting out their backoff would hold tokens that the
    // successes of the same moment are meant to replenish. False: refused, the id has failed.
    bool admit(job_ref j) {
        if (!j->retry_pending) return true;
        if (!budget_.try_acquire(j->retry_after_timeout, steady::now())) {
            fail(j, "retry budget exhausted (the server is failing too many requests): " + j->last_failure, true);
            return false;
        }
        j->retry_pending = false;
        ++summary_.retries;
        return true;
    }

    // Ids sent but not answered because their connection ended first go back to the front of
    // the queue, in their order, at no cost of an attempt.
    void send_again(const std::vector<job_ref>& sent, std::size_t from, const attempt_result& result,
                    std::string_view why) {
        for (std::size_t i = sent.size(); i-- > from;) {
            report_attempt(*sent[i], result, why);
            ready_.push_front(sent[i]);
        }
        if (from < sent.size()) work_available_.notify_all();
    }

    // One connection: take ids, send them (up to --pipeline of them back to back in one
    // write), read the answers in order, decide what follows each.
    template <class Stream>
    asio::awaitable<void> work(std::uint32_t slot) {
        std::optional<Stream> stream;
        beast::flat_buffer buffer;
        std::string requests;
        std::vector<job_ref> sent;  // on the wire, in the order of their answers
        answer_parser parser;
        std::string code_key;
        attempt_result result;
        std::uint32_t connect_failures = 0;
        bool reused = false;  // whether the connection already carried an answered request
        auto& timer = *worker_timers_[slot];
        const std::size_t depth = std::max<std::uint32_t>(settings_.pipeline, 1);
        sent.reserve(depth);

        for (;;) {
            // Take the next id.
            while (ready_.empty() && !stopping_ && !finished_) co_await work_available_.wait();
            if (stopping_ || finished_) break;
            const job_ref j = take();
            if (!admit(j)) continue;

            // Wait for a slot under the rate limit first, so that a connection is not left
            // idle (and perhaps closed by the server) while we wait. A Retry-After that
            // arrives during the wait pauses this request too.
            for (;;) {
                const auto now = steady::now();
                const auto send_at = limiter_.reserve(now);
                if (send_at > now) {
                    timer.expires_at(send_at);
                    co_await timer.async_wait(use_tuple);
                }
                if (stopping_ || limiter_.paused_until() <= steady::now()) break;
            }
            // Then for a permit of the fleet-wide rate (--shared-rate), if there is one.
            while (settings_.permits && !stopping_ && !settings_.permits->try_take()) {
                timer.expires_after(settings_.permits->retry_after());
                co_await timer.async_wait(use_tuple);
            }
            if (stopping_) {
                ready_.push_front(j);  // not sent: it is counted as "not sent" at the end
                break;
            }

            // Connect if needed. A failed connection costs the id no attempt: it goes back.
            if (!stream) {
                error_code ec = co_await connect(stream);
                if (ec) {
                    ready_.push_front(j);
                    work_available_.notify_one();
                    ++connect_failures;
                    if (stopping_) break;
                    if (open_connections_ == 0 && connect_failures >= settings_.max_connect_failures) {
                        stop(run_error::endpoint_unreachable,
                             "cannot connect to " + settings_.target.to_string() + ": " + last_connect_error_);
                        break;
                    }
                    timer.expires_after(settings_.connect_backoff.delay(connect_failures - 1, rng_));
                    co_await timer.async_wait(use_tuple);
                    continue;
                }
                connect_failures = 0;
                reused = false;
            }

            // Pipelining: more ids that are ready now, while the rate limit allows them now.
            sent.clear();
            sent.push_back(j);
            while (sent.size() < depth && !ready_.empty() && !stopping_ && limiter_.try_reserve(steady::now()) &&
                   (!settings_.permits || settings_.permits->try_take())) {
                const job_ref k = take();
                if (admit(k)) sent.push_back(k);
            }

            // One attempt for each, in a single write.
            const auto sent_at = steady::now();
            requests.clear();
            for (const job_ref k : sent) {
                if (k->request_ids.empty()) budget_.on_first_attempt(sent_at);
                k->request_ids.push_back(request_ids_.next());
                k->token_generation = tokens_.generation();
                builder_.append(requests, k->request_ids.back(), k->id);
                throttle_.on_sent(sent_at);
            }
            summary_.requests += sent.size();
            in_flight_ += sent.size();
            auto& lowest = beast::get_lowest_layer(*stream);
            lowest.expires_after(settings_.request_timeout);
            auto [wec, written] = co_await asio::async_write(*stream, asio::buffer(requests), use_tuple);
            result = attempt_result{};
            result.failure = failure_of(wec);

            // The answers, in order. The first that does not come ends the connection.
            std::size_t answered = 0;
            while (!wec && answered < sent.size()) {
                co_await read_answer(*stream, buffer, result);
                const job_ref k = sent[answered];
                const auto latency = steady::now() - sent_at;
                k->latency_ms = std::chrono::duration<double, std::milli>(latency).count();
                if (!result.answered) break;
                ++answered;
                --in_flight_;
                reused = true;
                handle(k, result, parser, code_key, latency);
                if (!result.keep_alive) break;
            }
            if (answered == sent.size() && result.keep_alive) continue;

            // The connection is over: closed by the server's answer, or lost.
            close(stream);
            buffer.clear();
            in_flight_ -= sent.size() - answered;
            if (answered < sent.size() && !result.answered) {
                // The first unanswered id bears the failure, unless the server merely closed
                // a kept-alive connection before reading it.
                const job_ref k = sent[answered++];
                if (counts_as_attempt(result.failure, reused, k->free_resends)) {
                    handle(k, result, parser, code_key, steady::now() - sent_at);
                } else {
                    ++k->free_resends;
                    send_again(sent, answered - 1, result, "connection closed by the server while idle: sent again");
                    continue;
                }
            }
            send_again(sent, answered, result, "connection ended before its answer: sent again");
        }
        if (stream) close(stream);
    }

    template <class Stream>
    asio::awaitable<error_code> connect(std::optional<Stream>& stream) {
        // With pipelining, answers that have already arrived are read at once, without
        // waiting (see read_answer): the socket is non-blocking.
        const detail::connect_outcome r = co_await detail::open_connection(
            stream, detail::connection_target{io_, tls_ctx_, sessions_, resolved_, settings_.target, settings_.insecure,
                                              settings_.connect_timeout, settings_.pipeline > 1});
        if (!r.certificate_problem.empty()) {
            stop(run_error::tls_verification_failed,
                 "the certificate of " + settings_.target.host + " was not accepted: " + r.certificate_problem);
            co_return r.ec;
        }
        if (r.ec) {
            last_connect_error_ = r.error_text;
            co_return r.ec;
        }
        if (r.resumed) ++summary_.tls_resumed;
        ++open_connections_;
        ++summary_.connections_opened;
        co_return error_code{};
    }

    template <class Stream>
    void close(std::optional<Stream>& stream) {
        if (detail::close_connection(stream)) --open_connections_;
    }

    // Reads the next answer on the connection into `out` (its buffers reused).
    template <class Stream>
    asio::awaitable<void> read_answer(Stream& stream, beast::flat_buffer& buffer, attempt_result& out) {
        out.answered = false;
        out.keep_alive = true;
        out.retry_after.reset();
        auto& lowest = beast::get_lowest_layer(stream);
        detail::answer_reader reader(out.answer, static_cast<bool>(hooks_.on_attempt));
        reader.header_limit(answer_header_limit);
        reader.body_limit(answer_body_limit);
        // With pipelining, the answer has often arrived already, with the one before: parse it
        // from the buffer, then from what the (non-blocking) connection holds, without a trip
        // through the event loop. Only when nothing is there yet does the read wait.
        error_code rec;
        for (;;) {
            while (buffer.size() > 0 && !reader.is_done()) {
                const std::size_t used = reader.put(buffer.data(), rec);
                buffer.consume(used);
                if (rec == http::error::need_more) rec = {};
                if (rec || used == 0) break;
            }
            if (rec || reader.is_done() || settings_.pipeline <= 1) break;
            error_code now_ec;
            const std::size_t got = stream.read_some(buffer.prepare(read_chunk), now_ec);
            buffer.commit(got);
            // Nothing yet (would_block), or an error the waiting read below will report.
            if (now_ec || got == 0) break;
        }
        if (!rec && !reader.is_done()) {
            lowest.expires_after(settings_.request_timeout);
            auto [e, read] = co_await http::async_read(stream, buffer, reader, use_tuple);
            rec = e;
        }
        if (rec) {
            out.failure = failure_of(rec);
            co_return;
        }
        lowest.expires_never();
        out.answered = true;
        out.keep_alive = reader.keep_alive();
        if (!out.answer.retry_after.empty()) out.retry_after = parse_retry_after(out.answer.retry_after);
    }

    // ---- deciding what follows an attempt ------------------------------------------------

    void report_attempt(const job& j, const attempt_result& result, std::string_view what) {
        if (!hooks_.on_attempt) return;
        attempt_report a;
        a.instance_id = j.id;
        a.request_id = view(j.request_ids.back());
        a.server_request_id = result.answer.server_request_id;
        a.http_status = result.answered ? result.answer.status : 0;
        a.error_code = j.error_code;
        a.what = what;
        a.latency_ms = j.latency_ms;
        a.attempt = static_cast<std::uint32_t>(j.request_ids.size());
        hooks_.on_attempt(a);
    }

    void handle(job_ref j, attempt_result& result, answer_parser& parser, std::string& code_key,
                std::chrono::nanoseconds latency) {
        if (!result.answered) {
            j->http_status = 0;
            j->error_code.clear();
            j->error_msg.clear();
            j->last_failure = to_string(result.failure);
            count_answer(code_key, "no answer", to_string(result.failure));
            report_attempt(*j, result, j->last_failure);
            retry(j, result.failure == transport_failure::timeout);
            return;
        }
        summary_.latency.record(latency);
        const std::optional<api_body> body = parser.parse(result.answer.body);
        const classification c = classify(result.answer.status, body ? &*body : nullptr);
        j->http_status = result.answer.status;
        j->error_code = body ? std::string(body->error_code) : std::string();
        j->error_msg = body ? std::string(body->error_msg) : std::string();
        j->last_failure = std::string(c.reason);
        report_attempt(*j, result, to_string(c.what));
        if (iam_ && c.what != verdict::token_rejected) tokens_.on_accepted(j->token_generation);

        char status_text[8];
        auto [status_end, status_ec] = std::to_chars(status_text, status_text + sizeof status_text, result.answer.status);
        (void)status_ec;
        count_answer(code_key, std::string_view(status_text, static_cast<std::size_t>(status_end - status_text)),
                     body ? body->error_code : std::string_view("-"));

        switch (c.what) {
            case verdict::released:
                ++summary_.released;
                finish(j, outcome::released, {});
                return;
            case verdict::failed:
                ++j->counted_attempts;
                fail(j, c.reason);
                return;
            case verdict::retry:
                retry(j, false);
                return;
            case verdict::throttled:
                throttled(j, result.retry_after);
                return;
            case verdict::token_rejected:
                if (iam_ && j->error_code == "APIG.0307") {
                    token_expired(j);
                    return;
                }
                // Stop at once: every further request would be rejected too, and hammering
                // an auth failure can get an account locked. This id stays unfinished.
                stop(run_error::token_rejected,
                     "HTTP " + std::to_string(result.answer.status) +
                         (j->error_code.empty() ? std::string() : " " + j->error_code) + ": " + std::string(c.reason));
                return;
        }
    }

    // ---- the IAM token (--iam-*) -------------------------------------------------------------

    // A token has arrived: requests from now on carry it; the next is fetched ahead of expiry.
    void use_token(const iam_token& t) {
        builder_.set_token(t.token);
        const auto lifetime = std::chrono::duration_cast<std::chrono::nanoseconds>(t.expires_at - std::chrono::system_clock::now());
        schedule_refresh(std::max(refresh_after(lifetime), settings_.iam_min_refresh_interval));
    }

    void schedule_refresh(std::chrono::nanoseconds delay) {
        refresh_timer_.expires_after(delay);
        refresh_timer_.async_wait([this](const error_code& ec) {
            if (ec || stopping_ || workers_running_ == 0) return;
            if (tokens_.start_proactive()) asio::co_spawn(io_, refresh(false), rethrow);
        });
    }

    // The API answered APIG.0307 for this id. Requests keep flowing meanwhile: ids refused
    // with a token older than the current one are sent again at once; the others wait for the
    // token being fetched. The refused attempt does not count against --max-attempts.
    void token_expired(job_ref j) {
        ++summary_.token_resends;
        switch (tokens_.on_expired(j->token_generation)) {
            case token_keeper::on_expiry::resend:
                ready_.push_front(j);
                work_available_.notify_one();
                return;
            case token_keeper::on_expiry::wait:
                parked_.push_back(j);
                return;
            case token_keeper::on_expiry::refresh_and_wait:
                parked_.push_back(j);
                warn("the token expired (APIG.0307): fetching a new one from IAM; the ids it was refused for are sent again");
                asio::co_spawn(io_, refresh(true), rethrow);
                return;
            case token_keeper::on_expiry::stop:
                --summary_.token_resends;
                stop(run_error::token_rejected,
                     "HTTP 401 APIG.0307 for the token just fetched from IAM after an expiry: token rejected: the token must be updated (APIG.0307)");
                return;
        }
    }

    asio::awaitable<void> refresh(bool on_expiry) {
        iam_result r = co_await iam_->fetch();
        if (stopping_ || workers_running_ == 0) {
            tokens_.refresh_failed();
            co_return;  // parked ids stay live: "aborted" records at the end
        }
        if (const auto* error = std::get_if<iam_error>(&r)) {
            tokens_.refresh_failed();
            if (on_expiry || !parked_.empty()) {
                stop(run_error::token_rejected, "cannot refresh the token from IAM: " + error->message);
            } else {
                warn("could not refresh the IAM token ahead of its expiry (" + error->message + "); trying again in " +
                     std::to_string(std::chrono::duration_cast<std::chrono::seconds>(settings_.iam_retry_delay).count()) + " s");
                schedule_refresh(settings_.iam_retry_delay);
            }
            co_return;
        }
        tokens_.refreshed();
        use_token(std::get<iam_token>(r));
        // The ids that waited for it go first, in their order.
        for (auto it = parked_.rbegin(); it != parked_.rend(); ++it) ready_.push_front(*it);
        if (!parked_.empty()) work_available_.notify_all();
        parked_.clear();
    }

    // Counts answers by "<status> <error code>" for the summary, without allocating once the
    // key has been seen.
    void count_answer(std::string& key, std::string_view status, std::string_view code) {
        key.assign(status);
        key += ' ';
        key += code;
        if (auto it = summary_.answers_by_code.find(key); it != summary_.answers_by_code.end()) {
            ++it->second;
        } else {
            summary_.answers_by_code.emplace(key, 1);
        }
    }

    void retry(job_ref j, bool after_timeout) {
        ++j->counted_attempts;
        if (j->counted_attempts >= settings_.max_attempts) {
            fail(j, "retries exhausted: " + j->last_failure, true);
            return;
        }
        j->retry_pending = true;
        j->retry_after_timeout = after_timeout;
        schedule(j, settings_.retry_backoff.delay(j->counted_attempts - 1, rng_));
    }

    void throttled(job_ref j, std::optional<std::chrono::nanoseconds> retry_after) {
        const auto now = steady::now();
        if (throttle_.on_throttled(now)) {
            limiter_.set_rate(throttle_.limit(), now);
            rate_lowered_notice();
        }
        ++j->throttled;
        if (j->throttled > settings_.max_throttled) {
            fail(j, "throttled " + std::to_string(j->throttled) + " times (limit --max-throttled)", true);
            return;
        }
        std::chrono::nanoseconds wait;
        if (retry_after) {
            wait = std::min(*retry_after, settings_.max_retry_after);
            limiter_.pause_until(now + wait);
        } else {
            wait = std::max(settings_.throttle_backoff.base, settings_.throttle_backoff.delay(j->throttled - 1, rng_));
        }
        schedule(j, wait);
    }

    void rate_lowered_notice() {
        if (!rate_notice_given_) {
            rate_notice_given_ = true;
            warn("the API is throttling (429 / APIG.0308): slowing down to " +
                 std::to_string(static_cast<long>(throttle_.limit())) + " requests/s and adapting");
        }
    }

    void schedule(job_ref j, std::chrono::nanoseconds delay) {
        if (stopping_) return;  // stays live: an "aborted" record at the end
        if (!j->retry_timer) j->retry_timer = std::make_unique<asio::steady_timer>(io_);
        j->retry_timer->expires_after(delay);
        ++waiting_retry_;
        j->retry_timer->async_wait([this, j](const error_code& ec) {
            --waiting_retry_;
            if (ec || stopping_) return;
            ready_.push_front(j);  // retries go first: their ids have waited longest
            work_available_.notify_one();
        });
    }

    // `retryable`: the failure was transient (the server failing or throttling, the network):
    // a shared queue delivers such an id again later. Permanent failures are final.
    void fail(job_ref j, std::string_view reason, bool retryable = false) {
        ++summary_.failed;
        if (auto it = summary_.failures_by_reason.find(reason); it != summary_.failures_by_reason.end()) {
            ++it->second;
        } else {
            summary_.failures_by_reason.emplace(std::string(reason), 1);
        }
        finish(j, outcome::failed, reason, retryable);
    }

    void finish(job_ref j, std::string_view what, std::string_view reason, bool retryable = false) {
        auto r = record_of(*j, what, reason);
        r.retryable = retryable;
        write_record(r);
        live_.erase(j);
        maybe_finish();
    }

    // The record of a job as it stands: final (released, failed) or, at a stop, aborted.
    static outcome_record record_of(const job& j, std::string_view what, std::string_view reason) {
        outcome_record r;
        r.instance_id = j.id;
        r.outcome = what;
        r.reason = reason;
        r.attempts = static_cast<std::uint32_t>(j.request_ids.size());
        r.http_status = j.http_status;
        r.error_code = j.error_code;
        r.error_msg = j.error_msg;
        r.request_ids = j.request_ids;
        r.latency_ms = j.latency_ms;
        r.finished_at = std::chrono::system_clock::now();
        return r;
    }

    void write_record(const outcome_record& r) {
        if (journal_broken_) return;
        try {
            sink_.write(r);
        } catch (const std::exception& e) {
            journal_error(e.what());
        }
    }

    void journal_error(const std::string& what) {
        if (journal_broken_) return;
        journal_broken_ = true;
        warn(what);
        stop(run_error::journal_failed, what);
    }

    void maybe_finish() {
        if (input_done_ && live_.empty() && !finished_) {
            finished_ = true;
            work_available_.notify_all();
            // A worker waiting out a connection backoff holds no id: no need to wait for it.
            for (auto& t : worker_timers_) t->cancel();
        }
    }

    // Stops taking new work; requests in flight finish and are recorded.
    void stop(run_error why, std::string detail) {
        if (stopping_) return;
        stopping_ = true;
        summary_.stopped_by = why;
        summary_.stop_detail = std::move(detail);
        if (why != run_error::interrupted) {
            warn("stopping: " + summary_.stop_detail + (in_flight_ ? "; finishing " + std::to_string(in_flight_) + " requests in flight" : std::string()));
        }
        handoff_.close();
        source_.cancel();
        for (auto& j : live_) {
            if (j.retry_timer) j.retry_timer->cancel();
        }
        for (auto& t : worker_timers_) t->cancel();
        work_available_.notify_all();
        space_available_.notify_all();
        input_available_.notify_all();
    }

    void on_signal(const error_code& ec) {
        if (ec || workers_running_ == 0) return;
        if (++signals_received_ > 1) {
            // A second signal: leave now. What is written stays valid JSON Lines.
            try {
                sink_.flush();
            } catch (...) {
            }
            std::_Exit(4);
        }
        warn("interrupted: finishing the requests in flight (signal again to quit at once)");
        stop(run_error::interrupted, "signal received");
        signals_.async_wait([this](const error_code& e, int) { on_signal(e); });
    }

    // ---- the periodic chores ----------------------------------------------------------------

    asio::awaitable<void> tick() {
        auto last_sync = steady::now();
        for (;;) {
            ticker_.expires_after(settings_.progress_interval);
            co_await ticker_.async_wait(use_tuple);
            if (workers_running_ == 0) co_return;
            const auto now = steady::now();
            if (throttle_.on_tick(now)) limiter_.set_rate(throttle_.limit(), now);
            try {
                sink_.flush();
                if (now - last_sync >= settings_.journal_sync_interval) {
                    sink_.sync();
                    last_sync = now;
                }
            } catch (const std::exception& e) {
                journal_error(e.what());
            }
            if (hooks_.on_progress) hooks_.on_progress(snapshot());
        }
    }

    progress_snapshot snapshot() {
        progress_snapshot p;
        p.ids_read = summary_.ids;
        p.released = summary_.released;
        p.failed = summary_.failed;
        p.invalid = summary_.invalid;
        p.duplicates = duplicates_.load(std::memory_order_relaxed);
        p.in_flight = in_flight_;
        p.waiting_retry = waiting_retry_;
        p.requests = summary_.requests;
        p.input_bytes_read = source_.bytes_read();
        p.input_lines_read = source_.lines_read();
        p.input_size = source_.size_hint();
        p.rate_limit = limiter_.rate();
        p.rate_lowered = throttle_.lowered();
        p.elapsed_s = std::chrono::duration<double>(steady::now() - start_).count();
        p.input_done = input_done_;
        p.throttled = throttle_.throttled_count();
        p.counters = &summary_;
        return p;
    }

    void warn(std::string_view text) {
        if (hooks_.on_warning) hooks_.on_warning(text);
    }

    const release_settings& settings_;
    id_source& source_;
    outcome_sink& sink_;
    const run_hooks& hooks_;

    asio::io_context io_;
    ssl::context tls_ctx_;
    detail::session_cache sessions_;
    tcp::resolver::results_type resolved_;
    request_builder builder_;
    request_id_generator request_ids_;
    rate_limiter limiter_;
    throttle_controller throttle_;
    retry_budget budget_;
    std::mt19937_64 rng_;

    handoff handoff_;
    id_set seen_;                                       // used by the reader thread only
    bool has_prior_ = false;                            // seen_ holds ids final before (--resume)
    std::unordered_set<std::uint64_t> invalid_lines_done_;  // reader thread only
    std::atomic<std::uint64_t> duplicates_{0};
    std::atomic<std::uint64_t> already_final_{0};
    job_list live_;                 // every id read and not yet final
    std::deque<job_ref> ready_;     // ids ready to be sent
    std::size_t queue_capacity_ = 0;
    notifier work_available_;
    notifier space_available_;
    notifier input_available_;
    asio::signal_set signals_;
    asio::steady_timer ticker_;
    std::vector<std::unique_ptr<asio::steady_timer>> worker_timers_;
    std::unique_ptr<detail::iam_client> iam_;  // with --iam-*
    token_keeper tokens_;
    asio::steady_timer refresh_timer_;         // the next fetch ahead of expiry
    std::vector<job_ref> parked_;              // ids refused with APIG.0307, waiting for a new token

    std::uint32_t workers_running_ = 0;
    std::uint32_t signals_received_ = 0;
    std::uint32_t open_connections_ = 0;
    std::uint64_t in_flight_ = 0;
    std::uint64_t waiting_retry_ = 0;
    bool input_done_ = false;
    bool finished_ = false;
    bool stopping_ = false;
    bool journal_broken_ = false;
    bool rate_notice_given_ = false;
    std::string last_connect_error_;
    steady::time_point start_;
    run_summary summary_;
};

}  // namespace

int run_summary::exit_code() const {
    if (stopped_by) return exit_code_for(*stopped_by);
    if (failed > 0 || invalid > 0) return 1;
    return 0;
}

run_summary run_release(const release_settings& settings, id_source& source, outcome_sink& sink,
                        const run_hooks& hooks, prior_outcomes* prior) {
    engine e(settings, source, sink, hooks, prior);
    return e.run();
}

}  // namespace koorelease
