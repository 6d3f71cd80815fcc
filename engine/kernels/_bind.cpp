// Python bindings of the kernel extension (kept apart: pybind headers are the
// slowest part of the build, and this file only compiles them once).
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include "_formats.h"
#include "_forward.h"

#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace ak {
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, int64_t fmt, int64_t N, int64_t K);
at::Tensor linear_i8(const at::Tensor& x, const at::Tensor& w, int64_t fmt, int64_t N, int64_t K);
at::Tensor linear_x8(const at::Tensor& x, const at::Tensor& w, int64_t fmt, int64_t N, int64_t K);
std::tuple<at::Tensor, at::Tensor, at::Tensor> quantize_act(const at::Tensor& x);
bool simd_avx2();
std::string simd_path();
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
at::Tensor silu_mul(const at::Tensor& gate_up);
std::tuple<int64_t, double> greedy_pick(const at::Tensor& logits);
at::Tensor attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                     const at::Tensor& slots, const at::Tensor& positions);
}  // namespace ak

namespace {

using arg = pybind11::arg;

// The table of _formats.h, for Python's copy of it to be checked against.
std::vector<std::tuple<std::string, int64_t, int64_t, int64_t, int64_t>> formats() {
  std::vector<std::tuple<std::string, int64_t, int64_t, int64_t, int64_t>> out;
  for (const ak::FormatInfo& f : ak::kFormats)
    out.emplace_back(f.name, static_cast<int64_t>(f.format), f.block_elems, f.block_bytes, f.scale_bytes);
  return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  // Module-local classes: each instruction-set path is its own build of this
  // module, and two builds loaded in one process would otherwise register the
  // same C++ types twice (pybind11 refuses that).
  const pybind11::module_local local;
  m.def("linear", &ak::linear, "Fused dequantize-and-multiply: x (T, K) @ W(N, K).T");
  m.def("linear_i8", &ak::linear_i8,
        "Quantized W(N, K) times int8-quantized activations x (T, K) -> (T, N)");
  m.def("linear_x8", &ak::linear_x8,
        "W(N, K) packed 8 rows interleaved times int8-quantized activations x (T, K) -> (T, N)");
  m.def("quantize_act", &ak::quantize_act, "x (T, K) -> per-32-block int8 q, scale d, d*sum(q)");
  m.def("simd_avx2", &ak::simd_avx2, "Whether the extension was built with AVX2/FMA/F16C");
  m.def("simd_path", &ak::simd_path, "The instruction-set path built: avx512vnni, avxvnni, avx2 or portable");
  m.def("rms_norm", &ak::rms_norm, "RMSNorm over the last dim");
  m.def("rope", &ak::rope, "Rotary embedding, rotate-half layout");
  m.def("silu_mul", &ak::silu_mul, "silu(gate) * up");
  m.def("greedy_pick", &ak::greedy_pick, "logits (V,) -> (first argmax, log-softmax there)");
  m.def("attention", &ak::attention, "Causal attention over a slotted KV cache");
  m.def("formats", &formats, "The format table of _formats.h: (name, code, block_elems, block_bytes, scale_bytes)");
  pybind11::class_<ak::PlanConfig>(m, "PlanConfig", "The model's sizes as the ForwardPlan checks them", local)
      .def(pybind11::init([](int64_t vocab_size, int64_t dim, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                             int64_t hidden_dim, double norm_eps) {
             return ak::PlanConfig{vocab_size, dim, n_heads, n_kv_heads, head_dim, hidden_dim, norm_eps};
           }),
           pybind11::kw_only(), arg("vocab_size"), arg("dim"), arg("n_heads"), arg("n_kv_heads"), arg("head_dim"),
           arg("hidden_dim"), arg("norm_eps"));
  pybind11::class_<ak::PlanWeight>(m, "PlanWeight", "A (n, k) weight in a named format, for the ForwardPlan", local)
      .def(pybind11::init([](const std::string& fmt, int64_t n, int64_t k, at::Tensor data,
                             std::optional<at::Tensor> packed) {
             return ak::PlanWeight{ak::format_named(fmt, "PlanWeight"), n, k, std::move(data),
                                   packed.value_or(at::Tensor())};
           }),
           pybind11::kw_only(), arg("fmt"), arg("n"), arg("k"), arg("data"), arg("packed") = pybind11::none());
  pybind11::class_<ak::PlanLayer>(m, "PlanLayer", "One transformer block's weights, for the ForwardPlan", local)
      .def(pybind11::init([](at::Tensor attn_norm, ak::PlanWeight wqkv, std::optional<at::Tensor> bqkv,
                             ak::PlanWeight wo, at::Tensor ffn_norm, ak::PlanWeight gate_up, ak::PlanWeight down) {
             return ak::PlanLayer{std::move(attn_norm), std::move(wqkv), bqkv.value_or(at::Tensor()),
                                  std::move(wo),        std::move(ffn_norm), std::move(gate_up),
                                  std::move(down)};
           }),
           pybind11::kw_only(), arg("attn_norm"), arg("wqkv"), arg("bqkv"), arg("wo"), arg("ffn_norm"), arg("gate_up"),
           arg("down"));
  pybind11::class_<ak::ForwardPlan>(m, "ForwardPlan", "The model's whole ragged forward in C++", local)
      .def(pybind11::init<ak::PlanConfig, at::Tensor, at::Tensor, ak::PlanWeight, at::Tensor, ak::PlanWeight,
                          std::vector<ak::PlanLayer>>(),
           pybind11::kw_only(), arg("config"), arg("cos"), arg("sin"), arg("embed"), arg("norm"), arg("head"),
           arg("layers"))
      .def("forward", &ak::ForwardPlan::forward, arg("tokens"), arg("slots"), arg("positions"), arg("k_cache"),
           arg("v_cache"), arg("act_quant"), arg("logit_rows") = pybind11::none(),
           pybind11::call_guard<pybind11::gil_scoped_release>());
}
