#include "mock/mock_server.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/span.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "mock/certificate.hpp"
#include "mock/mock_rules.hpp"

namespace koorelease::mock {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

void print_error(const std::string& message) {
    std::fprintf(stderr, "koorelease mock: error: %s\n", message.c_str());
    std::fflush(stderr);
}

// Tiny, fast generator for the fault draws: one per connection, seeded from the run's seed
// and the connection number, so no lock is taken and a --seed run is repeatable per
// connection.
class splitmix64 {
  public:
    explicit splitmix64(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    // Uniform in [0,1) from the top 53 bits.
    double draw() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  private:
    std::uint64_t state_;
};

// Open connections, so that a stop signal can close them and wait for them. The closer of
// a connection runs on that connection's strand, and the connection unregisters on that
// same strand before its coroutine frame goes away: looking the entry up again there means
// the closer never touches a finished connection.
class connection_registry {
  public:
    // False when the server is stopping: the caller must close at once.
    bool add(std::uint64_t id, asio::any_io_executor executor, std::function<void()> closer) {
        std::lock_guard lock(mutex_);
        if (stopping_) return false;
        entries_.emplace(id, entry{std::move(executor), std::move(closer)});
        return true;
    }

    void remove(std::uint64_t id) {
        std::function<void()> notify;
        {
            std::lock_guard lock(mutex_);
            entries_.erase(id);
            if (entries_.empty() && on_empty_) notify = std::move(on_empty_);
        }
        if (notify) notify();
    }

    // Refuses new connections and asks every open one to close.
    void close_all() {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        for (auto& [id, e] : entries_) {
            asio::post(e.executor, [this, connection = id] { close_on_strand(connection); });
        }
    }

    // Runs `callback` once when no connection is left; false (and no call) if none is left now.
    bool when_empty(std::function<void()> callback) {
        std::lock_guard lock(mutex_);
        if (entries_.empty()) return false;
        on_empty_ = std::move(callback);
        return true;
    }

    void clear_when_empty() {
        std::lock_guard lock(mutex_);
        on_empty_ = nullptr;
    }

    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return entries_.size();
    }

  private:
    struct entry {
        asio::any_io_executor executor;
        std::function<void()> closer;
    };

    void close_on_strand(std::uint64_t id) {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(id);
        // Closing only posts completions, it never calls back into the registry inline.
        if (it != entries_.end()) it->second.closer();
    }

    mutable std::mutex mutex_;
    bool stopping_ = false;
    std::unordered_map<std::uint64_t, entry> entries_;
    std::function<void()> on_empty_;
};

// Unregisters a connection when its coroutine frame ends, however it ends.
class registration {
  public:
    registration(connection_registry& registry, std::uint64_t id, asio::any_io_executor executor,
                 std::function<void()> closer)
        : registry_(registry),
          id_(id),
          added_(registry.add(id, std::move(executor), std::move(closer))) {}
    ~registration() {
        if (added_) registry_.remove(id_);
    }
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;

    bool added() const { return added_; }

  private:
    connection_registry& registry_;
    std::uint64_t id_;
    bool added_;
};

struct server_state {
    explicit server_state(const mock_settings& s) : settings(s), rules(s), stats(s.track_ids) {}

    const mock_settings& settings;
    mock_rules rules;
    mock_stats stats;
    connection_registry registry;
    std::uint64_t seed = 0;
    std::atomic<std::uint64_t> next_connection{0};
};

std::optional<std::string_view> header_value(const http::request<http::string_body>& request,
                                             std::string_view name) {
    auto it = request.find(name);
    if (it == request.end()) return std::nullopt;
    return it->value();
}

std::int64_t inputs_clock_bits() { return mock_clock::now().time_since_epoch().count(); }

// How a connection's request loop ended, which decides how politely it is closed.
enum class ending {
    graceful,  // after a "Connection: close" answer or the client's own close: TLS close_notify
    abrupt,    // a drop fault, an error or a timeout: just close the socket
};

template <class Stream>
asio::awaitable<ending> serve_requests(Stream& stream, server_state& state,
                                       asio::steady_timer& delay_timer, splitmix64& random) {
    const mock_settings& settings = state.settings;
    auto& lowest = beast::get_lowest_layer(stream);
    // One buffer for the connection's whole life: no allocation per request once warm.
    beast::flat_buffer buffer;
    std::string stats_body;
    std::uint64_t answers = 0;

    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(settings.header_limit));
        parser.body_limit(settings.body_limit);
        lowest.expires_after(settings.idle_timeout);
        // Bytes already here belong to a request sent before our last answer: pipelined.
        const bool pipelined = buffer.size() > 0;
        auto [read_error, read_bytes] =
            co_await http::async_read(stream, buffer, parser, use_tuple);
        (void)read_bytes;

