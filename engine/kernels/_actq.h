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

// Quantized activation rows: q (T, K) int8, d (T, K/32) = max|x| / 127 and
// s (T, K/32) = d * sum(q) per block of 32.
struct QRows {
  const int8_t* q;
  const float* d;
  const float* s;
};

// Quantize contiguous fp32 rows x (T, K) into this thread's scratch (no
// allocation on the hot path); valid until the thread's next call. Defined in
// _linear_i8.cpp (the rule is in its header comment).
QRows quantize_to_scratch(const float* x, int64_t T, int64_t K);

}  // namespace ak
