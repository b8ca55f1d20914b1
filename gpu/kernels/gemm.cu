// Tiled single-precision GEMM for row-major matrices:
//
//   C = alpha * op(A) * op(B) + beta * C,   op(A) m x k, op(B) k x n, C m x n
//
// op(A) = A (A[i*lda + p]) or A^T (A[p*lda + i]); likewise op(B) = B
// (B[p*ldb + j]) or B^T (B[j*ldb + p]). beta == 0 overwrites C without
// reading it (so C may hold garbage or NaN). This is model.GemmRef's contract;
// the sum over p is a per-thread FMA chain in increasing p.
//
// Batched: blockIdx.z = batch z, and each operand X is offset by
// (z / zdiv) * sX1 + (z % zdiv) * sX2 elements, which covers attention's
// (sequence, head) pairs, z = b*H + h, with zdiv = H.
//
// causal (attention only, square T x T operands):
//   0  plain product;
//   1  only C's lower triangle (j <= i) is needed: tiles strictly above the
//      diagonal are skipped and left unwritten (the softmax kernels zero them);
//   2  op(A) is lower triangular (op(A)[i,p] == 0 for p > i): the k loop
//      stops after the tile's last row;
//   3  op(A) is upper triangular (op(A)[i,p] == 0 for p < i, i.e. A^T of a
//      lower-triangular A): the k loop starts at the tile's first row.
// Skipped terms are exact zeros, so modes 2 and 3 give the same result as 0.
//
// Split-K (ksplit > 0, with causal 0 and zdiv 1): problem z sums only over
// p in [z*ksplit, (z+1)*ksplit) and writes alpha times that partial sum at
// C + z*sc1 (a workspace, beta 0); splitk_reduce then adds the partials in
// order of z. Weight gradients (m, n ~ model width, k = tokens) need this to
// fill the GPU.
//
// Each block computes a BM x BN tile of C with (BM/TM)*(BN/TN) = 256 threads,
// each holding a TM x TN register tile; A and B panels of depth BK are staged
// k-major in shared memory (padded by 4 floats to avoid bank conflicts and
// keep float4 alignment).

#include "common.cuh"

template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB>
__device__ __forceinline__ void gemm_tile(int m, int n, int k, float alpha,
                                          const float* __restrict__ A, int lda, long long sa1, long long sa2,
                                          const float* __restrict__ B, int ldb, long long sb1, long long sb2,
                                          float beta, float* __restrict__ C, int ldc, long long sc1, long long sc2,
                                          int zdiv, int causal, int ksplit) {
    constexpr int NT = (BM / TM) * (BN / TN);
    __shared__ __align__(16) float As[BK][BM + 4];
    __shared__ __align__(16) float Bs[BK][BN + 4];

    const int z = blockIdx.z;
    A += (long long)(z / zdiv) * sa1 + (long long)(z % zdiv) * sa2;
    B += (long long)(z / zdiv) * sb1 + (long long)(z % zdiv) * sb2;
    C += (long long)(z / zdiv) * sc1 + (long long)(z % zdiv) * sc2;

    const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
    if (causal == 1 && col0 > row0 + BM - 1) return; // whole tile above the diagonal
    int kBeg = 0, kEnd = k;
    if (causal == 2) kEnd = min(k, row0 + BM);
    if (causal == 3) kBeg = min(k, row0); // row0 is a multiple of BM, hence of BK
    if (ksplit > 0) {
        kBeg = min(k, z * ksplit);
        kEnd = min(k, kBeg + ksplit);
    }

    const int tid = threadIdx.x;
    const int tx = tid % (BN / TN), ty = tid / (BN / TN);

    float acc[TM][TN];
#pragma unroll
    for (int r = 0; r < TM; r++)
#pragma unroll
        for (int c = 0; c < TN; c++) acc[r][c] = 0.0f;

    // Each thread stages LA elements of the A panel and LB of the B panel per
    // step. Consecutive threads take consecutive addresses (coalesced), and a
    // thread's slots l lie a fixed stride apart (NT is a multiple of BM, BN
    // and BK), so one pointer per operand serves all of them and advances by
    // one panel per step.
    constexpr int LA = BM * BK / NT, LB = BN * BK / NT;
    // A slot l: row ai + l*dAI, depth ap + l*dAP.
    constexpr int dAI = TA ? 0 : NT / BK, dAP = TA ? NT / BM : 0;
    const int ai = TA ? tid % BM : tid / BK, ap = TA ? tid / BM : tid % BK;
    const long long aSlot = TA ? (long long)dAP * lda : (long long)dAI * lda;
    const float* aPtr = TA ? A + (long long)(kBeg + ap) * lda + row0 + ai : A + (long long)(row0 + ai) * lda + kBeg + ap;
    const long long aStep = TA ? (long long)BK * lda : BK;
    // B slot l: column bj + l*dBJ, depth bp + l*dBP.
    constexpr int dBJ = TB ? NT / BK : 0, dBP = TB ? 0 : NT / BN;
    const int bj = TB ? tid / BK : tid % BN, bp = TB ? tid % BK : tid / BN;
    const long long bSlot = TB ? (long long)dBJ * ldb : (long long)dBP * ldb;
    const float* bPtr = TB ? B + (long long)(col0 + bj) * ldb + kBeg + bp : B + (long long)(kBeg + bp) * ldb + col0 + bj;
    const long long bStep = TB ? BK : (long long)BK * ldb;

    for (int p0 = kBeg; p0 < kEnd; p0 += BK) {
#pragma unroll
        for (int l = 0; l < LA; l++) {
            int i = ai + l * dAI, p = ap + l * dAP;
            As[p][i] = (row0 + i < m && p0 + p < kEnd) ? aPtr[l * aSlot] : 0.0f;
        }
#pragma unroll
        for (int l = 0; l < LB; l++) {
            int j = bj + l * dBJ, p = bp + l * dBP;
            Bs[p][j] = (col0 + j < n && p0 + p < kEnd) ? bPtr[l * bSlot] : 0.0f;
        }
        aPtr += aStep;
        bPtr += bStep;
        __syncthreads();
#pragma unroll
        for (int p = 0; p < BK; p++) {
            float a[TM], b[TN];
#pragma unroll
            for (int r = 0; r < TM; r += 4) {
                float4 t = *reinterpret_cast<const float4*>(&As[p][ty * TM + r]);
                a[r] = t.x; a[r + 1] = t.y; a[r + 2] = t.z; a[r + 3] = t.w;
            }
#pragma unroll
            for (int c = 0; c < TN; c += 4) {
                float4 t = *reinterpret_cast<const float4*>(&Bs[p][tx * TN + c]);
                b[c] = t.x; b[c + 1] = t.y; b[c + 2] = t.z; b[c + 3] = t.w;
            }
#pragma unroll
            for (int r = 0; r < TM; r++)
#pragma unroll
                for (int c = 0; c < TN; c++) acc[r][c] = fmaf(a[r], b[c], acc[r][c]);
        }
        __syncthreads();
    }

#pragma unroll
    for (int r = 0; r < TM; r++) {
        int gi = row0 + ty * TM + r;
        if (gi >= m) continue;
        float* crow = C + (long long)gi * ldc;
#pragma unroll
        for (int c = 0; c < TN; c++) {
            int gj = col0 + tx * TN + c;
            if (gj >= n) continue;
            float v = alpha * acc[r][c];
            if (beta != 0.0f) v += beta * crow[gj];
            crow[gj] = v;
        }
    }
}

