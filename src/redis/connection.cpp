#include "redis/connection.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <variant>

namespace koorelease::redis {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

class category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "koorelease.redis"; }
    std::string message(int value) const override {
        switch (static_cast<error>(value)) {
            case error::not_connected:
                return "not connected to Redis: connect first (or again)";
            case error::resolve_failed:
                return "the Redis host name could not be resolved: check the host";
            case error::connect_failed:
                return "no connection to Redis could be made: check that the server runs and the "
                       "host and port";
            case error::connect_timeout:
                return "connecting to Redis timed out: check the host, port and firewalls, or "
                       "raise "
                       "the connect timeout";
            case error::auth_failed:
                return "Redis refused AUTH: check the user name and password";
            case error::select_failed:
                return "Redis refused SELECT: check the database number";
            case error::connection_lost:
                return "the connection to Redis was lost: reconnect";
            case error::protocol_error:
                return "Redis sent an invalid answer: the connection was closed";
            case error::command_timeout:
                return "a Redis command timed out: the connection was closed; reconnect";
            case error::closed:
                return "the Redis connection was closed while the command was in flight";
            case error::empty_command:
                return "a Redis command needs at least its name";
        }
        return "unknown Redis error";
    }
};

std::chrono::milliseconds left_until(steady::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    return std::max(left, std::chrono::milliseconds(0));
}

}  // namespace

const std::error_category& error_category() {
    static const category instance;
    return instance;
}

reply to_reply(const redisReply& r) {
    reply out;
    switch (r.type) {
        case REDIS_REPLY_STRING:
            out.type = reply::kind::string;
            out.text.assign(r.str, r.len);
            break;
        case REDIS_REPLY_STATUS:
            out.type = reply::kind::status;
            out.text.assign(r.str, r.len);
            break;
        case REDIS_REPLY_ERROR:
            out.type = reply::kind::error;
            out.text.assign(r.str, r.len);
            break;
        case REDIS_REPLY_INTEGER:
            out.type = reply::kind::integer;
            out.integer = r.integer;
            break;
        case REDIS_REPLY_ARRAY:
            out.type = reply::kind::array;
            out.elements.reserve(r.elements);
            for (std::size_t i = 0; i < r.elements; ++i)
                out.elements.push_back(to_reply(*r.element[i]));
            break;
        default:  // REDIS_REPLY_NIL
            break;
    }
    return out;
}

namespace detail {

// One command (or the TCP connect) waiting for hiredis's callback. The timer is both the
// timeout and the wake-up: the callback sets `done` and cancels it.
struct pending {
    explicit pending(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;
    bool done = false;
    std::error_code ec;
    redis::reply value;

    void complete(std::error_code e) {
        done = true;
        ec = e;
        timer.cancel();
    }
};

// hiredis's event hooks on Asio: waits for readiness of the context's socket and calls
// redisAsyncHandleRead/Write. The socket belongs to hiredis (redisFree closes it): the
// descriptor is released, never closed. A completion can be queued when the context goes
// away, so each wait holds the watch alive and checks `context_` before touching it.
class socket_watch : public std::enable_shared_from_this<socket_watch> {
  public:
    socket_watch(const asio::any_io_executor& ex, redisAsyncContext* ac)
        : descriptor_(ex, ac->c.fd), context_(ac) {}
    ~socket_watch() { detach(); }
    socket_watch(const socket_watch&) = delete;
    socket_watch& operator=(const socket_watch&) = delete;

    void attach() {
        context_->ev.data = this;
        context_->ev.addRead = [](void* w) { static_cast<socket_watch*>(w)->want(false, true); };
        context_->ev.delRead = [](void* w) { static_cast<socket_watch*>(w)->want(false, false); };
        context_->ev.addWrite = [](void* w) { static_cast<socket_watch*>(w)->want(true, true); };
        context_->ev.delWrite = [](void* w) { static_cast<socket_watch*>(w)->want(true, false); };
        // hiredis calls cleanup from __redisAsyncFree, on every path that frees the context,
        // after the pending callbacks ran and before it closes the socket.
        context_->ev.cleanup = [](void* w) {
            auto* self = static_cast<socket_watch*>(w);
            redisAsyncContext* ac = self->context_;
            self->detach();
            if (ac != nullptr) static_cast<connection*>(ac->data)->on_context_freed();
        };
    }

