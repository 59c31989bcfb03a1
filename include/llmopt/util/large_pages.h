// Anonymous memory for gigabytes that are written once and then streamed: in 2 MB pages where
// the kernel grants them, so a fresh allocation takes a fault per 2 MB instead of per 4 KB
// (F16 tinyllama regrouped: 1.6 s with 4 KB pages) and streaming it misses the TLB less.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace llmopt {

// Throws std::bad_alloc when the memory cannot be mapped.
std::shared_ptr<uint8_t> allocate_large_pages(size_t bytes);

}  // namespace llmopt
