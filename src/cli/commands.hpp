#pragma once
// Each subcommand registers its options on the root CLI11 app and sets `action`, which
// main() runs after a successful parse; the int it returns is the process exit code.
#include <functional>

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

}  // namespace koorelease::cli
