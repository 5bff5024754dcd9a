#pragma once
// Many commands at once on one connection: hiredis pipelines them, the replies come in order.
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "redis/connection.hpp"

namespace koorelease::redis {

using result = std::pair<std::error_code, reply>;

// Sends every command without waiting for the replies in between, then waits for all of them.
// The i-th result is the i-th command's.
boost::asio::awaitable<std::vector<result>> pipeline(connection& c, std::vector<std::vector<std::string>> commands,
                                                     std::chrono::milliseconds timeout);

}  // namespace koorelease::redis
