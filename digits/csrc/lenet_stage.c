/* Fused CPU kernels for LeNet-style stages: Conv2d(1 -> C, 5x5) -> Tanh -> AvgPool2d(2, 2),
   and Tanh -> AvgPool2d(2, 2) on its own. Built and loaded by digits/native.py.

   PyTorch runs such a stage as three or four kernels, each a full pass over a
   (batch, C, 28, 28) activation; here each image goes through the whole stage while it is in
   cache, and the backward pass computes the conv's weight gradient straight from the tanh
   output without writing the pre-activation gradient to memory.

   Layouts: x (N, 1, H, W) float32; weights (C, 1, 5, 5) float32; the saved tanh output t is
   (N, C, Ho, Wo) and the pooled output p (N, C, Ho/2, Wo/2), both contiguous, in storage type
   T (bfloat16 or float32: the file is included twice by lenet_kernels.c). Rounding follows
   PyTorch: tanh is computed in float32 and rounded to T, the pool averages the rounded
   values in float32, gradients are float32 products rounded to T
   (the fused conv's weight gradient is accumulated in float32 throughout). */

#define VEC 16 /* floats per vector (64 bytes: one AVX-512 register, two AVX2 ones) */

/* t = tanh(z) rounded to T, and the same rounded values as floats in tf: one long vector
   loop over n values (whole planes, so short rows cost no scalar tails). */
static void NAME(tanh_round)(const float *restrict z, int64_t n, T *restrict t, float *restrict tf) {
    for (int64_t j = 0; j < n; j++) {
        T a = ST(tanh_f(z[j]));
        t[j] = a;
        tf[j] = LD(a);
    }
}

/* 2x2 average pool of a (rows x cols) float plane into p (rows/2 x cols/2). */
static void NAME(pool_plane)(const float *restrict tf, int64_t rows, int64_t cols, T *restrict p) {
    const int64_t half = cols / 2;
    for (int64_t i = 0; i < rows; i += 2) {
        const float *restrict a = tf + i * cols, *restrict b = a + cols;
        T *restrict pr = p + (i / 2) * half;
        for (int64_t j = 0; j < half; j++) pr[j] = ST(((a[2 * j] + b[2 * j]) + (a[2 * j + 1] + b[2 * j + 1])) * QUARTER);
    }
}

/* Gradient of tanh + pool over n values: dz = ge * (1 - t^2), where ge holds g/4 spread over
   each 2x2 window (see spread_plane). */
static void NAME(tanh_grad)(const float *restrict ge, const T *restrict t, int64_t n, float *restrict dz) {
    for (int64_t j = 0; j < n; j++) {
        float tv = LD(t[j]);
        dz[j] = ge[j] * (1.0f - tv * tv);
    }
}

/* A pooled (rows/2 x cols/2) gradient divided by 4 and copied onto every pixel of its window. */
static void NAME(spread_plane)(const T *restrict g, int64_t rows, int64_t cols, float *restrict ge) {
    const int64_t half = cols / 2;
    for (int64_t i = 0; i < rows; i += 2) {
        const T *restrict gr = g + (i / 2) * half;
        float *restrict a = ge + i * cols, *restrict b = a + cols;
        for (int64_t j = 0; j < half; j++) {
            float v = LD(gr[j]) * QUARTER;
            a[2 * j] = v; a[2 * j + 1] = v; b[2 * j] = v; b[2 * j + 1] = v;
        }
    }
}

/* Tanh -> AvgPool2d(2, 2) on a contiguous (N, C, H, W) tensor, `planes` = N * C. */
void NAME(tanh_pool_fwd)(const T *restrict z, T *restrict t, T *restrict p, int64_t planes, int64_t H, int64_t W) {
    const int64_t size = H * W;
    #pragma omp parallel
    {
        float *zf = malloc(sizeof(float) * size * 2), *tf = zf + size;
        #pragma omp for schedule(static)
        for (int64_t q = 0; q < planes; q++) {
            const T *restrict zq = z + q * size;
            for (int64_t j = 0; j < size; j++) zf[j] = LD(zq[j]);
            NAME(tanh_round)(zf, size, t + q * size, tf);
            NAME(pool_plane)(tf, H, W, p + q * (size / 4));
        }
        free(zf);
    }
}

void NAME(tanh_pool_bwd)(const T *restrict g, const T *restrict t, T *restrict dz, int64_t planes, int64_t H, int64_t W) {
    const int64_t size = H * W;
    #pragma omp parallel
    {
        float *ge = malloc(sizeof(float) * size * 2), *df = ge + size;
        #pragma omp for schedule(static)
        for (int64_t q = 0; q < planes; q++) {
            NAME(spread_plane)(g + q * (size / 4), H, W, ge);
            NAME(tanh_grad)(ge, t + q * size, size, df);
            T *restrict dq = dz + q * size;
            for (int64_t j = 0; j < size; j++) dq[j] = ST(df[j]);
        }
        free(ge);
    }
}

/* Zero-padded copy of one image into a buffer with row stride `ld` (ld >= W + 2 * pad). */
static void NAME(pad_image)(const float *restrict x, int64_t H, int64_t W, int64_t pad, float *restrict xp,
                            int64_t rows, int64_t ld) {
    memset(xp, 0, sizeof(float) * rows * ld);
    for (int64_t i = 0; i < H; i++) memcpy(xp + (i + pad) * ld + pad, x + i * W, sizeof(float) * W);
}

