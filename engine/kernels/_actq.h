// What the int8-activation kernels share: the instruction-set switches, the
// int8 multiply-add they build on, and activation quantization (formats and
// the block size: _formats.h).
#pragma once

#include <cstdint>

#include "_formats.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define AK_AVX2 1
#endif

// VNNI: vpdpbusd multiplies 4 unsigned by 4 signed bytes and adds the four
// products to an int32 lane in one instruction (AVX2 needs vpmaddubsw, int16
// adds and vpmaddwd). Both encodings are used on 256-bit registers: the 8-row
// interleaved layout fills exactly 8 int32 lanes, and the float steps after
// the integer dot stay the AVX2 path's, so every x86 path gives the same bits.
#if defined(AK_AVX2) && defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__)
#define AK_VNNI 1
#define AK_PATH "avx512vnni"
#elif defined(AK_AVX2) && defined(__AVXVNNI__)
#define AK_VNNI 1
#define AK_PATH "avxvnni"
#elif defined(AK_AVX2)
#define AK_PATH "avx2"
#else
#define AK_PATH "portable"
#endif

namespace ak {

#ifdef AK_VNNI
// acc + sum over each 4-byte group of u8 * s8 (exact in int32, no saturation).
inline __m256i dpbusd(__m256i acc, __m256i u8, __m256i s8) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(acc, u8, s8);
#else
  return _mm256_dpbusd_avx_epi32(acc, u8, s8);
#endif
}
#endif

// Quantized activation rows: q (T, K) int8, d (T, K/32) = max|x| / 127,
// s (T, K/32) = d * sum(q) and qsum (T, K/32) = sum(q) per block of 32.
struct QRows {
  const int8_t* q;
  const float* d;
  const float* s;
  const int32_t* qsum;
};

// Quantize contiguous fp32 rows x (T, K) into this thread's scratch (no
// allocation on the hot path); valid until the thread's next call. Defined in
// _linear_i8.cpp (the rule is in its header comment).
QRows quantize_to_scratch(const float* x, int64_t T, int64_t K);

}  // namespace ak
