// Single-precision matrix multiply for Patchbench's engine: C[M, N] = A[M, K] · B[K, N] (+ bias[N]),
// row-major, on Float32Arrays that may be views into tfjs-wasm's heap (so no copies are made).
//
// Why it exists: matrix multiplies are most of the engine's time, and tfjs-wasm's XNNPACK kernels
// are limited to 128-bit SIMD without FMA, about 20 GFLOP/s per core here; this AVX2/FMA kernel
// reaches 55–80.
// The binary is built for any x86-64 and checks for AVX2 and FMA at run time (`supported`); the
// engine falls back to tfjs's own matmul where it is missing or where this addon did not build.
//
// Layout (Goto-style, simplified): K is cut into blocks of KC, N into blocks of NC; each KC × NC block
// of B is packed into 16-column panels that stay in L2 while every 6-row slice of A streams past,
// and a 6 × 16 register-blocked kernel (12 accumulators) does the arithmetic.
#include <node_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

// GCC/Clang on x86-64 only (per-function target attributes); elsewhere `supported` is false.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define PB_X86 1
#endif

namespace {

constexpr int MR = 6, NR = 16, KC = 256, NC = 768;

#ifdef PB_X86
#define PB_TARGET __attribute__((target("avx2,fma")))

// C[6 × 16] = (accumulate ? C : 0) + A[6 × kc] (row stride lda) · B[kc × 16] (row stride ldb).
// Accumulators are named variables, not an array, so the compiler keeps all twelve in registers.
PB_TARGET inline void kernel6x16(const float* A, long lda, const float* B, long ldb, int kc, float* C, long ldc, bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const float *a0 = A, *a1 = A + lda, *a2 = A + 2 * lda, *a3 = A + 3 * lda, *a4 = A + 4 * lda, *a5 = A + 5 * lda;
  for (int k = 0; k < kc; k++) {
    const float* b = B + k * ldb;
    __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), a;
    a = _mm256_broadcast_ss(a0 + k); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(a1 + k); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(a2 + k); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(a3 + k); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(a4 + k); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(a5 + k); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
  }
  const __m256 cs[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
  for (int r = 0; r < MR; r++) {
    float* c = C + r * ldc;
    __m256 x0 = cs[2 * r], x1 = cs[2 * r + 1];
    if (accumulate) {
      x0 = _mm256_add_ps(x0, _mm256_loadu_ps(c));
      x1 = _mm256_add_ps(x1, _mm256_loadu_ps(c + 8));
    }
    _mm256_storeu_ps(c, x0);
    _mm256_storeu_ps(c + 8, x1);
  }
}

// 8 × 8 transpose in registers: rows r0..r7 in, columns out.
PB_TARGET inline void transpose8(__m256& r0, __m256& r1, __m256& r2, __m256& r3, __m256& r4, __m256& r5, __m256& r6, __m256& r7) {
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5), t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE), u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE), u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r0 = _mm256_permute2f128_ps(u0, u4, 0x20); r1 = _mm256_permute2f128_ps(u1, u5, 0x20);
  r2 = _mm256_permute2f128_ps(u2, u6, 0x20); r3 = _mm256_permute2f128_ps(u3, u7, 0x20);
  r4 = _mm256_permute2f128_ps(u0, u4, 0x31); r5 = _mm256_permute2f128_ps(u1, u5, 0x31);
  r6 = _mm256_permute2f128_ps(u2, u6, 0x31); r7 = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// Copies the panel of B = Btᵀ whose columns are rows [0, w) of Bt (row stride ldbt), entries [0, kc)
