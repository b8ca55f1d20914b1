// Embedding, SwiGLU, residual adds, cross-entropy, the global gradient norm
// and AdamW. Reductions that produce a reported number (loss, gradient norm)
// use fixed grids and fixed summation orders, in double, so they are
// deterministic.

#include "common.cuh"

// embed_fwd: out (N, D) = emb[tok[n]].
extern "C" __global__ void embed_fwd(float* __restrict__ out, const int* __restrict__ tok,
                                     const float* __restrict__ emb, int N, int D) {
    long long total = (long long)N * D;
    GRID_LOOP(idx, total) {
        long long n = idx / D;
        int c = (int)(idx % D);
        out[idx] = emb[(long long)tok[n] * D + c];
    }
}

// embed_bwd: demb (V, D) += dout rows scattered by token, without atomics:
// the host sorts positions by token (stable), perm[offs[v]..offs[v+1]) are
// the positions holding token v in increasing order, and each (v, column)
// thread adds them in that order, exactly as the CPU loop does.
// grid (V, ceil(D / blockDim.x)).
extern "C" __global__ void embed_bwd(float* __restrict__ demb, const float* __restrict__ dout,
                                     const int* __restrict__ perm, const int* __restrict__ offs, int D) {
    int v = blockIdx.x;
    int c = blockIdx.y * blockDim.x + threadIdx.x;
    int q0 = offs[v], q1 = offs[v + 1];
    if (c >= D || q0 == q1) return;
    float acc = demb[(long long)v * D + c];
    for (int q = q0; q < q1; q++) acc += dout[(long long)perm[q] * D + c];
    demb[(long long)v * D + c] = acc;
}

// swiglu_fwd: h (N, F) = silu(a) * b, ab (N, 2F) holding a then b.
extern "C" __global__ void swiglu_fwd(float* __restrict__ h, const float* __restrict__ ab, int N, int F) {
    long long total = (long long)N * F;
    GRID_LOOP(idx, total) {
        long long n = idx / F;
        int i = (int)(idx % F);
        float a = ab[n * 2 * F + i], b = ab[n * 2 * F + F + i];
        h[idx] = (a / (1.0f + expf(-a))) * b;
    }
}

// swiglu_bwd: dab (N, 2F) overwritten from dh (N, F) and ab.
extern "C" __global__ void swiglu_bwd(float* __restrict__ dab, const float* __restrict__ dh,
                                      const float* __restrict__ ab, int N, int F) {
    long long total = (long long)N * F;
    GRID_LOOP(idx, total) {
        long long n = idx / F;
        int i = (int)(idx % F);
        float a = ab[n * 2 * F + i], b = ab[n * 2 * F + F + i];
        float g = dh[idx];
        float sg = 1.0f / (1.0f + expf(-a));
        dab[n * 2 * F + i] = g * b * sg * (1.0f + a * (1.0f - sg));
        dab[n * 2 * F + F + i] = g * a * sg;
    }
}

// add_inplace: dst += src.
extern "C" __global__ void add_inplace(float* __restrict__ dst, const float* __restrict__ src, long long n) {
    GRID_LOOP(i, n) dst[i] += src[i];
}

// ce_fwd: one block per row n of logits (N, V): lse[n] = log sum exp, and
// rowloss[n] = lse - logits[tg] when the target is not negative, else 0.
extern "C" __global__ void ce_fwd(float* __restrict__ lse, float* __restrict__ rowloss,
                                  const float* __restrict__ logits, const int* __restrict__ targets, int N,
                                  int V) {
    __shared__ float scratch[32];
    int n = blockIdx.x;
    if (n >= N) return;
    const float* row = logits + (long long)n * V;
    float mx = NEG_INF;
    for (int i = threadIdx.x; i < V; i += blockDim.x) mx = fmaxf(mx, row[i]);
    mx = block_max(mx, scratch);
    float s = 0.0f;
    for (int i = threadIdx.x; i < V; i += blockDim.x) s += expf(row[i] - mx);
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) {
        float l = mx + logf(s);
        lse[n] = l;
        int tg = targets[n];
        rowloss[n] = tg >= 0 ? l - row[tg] : 0.0f;
    }
}

// sum_to_double: out[0] = sum of x[0..n) in double, one block, fixed order.
extern "C" __global__ void sum_to_double(double* __restrict__ out, const float* __restrict__ x, int n) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) acc += (double)x[i];
    acc = block_sum_d(acc, scratch);
    if (threadIdx.x == 0) out[0] = acc;
}

// ce_bwd: dlogits (N, V) = scale * (softmax - onehot(target)) for scored rows,
// 0 for rows whose target is negative.
extern "C" __global__ void ce_bwd(float* __restrict__ dlogits, const float* __restrict__ logits,
                                  const float* __restrict__ lse, const int* __restrict__ targets, int N, int V,
                                  float scale) {
    long long total = (long long)N * V;
    GRID_LOOP(idx, total) {
        long long n = idx / V;
        int i = (int)(idx % V);
        int tg = targets[n];
        float g = 0.0f;
        if (tg >= 0) {
            g = expf(logits[idx] - lse[n]) * scale;
            if (i == tg) g -= scale;
        }
        dlogits[idx] = g;
    }
}

// sumsq_partial: part[blockIdx.x] = sum of x[i]^2 (double) over the block's
// grid-stride share; a fixed grid makes the result deterministic.
extern "C" __global__ void sumsq_partial(double* __restrict__ part, const float* __restrict__ x, long long n) {
    __shared__ double scratch[32];
    double acc = 0.0;
    GRID_LOOP(i, n) {
        double v = (double)x[i];
        acc += v * v;
    }
    acc = block_sum_d(acc, scratch);
    if (threadIdx.x == 0) part[blockIdx.x] = acc;
}

// sum_double: out[0] = sum of part[0..n), one block.
extern "C" __global__ void sum_double(double* __restrict__ out, const double* __restrict__ part, int n) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) acc += part[i];
    acc = block_sum_d(acc, scratch);
    if (threadIdx.x == 0) out[0] = acc;
}

// adamw: one AdamW update of every parameter, as model.AdamW.Step after
// model.ClipGrads. sumsq[0] is the squared global gradient norm; when
// clip > 0 and the norm exceeds it, the gradients are first scaled (in
// place) by clip/norm. decay[i] != 0 selects the decoupled weight decay
// shrink (1 - lr*wd); stepSize = lr / (1 - beta1^t), sqrtBC2 =
// sqrt(1 - beta2^t).
extern "C" __global__ void adamw(float* __restrict__ p, float* __restrict__ g, float* __restrict__ m,
                                 float* __restrict__ v, const unsigned char* __restrict__ decay, long long n,
                                 const double* __restrict__ sumsq, double clip, float b1, float b2,
                                 double stepSize, double sqrtBC2, double eps, float shrinkDecay) {
    double norm = sqrt(sumsq[0]);
    bool doClip = clip > 0.0 && norm > clip;
    float gs = doClip ? (float)(clip / norm) : 1.0f;
    GRID_LOOP(i, n) {
        float gi = g[i];
        if (doClip) {
            gi *= gs;
            g[i] = gi;
        }
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        double denom = sqrt((double)vi) / sqrtBC2 + eps;
        float shrink = decay[i] ? shrinkDecay : 1.0f;
        p[i] = p[i] * shrink - (float)(stepSize * (double)mi / denom);
    }
}

// scale_inplace: x *= s (tests and utilities).
extern "C" __global__ void scale_inplace(float* __restrict__ x, float s, long long n) {
    GRID_LOOP(i, n) x[i] *= s;
}