  private:
    void want(bool write, bool on) {
        (write ? want_write_ : want_read_) = on;
        if (!on || context_ == nullptr) return;
        bool& waiting = write ? waiting_write_ : waiting_read_;
        if (waiting) return;
        waiting = true;
        descriptor_.async_wait(write ? asio::posix::descriptor_base::wait_write
                                     : asio::posix::descriptor_base::wait_read,
                               [self = shared_from_this(), write](boost::system::error_code ec) {
                                   self->ready(write, ec);
                               });
    }

    void ready(bool write, boost::system::error_code ec) {
        (write ? waiting_write_ : waiting_read_) = false;
        if (ec == asio::error::operation_aborted || context_ == nullptr) return;
        if (!(write ? want_write_ : want_read_)) return;
        // May free the context (cleanup above runs inside): nothing of it is used afterwards.
        if (write) {
            redisAsyncHandleWrite(context_);
        } else {
            redisAsyncHandleRead(context_);
        }
    }

    void detach() {
        context_ = nullptr;
        if (descriptor_.is_open())
            descriptor_.release();  // cancels the waits; hiredis closes the fd
    }

    asio::posix::stream_descriptor descriptor_;
    redisAsyncContext* context_;
    bool want_read_ = false;
    bool want_write_ = false;
    bool waiting_read_ = false;
    bool waiting_write_ = false;
};

}  // namespace detail

connection::connection(asio::any_io_executor ex)
    : executor_(std::move(ex)), alive_(std::make_shared<bool>(true)) {}

connection::~connection() {
    *alive_ = false;
    close();
}

bool connection::connected() const {
    return state_ == state::ready && context_ != nullptr;
}

void connection::close() {
    abort(error::closed);
    state_ = state::closed;
}

void connection::abort(error reason) {
    if (context_ == nullptr) return;
    abort_reason_ = reason;
    // Runs every pending callback with no reply, then cleanup (on_context_freed), then frees.
    // Never called from inside a hiredis callback: those only record results and wake timers.
    redisAsyncFree(context_);
    abort_reason_ = error::closed;
}

void connection::on_context_freed() {
    context_ = nullptr;
    state_ = state::closed;
    if (connecting_ && !connecting_->done) connecting_->complete(abort_reason_);
}

void connection::on_connect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<connection*>(ac->data);
    if (!self->connecting_) return;
    if (status == REDIS_OK) {
        self->connecting_->complete({});
    } else {
        // hiredis frees the context when this returns.
        self->last_error_ =
            "connect to " + self->peer_ + ": " + (ac->errstr ? ac->errstr : "failed");
        self->connecting_->complete(error::connect_failed);
    }
}

void connection::on_disconnect(const redisAsyncContext* ac, int status) {
    if (status == REDIS_OK) return;  // our own close, or a clean one
    auto* self = static_cast<connection*>(ac->data);
    self->last_error_ =
        "connection to " + self->peer_ + " lost: " + (ac->errstr ? ac->errstr : "I/O error");
}

void connection::on_reply(redisAsyncContext* ac, void* r, void* privdata) {
    std::unique_ptr<std::shared_ptr<detail::pending>> holder(
        static_cast<std::shared_ptr<detail::pending>*>(privdata));
    detail::pending& op = **holder;
    auto* self = static_cast<connection*>(ac->data);
    if (r != nullptr) {
        op.value = to_reply(*static_cast<const redisReply*>(r));
        op.complete({});
    } else if (ac->err != 0) {
        // The connection failed: hiredis runs every pending callback with no reply.
        self->last_error_ =
            "connection to " + self->peer_ + " lost: " + (ac->errstr ? ac->errstr : "I/O error");
        op.complete(ac->err == REDIS_ERR_PROTOCOL ? error::protocol_error : error::connection_lost);
    } else {
        op.complete(self->abort_reason_);
    }
}

