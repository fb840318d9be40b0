// Sorting 1M float64 by their bits, for benches/sort_in_wasm.rs, which
// compiles this for wasm32 (run by wasmtime as mfw runs components) and for
// this machine (run as a program: `-DNATIVE_MAIN`), to tell what the
// component costs from what the algorithm costs. It is the least-significant
// -digit radix sort of numpy's wasm32 patch (recipe's numpy-2.3.5.patch,
// wasm_radix_sort.hpp): keys made in place with all digits counted in one
// pass, passes skipped where every key has the same digit, the last pass
// turning keys back into values. `sort11` uses its 11-bit digits (6 passes
// for 64 bits), `sort13` 13-bit ones (5 passes).
#include <stddef.h>
#include <stdint.h>

#define N (1 << 20)
#define MAX_BUCKETS (1 << 13)
#define MAX_PASSES 6
static uint64_t values[N], buffer[N];
static uint32_t offsets[MAX_PASSES][MAX_BUCKETS];

#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name)))
#else
#define EXPORT(name)
#endif

// Standard-normal-like values (a sum of 12 uniforms, minus 6), as
// benches/native/kernels.py sorts: their exponents and signs vary.
static uint64_t state = 0x9e3779b97f4a7c15ull;
static double uniform(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) * (1.0 / 9007199254740992.0);
}

EXPORT("init") void init(void) {
    state = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < N; i++) {
        double sum = -6;
        for (int k = 0; k < 12; k++) {
            sum += uniform();
        }
        __builtin_memcpy(&values[i], &sum, 8);
    }
}

static inline uint64_t key_of_bits(uint64_t u) {
    return u ^ ((0 - (u >> 63)) | (1ull << 63));
}
static inline uint64_t bits_of_key(uint64_t k) {
    return k ^ (((k >> 63) - 1) | (1ull << 63));
}

// Inlined into each kernel, so its digit width is a constant as in numpy's
// template.
static inline __attribute__((always_inline)) void radix_sort(int digit_bits) {
    const int passes = (64 + digit_bits - 1) / digit_bits;
    const uint32_t mask = (1u << digit_bits) - 1;
    __builtin_memset(offsets, 0, sizeof offsets);
    for (int i = 0; i < N; i++) {
        const uint64_t k = key_of_bits(values[i]);
        values[i] = k;
        for (int p = 0; p < passes; p++) {
            offsets[p][(k >> (p * digit_bits)) & mask]++;
        }
    }
    int needed[MAX_PASSES], last = -1;
    for (int p = 0; p < passes; p++) {
        needed[p] = offsets[p][(values[0] >> (p * digit_bits)) & mask] != N;
        if (needed[p]) {
            last = p;
        }
        uint32_t sum = 0;
        for (uint32_t b = 0; b <= mask; b++) {
            const uint32_t c = offsets[p][b];
            offsets[p][b] = sum;
            sum += c;
        }
    }
    uint64_t *src = values, *dst = buffer;
    for (int p = 0; p <= last; p++) {
        if (!needed[p]) {
            continue;
        }
        uint32_t *next = offsets[p];
        const int shift = p * digit_bits;
        if (p == last) {
            for (int i = 0; i < N; i++) {
                const uint64_t k = src[i];
                dst[next[(k >> shift) & mask]++] = bits_of_key(k);
            }
        } else {
            for (int i = 0; i < N; i++) {
                const uint64_t k = src[i];
                dst[next[(k >> shift) & mask]++] = k;
            }
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (last < 0) {
        for (int i = 0; i < N; i++) {
            values[i] = bits_of_key(values[i]);
        }
    } else if (src != values) {
        __builtin_memcpy(values, src, sizeof values);
    }
}

EXPORT("sort11") void sort11(void) { radix_sort(11); }
EXPORT("sort13") void sort13(void) { radix_sort(13); }

// How many neighbours are out of order (0 when sorted), compared as
// doubles; and a checksum of the bits, which a sort keeps.
EXPORT("unsorted") uint32_t unsorted(void) {
    uint32_t count = 0;
    for (int i = 1; i < N; i++) {
        double a, b;
        __builtin_memcpy(&a, &values[i - 1], 8);
        __builtin_memcpy(&b, &values[i], 8);
        count += a > b;
    }
    return count;
}
EXPORT("checksum") uint64_t checksum(void) {
    uint64_t sum = 0;
    for (int i = 0; i < N; i++) {
        sum += values[i] * 0x9e3779b97f4a7c15ull;
    }
    return sum;
}

#ifdef NATIVE_MAIN
#include <stdio.h>
#include <string.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// `radix_sort sort11|sort13`: the best of 5 in milliseconds, and whether
// the result is sorted with the same bits.
int main(int argc, char **argv) {
    void (*kernel)(void) = argc > 1 && strcmp(argv[1], "sort13") == 0 ? sort13 : sort11;
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        init();
        const double start = seconds();
        kernel();
        const double took = seconds() - start;
        best = took < best ? took : best;
    }
    printf("%.3f %u %llu\n", best * 1e3, unsorted(), (unsigned long long)checksum());
    return 0;
}
#endif
