// Fixed-size KV blocks from one pool: reference counts, a free list in eviction order, and a
// prefix cache mapping the hash of a full block (chained over its tokens and its prefix) to it.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace llmopt {

class BlockPool {
public:
    explicit BlockPool(int32_t n_blocks);

    // A block with reference count 1, or -1 when none is free. Takes the least recently freed
    // block; if it held a cached prefix, that entry is evicted.
    int32_t allocate();
    // Another holder of `block` (a shared prefix); revives a cached block from the free list.
    void retain(int32_t block);
    // Drops one reference; at zero the block goes to the back of the free list, keeping its
    // cached contents until it is allocated again.
    void release(int32_t block);

    // Marks a full block as holding the tokens whose chained hash is `hash`.
    void cache(int32_t block, uint64_t hash, std::span<const int32_t> tokens);
    // The cached block holding exactly these tokens after the prefix `hash` stands for.
    std::optional<int32_t> lookup(uint64_t hash, std::span<const int32_t> tokens) const;
    // Hash of a block's tokens chained to the hash of everything before it (0 for the first).
    static uint64_t chain_hash(uint64_t parent, std::span<const int32_t> tokens);

    int32_t n_blocks() const { return static_cast<int32_t>(blocks_.size()); }
    int32_t n_free() const { return static_cast<int32_t>(free_.size()); }
    int32_t n_cached() const { return static_cast<int32_t>(by_hash_.size()); }
    int32_t ref_count(int32_t block) const { return blocks_.at(block).refs; }
    // Free blocks from first to be reused to last.
    std::vector<int32_t> free_order() const { return {free_.begin(), free_.end()}; }

private:
    struct Block {
        int32_t refs = 0;
        std::list<int32_t>::iterator free_at;  // valid while refs == 0
        std::optional<uint64_t> hash;
        std::vector<int32_t> tokens;  // what the hash stands for, to rule out collisions
    };
    void evict(int32_t block);

    std::vector<Block> blocks_;
    std::list<int32_t> free_;
    std::unordered_map<uint64_t, int32_t> by_hash_;
};

}  // namespace llmopt