        decision d;
        unsigned version = 11;
        std::optional<std::string_view> echo;
        if (read_error == http::error::end_of_stream) {
            co_return ending::graceful;
        } else if (read_error == http::error::header_limit) {
            d = mock_rules::decide_unreadable(read_failure::header_too_large);
        } else if (read_error == http::error::body_limit) {
            d = mock_rules::decide_unreadable(read_failure::body_too_large);
        } else if (read_error &&
                   read_error.category() ==
                       http::make_error_code(http::error::bad_target).category() &&
                   read_error != http::error::partial_message) {
            d = mock_rules::decide_unreadable(read_failure::malformed);
        } else if (read_error) {
            co_return ending::abrupt;  // reset, timeout, truncated TLS: nobody to answer
        } else {
            const auto& request = parser.get();
            version = request.version();
            request_view view{
                .method = request.method_string(),
                .target = request.target(),
                .auth_token = header_value(request, "x-auth-token"),
                .request_id = header_value(request, "x-request-id"),
                .body = request.body(),
                .keep_alive = request.keep_alive(),
            };
            rule_inputs inputs{
                .draw = settings.drop_rate + settings.fail_rate > 0 ? random.draw() : 0.5,
                .now = mock_clock::now(),
                .answers_on_connection = answers,
                .pipelined = pipelined,
                .wall_now = std::chrono::system_clock::now(),
                // Only tells issued tokens apart from one run to the next: not a secret.
                .random_bits = state.seed ^ static_cast<std::uint64_t>(inputs_clock_bits()),
            };
            d = state.rules.decide(view, inputs);
            // Recorded now: the views into simdjson's per-thread buffer die at the next await.
            state.stats.record(d, inputs.now);

            if (d.kind == route::stats) {
                stats_body = state.stats.to_json();
                d.body = stats_body;
            } else if (d.kind == route::iam) {
                d.body = d.owned_body;
            } else if (d.kind == route::reset) {
                state.stats.reset();
                state.rules.reset();
            }
            if (d.delay.count() > 0) {
                delay_timer.expires_after(d.delay);
                auto [wait_error] = co_await delay_timer.async_wait(use_tuple);
                if (wait_error) co_return ending::abrupt;  // cancelled: the server is stopping
            }
            if (d.what == outcome::drop) co_return ending::abrupt;
            echo = d.echo_request_id;
        }

        http::response<http::span_body<const char>> response{static_cast<http::status>(d.status),
                                                             version};
        response.set(http::field::content_type, "application/json");
        if (echo) response.set("X-Request-Id", *echo);
        if (!d.subject_token.empty()) response.set("X-Subject-Token", d.subject_token);
        if (d.retry_after_s > 0) {
            char digits[16];
            auto [end, ec] = std::to_chars(digits, digits + sizeof digits, d.retry_after_s);
            (void)ec;  // 16 digits hold any uint32
            response.set(http::field::retry_after, std::string_view(digits, end - digits));
        }
        response.keep_alive(!d.close);
        response.body() = beast::span<const char>(d.body.data(), d.body.size());
        response.prepare_payload();

        lowest.expires_after(settings.write_timeout);
        auto [write_error, written] = co_await http::async_write(stream, response, use_tuple);
        (void)written;
        if (write_error) co_return ending::abrupt;
        ++answers;
        if (d.close) co_return ending::graceful;
    }
}

