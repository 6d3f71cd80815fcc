// Quantized weights x int8-quantized activations (llama.cpp's q8_1 trick).
//
// Each activation row is quantized per block of 32: d = max|x| / 127 (fp32),
// q = round-half-to-even(x * (1 / d)) as int8 (d = 0 gives q = 0), plus the
// block's s = d * sum(q). A weight block then meets an activation block in
// integers (exact: no saturation is possible for |q_x| <= 127), and one float
// FMA per block applies d_w * d_x:
//   q8_0: sum_b d_w d_x <q_w, q_x>
//   q4_1: sum_b d_w d_x <n_w, q_x> + sum_b m_w s_x      (n = nibble 0..15)
//   q4_0: as q4_1 with m_w = -8 d_w
//
// Row invariance: quantization is per row and per block, and every output
// element (t, n) is computed by one thread with one fixed instruction sequence
// (8 int32 lane partials per block -> fp32 lane FMA over blocks in order ->
// fixed horizontal sum, then the offset sum in block order). Tiling over t only
// decides how many rows share one loaded weight block.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "_actq.h"
#include "_simd.h"

namespace ak {

namespace {

using F = QFormat;
constexpr int64_t kBlock = kQBlock;
constexpr int64_t kTile = 8;  // activation rows sharing one loaded weight block

// One activation row, K = nb * 32 floats -> nb blocks of (q[32], d, s).
// The AVX2 and scalar versions give identical bits: max, the products
// x * (1 / d) and round-half-to-even are exact elementwise operations.
void quantize_row(const float* x, int64_t nb, int8_t* q, float* d, float* s, int32_t* qs) {
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * kBlock;
    int8_t* qb = q + b * kBlock;
#ifdef AK_AVX2
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4];
    __m256 mx = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(xb + 8 * i);
      mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, v[i]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
#else
    float amax = 0.0f;
    for (int64_t j = 0; j < kBlock; ++j) amax = std::max(amax, std::fabs(xb[j]));
#endif
    const float db = amax / 127.0f;
    const float id = db != 0.0f ? 1.0f / db : 0.0f;
#ifdef AK_AVX2
    const __m256 idv = _mm256_set1_ps(id);
    __m256i qi[4];
    for (int i = 0; i < 4; ++i) {
      const __m256 r = _mm256_round_ps(_mm256_mul_ps(v[i], idv),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      qi[i] = _mm256_cvtps_epi32(r);
    }
    const __m256i sum32 = _mm256_add_epi32(_mm256_add_epi32(qi[0], qi[1]),
                                           _mm256_add_epi32(qi[2], qi[3]));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum32), _mm256_extracti128_si256(sum32, 1));
    s4 = _mm_hadd_epi32(s4, s4);
    s4 = _mm_hadd_epi32(s4, s4);
    const int32_t sum = _mm_cvtsi128_si32(s4);
    // packs interleave 128-bit lanes; the permute restores element order
    const __m256i p16a = _mm256_packs_epi32(qi[0], qi[1]);
    const __m256i p16b = _mm256_packs_epi32(qi[2], qi[3]);
    const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    const __m256i ord = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb), ord);
#else
    int32_t sum = 0;
    for (int64_t j = 0; j < kBlock; ++j) {
      const int32_t r = static_cast<int32_t>(std::nearbyint(xb[j] * id));
      qb[j] = static_cast<int8_t>(r);
      sum += r;
    }
#endif
    d[b] = db;
    s[b] = db * static_cast<float>(sum);
    if (qs != nullptr) qs[b] = sum;
  }
}

