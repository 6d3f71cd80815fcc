// Row-wise operations: RMSNorm, RoPE, SwiGLU and slotted attention.
//
// Each output row is produced by one thread with a fixed instruction
// sequence; threads only ever split *between* rows (or heads), never inside a
// reduction, so results are bit-identical whatever T and the thread count are.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <tuple>

#include <cmath>
#include <vector>

#include "_simd.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define AK_AVX2 1
#endif

namespace ak {

namespace {

constexpr int64_t kSerialWork = 1 << 15;  // below this many elements, threads cost more than they save

// KV-cache elements are fp32 or fp16 (half the bytes a decode step reads at a
// long context); either is widened to fp32 on load, so the arithmetic after
// the load is the same for both.
inline float widen(float x) { return x; }
inline float widen(c10::Half x) { return static_cast<float>(x); }
#ifdef AK_AVX2
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const c10::Half* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
#endif

// Dot product with a fixed reduction order (8 lanes, then a fixed tree).
template <typename E>
float dot(const float* a, const E* b, int64_t n) {
  int64_t i = 0;
  float s = 0.0f;
#ifdef AK_AVX2
  __m256 acc = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load8(b + i), acc);
  s = hsum8(acc);
#endif
  for (; i < n; ++i) s += a[i] * widen(b[i]);
  return s;
}

// acc[0:n] += a * v[0:n]
template <typename E>
void axpy(float a, const E* v, float* acc, int64_t n) {
  int64_t i = 0;
#ifdef AK_AVX2
  const __m256 av = _mm256_set1_ps(a);
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(av, load8(v + i), _mm256_loadu_ps(acc + i)));
#endif
  for (; i < n; ++i) acc[i] += a * widen(v[i]);
}

#ifdef AK_AVX2
// exp for 8 lanes (Cephes polynomial, ~1 ulp): range-reduce by ln 2, then 2^n.
__m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  for (float c : {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f})
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(c));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}
#endif

// out[i] = silu(g[i]) * u[i] for one row.
void silu_mul_row(const float* g, const float* u, float* out, int64_t n) {
  int64_t i = 0;
#ifdef AK_AVX2
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    const __m256 gv = _mm256_loadu_ps(g + i);
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), gv));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(gv, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
  }
#endif
  for (; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

template <typename F>
void for_rows(int64_t rows, int64_t row_elems, const F& f) {
  if (rows * row_elems < kSerialWork) {
    f(0, rows);
  } else {
    at::parallel_for(0, rows, std::max<int64_t>(1, kSerialWork / std::max<int64_t>(1, row_elems)), f);
  }
}

// One query row against keys/values 0..n-1 (row j at k + j * s2): softmax(q·k * scale) @ v.
// Portable version: one key at a time.
template <typename E>
void attend_row_scalar(const float* q, const E* k, const E* v, int64_t s2, int64_t n,
                       int64_t D, float scale, float* sc, float* o) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) mx = std::max(mx, sc[j] = dot(q, k + j * s2, D) * scale);
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) sum += (sc[j] = std::exp(sc[j] - mx));
  std::fill(o, o + D, 0.0f);
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < n; ++j) axpy(sc[j] * inv, v + j * s2, o, D);
}

#ifdef AK_AVX2

// Score of one key: the same lane-wise FMA chain over D and the same
// horizontal sum whether the key is scored alone or four at a time.
template <int64_t NV, typename E>
void scores4(const __m256* qv, const E* k, int64_t s2, float scale, float* sc) {
  __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < NV; ++i)
    for (int r = 0; r < 4; ++r) a[r] = _mm256_fmadd_ps(qv[i], load8(k + r * s2 + 8 * i), a[r]);
  for (int r = 0; r < 4; ++r) sc[r] = hsum8(a[r]) * scale;
}

template <int64_t NV, typename E>
float score1(const __m256* qv, const E* k) {
  __m256 a = _mm256_setzero_ps();
  for (int64_t i = 0; i < NV; ++i) a = _mm256_fmadd_ps(qv[i], load8(k + 8 * i), a);
  return hsum8(a);
}

