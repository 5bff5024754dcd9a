// redis::connection against a real redis-server (tests/support/redis_server.hpp) on loopback.
// Coroutines run on one io_context until they finish; nothing sleeps and nothing asserts on
// timing: timeouts are only provoked with commands that would otherwise never be answered.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "redis/connection.hpp"
#include "support/redis_server.hpp"

namespace koorelease::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using redis::connection;
using redis::reply;
using result = std::pair<std::error_code, reply>;
using strings = std::vector<std::string>;

// ASSERT_* returns, which a coroutine cannot: this one co_returns.
#define CO_ASSERT(cond)                                  \
    do {                                                 \
        if (!(cond)) {                                   \
            ADD_FAILURE() << "assertion failed: " #cond; \
            co_return;                                   \
        }                                                \
    } while (false)

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// A loopback listener whose accept queue is full (backlog 0, one connection never accepted):
// the kernel drops further SYNs, so a connect to it never finishes. port() is 0 on failure.
class stalled_listener {
  public:
    stalled_listener() {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        auto* address = reinterpret_cast<sockaddr*>(&a);
        if (listener_ < 0 || filler_ < 0 || ::bind(listener_, address, sizeof a) != 0 ||
            ::listen(listener_, 0) != 0 || ::getsockname(listener_, address, &len) != 0 ||
            ::connect(filler_, address, sizeof a) != 0) {
            return;
        }
        port_ = ntohs(a.sin_port);
    }
    ~stalled_listener() {
        ::close(filler_);
        ::close(listener_);
    }
    stalled_listener(const stalled_listener&) = delete;
    stalled_listener& operator=(const stalled_listener&) = delete;
    std::uint16_t port() const { return port_; }

  private:
    int listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int filler_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    std::uint16_t port_ = 0;
};

class RedisConnection : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!redis_server::available()) GTEST_SKIP() << redis_server::skip_reason();
    }

    // Starts a coroutine on the io_context; run() waits for all of them.
    void spawn(asio::awaitable<void> a) {
        ++running_;
        asio::co_spawn(io_, std::move(a), [this](std::exception_ptr e) {
            --running_;
            if (e && !error_) error_ = e;
        });
    }

    // Runs the io_context until every spawned coroutine finished. A coroutine waiting for
    // nothing (the loop ran out of work) or for more than 120 s fails the test.
    void run() {
        run_until([this] { return running_ == 0; });
    }

    // Runs the io_context until `done()` holds.
    template <class Condition>
    void run_until(Condition done) {
        const auto until = std::chrono::steady_clock::now() + 120s;
        io_.restart();
        while (!done() && io_.run_one_until(until) > 0) {
        }
        ASSERT_TRUE(done()) << "still waiting: the loop ran out of work, or 120 s passed";
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    }

    // connect() with `t`, run to completion; the error_code.
    std::error_code connect(connection& c, const redis::target& t,
                            std::chrono::milliseconds timeout = 10s) {
        std::error_code ec = redis::error::not_connected;
        spawn([](connection& cn, redis::target tg, std::chrono::milliseconds to,
                 std::error_code& out) -> asio::awaitable<void> {
            out = co_await cn.connect(tg, to);
        }(c, t, timeout, ec));
        run();
        return ec;
    }

    // One command, run to completion.
    result command(connection& c, strings argv, std::chrono::milliseconds timeout = 10s) {
        result r{redis::error::not_connected, {}};
        spawn([](connection& cn, strings a, std::chrono::milliseconds to,
                 result& out) -> asio::awaitable<void> {
            out = co_await cn.command(std::move(a), to);
        }(c, std::move(argv), timeout, r));
        run();
        return r;
    }

    // Spawns a command whose result lands in `out` when it completes.
    void start_command(connection& c, strings argv, std::chrono::milliseconds timeout,
                       result& out) {
        spawn([](connection& cn, strings a, std::chrono::milliseconds to,
                 result& o) -> asio::awaitable<void> {
            o = co_await cn.command(std::move(a), to);
        }(c, std::move(argv), timeout, out));
    }

    // Spawns a coroutine that returns once the server reports `n` blocked clients; it yields to
    // the event loop between checks so that the connection under test can send its commands.
    void when_blocked(redis_server& server, int n) {
        bool blocked = false;
        spawn([](redis_server& s, int count, bool& out) -> asio::awaitable<void> {
            const std::string wanted = "blocked_clients:" + std::to_string(count) + "\r";
            const strings info = {"INFO", "clients"};
            while (!contains(s.command(info).text, wanted)) {
                co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
            }
            out = true;
        }(server, n, blocked));
        run_until([&] { return blocked; });
    }

    asio::io_context io_;
    int running_ = 0;
    std::exception_ptr error_;
};

