#pragma once
// Opening one client connection to the API, shared by the release engine and the bench
// loop: TCP connect within a timeout, TCP_NODELAY, and for HTTPS the SNI, host-name
// verification (unless --insecure), a session offered for resumption, and the handshake.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <type_traits>

#include "koorelease/endpoint.hpp"
#include "tls.hpp"

namespace koorelease::detail {

struct connection_target {
    boost::asio::io_context& io;
    boost::asio::ssl::context& tls;
    session_cache& sessions;
    const boost::asio::ip::tcp::resolver::results_type& resolved;
    const endpoint& target;
    bool insecure = false;
    std::chrono::nanoseconds timeout;  // for the TCP connect and the TLS handshake together
    bool non_blocking = false;         // put the socket in non-blocking mode (pipelined reads)
};

struct connect_outcome {
    boost::system::error_code ec;     // set when the connection could not be opened
    std::string error_text;           // ec in words, for messages
    std::string certificate_problem;  // set when the server's certificate was not accepted
    bool resumed = false;             // the TLS session was resumed
};

// Emplaces `stream` and opens it; on failure `stream` is left empty.
template <class Stream>
boost::asio::awaitable<connect_outcome> open_connection(std::optional<Stream>& stream, const connection_target& t) {
    namespace asio = boost::asio;
    namespace beast = boost::beast;
    constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
    constexpr bool tls = !std::is_same_v<Stream, beast::tcp_stream>;
    if constexpr (tls) {
        stream.emplace(t.io, t.tls);
    } else {
        stream.emplace(t.io);
    }
    connect_outcome out;
    auto& lowest = beast::get_lowest_layer(*stream);
    lowest.expires_after(t.timeout);
    auto [ec, ep] = co_await lowest.async_connect(t.resolved, use_tuple);
    if (!ec) {
        lowest.socket().set_option(asio::ip::tcp::no_delay(true), ec);
        // Async operations are not affected by this mode: only direct read_some calls.
        if (!ec && t.non_blocking) lowest.socket().non_blocking(true, ec);
        ec = {};
    }
    if constexpr (tls) {
        if (!ec) {
            SSL* native = stream->native_handle();
            const auto& host = t.target.host;
            if (!is_ip_literal(host)) SSL_set_tlsext_host_name(native, host.c_str());
            if (!t.insecure) stream->set_verify_callback(asio::ssl::host_name_verification(host));
            t.sessions.offer(native);
            auto [hec] = co_await stream->async_handshake(asio::ssl::stream_base::client, use_tuple);
            if (hec && is_certificate_error(hec)) out.certificate_problem = verify_failure_text(native);
            ec = hec;
            if (!ec) out.resumed = SSL_session_reused(native) != 0;
        }
    }
    if (ec) {
        out.ec = ec;
        out.error_text = ec == beast::error::timeout ? "no connection within --connect-timeout" : ec.message();
        stream.reset();
        co_return out;
    }
    lowest.expires_never();
    co_return out;
}

// Closes the socket at once (no TLS close_notify: the connection is given up) and empties
// `stream`. False when there was no connection.
template <class Stream>
bool close_connection(std::optional<Stream>& stream) {
    if (!stream) return false;
    boost::system::error_code ignored;
    boost::beast::get_lowest_layer(*stream).socket().close(ignored);
    stream.reset();
    return true;
}

}  // namespace koorelease::detail
