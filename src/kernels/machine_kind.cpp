// Which kind of machine the kernels tune for (MachineKind).
#include <cpuid.h>

#include <cstring>

#include "gemm_kernels.h"

namespace llmopt::kernels::gemm::avx2 {

namespace {

MachineKind detect_machine_kind() {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return MachineKind::kOther;
    char vendor[12];
    std::memcpy(vendor, &ebx, 4);
    std::memcpy(vendor + 4, &edx, 4);
    std::memcpy(vendor + 8, &ecx, 4);
    if (std::memcmp(vendor, "GenuineIntel", 12) == 0) return MachineKind::kIntel;
    if (std::memcmp(vendor, "AuthenticAMD", 12) != 0) return MachineKind::kOther;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return MachineKind::kOther;
    const unsigned base = (eax >> 8) & 0xF;
    const unsigned family = base == 0xF ? base + ((eax >> 20) & 0xFF) : base;
    const unsigned model = ((eax >> 4) & 0xF) | (base == 0xF ? ((eax >> 16) & 0xF) << 4 : 0);
    if (family >= 0x1A) return MachineKind::kAmdZen5;                  // 1Ah: Zen 5
    if (family == 0x17 && model < 0x30) return MachineKind::kAmdZen1;  // 17h: Zen 1, Zen 2 from 30h
    return MachineKind::kOther;
}

}  // namespace

extern const MachineKind kMachineKind = detect_machine_kind();

}  // namespace llmopt::kernels::gemm::avx2