TEST_F(RedisConnection, ConnectsAndPings) {
    redis_server server;
    connection c(io_.get_executor());
    EXPECT_FALSE(c.connected());
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    EXPECT_TRUE(c.connected());
    const auto [ec, r] = command(c, {"PING"});
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(r.type, reply::kind::status);
    EXPECT_EQ(r.text, "PONG");
}

TEST_F(RedisConnection, ResolvesHostNamesAndTriesEachAddress) {
    // localhost may resolve to ::1 first, where the server (bound to 127.0.0.1) refuses.
    redis_server server;
    connection c(io_.get_executor());
    auto t = server.target();
    t.host = "localhost";
    ASSERT_FALSE(connect(c, t)) << c.last_error();
    EXPECT_EQ(command(c, {"PING"}).second.text, "PONG");
}

TEST_F(RedisConnection, ValuesAreBinarySafe) {
    redis_server server;
    connection c(io_.get_executor());
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    std::string value("a\0b\r\nc\n\r\0", 10);
    for (int i = 0; i < 256; ++i) value.push_back(static_cast<char>(i));
    const std::string key("key\0with\r\nnul", 13);
    const auto [set_ec, set] = command(c, {"SET", key, value});
    ASSERT_FALSE(set_ec);
    EXPECT_EQ(set.type, reply::kind::status);
    EXPECT_EQ(set.text, "OK");
    const auto [get_ec, get] = command(c, {"GET", key});
    ASSERT_FALSE(get_ec);
    EXPECT_EQ(get.type, reply::kind::string);
    EXPECT_EQ(get.text, value);
    EXPECT_EQ(server.command({"GET", key}).text, value);  // what the server stored

    const std::string big(4 * 1024 * 1024 + 7, '\0');  // larger than any socket buffer
    ASSERT_FALSE(command(c, {"SET", "big", big}).first);
    EXPECT_EQ(command(c, {"GET", "big"}).second.text, big);
    EXPECT_EQ(command(c, {"GET", "empty-missing"}).second.type, reply::kind::nil);
    ASSERT_FALSE(command(c, {"SET", "empty", ""}).first);
    const auto empty = command(c, {"GET", "empty"}).second;
    EXPECT_EQ(empty.type, reply::kind::string);
    EXPECT_EQ(empty.text, "");
}

