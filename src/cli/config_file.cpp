#include "config_file.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

namespace koorelease::cli {

namespace {

constexpr std::array<environment_key, 7> environment_table{{
    {"KOOPHONE_ENDPOINT", "endpoint"},
    {"KOOPHONE_TOKEN_FILE", "token-file"},
    {"KOOPHONE_CA_FILE", "ca-file"},
    {"KOOPHONE_RATE", "rate"},
    {"KOOPHONE_CONCURRENCY", "concurrency"},
    {"KOOPHONE_LOG_LEVEL", "log-level"},
    {"KOOPHONE_LOG_FORMAT", "log-format"},
}};

const config_key* find_key(std::span<const config_key> keys, std::string_view name) {
    for (const auto& k : keys) {
        if (k.name == name) return &k;
    }
    return nullptr;
}

std::string where(std::string_view path, const toml::source_region& region) {
    return std::string(path) + ":" + std::to_string(region.begin.line);
}

std::string type_name(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "a whole number";
        case toml::node_type::floating_point:
            return "a number with a fraction";
        case toml::node_type::boolean:
            return "true/false";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::table:
            return "a table";
        default:
            return "a date or time";
    }
}

std::string wanted(const config_key& k) {
    switch (k.kind) {
        case value_kind::text:
            return "a string in double quotes, e.g. " + k.name + " = \"...\"";
        case value_kind::integer:
            return "a whole number of 0 or more, e.g. " + k.name + " = 5";
        case value_kind::number:
            return "a number, e.g. " + k.name + " = 100 or 0.5";
        case value_kind::flag:
            return "true or false, e.g. " + k.name + " = true";
        case value_kind::texts:
            return "an array of strings, e.g. " + k.name + " = [\"...\", \"...\"]";
    }
    return {};
}

// The value as the option parser's text, or nullopt when its type is wrong for the key.
std::optional<std::string> value_text(const config_key& k, const toml::node& n) {
    switch (k.kind) {
        case value_kind::text:
            if (const auto* s = n.as_string()) return s->get();
            return std::nullopt;
        case value_kind::integer:
            if (const auto* i = n.as_integer(); i != nullptr && i->get() >= 0)
                return std::to_string(i->get());
            return std::nullopt;
        case value_kind::number:
            if (const auto* i = n.as_integer()) return std::to_string(i->get());
            if (const auto* f = n.as_floating_point()) {
                char buf[64];
                const auto r = std::to_chars(buf, buf + sizeof buf, f->get());
                return std::string(buf, r.ptr);
            }
            return std::nullopt;
        case value_kind::flag:
            if (const auto* b = n.as_boolean()) return b->get() ? "true" : "false";
            return std::nullopt;
        case value_kind::texts:
            return std::nullopt;  // see list_value
    }
    return std::nullopt;
}

// The strings of an array (or of a single string), or nullopt when anything else is there.
std::optional<std::vector<std::string>> list_value(const toml::node& n) {
    if (const auto* s = n.as_string()) return std::vector<std::string>{s->get()};
    const auto* array = n.as_array();
    if (array == nullptr) return std::nullopt;
    std::vector<std::string> out;
    for (const auto& item : *array) {
        const auto* s = item.as_string();
        if (s == nullptr) return std::nullopt;
        out.push_back(s->get());
    }
    return out;
}

// Levenshtein distance, for suggesting the key a typo meant.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] =
                std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = up;
        }
    }
    return row[b.size()];
}

std::string unknown_key_message(std::string_view path, const toml::key& key,
                                std::span<const config_key> keys) {
    std::string name(key.str());
    std::string message = where(path, key.source()) + ": unknown key '" + name + "'";
    std::string dashed = name;
    for (auto& c : dashed) {
        if (c == '_') c = '-';
    }
    if (dashed != name && find_key(keys, dashed) != nullptr) {
        return message + ": did you mean '" + dashed +
               "'? (keys are kebab-case, like the long options)";
    }
    const config_key* closest = nullptr;
    std::size_t best = 3;  // at most two edits away
    for (const auto& k : keys) {
        if (const auto d = edit_distance(dashed, k.name); d < best) {
            best = d;
            closest = &k;
        }
    }
    if (closest != nullptr) return message + ": did you mean '" + closest->name + "'?";
    return message +
           ": keys are the long options of `koorelease release` without their dashes, e.g. "
           "max-attempts (see config/koorelease.toml)";
}

}  // namespace

std::span<const environment_key> environment_keys() {
    return environment_table;
}

config_result parse_config(std::string_view text, std::string_view path,
                           std::span<const config_key> keys) {
    config_result result;
    toml::table table;
    try {
        table = toml::parse(text, path);
    } catch (const toml::parse_error& e) {
        result.error = where(path, e.source()) +
                       ": not valid TOML: " + std::string(e.description()) +
                       " (write key = value, strings in double quotes)";
        return result;
    }
    for (auto&& [key, node] : table) {
        const std::string name(key.str());
        if (name == token_key) {
            result.error = where(path, key.source()) +
                           ": 'token' is not allowed in a config file (config files are often "
                           "world-readable): put the token in a file only you can read and set "
                           "token-file, or set KOOPHONE_TOKEN";
            return result;
        }
        const config_key* k = find_key(keys, name);
        if (k == nullptr) {
            result.error = node.is_table()
                               ? where(path, key.source()) + ": unknown table [" + name +
                                     "]: the config has no sections, write every key at the top"
                               : unknown_key_message(path, key, keys);
            return result;
        }
        if (k->kind == value_kind::texts) {
            auto list = list_value(node);
            if (!list) {
                result.error = where(path, key.source()) + ": key '" + name + "' must be " +
                               wanted(*k) + ", not " + type_name(node);
                return result;
            }
            // An empty array sets nothing: the option keeps its default.
            if (!list->empty())
                result.values[name] = config_value{{}, std::move(*list), where(path, key.source())};
            continue;
        }
        auto value = value_text(*k, node);
        if (!value) {
            result.error = where(path, key.source()) + ": key '" + name + "' must be " +
                           wanted(*k) + ", not " + type_name(node);
            return result;
        }
        result.values[name] = config_value{std::move(*value), {}, where(path, key.source())};
    }
    return result;
}

config_result read_config_file(const std::string& path, std::span<const config_key> keys) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        config_result r;
        r.error = "cannot read --config '" + path + "': " + std::strerror(errno) +
                  " (give the path of a TOML file, e.g. config/koorelease.toml)";
        return r;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse_config(text.str(), path, keys);
}

config_values values_from_environment(const std::function<const char*(const char*)>& getenv) {
    config_values out;
    for (const auto& e : environment_table) {
        const std::string variable(e.variable);
        const char* value = getenv(variable.c_str());
        if (value == nullptr || *value == '\0') continue;
        out[std::string(e.key)] = config_value{value, {}, variable};
    }
    return out;
}

config_values merge_config(const std::set<std::string, std::less<>>& on_command_line,
                           const config_values& environment, const config_values& file,
                           bool token_in_environment) {
    config_values out;
    for (const auto* source : {&file, &environment}) {  // the later source wins
        for (const auto& [key, value] : *source) {
            if (!on_command_line.contains(key)) out[key] = value;
        }
    }
    // KOOPHONE_TOKEN is environment: it outranks a token file named by the environment
    // (KOOPHONE_TOKEN_FILE, the less direct of the two) and by the file; --token-file outranks it.
    if (token_in_environment) out.erase("token-file");
    return out;
}

}  // namespace koorelease::cli
