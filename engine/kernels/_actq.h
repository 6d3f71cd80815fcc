// What the int8-activation kernels share: the AVX2 switch and activation
// quantization (formats and the block size: _formats.h).
#pragma once

#include <cstdint>

#include "_formats.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define AK_AVX2 1
#endif

namespace ak {

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
