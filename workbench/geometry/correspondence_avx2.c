/* Dense correspondence of panorama A in panorama B, AVX2 + FMA, 8 pixels per step.

   The arithmetic of workbench/geometry/correspondence_fast.py's numba kernel (the tests hold
   both to the numpy reference in correspondence.py), in two stages per chunk of up to 256
   pixels of a row of A:
     project8  A's ray (float64 products rounded to float32, as the reference rounds them) and
               point, the move into B (float32), B's range, row and column (an octant-exact
               polynomial arctangent in pixels), B's four pixels around the match and the
               nearest one; prefetches those pixels of B;
     check8    four 8-byte gathers of B's padded range (bilinear and nearest), the z-test and
               the A->B->A round trip (without divisions), the four masks or their counts.
   The stages keep one chunk's state in an 11 KiB buffer that stays in L1; the prefetches
   give B's rows a chunk's time to arrive (gathers wait on the cache otherwise).

   Layouts (row-major, C-contiguous; (h + 1) * (w + 2) < 2^31):
     ra        (h, w) float32        A's range, metres (invalid: <= 0 or non-finite)
     pad       ((h + 1) * (w + 2)) float32  B's range, a wrapped column each side, the last
                                     row repeated (Target.pad; wb_pad writes it)
     measured  same layout, uint8, with 3 bytes of slack after it (4-byte gathers); read
               only when `filled`
     P         12 float32            T_b_from_a rows 0..2 (R | t)
     Q         12 float32            T_a_from_b rows 0..2 (only t is used)
     tables    (4, ts) float64       sin lon, cos lon (columns), sin lat, cos lat (rows)
     scale     5 float64             w / 2pi, w / 2 - 0.5, h / pi, h / 2 - 0.5, w
     uv        (h, w, 2) float32     or NULL          rq (h, w) float32 or NULL
     m0..m3    (h, w) uint8          valid, landed, visible, consistent, or NULL
     sums      (h, 2) int64          or NULL: per row, consistent and landed counts
   Built and loaded by workbench/geometry/native.py. */

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/* atan(z) = z P(z^2) on [0, 1], least-maximum-error fit (|error| < 6e-9 rad) */
static const double C[9] = {
    0.9999998863830385,   -0.3333259702712725,  0.19985906741308396,
    -0.141612289802049,   0.10498945194610862,  -0.07234855397175226,
    0.039781199238509535, -0.014401342300552497, 0.0024567205178025187,
};
#define PI 3.141592653589793
#define HALF_PI 1.5707963267948966

static void init_spread(void);

/* 1 where this CPU runs the kernel (AVX2 and FMA); also fills the tables. Call once first. */
int wb_has_avx2(void) {
    init_spread();
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* atan2(y, x) k + c pixels, float32. Only atan(z), z in [0, 1] (the octant's ratio, a
   degree-17 odd polynomial), is rounded: the octant adds a whole number of quarter turns,
   `quarter` = k pi / 2 pixels, exactly, so the result is as accurate as atan(z) k (about
   2e-5 px at k = 1024 / 2 pi) plus its final rounding. */
AVX2 INLINE __m256 angle_px(__m256 y, __m256 x, __m256 k, __m256 c, __m256 quarter,
                            const int x_nonneg) {
    const __m256 sign = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps();
    __m256 ax = _mm256_andnot_ps(sign, x), ay = _mm256_andnot_ps(sign, y);
    __m256 mx = _mm256_max_ps(_mm256_max_ps(ax, ay), _mm256_set1_ps(1e-30f));
    __m256 z = _mm256_div_ps(_mm256_min_ps(ax, ay), mx);
    __m256 z2 = _mm256_mul_ps(z, z);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps((float)C[8]), z2, _mm256_set1_ps((float)C[7]));
    p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps((float)C[6]));
    p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps((float)C[5]));
    p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps((float)C[4]));
    p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps((float)C[3]));
    p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps((float)C[2]));
    p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps((float)C[1]));
    p = _mm256_fmadd_ps(p, z2, _mm256_set1_ps((float)C[0]));
    __m256 a = _mm256_mul_ps(z, p);
    __m256 steep = _mm256_cmp_ps(ay, ax, _CMP_GT_OQ); /* pi/2 - a */
    __m256 off = _mm256_and_ps(steep, quarter), flip = _mm256_and_ps(steep, sign);
    if (!x_nonneg) {
        __m256 back = _mm256_cmp_ps(x, zero, _CMP_LT_OQ); /* pi - (.) */
        off = _mm256_blendv_ps(off, _mm256_sub_ps(_mm256_add_ps(quarter, quarter), off), back);
        flip = _mm256_xor_ps(flip, _mm256_and_ps(back, sign));
    }
    __m256 below = _mm256_and_ps(_mm256_cmp_ps(y, zero, _CMP_LT_OQ), sign); /* -(.) */
    off = _mm256_xor_ps(off, below);
    flip = _mm256_xor_ps(flip, below);
    return _mm256_fmadd_ps(_mm256_xor_ps(a, flip), k, _mm256_add_ps(off, c));
}

