/* The native training kernels: shared helpers and the single-channel conv, then stages.c
   instantiated for bfloat16 and float32 storage. Built and loaded by digits/native.py. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
static inline int64_t max_threads(void) { return omp_get_max_threads(); }
static inline int64_t thread_index(void) { return omp_get_thread_num(); }
#else
static inline int64_t max_threads(void) { return 1; }
static inline int64_t thread_index(void) { return 0; }
#endif

#define KS 5          /* the conv kernels' size */
#define QUARTER 0.25f /* mean of a 2x2 window */

#define VEC 16 /* floats per vector (64 bytes: one AVX-512 register, two AVX2 ones) */
typedef float vf __attribute__((vector_size(VEC * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(VEC * sizeof(int32_t)))); /* comparison masks */
static inline vf vsel(vi mask, vf a, vf b) { return (vf)(((vi)a & mask) | ((vi)b & ~mask)); }
static inline vf vload(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf vsplat(float a) { return (vf){a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a}; }
static inline float vsum(vf v) {
    float s = 0.0f;
    for (int i = 0; i < 16; i++) s += v[i];
    return s;
}

/* Per-thread scratch: `stride` floats (a whole number of vectors, so every thread's share is
   aligned for vector loads) for each of the team's threads; NULL when out of memory. */
static inline int64_t floats_per_thread(int64_t n) { return (n + VEC - 1) / VEC * VEC; }
static inline float *thread_scratch(int64_t stride) {
    return aligned_alloc(sizeof(vf), sizeof(float) * stride * max_threads());
}


/* Zero-padded copy of one image into a buffer with row stride `ld` (ld >= W + 2 * pad). */
static void pad_image(const float *restrict x, int64_t H, int64_t W, int64_t pad, float *restrict xp,
                      int64_t rows, int64_t ld) {
    memset(xp, 0, sizeof(float) * rows * ld);
    for (int64_t i = 0; i < H; i++) memcpy(xp + (i + pad) * ld + pad, x + i * W, sizeof(float) * W);
}

/* One output plane of a single-channel KSxKS conv over a padded image (row stride ld): rows
   of z are stored Wo apart, computed VEC columns at a time with the channel's weights in
   registers. A row's last vector spills into the next row, which is written afterwards; z
   needs VEC floats of slack after its last row. */
static void conv_plane(const float *restrict xp, int64_t ld, const float *restrict wc, float bias,
                       int64_t Ho, int64_t Wo, float *restrict z) {
    const int64_t nv = (Wo + VEC - 1) / VEC;
    for (int64_t i = 0; i < Ho; i++)
        for (int64_t v = 0; v < nv; v++) {
            vf acc = vsplat(bias);
            for (int u = 0; u < KS; u++)
                for (int k = 0; k < KS; k++) acc += vload(xp + (i + u) * ld + v * VEC + k) * wc[u * KS + k];
            vstore(z + i * Wo + v * VEC, acc);
        }
}

/* Adds one plane's weight and bias gradient to vector sums: wacc[u * KS + k] += dz * (the
   image shifted by u, k), bacc += dz. dz has row stride nv * VEC, zero past column Wo. */
static void conv_plane_grad(const float *restrict xp, int64_t ld, const float *restrict dz, int64_t Ho,
                            int64_t Wo, vf *restrict wacc, vf *restrict bacc) {
    const int64_t nv = (Wo + VEC - 1) / VEC, dld = nv * VEC;
    for (int64_t v = 0; v < nv; v++) {
        vf acc[KS * KS];
        vf bsum = vsplat(0.0f);
        for (int k = 0; k < KS * KS; k++) acc[k] = vsplat(0.0f);
        for (int64_t i = 0; i < Ho; i++) {
            vf d = vload(dz + i * dld + v * VEC);
            bsum += d;
            for (int u = 0; u < KS; u++)
                for (int k = 0; k < KS; k++) acc[u * KS + k] += d * vload(xp + (i + u) * ld + v * VEC + k);
        }
        for (int k = 0; k < KS * KS; k++) wacc[k] += acc[k];
        *bacc += bsum;
    }
}

/* dw, db = the per-thread weight and bias sums (C * KS * KS then C floats, at offset `at` of
   each thread's `stride`), added in thread order so results do not vary between runs. */
static void add_thread_sums(const float *scratch, int64_t stride, int64_t at, int64_t C, float *dw, float *db) {
    memset(dw, 0, sizeof(float) * C * KS * KS);
    memset(db, 0, sizeof(float) * C);
    for (int64_t r = 0; r < max_threads(); r++) {
        const float *part = scratch + r * stride + at;
        for (int64_t k = 0; k < C * KS * KS; k++) dw[k] += part[k];
        for (int64_t c = 0; c < C; c++) db[c] += part[C * KS * KS + c];
    }
}

/* Dropout's keep decision for element `idx` of a call keyed by `seed`: a counter-based hash
   (the "lowbias32" integer mixer), so the backward pass recomputes the mask instead of
   storing it, and the result does not depend on how the work is split between threads. */
static inline uint32_t mix32(uint32_t x) {
    x ^= x >> 16; x *= 0x7feb352du;
    x ^= x >> 15; x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}
static inline float keep_scale(uint32_t key, uint32_t idx, uint32_t cut, float scale) {
    return mix32(idx ^ key) >= cut ? scale : 0.0f;
}

/* Max of a 2x2 window the way PyTorch's max_pool2d scans it: row by row, a later value wins
   only if greater, and NaN always wins. */
static inline float window_max(float a, float b, float c, float d) {
    float m = a;
    m = (b > m || b != b) ? b : m;
    m = (c > m || c != c) ? c : m;
    m = (d > m || d != d) ? d : m;
    return m;
}

typedef union { uint32_t u; float f; } bits32;
static inline float bf16_to_f32(uint16_t v) { bits32 x; x.u = (uint32_t)v << 16; return x.f; }
/* Round to nearest even, as PyTorch does; NaN stays NaN. */
static inline uint16_t f32_to_bf16(float f) {
    bits32 x; x.f = f;
    uint32_t r = (x.u + 0x7FFFu + ((x.u >> 16) & 1u)) >> 16;
    return (uint16_t)((f != f) ? 0x7FC0u : r);
}
static inline float same_f32(float f) { return f; }

/* tanh as a rational function (the approximation Eigen uses): within a few float ulps, far
   below bfloat16's resolution, and it vectorises, unlike libm's tanhf. */
static inline float tanh_f(float x) {
    const float clamp = 7.90531110763549805f, tiny = 0.0004f;
    float xc = x > clamp ? clamp : (x < -clamp ? -clamp : x);
    float x2 = xc * xc;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * xc;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    float r = p / q;
    return (x < tiny && x > -tiny) ? x : r;
}

#define T uint16_t
#define LD bf16_to_f32
#define ST f32_to_bf16
#define NAME(f) f##_bf16
#include "stages.c"
#undef T
#undef LD
#undef ST
#undef NAME

#define T float
#define LD same_f32
#define ST same_f32
#define NAME(f) f##_f32
#include "stages.c"

/* The argument types of every exported function, in digits/accel/native.py's notation
   (p pointer, l int64, u uint32, f float; each for _bf16 and _f32). native.py compares this
   with its own table when it loads the library, so a signature changed on one side only
   fails loudly instead of corrupting memory. */
const char *digits_signatures(void) {
    return "tanh_pool_fwd:ppplll;tanh_pool_bwd:ppplll;"
           "conv_tanh_pool_fwd:ppppplllll;conv_tanh_pool_bwd:ppppplllll;"
           "conv_relu_maxpool_fwd:pppppllllluuf;conv_relu_maxpool_bwd:pppppllllluuf";
}