template <class Stream>
asio::awaitable<void> serve_connection(Stream stream, server_state& state) {
    constexpr bool is_tls = !std::is_same_v<Stream, beast::tcp_stream>;
    auto& lowest = beast::get_lowest_layer(stream);
    const mock_settings& settings = state.settings;
    asio::steady_timer delay_timer(stream.get_executor());

    std::uint64_t id = state.next_connection.fetch_add(1, std::memory_order_relaxed);
    registration registered(state.registry, id, stream.get_executor(), [&lowest, &delay_timer] {
        lowest.close();
        delay_timer.cancel();
    });
    if (!registered.added()) co_return;

    boost::system::error_code ignored;
    // Answers are small and written whole: do not let Nagle hold them back.
    lowest.socket().set_option(tcp::no_delay(true), ignored);
    splitmix64 random(state.seed ^ (id * 0xd1342543de82ef95ULL));

    if constexpr (is_tls) {
        lowest.expires_after(settings.handshake_timeout);
        auto [handshake_error] =
            co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
        if (handshake_error) {
            lowest.close();
            co_return;
        }
    }

    ending how = co_await serve_requests(stream, state, delay_timer, random);

    if (how == ending::graceful) {
        if constexpr (is_tls) {
            lowest.expires_after(settings.tls_shutdown_timeout);
            // stream_truncated or a timeout here are normal: many clients just close.
            auto [shutdown_error] = co_await stream.async_shutdown(use_tuple);
            (void)shutdown_error;
        } else {
            // FIN first, so the client reads the last answer before seeing the close.
            lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
        }
    }
    lowest.close();
}

void log_exception(const char* where, std::exception_ptr error) {
    if (!error) return;
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        print_error(std::string(where) + ": " + e.what());
    }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, asio::io_context& io,
                                  server_state& state, ssl::context* tls) {
    for (;;) {
        // A strand per connection: the coroutine, its timers and Beast's timeout never run
        // at the same time on two threads.
        tcp::socket socket(asio::make_strand(io));
        auto [accept_error] = co_await acceptor.async_accept(socket, use_tuple);
        if (!acceptor.is_open()) co_return;
        if (accept_error) {
            // Out of descriptors and the like: report it, pause so as not to spin on an
            // error that repeats, and keep serving the open connections.
            print_error("accept: " + accept_error.message());
            asio::steady_timer pause(acceptor.get_executor());
            pause.expires_after(state.settings.accept_retry_delay);
            co_await pause.async_wait(use_tuple);
            continue;
        }
        auto executor = socket.get_executor();
        auto on_done = [](std::exception_ptr e) { log_exception("connection", e); };
        if (tls) {
            asio::co_spawn(executor,
                           serve_connection(beast::ssl_stream<beast::tcp_stream>(
                                                beast::tcp_stream(std::move(socket)), *tls),
                                            state),
                           on_done);
        } else {
            asio::co_spawn(executor, serve_connection(beast::tcp_stream(std::move(socket)), state),
                           on_done);
        }
    }
}

// Runs on the acceptor's strand, like accept_loop, so closing the acceptor is safe.
asio::awaitable<void> stop_on_signal(asio::signal_set& signals, tcp::acceptor& acceptor,
                                     asio::io_context& io, server_state& state) {
    auto [signal_error, signal_number] = co_await signals.async_wait(use_tuple);
    (void)signal_number;
    if (signal_error) co_return;

    boost::system::error_code ignored;
    acceptor.close(ignored);
    state.registry.close_all();

    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer grace(executor);
    grace.expires_after(state.settings.shutdown_grace);
    bool waiting = state.registry.when_empty(
        [executor, &grace] { asio::post(executor, [&grace] { grace.cancel(); }); });
    if (waiting) {
        auto [grace_error] = co_await grace.async_wait(use_tuple);
        (void)grace_error;
        state.registry.clear_when_empty();
        if (state.registry.size() > 0) {
            print_error("connections still open after the shutdown grace period; stopping anyway");
            io.stop();
        }
    }
}

struct listen_address {
    tcp::endpoint endpoint;
    std::string error;
};

listen_address parse_listen(const std::string& text) {
    listen_address out;
    auto colon = text.rfind(':');
    if (colon == std::string::npos) {
        out.error = "--listen '" + text + "' is not HOST:PORT (e.g. 127.0.0.1:0)";
        return out;
    }
    std::string host = text.substr(0, colon);
    std::string_view port_text = std::string_view(text).substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (host == "localhost") host = "127.0.0.1";
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535 ||
        port_text.empty()) {
        out.error = "--listen '" + text + "': the port must be a number from 0 to 65535";
        return out;
    }
    boost::system::error_code address_error;
    auto address = asio::ip::make_address(host, address_error);
    if (address_error) {
        out.error = "--listen '" + text + "': HOST must be an IP address or localhost";
        return out;
    }
    out.endpoint = tcp::endpoint(address, static_cast<std::uint16_t>(port));
    return out;
}

