#pragma once
// The set of ids seen in a run, for duplicate detection and --resume: exact (no hash
// collisions can drop an id), and small: the id's bytes in an arena of 1 MiB blocks plus one
// 8-byte slot in an open-addressing table (boost::unordered_flat_set), about 14 + length
// bytes an id (10 million 12-byte ids: about 260 MB).
#include <boost/unordered/unordered_flat_set.hpp>

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace koorelease {

class id_set {
public:
    enum class mark : std::uint8_t { seen = 0, final_before = 1 };

    id_set();

    // Adds the id; returns false (and leaves the set as it was) if it was there already.
    bool insert(std::string_view id, mark m = mark::seen);
    // The mark of an id in the set, or nullopt-like `absent`.
    bool contains(std::string_view id) const;
    // Whether the id was inserted with mark::final_before.
    bool is_final_before(std::string_view id) const;

    std::size_t size() const { return table_.size(); }
    // Bytes held: arena blocks and table slots.
    std::size_t memory_bytes() const;

private:
    static constexpr std::size_t block_size = 1 << 20;
    // A slot: the id's offset in the arena (40 bits), its length (8 bits), its mark (1 bit).
    using slot = std::uint64_t;

    // The ids' bytes. On the heap, so that its address (held by the table's hash and
    // equality functions) stays the same when the id_set is moved.
    struct arena {
        std::vector<std::unique_ptr<char[]>> blocks;
        std::size_t used_in_last = block_size;
        std::string_view text_of(slot s) const;
    };

    struct hasher {
        using is_transparent = void;
        const arena* ids;
        std::size_t operator()(std::string_view v) const;
        std::size_t operator()(slot s) const { return (*this)(ids->text_of(s)); }
    };
    struct equal {
        using is_transparent = void;
        const arena* ids;
        bool operator()(slot a, slot b) const { return ids->text_of(a) == ids->text_of(b); }
        bool operator()(std::string_view a, slot b) const { return a == ids->text_of(b); }
        bool operator()(slot a, std::string_view b) const { return ids->text_of(a) == b; }
    };

    std::unique_ptr<arena> arena_;
    boost::unordered_flat_set<slot, hasher, equal> table_;
};

}  // namespace koorelease
