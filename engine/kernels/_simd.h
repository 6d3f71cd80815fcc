// Helpers shared by the kernels. Every row of every op reduces its 8 lanes
// with the one fixed tree of `hsum8`, which row invariance relies on.
#pragma once

#include <c10/util/Half.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__F16C__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace ak {

// The fp16 at `p` (any alignment) as fp32; both paths convert exactly.
inline float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return c10::detail::fp16_ieee_to_fp32_value(h);
#endif
}

// a * b + c in one fixed rounding order per build: fused where FMA is built in.
inline float fma_s(float a, float b, float c) {
#if defined(__FMA__)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

}  // namespace ak

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace ak {

// ((lo + hi) pairwise, then the two halves): lanes (0+4)+(2+6) + (1+5)+(3+7).
inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

}  // namespace ak
#endif
