#include "koorelease/json_text.hpp"

#include <array>
#include <cstdint>

namespace koorelease {

namespace {
// Which bytes JSON strings must escape: control characters, '"' and '\\'.
constexpr auto needs_escape = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[c] = true;
    t['"'] = t['\\'] = true;
    return t;
}();
}  // namespace

void append_json_escaped(std::string& out, std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    const char* p = text.data();
    const char* const end = p + text.size();
    while (p < end) {
        // The plain run up to the next byte to escape goes in one append.
        const char* run = p;
        while (p < end && !needs_escape[static_cast<unsigned char>(*p)]) ++p;
        out.append(run, p);
        if (p == end) break;
        const auto c = static_cast<unsigned char>(*p++);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 0xf];
        }
    }
}

void append_json_escaped_lossy(std::string& out, std::string_view text) {
    if (is_valid_utf8(text)) {
        append_json_escaped(out, text);
        return;
    }
    std::string clean(text);
    for (auto& c : clean) {
        if (static_cast<unsigned char>(c) >= 0x80) c = '?';
    }
    append_json_escaped(out, clean);
}

bool is_valid_utf8(std::string_view text) {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const auto* end = p + text.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int extra = 0;
        std::uint32_t cp = 0;
        if (c >= 0xc2 && c <= 0xdf) {
            extra = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return false;  // continuation byte first, 0xc0/0xc1 (overlong) or past U+10FFFF
        }
        if (end - p <= extra) return false;
        for (int k = 1; k <= extra; ++k) {
            if ((p[k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (p[k] & 0x3f);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        p += extra + 1;
    }
    return true;
}

}  // namespace koorelease