asio::awaitable<std::error_code> connection::connect(const target& t,
                                                     std::chrono::milliseconds timeout) {
    if (state_ == state::connecting)
        co_return std::make_error_code(std::errc::operation_in_progress);
    close();
    const auto alive = alive_;
    const auto deadline = steady::now() + timeout;
    peer_ = t.host + ":" + std::to_string(t.port);
    state_ = state::connecting;

    std::vector<std::string> addresses;
    boost::system::error_code parse_error;
    const auto numeric = asio::ip::make_address(t.host, parse_error);
    if (!parse_error) {
        addresses.push_back(numeric.to_string());
    } else {
        asio::ip::tcp::resolver resolver(executor_);
        asio::steady_timer timer(executor_, deadline);
        auto result = co_await (resolver.async_resolve(t.host, std::to_string(t.port), use_tuple) ||
                                timer.async_wait(use_tuple));
        if (!*alive) co_return error::closed;
        if (result.index() == 1) {
            state_ = state::closed;
            last_error_ = "resolve " + t.host + ": timed out after " +
                          std::to_string(timeout.count()) + " ms";
            co_return error::connect_timeout;
        }
        const auto& [resolve_error, endpoints] = std::get<0>(result);
        if (resolve_error || endpoints.empty()) {
            state_ = state::closed;
            last_error_ = "resolve " + t.host + ": " +
                          (resolve_error ? resolve_error.message() : "no address");
            co_return error::resolve_failed;
        }
        for (const auto& e : endpoints) addresses.push_back(e.endpoint().address().to_string());
    }

    std::error_code ec = error::connect_failed;
    for (const auto& address : addresses) {
        ec = co_await connect_to(address, t.port, deadline);
        if (!*alive) co_return error::closed;
        if (ec != error::connect_failed) break;  // connected, or out of time
    }
    if (ec) {
        state_ = state::closed;
        if (ec == error::connect_timeout) {
            last_error_ = "connect to " + peer_ + ": timed out after " +
                          std::to_string(timeout.count()) + " ms";
        }
        co_return ec;
    }

    if (!t.password.empty()) {
        // No braced lists in this coroutine: g++ 12 rejects an initializer_list there
        // ("array used as initializer").
        std::vector<std::string> argv;
        argv.push_back("AUTH");
        if (!t.username.empty()) argv.push_back(t.username);
        argv.push_back(t.password);
        const auto e = co_await setup(std::move(argv), error::auth_failed, deadline, timeout);
        if (e) co_return e;
    }
    if (t.db != 0) {
        std::vector<std::string> argv;
        argv.push_back("SELECT");
        argv.push_back(std::to_string(t.db));
        const auto e = co_await setup(std::move(argv), error::select_failed, deadline, timeout);
        if (e) co_return e;
    }
    if (context_ == nullptr) co_return error::connection_lost;
    state_ = state::ready;
    co_return std::error_code{};
}

asio::awaitable<std::error_code> connection::setup(std::vector<std::string> argv, error refused,
                                                   steady::time_point deadline,
                                                   std::chrono::milliseconds timeout) {
    const auto alive = alive_;
    const std::string what = argv[0];  // AUTH or SELECT: never the arguments (the password)
    auto [ec, r] = co_await execute(std::move(argv), left_until(deadline));
    if (!*alive) co_return error::closed;
    if (ec == error::command_timeout) {
        last_error_ = "connect to " + peer_ + ": " + what + " timed out after " +
                      std::to_string(timeout.count()) + " ms";
        co_return error::connect_timeout;
    }
    if (ec) co_return ec;
    if (r.is_error()) {
        last_error_ = what + " refused by " + peer_ + ": " + r.text;
        close();
        co_return refused;
    }
    co_return std::error_code{};
}