// of each, into a dense [kc × 16] panel, zero-padded on the right: the transposed-B product reads
// weights stored [out, in] without a transposed copy of them. Full panels go through registers
// 8 × 8 at a time: packing one float at a time made a · bᵀ 20–50 % slower than a · b.
PB_TARGET void packPanelT(const float* Bt, long ldbt, int kc, int w, float* dst) {
  int k0 = 0;
  if (w == NR) {
    for (; k0 + 8 <= kc; k0 += 8) {
      for (int half = 0; half < 2; half++) {
        const float* s = Bt + half * 8 * ldbt + k0;
        __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ldbt), r2 = _mm256_loadu_ps(s + 2 * ldbt), r3 = _mm256_loadu_ps(s + 3 * ldbt);
        __m256 r4 = _mm256_loadu_ps(s + 4 * ldbt), r5 = _mm256_loadu_ps(s + 5 * ldbt), r6 = _mm256_loadu_ps(s + 6 * ldbt), r7 = _mm256_loadu_ps(s + 7 * ldbt);
        transpose8(r0, r1, r2, r3, r4, r5, r6, r7);
        float* d = dst + k0 * NR + half * 8;
        _mm256_storeu_ps(d, r0); _mm256_storeu_ps(d + NR, r1); _mm256_storeu_ps(d + 2 * NR, r2); _mm256_storeu_ps(d + 3 * NR, r3);
        _mm256_storeu_ps(d + 4 * NR, r4); _mm256_storeu_ps(d + 5 * NR, r5); _mm256_storeu_ps(d + 6 * NR, r6); _mm256_storeu_ps(d + 7 * NR, r7);
      }
    }
  }
  // the rest: columns past w are zero (and Bt has no rows for them)
  for (int j = 0; j < NR; j++) {
    if (j >= w) {
      for (int k = k0; k < kc; k++) dst[k * NR + j] = 0.f;
      continue;
    }
    const float* src = Bt + j * ldbt;
    for (int k = k0; k < kc; k++) dst[k * NR + j] = src[k];
  }
}

// Copies B[kc × w] (row stride ldb, w ≤ 16) into a dense [kc × 16] panel, zero-padded on the right.
PB_TARGET void packPanel(const float* B, long ldb, int kc, int w, float* dst) {
  for (int k = 0; k < kc; k++) {
    const float* src = B + k * ldb;
    float* d = dst + k * NR;
    if (w == NR) {
      _mm256_storeu_ps(d, _mm256_loadu_ps(src));
      _mm256_storeu_ps(d + 8, _mm256_loadu_ps(src + 8));
    } else {
      for (int j = 0; j < NR; j++) d[j] = j < w ? src[j] : 0.f;
    }
  }
}

struct Scratch {
  float* packed = nullptr;  // KC × NC
  Scratch() { packed = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * KC * NC)); }
  ~Scratch() { std::free(packed); }
};

// Returns false (having done nothing) when this thread's packing buffer could not be allocated.
// With transB, B is given as Bt [N, K] and C = A · Btᵀ (every panel is then packed).
PB_TARGET bool sgemm(const float* A, const float* B, const float* bias, float* C, long M, long K, long N, bool transB) {
  thread_local Scratch scratch;
  if (!scratch.packed) return false;
  alignas(32) float aTail[MR * KC];  // last rows of A when M is not a multiple of 6, zero-padded
  alignas(32) float cTail[MR * NR];  // a 6 × 16 tile of C that overhangs M or N
  // With few rows, packing B costs more than it saves: read it in place (full panels only).
  const bool packB = M > 2 * MR || transB;
  // Read in place, B is walked a few rows at a time, so that each row is a sequential stream (deep
  // blocks would touch a new page per row: the unembedding's rows are 200 KB apart).
  const long kcMax = packB ? KC : 8;
  for (long pc = 0; pc < K; pc += kcMax) {
    const int kc = static_cast<int>(std::min<long>(kcMax, K - pc));
    const bool accumulate = pc > 0;
    for (long jc = 0; jc < N; jc += NC) {
      const int nc = static_cast<int>(std::min<long>(NC, N - jc));
      const int panels = (nc + NR - 1) / NR;
      for (int p = 0; p < panels; p++) {
        const int w = std::min(NR, nc - p * NR);
        float* dst = scratch.packed + static_cast<long>(p) * kc * NR;
        if (transB) packPanelT(B + (jc + p * NR) * K + pc, K, kc, w, dst);
        else if (packB || w < NR) packPanel(B + pc * N + jc + p * NR, N, kc, w, dst);
      }
      for (long i = 0; i < M; i += MR) {
        const int mr = static_cast<int>(std::min<long>(MR, M - i));
        const float* a = A + i * K + pc;
        long lda = K;
        if (mr < MR) {
          std::memset(aTail, 0, sizeof(float) * MR * kc);
          for (int r = 0; r < mr; r++) std::memcpy(aTail + r * kc, a + r * K, sizeof(float) * kc);
          a = aTail;
          lda = kc;
        }
        for (int p = 0; p < panels; p++) {
          const int w = std::min(NR, nc - p * NR);
          float* c = C + i * N + jc + p * NR;
          const bool packed = packB || w < NR;
          const float* b = packed ? scratch.packed + static_cast<long>(p) * kc * NR : B + pc * N + jc + p * NR;
          const long ldb = packed ? NR : N;
          if (mr == MR && w == NR) {
            kernel6x16(a, lda, b, ldb, kc, c, N, accumulate);
            continue;
          }
          for (int r = 0; r < mr; r++)
            for (int j = 0; j < w; j++) cTail[r * NR + j] = accumulate ? c[r * N + j] : 0.f;
          kernel6x16(a, lda, b, ldb, kc, cTail, NR, true);
          for (int r = 0; r < mr; r++)
            for (int j = 0; j < w; j++) c[r * N + j] = cTail[r * NR + j];
        }
      }
    }
  }
  if (bias) {
    for (long i = 0; i < M; i++) {
      float* c = C + i * N;
      long j = 0;
      for (; j + 8 <= N; j += 8) _mm256_storeu_ps(c + j, _mm256_add_ps(_mm256_loadu_ps(c + j), _mm256_loadu_ps(bias + j)));
      for (; j < N; j++) c[j] += bias[j];
    }
  }
  return true;
}

