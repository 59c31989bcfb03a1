// Measures this machine's limits: multi-threaded memory read bandwidth and peak FMA throughput.
#pragma once

#include <cstdint>

namespace llmopt {

struct MachineLimits {
    double read_gbps = 0;       // bytes per second / 1e9, all threads streaming a large buffer
    double peak_gflops = 0;     // f32 FMA throughput (2 flops each), all threads, AVX2 when present
    int32_t peak_vector_bits = 0;  // the register width that reached it: 256 or 512 (AVX-512)
    int32_t threads = 0;
};

// Takes about a second. `threads` <= 0: all cores.
MachineLimits probe_machine(int32_t threads);

}  // namespace llmopt
