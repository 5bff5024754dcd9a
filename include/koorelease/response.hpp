#pragma once
// Reading the answer body {"error_code":"...","error_msg":"..."} with simdjson's on-demand
// parser, reusing its buffers from one answer to the next.
#include <optional>
#include <string>

#include <simdjson.h>

#include "koorelease/classify.hpp"

namespace koorelease {

class answer_parser {
public:
    // Parses `body` in place (it may grow its capacity for simdjson's padding). The views in
    // the result point into the parser or the body and live until the next call.
    // nullopt when the body is not a JSON object with a string error_code.
    std::optional<api_body> parse(std::string& body);

private:
    simdjson::dom::parser parser_;
};

}  // namespace koorelease
