// Attention pieces around the batched GEMMs (see gemm.cu): rotary
// embeddings, KV head mixing (HLC or the fixed GQA/MHA grouping, given as a
// one-hot matrix), and the causal row softmax with its backward pass.

#include "common.cuh"

// rope: rotate in place heads [0, nheads) of every row of x (N rows of
// stride ld, head h at column h*d); row n is at position n % T. Rotate-half:
// feature i pairs with i + d/2. cos/sin are (positions, d/2). inverse != 0
// rotates by the negative angle (the backward pass).
extern "C" __global__ void rope(float* __restrict__ x, const float* __restrict__ cosT,
                                const float* __restrict__ sinT, int N, int T, int ld, int nheads, int d,
                                int inverse) {
    int half = d >> 1;
    long long total = (long long)N * nheads * half;
    GRID_LOOP(idx, total) {
        int i = (int)(idx % half);
        long long rest = idx / half;
        int h = (int)(rest % nheads);
        long long n = rest / nheads;
        int pos = (int)(n % T);
        float c = cosT[pos * half + i], s = sinT[pos * half + i];
        float* v = x + n * ld + (long long)h * d;
        float a = v[i], b = v[i + half];
        if (inverse) {
            v[i] = a * c + b * s;
            v[i + half] = -a * s + b * c;
        } else {
            v[i] = a * c - b * s;
            v[i + half] = a * s + b * c;
        }
    }
}

// mix_fwd: out (N, H, d)[n,j,:] = sum_i W[i*H + j] * in[n*ld + off + i*d ...]
// over the G component heads, summed in increasing i.
extern "C" __global__ void mix_fwd(float* __restrict__ out, const float* __restrict__ in,
                                   const float* __restrict__ W, int N, int ld, int off, int G, int H, int d) {
    long long total = (long long)N * H * d;
    GRID_LOOP(idx, total) {
        int k = (int)(idx % d);
        int j = (int)((idx / d) % H);
        long long n = idx / ((long long)H * d);
        const float* src = in + n * ld + off + k;
        float acc = 0.0f;
        for (int i = 0; i < G; i++) acc += W[i * H + j] * src[(long long)i * d];
        out[idx] = acc;
    }
}

// mix_bwd_in: din[n*ld + off + i*d + k] = sum_j W[i*H + j] * dout[n, j, k]
// (overwritten), summed in increasing j.
extern "C" __global__ void mix_bwd_in(float* __restrict__ din, const float* __restrict__ dout,
                                      const float* __restrict__ W, int N, int ld, int off, int G, int H, int d) {
    long long total = (long long)N * G * d;
    GRID_LOOP(idx, total) {
        int k = (int)(idx % d);
        int i = (int)((idx / d) % G);
        long long n = idx / ((long long)G * d);
        const float* g = dout + n * H * d + k;
        float acc = 0.0f;
        for (int j = 0; j < H; j++) acc += W[i * H + j] * g[(long long)j * d];
        din[n * ld + off + (long long)i * d + k] = acc;
    }
}

// mix_dw_partial: part[split][i*H + j] = sum over rows n of this split and
// k < d of in[n*ld + off + i*d + k] * dout[n, j, k]. grid (G*H, splits),
// blockDim.x a multiple of 32.
extern "C" __global__ void mix_dw_partial(float* __restrict__ part, const float* __restrict__ dout,
                                          const float* __restrict__ in, int N, int ld, int off, int G, int H,
                                          int d, int perSplit) {
    __shared__ float scratch[32];
    int ij = blockIdx.x;
    int i = ij / H, j = ij % H;
    int n0 = blockIdx.y * perSplit, n1 = min(N, n0 + perSplit);
    long long cnt = (long long)max(0, n1 - n0) * d;
    float acc = 0.0f;
    for (long long e = threadIdx.x; e < cnt; e += blockDim.x) {
        long long n = n0 + e / d;
        int k = (int)(e % d);
        acc = fmaf(in[n * ld + off + (long long)i * d + k], dout[(n * H + j) * d + k], acc);
    }
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) part[(long long)blockIdx.y * G * H + ij] = acc;
}

// attn_softmax_fwd: for each of the rows (B*H*T) of S (T wide), row t of
// its T x T matrix: P[u] = softmax(S[0..t])[u] for u <= t and 0 for u > t,
// in place. maxbits receives atomicMax of the largest |S[u]|, u <= t, as
// float bits (non-negative floats order like their bit patterns). One warp
// per row.
extern "C" __global__ void attn_softmax_fwd(float* __restrict__ S, int T, long long rows,
                                            unsigned int* __restrict__ maxbits) {
    __shared__ float wmax[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    long long r = (long long)blockIdx.x * warps + warp;
    float amax = 0.0f;
    if (r < rows) {
        int t = (int)(r % T);
        float* row = S + r * T;
        float mx = NEG_INF;
        for (int u = lane; u <= t; u += 32) {
            float v = row[u];
            mx = fmaxf(mx, v);
            amax = fmaxf(amax, fabsf(v));
        }
        mx = warp_max(mx);
        float sum = 0.0f;
        for (int u = lane; u <= t; u += 32) {
            float e = expf(row[u] - mx);
            row[u] = e;
            sum += e;
        }
        sum = warp_sum(sum);
        float inv = 1.0f / sum;
        for (int u = lane; u <= t; u += 32) row[u] *= inv;
        for (int u = t + 1 + lane; u < T; u += 32) row[u] = 0.0f;
        amax = warp_max(amax);
    }
    if (lane == 0) wmax[warp] = amax;
    __syncthreads();
    if (threadIdx.x == 0) {
        float m = 0.0f;
        for (int w = 0; w < warps; w++) m = fmaxf(m, wmax[w]);
        atomicMax(maxbits, __float_as_uint(m));
    }
}

// attn_softmax_bwd: dP (rows of T) becomes dS = P * (dP - sum_u P dP) for
// u <= t and 0 above the diagonal, in place. One warp per row.
extern "C" __global__ void attn_softmax_bwd(const float* __restrict__ P, float* __restrict__ dP, int T,
                                            long long rows) {
    int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    long long r = (long long)blockIdx.x * warps + (threadIdx.x >> 5);
    if (r >= rows) return;
    int t = (int)(r % T);
    const float* p = P + r * T;
    float* g = dP + r * T;
    float dot = 0.0f;
    for (int u = lane; u <= t; u += 32) dot = fmaf(p[u], g[u], dot);
    dot = warp_sum(dot);
    for (int u = lane; u <= t; u += 32) g[u] = p[u] * (g[u] - dot);
    for (int u = t + 1 + lane; u < T; u += 32) g[u] = 0.0f;
}