// AVX2 version for D = 8 * NV: four keys' dot products in flight, vector exp,
// the output row kept in registers. `sc` holds n rounded up to 8 floats.
template <int64_t NV, typename E>
void attend_row_avx2(const float* q, const E* k, const E* v, int64_t s2, int64_t n,
                     float scale, float* sc, float* o) {
  __m256 qv[NV];
  for (int64_t i = 0; i < NV; ++i) qv[i] = _mm256_loadu_ps(q + 8 * i);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) scores4<NV, E>(qv, k + j * s2, s2, scale, sc + j);
  for (; j < n; ++j) sc[j] = score1<NV, E>(qv, k + j * s2) * scale;
  float mx = -INFINITY;
  for (j = 0; j < n; ++j) mx = std::max(mx, sc[j]);
  const int64_t n8 = (n + 7) / 8 * 8;
  std::fill(sc + n, sc + n8, mx);  // padding lanes: computed, then masked out of the sum
  const __m256 mxv = _mm256_set1_ps(mx);
  __m256 sumv = _mm256_setzero_ps();
  for (j = 0; j < n8; j += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(sc + j), mxv));
    _mm256_storeu_ps(sc + j, e);
    const __m256i lane = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(j)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256 live = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lane));
    sumv = _mm256_add_ps(sumv, _mm256_and_ps(e, live));
  }
  __m256 acc[NV];
  for (int64_t i = 0; i < NV; ++i) acc[i] = _mm256_setzero_ps();
  for (j = 0; j < n; ++j) {
    const __m256 p = _mm256_set1_ps(sc[j]);
    const E* vr = v + j * s2;
    for (int64_t i = 0; i < NV; ++i) acc[i] = _mm256_fmadd_ps(p, load8(vr + 8 * i), acc[i]);
  }
  const __m256 inv = _mm256_set1_ps(1.0f / hsum8(sumv));
  for (int64_t i = 0; i < NV; ++i) _mm256_storeu_ps(o + 8 * i, _mm256_mul_ps(acc[i], inv));
}
#endif

template <typename E>
void attend_row(const float* q, const E* k, const E* v, int64_t s2, int64_t n, int64_t D,
                float scale, float* sc, float* o) {
#ifdef AK_AVX2
  switch (D) {
    case 64: return attend_row_avx2<8, E>(q, k, v, s2, n, scale, sc, o);
    case 128: return attend_row_avx2<16, E>(q, k, v, s2, n, scale, sc, o);
    case 32: return attend_row_avx2<4, E>(q, k, v, s2, n, scale, sc, o);
    case 96: return attend_row_avx2<12, E>(q, k, v, s2, n, scale, sc, o);
    default: break;
  }
#endif
  attend_row_scalar<E>(q, k, v, s2, n, D, scale, sc, o);
}

void check_cpu_f32(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.device().is_cpu() && t.scalar_type() == at::kFloat, name,
                    " must be a float32 CPU tensor");
}

}  // namespace

at::Tensor rms_norm(const at::Tensor& x_in, const at::Tensor& w_in, double eps) {
  check_cpu_f32(x_in, "rms_norm: x");
  check_cpu_f32(w_in, "rms_norm: weight");
  TORCH_CHECK_VALUE(x_in.dim() >= 1 && w_in.dim() == 1 && w_in.size(0) == x_in.size(-1),
                    "rms_norm: weight must be (D,) matching x's last dim, got x ", x_in.sizes(),
                    " weight ", w_in.sizes());
  at::Tensor x = x_in.contiguous(), w = w_in.contiguous();
  at::Tensor out = at::empty_like(x);
  const int64_t D = x.size(-1), rows = D ? x.numel() / D : 0;
  const float* xp = x.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const float feps = static_cast<float>(eps);
  for_rows(rows, D, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = xp + r * D;
      const float inv = 1.0f / std::sqrt(dot(xr, xr, D) / static_cast<float>(D) + feps);
      for (int64_t i = 0; i < D; ++i) op[r * D + i] = (xr[i] * inv) * wp[i];
    }
  });
  return out;
}

