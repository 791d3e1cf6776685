/* Fused CPU kernels for network stages, included by kernels.c once per storage type:
   LeNet-style Conv2d(1 -> C, 5x5) -> Tanh -> AvgPool2d(2, 2), Tanh -> AvgPool2d(2, 2) on its
   own, and the tutorial CNN's stem Conv2d(1 -> C, 5x5) -> ReLU -> MaxPool2d(2, stride 1) ->
   Dropout -> Flatten.

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

/* Tanh -> AvgPool2d(2, 2) on a contiguous (N, C, H, W) tensor, `planes` = N * C.
   Every function returns 0, or -1 when its scratch memory cannot be allocated. */
int NAME(tanh_pool_fwd)(const T *restrict z, T *restrict t, T *restrict p, int64_t planes, int64_t H, int64_t W) {
    const int64_t size = H * W, stride = floats_per_thread(2 * size);
    float *scratch = thread_scratch(stride);
    if (!scratch) return -1;
    #pragma omp parallel
    {
        float *zf = scratch + thread_index() * stride, *tf = zf + size;
        #pragma omp for schedule(static)
        for (int64_t q = 0; q < planes; q++) {
            const T *restrict zq = z + q * size;
            for (int64_t j = 0; j < size; j++) zf[j] = LD(zq[j]);
            NAME(tanh_round)(zf, size, t + q * size, tf);
            NAME(pool_plane)(tf, H, W, p + q * (size / 4));
        }
    }
    free(scratch);
    return 0;
}

int NAME(tanh_pool_bwd)(const T *restrict g, const T *restrict t, T *restrict dz, int64_t planes, int64_t H, int64_t W) {
    const int64_t size = H * W, stride = floats_per_thread(2 * size);
    float *scratch = thread_scratch(stride);
    if (!scratch) return -1;
    #pragma omp parallel
    {
        float *ge = scratch + thread_index() * stride, *df = ge + size;
        #pragma omp for schedule(static)
        for (int64_t q = 0; q < planes; q++) {
            NAME(spread_plane)(g + q * (size / 4), H, W, ge);
            NAME(tanh_grad)(ge, t + q * size, size, df);
            T *restrict dq = dz + q * size;
            for (int64_t j = 0; j < size; j++) dq[j] = ST(df[j]);
        }
    }
    free(scratch);
    return 0;
}

/* Conv2d(1 -> C, 5x5, padding) -> Tanh -> AvgPool2d(2, 2). */
int NAME(conv_tanh_pool_fwd)(const float *restrict x, const float *restrict w, const float *restrict b,
                             T *restrict t, T *restrict p, int64_t N, int64_t C, int64_t H, int64_t W, int64_t pad) {
    const int64_t Ho = H + 2 * pad - KS + 1, Wo = W + 2 * pad - KS + 1;
    const int64_t nv = (Wo + VEC - 1) / VEC, ld = nv * VEC + KS - 1, rows = H + 2 * pad;
    /* per thread: the padded image; the conv output, rows stored Wo apart (a row's last
       vector spills into the next row, written afterwards, the last row's into VEC floats of
       slack); the rounded tanh */
    const int64_t stride = floats_per_thread(rows * ld + (Ho * Wo + VEC) + Ho * Wo);
    float *scratch = thread_scratch(stride);
    if (!scratch) return -1;
    #pragma omp parallel
    {
        float *xp = scratch + thread_index() * stride, *z = xp + rows * ld, *tf = z + Ho * Wo + VEC;
        #pragma omp for schedule(static)
        for (int64_t n = 0; n < N; n++) {
            pad_image(x + n * H * W, H, W, pad, xp, rows, ld);
            for (int64_t c = 0; c < C; c++) {
                conv_plane(xp, ld, w + c * KS * KS, b[c], Ho, Wo, z);
                const int64_t plane = (n * C + c) * Ho * Wo;
                NAME(tanh_round)(z, Ho * Wo, t + plane, tf);
                NAME(pool_plane)(tf, Ho, Wo, p + plane / 4);
            }
        }
    }
    free(scratch);
    return 0;
}

/* Backward of the stage above for the weights and bias (the images need no gradient).
   Each thread sums its images' contributions in registers and vectors of its own; the
   per-thread sums are added at the end in thread order, so results are reproducible. */