TEST_F(RedisConnection, ReplyKinds) {
    redis_server server;
    connection c(io_.get_executor());
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();

    auto r = command(c, {"INCRBY", "n", "-9000000000"}).second;
    EXPECT_EQ(r.type, reply::kind::integer);
    EXPECT_EQ(r.integer, -9000000000LL);

    r = command(c, {"GET", "missing"}).second;
    EXPECT_EQ(r.type, reply::kind::nil);

    ASSERT_FALSE(command(c, {"RPUSH", "list", "a", "", "c"}).first);
    r = command(c, {"LRANGE", "list", "0", "-1"}).second;
    ASSERT_EQ(r.type, reply::kind::array);
    ASSERT_EQ(r.elements.size(), 3u);
    EXPECT_EQ(r.elements[0].text, "a");
    EXPECT_EQ(r.elements[1].text, "");
    EXPECT_EQ(r.elements[2].text, "c");

    r = command(c, {"LRANGE", "no-list", "0", "-1"}).second;
    EXPECT_EQ(r.type, reply::kind::array);
    EXPECT_TRUE(r.elements.empty());

    // XRANGE: an array of [id, [field, value, ...]] entries.
    ASSERT_EQ(command(c, {"XADD", "s", "1-1", "id", "i-1", "n", "1"}).second.text, "1-1");
    ASSERT_EQ(command(c, {"XADD", "s", "2-1", "id", "i-2"}).second.text, "2-1");
    r = command(c, {"XRANGE", "s", "-", "+"}).second;
    ASSERT_EQ(r.type, reply::kind::array);
    ASSERT_EQ(r.elements.size(), 2u);
    const auto& first = r.elements[0];
    ASSERT_EQ(first.type, reply::kind::array);
    ASSERT_EQ(first.elements.size(), 2u);
    EXPECT_EQ(first.elements[0].text, "1-1");
    ASSERT_EQ(first.elements[1].type, reply::kind::array);
    ASSERT_EQ(first.elements[1].elements.size(), 4u);
    EXPECT_EQ(first.elements[1].elements[1].text, "i-1");
    EXPECT_EQ(first.elements[1].elements[3].text, "1");
    EXPECT_EQ(r.elements[1].elements[1].elements[1].text, "i-2");

    // Redis errors are replies, and leave the connection usable.
    const auto [ec, err] = command(c, {"NO-SUCH-COMMAND", "x"});
    EXPECT_FALSE(ec);
    EXPECT_TRUE(err.is_error());
    EXPECT_TRUE(contains(err.text, "ERR unknown command")) << err.text;
    r = command(c, {"INCR", "list"}).second;
    EXPECT_TRUE(r.is_error());
    EXPECT_TRUE(contains(r.text, "WRONGTYPE")) << r.text;
    EXPECT_TRUE(c.connected());
    EXPECT_EQ(command(c, {"PING"}).second.text, "PONG");
}

TEST_F(RedisConnection, EmptyCommandIsRefused) {
    redis_server server;
    connection c(io_.get_executor());
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    EXPECT_EQ(command(c, {}).first, redis::error::empty_command);
    EXPECT_EQ(command(c, {"PING"}).second.text, "PONG");
}

TEST_F(RedisConnection, TenThousandConcurrentCommandsAreAnsweredInOrder) {
    redis_server server;
    connection c(io_.get_executor());
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    constexpr int n = 10000;
    std::vector<result> echoes(n);
    std::vector<result> counts(n);
    std::vector<int> completion_order;
    for (int i = 0; i < n; ++i) {
        // Coroutine i sends ECHO i then INCR: pipelined in this order, so INCR gives i + 1.
        spawn([](connection& cn, int index, result& echo, result& count,
                 std::vector<int>& order) -> asio::awaitable<void> {
            // Argument vectors built outside the co_await: g++ 12 rejects a braced list in a
            // co_await expression ("array used as initializer").
            strings echo_argv(1, "ECHO");
            echo_argv.push_back("payload-" + std::to_string(index));
            strings incr_argv(1, "INCR");
            incr_argv.push_back("counter");
            echo = co_await cn.command(std::move(echo_argv));
            order.push_back(index);
            count = co_await cn.command(std::move(incr_argv));
        }(c, i, echoes[i], counts[i], completion_order));
    }
    run();
    int wrong = 0;
    for (int i = 0; i < n; ++i) {
        if (echoes[i].first || echoes[i].second.text != "payload-" + std::to_string(i)) ++wrong;
    }
    EXPECT_EQ(wrong, 0);
    ASSERT_EQ(completion_order.size(), static_cast<std::size_t>(n));
    EXPECT_TRUE(std::is_sorted(completion_order.begin(), completion_order.end()));
    for (int i = 0; i < n; ++i) {
        if (counts[i].first || counts[i].second.integer != i + 1) ++wrong;
    }
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(server.command({"GET", "counter"}).text, std::to_string(n));
}

