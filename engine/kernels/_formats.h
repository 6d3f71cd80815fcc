// The weight storage formats: the one table every kernel, the plan and Python read.
//
// Quantized formats are GGUF's own 32-weight blocks, kept as they are on disk:
//   q8_0: fp16 d | 32 x int8                 w = d * q
//   q4_0: fp16 d | 16 bytes of nibbles       w = d * (q - 8)
//   q4_1: fp16 d | fp16 m | 16 bytes         w = d * q + m
// (nibble byte j holds element j low, element j + 16 high). f32 is a "block"
// of one 4-byte float, so the row arithmetic is the same for every format.
// Python mirrors this table in engine/kernels/_formats.py; the extension exports
// it (`formats()` in _bind.cpp) and a test checks that both agree.
#pragma once

#include <c10/util/Exception.h>

#include <cstdint>
#include <string_view>

namespace ak {

// The codes cross the Python boundary as ints (`linear(x, w, code, N, K)`).
enum class QFormat : int64_t { F32 = 0, Q8_0 = 1, Q4_0 = 2, Q4_1 = 3 };

struct FormatInfo {
  QFormat format;
  const char* name;     // as in Python's QWeight.fmt and GGUF
  int64_t block_elems;  // weights in a block
  int64_t block_bytes;  // bytes of a block
  int64_t scale_bytes;  // bytes of fp16 scales at the block's head (d, and m for q4_1)
};

// Indexed by the format's code.
inline constexpr FormatInfo kFormats[] = {
    {QFormat::F32, "f32", 1, 4, 0},
    {QFormat::Q8_0, "q8_0", 32, 34, 2},
    {QFormat::Q4_0, "q4_0", 32, 18, 2},
    {QFormat::Q4_1, "q4_1", 32, 20, 4},
};
inline constexpr int64_t kFormatCount = sizeof(kFormats) / sizeof(kFormats[0]);
inline constexpr int64_t kQBlock = 32;  // weights in a quantized block (GGUF's and ours)

constexpr const FormatInfo& info(QFormat f) { return kFormats[static_cast<int64_t>(f)]; }
constexpr int64_t block_bytes(QFormat f) { return info(f).block_bytes; }
constexpr int64_t scale_bytes(QFormat f) { return info(f).scale_bytes; }
constexpr bool quantized(QFormat f) { return f != QFormat::F32; }
// Bytes of one row of K weights (K a multiple of the block).
constexpr int64_t row_bytes(QFormat f, int64_t K) { return K / info(f).block_elems * info(f).block_bytes; }

static_assert(kFormatCount == 4 && info(QFormat::Q4_1).format == QFormat::Q4_1, "kFormats is indexed by code");
static_assert(row_bytes(QFormat::Q8_0, 64) == 68 && row_bytes(QFormat::F32, 3) == 12);

// The format of a code from Python; `who` names the caller in the ValueError.
inline QFormat format_of(int64_t code, const char* who) {
  TORCH_CHECK_VALUE(code >= 0 && code < kFormatCount, who, ": unknown format code ", code);
  return static_cast<QFormat>(code);
}

// The format named `name` (QWeight.fmt); `who` names the caller in the ValueError.
inline QFormat format_named(std::string_view name, const char* who) {
  for (const FormatInfo& f : kFormats)
    if (name == f.name) return f.format;
  TORCH_CHECK_VALUE(false, who, ": unknown weight format '", name, "'");
  return QFormat::F32;  // unreachable
}

}  // namespace ak
