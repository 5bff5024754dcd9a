#pragma once
// Writing JSON text by hand on the hot path (request bodies, journal records): only
// escaping is needed, and it must be exact, so it lives here once and is tested.
#include <string>
#include <string_view>

namespace koorelease {

// Appends `text` as the inside of a JSON string: '"' and '\\' escaped, control characters
// as \n, \t, ... or \u00XX. The text must be valid UTF-8 (the input reader checks ids;
// server strings are checked by the JSON parser), which JSON then carries as it is.
void append_json_escaped(std::string& out, std::string_view text);

// The same for text of unknown encoding (log messages, a server's header values): when it is
// not valid UTF-8, its bytes above 0x7f become '?' (JSON cannot carry them).
void append_json_escaped_lossy(std::string& out, std::string_view text);

// Whether `text` is valid UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF).
bool is_valid_utf8(std::string_view text);

}  // namespace koorelease
