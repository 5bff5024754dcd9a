#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "koorelease/input.hpp"
#include "koorelease/json_text.hpp"

namespace koorelease {
namespace {

using kind = parsed_line::kind;

TEST(ParseLine, TrimsAndSkips) {
    EXPECT_EQ(parse_line("iRJEVP96").what, kind::id);
    EXPECT_EQ(parse_line("  iRJEVP96 \t\r").text, "iRJEVP96");
    EXPECT_EQ(parse_line("").what, kind::skip);
    EXPECT_EQ(parse_line("   \r").what, kind::skip);
    EXPECT_EQ(parse_line("# a comment").what, kind::skip);
    EXPECT_EQ(parse_line("   # indented comment").what, kind::skip);
    EXPECT_EQ(parse_line("id#with-hash").what, kind::id);
}

TEST(ParseLine, RejectsWhatCannotBeAnId) {
    EXPECT_EQ(parse_line(std::string(128, 'a')).what, kind::id);
    EXPECT_EQ(parse_line(std::string(129, 'a')).what, kind::invalid);
    EXPECT_EQ(parse_line(std::string("ab\0cd", 5)).what, kind::invalid);
    EXPECT_EQ(parse_line("ab\x1b[31mcd").what, kind::invalid);
    EXPECT_EQ(parse_line("ab\x7f").what, kind::invalid);
    EXPECT_EQ(parse_line("ab\xff").what, kind::invalid);
    EXPECT_EQ(parse_line("\xc3\x28").what, kind::invalid);
    EXPECT_NE(parse_line("ab\xff").text.find("UTF-8"), std::string_view::npos);
}

TEST(ParseLine, AcceptsValidUtf8AndJsonSpecialCharacters) {
    EXPECT_EQ(parse_line("caf\xc3\xa9").what, kind::id);
    EXPECT_EQ(parse_line("a\"b\\c").what, kind::id);  // escaped on the wire, never raw
}

TEST(Utf8, ValidatesStrictly) {
    EXPECT_TRUE(is_valid_utf8(""));
    EXPECT_TRUE(is_valid_utf8("plain"));
    EXPECT_TRUE(is_valid_utf8("\xe2\x82\xac"));          // euro sign
    EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x98\x80"));      // emoji
    EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));             // overlong '/'
    EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));         // overlong
    EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));         // surrogate
    EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));     // past U+10FFFF
    EXPECT_FALSE(is_valid_utf8("\xe2\x82"));             // truncated
    EXPECT_FALSE(is_valid_utf8("\x80"));                 // lone continuation
}

// Feeds `text` through a pipe into a line_reader and collects what it yields.
std::vector<input_item> read_all(const std::string& text) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    std::thread writer([&] {
        std::size_t done = 0;
        while (done < text.size()) {
            const auto n = ::write(fds[1], text.data() + done, text.size() - done);
            if (n <= 0) break;
            done += static_cast<std::size_t>(n);
        }
        ::close(fds[1]);
    });
    line_reader reader(fds[0], "test");
    std::vector<input_item> out;
    input_item item;
    while (reader.next(item)) out.push_back(item);
    writer.join();
    return out;
}

TEST(LineReader, YieldsIdsAndInvalidLinesWithLineNumbers) {
    const auto items = read_all("a1\n\n# c\n  b2\r\nbad\x01id\nlast-no-newline");
    ASSERT_EQ(items.size(), 4u);
    EXPECT_TRUE(items[0].valid);
    EXPECT_EQ(items[0].text, "a1");
    EXPECT_EQ(items[0].line, 1u);
    EXPECT_EQ(items[1].text, "b2");
    EXPECT_EQ(items[1].line, 4u);
    EXPECT_FALSE(items[2].valid);
    EXPECT_EQ(items[2].line, 5u);
    EXPECT_EQ(items[3].text, "last-no-newline");
    EXPECT_EQ(items[3].line, 6u);
}

