#include "redis/pipeline.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>

namespace koorelease::redis {

namespace asio = boost::asio;

asio::awaitable<std::vector<result>> pipeline(connection& c, std::vector<std::vector<std::string>> commands,
                                              std::chrono::milliseconds timeout) {
    const auto ex = co_await asio::this_coro::executor;
    std::vector<result> results(commands.size());
    if (commands.empty()) co_return results;
    auto left = std::make_shared<std::size_t>(commands.size());
    asio::steady_timer all_done(ex, asio::steady_timer::time_point::max());
    for (std::size_t i = 0; i < commands.size(); ++i) {
        asio::co_spawn(
            ex,
            [&c, &results, i, argv = std::move(commands[i]), timeout]() mutable -> asio::awaitable<void> {
                results[i] = co_await c.command(std::move(argv), timeout);
            },
            [left, &all_done](std::exception_ptr) {
                if (--*left == 0) all_done.cancel();
            });
    }
    co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return results;
}

}  // namespace koorelease::redis
