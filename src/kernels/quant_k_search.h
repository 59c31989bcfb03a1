// Private: the per-sub-block scale searches the K-quant quantizers run before packing.
#pragma once

#include <cstdint>

namespace llmopt::kernels::detail {

// Symmetric levels -nmax ... nmax-1 with weights x^2: starts from the scale that maps the
// largest-magnitude value to -nmax, then tries 18 nearby scales and keeps the one with the best
// weighted least-squares fit. L receives level + nmax (0 ... 2*nmax-1). Returns the scale.
float fit_symmetric_scale(int n, int nmax, const float* x, int8_t* L);

// Symmetric levels as above, refined by coordinate descent: each level is moved to the one that
// best fits the least-squares scale of the others, up to 5 sweeps. Returns the scale.
float fit_symmetric_scale_refined(int n, int nmax, const float* x, int8_t* L);

// Asymmetric levels 0 ... nmax with an offset: x ~ scale * L - the_min, the_min >= 0. Tries
// nstep+1 grid scales (rmin + rdelta * step + nmax) / (max - min) and, for each, solves the
// weighted least-squares scale and offset; keeps the lowest weighted error (absolute when
// use_mad, squared otherwise). `aux` is scratch of n bytes. Returns the scale.
float fit_scale_and_min(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                        float* the_min, uint8_t* aux, float rmin, float rdelta, int nstep,
                        bool use_mad);

}  // namespace llmopt::kernels::detail
