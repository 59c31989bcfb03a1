// Paged KV cache: per layer, keys and values stored in fixed-size blocks of one pool; each
// sequence finds its past through a block table (block ids in position order).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "llmopt/kv/block_pool.h"

namespace llmopt {

struct KvShape {
    int32_t n_layers = 0;
    int32_t n_kv_heads = 0;
    int32_t head_dim = 0;
    int32_t kv_dim() const { return n_kv_heads * head_dim; }
};

class KvCache {
public:
    KvCache(const KvShape& shape, int32_t n_blocks, int32_t block_size = 16);

    // Blocks needed to hold n_tokens positions.
    int32_t blocks_for(int32_t n_tokens) const { return (n_tokens + block_size_ - 1) / block_size_; }
    // Appends blocks to `table` until it holds n_tokens positions; false (table unchanged) when
    // the pool runs out.
    bool reserve(std::vector<int32_t>& table, int32_t n_tokens);
    // Returns every block of `table` to the pool and clears it.
    void release(std::vector<int32_t>& table);

    // (block_size, kv_dim) keys / values of `layer` in `block`.
    float* keys(int32_t layer, int32_t block) { return k_.data() + offset(layer, block); }
    float* values(int32_t layer, int32_t block) { return v_.data() + offset(layer, block); }
    const float* keys(int32_t layer, int32_t block) const { return k_.data() + offset(layer, block); }
    const float* values(int32_t layer, int32_t block) const { return v_.data() + offset(layer, block); }

    const KvShape& shape() const { return shape_; }
    int32_t block_size() const { return block_size_; }
    BlockPool& pool() { return pool_; }
    const BlockPool& pool() const { return pool_; }
    size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

private:
    size_t offset(int32_t layer, int32_t block) const {
        return (size_t(layer) * pool_.n_blocks() + size_t(block)) * size_t(block_size_) * size_t(shape_.kv_dim());
    }

    KvShape shape_;
    int32_t block_size_;
    BlockPool pool_;
    std::vector<float> k_;  // (n_layers, n_blocks, block_size, kv_dim)
    std::vector<float> v_;  // (n_layers, n_blocks, block_size, kv_dim)
};

}  // namespace llmopt
