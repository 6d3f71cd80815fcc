// The whole ragged forward pass in one C++ call (`ForwardPlan`).
//
// Python's per-op cost (~5 us a call through pybind and the dispatcher, ~12
// calls a layer, 30 layers) was a quarter of a decode step. The plan holds the
// weights once and runs the same kernels as `engine.model.Transformer.forward`
// in the same order -- rms_norm, linear / linear_i8, rope, cache write,
// attention, silu_mul, residual adds -- so its logits are bit-identical to the
// Python loop's (tested), and row invariance carries over unchanged.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/index_select.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Half.h>

#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "_forward.h"
#include "_simd.h"

namespace ak {

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, int64_t fmt, int64_t N, int64_t K);
at::Tensor linear_i8(const at::Tensor& x, const at::Tensor& w, int64_t fmt, int64_t N, int64_t K);
at::Tensor linear_x8(const at::Tensor& x, const at::Tensor& w, int64_t fmt, int64_t N, int64_t K);
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
at::Tensor silu_mul(const at::Tensor& gate_up);
at::Tensor attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                     const at::Tensor& slots, const at::Tensor& positions);

namespace {

using F = QFormat;
constexpr int64_t kBlock = kQBlock;

// One row of an (N, K) weight expanded to fp32, with the arithmetic of
// `QWeight.dequantize` (q*d, (q-8)*d, q*d + m: unfused, as torch computes it).
void dequant_row(const PlanWeight& w, int64_t n, float* out) {
  const int64_t K = w.K;
  if (w.fmt == F::F32) {
    std::memcpy(out, w.data.data_ptr<float>() + n * K, K * sizeof(float));
    return;
  }
  const int64_t bytes = block_bytes(w.fmt);
  const auto* row = static_cast<const uint8_t*>(w.data.data_ptr()) + n * row_bytes(w.fmt, K);
  for (int64_t b = 0; b < K / kBlock; ++b) {
    const uint8_t* blk = row + b * bytes;
    float* o = out + b * kBlock;
    const float d = half_at(blk);
    if (w.fmt == F::Q8_0) {
      for (int64_t j = 0; j < kBlock; ++j) o[j] = static_cast<float>(static_cast<int8_t>(blk[2 + j])) * d;
      continue;
    }
    const uint8_t* qs = blk + scale_bytes(w.fmt);
    const float m = w.fmt == F::Q4_1 ? half_at(blk + 2) : 0.0f;
    for (int64_t j = 0; j < kBlock; ++j) {
      const float q = static_cast<float>(j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4));
      if (w.fmt == F::Q4_0) {
        o[j] = (q - 8.0f) * d;
      } else {
        const float qd = q * d;  // separate statement: never fused into an fma
        o[j] = qd + m;
      }
    }
  }
}

// `w` checked, its interleaved copy made contiguous. Every kernel trusts (fmt, N, K)
// to size its reads, so the storage must hold exactly that.
PlanWeight checked(PlanWeight w, const std::string& what) {
  const int64_t N = w.N, K = w.K;
  const char* fmt = info(w.fmt).name;
  TORCH_CHECK_VALUE(N > 0 && K > 0 && (!quantized(w.fmt) || K % kBlock == 0),
                    "ForwardPlan: ", what, " has format ", fmt, " and shape (", N, ", ", K, ")");
  const at::Tensor& data = w.data;
  TORCH_CHECK_VALUE(data.defined() && data.is_contiguous() && data.device().is_cpu(),
                    "ForwardPlan: weights must be contiguous CPU tensors");
  TORCH_CHECK_VALUE(data.scalar_type() == (quantized(w.fmt) ? at::kByte : at::kFloat) &&
                        data.numel() * data.element_size() == N * row_bytes(w.fmt, K),
                    "ForwardPlan: ", what, " storage (", data.numel() * data.element_size(),
                    " bytes) does not hold a (", N, ", ", K, ") weight of format ", fmt);
  if (!w.packed.defined()) return w;
  const at::Tensor& packed = w.packed;
  TORCH_CHECK_VALUE(quantized(w.fmt), "ForwardPlan: only quantized weights have an interleaved copy");
  TORCH_CHECK_VALUE(N % 8 == 0 && packed.scalar_type() == at::kByte && packed.numel() == N * row_bytes(w.fmt, K) &&
                        packed.device().is_cpu(),
                    "ForwardPlan: ", what, "'s interleaved copy does not match its (", N, ", ", K, ") blocks");
  w.packed = packed.contiguous();
  return w;
}

// A float32 CPU vector of n values (norm weights, biases).
void check_vector(const at::Tensor& t, int64_t n, const char* what, int64_t layer) {
  TORCH_CHECK_VALUE(t.defined() && t.device().is_cpu() && t.scalar_type() == at::kFloat && t.dim() == 1 &&
                        t.size(0) == n,
                    "ForwardPlan: ", what, " of layer ", layer, " must be a float32 vector of ", n,
                    " values, got ", t.defined() ? t.sizes() : at::IntArrayRef{});
}

}  // namespace

