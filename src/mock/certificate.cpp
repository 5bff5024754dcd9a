#include "mock/certificate.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace koorelease::mock {

namespace {

template <auto free_function>
struct openssl_deleter {
    template <class T>
    void operator()(T* p) const noexcept {
        free_function(p);
    }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO_free_all>>;
using bn_ptr = std::unique_ptr<BIGNUM, openssl_deleter<BN_free>>;
using extension_ptr = std::unique_ptr<X509_EXTENSION, openssl_deleter<X509_EXTENSION_free>>;

// The failing step plus OpenSSL's queued reason, which names the real cause.
std::string openssl_error(const char* step) {
    std::string message = std::string(step) + " failed";
    unsigned long code = ERR_get_error();
    if (code != 0) {
        char text[256];
        ERR_error_string_n(code, text, sizeof text);
        message += ": ";
        message += text;
    }
    ERR_clear_error();
    return message;
}

bool add_extension(X509* certificate, X509* issuer, int nid, const char* value) {
    X509V3_CTX context;
    X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
    extension_ptr extension(X509V3_EXT_nconf_nid(nullptr, &context, nid, value));
    return extension && X509_add_ext(certificate, extension.get(), -1) == 1;
}

// A certificate with a random serial (clients reject two certificates from one issuer with
// the same serial, and each run makes a new CA) and the given validity and names.
x509_ptr new_certificate(EVP_PKEY* key, const char* common_name, X509_NAME* issuer_name,
                         const certificate_options& options, std::string& error) {
    x509_ptr certificate(X509_new());
    if (!certificate) {
        error = openssl_error("X509_new");
        return nullptr;
    }
    bn_ptr serial(BN_new());
    if (!serial || BN_rand(serial.get(), 120, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(certificate.get())) == nullptr) {
        error = openssl_error("serial number");
        return nullptr;
    }
    X509_NAME* subject = X509_get_subject_name(certificate.get());
    if (X509_set_version(certificate.get(), X509_VERSION_3) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -options.backdate.count()) ==
            nullptr ||
        X509_gmtime_adj(X509_getm_notAfter(certificate.get()), options.validity.count()) ==
            nullptr ||
        X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name), -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(certificate.get(), issuer_name ? issuer_name : subject) != 1 ||
        X509_set_pubkey(certificate.get(), key) != 1) {
        error = openssl_error("certificate fields");
        return nullptr;
    }
    return certificate;
}

pkey_ptr new_p256_key(std::string& error) {
    // P-256 rather than RSA: a handshake costs a fraction of the CPU, which matters when the
    // mock is the far end of a benchmark.
    pkey_ptr key(EVP_EC_gen("P-256"));
    if (!key) error = openssl_error("EVP_EC_gen(P-256)");
    return key;
}

std::optional<std::string> to_pem(X509* certificate, EVP_PKEY* key, std::string& error) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    bool written = bio && (certificate ? PEM_write_bio_X509(bio.get(), certificate)
                                       : PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr,
                                                                  0, nullptr, nullptr));
    if (!written) {
        error = openssl_error("PEM encoding");
        return std::nullopt;
    }
    char* data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace

std::optional<certificate_pems> generate_certificates(const certificate_options& options,
                                                      std::string& error) {
    ERR_clear_error();
    pkey_ptr ca_key = new_p256_key(error);
    if (!ca_key) return std::nullopt;
    x509_ptr ca = new_certificate(ca_key.get(), options.ca_name.c_str(), nullptr, options, error);
    if (!ca) return std::nullopt;
    // Key identifiers and critical constraints: strict verifiers (Python 3.13, OpenSSL's
    // X509_STRICT) refuse a CA or leaf without them.
    if (!add_extension(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        !add_extension(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_extension(ca.get(), ca.get(), NID_subject_key_identifier, "hash") ||
        !add_extension(ca.get(), ca.get(), NID_authority_key_identifier, "keyid:always")) {
        error = openssl_error("CA extensions");
        return std::nullopt;
    }
    if (X509_sign(ca.get(), ca_key.get(), EVP_sha256()) == 0) {
        error = openssl_error("signing the CA");
        return std::nullopt;
    }

    pkey_ptr leaf_key = new_p256_key(error);
    if (!leaf_key) return std::nullopt;
    x509_ptr leaf = new_certificate(leaf_key.get(), "localhost", X509_get_subject_name(ca.get()),
                                    options, error);
    if (!leaf) return std::nullopt;
    if (!add_extension(leaf.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE") ||
        !add_extension(leaf.get(), ca.get(), NID_key_usage, "critical,digitalSignature") ||
        !add_extension(leaf.get(), ca.get(), NID_ext_key_usage, "serverAuth") ||
        !add_extension(leaf.get(), ca.get(), NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1") ||
        !add_extension(leaf.get(), ca.get(), NID_subject_key_identifier, "hash") ||
        !add_extension(leaf.get(), ca.get(), NID_authority_key_identifier, "keyid:always")) {
        error = openssl_error("leaf extensions");
        return std::nullopt;
    }
    if (X509_sign(leaf.get(), ca_key.get(), EVP_sha256()) == 0) {
        error = openssl_error("signing the leaf");
        return std::nullopt;
    }

    certificate_pems pems;
    auto ca_pem = to_pem(ca.get(), nullptr, error);
    auto leaf_pem = ca_pem ? to_pem(leaf.get(), nullptr, error) : std::nullopt;
    auto key_pem = leaf_pem ? to_pem(nullptr, leaf_key.get(), error) : std::nullopt;
    if (!key_pem) return std::nullopt;
    pems.ca_certificate = std::move(*ca_pem);
    pems.leaf_certificate = std::move(*leaf_pem);
    pems.leaf_key = std::move(*key_pem);
    return pems;
}

}  // namespace koorelease::mock
