#pragma once
// Each subcommand registers its options on the root CLI11 app and sets `action`, which
// main() runs after a successful parse; the int it returns is the process exit code.
#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace koorelease::cli {

using command_action = std::function<int()>;

void add_release_command(CLI::App& root, command_action& action);
void add_mock_command(CLI::App& root, command_action& action);
void add_token_command(CLI::App& root, command_action& action);
void add_report_command(CLI::App& root, command_action& action);
void add_enqueue_command(CLI::App& root, command_action& action);
void add_queue_command(CLI::App& root, command_action& action);
void add_bench_command(CLI::App& root, command_action& action);

// The API token from `token_file`, else KOOPHONE_TOKEN, checked; throws CLI::ValidationError
// (a usage error that does not quote the token) when there is none or it is unusable.
std::string load_token(const std::string& token_file);

}  // namespace koorelease::cli
