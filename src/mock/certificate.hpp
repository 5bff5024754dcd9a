#pragma once
// A throwaway CA and a leaf certificate it signs, generated at start so that the mock can
// serve HTTPS without any file on disk, and a client can still verify it (--ca-file).
#include <chrono>
#include <optional>
#include <string>

namespace koorelease::mock {

struct certificate_options {
    // Start of validity, before now, so that a client clock slightly behind still accepts it.
    std::chrono::seconds backdate{3600};
    // Validity from now (default 7 days: far beyond any demo or benchmark run).
    std::chrono::seconds validity{7 * 24 * 3600};
    // Common name of the CA; the leaf is "localhost".
    std::string ca_name = "koorelease mock CA";
};

// PEM text, ready for ssl::context::use_certificate_chain / use_private_key.
struct certificate_pems {
    std::string ca_certificate;    // self-signed CA, for the client's trust store
    std::string leaf_certificate;  // DNS:localhost, IP:127.0.0.1, signed by the CA
    std::string leaf_key;          // PKCS#8 PEM of the leaf's EC P-256 key
};

// Generates fresh EC P-256 keys and both certificates. On failure returns nullopt and sets
// `error` to OpenSSL's reason.
std::optional<certificate_pems> generate_certificates(const certificate_options& options,
                                                      std::string& error);

}  // namespace koorelease::mock
