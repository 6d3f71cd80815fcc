// Activation quantization shared by the int8-activation kernels.
#pragma once

#include <cstdint>

namespace ak {

// Rows x (T, K) -> per block of 32: q (T, K) int8, d (T, K/32) = max|x| / 127,
// s (T, K/32) = d * sum(q). Defined in _linear_i8.cpp (see its header comment).
void quantize_rows(const float* x, int64_t T, int64_t K, int8_t* q, float* d, float* s);

}  // namespace ak
