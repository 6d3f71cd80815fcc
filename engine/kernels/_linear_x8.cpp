// Quantized weights repacked 8 rows interleaved x int8 activations.
//
// Why: with GGUF's row-major blocks every (activation row, weight block) pair
// costs ~8 instructions for 32 multiply-adds (load, maddubs, madd, convert,
// scale, FMA, offset FMA), so a 5-row verification step cost 1.9x a 1-row
// step (docs/row-cost.md). Interleaving 8 weight rows puts 8 output columns in
// one register: a broadcast 4-byte slice of the activation row meets 8 rows
// at once, the block's partial sums stay in integers, and the scales are
// applied once per block for 8 columns (llama.cpp's q4_0_8x8 idea, here for
// q4_0 / q4_1 / q8_0 and any tile of activation rows).
//
// Group-block layout (8 weight rows g*8..g*8+7, one block of 32 columns),
// groups outermost, then blocks (see engine/kernels/_pack.py):
//   q8_0: d[8] fp16 | 8 chunks c of (row r: bytes of elements 4c..4c+3)    16 + 256 B
//   q4_0: d[8] fp16 | 4 chunks p of (row r: 4 bytes; byte i holds element
//         4p+i in its low nibble, 16+4p+i in its high nibble)              16 + 128 B
//   q4_1: d[8] fp16 | m[8] fp16 | the same 4 nibble chunks                   32 + 128 B
//
// Math of output (t, n), the same for every tile shape and thread count:
//   p_b = <w_b, q_x,b> (exact int32), acc = fma(float(p_b), d_w * d_x, acc)
//   over blocks b in order; off = fma(m_w, s_x, off) over blocks in order
//   (q4_1; m = -8 d_w for q4_0; none for q8_0); out = acc + off.
// Nibble partial sums add in int16 first: |maddubs| <= 2*15*127 and 8 of them
// stay below 2^15. q8_0 uses the sign trick (|w| x sign(x, w)) and int32 sums.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "_actq.h"
#include "_simd.h"

namespace ak {

namespace {

using F = QFormat;
constexpr int64_t kBlock = kQBlock;
constexpr int kRows = 8;  // weight rows interleaved in a group
// Activation rows sharing one decoded group-block: 8 where EVEX gives 32
// vector registers (VNNI builds), else 4 (16 registers).
#ifdef AK_VNNI
constexpr int kTile = 8;
#else
constexpr int kTile = 4;
#endif

// A group-block: the same 8 rows' blocks, permuted (272 / 144 / 160 bytes).
constexpr int64_t group_bytes(QFormat fmt) { return kRows * block_bytes(fmt); }
// Where the quants start: after the 8 rows' scales (16, or 32 for q4_1's d and m).
constexpr int64_t quant_offset(QFormat fmt) { return kRows * scale_bytes(fmt); }
static_assert(group_bytes(F::Q8_0) == 272 && group_bytes(F::Q4_0) == 144 && group_bytes(F::Q4_1) == 160);
static_assert(quant_offset(F::Q4_0) == 16 && quant_offset(F::Q4_1) == 32);

struct ActQ {
  const int8_t* q;
  const float* d;
  const float* s;
  const int32_t* qsum;
  int64_t K, nb;
};

#ifdef AK_AVX2
inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// Integer dot products of one group-block with TT activation blocks: lane r of
// out[t] = <w_r, x_t> over the block's 32 elements (xsum[t]: the sum of x_t's
// 32 quants, used by the VNNI q8_0 path).
#ifdef AK_VNNI
template <QFormat FMT, int TT>
inline void block_dots(const uint8_t* qs, const int8_t* const* xb, const int32_t* xsum, __m256i* out) {
  // Two accumulators a row (even and odd chunks) halve the dependency chain
  // of vpdpbusd; integer sums are exact, so their order changes nothing.
  __m256i a0[TT], a1[TT];
  if constexpr (FMT == F::Q8_0) {
    // Signed weights as unsigned bytes w + 128 (one xor per chunk, shared by
    // the rows): <w + 128, x> - 128 * sum(x) = <w, x>, exactly. All 8 chunks
    // are decoded first (8 registers), then each row in turn, as for q4:
    // keeping every row's accumulators live across the chunks spilled.
    const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
    __m256i w[8];
    for (int c = 0; c < 8; ++c)
      w[c] = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c)), bias);
    for (int t = 0; t < TT; ++t) {
      const int8_t* x = xb[t];
      a0[t] = _mm256_setzero_si256();
      a1[t] = _mm256_setzero_si256();
      for (int c = 0; c < 8; c += 2) {
        a0[t] = dpbusd(a0[t], w[c], bcast4(x + 4 * c));
        a1[t] = dpbusd(a1[t], w[c + 1], bcast4(x + 4 * c + 4));
      }
      out[t] = _mm256_sub_epi32(_mm256_add_epi32(a0[t], a1[t]), _mm256_set1_epi32(128 * xsum[t]));
    }
  } else {
    for (int t = 0; t < TT; ++t) a0[t] = a1[t] = _mm256_setzero_si256();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i lo[4], hi[4];
    for (int p = 0; p < 4; ++p) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * p));
      lo[p] = _mm256_and_si256(raw, m4);
      hi[p] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
    }
    for (int t = 0; t < TT; ++t) {
      const int8_t* x = xb[t];
      for (int p = 0; p < 4; ++p) {
        a0[t] = dpbusd(a0[t], lo[p], bcast4(x + 4 * p));
        a1[t] = dpbusd(a1[t], hi[p], bcast4(x + 16 + 4 * p));
      }
      out[t] = _mm256_add_epi32(a0[t], a1[t]);
    }
  }
}
#else
template <QFormat FMT, int TT>
inline void block_dots(const uint8_t* qs, const int8_t* const* xb, const int32_t* /*xsum*/, __m256i* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  if constexpr (FMT == F::Q8_0) {
    __m256i s32[TT];
    for (int t = 0; t < TT; ++t) s32[t] = _mm256_setzero_si256();
    for (int c = 0; c < 8; ++c) {
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
      const __m256i aw = _mm256_sign_epi8(w, w);
      for (int t = 0; t < TT; ++t) {
        const __m256i x = _mm256_sign_epi8(bcast4(xb[t] + 4 * c), w);
        s32[t] = _mm256_add_epi32(s32[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, x), ones));
      }
    }
    for (int t = 0; t < TT; ++t) out[t] = s32[t];
  } else {
    // All 4 nibble chunks decoded once (8 registers), then each activation
    // row in turn with a short tree of int16 adds (exact, so the order is
    // free). Looping rows inside chunks instead let GCC hoist every maddubs
    // and spill: 1.2x slower at 16 rows.
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i lo[4], hi[4];
    for (int p = 0; p < 4; ++p) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * p));
      lo[p] = _mm256_and_si256(raw, m4);
      hi[p] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
    }
    for (int t = 0; t < TT; ++t) {
      const int8_t* x = xb[t];
      __m256i s[4];
      for (int p = 0; p < 4; ++p)
        s[p] = _mm256_add_epi16(_mm256_maddubs_epi16(lo[p], bcast4(x + 4 * p)),
                                _mm256_maddubs_epi16(hi[p], bcast4(x + 16 + 4 * p)));
      const __m256i sum = _mm256_add_epi16(_mm256_add_epi16(s[0], s[1]), _mm256_add_epi16(s[2], s[3]));
      out[t] = _mm256_madd_epi16(sum, ones);
    }
  }
}
#endif

