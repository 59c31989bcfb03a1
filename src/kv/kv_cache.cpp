// Paged KV cache storage and block-table growth.
#include "llmopt/kv/kv_cache.h"

#include <string>

#include "llmopt/util/error.h"
#include "llmopt/util/large_pages.h"

namespace llmopt {

namespace {

DType checked_type(DType type, const KvShape& shape) {
    if (type != DType::kF32 && type != DType::kF16 && type != DType::kQ8_0)
        throw InputError("KV cache type must be f32, f16 or q8_0, not " + std::string(dtype_name(type)));
    if (shape.head_dim % info(type).block_elems != 0)
        throw InputError("KV cache type " + std::string(dtype_name(type)) + " needs a head size that is a multiple of " +
                         std::to_string(info(type).block_elems) + " (the model's is " + std::to_string(shape.head_dim) + ")");
    return type;
}

}  // namespace

KvCache::KvCache(const KvShape& shape, int32_t n_blocks, int32_t block_size, DType type)
    : shape_(shape),
      block_size_(block_size),
      type_(checked_type(type, shape)),
      row_bytes_(row_bytes(type, shape.kv_dim())),
      pool_(n_blocks),
      k_(allocate_large_pages(side_bytes())),
      v_(allocate_large_pages(side_bytes())) {}

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