TEST_F(RedisConnection, ConnectionRefusedIsAnErrorWithAReason) {
    std::uint16_t port = 0;
    {
        redis_server server;
        port = server.port();
    }  // stopped: nothing listens on the port now
    connection c(io_.get_executor());
    redis::target t;
    t.port = port;
    const auto ec = connect(c, t, 10s);
    EXPECT_EQ(ec, redis::error::connect_failed) << ec.message();
    EXPECT_TRUE(contains(lower(c.last_error()), "refused")) << c.last_error();
    EXPECT_TRUE(contains(c.last_error(), "127.0.0.1:" + std::to_string(port))) << c.last_error();
    EXPECT_FALSE(c.connected());
    const auto [cec, r] = command(c, {"PING"});
    EXPECT_EQ(cec, redis::error::not_connected);
}

TEST_F(RedisConnection, ConnectTimesOutWhenTheServerNeverAccepts) {
    const stalled_listener listener;
    ASSERT_NE(listener.port(), 0);
    connection c(io_.get_executor());
    redis::target t;
    t.port = listener.port();
    const auto ec = connect(c, t, 300ms);
    EXPECT_EQ(ec, redis::error::connect_timeout) << ec.message() << ": " << c.last_error();
    EXPECT_TRUE(contains(c.last_error(), "timed out")) << c.last_error();
    EXPECT_FALSE(c.connected());
}

TEST_F(RedisConnection, ServerKilledFailsEveryPendingCommandThenReconnects) {
    redis_server server;
    connection c(io_.get_executor());
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    ASSERT_EQ(command(c, {"SET", "kept", "v1"}).second.text, "OK");  // fsynced before the answer

    // BLPOP blocks the connection: the PINGs behind it stay unanswered.
    std::vector<result> pending(100);
    start_command(c, {"BLPOP", "never", "0"}, 60s, pending[0]);
    for (std::size_t i = 1; i < pending.size(); ++i) start_command(c, {"PING"}, 60s, pending[i]);
    when_blocked(server, 1);
    server.kill();
    run();
    for (const auto& [ec, r] : pending) {
        EXPECT_EQ(ec, redis::error::connection_lost) << ec.message();
    }
    EXPECT_FALSE(c.connected());
    EXPECT_TRUE(contains(c.last_error(), "lost")) << c.last_error();
    EXPECT_EQ(command(c, {"PING"}).first, redis::error::not_connected);

    server.restart();
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    EXPECT_TRUE(c.connected());
    EXPECT_EQ(command(c, {"GET", "kept"}).second.text, "v1");
}

TEST_F(RedisConnection, ServerRestartedWhileIdleIsNoticed) {
    redis_server server;
    connection c(io_.get_executor());
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    server.restart();
    // The close is seen by the read the connection always has pending.
    spawn([](connection& cn) -> asio::awaitable<void> {
        while (cn.connected())
            co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    }(c));
    run();
    EXPECT_FALSE(c.connected());
    EXPECT_TRUE(contains(c.last_error(), "lost")) << c.last_error();
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    EXPECT_EQ(command(c, {"PING"}).second.text, "PONG");
}

TEST_F(RedisConnection, CommandTimeoutClosesTheConnectionAndFailsTheOthers) {
    redis_server server;
    connection c(io_.get_executor());
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    result blocked;
    std::vector<result> behind(5);
    start_command(c, {"BLPOP", "never", "0"}, 200ms, blocked);
    for (auto& r : behind) start_command(c, {"PING"}, 60s, r);
    run();
    EXPECT_EQ(blocked.first, redis::error::command_timeout);
    for (const auto& [ec, r] : behind) EXPECT_EQ(ec, redis::error::command_timeout) << ec.message();
    EXPECT_FALSE(c.connected());
    EXPECT_TRUE(contains(c.last_error(), "BLPOP timed out")) << c.last_error();
    EXPECT_EQ(command(c, {"PING"}).first, redis::error::not_connected);

    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    EXPECT_EQ(command(c, {"PING"}).second.text, "PONG");
}

TEST_F(RedisConnection, UnresponsiveServerTimesOut) {
    redis_server server;
    connection c(io_.get_executor());
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    server.signal(SIGSTOP);
    const auto [ec, r] = command(c, {"PING"}, 200ms);
    server.signal(SIGCONT);
    EXPECT_EQ(ec, redis::error::command_timeout);
    EXPECT_FALSE(c.connected());
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    EXPECT_EQ(command(c, {"PING"}).second.text, "PONG");
}

