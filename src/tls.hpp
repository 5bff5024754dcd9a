#pragma once
// The client's TLS set-up: verification on by default (system store plus --ca-file),
// TLS 1.2 at least, and session resumption across reconnects.
#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>

#include <deque>
#include <string>
#include <system_error>

namespace koorelease::detail {

// Keeps the newest sessions the server gave us, to resume on the next handshakes (TLS 1.3
// tickets arrive after the handshake, so they are taken from the new-session callback).
// A TLS 1.3 ticket is meant to be used once, and a server may refuse one offered twice, so
// each is offered to one connection only; servers send two per connection (OpenSSL's
// default), which keeps the pool filled. One per context; used from the engine's thread.
class session_cache {
public:
    explicit session_cache(SSL_CTX* ctx, std::size_t capacity = 64);
    ~session_cache();
    session_cache(const session_cache&) = delete;
    session_cache& operator=(const session_cache&) = delete;

    // Offers the newest unused session to a connection about to handshake.
    void offer(SSL* ssl);

private:
    static int on_new_session(SSL* ssl, SSL_SESSION* session);
    std::size_t capacity_;
    std::deque<SSL_SESSION*> sessions_;  // oldest first
};

// Throws std::runtime_error with a message naming the file when --ca-file cannot be used.
boost::asio::ssl::context make_client_context(const std::string& ca_file, bool insecure);

// Whether a handshake error means the certificate was not trusted (not a transient failure).
bool is_certificate_error(const boost::system::error_code& ec);

// The verification failure in words ("self-signed certificate in certificate chain", ...).
std::string verify_failure_text(SSL* ssl);

// Whether `host` is an IP address literal (no SNI is sent for those).
bool is_ip_literal(const std::string& host);

}  // namespace koorelease::detail