TEST(LineReader, IgnoresAByteOrderMarkOnTheFirstLineOnly) {
    const auto items = read_all("\xEF\xBB\xBFi-abc\n\xEF\xBB\xBFi-def\n");
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0].text, "i-abc");
    EXPECT_TRUE(items[1].valid);  // a BOM inside the file is kept: it is not ours to guess
    EXPECT_EQ(items[1].text, "\xEF\xBB\xBFi-def");
}

TEST(LineReader, ALineLongerThanTheBufferIsReportedNotHeld) {
    std::string text = "first\n" + std::string(200'000, 'x') + "\nafter\n" + std::string(70'000, 'y');
    const auto items = read_all(text);
    ASSERT_EQ(items.size(), 4u);
    EXPECT_EQ(items[0].text, "first");
    EXPECT_FALSE(items[1].valid);
    EXPECT_EQ(items[1].line, 2u);
    EXPECT_EQ(items[2].text, "after");
    EXPECT_EQ(items[2].line, 3u);
    EXPECT_FALSE(items[3].valid);  // long and unterminated at the end
}

TEST(LineReader, ManyLinesAcrossBufferBoundaries) {
    std::string text;
    for (int i = 0; i < 50'000; ++i) text += "id-" + std::to_string(i) + "\n";
    const auto items = read_all(text);
    ASSERT_EQ(items.size(), 50'000u);
    for (int i = 0; i < 50'000; ++i) ASSERT_EQ(items[i].text, "id-" + std::to_string(i));
}

TEST(LineReader, CancelEndsABlockedRead) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    line_reader reader(fds[0], "test");
    bool more = true;
    std::thread t([&] {
        input_item item;
        more = reader.next(item);  // blocks: nothing written, writer still open
    });
    reader.cancel();
    t.join();
    EXPECT_FALSE(more);
    ::close(fds[1]);
}

TEST(OpenInput, MissingFileSaysWhatToFix) {
    std::string error;
    EXPECT_EQ(open_input("/nonexistent/ids.txt", error), nullptr);
    EXPECT_NE(error.find("/nonexistent/ids.txt"), std::string::npos);
    EXPECT_NE(error.find("No such file"), std::string::npos);
    EXPECT_EQ(open_input("/", error), nullptr);
    EXPECT_NE(error.find("directory"), std::string::npos);
}

TEST(ParseLine, JsonLinesGiveTheirInstanceId) {
    // A koorelease journal line is an input line.
    auto p = parse_line(R"({"instance_id":"iRJEVP96","outcome":"failed","reason":"retries exhausted"})");
    EXPECT_EQ(p.what, kind::id);
    EXPECT_EQ(p.text, "iRJEVP96");
    p = parse_line("  {\"x\":1, \"instance_id\" : \"a\\u0062c\"}\r");  // escapes decoded, spaces trimmed
    EXPECT_EQ(p.what, kind::id);
    EXPECT_EQ(p.text, "abc");
    // The same checks as a plain line.
    p = parse_line(R"({"instance_id":"a\u0001b"})");
    EXPECT_EQ(p.what, kind::invalid);
    EXPECT_EQ(p.text, "control character in the line");
    p = parse_line(R"({"instance_id":""})");
    EXPECT_EQ(p.what, kind::invalid);
    EXPECT_EQ(p.text, "empty instance id");
    p = parse_line("{\"instance_id\":\"" + std::string(129, 'x') + "\"}");
    EXPECT_EQ(p.what, kind::invalid);
    EXPECT_EQ(p.text, "line too long for an instance id (over 128 bytes)");
    // Not an object with an instance_id string.
    for (const char* bad : {"{", "{\"instance_id\":1}", "{\"id\":\"a\"}", "{\"instance_id\":\"a\"} trailing", "{}"}) {
        p = parse_line(bad);
        EXPECT_EQ(p.what, kind::invalid) << bad;
    }
    EXPECT_EQ(parse_line("{\"id\":\"a\"}").text, "a JSON line without an \"instance_id\" string");
    EXPECT_EQ(parse_line("{oops").text, "a line starting with '{' that is not a JSON object");
    EXPECT_EQ(parse_line("{\"instance_id\":\"" + std::string(70000, 'x') + "\"}").text, "JSON line too long (over 64 KiB)");
}

}  // namespace
}  // namespace koorelease
