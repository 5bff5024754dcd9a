// Any line an input file holds: it is skipped, rejected, or accepted as an id that is valid
// UTF-8 without control characters, at most 128 bytes, and that the request body carries
// exactly (escaped JSON that parses back to the same id).
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "koorelease/input.hpp"
#include "koorelease/json_text.hpp"
#include "koorelease/request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    const auto line = koorelease::parse_line(raw);
    if (line.what != koorelease::parsed_line::kind::id) return 0;
    const auto id = line.text;
    if (id.empty() || id.size() > koorelease::max_id_length || !koorelease::is_valid_utf8(id)) std::abort();
    for (char c : id) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) std::abort();
    }
    static const koorelease::request_builder builder([] {
        koorelease::endpoint ep;
        ep.host = "h";
        return ep;
    }(), "T", "fuzz");
    std::string request;
    builder.build(request, koorelease::request_id{}, id);
    const auto body = std::string_view(request).substr(request.find("\r\n\r\n") + 4);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) std::abort();
    std::string_view back;
    if (doc["instance_id"].get(back) != simdjson::SUCCESS || back != id) std::abort();
    return 0;
}
