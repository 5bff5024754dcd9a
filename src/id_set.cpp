#include "koorelease/id_set.hpp"

#include <boost/container_hash/hash.hpp>

#include <cstring>
#include <stdexcept>

namespace koorelease {

namespace {
constexpr int length_bits = 8;
constexpr int offset_shift = length_bits + 1;
constexpr std::uint64_t mark_bit = 1;
}  // namespace

id_set::id_set()
    : arena_(std::make_unique<arena>()), table_(0, hasher{arena_.get()}, equal{arena_.get()}) {}

std::size_t id_set::hasher::operator()(std::string_view v) const {
    return boost::hash_range(v.begin(), v.end());
}

std::string_view id_set::arena::text_of(slot s) const {
    const std::uint64_t offset = s >> offset_shift;
    const std::size_t length = (s >> 1) & ((1u << length_bits) - 1);
    return {blocks[offset / block_size].get() + offset % block_size, length};
}

bool id_set::insert(std::string_view id, mark m) {
    if (id.size() >= (1u << length_bits)) throw std::length_error("id too long for id_set");
    // The bytes go to the arena first, so that one probe of the table both looks the id up
    // and inserts it; a repeat gives them back.
    auto& a = *arena_;
    if (a.used_in_last + id.size() > block_size) {
        a.blocks.push_back(std::make_unique<char[]>(block_size));
        a.used_in_last = 0;
    }
    const std::uint64_t offset = (a.blocks.size() - 1) * block_size + a.used_in_last;
    std::memcpy(a.blocks.back().get() + a.used_in_last, id.data(), id.size());
    const bool added = table_.insert((offset << offset_shift) | (std::uint64_t{id.size()} << 1) |
                                     (m == mark::final_before ? mark_bit : 0))
                           .second;
    if (added) a.used_in_last += id.size();
    return added;
}

bool id_set::contains(std::string_view id) const { return table_.contains(id); }

bool id_set::is_final_before(std::string_view id) const {
    const auto it = table_.find(id);
    return it != table_.end() && (*it & mark_bit) != 0;
}

std::size_t id_set::memory_bytes() const {
    return arena_->blocks.size() * block_size + table_.bucket_count() * sizeof(slot) * 9 / 8;
}

}  // namespace koorelease