/* 8 float32 lanes <- two float64 quads */
AVX2 INLINE __m256 narrow(__m256d lo, __m256d hi) {
    return _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo));
}

/* row k of a float32 (R | t) applied to float32 (x, y, z) */
AVX2 INLINE __m256 move_row(const float *Q, int k, __m256 x, __m256 y, __m256 z) {
    __m256 c = _mm256_fmadd_ps(_mm256_set1_ps(Q[4 * k + 2]), z, _mm256_set1_ps(Q[4 * k + 3]));
    c = _mm256_fmadd_ps(_mm256_set1_ps(Q[4 * k + 1]), y, c);
    return _mm256_fmadd_ps(_mm256_set1_ps(Q[4 * k]), x, c);
}

/* byte i of SPREAD[k] is bit i of k: 8 lanes of a comparison mask as 8 bool bytes */
static uint64_t SPREAD[256];

static void init_spread(void) {
    for (int k = 0; k < 256; k++) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v |= (uint64_t)((k >> i) & 1) << (8 * i);
        SPREAD[k] = v;
    }
}

/* x[i] = src[idx[i]], y[i] = src[idx[i] + 1]: four 8-byte gathers of the pairs, split */
AVX2 INLINE void pairs(const float *src, __m256i idx, __m256 *x, __m256 *y) {
    const double *s = (const double *)src; /* scale 4: idx counts floats */
    __m256 lo = _mm256_castpd_ps(_mm256_i32gather_pd(s, _mm256_castsi256_si128(idx), 4));
    __m256 hi = _mm256_castpd_ps(_mm256_i32gather_pd(s, _mm256_extracti128_si256(idx, 1), 4));
    /* lanes 0 1 4 5 | 2 3 6 7 -> 0 .. 7 */
    __m256d xs = _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88));
    __m256d ys = _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xDD));
    *x = _mm256_castpd_ps(_mm256_permute4x64_pd(xs, 0xD8));
    *y = _mm256_castpd_ps(_mm256_permute4x64_pd(ys, 0xD8));
}

typedef struct {
    const float *P;
    const float *Q;
    const float *pad;
    const uint8_t *measured;
    int filled, h, w;
    float tol, chord_max2;
    double ku, cu, kv, cv, wf;
} Params;

/* What the sampling stage needs of up to CHUNK pixels of a row, written by the projection
   stage (which also prefetches B's pixels they land on). */
#define CHUNK 256
typedef struct {
    int32_t base[CHUNK];                 /* B's top-left pixel in `pad` */
    float fu[CHUNK], fv[CHUNK];          /* bilinear weights; sign bit: the nearest pixel is
                                            right of / below the top-left one */
    float rq[CHUNK];                     /* B's range of A's point; NaN: A is invalid */
    float px[CHUNK], py[CHUNK], pz[CHUNK], rx[CHUNK], rz[CHUNK]; /* A's point and ray */
} Chunk;

/* Projection of 8 pixels (ranges r8; sin/cos of their longitude, two quads each; the row's
   cos latitude clat and float32 sin latitude ay) into k at j; uv and rq rows (or NULL) get
   n <= 8 of them. */
