#pragma once
// The client's TLS set-up: verification on by default (system store plus --ca-file),
// TLS 1.2 at least, and session resumption across reconnects.
#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>

#include <string>
#include <system_error>

namespace koorelease::detail {

// Keeps the newest session the server gave us, to resume on the next handshake (TLS 1.3
// tickets arrive after the handshake, so it is taken from the new-session callback).
// One per context; used from the engine's single thread.
class session_cache {
public:
    explicit session_cache(SSL_CTX* ctx);
    ~session_cache();
    session_cache(const session_cache&) = delete;
    session_cache& operator=(const session_cache&) = delete;

    // Offers the newest session to a connection about to handshake.
    void offer(SSL* ssl) const;

private:
    static int on_new_session(SSL* ssl, SSL_SESSION* session);
    SSL_SESSION* newest_ = nullptr;
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