// TT activation rows against one group of 8 weight rows -> out[t*ldo + 0..7].
template <QFormat FMT, int TT>
void group_tile(const uint8_t* g, ActQ a, int64_t t0, float* out, int64_t ldo) {
  constexpr int64_t GB = group_bytes(FMT);
  const int64_t nb = a.nb;
  __m256 acc[TT];
  const int8_t* xb[TT];
  int32_t xsum[TT];
  for (int t = 0; t < TT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = g + b * GB;
    _mm_prefetch(reinterpret_cast<const char*>(blk + 4 * GB), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(blk + 4 * GB + 64), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(blk + 4 * GB + 128), _MM_HINT_T0);
    if constexpr (FMT == F::Q8_0)
      _mm_prefetch(reinterpret_cast<const char*>(blk + 4 * GB + 192), _MM_HINT_T0);
    for (int t = 0; t < TT; ++t) {
      xb[t] = a.q + (t0 + t) * a.K + b * kBlock;
      xsum[t] = a.qsum[(t0 + t) * nb + b];
    }
    __m256i dots[TT];
    block_dots<FMT, TT>(blk + quant_offset(FMT), xb, xsum, dots);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
    for (int t = 0; t < TT; ++t) {
      const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(a.d[(t0 + t) * nb + b]));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots[t]), scale, acc[t]);
    }
  }
  if constexpr (FMT != F::Q8_0) {
    // Offsets in a second pass over the group's scales (L1-resident by now).
    __m256 off[TT];
    for (int t = 0; t < TT; ++t) off[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = g + b * GB;
      __m256 m;
      if constexpr (FMT == F::Q4_1) {
        m = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16)));
      } else {
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
        m = _mm256_mul_ps(dw, _mm256_set1_ps(-8.0f));
      }
      for (int t = 0; t < TT; ++t)
        off[t] = _mm256_fmadd_ps(m, _mm256_set1_ps(a.s[(t0 + t) * nb + b]), off[t]);
    }
    for (int t = 0; t < TT; ++t) acc[t] = _mm256_add_ps(acc[t], off[t]);
  }
  for (int t = 0; t < TT; ++t) _mm256_storeu_ps(out + t * ldo, acc[t]);
}
#else
// Portable path: the same integer dots and the same float operations, lane by lane.
template <QFormat FMT, int TT>
void group_tile(const uint8_t* g, ActQ a, int64_t t0, float* out, int64_t ldo) {
  constexpr int64_t GB = group_bytes(FMT);
  const int64_t nb = a.nb;
  for (int t = 0; t < TT; ++t) {
    for (int r = 0; r < kRows; ++r) {
      float acc = 0.0f, off = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = g + b * GB;
        const uint8_t* qs = blk + quant_offset(FMT);
        const int8_t* x = a.q + (t0 + t) * a.K + b * kBlock;
        int32_t p = 0;
        for (int j = 0; j < kBlock; ++j) {
          int32_t w;
          if constexpr (FMT == F::Q8_0) {
            w = static_cast<int8_t>(qs[32 * (j / 4) + 4 * r + j % 4]);
          } else {
            const int jj = j % 16;
            const uint8_t byte = qs[32 * (jj / 4) + 4 * r + jj % 4];
            w = j < 16 ? (byte & 0x0F) : (byte >> 4);
          }
          p += w * x[j];
        }
        const float dw = half_at(blk + 2 * r);
        const float scale = dw * a.d[(t0 + t) * nb + b];
        acc = fma_s(static_cast<float>(p), scale, acc);
        if constexpr (FMT != F::Q8_0) {
          const float m = FMT == F::Q4_1 ? half_at(blk + 16 + 2 * r) : dw * -8.0f;
          off = fma_s(m, a.s[(t0 + t) * nb + b], off);
        }
      }
      out[t * ldo + r] = acc + off;
    }
  }
}
#endif