#ifdef AK_AVX2
using Acc = __m256;
using WBlk = __m256i;
inline Acc acc_zero() { return _mm256_setzero_ps(); }
inline float acc_sum(Acc v) { return hsum8(v); }
// Weight block as 32 bytes in element order: q8_0 keeps |q| (the sign moves to
// x), q4 spreads the low nibbles to bytes 0..15 and the high ones to 16..31.
template <QFormat FMT>
inline WBlk load_w(const uint8_t* qs, WBlk* sign) {
  if constexpr (FMT == F::Q8_0) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
    *sign = w;
    return _mm256_sign_epi8(w, w);
  } else {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m256i v = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
  }
}
// acc += (8 int32 partials of <w, x>) * scale.
template <QFormat FMT>
inline Acc dot_block(WBlk w, WBlk sign, const int8_t* xq, float scale, Acc acc) {
  __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
  if constexpr (FMT == F::Q8_0) x = _mm256_sign_epi8(x, sign);
#ifdef AK_VNNI
  const __m256i p32 = dpbusd(_mm256_setzero_si256(), w, x);  // the same 8 exact int32 partials
#else
  const __m256i p16 = _mm256_maddubs_epi16(w, x);
  const __m256i p32 = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
#endif
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), _mm256_set1_ps(scale), acc);
}
#else
struct Acc {
  float v[8];
};
struct WBlk {
  int32_t v[32];
};
inline Acc acc_zero() { return Acc{}; }
inline float acc_sum(Acc a) {
  float s[4];
  for (int i = 0; i < 4; ++i) s[i] = a.v[i] + a.v[i + 4];
  float x = s[0] + s[2], y = s[1] + s[3];
  return x + y;
}
template <QFormat FMT>
inline WBlk load_w(const uint8_t* qs, WBlk* /*sign*/) {
  WBlk w;
  for (int j = 0; j < 32; ++j) {
    if constexpr (FMT == F::Q8_0) {
      w.v[j] = static_cast<int8_t>(qs[j]);
    } else {
      w.v[j] = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
    }
  }
  return w;
}
template <QFormat FMT>
inline Acc dot_block(const WBlk& w, const WBlk& /*sign*/, const int8_t* xq, float scale, Acc acc) {
  for (int i = 0; i < 8; ++i) {
    int32_t p = 0;
    for (int j = 4 * i; j < 4 * i + 4; ++j) p += w.v[j] * xq[j];
    acc.v[i] = fma_s(static_cast<float>(p), scale, acc.v[i]);
  }
  return acc;
}
#endif

// TT quantized activation rows (stride K bytes / nb scales) against NN
// consecutive weight rows. Every (t, n) pair has its own two accumulators
// (vector lanes, offset sum), so the tile shape changes only how many
// independent dependency chains run side by side, never an element's math.
template <QFormat FMT, int TT, int NN>
void qtile_i8(const uint8_t* row, int64_t nb, const int8_t* xq, const float* xd,
              const float* xs, int64_t K, float* out, int64_t ldo) {
  constexpr int64_t kBytes = block_bytes(FMT);
  constexpr int64_t kOff = scale_bytes(FMT);
  const int64_t stride = nb * kBytes;
  Acc acc[NN][TT];
  float macc[NN][TT];
  for (int j = 0; j < NN; ++j)
    for (int t = 0; t < TT; ++t) acc[j][t] = acc_zero(), macc[j][t] = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    for (int j = 0; j < NN; ++j) {
      const uint8_t* blk = row + j * stride + b * kBytes;
#ifdef AK_AVX2
      // Four tiles ahead on the weight stream: the matrices stream from DRAM
      // once per token and the hardware prefetcher alone lags behind.
      _mm_prefetch(reinterpret_cast<const char*>(blk + 4 * NN * stride), _MM_HINT_T0);
#endif
      WBlk sign;
      const WBlk w = load_w<FMT>(blk + kOff, &sign);
      const float dw = half_at(blk);
      for (int t = 0; t < TT; ++t) {
        acc[j][t] = dot_block<FMT>(w, sign, xq + t * K + b * kBlock, dw * xd[t * nb + b],
                                   acc[j][t]);
      }
      if constexpr (FMT != F::Q8_0) {
        const float m = FMT == F::Q4_1 ? half_at(blk + 2) : -8.0f * dw;
        for (int t = 0; t < TT; ++t) macc[j][t] = fma_s(m, xs[t * nb + b], macc[j][t]);
      }
    }
  }
  for (int j = 0; j < NN; ++j)
    for (int t = 0; t < TT; ++t) out[t * ldo + j] = acc_sum(acc[j][t]) + macc[j][t];
}

struct ActQ {
  const int8_t* q;
  const float* d;
  const float* s;
};

// Rows t..t+TT of the activations against weight rows [n, n1): NN at a time,
// then the rest one by one.
template <QFormat FMT, int TT, int NN>
void span_i8(const uint8_t* wq, ActQ a, int64_t t, int64_t n, int64_t n1, int64_t N, int64_t K,
             float* out) {
  constexpr int64_t kBytes = block_bytes(FMT);
  const int64_t nb = K / kBlock;
  const int8_t* q = a.q + t * K;
  const float* d = a.d + t * nb;
  const float* s = a.s + t * nb;
  float* o = out + t * N;
  for (; n + NN <= n1; n += NN) qtile_i8<FMT, TT, NN>(wq + n * nb * kBytes, nb, q, d, s, K, o + n, N);
  for (; n < n1; ++n) qtile_i8<FMT, TT, 1>(wq + n * nb * kBytes, nb, q, d, s, K, o + n, N);
}

