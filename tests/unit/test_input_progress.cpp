// The input's progress: bytes_read() counts the lines handed out, not the bytes buffered, so
// the progress line's estimate of the total (ids so far * size / bytes read) holds for small
// files too.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "koorelease/input.hpp"

namespace koorelease {
namespace {

TEST(InputProgress, BytesReadCountsTheLinesHandedOut) {
    const char* tmp = std::getenv("TMPDIR");
    std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/koorelease-input-progress-XXXXXX";
    const int fd = ::mkstemp(path.data());
    ASSERT_GE(fd, 0);
    std::string text;
    for (int i = 0; i < 1000; ++i) text += "i-" + std::to_string(1000 + i) + "\n";  // 7 bytes a line
    text += "# a comment\n\ni-last";
    ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
    std::string error;
    auto source = open_input(path, error);
    ::unlink(path.c_str());
    ASSERT_NE(source, nullptr) << error;
    EXPECT_EQ(source->size_hint(), text.size());
    input_item item;
    ASSERT_TRUE(source->next(item));
    EXPECT_EQ(source->bytes_read(), 7u);
    EXPECT_EQ(source->lines_read(), 1u);
    for (int i = 1; i < 250; ++i) ASSERT_TRUE(source->next(item));
    EXPECT_EQ(item.text, "i-1249");
    EXPECT_EQ(source->bytes_read(), 250u * 7);  // a quarter of the ids: a quarter of the file
    while (source->next(item)) {
    }
    EXPECT_EQ(item.text, "i-last");
    EXPECT_EQ(source->bytes_read(), text.size());
    EXPECT_EQ(source->lines_read(), 1003u);  // the comment and the blank line count
}

}  // namespace
}  // namespace koorelease
