// Paged KV cache: per layer, keys and values stored in fixed-size blocks of one pool; each
// sequence finds its past through a block table (block ids in position order).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "llmopt/kv/block_pool.h"
#include "llmopt/tensor/dtype.h"

namespace llmopt {

struct KvShape {
    int32_t n_layers = 0;
    int32_t n_kv_heads = 0;
    int32_t head_dim = 0;
    int32_t kv_dim() const { return n_kv_heads * head_dim; }
};

// Keys and values are stored as F32, F16 or Q8_0 rows of kv_dim elements (Q8_0 needs a head
// size that is a multiple of 32, so that each head is whole blocks).
class KvCache {
public:
    KvCache(const KvShape& shape, int32_t n_blocks, int32_t block_size = 16, DType type = DType::kF32);
    KvCache(const KvCache&) = delete;  // the storage is not shared
    KvCache& operator=(const KvCache&) = delete;
    KvCache(KvCache&&) = default;
    KvCache& operator=(KvCache&&) = default;

    // Blocks needed to hold n_tokens positions.
    int32_t blocks_for(int32_t n_tokens) const { return (n_tokens + block_size_ - 1) / block_size_; }
    // Appends blocks to `table` until it holds n_tokens positions; false (table unchanged) when
    // the pool runs out.
    bool reserve(std::vector<int32_t>& table, int32_t n_tokens);
    // Returns every block of `table` to the pool and clears it.
    void release(std::vector<int32_t>& table);

    // The key / value row (kv_dim elements of type()) of `layer` at slot `slot` of `block`.
    uint8_t* key(int32_t layer, int32_t block, int32_t slot) { return k_.get() + offset(layer, block, slot); }
    uint8_t* value(int32_t layer, int32_t block, int32_t slot) { return v_.get() + offset(layer, block, slot); }
    const uint8_t* key(int32_t layer, int32_t block, int32_t slot) const { return k_.get() + offset(layer, block, slot); }
    const uint8_t* value(int32_t layer, int32_t block, int32_t slot) const { return v_.get() + offset(layer, block, slot); }
    // Byte offset of head `h` inside a row.
    size_t head_offset(int32_t h) const { return row_bytes(type_, int64_t(h) * shape_.head_dim); }

    const KvShape& shape() const { return shape_; }
    int32_t block_size() const { return block_size_; }
    BlockPool& pool() { return pool_; }
    const BlockPool& pool() const { return pool_; }
    DType type() const { return type_; }
    size_t bytes() const { return 2 * side_bytes(); }
    // Bytes one token occupies across all layers, keys and values.
    static size_t bytes_per_token(const KvShape& shape, DType type) {
        return 2 * size_t(shape.n_layers) * row_bytes(type, shape.kv_dim());
    }

private:
    size_t offset(int32_t layer, int32_t block, int32_t slot) const {
        return ((size_t(layer) * pool_.n_blocks() + size_t(block)) * size_t(block_size_) + size_t(slot)) * row_bytes_;
    }
    // Bytes of the keys, and of the values.
    size_t side_bytes() const { return size_t(shape_.n_layers) * pool_.n_blocks() * size_t(block_size_) * row_bytes_; }

    KvShape shape_;
    int32_t block_size_;
    DType type_;
    size_t row_bytes_;
    BlockPool pool_;
    // (n_layers, n_blocks, block_size, row of kv_dim elements), in large pages: attention reads
    // a job's rows scattered over blocks, and with 4 KB pages a decode step at depth 512
    // missed the TLB on nearly every block.
    std::shared_ptr<uint8_t> k_;
    std::shared_ptr<uint8_t> v_;
};

}  // namespace llmopt
