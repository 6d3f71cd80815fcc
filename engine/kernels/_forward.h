// ForwardPlan: the model's weights held once, and its ragged forward in C++.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

#include "_formats.h"

namespace ak {

// The model's sizes as the plan checks and uses them (engine.ModelConfig's names).
struct PlanConfig {
  int64_t vocab_size = 0, dim = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, hidden_dim = 0;
  double norm_eps = 0.0;
};

// A weight matrix (N, K) in format `fmt` (`_formats.h`): fp32 data or raw GGUF blocks,
// plus, when defined, the blocks interleaved 8 rows at a time for `linear_x8`.
struct PlanWeight {
  QFormat fmt = QFormat::F32;
  int64_t N = 0, K = 0;
  at::Tensor data;
  at::Tensor packed;  // undefined when none
};

// One transformer block's weights.
struct PlanLayer {
  at::Tensor attn_norm;  // (D,)
  PlanWeight wqkv;       // ((H + 2Hkv)·Dh, D), rows [q | k | v]
  at::Tensor bqkv;       // ((H + 2Hkv)·Dh,) or undefined
  PlanWeight wo;         // (D, H·Dh)
  at::Tensor ffn_norm;   // (D,)
  PlanWeight gate_up;    // (2F, D), rows [gate | up]
  PlanWeight down;       // (D, F)
};

class ForwardPlan {
 public:
  // cos, sin: the rope tables (L, Dh/2); embed (V, D); norm (D,); head (any, D).
  // Every size, format and storage size is checked against `config`
  // (c10::ValueError, a Python ValueError): the kernels size their reads and
  // writes from them, so a mismatch would read or write out of bounds.
  ForwardPlan(PlanConfig config, at::Tensor cos, at::Tensor sin, PlanWeight embed, at::Tensor norm,
              PlanWeight head, std::vector<PlanLayer> layers);

  // Rows (tokens, slots, positions) (T,) -> logits (T, V); writes K/V into the
  // caches (layers, S, Hkv, L, Dh) at each row's (slot, position). With
  // logit_rows (R,) int64, only those rows go through the head: (R, V).
  at::Tensor forward(const at::Tensor& tokens, const at::Tensor& slots, const at::Tensor& positions,
                     const at::Tensor& k_cache, const at::Tensor& v_cache, bool act_quant,
                     const std::optional<at::Tensor>& logit_rows) const;

 private:
  at::Tensor mm(const at::Tensor& x, const PlanWeight& w, bool act_quant) const;
  at::Tensor embed(const at::Tensor& tokens) const;
  void write_cache(const at::Tensor& kv, int64_t offset, at::Tensor& cache_layer, const int64_t* sp,
                   const int64_t* pp, int64_t T) const;

  int64_t V_ = 0, D_ = 0, H_ = 0, Hkv_ = 0, Dh_ = 0, F_ = 0;
  double eps_;
  at::Tensor cos_, sin_, norm_;
  PlanWeight embed_, head_;
  std::vector<PlanLayer> layers_;
};

}  // namespace ak