// C[R × w] = A[R × K] · B[K × w] for one block of R ≤ 4 rows and w ∈ {8, 16} columns of a small
// product (attention: K and N of 16–64), reading B in place; R·w/8 accumulators hide FMA latency.
template <int R, int W>
PB_TARGET inline void smallBlock(const float* A, long K, const float* B, long N, float* C) {
  __m256 c[R][W / 8];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < W / 8; v++) c[r][v] = _mm256_setzero_ps();
  for (long k = 0; k < K; k++) {
    __m256 b[W / 8];
    for (int v = 0; v < W / 8; v++) b[v] = _mm256_loadu_ps(B + k * N + 8 * v);
    for (int r = 0; r < R; r++) {
      const __m256 a = _mm256_broadcast_ss(A + r * K + k);
      for (int v = 0; v < W / 8; v++) c[r][v] = _mm256_fmadd_ps(a, b[v], c[r][v]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int v = 0; v < W / 8; v++) _mm256_storeu_ps(C + r * N + 8 * v, c[r][v]);
}

template <int R>
PB_TARGET void smallRows(const float* A, long K, const float* B, long N, float* C) {
  long j = 0;
  for (; j + 16 <= N; j += 16) smallBlock<R, 16>(A, K, B + j, N, C + j);
  for (; j + 8 <= N; j += 8) smallBlock<R, 8>(A, K, B + j, N, C + j);
  for (; j < N; j++) {
    for (int r = 0; r < R; r++) {
      float acc = 0.f;
      for (long k = 0; k < K; k++) acc += A[r * K + k] * B[k * N + j];
      C[r * N + j] = acc;
    }
  }
}

// C[M, N] = A[M, K] · B[K, N] for products too small to be worth packing.
PB_TARGET void smallGemm(const float* A, const float* B, float* C, long M, long K, long N) {
  long i = 0;
  for (; i + 4 <= M; i += 4) smallRows<4>(A + i * K, K, B, N, C + i * N);
  for (; i < M; i++) smallRows<1>(A + i * K, K, B, N, C + i * N);
}

// Checked once: every product calls this.
bool cpuSupported() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return supported;
}
#else
bool cpuSupported() { return false; }
#endif

napi_value throwError(napi_env env, const char* message) {
  napi_throw_error(env, "ERR_PATCHBENCH_SGEMM", message);
  return nullptr;
}

// Float32Array argument → pointer and length; null/undefined → nullptr when allowed.
bool floatArray(napi_env env, napi_value v, float** data, size_t* length, bool optional) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (optional && (t == napi_null || t == napi_undefined)) {
    *data = nullptr;
    *length = 0;
    return true;
  }
  bool isTyped = false;
  napi_is_typedarray(env, v, &isTyped);
  if (!isTyped) return false;
  napi_typedarray_type type;
  void* ptr;
  napi_get_typedarray_info(env, v, &type, length, &ptr, nullptr, nullptr);
  *data = static_cast<float*>(ptr);
  return type == napi_float32_array;
}

