// Fixed-size KV blocks with reference counts, LRU free list and prefix cache.
#include "llmopt/kv/block_pool.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace llmopt {

BlockPool::BlockPool(int32_t n_blocks) : blocks_(n_blocks) {
    for (int32_t i = 0; i < n_blocks; ++i) blocks_[i].free_at = free_.insert(free_.end(), i);
}

int32_t BlockPool::allocate() {
    if (free_.empty()) return -1;
    const int32_t b = free_.front();
    free_.pop_front();
    evict(b);
    blocks_[b].refs = 1;
    return b;
}

void BlockPool::retain(int32_t block) {
    Block& b = blocks_.at(block);
    if (b.refs == 0) {
        if (!b.hash) throw std::logic_error("retain of free uncached block " + std::to_string(block));
        free_.erase(b.free_at);
    }
    ++b.refs;
}

void BlockPool::release(int32_t block) {
    Block& b = blocks_.at(block);
    if (b.refs <= 0) throw std::logic_error("release of free block " + std::to_string(block));
    if (--b.refs == 0) b.free_at = free_.insert(free_.end(), block);
}

void BlockPool::cache(int32_t block, uint64_t hash, std::span<const int32_t> tokens) {
    Block& b = blocks_.at(block);
    if (b.hash == hash) return;
    if (by_hash_.count(hash)) return;  // an identical block is cached already; keep that one
    evict(block);
    b.hash = hash;
    b.tokens.assign(tokens.begin(), tokens.end());
    by_hash_[hash] = block;
}

std::optional<int32_t> BlockPool::lookup(uint64_t hash, std::span<const int32_t> tokens) const {
    auto it = by_hash_.find(hash);
    if (it == by_hash_.end()) return std::nullopt;
    const Block& b = blocks_[it->second];
    if (!std::equal(b.tokens.begin(), b.tokens.end(), tokens.begin(), tokens.end())) return std::nullopt;
    return it->second;
}

uint64_t BlockPool::chain_hash(uint64_t parent, std::span<const int32_t> tokens) {
    // splitmix64-style mixing of each token into the running state.
    uint64_t h = parent ^ 0x9e3779b97f4a7c15ull;
    for (int32_t t : tokens) {
        h ^= static_cast<uint32_t>(t);
        h += 0x9e3779b97f4a7c15ull;
        h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
        h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
        h ^= h >> 31;
    }
    return h;
}

void BlockPool::evict(int32_t block) {
    Block& b = blocks_[block];
    if (!b.hash) return;
    by_hash_.erase(*b.hash);
    b.hash.reset();
    b.tokens.clear();
}

}  // namespace llmopt