int NAME(conv_tanh_pool_bwd)(const float *restrict x, const T *restrict g, const T *restrict t,
                             float *restrict dw, float *restrict db, int64_t N, int64_t C, int64_t H, int64_t W,
                             int64_t pad) {
    const int64_t Ho = H + 2 * pad - KS + 1, Wo = W + 2 * pad - KS + 1;
    const int64_t nv = (Wo + VEC - 1) / VEC, ld = nv * VEC + KS - 1, rows = H + 2 * pad, dld = nv * VEC;
    const int64_t sums = C * KS * KS + C; /* weight then bias gradient sums */
    /* per thread: the sums as vectors, the padded image, dz with row stride dld (lanes past Wo
       stay zero), the spread pooled gradient, dz without padding, and the sums as scalars */
    const int64_t at_xp = sums * VEC, at_dz = at_xp + rows * ld, at_ge = at_dz + Ho * dld, at_df = at_ge + Ho * Wo;
    const int64_t at_out = at_df + Ho * Wo, stride = floats_per_thread(at_out + sums);
    float *scratch = thread_scratch(stride);
    if (!scratch) return -1;
    memset(scratch, 0, sizeof(float) * stride * max_threads()); /* threads left idle add zeros */
    #pragma omp parallel
    {
        float *base = scratch + thread_index() * stride;
        vf *wacc = (vf *)base, *bacc = wacc + C * KS * KS;
        float *xp = base + at_xp, *dz = base + at_dz, *ge = base + at_ge, *df = base + at_df, *out = base + at_out;
        #pragma omp for schedule(static)
        for (int64_t n = 0; n < N; n++) {
            pad_image(x + n * H * W, H, W, pad, xp, rows, ld);
            for (int64_t c = 0; c < C; c++) {
                const int64_t plane = (n * C + c) * Ho * Wo;
                NAME(spread_plane)(g + plane / 4, Ho, Wo, ge);
                NAME(tanh_grad)(ge, t + plane, Ho * Wo, df);
                for (int64_t i = 0; i < Ho; i++) memcpy(dz + i * dld, df + i * Wo, sizeof(float) * Wo);
                conv_plane_grad(xp, ld, dz, Ho, Wo, wacc + c * KS * KS, bacc + c);
            }
        }
        for (int64_t k = 0; k < sums; k++) out[k] = vsum(wacc[k]);
    }
    add_thread_sums(scratch, stride, at_out, C, dw, db);
    free(scratch);
    return 0;
}

/* Conv2d(1 -> C, 5x5, padding) -> ReLU -> MaxPool2d(2, stride 1) -> Dropout -> Flatten, the
   tutorial CNN's feature extractor. r, the rounded ReLU output (N, C, Ho, Wo), is saved for
   the backward pass; out is (N, C * (Ho - 1) * (Wo - 1)).

   Windows are computed at every pixel q = i * Wo + j of a plane in one long vector loop (the
   ones at j = Wo - 1 straddle two rows and are dropped); rows of 27 values would leave a
   scalar tail per row. Dropout keeps the window at q when the hash of its plane-unique index
   is >= cut, then scales it by `scale` (cut 0 and scale 1: no dropout). */
int NAME(conv_relu_maxpool_fwd)(const float *restrict x, const float *restrict w, const float *restrict b,
                                T *restrict r, T *restrict out, int64_t N, int64_t C, int64_t H, int64_t W,
                                int64_t pad, uint32_t key, uint32_t cut, float scale) {
    const int64_t Ho = H + 2 * pad - KS + 1, Wo = W + 2 * pad - KS + 1, Hp = Ho - 1, Wp = Wo - 1;
    const int64_t nv = (Wo + VEC - 1) / VEC, ld = nv * VEC + KS - 1, rows = H + 2 * pad;
    const int64_t size = Ho * Wo, windows = Hp * Wo; /* window starts, straddling ones included */
    /* per thread: the padded image, the conv output (VEC floats of slack), the ReLU output as
       floats (one row of slack: windows read the row below), and the windows */
    const int64_t at_z = rows * ld, at_rf = at_z + size + VEC, at_m = at_rf + size + Wo;
    const int64_t stride = floats_per_thread(at_m + windows);
    float *scratch = thread_scratch(stride);
    if (!scratch) return -1;
    #pragma omp parallel
    {
        float *xp = scratch + thread_index() * stride, *z = xp + at_z, *rf = xp + at_rf, *m = xp + at_m;
        #pragma omp for schedule(static)
        for (int64_t n = 0; n < N; n++) {
            pad_image(x + n * H * W, H, W, pad, xp, rows, ld);
            for (int64_t c = 0; c < C; c++) {
                const int64_t plane = n * C + c;
                conv_plane(xp, ld, w + c * KS * KS, b[c], Ho, Wo, z);
                T *restrict rc = r + plane * size;
                for (int64_t q = 0; q < size; q++) {
                    T a = ST(z[q] < 0.0f ? 0.0f : z[q]); /* NaN passes, as in PyTorch */
                    rc[q] = a;
                    rf[q] = LD(a);
                }
                for (int64_t q = 0; q < windows; q++)
                    m[q] = window_max(rf[q], rf[q + 1], rf[q + Wo], rf[q + Wo + 1])
                           * keep_scale(key, (uint32_t)(plane * size + q), cut, scale);
                T *restrict o = out + plane * Hp * Wp;
                for (int64_t i = 0; i < Hp; i++)
                    for (int64_t j = 0; j < Wp; j++) o[i * Wp + j] = ST(m[i * Wo + j]);
            }
        }
    }
    free(scratch);
    return 0;
}

/* Backward of the stem above for the conv's weights and bias: the pooled gradient goes
   through dropout's mask (recomputed from the key), to each window's winner (recomputed from
   r), through the ReLU, into the weight gradient. Per-thread sums as in conv_tanh_pool_bwd. */
