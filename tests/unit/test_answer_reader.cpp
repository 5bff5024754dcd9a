// The engine's HTTP answer reader: only what the decisions need, into reused buffers.
#include <gtest/gtest.h>

#include "answer_reader.hpp"

namespace koorelease::detail {
namespace {

namespace http = boost::beast::http;

// Feeds `bytes` to a fresh reader as the network would, in pieces of `piece` bytes, then
// the end of the stream if the answer is still incomplete.
struct fed {
    boost::system::error_code ec;
    bool done = false;
    bool keep_alive = false;
};

fed feed(answer_fields& out, std::string_view bytes, bool keep_request_id = false, std::size_t piece = 1 << 20) {
    answer_reader reader(out, keep_request_id);
    reader.header_limit(1024);
    reader.body_limit(64);
    fed r;
    std::string pending;
    std::size_t offered = 0;
    while (!reader.is_done()) {
        if (!pending.empty()) {
            const auto n = reader.put(boost::asio::buffer(pending), r.ec);
            if (r.ec == http::error::need_more) {
                r.ec = {};
            } else if (r.ec) {
                break;
            } else if (n > 0) {
                pending.erase(0, n);
                continue;
            }
        }
        if (offered < bytes.size()) {
            const auto n = std::min(piece, bytes.size() - offered);
            pending.append(bytes.substr(offered, n));
            offered += n;
            continue;
        }
        reader.put_eof(r.ec);
        break;
    }
    r.done = reader.is_done();
    r.keep_alive = r.done && reader.keep_alive();
    return r;
}

constexpr std::string_view ok_answer =
    "HTTP/1.1 200 OK\r\n"
    "Server: nginx\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 36\r\n"
    "X-Request-Id: srv-1\r\n"
    "\r\n"
    R"({"error_code":"0","error_msg":"OK"})" "\n";

TEST(AnswerReader, KeepsStatusBodyAndKeepAlive) {
    answer_fields out;
    const auto r = feed(out, ok_answer);
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_TRUE(r.done);
    EXPECT_TRUE(r.keep_alive);
    EXPECT_EQ(out.status, 200u);
    EXPECT_EQ(out.body, R"({"error_code":"0","error_msg":"OK"})" "\n");
    EXPECT_TRUE(out.retry_after.empty());
    EXPECT_TRUE(out.server_request_id.empty());  // not asked for
}

TEST(AnswerReader, ByteByByteGivesTheSameAnswer) {
    answer_fields out;
    const auto r = feed(out, ok_answer, true, 1);
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(out.status, 200u);
    EXPECT_EQ(out.server_request_id, "srv-1");
    EXPECT_EQ(out.body.size(), 36u);
}

TEST(AnswerReader, ReadsRetryAfterConnectionCloseAndTheServersRequestId) {
    answer_fields out;
    const auto r = feed(out,
                        "HTTP/1.1 429 Too Many Requests\r\n"
                        "retry-after: 7\r\n"
                        "x-request-id: abc\r\n"
                        "Connection: close\r\n"
                        "Content-Length: 2\r\n\r\n{}",
                        true);
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(out.status, 429u);
    EXPECT_EQ(out.retry_after, "7");
    EXPECT_EQ(out.server_request_id, "abc");
    EXPECT_FALSE(r.keep_alive);
}

TEST(AnswerReader, ReadsAChunkedBody) {
    answer_fields out;
    const auto r = feed(out,
                        "HTTP/1.1 500 Internal Server Error\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n"
                        "5\r\n{\"err\r\n4;x=y\r\nor\":\r\n3\r\n\"\"}\r\n0\r\n\r\n",
                        false, 3);
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(out.status, 500u);
    EXPECT_EQ(out.body, "{\"error\":\"\"}");
}

TEST(AnswerReader, ABodyUntilCloseEndsAtEof) {
    answer_fields out;
    const auto r = feed(out, "HTTP/1.0 200 OK\r\n\r\n{\"a\":1}");
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_TRUE(r.done);
    EXPECT_FALSE(r.keep_alive);
    EXPECT_EQ(out.body, "{\"a\":1}");
}

TEST(AnswerReader, ReusedFieldsAreClearedForTheNextAnswer) {
    answer_fields out;
    feed(out, "HTTP/1.1 429 X\r\nRetry-After: 3\r\nX-Request-Id: q\r\nContent-Length: 5\r\n\r\nhello", true);
    ASSERT_EQ(out.retry_after, "3");
    feed(out, ok_answer, false);
    EXPECT_EQ(out.status, 200u);
    EXPECT_TRUE(out.retry_after.empty());
    EXPECT_TRUE(out.server_request_id.empty());
    EXPECT_EQ(out.body.size(), 36u);  // replaced, not appended to
}

TEST(AnswerReader, EnforcesTheLimits) {
    answer_fields out;
    EXPECT_EQ(feed(out, "HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n" + std::string(65, 'x')).ec,
              http::error::body_limit);
    EXPECT_EQ(feed(out, "HTTP/1.1 200 OK\r\nX-Big: " + std::string(2000, 'y') + "\r\n\r\n").ec,
              http::error::header_limit);
    EXPECT_EQ(feed(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n" + std::string(65, 'z') + "\r\n0\r\n\r\n").ec,
              http::error::body_limit);
}

TEST(AnswerReader, RejectsWhatIsNotHttp) {
    answer_fields out;
    EXPECT_TRUE(feed(out, "<html>hello</html>\r\n\r\n").ec);
    EXPECT_TRUE(feed(out, "HTTP/1.1 abc OK\r\n\r\n").ec);
}

}  // namespace
}  // namespace koorelease::detail
