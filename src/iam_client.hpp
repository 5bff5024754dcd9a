#pragma once
// The HTTPS call to IAM, as a coroutine on the caller's event loop (the engine refreshes its
// token on its own io_context, between requests that keep flowing).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <functional>

#include "koorelease/iam.hpp"

namespace koorelease::detail {

class iam_client {
public:
    // Throws std::runtime_error when --ca-file cannot be used.
    iam_client(boost::asio::any_io_executor executor, const iam_settings& settings);

    // One token request: connect, TLS, POST, read the answer, close. Never throws for
    // network or HTTP failures: they come back as an iam_error.
    boost::asio::awaitable<iam_result> fetch();

    // Ends a fetch under way (it returns an error soon after). For shutting a run down.
    void cancel();

private:
    boost::asio::any_io_executor executor_;
    const iam_settings& settings_;
    boost::asio::ssl::context tls_;
    std::function<void()> cancel_current_;
    bool cancelled_ = false;
};

}  // namespace koorelease::detail
