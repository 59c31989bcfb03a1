// Paged KV cache storage and block-table growth.
#include "llmopt/kv/kv_cache.h"

namespace llmopt {

KvCache::KvCache(const KvShape& shape, int32_t n_blocks, int32_t block_size)
    : shape_(shape),
      block_size_(block_size),
      pool_(n_blocks),
      k_(size_t(shape.n_layers) * n_blocks * block_size * shape.kv_dim()),
      v_(k_.size()) {}

bool KvCache::reserve(std::vector<int32_t>& table, int32_t n_tokens) {
    const size_t had = table.size();
    while (table.size() < size_t(blocks_for(n_tokens))) {
        const int32_t b = pool_.allocate();
        if (b < 0) {
            while (table.size() > had) {
                pool_.release(table.back());
                table.pop_back();
            }
            return false;
        }
        table.push_back(b);
    }
    return true;
}

void KvCache::release(std::vector<int32_t>& table) {
    for (int32_t b : table) pool_.release(b);
    table.clear();
}

}  // namespace llmopt