template <QFormat FMT>
void run_x8(const uint8_t* w, ActQ a, int64_t T, int64_t N, float* out) {
  const int64_t groups = N / kRows;
  const int64_t gstride = a.nb * group_bytes(FMT);
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, T * a.K));
  at::parallel_for(0, groups, grain, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const uint8_t* gp = w + g * gstride;
      float* o = out + g * kRows;
      int64_t t = 0;
      for (; t + kTile <= T; t += kTile) group_tile<FMT, kTile>(gp, a, t, o + t * N, N);
      switch (T - t) {
#ifdef AK_VNNI
        case 7: group_tile<FMT, 7>(gp, a, t, o + t * N, N); break;
        case 6: group_tile<FMT, 6>(gp, a, t, o + t * N, N); break;
        case 5: group_tile<FMT, 5>(gp, a, t, o + t * N, N); break;
        case 4: group_tile<FMT, 4>(gp, a, t, o + t * N, N); break;
#endif
        case 3: group_tile<FMT, 3>(gp, a, t, o + t * N, N); break;
        case 2: group_tile<FMT, 2>(gp, a, t, o + t * N, N); break;
        case 1: group_tile<FMT, 1>(gp, a, t, o + t * N, N); break;
        default: break;
      }
    }
  });
}

}  // namespace

at::Tensor linear_x8(const at::Tensor& x_in, const at::Tensor& w, int64_t code, int64_t N,
                     int64_t K) {
  TORCH_CHECK_VALUE(x_in.dim() == 2 && x_in.size(1) == K && x_in.scalar_type() == at::kFloat,
                    "linear_x8: x must be float32 (T, ", K, "), got ", x_in.sizes());
  const QFormat fmt = format_of(code, "linear_x8");
  TORCH_CHECK_VALUE(quantized(fmt), "linear_x8: format code ", code, " is not quantized");
  TORCH_CHECK_VALUE(K % kBlock == 0 && N % kRows == 0, "linear_x8: need K % 32 == 0 and N % 8 == 0, got (",
                    N, ", ", K, ")");
  const int64_t nb = K / kBlock;
  TORCH_CHECK_VALUE(w.is_contiguous() && w.numel() * w.element_size() == N / kRows * nb * group_bytes(fmt),
                    "linear_x8: packed weight storage does not match shape (", N, ", ", K, ")");
  const at::Tensor x = x_in.contiguous();
  const int64_t T = x.size(0);
  at::Tensor out = at::empty({T, N}, x.options());
  if (T == 0 || N == 0) return out;
  const QRows r = quantize_to_scratch(x.data_ptr<float>(), T, K);
  const ActQ a{r.q, r.d, r.s, r.qsum, K, nb};
  const auto* wp = static_cast<const uint8_t*>(w.data_ptr());
  float* o = out.data_ptr<float>();
  if (fmt == F::Q8_0) run_x8<F::Q8_0>(wp, a, T, N, o);
  if (fmt == F::Q4_0) run_x8<F::Q4_0>(wp, a, T, N, o);
  if (fmt == F::Q4_1) run_x8<F::Q4_1>(wp, a, T, N, o);
  return out;
}

}  // namespace ak
