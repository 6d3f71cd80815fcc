// AVX2 helpers shared by the kernels. Every row of every op reduces its
// 8 lanes with this one fixed tree, which row invariance relies on.
#pragma once

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
