// Fused dequantize-and-multiply over raw GGUF blocks (f32, q8_0, q4_0, q4_1).
//
// Row invariance: every output element (t, n) is computed by one thread with
// the same instruction sequence (same block order, same accumulators, same
// horizontal sum) whatever T and the thread count are. Tiling over t only
// decides how many rows share one decoded weight block, never the arithmetic.
//
// Layout trick: weights stay in GGUF order. A block's quantized bytes are
// split into 8-lane vectors with shifts only (no shuffles); the lane -> element
// mapping this produces is undone by permuting the *activations* once per call
// (T x K floats), which is far cheaper than repacking the weights.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "_formats.h"
#include "_simd.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define AK_AVX2 1
#endif

namespace ak {

namespace {

using F = QFormat;
constexpr int64_t kBlock = kQBlock;
#ifndef AK_TILE
#define AK_TILE 8
#endif
constexpr int64_t kTile = AK_TILE;  // activation rows sharing one decoded block

// Element of a block held by vector k, lane i (see the decoders below).
int64_t perm_elem(QFormat fmt, int64_t k, int64_t i) {
  if (fmt == F::Q8_0) return 4 * i + k;             // word i, byte k
  int64_t w = i % 4, p = 2 * k + (i >= 4 ? 1 : 0);  // word w, nibble p
  return 4 * w + p / 2 + (p % 2 ? 16 : 0);
}

#ifdef AK_AVX2
using Vec = __m256;
inline Vec vzero() { return _mm256_setzero_ps(); }
inline Vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline Vec vmul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec vset1(float a) { return _mm256_set1_ps(a); }
inline float hsum(Vec v) { return hsum8(v); }
inline void decode(QFormat fmt, const uint8_t* qs, Vec q[4]) {
  if (fmt == F::Q8_0) {
    __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
    q[0] = _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(v, 24), 24));
    q[1] = _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(v, 16), 24));
    q[2] = _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(v, 8), 24));
    q[3] = _mm256_cvtepi32_ps(_mm256_srai_epi32(v, 24));
    return;
  }
  __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  const __m256i mask = _mm256_set1_epi32(0xF);
  for (int k = 0; k < 4; ++k) {
    __m256i sh = _mm256_setr_epi32(8 * k, 8 * k, 8 * k, 8 * k, 8 * k + 4, 8 * k + 4, 8 * k + 4,
                                   8 * k + 4);
    q[k] = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srlv_epi32(v, sh), mask));
  }
}
#else
struct Vec {
  float v[8];
};
inline Vec vzero() { return Vec{}; }
inline Vec vload(const float* p) {
  Vec r;
  std::memcpy(r.v, p, sizeof(r.v));
  return r;
}
inline Vec vmul(Vec a, Vec b) {
  for (int i = 0; i < 8; ++i) a.v[i] *= b.v[i];
  return a;
}
inline Vec vfma(Vec a, Vec b, Vec c) {
  for (int i = 0; i < 8; ++i) c.v[i] = fma_s(a.v[i], b.v[i], c.v[i]);
  return c;
}
inline Vec vset1(float a) {
  Vec r;
  for (float& x : r.v) x = a;
  return r;
}
inline float hsum(Vec v) {
  float s[4];
  for (int i = 0; i < 4; ++i) s[i] = v.v[i] + v.v[i + 4];
  float a = s[0] + s[2], b = s[1] + s[3];
  return a + b;
}
inline void decode(QFormat fmt, const uint8_t* qs, Vec q[4]) {
  for (int k = 0; k < 4; ++k) {
    for (int i = 0; i < 8; ++i) {
      int64_t e = perm_elem(fmt, k, i);
      q[k].v[i] = fmt == F::Q8_0 ? static_cast<float>(static_cast<int8_t>(qs[e]))
                              : static_cast<float>(e < 16 ? (qs[e] & 0xF) : (qs[e - 16] >> 4));
    }
  }
}
#endif

