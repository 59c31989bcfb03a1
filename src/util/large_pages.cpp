#include "llmopt/util/large_pages.h"

#include <sys/mman.h>

#include <new>

namespace llmopt {

std::shared_ptr<uint8_t> allocate_large_pages(size_t bytes) {
    constexpr size_t kHuge = size_t(2) << 20;
    const size_t size = (bytes + kHuge - 1) / kHuge * kHuge;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    ::madvise(p, size, MADV_HUGEPAGE);
    return {static_cast<uint8_t*>(p), [size](uint8_t* q) { ::munmap(q, size); }};
}

}  // namespace llmopt