AVX2 INLINE void project8(const Params *p, __m256 r8, __m256d sl0, __m256d sl1, __m256d cl0,
                          __m256d cl1, __m256d clat, __m256 ay, Chunk *k, int j, float *uv,
                          float *rqo, int n) {
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const __m256 inf = _mm256_set1_ps(__builtin_inff()), nan = _mm256_set1_ps(__builtin_nanf(""));
    /* A's float32 ray and point */
    __m256 rx = narrow(_mm256_mul_pd(clat, sl0), _mm256_mul_pd(clat, sl1));
    __m256 rz = narrow(_mm256_mul_pd(clat, cl0), _mm256_mul_pd(clat, cl1));
    __m256 ok = _mm256_and_ps(_mm256_cmp_ps(r8, zero, _CMP_GT_OQ),
                              _mm256_cmp_ps(r8, inf, _CMP_LT_OQ));
    __m256 rr = _mm256_and_ps(r8, ok);
    __m256 px = _mm256_mul_ps(rx, rr), py = _mm256_mul_ps(ay, rr), pz = _mm256_mul_ps(rz, rr);
    __m256 qx = move_row(p->P, 0, px, py, pz), qy = move_row(p->P, 1, px, py, pz);
    __m256 qz = move_row(p->P, 2, px, py, pz);
    /* B's range, row and column */
    __m256 hz = _mm256_fmadd_ps(qx, qx, _mm256_mul_ps(qz, qz));
    __m256 rq = _mm256_blendv_ps(nan, _mm256_sqrt_ps(_mm256_fmadd_ps(qy, qy, hz)), ok);
    __m256 kv = _mm256_set1_ps((float)p->kv), cv = _mm256_set1_ps((float)p->cv);
    __m256 vb = angle_px(qy, _mm256_sqrt_ps(hz), kv, cv, _mm256_set1_ps(p->h * 0.5f), 1);
    vb = _mm256_and_ps(vb, ok);
    __m256 ku = _mm256_set1_ps((float)p->ku), cu = _mm256_set1_ps((float)p->cu);
    __m256 wf = _mm256_set1_ps((float)p->wf);
    __m256 ub = angle_px(qx, qz, ku, cu, _mm256_set1_ps(p->w * 0.25f), 0);
    __m256 wrap = _mm256_cmp_ps(ub, _mm256_sub_ps(wf, _mm256_set1_ps(0.5f)), _CMP_GE_OQ);
    ub = _mm256_and_ps(_mm256_sub_ps(ub, _mm256_and_ps(wrap, wf)), ok);
    /* B's 4 pixels around the match in the padded copy, the weights, the nearest one */
    __m256 u0 = _mm256_floor_ps(ub);
    __m256 v0 = _mm256_min_ps(_mm256_max_ps(_mm256_floor_ps(vb), zero),
                              _mm256_set1_ps((float)(p->h - 1)));
    __m256 fu = _mm256_sub_ps(ub, u0);
    __m256 fv = _mm256_min_ps(_mm256_max_ps(_mm256_sub_ps(vb, v0), zero), one);
    __m256i iu0 = _mm256_cvttps_epi32(u0), iv0 = _mm256_cvttps_epi32(v0);
    const int wp = p->w + 2;
    __m256i base = _mm256_add_epi32(_mm256_mullo_epi32(iv0, _mm256_set1_epi32(wp)),
                                    _mm256_add_epi32(iu0, _mm256_set1_epi32(1)));
    /* the nearest pixel rounds half to even, like np.rint */
    const int near = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 right = _mm256_cmp_ps(_mm256_round_ps(ub, near), u0, _CMP_GT_OQ);
    __m256 down = _mm256_cmp_ps(_mm256_round_ps(vb, near), v0, _CMP_GT_OQ);
    _mm256_storeu_si256((__m256i *)(k->base + j), base);
    /* B's pixels under lanes 0, 4 and 7 (the others lie between, mostly) */
    int b0 = k->base[j], b4 = k->base[j + 4], b7 = k->base[j + 7];
    _mm_prefetch((const char *)(p->pad + b0), _MM_HINT_T0);
    _mm_prefetch((const char *)(p->pad + b0 + wp), _MM_HINT_T0);
    _mm_prefetch((const char *)(p->pad + b4), _MM_HINT_T0);
    _mm_prefetch((const char *)(p->pad + b4 + wp), _MM_HINT_T0);
    _mm_prefetch((const char *)(p->pad + b7), _MM_HINT_T0);
    _mm_prefetch((const char *)(p->pad + b7 + wp), _MM_HINT_T0);
    if (p->filled) {
        _mm_prefetch((const char *)(p->measured + b0), _MM_HINT_T0);
        _mm_prefetch((const char *)(p->measured + b0 + wp), _MM_HINT_T0);
    }
    _mm256_storeu_ps(k->fu + j, _mm256_or_ps(fu, _mm256_and_ps(right, sign)));
    _mm256_storeu_ps(k->fv + j, _mm256_or_ps(fv, _mm256_and_ps(down, sign)));
    _mm256_storeu_ps(k->rq + j, rq);
    _mm256_storeu_ps(k->px + j, px);
    _mm256_storeu_ps(k->py + j, py);
    _mm256_storeu_ps(k->pz + j, pz);
    _mm256_storeu_ps(k->rx + j, rx);
    _mm256_storeu_ps(k->rz + j, rz);
    if (!uv) return;
    __m256 u = _mm256_blendv_ps(nan, ub, ok), v = _mm256_blendv_ps(nan, vb, ok);
    __m256 lo = _mm256_unpacklo_ps(u, v), hi = _mm256_unpackhi_ps(u, v);
    __m256 uv0 = _mm256_permute2f128_ps(lo, hi, 0x20), uv1 = _mm256_permute2f128_ps(lo, hi, 0x31);
    if (n == 8) {
        _mm256_storeu_ps(uv, uv0);
        _mm256_storeu_ps(uv + 8, uv1);
        _mm256_storeu_ps(rqo, rq);
        return;
    }
    float t_uv[16];
    _mm256_storeu_ps(t_uv, uv0);
    _mm256_storeu_ps(t_uv + 8, uv1);
    memcpy(uv, t_uv, 8 * (size_t)n);
    memcpy(rqo, k->rq + j, 4 * (size_t)n);
}