// TT activation rows (permuted, stride K) against one quantized weight row.
template <QFormat FMT, int TT>
void qrow(const uint8_t* row, int64_t nb, const float* xp, const float* xs, int64_t K,
          float* out, int64_t ldo) {
  constexpr int64_t kBytes = block_bytes(FMT);
  constexpr int64_t kOff = scale_bytes(FMT);
  Vec acc[TT];
  float macc[TT];
  for (int t = 0; t < TT; ++t) acc[t] = vzero(), macc[t] = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = row + b * kBytes;
    Vec q[4];
    decode(FMT, blk + kOff, q);
    const Vec dv = vset1(half_at(blk));
    for (int t = 0; t < TT; ++t) {
      const float* xb = xp + t * K + b * kBlock;
      Vec p = vmul(q[0], vload(xb));
      p = vfma(q[1], vload(xb + 8), p);
      p = vfma(q[2], vload(xb + 16), p);
      p = vfma(q[3], vload(xb + 24), p);
      acc[t] = vfma(p, dv, acc[t]);
    }
  }
  // The q4 offsets (m, or -8d) times the block sums of x: a second, L1-hot
  // pass over the row keeps the main loop free of scalar work.
  if constexpr (FMT != F::Q8_0) {
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = row + b * kBytes;
      const float m = FMT == F::Q4_1 ? half_at(blk + 2) : -8.0f * half_at(blk);
      for (int t = 0; t < TT; ++t) macc[t] = fma_s(m, xs[t * nb + b], macc[t]);
    }
  }
  for (int t = 0; t < TT; ++t) out[t * ldo] = hsum(acc[t]) + macc[t];
}

template <int TT>
void frow(const float* w, const float* x, int64_t K, float* out, int64_t ldo) {
  const int64_t kv = K / kBlock * kBlock;
  Vec acc[TT];
  float tail[TT];
  for (int t = 0; t < TT; ++t) acc[t] = vzero(), tail[t] = 0.0f;
  for (int64_t k = 0; k < kv; k += kBlock) {
    Vec q[4] = {vload(w + k), vload(w + k + 8), vload(w + k + 16), vload(w + k + 24)};
    for (int t = 0; t < TT; ++t) {
      const float* xb = x + t * K + k;
      Vec p = vmul(q[0], vload(xb));
      p = vfma(q[1], vload(xb + 8), p);
      p = vfma(q[2], vload(xb + 16), p);
      p = vfma(q[3], vload(xb + 24), p);
      acc[t] = vfma(p, vset1(1.0f), acc[t]);
    }
  }
  for (int t = 0; t < TT; ++t) {
    for (int64_t k = kv; k < K; ++k) tail[t] = fma_s(w[k], x[t * K + k], tail[t]);
    out[t * ldo] = hsum(acc[t]) + tail[t];
  }
}

template <QFormat FMT, int TT>
void any_row(const uint8_t* wq, int64_t n, int64_t nb, const float* xp, const float* xs,
             int64_t K, float* out, int64_t N) {
  if constexpr (FMT == F::F32) {
    frow<TT>(reinterpret_cast<const float*>(wq) + n * K, xp, K, out + n, N);
  } else {
    qrow<FMT, TT>(wq + n * nb * block_bytes(FMT), nb, xp, xs, K, out + n, N);
  }
}