TEST_F(RedisConnection, ConnectTimesOutWhenAuthIsNotAnswered) {
    redis_server server({.password = "pw-8d2Kx", .extra_args = {}});
    connection c(io_.get_executor());
    server.signal(SIGSTOP);  // the kernel still accepts the TCP connection
    const auto ec = connect(c, server.target(), 300ms);
    server.signal(SIGCONT);
    EXPECT_EQ(ec, redis::error::connect_timeout) << ec.message();
    EXPECT_TRUE(contains(c.last_error(), "AUTH timed out")) << c.last_error();
    EXPECT_FALSE(contains(c.last_error(), "pw-8d2Kx")) << c.last_error();
    EXPECT_FALSE(c.connected());
}

TEST_F(RedisConnection, CancelledCommandDoesNotShiftTheReplies) {
    redis_server server;
    connection c(io_.get_executor());
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    result cancelled;
    spawn([](connection& cn, result& out) -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        asio::steady_timer timer(co_await asio::this_coro::executor, 50ms);
        strings argv(1, "BLPOP");
        argv.push_back("q");
        argv.push_back("0");
        auto v =
            co_await (cn.command(std::move(argv), 60s) || timer.async_wait(asio::use_awaitable));
        if (v.index() == 0)
            out = std::get<0>(v);
        else
            out.first = std::make_error_code(std::errc::operation_canceled);
    }(c, cancelled));
    run();
    EXPECT_EQ(cancelled.first, std::errc::operation_canceled);
    // The BLPOP is still in the pipeline: answer it, then the next reply must be the PING's.
    EXPECT_EQ(server.command({"RPUSH", "q", "x"}).integer, 1);
    EXPECT_EQ(command(c, {"PING"}).second.text, "PONG");
    EXPECT_TRUE(c.connected());
}

TEST_F(RedisConnection, AuthWithThePassword) {
    const std::string password = "s3cret-Zq8vR3xW";
    redis_server server({.password = password, .extra_args = {}});
    {
        connection c(io_.get_executor());
        ASSERT_FALSE(connect(c, server.target())) << c.last_error();
        EXPECT_EQ(command(c, {"PING"}).second.text, "PONG");
    }
    {
        connection c(io_.get_executor());
        auto t = server.target();
        t.username = "default";
        ASSERT_FALSE(connect(c, t)) << c.last_error();
        EXPECT_EQ(command(c, {"PING"}).second.text, "PONG");
    }
    {
        connection c(io_.get_executor());
        auto t = server.target();
        t.password = "wrong-Pa55-Xk2";
        const auto ec = connect(c, t);
        EXPECT_EQ(ec, redis::error::auth_failed) << ec.message();
        EXPECT_FALSE(c.connected());
        EXPECT_TRUE(contains(c.last_error(), "AUTH refused")) << c.last_error();
        EXPECT_FALSE(contains(c.last_error(), "wrong-Pa55-Xk2")) << c.last_error();
        EXPECT_FALSE(contains(ec.message(), "wrong-Pa55-Xk2"));
        EXPECT_EQ(command(c, {"PING"}).first, redis::error::not_connected);
    }
    {
        // No password: connected, but every command is refused by the server.
        connection c(io_.get_executor());
        auto t = server.target();
        t.password.clear();
        ASSERT_FALSE(connect(c, t)) << c.last_error();
        const auto r = command(c, {"PING"}).second;
        EXPECT_TRUE(r.is_error());
        EXPECT_TRUE(contains(r.text, "NOAUTH")) << r.text;
    }
}

