#pragma once
// Reads one HTTP answer keeping only what the engine decides on: the status, Retry-After,
// the server's X-Request-Id (when attempts are logged) and the body, into buffers reused from
// one answer to the next. Beast's extension point for this is a class derived from
// http::basic_parser; http::response_parser would allocate every header field and the body
// anew for each answer.
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>

#include <cstdint>
#include <string>

namespace koorelease::detail {

struct answer_fields {
    unsigned status = 0;
    std::string retry_after;        // the raw header value; empty when absent
    std::string server_request_id;  // X-Request-Id, only when asked for
    std::string body;
};

class answer_reader final : public boost::beast::http::basic_parser<false> {
public:
    // Clears `out` and fills it as the answer is parsed. The limits are basic_parser's:
    // header_limit() and body_limit().
    answer_reader(answer_fields& out, bool keep_request_id) : out_(out), keep_request_id_(keep_request_id) {
        out_.status = 0;
        out_.retry_after.clear();
        out_.server_request_id.clear();
        out_.body.clear();
    }

private:
    using string_view = boost::beast::string_view;
    using error_code = boost::beast::error_code;
    using field = boost::beast::http::field;

    void on_request_impl(boost::beast::http::verb, string_view, string_view, int, error_code&) override {}
    void on_response_impl(int code, string_view, int, error_code&) override {
        out_.status = static_cast<unsigned>(code);
    }
    void on_field_impl(field name, string_view name_string, string_view value, error_code&) override {
        if (name == field::retry_after) {
            out_.retry_after.assign(value.data(), value.size());
        } else if (keep_request_id_ && name == field::unknown &&
                   boost::beast::iequals(name_string, "x-request-id")) {
            out_.server_request_id.assign(value.data(), value.size());
        }
    }
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
    std::size_t on_body_impl(string_view body, error_code&) override {
        out_.body.append(body.data(), body.size());
        return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
        out_.body.append(body.data(), body.size());
        return body.size();
    }
    void on_finish_impl(error_code&) override {}

    answer_fields& out_;
    bool keep_request_id_;
};

}  // namespace koorelease::detail
