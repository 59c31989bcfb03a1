// Fixed-size KV blocks from one pool with reference counts.
#include "llmopt/kv/block_pool.h"

#include <stdexcept>
#include <string>

namespace llmopt {

BlockPool::BlockPool(int32_t n_blocks) : ref_counts_(n_blocks, 0) {
    for (int32_t i = 0; i < n_blocks; ++i) free_.push_back(i);
}

int32_t BlockPool::allocate() {
    if (free_.empty()) return -1;
    const int32_t b = free_.front();
    free_.pop_front();
    ref_counts_[b] = 1;
    return b;
}

void BlockPool::retain(int32_t block) {
    if (ref_counts_.at(block) <= 0) throw std::logic_error("retain of free block " + std::to_string(block));
    ++ref_counts_[block];
}

void BlockPool::release(int32_t block) {
    if (ref_counts_.at(block) <= 0) throw std::logic_error("release of free block " + std::to_string(block));
    if (--ref_counts_[block] == 0) free_.push_back(block);
}

}  // namespace llmopt
