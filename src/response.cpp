#include "koorelease/response.hpp"

namespace koorelease {

std::optional<api_body> answer_parser::parse(std::string& body) {
    // simdjson reads up to SIMDJSON_PADDING bytes past the end: make sure they are ours,
    // without copying the body into a padded_string.
    if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
        body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    }
    // The DOM parser validates the whole document (an answer cut short or with trailing
    // junk is not the expected JSON) and picks the best kernel for this CPU at run time.
    simdjson::dom::element doc;
    if (parser_.parse(body.data(), body.size(), false).get(doc) != simdjson::SUCCESS) return std::nullopt;
    simdjson::dom::object obj;
    if (doc.get_object().get(obj) != simdjson::SUCCESS) return std::nullopt;
    api_body out;
    if (obj["error_code"].get_string().get(out.error_code) != simdjson::SUCCESS) return std::nullopt;
    // A message of another type is tolerated: the code is what decides.
    std::string_view msg;
    if (obj["error_msg"].get_string().get(msg) == simdjson::SUCCESS) out.error_msg = msg;
    return out;
}

}  // namespace koorelease