AVX2 INLINE void store_mask(uint8_t *dst, __m256 m, int n) {
    uint64_t v = SPREAD[_mm256_movemask_ps(m)];
    memcpy(dst, &v, (size_t)n);
}

/* Sampling and checks of 8 pixels of k at j: the masks valid, landed, visible, consistent
   into m[0..3] at `at` (n <= 8 of them), or their counts into sums. */
AVX2 INLINE void check8(const Params *p, const Chunk *k, int j, __m256 ay, uint8_t **m,
                        size_t at, int n, int64_t *sums) {
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const int wp = p->w + 2;
    __m256i base = _mm256_loadu_si256((const __m256i *)(k->base + j));
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 right = _mm256_loadu_ps(k->fu + j), down = _mm256_loadu_ps(k->fv + j); /* sign bits */
    __m256 fu = _mm256_andnot_ps(sign, right), fv = _mm256_andnot_ps(sign, down);
    __m256 rq = _mm256_loadu_ps(k->rq + j);
    __m256 ok = _mm256_cmp_ps(rq, rq, _CMP_ORD_Q);
    __m256 a, b, c, d;
    pairs(p->pad, base, &a, &b);
    pairs(p->pad, _mm256_add_epi32(base, _mm256_set1_epi32(wp)), &c, &d);
    /* pad holds no NaN: all 4 valid <=> the least > 0 */
    __m256 ok4 = _mm256_cmp_ps(_mm256_min_ps(_mm256_min_ps(a, b), _mm256_min_ps(c, d)), zero,
                               _CMP_GT_OQ);
    __m256 top = _mm256_fmadd_ps(_mm256_sub_ps(b, a), fu, a);
    __m256 bot = _mm256_fmadd_ps(_mm256_sub_ps(d, c), fu, c);
    __m256 s = _mm256_fmadd_ps(top, _mm256_sub_ps(one, fv), _mm256_mul_ps(bot, fv));
    __m256 nr = _mm256_blendv_ps(_mm256_blendv_ps(a, b, right), _mm256_blendv_ps(c, d, right),
                                 down);
    __m256 meas;
    if (p->filled) {
        __m256i r1 = _mm256_srai_epi32(_mm256_castps_si256(right), 31); /* all ones: -1 */
        __m256i d1 = _mm256_srai_epi32(_mm256_castps_si256(down), 31);
        __m256i idx = _mm256_add_epi32(base, _mm256_and_si256(d1, _mm256_set1_epi32(wp)));
        idx = _mm256_sub_epi32(idx, r1);
        __m256i g = _mm256_i32gather_epi32((const int *)p->measured, idx, 1);
        g = _mm256_and_si256(g, _mm256_set1_epi32(0xff));
        meas = _mm256_castsi256_ps(
            _mm256_xor_si256(_mm256_cmpeq_epi32(g, _mm256_setzero_si256()), _mm256_set1_epi32(-1)));
    } else {
        meas = _mm256_cmp_ps(nr, zero, _CMP_GT_OQ);
    }
    /* the z-test (a filled gap holds a neighbour's range: twice the tolerance) */
    __m256 sb = _mm256_and_ps(s, ok4);
    __m256 land = _mm256_and_ps(ok, _mm256_cmp_ps(nr, zero, _CMP_GT_OQ));
    __m256 tolv = _mm256_set1_ps(p->tol);
    __m256 t = _mm256_add_ps(one, _mm256_blendv_ps(_mm256_add_ps(tolv, tolv), tolv, meas));
    __m256 ref = _mm256_mul_ps(_mm256_max_ps(nr, sb), t);
    __m256 vis = _mm256_and_ps(land, _mm256_cmp_ps(rq, ref, _CMP_LE_OQ));
    /* the round trip: B's surface at the match back in A, c = (sb / rq)(p - t) + t for A's
       point p and B's centre t in A, scaled by rq; it closes when the chord between its
       direction and A's ray is under chord_max: |c - |c| ray|^2 < chord_max^2 |c|^2 */
    __m256 dif = _mm256_sub_ps(rq, sb);
    __m256 cx = _mm256_fmadd_ps(sb, _mm256_loadu_ps(k->px + j),
                                _mm256_mul_ps(dif, _mm256_set1_ps(p->Q[3])));
    __m256 cy = _mm256_fmadd_ps(sb, _mm256_loadu_ps(k->py + j),
                                _mm256_mul_ps(dif, _mm256_set1_ps(p->Q[7])));
    __m256 cz = _mm256_fmadd_ps(sb, _mm256_loadu_ps(k->pz + j),
                                _mm256_mul_ps(dif, _mm256_set1_ps(p->Q[11])));
    __m256 n2 = _mm256_fmadd_ps(cx, cx, _mm256_fmadd_ps(cy, cy, _mm256_mul_ps(cz, cz)));
    __m256 nc = _mm256_sqrt_ps(n2);
    __m256 dx = _mm256_fnmadd_ps(nc, _mm256_loadu_ps(k->rx + j), cx);
    __m256 dy = _mm256_fnmadd_ps(nc, ay, cy);
    __m256 dz = _mm256_fnmadd_ps(nc, _mm256_loadu_ps(k->rz + j), cz);
    __m256 d2 = _mm256_fmadd_ps(dx, dx, _mm256_fmadd_ps(dy, dy, _mm256_mul_ps(dz, dz)));
    __m256 close = _mm256_cmp_ps(d2, _mm256_mul_ps(_mm256_set1_ps(p->chord_max2), n2), _CMP_LT_OQ);
    /* a filled gap's round trip cannot be trusted to the pixel */
    close = _mm256_or_ps(close, _mm256_xor_ps(meas, _mm256_castsi256_ps(_mm256_set1_epi32(-1))));
    __m256 cons = _mm256_and_ps(_mm256_and_ps(vis, ok4), close);
    if (sums) {
        sums[0] += __builtin_popcount(_mm256_movemask_ps(cons));
        sums[1] += __builtin_popcount(_mm256_movemask_ps(land));
        return;
    }
    store_mask(m[0] + at, ok, n);
    store_mask(m[1] + at, land, n);
    store_mask(m[2] + at, vis, n);
    store_mask(m[3] + at, cons, n);
}