ForwardPlan::ForwardPlan(PlanConfig config, at::Tensor cos, at::Tensor sin, PlanWeight embed, at::Tensor norm,
                         PlanWeight head, std::vector<PlanLayer> layers)
    : eps_(config.norm_eps), cos_(std::move(cos)), sin_(std::move(sin)), norm_(std::move(norm)) {
  V_ = config.vocab_size, D_ = config.dim, H_ = config.n_heads, Hkv_ = config.n_kv_heads;
  Dh_ = config.head_dim, F_ = config.hidden_dim;
  const std::vector<int64_t> dims{V_, D_, H_, Hkv_, Dh_, F_};
  TORCH_CHECK_VALUE(V_ > 0 && D_ > 0 && H_ > 0 && Hkv_ > 0 && Dh_ > 0 && F_ > 0 && H_ % Hkv_ == 0 &&
                        Dh_ % 2 == 0,
                    "ForwardPlan: bad dims (V, D, H, Hkv, Dh, F) = ", at::IntArrayRef(dims));
  embed_ = checked(std::move(embed), "the embedding");
  head_ = checked(std::move(head), "the head");
  // the embedding fills (T, D) rows of x: any other width would write past them
  TORCH_CHECK_VALUE(embed_.N == V_ && embed_.K == D_ && head_.K == D_,
                    "ForwardPlan: embedding (", embed_.N, ", ", embed_.K, ") and head (", head_.N, ", ", head_.K,
                    ") do not match V=", V_, " D=", D_);
  check_vector(norm_, D_, "the final norm", -1);
  TORCH_CHECK_VALUE(cos_.dim() == 2 && cos_.size(1) == Dh_ / 2 && cos_.sizes() == sin_.sizes() &&
                        cos_.scalar_type() == at::kFloat && sin_.scalar_type() == at::kFloat,
                    "ForwardPlan: cos and sin must be float32 (L, Dh/2 = ", Dh_ / 2, "), got ", cos_.sizes(),
                    " and ", sin_.sizes());
  const int64_t qkv_n = (H_ + 2 * Hkv_) * Dh_;
  for (size_t li = 0; li < layers.size(); ++li) {
    const int64_t i = static_cast<int64_t>(li);
    PlanLayer& l = layers[li];
    const std::string prefix = "layer " + std::to_string(i) + " ";
    l.wqkv = checked(std::move(l.wqkv), prefix + "wqkv");
    l.wo = checked(std::move(l.wo), prefix + "wo");
    l.gate_up = checked(std::move(l.gate_up), prefix + "gate_up");
    l.down = checked(std::move(l.down), prefix + "down");
    TORCH_CHECK_VALUE(l.wqkv.N == qkv_n && l.wqkv.K == D_ && l.wo.N == D_ && l.wo.K == H_ * Dh_ &&
                          l.gate_up.N == 2 * F_ && l.gate_up.K == D_ && l.down.N == D_ && l.down.K == F_,
                      "ForwardPlan: layer ", i, " weight shapes do not match the dims");
    check_vector(l.attn_norm, D_, "attn_norm", i);
    check_vector(l.ffn_norm, D_, "ffn_norm", i);
    if (l.bqkv.defined() && l.bqkv.numel()) check_vector(l.bqkv, qkv_n, "bqkv", i);
  }
  layers_ = std::move(layers);
}

at::Tensor ForwardPlan::mm(const at::Tensor& x, const PlanWeight& w, bool act_quant) const {
  const auto code = static_cast<int64_t>(w.fmt);  // the kernels' entry points take Python's codes
  if (quantized(w.fmt) && act_quant) {
    if (w.packed.defined()) return linear_x8(x, w.packed, code, w.N, w.K);
    return linear_i8(x, w.data, code, w.N, w.K);
  }
  return linear(x, w.data, code, w.N, w.K);
}

at::Tensor ForwardPlan::embed(const at::Tensor& tokens) const {
  const int64_t T = tokens.size(0);
  at::Tensor x = at::empty({T, D_}, cos_.options());
  const int64_t* tp = tokens.data_ptr<int64_t>();
  for (int64_t t = 0; t < T; ++t) {
    TORCH_CHECK_INDEX(tp[t] >= 0 && tp[t] < V_, "forward: token ", tp[t], " outside the vocabulary of ", V_);
    dequant_row(embed_, tp[t], x.data_ptr<float>() + t * D_);
  }
  return x;
}

