// koorelease: release the sessions of many Huawei Cloud KooPhone instances.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <exception>

#include "commands.hpp"

namespace {

constexpr const char* exit_codes_text =
    "Exit codes: 0 every id released; 1 the run finished but some ids failed or were invalid;\n"
    "2 usage or configuration error, nothing sent; 3 aborted: token rejected, TLS verification\n"
    "failed, endpoint unreachable or journal not writable; 4 interrupted by a signal.";

}  // namespace

int main(int argc, char** argv) {
    // A closed output pipe (`koorelease release | head`) must be a write error the run reports,
    // not a silent death.
    std::signal(SIGPIPE, SIG_IGN);
    CLI::App app{"koorelease " KOORELEASE_VERSION
                 ": release the sessions of many Huawei Cloud KooPhone instances, fast, within the "
                 "API's rate limits, with a record of what happened to every instance."};
    app.set_version_flag("--version", std::string("koorelease ") + KOORELEASE_VERSION);
    app.footer(exit_codes_text);
    app.require_subcommand(1);

    koorelease::cli::command_action action;
    koorelease::cli::add_release_command(app, action);
    koorelease::cli::add_mock_command(app, action);
    koorelease::cli::add_token_command(app, action);
    koorelease::cli::add_report_command(app, action);
    koorelease::cli::add_enqueue_command(app, action);
    koorelease::cli::add_queue_command(app, action);
    koorelease::cli::add_bench_command(app, action);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
        std::fprintf(stderr, "koorelease: %s (see koorelease --help)\n", e.what());
        return 2;
    }
    try {
        return action ? action() : 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "koorelease: %s\n", e.what());
        return 2;
    }
}