at::Tensor rope(const at::Tensor& x_in, const at::Tensor& cos_in, const at::Tensor& sin_in) {
  check_cpu_f32(x_in, "rope: x");
  check_cpu_f32(cos_in, "rope: cos");
  check_cpu_f32(sin_in, "rope: sin");
  TORCH_CHECK_VALUE(x_in.dim() == 3 && x_in.size(2) % 2 == 0, "rope: x must be (T, H, D) with even D, got ",
                    x_in.sizes());
  const int64_t T = x_in.size(0), H = x_in.size(1), D = x_in.size(2), half = D / 2;
  TORCH_CHECK_VALUE(cos_in.sizes() == sin_in.sizes() && cos_in.dim() == 2 && cos_in.size(0) == T &&
                        cos_in.size(1) == half,
                    "rope: cos and sin must be (T, D/2) = (", T, ", ", half, "), got ", cos_in.sizes(),
                    " and ", sin_in.sizes());
  at::Tensor x = x_in.contiguous(), c = cos_in.contiguous(), s = sin_in.contiguous();
  at::Tensor out = at::empty_like(x);
  const float *xp = x.data_ptr<float>(), *cp = c.data_ptr<float>(), *sp = s.data_ptr<float>();
  float* op = out.data_ptr<float>();
  for_rows(T * H, D, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* cr = cp + (r / H) * half;
      const float* sr = sp + (r / H) * half;
      const float* x1 = xp + r * D;
      const float* x2 = x1 + half;
      float* o = op + r * D;
      for (int64_t i = 0; i < half; ++i) {
        o[i] = x1[i] * cr[i] - x2[i] * sr[i];
        o[i + half] = x2[i] * cr[i] + x1[i] * sr[i];
      }
    }
  });
  return out;
}

at::Tensor silu_mul(const at::Tensor& gu_in) {
  check_cpu_f32(gu_in, "silu_mul: gate_up");
  TORCH_CHECK_VALUE(gu_in.dim() == 2 && gu_in.size(1) % 2 == 0,
                    "silu_mul: gate_up must be (T, 2F), got ", gu_in.sizes());
  at::Tensor gu = gu_in.contiguous();
  const int64_t T = gu.size(0), F = gu.size(1) / 2;
  at::Tensor out = at::empty({T, F}, gu.options());
  const float* gp = gu.data_ptr<float>();
  float* op = out.data_ptr<float>();
  for_rows(T, F, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* g = gp + r * 2 * F;
      silu_mul_row(g, g + F, op + r * F, F);
    }
  });
  return out;
}

namespace {

// Every (row, head) of q against its slot's keys/values (E = float or c10::Half).
template <typename E>
void attend_all(const at::Tensor& q, const at::Tensor& kc, const at::Tensor& vc, const int64_t* sp,
                const int64_t* pp, at::Tensor& out) {
  const int64_t T = q.size(0), H = q.size(1), D = q.size(2), Hkv = kc.size(1);
  const float* qp = q.data_ptr<float>();
  const E* kp = kc.data_ptr<E>();
  const E* vp = vc.data_ptr<E>();
  float* op = out.data_ptr<float>();
  const int64_t s0 = kc.stride(0), s1 = kc.stride(1), s2 = kc.stride(2), group = H / Hkv;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  int64_t keys = 0;
  for (int64_t t = 0; t < T; ++t) keys += pp[t] + 1;
  // Waking a second thread costs more than a short decode step's attention.
  const int64_t grain = keys * H * D < 8 * kSerialWork ? T * H : 1;
  at::parallel_for(0, T * H, grain, [&](int64_t i0, int64_t i1) {
    thread_local std::vector<float> sc;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t = i / H, h = i % H, n = pp[t] + 1;
      const int64_t base = sp[t] * s0 + (h / group) * s1;
      sc.resize(static_cast<size_t>((n + 7) / 8 * 8));
      attend_row<E>(qp + i * D, kp + base, vp + base, s2, n, D, scale, sc.data(), op + i * D);
    }
  });
}

}  // namespace