/* Conv2d(1 -> C, 5x5, padding) -> Tanh -> AvgPool2d(2, 2). The output rows are computed VEC
   columns at a time with the 25 weights of a channel held in registers. */
void NAME(conv_tanh_pool_fwd)(const float *restrict x, const float *restrict w, const float *restrict b,
                              T *restrict t, T *restrict p, int64_t N, int64_t C, int64_t H, int64_t W, int64_t pad) {
    const int64_t Ho = H + 2 * pad - KS + 1, Wo = W + 2 * pad - KS + 1;
    const int64_t nv = (Wo + VEC - 1) / VEC, ld = nv * VEC + KS - 1, rows = H + 2 * pad;
    #pragma omp parallel
    {
        float *xp = malloc(sizeof(float) * rows * ld);
        /* rows are stored Wo apart; a row's last vector spills into the next row, which is
           written afterwards, and the last row's into VEC floats of slack */
        float *z = malloc(sizeof(float) * (Ho * Wo + VEC)), *tf = malloc(sizeof(float) * Ho * Wo);
        #pragma omp for schedule(static)
        for (int64_t n = 0; n < N; n++) {
            NAME(pad_image)(x + n * H * W, H, W, pad, xp, rows, ld);
            for (int64_t c = 0; c < C; c++) {
                const float *wc = w + c * KS * KS;
                for (int64_t i = 0; i < Ho; i++)
                    for (int64_t v = 0; v < nv; v++) {
                        vf acc = vsplat(b[c]);
                        for (int u = 0; u < KS; u++)
                            for (int k = 0; k < KS; k++)
                                acc += vload(xp + (i + u) * ld + v * VEC + k) * wc[u * KS + k];
                        vstore(z + i * Wo + v * VEC, acc);
                    }
                const int64_t plane = (n * C + c) * Ho * Wo;
                NAME(tanh_round)(z, Ho * Wo, t + plane, tf);
                NAME(pool_plane)(tf, Ho, Wo, p + plane / 4);
            }
        }
        free(xp);
        free(z);
        free(tf);
    }
}

/* Backward of the stage above for the weights and bias (the images need no gradient).
   Each thread sums its images' contributions in registers and vectors of its own; the
   per-thread sums are added at the end in thread order, so results are reproducible. */
void NAME(conv_tanh_pool_bwd)(const float *restrict x, const T *restrict g, const T *restrict t,
                              float *restrict dw, float *restrict db, int64_t N, int64_t C, int64_t H, int64_t W,
                              int64_t pad) {
    const int64_t Ho = H + 2 * pad - KS + 1, Wo = W + 2 * pad - KS + 1;
    const int64_t nv = (Wo + VEC - 1) / VEC, ld = nv * VEC + KS - 1, rows = H + 2 * pad, dld = nv * VEC;
    const int64_t per_thread = C * KS * KS + C, teams = max_threads();
    float *parts = calloc(teams * per_thread, sizeof(float));
    #pragma omp parallel
    {
        float *xp = malloc(sizeof(float) * rows * ld);
        float *dz = calloc(Ho * dld, sizeof(float)); /* row stride dld: lanes past Wo stay zero */
        float *ge = malloc(sizeof(float) * Ho * Wo * 2), *df = ge + Ho * Wo;
        vf *wacc = vzeros(C * KS * KS), *bacc = vzeros(C);
        #pragma omp for schedule(static)
        for (int64_t n = 0; n < N; n++) {
            NAME(pad_image)(x + n * H * W, H, W, pad, xp, rows, ld);
            for (int64_t c = 0; c < C; c++) {
                const int64_t plane = (n * C + c) * Ho * Wo;
                NAME(spread_plane)(g + plane / 4, Ho, Wo, ge);
                NAME(tanh_grad)(ge, t + plane, Ho * Wo, df);
                for (int64_t i = 0; i < Ho; i++) memcpy(dz + i * dld, df + i * Wo, sizeof(float) * Wo);
                for (int64_t v = 0; v < nv; v++) {
                    vf acc[KS * KS];
                    vf bsum = vsplat(0.0f);
                    for (int k = 0; k < KS * KS; k++) acc[k] = vsplat(0.0f);
                    for (int64_t i = 0; i < Ho; i++) {
                        vf d = vload(dz + i * dld + v * VEC);
                        bsum += d;
                        for (int u = 0; u < KS; u++)
                            for (int k = 0; k < KS; k++)
                                acc[u * KS + k] += d * vload(xp + (i + u) * ld + v * VEC + k);
                    }
                    for (int k = 0; k < KS * KS; k++) wacc[c * KS * KS + k] += acc[k];
                    bacc[c] += bsum;
                }
            }
        }
        float *part = parts + thread_index() * per_thread;
        for (int64_t k = 0; k < C * KS * KS; k++) part[k] = vsum(wacc[k]);
        for (int64_t c = 0; c < C; c++) part[C * KS * KS + c] = vsum(bacc[c]);
        free(xp);
        free(dz);
        free(ge);
        free(wacc);
        free(bacc);
    }
    memset(dw, 0, sizeof(float) * C * KS * KS);
    memset(db, 0, sizeof(float) * C);
    for (int64_t r = 0; r < teams; r++) {
        const float *part = parts + r * per_thread;
        for (int64_t k = 0; k < C * KS * KS; k++) dw[k] += part[k];
        for (int64_t c = 0; c < C; c++) db[c] += part[C * KS * KS + c];
    }
    free(parts);
}