#define GEMM_PARAMS                                                                                   \
    int m, int n, int k, float alpha, const float *A, int lda, long long sa1, long long sa2,        \
        const float *B, int ldb, long long sb1, long long sb2, float beta, float *C, int ldc,        \
        long long sc1, long long sc2, int zdiv, int causal, int ksplit
#define GEMM_ARGS m, n, k, alpha, A, lda, sa1, sa2, B, ldb, sb1, sb2, beta, C, ldc, sc1, sc2, zdiv, causal, ksplit

// 128 x 128 tiles (8 x 8 per thread) for large products, 64 x 64 (4 x 4 per
// thread) when the large tiles would leave the GPU's multiprocessors idle.
// Two blocks per multiprocessor (at most 128 registers per thread).
#define GEMM_KERNEL(name, BM, BN, BK, TM, TN, TA, TB)                                   \
    extern "C" __global__ void __launch_bounds__(256, 2) name(GEMM_PARAMS) {             \
        gemm_tile<BM, BN, BK, TM, TN, TA, TB>(GEMM_ARGS);                               \
    }

GEMM_KERNEL(gemm_nn_128, 128, 128, 8, 8, 8, false, false)
GEMM_KERNEL(gemm_nt_128, 128, 128, 8, 8, 8, false, true)
GEMM_KERNEL(gemm_tn_128, 128, 128, 8, 8, 8, true, false)
GEMM_KERNEL(gemm_tt_128, 128, 128, 8, 8, 8, true, true)
GEMM_KERNEL(gemm_nn_64, 64, 64, 16, 4, 4, false, false)
GEMM_KERNEL(gemm_nt_64, 64, 64, 16, 4, 4, false, true)
GEMM_KERNEL(gemm_tn_64, 64, 64, 16, 4, 4, true, false)
GEMM_KERNEL(gemm_tt_64, 64, 64, 16, 4, 4, true, true)

// splitk_reduce: C[i*ldc + j] = sum over s < splits of W[s][i][j] (W is
// splits x m x n, summed in order of s) + beta * C[i*ldc + j] (C not read
// when beta == 0).
extern "C" __global__ void splitk_reduce(float* __restrict__ C, int ldc, const float* __restrict__ W, int m, int n,
                                         int splits, float beta) {
    long long total = (long long)m * n;
    GRID_LOOP(idx, total) {
        long long i = idx / n;
        int j = (int)(idx % n);
        float acc = 0.0f;
        for (int s = 0; s < splits; s++) acc += W[s * total + idx];
        float* c = C + i * ldc + j;
        *c = beta != 0.0f ? acc + beta * *c : acc;
    }
}
