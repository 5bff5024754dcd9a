#include "tls.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace koorelease::detail {

namespace ssl = boost::asio::ssl;

namespace {
int cache_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}
}  // namespace

session_cache::session_cache(SSL_CTX* ctx, std::size_t capacity) : capacity_(capacity) {
    SSL_CTX_set_ex_data(ctx, cache_index(), this);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, &session_cache::on_new_session);
}

session_cache::~session_cache() {
    for (auto* s : sessions_) SSL_SESSION_free(s);
}

int session_cache::on_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* self = static_cast<session_cache*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), cache_index()));
    if (self == nullptr) return 0;
    // Keep a copy: OpenSSL marks a session not resumable when its connection is freed without
    // a TLS shutdown, which is how connections end here (the answer was complete; a
    // close_notify round trip would only cost time).
    SSL_SESSION* copy = SSL_SESSION_dup(session);
    if (copy == nullptr) return 0;
    self->sessions_.push_back(copy);
    if (self->sessions_.size() > self->capacity_) {
        SSL_SESSION_free(self->sessions_.front());
        self->sessions_.pop_front();
    }
    return 0;  // OpenSSL keeps (and frees) the original
}

void session_cache::offer(SSL* ssl) {
    while (!sessions_.empty()) {
        SSL_SESSION* s = sessions_.back();  // the newest: the least likely to have expired
        sessions_.pop_back();
        const bool usable = SSL_SESSION_is_resumable(s) == 1;
        if (usable) SSL_set_session(ssl, s);  // takes its own reference
        SSL_SESSION_free(s);
        if (usable) return;
    }
}

ssl::context make_client_context(const std::string& ca_file, bool insecure) {
    ssl::context ctx(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    boost::system::error_code ec;
    ctx.set_default_verify_paths(ec);  // the system store; absent on minimal images, which is fine
    if (!ca_file.empty()) {
        ctx.load_verify_file(ca_file, ec);
        if (ec) {
            throw std::runtime_error("cannot use --ca-file '" + ca_file + "': " + ec.message() +
                                     " (give a readable PEM file of CA certificates)");
        }
    }
    ctx.set_verify_mode(insecure ? ssl::verify_none : ssl::verify_peer);
    return ctx;
}

bool is_certificate_error(const boost::system::error_code& ec) {
    if (ec.category() != boost::asio::error::get_ssl_category()) return false;
    return ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

std::string verify_failure_text(SSL* ssl) {
    const long result = SSL_get_verify_result(ssl);
    if (result == X509_V_OK) return "certificate verify failed";
    return X509_verify_cert_error_string(result);
}

bool is_ip_literal(const std::string& host) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    return !ec;
}

}  // namespace koorelease::detail
