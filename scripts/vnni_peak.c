// How many int8 multiply-adds can one core issue with AVX-512 VNNI, and does
// the 512-bit form add any? (engine/kernels/README.md, "Kernel paths".)
//
// 10 independent chains each (so latency never limits them), 5*10^8 instructions:
//   vpdpbusd ymm   32 u8 x s8 products into 8 int32 lanes (what the kernels use)
//   vpdpbusd zmm   the same on 512-bit registers (64 products)
//   mixed          vpdpbusd ymm and vfmadd231ps ymm alternating: do they share pipes?
// Timed on this thread's CPU clock, so a descheduled moment on a loaded
// machine does not count; the clock line is a chain of scalar adds (one a cycle).
//
//   gcc -O2 -mavx2 -mfma -mavx512f -mavx512bw -mavx512vl -mavx512vnni \
//       scripts/vnni_peak.c -o /tmp/vnni_peak && /tmp/vnni_peak
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
enum { N = 50000000, CHAINS = 10 };
int main(void){
  long x=0; double t0=now();
  for(long i=0;i<N;i++) __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0":"+r"(x));
  const double ghz=4.0*N/(now()-t0)/1e9;
  __m256i acc[CHAINS], w=_mm256_set1_epi8(7), a=_mm256_set1_epi8(1);
  for(int k=0;k<CHAINS;k++) acc[k]=_mm256_setzero_si256();
  t0=now();
  for(long i=0;i<N;i++){ __asm__ volatile("":"+x"(w));
#pragma GCC unroll 10
    for(int k=0;k<CHAINS;k++) acc[k]=_mm256_dpbusd_epi32(acc[k],w,a);}
  double y=(double)N*CHAINS/(now()-t0)/1e9;
  __m512i z[CHAINS], wz=_mm512_set1_epi8(7), az=_mm512_set1_epi8(1);
  for(int k=0;k<CHAINS;k++) z[k]=_mm512_setzero_si512();
  t0=now();
  for(long i=0;i<N;i++){ __asm__ volatile("":"+v"(wz));
#pragma GCC unroll 10
    for(int k=0;k<CHAINS;k++) z[k]=_mm512_dpbusd_epi32(z[k],wz,az);}
  double zz=(double)N*CHAINS/(now()-t0)/1e9;
  __m256 f[CHAINS], fa=_mm256_set1_ps(1.0000001f), fb=_mm256_set1_ps(0.9999999f);
  for(int k=0;k<CHAINS;k++) f[k]=_mm256_set1_ps(1.0f);
  __m256i m[CHAINS]; for(int k=0;k<CHAINS;k++) m[k]=_mm256_setzero_si256();
  t0=now();
  for(long i=0;i<N;i++){ __asm__ volatile("":"+x"(w),"+x"(fa));
#pragma GCC unroll 5
    for(int k=0;k<5;k++){ m[k]=_mm256_dpbusd_epi32(m[k],w,a); f[k]=_mm256_fmadd_ps(fa,fb,f[k]);}}
  double mix=(double)N*10/(now()-t0)/1e9;
  long s=0; for(int k=0;k<CHAINS;k++){ s+=_mm256_extract_epi32(acc[k],0)+_mm512_reduce_add_epi32(z[k])+_mm256_extract_epi32(m[k],0); s+=(long)_mm256_cvtss_f32(f[k]); }
  printf("clock %.2f GHz\nvpdpbusd ymm: %.2f /ns = %.2f /cycle = %.0f G int8 MAC/s\nvpdpbusd zmm: %.2f /ns = %.2f /cycle = %.0f G int8 MAC/s\nymm dpbusd+fma mixed: %.2f ops/cycle  (%ld)\n",
    ghz, y, y/ghz, y*32, zz, zz/ghz, zz*64, mix/ghz, s&1);
}
