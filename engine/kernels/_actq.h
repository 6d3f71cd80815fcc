// What the int8-activation kernels share: format codes, the block size, the
// AVX2 switch and activation quantization.
#pragma once

#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define AK_AVX2 1
#endif

namespace ak {

constexpr int64_t kQBlock = 32;  // elements in a quantization block (GGUF's and ours)
enum QFormatCode : int64_t { Q8_0 = 1, Q4_0 = 2, Q4_1 = 3 };

// Rows x (T, K) -> per block of 32: q (T, K) int8, d (T, K/32) = max|x| / 127,
// s (T, K/32) = d * sum(q). Defined in _linear_i8.cpp (see its header comment).
void quantize_rows(const float* x, int64_t T, int64_t K, int8_t* q, float* d, float* s);

}  // namespace ak