AVX2 void wb_correspond_rows(const float *ra, int h, int w, const float *pad,
                             const uint8_t *measured, int filled, const float *P, const float *Q,
                             const double *tables, int ts, const double *scale, float tol,
                             float chord_max2, float *uv, float *rq, uint8_t *m0, uint8_t *m1,
                             uint8_t *m2, uint8_t *m3, int64_t *sums, int row0, int row1) {
    Params p = {P, Q, pad, measured, filled, h, w, tol, chord_max2,
                scale[0], scale[1], scale[2], scale[3], scale[4]};
    const double *slon = tables, *clon = tables + ts, *slat = tables + 2 * ts;
    const double *clat = tables + 3 * ts;
    uint8_t *m[4] = {m0, m1, m2, m3};
    Chunk k;
    for (int v = row0; v < row1; v++) {
        __m256d cl = _mm256_set1_pd(clat[v]);
        __m256 ay = _mm256_set1_ps((float)slat[v]);
        const float *r = ra + (size_t)v * w;
        size_t row = (size_t)v * w;
        int64_t *srow = sums ? sums + 2 * (size_t)v : NULL;
        if (srow) srow[0] = srow[1] = 0;
        for (int c0 = 0; c0 < w; c0 += CHUNK) {
            int stop = c0 + CHUNK < w ? c0 + CHUNK : w, u = c0;
            for (; u + 8 <= stop; u += 8)
                project8(&p, _mm256_loadu_ps(r + u), _mm256_loadu_pd(slon + u),
                         _mm256_loadu_pd(slon + u + 4), _mm256_loadu_pd(clon + u),
                         _mm256_loadu_pd(clon + u + 4), cl, ay, &k, u - c0,
                         srow ? NULL : uv + 2 * (row + u), srow ? NULL : rq + row + u, 8);
            if (u < stop) { /* the row's last columns, zero-padded (range 0: invalid) */
                float tr[8] = {0};
                double tsn[8] = {0}, tcs[8] = {0};
                int n = stop - u;
                memcpy(tr, r + u, 4 * (size_t)n);
                memcpy(tsn, slon + u, 8 * (size_t)n);
                memcpy(tcs, clon + u, 8 * (size_t)n);
                project8(&p, _mm256_loadu_ps(tr), _mm256_loadu_pd(tsn), _mm256_loadu_pd(tsn + 4),
                         _mm256_loadu_pd(tcs), _mm256_loadu_pd(tcs + 4), cl, ay, &k, u - c0,
                         srow ? NULL : uv + 2 * (row + u), srow ? NULL : rq + row + u, n);
            }
            for (u = c0; u < stop; u += 8)
                check8(&p, &k, u - c0, ay, m, row + u, stop - u < 8 ? stop - u : 8, srow);
        }
    }
}

