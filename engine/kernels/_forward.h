// ForwardPlan: the model's weights held once, and its ragged forward in C++.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

namespace ak {

// A weight matrix (N, K): fp32 data (fmt 0) or raw GGUF blocks (1 q8_0, 2 q4_0, 3 q4_1),
// plus, when non-empty, the blocks interleaved 8 rows at a time for `linear_x8`.
struct QW {
  at::Tensor data;
  int64_t fmt = 0, N = 0, K = 0;
  at::Tensor packed;
};

struct Layer {
  at::Tensor attn_norm;  // (D,)
  QW wqkv;               // ((H + 2Hkv)·Dh, D), rows [q | k | v]
  at::Tensor bqkv;       // ((H + 2Hkv)·Dh,) or empty
  QW wo;                 // (D, H·Dh)
  at::Tensor ffn_norm;   // (D,)
  QW gate_up;            // (2F, D), rows [gate | up]
  QW down;               // (D, F)
};

class ForwardPlan {
 public:
  // dims = (V, D, H, Hkv, Dh, F): the embedding must be (V, D), the head (any, D);
  // fmts = (format code, N, K) of embed, head, then wqkv, wo, gate_up, down for
  // each layer, flattened; layer_tensors = 7 a layer: attn_norm, wqkv, bqkv
  // (empty tensor when absent), wo, ffn_norm, gate_up, down; packed = the
  // interleaved copies (empty when none) of head, then wqkv, wo, gate_up and
  // down of each layer. Every shape, format and storage size is checked against
  // dims (c10::ValueError, a Python ValueError): the kernels size their reads
  // and writes from them, so a mismatch would read or write out of bounds.
  ForwardPlan(std::vector<int64_t> dims, double eps, at::Tensor cos, at::Tensor sin,
              at::Tensor embed, at::Tensor norm, at::Tensor head, std::vector<int64_t> fmts,
              std::vector<at::Tensor> layer_tensors, std::vector<at::Tensor> packed);

  // Rows (tokens, slots, positions) (T,) -> logits (T, V); writes K/V into the
  // caches (layers, S, Hkv, L, Dh) at each row's (slot, position). With
  // logit_rows (R,) int64, only those rows go through the head: (R, V).
  at::Tensor forward(const at::Tensor& tokens, const at::Tensor& slots, const at::Tensor& positions,
                     const at::Tensor& k_cache, const at::Tensor& v_cache, bool act_quant,
                     const std::optional<at::Tensor>& logit_rows) const;

 private:
  at::Tensor mm(const at::Tensor& x, const QW& w, bool act_quant) const;
  at::Tensor embed(const at::Tensor& tokens) const;
  void write_cache(const at::Tensor& kv, int64_t offset, at::Tensor& cache_layer, const int64_t* sp,
                   const int64_t* pp, int64_t T) const;

  int64_t V_ = 0, D_ = 0, H_ = 0, Hkv_ = 0, Dh_ = 0, F_ = 0;
  double eps_;
  at::Tensor cos_, sin_, norm_;
  QW embed_, head_;
  std::vector<Layer> layers_;
};

}  // namespace ak