void ForwardPlan::write_cache(const at::Tensor& kv, int64_t offset, at::Tensor& cache_layer,
                              const int64_t* sp, const int64_t* pp, int64_t T) const {
  // kv: (T, (H + 2Hkv)·Dh) fused projection; heads at `offset`. cache_layer: (S, Hkv, L, Dh),
  // fp32 (copied) or fp16 (rounded to nearest even, as torch's .half() rounds).
  const int64_t row = kv.stride(0);
  const float* src = kv.data_ptr<float>() + offset;
  const int64_t s0 = cache_layer.stride(0), s1 = cache_layer.stride(1), s2 = cache_layer.stride(2);
  const auto each_head = [&](auto store) {
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < Hkv_; ++h) store(sp[t] * s0 + h * s1 + pp[t] * s2, src + t * row + h * Dh_);
  };
  if (cache_layer.scalar_type() == at::kHalf) {
    c10::Half* dst = cache_layer.data_ptr<c10::Half>();
    each_head([&](int64_t off, const float* from) {
      for (int64_t i = 0; i < Dh_; ++i) dst[off + i] = c10::Half(from[i]);
    });
  } else {
    float* dst = cache_layer.data_ptr<float>();
    each_head([&](int64_t off, const float* from) { std::memcpy(dst + off, from, Dh_ * sizeof(float)); });
  }
}

at::Tensor ForwardPlan::forward(const at::Tensor& tokens_in, const at::Tensor& slots_in,
                                const at::Tensor& positions_in, const at::Tensor& k_cache,
                                const at::Tensor& v_cache, bool act_quant,
                                const std::optional<at::Tensor>& logit_rows) const {
  c10::InferenceMode guard;
  const at::Tensor tokens = tokens_in.to(at::kLong).contiguous();
  const at::Tensor slots = slots_in.to(at::kLong).contiguous();
  const at::Tensor positions = positions_in.to(at::kLong).contiguous();
  const int64_t T = tokens.size(0);
  const int64_t n_layers = static_cast<int64_t>(layers_.size());
  TORCH_CHECK_VALUE(slots.size(0) == T && positions.size(0) == T,
                    "forward: tokens, slots and positions must have the same length");
  TORCH_CHECK_VALUE(k_cache.dim() == 5 && k_cache.size(0) == n_layers && k_cache.size(2) == Hkv_ &&
                        k_cache.size(4) == Dh_ && k_cache.sizes() == v_cache.sizes() &&
                        k_cache.is_contiguous() && v_cache.is_contiguous() &&
                        k_cache.scalar_type() == v_cache.scalar_type() &&
                        (k_cache.scalar_type() == at::kFloat || k_cache.scalar_type() == at::kHalf),
                    "forward: caches must be contiguous float32 or float16 (layers, S, Hkv, L, Dh), got ",
                    k_cache.sizes(), " ", k_cache.scalar_type());
  const int64_t* sp = slots.data_ptr<int64_t>();
  const int64_t* pp = positions.data_ptr<int64_t>();
  for (int64_t t = 0; t < T; ++t) {
    TORCH_CHECK_INDEX(sp[t] >= 0 && sp[t] < k_cache.size(1) && pp[t] >= 0 && pp[t] < k_cache.size(3) &&
                          pp[t] < cos_.size(0),
                      "forward: row ", t, " has slot ", sp[t], " / position ", pp[t], " outside the cache");
  }
  at::Tensor x = embed(tokens);  // (T, D)
  const at::Tensor cos = at::index_select(cos_, 0, positions);  // (T, Dh/2)
  const at::Tensor sin = at::index_select(sin_, 0, positions);
  const int64_t q_n = H_ * Dh_, kv_n = Hkv_ * Dh_;
  for (int64_t i = 0; i < n_layers; ++i) {
    const PlanLayer& lw = layers_[i];
    at::Tensor qkv = mm(rms_norm(x, lw.attn_norm, eps_), lw.wqkv, act_quant);  // (T, (H+2Hkv)·Dh)
    if (lw.bqkv.defined() && lw.bqkv.numel()) qkv.add_(lw.bqkv);
    const at::Tensor q = rope(qkv.narrow(1, 0, q_n).view({T, H_, Dh_}), cos, sin);
    const at::Tensor k = rope(qkv.narrow(1, q_n, kv_n).view({T, Hkv_, Dh_}), cos, sin);
    at::Tensor kc = k_cache.select(0, i), vc = v_cache.select(0, i);
    write_cache(k, 0, kc, sp, pp, T);
    write_cache(qkv, q_n + kv_n, vc, sp, pp, T);
    const at::Tensor a = attention(q, kc, vc, slots, positions);  // (T, H, Dh)
    x.add_(mm(a.view({T, q_n}), lw.wo, act_quant));
    const at::Tensor h = rms_norm(x, lw.ffn_norm, eps_);
    x.add_(mm(silu_mul(mm(h, lw.gate_up, act_quant)), lw.down, act_quant));
  }
  if (logit_rows.has_value()) {  // the head (a fifth of a row's work) only where logits are read
    const at::Tensor rows = logit_rows->to(at::kLong).contiguous();
    const int64_t* rp = rows.data_ptr<int64_t>();
    for (int64_t i = 0; i < rows.numel(); ++i)
      TORCH_CHECK_INDEX(rp[i] >= 0 && rp[i] < T, "forward: logit row ", rp[i], " outside 0..", T - 1);
    if (rows.numel() == 0) return at::empty({0, V_}, x.options());
    x = at::index_select(x, 0, rows);
  }
  return mm(rms_norm(x, norm_, eps_), head_, act_quant);  // (T or R, V)
}

}  // namespace ak