// Loads the generated or given certificate. Returns an error message, empty on success.
std::string configure_tls(ssl::context& context, const mock_settings& settings) {
    context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                        ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    SSL_CTX* native = context.native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    // Session resumption: tickets are on by default; the id context also lets TLS 1.2
    // clients resume by session id from OpenSSL's server cache.
    static constexpr unsigned char session_context[] = "koorelease-mock";
    SSL_CTX_set_session_id_context(native, session_context, sizeof session_context - 1);

    boost::system::error_code ec;
    if (!settings.cert_file.empty()) {
        context.use_certificate_chain_file(settings.cert_file, ec);
        if (ec) {
            return "cannot load --cert " + settings.cert_file + ": " + ec.message() +
                   "; pass a readable PEM certificate chain, or drop --cert/--key to generate one";
        }
        context.use_private_key_file(settings.key_file, ssl::context::pem, ec);
        if (ec) {
            return "cannot load --key " + settings.key_file + ": " + ec.message() +
                   "; pass the readable, unencrypted PEM key of --cert";
        }
    } else {
        std::string error;
        std::optional<certificate_pems> pems = generate_certificates({}, error);
        if (!pems) return "cannot generate a certificate: " + error + "; pass --cert and --key";
        if (!settings.ca_out.empty()) {
            // Written before "listening on" is printed: a client reading that line may
            // open this file at once.
            std::ofstream file(settings.ca_out, std::ios::binary | std::ios::trunc);
            file << pems->ca_certificate;
            file.close();
            if (!file) {
                return "cannot write --ca-out " + settings.ca_out +
                       "; choose a path in a writable directory";
            }
        }
        context.use_certificate_chain(asio::buffer(pems->leaf_certificate), ec);
        if (!ec) context.use_private_key(asio::buffer(pems->leaf_key), ssl::context::pem, ec);
        if (ec) return "cannot load the generated certificate: " + ec.message();
    }
    if (SSL_CTX_check_private_key(native) != 1) {
        return "the --key does not match the --cert; pass the key the certificate was made for";
    }
    return {};
}

std::string url_of(const tcp::endpoint& endpoint, bool plain) {
    std::string host = endpoint.address().to_string();
    if (endpoint.address().is_v6()) host = "[" + host + "]";
    return std::string(plain ? "http" : "https") + "://" + host + ":" +
           std::to_string(endpoint.port());
}

}  // namespace

int run(const mock_settings& settings) {
    if (settings.threads == 0) {
        print_error("--threads must be at least 1");
        return 2;
    }
    listen_address address = parse_listen(settings.listen);
    if (!address.error.empty()) {
        print_error(address.error);
        return 2;
    }

    // Declared before the io_context: coroutine frames still pending when it is destroyed
    // refer to both.
    server_state state(settings);
    std::random_device entropy;
    state.seed = settings.seed ? *settings.seed
                               : (std::uint64_t{entropy()} << 32) ^ std::uint64_t{entropy()};
    ssl::context tls_context(ssl::context::tls_server);
    if (!settings.plain) {
        std::string error = configure_tls(tls_context, settings);
        if (!error.empty()) {
            print_error(error);
            return 2;
        }
    }

    asio::io_context io(static_cast<int>(settings.threads));
    tcp::acceptor acceptor(asio::make_strand(io));
    boost::system::error_code ec;
    acceptor.open(address.endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(address.endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        print_error(
            "cannot listen on " + settings.listen + ": " + ec.message() +
            "; choose a local address and a free port with --listen (port 0 picks a free one)");
        return 2;
    }
    tcp::endpoint bound = acceptor.local_endpoint(ec);
    if (ec) {
        print_error("cannot read the listening address: " + ec.message());
        return 2;
    }

    asio::signal_set signals(acceptor.get_executor(), SIGINT, SIGTERM);
    asio::co_spawn(acceptor.get_executor(),
                   accept_loop(acceptor, io, state, settings.plain ? nullptr : &tls_context),
                   [](std::exception_ptr e) { log_exception("accept loop", e); });
    asio::co_spawn(acceptor.get_executor(), stop_on_signal(signals, acceptor, io, state),
                   [](std::exception_ptr e) { log_exception("signal handler", e); });

    std::printf("listening on %s\n", url_of(bound, settings.plain).c_str());
    std::fflush(stdout);

    std::vector<std::jthread> threads;
    threads.reserve(settings.threads - 1);
    for (unsigned i = 1; i < settings.threads; ++i) {
        threads.emplace_back([&io] { io.run(); });
    }
    io.run();
    threads.clear();  // joins
    return 0;
}

}  // namespace koorelease::mock
