// How many AVX2 int8 multiply-adds can one core of this machine issue?
//
// The ceiling for the engine's int8 kernels (docs/row-cost.md): `vpmaddubsw`
// (32 u8 x s8 products summed in pairs to int16) is the widest int8
// multiply-add AVX2 has. Three loops, each with 10 independent chains so
// latency never limits them, time 10^9 instructions:
//   madd+add  vpmaddubsw then vpaddw into an accumulator (the q4 kernel's core)
//   madd      vpmaddubsw alone, chained on its own result
//   fma       vfmadd231ps (fp32), for comparison
// and print issues per nanosecond and per cycle (the clock is measured with a
// dependent chain of scalar adds, one a cycle).
//
//   gcc -O2 -mavx2 -mfma scripts/int8_peak.c -o /tmp/int8_peak && /tmp/int8_peak
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

enum { N = 100000000, CHAINS = 10 };

int main(void) {
  long x = 0;
  double t0 = now();
  for (long i = 0; i < N; i++) __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
  const double ghz = 4.0 * N / (now() - t0) / 1e9;

  __m256i acc[CHAINS], w = _mm256_set1_epi8(7), a0 = _mm256_set1_epi8(1), a1 = _mm256_set1_epi8(2);
  for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_setzero_si256();
  t0 = now();
  for (long i = 0; i < N; i++) {
    __asm__ volatile("" : "+x"(w));  // keeps the products inside the loop
#pragma GCC unroll 10
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_add_epi16(acc[k], _mm256_maddubs_epi16(w, (k & 1) ? a1 : a0));
  }
  const double madd_add = (double)N * CHAINS / (now() - t0) / 1e9;

  for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_set1_epi8((char)k);
  t0 = now();
  for (long i = 0; i < N; i++) {
    __asm__ volatile("" : "+x"(w));
#pragma GCC unroll 10
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_maddubs_epi16(w, acc[k]);
  }
  const double madd = (double)N * CHAINS / (now() - t0) / 1e9;

  __m256 f[CHAINS], fa = _mm256_set1_ps(1.0000001f), fb = _mm256_set1_ps(0.9999999f);
  for (int k = 0; k < CHAINS; k++) f[k] = _mm256_set1_ps(1.0f);
  t0 = now();
  for (long i = 0; i < N; i++) {
    __asm__ volatile("" : "+x"(fa));
#pragma GCC unroll 10
    for (int k = 0; k < CHAINS; k++) f[k] = _mm256_fmadd_ps(fa, fb, f[k]);
  }
  const double fma = (double)N * CHAINS / (now() - t0) / 1e9;

  int sink = 0;
  for (int k = 0; k < CHAINS; k++) sink += _mm256_extract_epi16(acc[k], 0) + (int)_mm256_cvtss_f32(f[k]);
  printf("clock %.2f GHz (checksum %d)\n", ghz, sink & 1);
  printf("madd+add  %.2f G/s  %.2f a cycle  %5.1f G int8 MAC/s\n", madd_add, madd_add / ghz, 32 * madd_add);
  printf("madd      %.2f G/s  %.2f a cycle  %5.1f G int8 MAC/s\n", madd, madd / ghz, 32 * madd);
  printf("fma       %.2f G/s  %.2f a cycle  %5.1f G fp32 MAC/s\n", fma, fma / ghz, 8 * fma);
  return 0;
}