template <QFormat FMT>
void run(const uint8_t* wq, const float* xp, const float* xs, int64_t T, int64_t N, int64_t K,
         float* out) {
  const int64_t nb = K / kBlock;
  const int64_t grain = std::max<int64_t>(4, 32768 / std::max<int64_t>(1, T * K));
  constexpr int64_t kChunk = 32;  // keep a chunk of activation rows hot in L1/L2
  at::parallel_for(0, N, grain, [&](int64_t n0, int64_t n1) {
    for (int64_t c0 = 0; c0 < T; c0 += kChunk) {
      const int64_t c1 = std::min(T, c0 + kChunk);
      for (int64_t n = n0; n < n1; ++n) {
        for (int64_t t = c0; t < c1; t += kTile) {
          const float* x = xp + t * K;
          const float* s = xs + t * nb;
          float* o = out + t * N;
          switch (std::min(kTile, c1 - t)) {
            case 1: any_row<FMT, 1>(wq, n, nb, x, s, K, o, N); break;
            case 2: any_row<FMT, 2>(wq, n, nb, x, s, K, o, N); break;
            case 3: any_row<FMT, 3>(wq, n, nb, x, s, K, o, N); break;
            case 4: any_row<FMT, 4>(wq, n, nb, x, s, K, o, N); break;
            case 5: any_row<FMT, 5>(wq, n, nb, x, s, K, o, N); break;
            case 6: any_row<FMT, 6>(wq, n, nb, x, s, K, o, N); break;
            case 7: any_row<FMT, 7>(wq, n, nb, x, s, K, o, N); break;
            default: any_row<FMT, 8>(wq, n, nb, x, s, K, o, N); break;
          }
        }
      }
    }
  });
}

// Activations permuted block-wise to match the decoders' lane order, plus
// per-block sums (for the q4 offsets).
void permute_x(QFormat fmt, const float* x, int64_t T, int64_t K, float* xp, float* xs) {
  const int64_t nb = K / kBlock;
  int64_t perm[kBlock];
  for (int64_t k = 0; k < 4; ++k)
    for (int64_t i = 0; i < 8; ++i) perm[8 * k + i] = perm_elem(fmt, k, i);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* src = x + t * K + b * kBlock;
      float* dst = xp + t * K + b * kBlock;
      float s = 0.0f;
      for (int64_t j = 0; j < kBlock; ++j) dst[j] = src[perm[j]], s += src[j];
      xs[t * nb + b] = s;
    }
  }
}

}  // namespace

at::Tensor linear(const at::Tensor& x_in, const at::Tensor& w, int64_t code, int64_t N, int64_t K) {
  TORCH_CHECK_VALUE(x_in.dim() == 2 && x_in.size(1) == K, "linear: x must be (T, ", K,
                    "), got ", x_in.sizes());
  TORCH_CHECK_VALUE(x_in.scalar_type() == at::kFloat, "linear: x must be float32");
  const QFormat fmt = format_of(code, "linear");
  TORCH_CHECK_VALUE(!quantized(fmt) || K % kBlock == 0, "linear: K=", K, " not a multiple of 32");
  TORCH_CHECK_VALUE(w.is_contiguous() && w.numel() * w.element_size() == N * row_bytes(fmt, K),
                    "linear: weight storage does not match shape (", N, ", ", K, ")");
  at::Tensor x = x_in.contiguous();
  const int64_t T = x.size(0);
  at::Tensor out = at::empty({T, N}, x.options());
  if (T == 0 || N == 0) return out;
  const auto* wq = static_cast<const uint8_t*>(w.data_ptr());
  if (fmt == F::F32) {
    run<F::F32>(wq, x.data_ptr<float>(), nullptr, T, N, K, out.data_ptr<float>());
    return out;
  }
  at::Tensor xp = at::empty({T, K}, x.options());
  at::Tensor xs = at::empty({T, K / kBlock}, x.options());
  permute_x(fmt, x.data_ptr<float>(), T, K, xp.data_ptr<float>(), xs.data_ptr<float>());
  const float* p = xp.data_ptr<float>();
  const float* s = xs.data_ptr<float>();
  float* o = out.data_ptr<float>();
  if (fmt == F::Q8_0) run<F::Q8_0>(wq, p, s, T, N, K, o);
  if (fmt == F::Q4_0) run<F::Q4_0>(wq, p, s, T, N, K, o);
  if (fmt == F::Q4_1) run<F::Q4_1>(wq, p, s, T, N, K, o);
  return out;
}

}  // namespace ak
