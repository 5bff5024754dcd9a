// Any bytes a server sends as the answer body: parsing never crashes or reads past the
// buffer, the verdict is always defined, and what the journal writes of it is valid JSON.
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "koorelease/classify.hpp"
#include "koorelease/journal.hpp"
#include "koorelease/response.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static koorelease::answer_parser parser;
    std::string body(reinterpret_cast<const char*>(data), size);
    const auto parsed = parser.parse(body);
    for (unsigned status : {200u, 401u, 429u, 500u}) {
        const auto c = koorelease::classify(status, parsed ? &*parsed : nullptr);
        if (c.reason.empty()) std::abort();
    }
    if (parsed) {
        koorelease::outcome_record r;
        r.instance_id = "i-1";
        r.outcome = koorelease::outcome::failed;
        r.error_code = parsed->error_code;
        r.error_msg = parsed->error_msg;
        std::string line;
        koorelease::format_record(line, r);
        simdjson::dom::parser check;
        simdjson::dom::element doc;
        if (check.parse(line).get(doc) != simdjson::SUCCESS) std::abort();
        std::string_view code;
        if (doc["error_code"].get(code) != simdjson::SUCCESS || code != parsed->error_code) std::abort();
    }
    return 0;
}