int NAME(conv_relu_maxpool_bwd)(const float *restrict x, const T *restrict g, const T *restrict r,
                                float *restrict dw, float *restrict db, int64_t N, int64_t C, int64_t H, int64_t W,
                                int64_t pad, uint32_t key, uint32_t cut, float scale) {
    const int64_t Ho = H + 2 * pad - KS + 1, Wo = W + 2 * pad - KS + 1, Hp = Ho - 1, Wp = Wo - 1;
    const int64_t nv = (Wo + VEC - 1) / VEC, ld = nv * VEC + KS - 1, rows = H + 2 * pad, dld = nv * VEC;
    const int64_t size = Ho * Wo, windows = Hp * Wo, sums = C * KS * KS + C;
    /* per thread: the sums as vectors, the padded image, dz (row stride dld, zero past Wo),
       the ReLU output as floats (a row and two vectors of slack), its gradient, the pooled
       gradient at each window start and the window gradients by winner position (whole
       vectors; the scratch is zeroed, so lanes past the last window stay zero), and the sums
       as scalars */
    const int64_t wv = floats_per_thread(windows); /* whole vectors of window starts */
    const int64_t at_xp = sums * VEC, at_dz = at_xp + rows * ld, at_rf = at_dz + Ho * dld;
    const int64_t at_dr = at_rf + size + Wo + 2 * VEC, at_gq = at_dr + size, at_gw = at_gq + wv;
    const int64_t at_out = at_gw + 4 * wv, stride = floats_per_thread(at_out + sums);
    float *scratch = thread_scratch(stride);
    if (!scratch) return -1;
    memset(scratch, 0, sizeof(float) * stride * max_threads());
    #pragma omp parallel
    {
        float *base = scratch + thread_index() * stride;
        vf *wacc = (vf *)base, *bacc = wacc + C * KS * KS;
        float *xp = base + at_xp, *dz = base + at_dz, *rf = base + at_rf, *dr = base + at_dr;
        float *gq = base + at_gq, *out = base + at_out;
        float *gA = base + at_gw, *gB = gA + wv, *gC = gB + wv, *gD = gC + wv;
        #pragma omp for schedule(static)
        for (int64_t n = 0; n < N; n++) {
            pad_image(x + n * H * W, H, W, pad, xp, rows, ld);
            for (int64_t c = 0; c < C; c++) {
                const int64_t plane = n * C + c;
                const T *restrict rc = r + plane * size;
                for (int64_t q = 0; q < size; q++) { rf[q] = LD(rc[q]); dr[q] = 0.0f; }
                const T *restrict gp = g + plane * Hp * Wp;
                for (int64_t i = 0; i < Hp; i++) {
                    for (int64_t j = 0; j < Wp; j++) gq[i * Wo + j] = LD(gp[i * Wp + j]);
                    gq[i * Wo + Wp] = 0.0f; /* the straddling window: no gradient */
                }
                /* each window's gradient to its winner, found the way window_max scans, a
                   vector at a time (past `windows` gq is zero: those lanes add nothing) */
                for (int64_t q = 0; q < windows; q++)
                    gq[q] *= keep_scale(key, (uint32_t)(plane * size + q), cut, scale);
                const vf zero = vsplat(0.0f);
                for (int64_t q = 0; q < windows; q += VEC) {
                    const vf a = vload(rf + q), bq = vload(rf + q + 1), cq = vload(rf + q + Wo);
                    const vf d = vload(rf + q + Wo + 1), gv = vload(gq + q);
                    const vi sb = (bq > a) | (bq != bq);
                    const vf mb = vsel(sb, bq, a);
                    const vi sc = (cq > mb) | (cq != cq);
                    const vf mc = vsel(sc, cq, mb);
                    const vi sd = (d > mc) | (d != d);
                    vstore(gD + q, vsel(sd, gv, zero));
                    vstore(gC + q, vsel(sc & ~sd, gv, zero));
                    vstore(gB + q, vsel(sb & ~sc & ~sd, gv, zero));
                    vstore(gA + q, vsel(~(sb | sc | sd), gv, zero));
                }
                for (int64_t q = 0; q < windows; q++) dr[q] += gA[q];
                for (int64_t q = 0; q < windows; q++) dr[q + 1] += gB[q];
                for (int64_t q = 0; q < windows; q++) dr[q + Wo] += gC[q];
                for (int64_t q = 0; q < windows; q++) dr[q + Wo + 1] += gD[q];
                for (int64_t i = 0; i < Ho; i++) { /* through the ReLU: where its output was > 0 */
                    const float *restrict ri = rf + i * Wo, *restrict di = dr + i * Wo;
                    float *restrict zi = dz + i * dld;
                    for (int64_t j = 0; j < Wo; j++) zi[j] = ri[j] > 0.0f ? di[j] : 0.0f;
                }
                conv_plane_grad(xp, ld, dz, Ho, Wo, wacc + c * KS * KS, bacc + c);
            }
        }
        for (int64_t k = 0; k < sums; k++) out[k] = vsum(wacc[k]);
    }
    add_thread_sums(scratch, stride, at_out, C, dw, db);
    free(scratch);
    return 0;
}
