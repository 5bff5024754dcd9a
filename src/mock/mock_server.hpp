#pragma once
// `koorelease mock`: a fake KooPhone server on loopback for the demo, the integration tests
// and the benchmarks. The answers are decided by mock_rules (pure code); this file only
// declares what can be tuned and the entry point that does the I/O.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace koorelease::mock {

struct mock_settings {
    // --- where and how to listen ---

    // "HOST:PORT" to listen on; HOST is an IP literal ("[::1]" for IPv6) or "localhost".
    // Port 0 (the default) picks a free port, printed on the "listening on" line.
    std::string listen = "127.0.0.1:0";
    // Threads running the one io_context (default 2, at least 1).
    unsigned threads = 2;
    // Serve plain HTTP instead of HTTPS (default false: HTTPS).
    bool plain = false;
    // PEM files of a certificate chain and its private key to serve instead of generating a
    // throwaway CA and leaf at start (both empty by default: generate).
    std::string cert_file;
    std::string key_file;
    // File to write the generated CA certificate (PEM) to, for the client's --ca-file
    // (default empty: not written). Only meaningful when the certificate is generated.
    std::string ca_out;

    // --- what the API looks like ---

    // Prefix put before /v1/instances/session/release, e.g. "/koophone" (default empty).
    std::string path_prefix;
    // Token the x-auth-token header must equal (default: none, any non-empty token passes).
    // Filled from the KOOPHONE_TOKEN environment variable, never from a flag.
    std::optional<std::string> expected_token;
    // After this many release requests in total, answer 401 APIG.0307 "The token must be
    // updated." to every later one made with a token that existed then (KOOPHONE_TOKEN's, or
    // one issued before); tokens issued afterwards are unaffected (count of requests;
    // default 0: never expires).
    std::uint64_t token_expire_after = 0;
    // Answer 429 APIG.0308 to release requests beyond this many in the current second
    // (requests per second; default 0: no throttling).
    std::uint32_t throttle_rps = 0;
    // Value of the Retry-After header sent with 429 answers (seconds; default 0: no header,
    // like the real gateway, which documents none).
    std::uint32_t retry_after_s = 0;
    // POST /v3/auth/tokens (IAM) issues tokens that the release route then accepts. The
    // password must equal this when set (filled from KOOPHONE_IAM_PASSWORD, never a flag);
    // once set, release requests must carry an issued token (or KOOPHONE_TOKEN's).
    std::optional<std::string> iam_password;
    // Lifetime of an issued token: its expires_at, after which it gets 401 APIG.0307
    // (default 24 h, as IAM's; 0: expired as soon as issued, to test clients that give up).
    std::chrono::milliseconds iam_token_lifetime{std::chrono::hours(24)};

    // --- faults ---

    // Share of valid release requests whose connection is closed without an answer
    // (probability in [0,1]; default 0).
    double drop_rate = 0.0;
    // Share of valid release requests answered 500 KOOPHONE.API.9999 (probability in [0,1],
    // drop_rate + fail_rate <= 1; default 0).
    double fail_rate = 0.0;
    // Every Nth answer on a connection carries "Connection: close" and the server closes the
    // connection after it (answers; default 0: never).
    std::uint32_t close_every = 0;
    // Delay before each release answer, on a timer (default 0: answer at once).
    std::chrono::microseconds latency{0};
    // A stall of the whole server, for load tests: every `stall_every`, for `stall`, no
    // release answer goes out; the answers due then are held to the end of the window
    // (windows aligned on the steady clock; both default 0: no stalls).
    std::chrono::microseconds stall{0};
    std::chrono::microseconds stall_every{0};
    // Keep every request id and released id, so that /mock/stats can report reused request
    // ids and ids released more than once (default true). Off for long benchmark runs: the
    // sets grow by ~100 bytes per request.
    bool track_ids = true;
    // Seed of the random draws for drop_rate/fail_rate (default: none, a random seed).
    std::optional<std::uint64_t> seed;

    // --- limits ---

    // Largest request header block accepted (bytes; default 64 KiB: PKI tokens reach 16 KB).
    std::size_t header_limit = 64 * 1024;
    // Largest request body accepted (bytes; default 64 KiB).
    std::size_t body_limit = 64 * 1024;
    // A connection with no complete request for this long is closed (default 60 s).
    std::chrono::seconds idle_timeout{60};
    // Time allowed for a TLS handshake (default 10 s).
    std::chrono::seconds handshake_timeout{10};
    // Time allowed to write one answer (default 30 s).
    std::chrono::seconds write_timeout{30};
    // Time allowed for the TLS close_notify exchange when closing a connection (default 2 s).
    std::chrono::seconds tls_shutdown_timeout{2};
    // Pause after a failed accept (e.g. out of file descriptors) before accepting again
    // (default 100 ms).
    std::chrono::milliseconds accept_retry_delay{100};
    // On SIGINT/SIGTERM, time open connections get to finish before the threads are stopped
    // anyway (default 5 s).
    std::chrono::seconds shutdown_grace{5};
};

// Listens, prints "listening on https://127.0.0.1:PORT" (or http://) on stdout, serves until
// SIGINT or SIGTERM, then stops every thread. Returns 0 after a clean stop, 2 when it cannot
// start (the reason and its fix are printed on stderr).
int run(const mock_settings& settings);

}  // namespace koorelease::mock
