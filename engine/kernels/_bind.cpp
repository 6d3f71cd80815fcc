// Python bindings of the kernel extension (kept apart: pybind headers are the
// slowest part of the build, and this file only compiles them once).
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include "_forward.h"

#include <tuple>

namespace ak {
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, int64_t fmt, int64_t N, int64_t K);
at::Tensor linear_i8(const at::Tensor& x, const at::Tensor& w, int64_t fmt, int64_t N, int64_t K);
at::Tensor linear_x8(const at::Tensor& x, const at::Tensor& w, int64_t fmt, int64_t N, int64_t K);
std::tuple<at::Tensor, at::Tensor, at::Tensor> quantize_act(const at::Tensor& x);
bool simd_avx2();
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
at::Tensor silu_mul(const at::Tensor& gate_up);
std::tuple<int64_t, double> greedy_pick(const at::Tensor& logits);
at::Tensor attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                     const at::Tensor& slots, const at::Tensor& positions);
}  // namespace ak

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("linear", &ak::linear, "Fused dequantize-and-multiply: x (T, K) @ W(N, K).T");
  m.def("linear_i8", &ak::linear_i8,
        "Quantized W(N, K) times int8-quantized activations x (T, K) -> (T, N)");
  m.def("linear_x8", &ak::linear_x8,
        "W(N, K) packed 8 rows interleaved times int8-quantized activations x (T, K) -> (T, N)");
  m.def("quantize_act", &ak::quantize_act, "x (T, K) -> per-32-block int8 q, scale d, d*sum(q)");
  m.def("simd_avx2", &ak::simd_avx2, "Whether the extension was built with AVX2/FMA/F16C");
  m.def("rms_norm", &ak::rms_norm, "RMSNorm over the last dim");
  m.def("rope", &ak::rope, "Rotary embedding, rotate-half layout");
  m.def("silu_mul", &ak::silu_mul, "silu(gate) * up");
  m.def("greedy_pick", &ak::greedy_pick, "logits (V,) -> (first argmax, log-softmax there)");
  m.def("attention", &ak::attention, "Causal attention over a slotted KV cache");
  pybind11::class_<ak::ForwardPlan>(m, "ForwardPlan", "The model's whole ragged forward in C++")
      .def(pybind11::init<std::vector<int64_t>, double, at::Tensor, at::Tensor, at::Tensor,
                          at::Tensor, at::Tensor, std::vector<int64_t>, std::vector<at::Tensor>,
                          std::vector<at::Tensor>>())
      .def("forward", &ak::ForwardPlan::forward, pybind11::arg("tokens"), pybind11::arg("slots"),
           pybind11::arg("positions"), pybind11::arg("k_cache"), pybind11::arg("v_cache"),
           pybind11::arg("act_quant"), pybind11::arg("logit_rows") = pybind11::none(),
           pybind11::call_guard<pybind11::gil_scoped_release>());
}
