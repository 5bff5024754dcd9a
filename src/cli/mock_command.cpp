// `koorelease mock`: the options of the built-in fake KooPhone server.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cli/commands.hpp"
#include "koorelease/duration.hpp"
#include "mock/mock_server.hpp"

namespace koorelease::cli {

namespace {

const CLI::Validator duration_validator(
    [](std::string& text) -> std::string {
        return koorelease::parse_duration(text) ? std::string{}
                                    : "'" + text + "' is not a duration like 250ms, 5s or 2m";
    },
    "DURATION");

}  // namespace

void add_mock_command(CLI::App& root, command_action& action) {
    // Shared with the callback: CLI11 writes into these while parsing, after this returns.
    auto settings = std::make_shared<mock::mock_settings>();
    auto latency = std::make_shared<std::string>("0ms");
    auto stall = std::make_shared<std::string>("0ms");
    auto stall_every = std::make_shared<std::string>("0s");
    auto iam_lifetime = std::make_shared<std::string>("24h");
    auto seed = std::make_shared<std::uint64_t>(0);

    CLI::App* mock = root.add_subcommand(
        "mock",
        "Run a fake KooPhone server on loopback (demo, tests, benchmarks). Set KOOPHONE_TOKEN "
        "to require that token; otherwise any non-empty x-auth-token is accepted.");

    mock->add_option("--listen", settings->listen, "HOST:PORT to listen on (port 0: any free port)")
        ->capture_default_str();
    mock->add_option("--threads", settings->threads, "Threads serving connections")
        ->check(CLI::Range(1u, 1024u))
        ->capture_default_str();
    CLI::Option* plain = mock->add_flag("--plain", settings->plain, "Serve HTTP instead of HTTPS");
    CLI::Option* cert =
        mock->add_option("--cert", settings->cert_file,
                         "PEM certificate chain to serve instead of a generated one")
            ->check(CLI::ExistingFile);
    CLI::Option* key = mock->add_option("--key", settings->key_file, "PEM private key of --cert")
                           ->check(CLI::ExistingFile);
    CLI::Option* ca_out = mock->add_option(
        "--ca-out", settings->ca_out,
        "Write the generated CA certificate (PEM) here, for the client's --ca-file");
    cert->needs(key);
    key->needs(cert);
    cert->excludes(plain);
    ca_out->excludes(plain);
    ca_out->excludes(cert);

    mock->add_option("--path-prefix", settings->path_prefix,
                     "Prefix before /v1/instances/session/release, e.g. /koophone");
    mock->add_option("--token-expire-after", settings->token_expire_after,
                     "Answer 401 APIG.0307 after this many release requests to those made with a token that "
                     "existed then (KOOPHONE_TOKEN's or an issued one; later issued tokens go on working) (0: never)")
        ->capture_default_str();
    mock->add_option("--iam-token-lifetime", *iam_lifetime,
                     "Lifetime of the tokens POST /v3/auth/tokens issues (their expires_at; APIG.0307 after; "
                     "0s: expired when issued, to test a client's give-up). Set KOOPHONE_IAM_PASSWORD to require that password and accept only issued tokens")
        ->check(duration_validator)
        ->capture_default_str();
    mock->add_option("--throttle-rps", settings->throttle_rps,
                     "Answer 429 APIG.0308 beyond this many release requests per second (0: off)")
        ->capture_default_str();
    mock->add_option("--retry-after", settings->retry_after_s,
                     "Seconds sent in a Retry-After header with 429 answers (0: no header)")
        ->capture_default_str();
    mock->add_option("--drop-rate", settings->drop_rate,
                     "Share of release requests whose connection is closed unanswered")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
    mock->add_option("--fail-rate", settings->fail_rate,
                     "Share of release requests answered 500 KOOPHONE.API.9999")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
    mock->add_option("--close-every", settings->close_every,
                     "Close each connection after every Nth answer (0: never)")
        ->capture_default_str();
    mock->add_option("--latency", *latency, "Delay before each release answer, e.g. 250ms")
        ->check(duration_validator)
        ->capture_default_str();
    CLI::Option* stall_option =
        mock->add_option("--stall", *stall,
                         "Hold every release answer due during a window this long, once per --stall-every "
                         "(a server stall, for load tests), e.g. 500ms")
            ->check(duration_validator)
            ->capture_default_str();
    CLI::Option* stall_every_option =
        mock->add_option("--stall-every", *stall_every, "Period of the --stall windows, e.g. 5s")
            ->check(duration_validator)
            ->capture_default_str();
    stall_option->needs(stall_every_option);
    stall_every_option->needs(stall_option);
    mock->add_flag("--no-track-ids,!--track-ids", settings->track_ids,
                   "Do not keep every request id and released id (for long benchmark runs: /mock/stats "
                   "then counts released answers and leaves out the reuse checks)");
    CLI::Option* seed_option =
        mock->add_option("--seed", *seed, "Seed of the fault draws (default: random)");

    mock->callback([&action, settings, latency, stall, stall_every, iam_lifetime, seed, seed_option] {
        if (settings->drop_rate + settings->fail_rate > 1.0) {
            throw CLI::ValidationError("--drop-rate + --fail-rate", "must not exceed 1");
        }
        // Validated by duration_validator.
        settings->latency = std::chrono::duration_cast<std::chrono::microseconds>(*koorelease::parse_duration(*latency));
        settings->stall = std::chrono::duration_cast<std::chrono::microseconds>(*koorelease::parse_duration(*stall));
        settings->stall_every =
            std::chrono::duration_cast<std::chrono::microseconds>(*koorelease::parse_duration(*stall_every));
        if (settings->stall.count() > 0 && settings->stall >= settings->stall_every) {
            throw CLI::ValidationError("--stall", "must be shorter than --stall-every");
        }
        settings->iam_token_lifetime =
            std::chrono::duration_cast<std::chrono::milliseconds>(*koorelease::parse_duration(*iam_lifetime));
        if (seed_option->count() > 0) settings->seed = *seed;
        action = [settings] {
            // The token comes from the environment only: command lines are visible to every
            // user of the machine (ps, /proc).
            if (const char* token = std::getenv("KOOPHONE_TOKEN"); token && *token) {
                settings->expected_token = token;
            }
            if (const char* password = std::getenv("KOOPHONE_IAM_PASSWORD"); password && *password) {
                settings->iam_password = password;
            }
            return mock::run(*settings);
        };
    });
}

}  // namespace koorelease::cli
