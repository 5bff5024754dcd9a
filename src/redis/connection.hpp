#pragma once
// One Redis connection: a hiredis async context whose socket is watched by the Asio event
// loop (no thread of its own), with coroutine commands, per-command timeouts and pipelining.
// Single-threaded: every member function and the coroutines it returns run on the executor
// given to the constructor, which one thread runs.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

struct redisAsyncContext;
struct redisReply;

namespace koorelease::redis {

// Why a connect or a command failed. A Redis error answer ("-ERR ...") is not one of these:
// it is a reply of kind error.
enum class error {
    not_connected = 1,  // no connection: connect() has not succeeded, or it was lost or closed
    resolve_failed,     // the host name could not be resolved
    connect_failed,     // the TCP connection could not be made (refused, unreachable)
    connect_timeout,    // connect() (TCP, AUTH, SELECT) took longer than its timeout
    auth_failed,        // AUTH was refused: wrong user name or password
    select_failed,      // SELECT was refused: no such database
    connection_lost,    // the server closed or reset the connection, or a read/write failed
    protocol_error,     // the server sent something that is not RESP
    command_timeout,    // a command took longer than its timeout; the connection was closed
    closed,             // close() or the destructor ran while the command was in flight
    empty_command,      // command() with an empty argv
};

const std::error_category& error_category();
inline std::error_code make_error_code(error e) {
    return {static_cast<int>(e), error_category()};
}

struct reply {
    enum class kind { nil, string, status, integer, array, error };
    kind type = kind::nil;
    std::string text;  // string, status, error
    long long integer = 0;
    std::vector<reply> elements;  // array
    bool is_error() const { return type == kind::error; }
};

// hiredis's reply tree as a value (the fixture's blocking client uses it too).
reply to_reply(const redisReply& r);

struct target {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    int db = 0;
    std::string username;  // ACL user, empty: none
    std::string password;  // empty: no AUTH. Never logged or put in error text.
};

namespace detail {
class socket_watch;
struct pending;
}  // namespace detail

class connection {
  public:
    explicit connection(boost::asio::any_io_executor ex);
    ~connection();  // closes; pending commands complete with an error
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // TCP connect (non-blocking; the host is resolved with Asio, hiredis gets the address; each
    // address is tried in turn), then AUTH when a password is set and SELECT when db != 0.
    // Fails after `timeout` (the whole of it). An open connection is closed first (its commands
    // in flight fail with error::closed); while another connect() runs: operation_in_progress.
    boost::asio::awaitable<std::error_code> connect(const target& t,
                                                    std::chrono::milliseconds timeout);

    // One command in argv form (binary-safe). Commands from several coroutines are pipelined in
    // the order of their calls. Completes with the reply, or with an error_code when the
    // connection is lost or the command takes longer than `timeout` (then the connection is
    // closed and every command in flight completes with an error too). When the awaiting
    // coroutine is cancelled, it completes with operation_aborted at once; the command stays in
    // the pipeline and its reply is dropped.
    boost::asio::awaitable<std::pair<std::error_code, reply>> command(
        std::vector<std::string> argv,
        std::chrono::milliseconds timeout = std::chrono::seconds(10));

    bool connected() const;
    void close();  // idempotent
    // Human-readable cause of the last failure, e.g. "connect to 127.0.0.1:6379: Connection
    // refused".
    const std::string& last_error() const { return last_error_; }

  private:
    friend class detail::socket_watch;
    enum class state { closed, connecting, ready };

    boost::asio::awaitable<std::error_code> connect_to(
        const std::string& address, std::uint16_t port,
        std::chrono::steady_clock::time_point deadline);
    // AUTH or SELECT during connect(): a refusal is a reply, a timeout or loss an error_code.
    boost::asio::awaitable<std::error_code> setup(std::vector<std::string> argv, error refused,
                                                  std::chrono::steady_clock::time_point deadline,
                                                  std::chrono::milliseconds timeout);
    boost::asio::awaitable<std::pair<std::error_code, reply>> execute(
        std::vector<std::string> argv, std::chrono::milliseconds timeout);
    // Frees the context now: every command in flight completes with `reason`.
    void abort(error reason);

    static void on_connect(const redisAsyncContext* ac, int status);
    static void on_disconnect(const redisAsyncContext* ac, int status);
    static void on_reply(redisAsyncContext* ac, void* r, void* privdata);
    void on_context_freed();

    boost::asio::any_io_executor executor_;
    redisAsyncContext* context_ = nullptr;  // owned by hiredis once attached; null once freed
    std::shared_ptr<detail::socket_watch> watch_;
    std::shared_ptr<detail::pending> connecting_;  // the connect() waiting for hiredis's answer
    state state_ = state::closed;
    error abort_reason_ = error::closed;  // what commands failed by our own free complete with
    std::string last_error_;
    std::string peer_;  // "host:port", for messages
    // False once destroyed: a coroutine woken after that (its command failed by the
    // destructor) must not touch the connection.
    std::shared_ptr<bool> alive_;
};

}  // namespace koorelease::redis

template <>
struct std::is_error_code_enum<koorelease::redis::error> : std::true_type {};