at::Tensor attention(const at::Tensor& q_in, const at::Tensor& kc, const at::Tensor& vc,
                     const at::Tensor& slots_in, const at::Tensor& pos_in) {
  check_cpu_f32(q_in, "attention: q");
  TORCH_CHECK_VALUE(kc.device().is_cpu() && vc.device().is_cpu() && kc.scalar_type() == vc.scalar_type() &&
                        (kc.scalar_type() == at::kFloat || kc.scalar_type() == at::kHalf),
                    "attention: caches must be CPU float32 or float16 of one dtype, got ",
                    kc.scalar_type(), " and ", vc.scalar_type());
  TORCH_CHECK_VALUE(q_in.dim() == 3 && kc.dim() == 4 && kc.sizes() == vc.sizes() &&
                        kc.size(3) == q_in.size(2),
                    "attention: need q (T, H, D) and caches (S, Hkv, L, D), got ", q_in.sizes(),
                    ", ", kc.sizes(), ", ", vc.sizes());
  const int64_t T = q_in.size(0), H = q_in.size(1);
  const int64_t S = kc.size(0), Hkv = kc.size(1), L = kc.size(2);
  TORCH_CHECK_VALUE(Hkv > 0 && H % Hkv == 0, "attention: H=", H, " not a multiple of Hkv=", Hkv);
  TORCH_CHECK_VALUE(kc.stride(3) == 1 && vc.stride(3) == 1 && kc.strides() == vc.strides(),
                    "attention: caches must be unit-stride in D with equal strides");
  at::Tensor slots = slots_in.to(at::kLong).contiguous(), pos = pos_in.to(at::kLong).contiguous();
  TORCH_CHECK_VALUE(slots.numel() == T && pos.numel() == T,
                    "attention: slots and positions must have T=", T, " entries");
  const int64_t* sp = slots.data_ptr<int64_t>();
  const int64_t* pp = pos.data_ptr<int64_t>();
  for (int64_t t = 0; t < T; ++t) {
    TORCH_CHECK_VALUE(sp[t] >= 0 && sp[t] < S && pp[t] >= 0 && pp[t] < L, "attention: row ", t,
                      " has slot ", sp[t], " / position ", pp[t], " outside the cache (", S, ", ", L, ")");
  }
  const at::Tensor q = q_in.contiguous();
  at::Tensor out = at::empty_like(q);
  if (kc.scalar_type() == at::kHalf) {
    attend_all<c10::Half>(q, kc, vc, sp, pp, out);
  } else {
    attend_all<float>(q, kc, vc, sp, pp, out);
  }
  return out;
}

// Greedy choice over one row of logits: (first index of the maximum,
// log-softmax at it). Single-threaded on purpose: 49k logits take ~20 us here,
// while torch's argmax + logsumexp took 0.25-0.7 ms a token (and woke the pool).
std::tuple<int64_t, double> greedy_pick(const at::Tensor& logits_in) {
  check_cpu_f32(logits_in, "greedy_pick: logits");
  TORCH_CHECK_VALUE(logits_in.dim() == 1 && logits_in.numel() > 0, "greedy_pick: logits must be (V,)");
  const at::Tensor logits = logits_in.contiguous();
  const float* x = logits.data_ptr<float>();
  const int64_t n = logits.numel();
  int64_t i = 0;
  float mx = -INFINITY;
#ifdef AK_AVX2
  __m256 mv = _mm256_set1_ps(-INFINITY);
  for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
  float lanes[8];
  _mm256_storeu_ps(lanes, mv);
  for (float v : lanes) mx = std::max(mx, v);
#endif
  for (; i < n; ++i) mx = std::max(mx, x[i]);
  int64_t arg = 0;
  while (arg < n && !(x[arg] == mx)) ++arg;
  TORCH_CHECK_VALUE(arg < n && std::isfinite(mx), "greedy_pick: no finite maximum");
  double sum = 0.0;
  i = 0;
#ifdef AK_AVX2
  __m256 acc = _mm256_setzero_ps();
  const __m256 mxv = _mm256_set1_ps(mx);
  for (; i + 8 <= n; i += 8) acc = _mm256_add_ps(acc, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mxv)));
  sum = hsum8(acc);
#endif
  for (; i < n; ++i) sum += std::exp(static_cast<double>(x[i] - mx));
  return {arg, -std::log(sum)};
}

}  // namespace ak
