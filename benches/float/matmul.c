// A 512 x 512 matmul with OpenBLAS's generic 2 x 2 register blocking (the
// kernel numpy's matmul runs in a component): float arithmetic and little
// else, so the cost of canonicalising NaNs shows whole.
// benches/float_canonicalisation.rs compiles it with clang-22 for wasm32.
#define N 512
static double A[N * N], B[N * N], C[N * N];

__attribute__((export_name("init"))) void init(void) {
    for (int i = 0; i < N * N; i++) {
        A[i] = (i % 13) * 0.25 - 1.0;
        B[i] = (i % 7) * 0.5 - 1.5;
        C[i] = 0;
    }
}

__attribute__((export_name("matmul"))) double matmul(void) {
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
    return C[N + 3];
}