/* wb_correspond_rows over rows [0, h) on `threads` OpenMP threads (1: the calling thread). */
AVX2 void wb_correspond(const float *ra, int h, int w, const float *pad, const uint8_t *measured,
                        int filled, const float *P, const float *Q, const double *tables, int ts,
                        const double *scale, float tol, float chord_max2, float *uv, float *rq,
                        uint8_t *m0, uint8_t *m1, uint8_t *m2, uint8_t *m3, int64_t *sums,
                        int threads) {
    if (threads <= 1) {
        wb_correspond_rows(ra, h, w, pad, measured, filled, P, Q, tables, ts, scale, tol,
                           chord_max2, uv, rq, m0, m1, m2, m3, sums, 0, h);
        return;
    }
    const int block = 4;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int v = 0; v < h; v += block) {
        int stop = v + block < h ? v + block : h;
        wb_correspond_rows(ra, h, w, pad, measured, filled, P, Q, tables, ts, scale, tol,
                           chord_max2, uv, rq, m0, m1, m2, m3, sums, v, stop);
    }
}

/* Target.pad (and, unless NULL, Target.measured) from B's (gap-filled) range `values` and its
   own range `original`, both (h, w) float32: see the layouts above. Returns how many of B's
   `values` are valid. */
AVX2 long long wb_pad(const float *values, const float *original, int h, int w, float *pad,
                      uint8_t *measured, int threads) {
    const int wp = w + 2;
    long long total = 0;
    const int team = threads > 0 ? threads : 1;
#pragma omp parallel for schedule(static) reduction(+ : total) num_threads(team)
    for (int v = 0; v <= h; v++) {
        const int src = v < h ? v : h - 1;
        const float *x = values + (size_t)src * w;
        float *row = pad + (size_t)v * wp;
        int n = 0;
        for (int u = 0; u < w; u++) {
            float r = x[u];
            int ok = (r > 0.0f) & (r < __builtin_inff());
            row[u + 1] = ok ? r : 0.0f;
            n += ok;
        }
        row[0] = row[w];
        row[w + 1] = row[1];
        if (measured) {
            const float *o = original + (size_t)src * w;
            uint8_t *mrow = measured + (size_t)v * wp;
            for (int u = 0; u < w; u++) mrow[u + 1] = (o[u] > 0.0f) & (o[u] < __builtin_inff());
            mrow[0] = mrow[w];
            mrow[w + 1] = mrow[1];
        }
        if (v < h) total += n;
    }
    return total;
}
