// A 512 x 512 matmul three ways, for benches/float_canonicalisation.rs
// (which compiles this with clang-22 for wasm32 with SIMD and relaxed SIMD):
// - `matmul`: OpenBLAS's generic 2 x 2 register blocking, the kernel
//   numpy's matmul runs in a component today: scalar float arithmetic and
//   little else, so the cost of canonicalising NaNs shows whole;
// - `matmul_simd`: a 4 x 4 kernel of f64x2 multiplies and adds over packed
//   panels, as a wasm32 gemm kernel for OpenBLAS could be; each element
//   sums in the same order as `matmul`, so the results are the same bits;
// - `matmul_fma`: the same with relaxed SIMD's fused multiply-add, which
//   the host pins to its deterministic profile (always fused): one rounding
//   instead of two, and one NaN canonicalisation instead of two.
#include <wasm_simd128.h>

#define N 512
static double A[N * N], B[N * N], C[N * N];
// Panels of 4 rows, k-major: what OpenBLAS's copy routines hand a kernel.
static double Ap[N * N], Bp[N * N];

__attribute__((export_name("init"))) void init(void) {
    for (int i = 0; i < N * N; i++) {
        // Not exact in binary, so that rounding differences show.
        A[i] = (i % 13) * 0.1 - 0.6;
        B[i] = (i % 7) * 0.3 - 0.9;
    }
}

__attribute__((export_name("clear"))) void clear(void) {
    for (int i = 0; i < N * N; i++) {
        C[i] = 0;
    }
}

// A weighted sum of C's magnitudes, to compare the kernels' results.
__attribute__((export_name("checksum"))) double checksum(void) {
    double sum = 0;
    for (int i = 0; i < N * N; i++) {
        sum += __builtin_fabs(C[i]) * (i % 5 + 1);
    }
    return sum;
}

__attribute__((export_name("matmul"))) void matmul(void) {
    for (int j = 0; j < N; j += 2) {
        for (int i = 0; i < N; i += 2) {
            double r0 = 0, r1 = 0, r2 = 0, r3 = 0;
            const double *a = &A[i * N], *b = &B[j * N];
            for (int k = 0; k < N; k++) {
                double a0 = a[k], a1 = a[N + k], b0 = b[k], b1 = b[N + k];
                r0 += a0 * b0;
                r1 += a1 * b0;
                r2 += a0 * b1;
                r3 += a1 * b1;
            }
            C[j * N + i] += r0;
            C[j * N + i + 1] += r1;
            C[(j + 1) * N + i] += r2;
            C[(j + 1) * N + i + 1] += r3;
        }
    }
}

static void pack(void) {
    for (int i = 0; i < N; i += 4) {
        for (int k = 0; k < N; k++) {
            for (int r = 0; r < 4; r++) {
                Ap[i * N + k * 4 + r] = A[(i + r) * N + k];
                Bp[i * N + k * 4 + r] = B[(i + r) * N + k];
            }
        }
    }
}

static void store4x4(int i, int j, v128_t *r) {
    for (int c = 0; c < 4; c++) {
        double *out = &C[(j + c) * N + i];
        out[0] += wasm_f64x2_extract_lane(r[2 * c], 0);
        out[1] += wasm_f64x2_extract_lane(r[2 * c], 1);
        out[2] += wasm_f64x2_extract_lane(r[2 * c + 1], 0);
        out[3] += wasm_f64x2_extract_lane(r[2 * c + 1], 1);
    }
}

// The 4 x 4 kernel, fused or not (a constant once inlined).
static inline __attribute__((always_inline)) v128_t step(v128_t r, v128_t a, v128_t b, int fused) {
    return fused ? wasm_f64x2_relaxed_madd(a, b, r) : wasm_f64x2_add(r, wasm_f64x2_mul(a, b));
}

static inline __attribute__((always_inline)) void kernel4x4(int fused) {
    pack();
    for (int j = 0; j < N; j += 4) {
        for (int i = 0; i < N; i += 4) {
            v128_t r[8];
            for (int t = 0; t < 8; t++) {
                r[t] = wasm_f64x2_splat(0);
            }
            const double *a = &Ap[i * N], *b = &Bp[j * N];
            for (int k = 0; k < N; k++) {
                v128_t a01 = wasm_v128_load(&a[4 * k]), a23 = wasm_v128_load(&a[4 * k + 2]);
                for (int c = 0; c < 4; c++) {
                    v128_t bc = wasm_f64x2_splat(b[4 * k + c]);
                    r[2 * c] = step(r[2 * c], a01, bc, fused);
                    r[2 * c + 1] = step(r[2 * c + 1], a23, bc, fused);
                }
            }
            store4x4(i, j, r);
        }
    }
}

__attribute__((export_name("matmul_simd"))) void matmul_simd(void) { kernel4x4(0); }

__attribute__((export_name("matmul_fma"))) void matmul_fma(void) { kernel4x4(1); }