template <QFormat FMT>
void run_i8(const uint8_t* wq, ActQ a, int64_t T, int64_t N, int64_t K, float* out) {
  const int64_t grain = std::max<int64_t>(4, 32768 / std::max<int64_t>(1, T * K));
  constexpr int64_t kCols = 16;  // weight rows per pass over a tile of activation rows
  at::parallel_for(0, N, grain, [&](int64_t n0, int64_t n1) {
    for (int64_t c0 = n0; c0 < n1; c0 += kCols) {
      const int64_t c1 = std::min(n1, c0 + kCols);
      for (int64_t t = 0; t < T; t += kTile) {
        switch (std::min(kTile, T - t)) {
          case 1: span_i8<FMT, 1, 4>(wq, a, t, c0, c1, N, K, out); break;
          case 2: span_i8<FMT, 2, 2>(wq, a, t, c0, c1, N, K, out); break;
          case 3: span_i8<FMT, 3, 1>(wq, a, t, c0, c1, N, K, out); break;
          case 4: span_i8<FMT, 4, 1>(wq, a, t, c0, c1, N, K, out); break;
          case 5: span_i8<FMT, 5, 1>(wq, a, t, c0, c1, N, K, out); break;
          case 6: span_i8<FMT, 6, 1>(wq, a, t, c0, c1, N, K, out); break;
          case 7: span_i8<FMT, 7, 1>(wq, a, t, c0, c1, N, K, out); break;
          default: span_i8<FMT, 8, 1>(wq, a, t, c0, c1, N, K, out); break;
        }
      }
    }
  });
}

void check_x(const at::Tensor& x, int64_t K) {
  TORCH_CHECK_VALUE(x.dim() == 2 && x.size(1) == K, "linear_i8: x must be (T, ", K, "), got ",
                    x.sizes());
  TORCH_CHECK_VALUE(x.scalar_type() == at::kFloat, "linear_i8: x must be float32");
  TORCH_CHECK_VALUE(K % kBlock == 0, "linear_i8: K=", K, " not a multiple of 32");
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> quantize_act(const at::Tensor& x_in) {
  TORCH_CHECK_VALUE(x_in.dim() == 2, "quantize_act: x must be (T, K)");
  check_x(x_in, x_in.size(1));
  const at::Tensor x = x_in.contiguous();
  const int64_t T = x.size(0), K = x.size(1), nb = K / kBlock;
  at::Tensor q = at::empty({T, K}, x.options().dtype(at::kChar));
  at::Tensor d = at::empty({T, nb}, x.options());
  at::Tensor s = at::empty({T, nb}, x.options());
  for (int64_t t = 0; t < T; ++t) {
    quantize_row(x.data_ptr<float>() + t * K, nb, q.data_ptr<int8_t>() + t * K,
                 d.data_ptr<float>() + t * nb, s.data_ptr<float>() + t * nb, nullptr);
  }
  return {q, d, s};
}

at::Tensor linear_i8(const at::Tensor& x_in, const at::Tensor& w, int64_t code, int64_t N,
                     int64_t K) {
  check_x(x_in, K);
  const QFormat fmt = format_of(code, "linear_i8");
  TORCH_CHECK_VALUE(quantized(fmt), "linear_i8: format code ", code, " is not quantized");
  TORCH_CHECK_VALUE(w.is_contiguous() && w.numel() * w.element_size() == N * row_bytes(fmt, K),
                    "linear_i8: weight storage does not match shape (", N, ", ", K, ")");
  const at::Tensor x = x_in.contiguous();
  const int64_t T = x.size(0);
  at::Tensor out = at::empty({T, N}, x.options());
  if (T == 0 || N == 0) return out;
  const QRows r = quantize_to_scratch(x.data_ptr<float>(), T, K);
  const ActQ a{r.q, r.d, r.s};
  const auto* wq = static_cast<const uint8_t*>(w.data_ptr());
  float* o = out.data_ptr<float>();
  if (fmt == F::Q8_0) run_i8<F::Q8_0>(wq, a, T, N, K, o);
  if (fmt == F::Q4_0) run_i8<F::Q4_0>(wq, a, T, N, K, o);
  if (fmt == F::Q4_1) run_i8<F::Q4_1>(wq, a, T, N, K, o);
  return out;
}

QRows quantize_to_scratch(const float* x, int64_t T, int64_t K) {
  thread_local std::vector<int8_t> q;
  thread_local std::vector<float> ds;
  thread_local std::vector<int32_t> sums;
  const int64_t nb = K / kBlock;
  q.resize(static_cast<size_t>(T * K));
  ds.resize(static_cast<size_t>(2 * T * nb));
  sums.resize(static_cast<size_t>(T * nb));
  float* d = ds.data();
  float* s = ds.data() + T * nb;
  int32_t* qs = sums.data();
  for (int64_t t = 0; t < T; ++t)
    quantize_row(x + t * K, nb, q.data() + t * K, d + t * nb, s + t * nb, qs + t * nb);
  return {q.data(), d, s, qs};
}

std::string simd_path() { return AK_PATH; }

bool simd_avx2() {
#ifdef AK_AVX2
  return true;
#else
  return false;
#endif
}

}  // namespace ak