TEST_F(RedisConnection, SelectsTheDatabase) {
    redis_server server;
    auto in_db = [&](int db) {
        auto t = server.target();
        t.db = db;
        return t;
    };
    connection c3(io_.get_executor());
    connection c0(io_.get_executor());
    ASSERT_FALSE(connect(c3, in_db(3))) << c3.last_error();
    ASSERT_FALSE(connect(c0, in_db(0))) << c0.last_error();
    ASSERT_EQ(command(c3, {"SET", "k", "in-3"}).second.text, "OK");
    EXPECT_EQ(command(c0, {"GET", "k"}).second.type, reply::kind::nil);
    EXPECT_EQ(command(c3, {"GET", "k"}).second.text, "in-3");

    connection bad(io_.get_executor());
    const auto ec = connect(bad, in_db(99));  // 16 databases by default
    EXPECT_EQ(ec, redis::error::select_failed) << ec.message();
    EXPECT_TRUE(contains(bad.last_error(), "SELECT refused")) << bad.last_error();
    EXPECT_FALSE(bad.connected());
}

TEST_F(RedisConnection, CloseIsIdempotentAndFailsWhatIsInFlight) {
    redis_server server;
    connection c(io_.get_executor());
    c.close();  // never connected
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    std::vector<result> pending(10);
    start_command(c, {"BLPOP", "never", "0"}, 60s, pending[0]);
    for (std::size_t i = 1; i < pending.size(); ++i) start_command(c, {"PING"}, 60s, pending[i]);
    when_blocked(server, 1);
    c.close();
    c.close();
    run();
    for (const auto& [ec, r] : pending) EXPECT_EQ(ec, redis::error::closed) << ec.message();
    EXPECT_FALSE(c.connected());
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();  // the same object again
    EXPECT_EQ(command(c, {"PING"}).second.text, "PONG");
}

TEST_F(RedisConnection, ConnectAgainReplacesTheConnection) {
    redis_server server;
    connection c(io_.get_executor());
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    ASSERT_FALSE(connect(c, server.target())) << c.last_error();
    EXPECT_EQ(command(c, {"PING"}).second.text, "PONG");
}

TEST_F(RedisConnection, DestructorWithCommandsPending) {
    redis_server server;
    auto c = std::make_unique<connection>(io_.get_executor());
    ASSERT_FALSE(connect(*c, server.target())) << c->last_error();
    std::vector<result> pending(50);
    start_command(*c, {"BLPOP", "never", "0"}, 60s, pending[0]);
    for (std::size_t i = 1; i < pending.size(); ++i)
        start_command(*c, {"SET", "k" + std::to_string(i), "v"}, 60s, pending[i]);
    when_blocked(server, 1);
    c.reset();
    run();
    for (const auto& [ec, r] : pending) EXPECT_EQ(ec, redis::error::closed) << ec.message();
}

TEST_F(RedisConnection, DestructorWithCommandsNotYetWritten) {
    // Destroyed before the event loop ran at all: the commands are still in hiredis's buffer.
    redis_server server;
    auto c = std::make_unique<connection>(io_.get_executor());
    ASSERT_FALSE(connect(*c, server.target())) << c->last_error();
    std::vector<result> pending(20);
    std::size_t issued = 0;
    for (auto& r : pending) {
        spawn([](connection& cn, std::size_t& count, result& out) -> asio::awaitable<void> {
            strings argv(1, "PING");
            ++count;  // command() queues the command before it first suspends
            out = co_await cn.command(std::move(argv), 60s);
        }(*c, issued, r));
    }
    run_until([&] { return issued == pending.size(); });
    c.reset();
    run();
    for (const auto& [ec, r] : pending) {
        EXPECT_TRUE(ec == redis::error::closed || (!ec && r.text == "PONG")) << ec.message();
    }
}

TEST_F(RedisConnection, DestructorDuringConnect) {
    const stalled_listener listener;  // the connect stays in progress
    ASSERT_NE(listener.port(), 0);
    auto c = std::make_unique<connection>(io_.get_executor());
    redis::target t;
    t.port = listener.port();
    std::error_code ec;
    spawn([](connection& cn, redis::target tg, std::error_code& out) -> asio::awaitable<void> {
        out = co_await cn.connect(tg, 60s);
    }(*c, t, ec));
    io_.poll();  // starts the TCP connect
    c.reset();
    run();
    EXPECT_EQ(ec, redis::error::closed) << ec.message();
}

}  // namespace
}  // namespace koorelease::test