asio::awaitable<std::error_code> connection::connect_to(const std::string& address,
                                                        std::uint16_t port,
                                                        steady::time_point deadline) {
    redisAsyncContext* ac = redisAsyncConnect(address.c_str(), port);
    if (ac == nullptr) {
        last_error_ = "connect to " + peer_ + ": out of memory";
        co_return error::connect_failed;
    }
    if (ac->err != 0) {
        last_error_ = "connect to " + peer_ + ": " + ac->errstr;
        redisAsyncFree(ac);
        co_return error::connect_failed;
    }
    ac->data = this;
    context_ = ac;
    watch_ = std::make_shared<detail::socket_watch>(executor_, ac);
    watch_->attach();
    auto op = std::make_shared<detail::pending>(executor_);
    connecting_ = op;
    // The first writable event says that the TCP connect finished (hiredis watches for it
    // from here on).
    redisAsyncSetConnectCallback(ac, &connection::on_connect);
    redisAsyncSetDisconnectCallback(ac, &connection::on_disconnect);
    op->timer.expires_at(deadline);
    const auto alive = alive_;
    boost::system::error_code ec;
    if (!op->done) std::tie(ec) = co_await op->timer.async_wait(use_tuple);
    if (!*alive) co_return error::closed;
    connecting_.reset();
    if (op->done) co_return op->ec;
    if (ec) {  // the awaiting coroutine was cancelled
        abort(error::closed);
        co_return std::make_error_code(std::errc::operation_canceled);
    }
    abort(error::connect_timeout);
    co_return error::connect_timeout;
}

asio::awaitable<std::pair<std::error_code, reply>> connection::command(
    std::vector<std::string> argv, std::chrono::milliseconds timeout) {
    if (!connected()) {
        if (last_error_.empty()) last_error_ = "not connected";
        co_return std::pair{make_error_code(error::not_connected), reply{}};
    }
    co_return co_await execute(std::move(argv), timeout);
}

asio::awaitable<std::pair<std::error_code, reply>> connection::execute(
    std::vector<std::string> argv, std::chrono::milliseconds timeout) {
    if (argv.empty()) co_return std::pair{make_error_code(error::empty_command), reply{}};
    if (context_ == nullptr) co_return std::pair{make_error_code(error::not_connected), reply{}};
    std::vector<const char*> args;
    std::vector<std::size_t> lengths;
    args.reserve(argv.size());
    lengths.reserve(argv.size());
    for (const auto& a : argv) {
        args.push_back(a.data());
        lengths.push_back(a.size());
    }
    auto op = std::make_shared<detail::pending>(executor_);
    // hiredis keeps this until it calls on_reply, which it does exactly once (with no reply
    // when the context is freed first).
    auto holder = std::make_unique<std::shared_ptr<detail::pending>>(op);
    if (redisAsyncCommandArgv(context_, &connection::on_reply, holder.get(),
                              static_cast<int>(args.size()), args.data(),
                              lengths.data()) != REDIS_OK) {
        co_return std::pair{make_error_code(error::not_connected), reply{}};
    }
    holder.release();
    op->timer.expires_after(timeout);
    boost::system::error_code ec;
    if (!op->done) std::tie(ec) = co_await op->timer.async_wait(use_tuple);
    // Done: the connection may have been destroyed meanwhile; do not touch `this`.
    if (op->done) co_return std::pair{op->ec, std::move(op->value)};
    if (ec) co_return std::pair{std::make_error_code(std::errc::operation_canceled), reply{}};
    last_error_ = "command " + argv[0] + " timed out after " + std::to_string(timeout.count()) +
                  " ms on " + peer_ + "; the connection was closed";
    abort(error::command_timeout);
    co_return std::pair{make_error_code(error::command_timeout), reply{}};
}

}  // namespace koorelease::redis
