// RMSNorm with a gain period, as model.rmsnormForward/Backward: row r of x
// (R rows of dim features) uses gain[(r % P) * dim ...], so P = 1 is the
// model-width RMSNorm and P = H, dim = d is MEA's per-head GroupNorm.
// eps is 1e-5. One warp per row; the gain gradient is reduced over rows
// column-parallel into per-split partials, then summed in split order
// (deterministic, no atomics).

#include "common.cuh"

#define NORM_EPS 1e-5f

// out (R, dim), rstd (R) from x (R, dim) and gain (P*dim).
extern "C" __global__ void rmsnorm_fwd(float* __restrict__ out, float* __restrict__ rstd,
                                       const float* __restrict__ x, const float* __restrict__ gain,
                                       int R, int dim, int P) {
    int warps = blockDim.x >> 5;
    int r = blockIdx.x * warps + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (r >= R) return;
    const float* xr = x + (long long)r * dim;
    float ss = 0.0f;
    for (int i = lane; i < dim; i += 32) ss = fmaf(xr[i], xr[i], ss);
    ss = warp_sum(ss);
    float s = 1.0f / sqrtf(ss / (float)dim + NORM_EPS);
    if (lane == 0) rstd[r] = s;
    const float* g = gain + (long long)(r % P) * dim;
    float* o = out + (long long)r * dim;
    for (int i = lane; i < dim; i += 32) o[i] = (xr[i] * s) * g[i];
}

// dx (R, dim) overwritten from dout, x, gain and the saved rstd:
// dx = s * (g*dout - xhat * mean(g*dout*xhat)), xhat = x*s.
extern "C" __global__ void rmsnorm_bwd_dx(float* __restrict__ dx, const float* __restrict__ dout,
                                          const float* __restrict__ x, const float* __restrict__ gain,
                                          const float* __restrict__ rstd, int R, int dim, int P) {
    int warps = blockDim.x >> 5;
    int r = blockIdx.x * warps + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (r >= R) return;
    const float* xr = x + (long long)r * dim;
    const float* dr = dout + (long long)r * dim;
    const float* g = gain + (long long)(r % P) * dim;
    float s = rstd[r];
    float dot = 0.0f;
    for (int i = lane; i < dim; i += 32) dot = fmaf(dr[i] * g[i], xr[i] * s, dot);
    dot = warp_sum(dot) / (float)dim;
    float* o = dx + (long long)r * dim;
    for (int i = lane; i < dim; i += 32) o[i] = s * (dr[i] * g[i] - (xr[i] * s) * dot);
}

// part[split][c] for c < P*dim: the sum over rows r = q*P + c/dim, q in this
// split's range of R/P, of dout[r, c%dim] * x[r, c%dim] * rstd[r].
// grid (ceil(P*dim / blockDim.x), splits).
extern "C" __global__ void rmsnorm_dgain_partial(float* __restrict__ part, const float* __restrict__ dout,
                                                 const float* __restrict__ x, const float* __restrict__ rstd,
                                                 int R, int dim, int P, int perSplit) {
    int cols = P * dim;
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    int p = c / dim, i = c % dim;
    int Rp = R / P;
    int q0 = blockIdx.y * perSplit, q1 = min(Rp, q0 + perSplit);
    float acc = 0.0f;
    for (int q = q0; q < q1; q++) {
        long long r = (long long)q * P + p;
        acc = fmaf(dout[r * dim + i], x[r * dim + i] * rstd[r], acc);
    }
    part[(long long)blockIdx.y * cols + c] = acc;
}

// dst[c] += sum over s < splits of part[s*len + c], summed in order of s.
extern "C" __global__ void reduce_partials(float* __restrict__ dst, const float* __restrict__ part,
                                           int len, int splits) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= len) return;
    float acc = 0.0f;
    for (int s = 0; s < splits; s++) acc += part[(long long)s * len + c];
    dst[c] += acc;
}
