#pragma once
// `koorelease release --config FILE`: a TOML file with one key per long option of `release`
// (the flag's name without its dashes, kebab-case: `max-attempts = 5`), and the merge of the
// sources. Precedence: command line, then environment (KOOPHONE_ENDPOINT, ...), then the
// file, then the defaults. Pure functions: the command gives them the text, the environment
// and the list of keys; they return values as text (for the option parser) or a one-line
// error naming the key and its line.
#include <functional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace koorelease::cli {

// What TOML type a key takes.
enum class value_kind {
    text,     // a string: endpoint = "https://...", connect-timeout = "5s"
    integer,  // a whole number >= 0: concurrency = 32
    number,   // an integer or a float: rate = 200.5
    flag,     // true or false: insecure = false
    texts,    // an array of strings (or one string), for a repeatable option: push-label = ["a=b"]
};

struct config_key {
    std::string name;  // the long flag without dashes: "max-attempts"
    value_kind kind;
};

// One value, as the text the option parser takes ("32", "true", "5s"), and where it came from.
struct config_value {
    std::string text;
    std::vector<std::string> list;  // the values of a `texts` key (text is then empty)
    std::string origin;             // "KOOPHONE_RATE", "koorelease.toml:12"
};
using config_values = std::map<std::string, config_value, std::less<>>;

struct config_result {
    config_values values;
    std::string error;  // one line, naming the key and its line; empty when fine
};

// The environment variables that set options. KOOPHONE_TOKEN (the token itself) is not here:
// it is read where the token is loaded, and it outranks a token-file from below it.
struct environment_key {
    std::string_view variable;
    std::string_view key;
};
std::span<const environment_key> environment_keys();

// The token is never a config key: a config file is often world-readable.
inline constexpr std::string_view token_key = "token";

// Parses a config file's text. `path` names it in messages. Unknown keys, tables, wrong types
// and `token` are errors; values are never quoted in messages (one might be a secret).
config_result parse_config(std::string_view text, std::string_view path,
                           std::span<const config_key> keys);

// Reads and parses a file; an unreadable file is an error saying so.
config_result read_config_file(const std::string& path, std::span<const config_key> keys);

// The options set by environment variables (an empty variable counts as unset). `getenv` is
// injected for the tests.
config_values values_from_environment(const std::function<const char*(const char*)>& getenv);

// What to apply on top of the command line: for each key not given on the command line, the
// environment's value, else the file's. `token_in_environment` (KOOPHONE_TOKEN is set) drops a
// token-file that comes from anything below the command line.
config_values merge_config(const std::set<std::string, std::less<>>& on_command_line,
                           const config_values& environment, const config_values& file,
                           bool token_in_environment);

}  // namespace koorelease::cli
