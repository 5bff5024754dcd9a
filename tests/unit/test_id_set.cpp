#include <gtest/gtest.h>

#include <set>
#include <string>

#include "koorelease/id_set.hpp"

namespace koorelease {
namespace {

TEST(IdSet, InsertsOnceAndFindsExactly) {
    id_set s;
    EXPECT_TRUE(s.insert("a"));
    EXPECT_FALSE(s.insert("a"));
    EXPECT_TRUE(s.insert("ab"));
    EXPECT_TRUE(s.insert(""));
    EXPECT_FALSE(s.insert(""));
    EXPECT_TRUE(s.contains("ab"));
    EXPECT_FALSE(s.contains("b"));
    EXPECT_EQ(s.size(), 3u);
}

TEST(IdSet, MarksIdsFinalInAnEarlierRun) {
    id_set s;
    s.insert("done", id_set::mark::final_before);
    s.insert("new");
    EXPECT_TRUE(s.is_final_before("done"));
    EXPECT_FALSE(s.is_final_before("new"));
    EXPECT_FALSE(s.is_final_before("absent"));
    EXPECT_FALSE(s.insert("done"));
}

TEST(IdSet, SurvivesBeingMoved) {
    id_set a;
    a.insert("one", id_set::mark::final_before);
    id_set b = std::move(a);
    EXPECT_TRUE(b.is_final_before("one"));
    EXPECT_TRUE(b.insert("two"));
    for (int i = 0; i < 10'000; ++i) b.insert(std::to_string(i));  // rehashes read the ids
    id_set c;
    c = std::move(b);
    EXPECT_TRUE(c.contains("two"));
    EXPECT_TRUE(c.contains("9999"));
    EXPECT_FALSE(c.insert("one"));
}

TEST(IdSet, ManyIdsAcrossArenaBlocksAgreeWithStdSet) {
    id_set s;
    std::set<std::string> reference;
    for (int i = 0; i < 300'000; ++i) {
        // Lengths from 1 to 128, so blocks fill unevenly and ids end at block edges.
        std::string id = std::to_string(static_cast<std::int64_t>(i) * 7919 % 100000) + std::string(static_cast<std::size_t>(i % 120), 'x');
        ASSERT_EQ(s.insert(id), reference.insert(id).second) << id;
    }
    EXPECT_EQ(s.size(), reference.size());
    for (const auto& id : reference) ASSERT_TRUE(s.contains(id));
    EXPECT_FALSE(s.contains("nope"));
    EXPECT_GT(s.memory_bytes(), 0u);
}

TEST(IdSet, MemoryPerShortIdIsSmall) {
    id_set s;
    const int n = 1'000'000;
    for (int i = 0; i < n; ++i) s.insert("i-" + std::to_string(10'000'000 + i));  // 10-byte ids
    // 10 bytes of text plus a table slot (8 bytes at <= 87.5% load, doubling): under 40 an id.
    EXPECT_LT(static_cast<double>(s.memory_bytes()) / n, 40.0);
}

}  // namespace
}  // namespace koorelease
