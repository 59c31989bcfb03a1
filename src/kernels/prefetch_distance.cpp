// How far ahead the 4-bit regrouped tiles request the weights they stream, per machine.
#include <cpuid.h>

#include <cstring>

#include "gemm_kernels.h"

namespace llmopt::kernels::gemm::avx2 {

namespace {

// AMD family 1Ah (Zen 5) or later.
bool cpu_is_amd_zen5_or_later() {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return false;
    char vendor[12];
    std::memcpy(vendor, &ebx, 4);
    std::memcpy(vendor + 4, &edx, 4);
    std::memcpy(vendor + 8, &ecx, 4);
    if (std::memcmp(vendor, "AuthenticAMD", 12) != 0) return false;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
    const unsigned base = (eax >> 8) & 0xF;
    const unsigned family = base == 0xF ? base + ((eax >> 20) & 0xFF) : base;
    return family >= 0x1A;
}

}  // namespace

extern const bool kFourBitPrefetchFar = cpu_is_amd_zen5_or_later();

}  // namespace llmopt::kernels::gemm::avx2