// sgemm(a, b, bias | null, out, M, K, N): out = a · b (+ bias). a [M·K], b [K·N], bias [N], out [M·N].
// sgemmTransB(a, bt, bias | null, out, M, K, N): out = a · btᵀ (+ bias), bt [N·K].
napi_value SgemmAny(napi_env env, napi_callback_info info, bool transB) {
  size_t argc = 7;
  napi_value args[7];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc != 7) return throwError(env, "sgemm(a, b, bias, out, M, K, N) takes 7 arguments");
  float *a, *b, *bias, *out;
  size_t na, nb, nbias, nout;
  if (!floatArray(env, args[0], &a, &na, false) || !floatArray(env, args[1], &b, &nb, false) ||
      !floatArray(env, args[2], &bias, &nbias, true) || !floatArray(env, args[3], &out, &nout, false))
    return throwError(env, "sgemm: a, b and out must be Float32Arrays, bias a Float32Array or null");
  int64_t dims[3];
  for (int i = 0; i < 3; i++) {
    if (napi_get_value_int64(env, args[4 + i], &dims[i]) != napi_ok || dims[i] < 0) return throwError(env, "sgemm: M, K and N must be non-negative integers");
  }
  const int64_t M = dims[0], K = dims[1], N = dims[2];
  if (static_cast<int64_t>(na) < M * K || static_cast<int64_t>(nb) < K * N || static_cast<int64_t>(nout) < M * N || (bias && static_cast<int64_t>(nbias) < N))
    return throwError(env, "sgemm: an array is shorter than its shape");
#ifdef PB_X86
  if (!cpuSupported()) return throwError(env, "sgemm: this CPU lacks AVX2/FMA");
  if (K == 0) {
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) out[i * N + j] = bias ? bias[j] : 0.f;
  } else if (!sgemm(a, b, bias, out, M, K, N, transB)) {
    return throwError(env, "sgemm: out of memory for the packing buffer");
  }
  return nullptr;
#else
  return throwError(env, "sgemm: built for a CPU without AVX2/FMA");
#endif
}

napi_value Sgemm(napi_env env, napi_callback_info info) { return SgemmAny(env, info, false); }
napi_value SgemmTransB(napi_env env, napi_callback_info info) { return SgemmAny(env, info, true); }

// sgemmBatched(a, b, out, batch, M, K, N): out[i] = a[i] · b[i] for each of `batch` small products
// (attention scores and mixing: a [batch, M, K], b [batch, K, N], out [batch, M, N]).
napi_value SgemmBatched(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value args[7];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc != 7) return throwError(env, "sgemmBatched(a, b, out, batch, M, K, N) takes 7 arguments");
  float *a, *b, *out;
  size_t na, nb, nout;
  if (!floatArray(env, args[0], &a, &na, false) || !floatArray(env, args[1], &b, &nb, false) || !floatArray(env, args[2], &out, &nout, false))
    return throwError(env, "sgemmBatched: a, b and out must be Float32Arrays");
  int64_t dims[4];
  for (int i = 0; i < 4; i++) {
    if (napi_get_value_int64(env, args[3 + i], &dims[i]) != napi_ok || dims[i] < 0) return throwError(env, "sgemmBatched: batch, M, K and N must be non-negative integers");
  }
  const int64_t batch = dims[0], M = dims[1], K = dims[2], N = dims[3];
  if (static_cast<int64_t>(na) < batch * M * K || static_cast<int64_t>(nb) < batch * K * N || static_cast<int64_t>(nout) < batch * M * N)
    return throwError(env, "sgemmBatched: an array is shorter than its shape");
#ifdef PB_X86
  if (!cpuSupported()) return throwError(env, "sgemmBatched: this CPU lacks AVX2/FMA");
  for (int64_t i = 0; i < batch; i++) smallGemm(a + i * M * K, b + i * K * N, out + i * M * N, M, K, N);
  return nullptr;
#else
  return throwError(env, "sgemmBatched: built for a CPU without AVX2/FMA");
#endif
}

napi_value Supported(napi_env env, napi_callback_info) {
  napi_value v;
  napi_get_boolean(env, cpuSupported(), &v);
  return v;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"sgemm", nullptr, Sgemm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sgemmTransB", nullptr, SgemmTransB, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sgemmBatched", nullptr, SgemmBatched, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"supported", nullptr, Supported, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, 4, props);
  return exports;
}
