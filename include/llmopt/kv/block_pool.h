// Fixed-size KV blocks from one pool: allocation, reference counts, a free list.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

namespace llmopt {

class BlockPool {
public:
    explicit BlockPool(int32_t n_blocks);

    // A free block with reference count 1, or -1 when none is left.
    int32_t allocate();
    // Another holder of `block` (a shared prefix).
    void retain(int32_t block);
    // Drops one reference; the block returns to the free list at zero.
    void release(int32_t block);

    int32_t n_blocks() const { return static_cast<int32_t>(ref_counts_.size()); }
    int32_t n_free() const { return static_cast<int32_t>(free_.size()); }
    int32_t ref_count(int32_t block) const { return ref_counts_.at(block); }

private:
    std::vector<int32_t> ref_counts_;
    std::deque<int32_t> free_;  // lowest ids first at start; released blocks go to the back
};

}  // namespace llmopt
