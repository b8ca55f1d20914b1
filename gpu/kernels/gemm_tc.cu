// Tensor-core SGEMM for compute capability 8.0+ (Ampere, Ada, Hopper), in
// its own PTX module (kernels_sm80.ptx, compiled for compute_80 by gen.sh):
// the same contract, batching, causal modes and split-K as gemm.cu (see the
// comment there), computed with mma.sync m16n8k8 TF32 instructions.
//
// TF32 keeps 10 of float32's 23 mantissa bits. With passes == 3 each
// operand is split as x = big + small (big = tf32(x), small = tf32(x - big))
// and the product is accumulated as small*big + big*small + big*big
// ("3xTF32"), which recovers about float32 accuracy at three times the
// tensor-core work: still several times the throughput of CUDA-core FP32 on
// these GPUs. passes == 1 is plain TF32 (faster, ~1e-3 relative error).
//
// Block tile BM x BN with BK = 16, 256 threads = 8 warps in a 2 x 4 grid;
// each warp owns a (BM/2) x (BN/4) tile of m16n8 accumulators. Operands are
// staged in shared memory as As[m][k] and Bs[n][k] (k contiguous, padded to
// 20 so fragment loads are free of bank conflicts).
//
// Fragment layout of mma.m16n8k8 (.tf32, row.col), lane l, g = l/4, t = l%4:
//   A (16x8):  a0 (g, t)  a1 (g+8, t)  a2 (g, t+4)  a3 (g+8, t+4)
//   B (8x8):   b0 (k=t, n=g)  b1 (k=t+4, n=g)
//   C (16x8):  c0 (g, 2t)  c1 (g, 2t+1)  c2 (g+8, 2t)  c3 (g+8, 2t+1)

#include "common.cuh"

#ifndef MEALAB_CUDA_EMU
__device__ __forceinline__ unsigned int to_tf32(float x) {
    unsigned int r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}

__device__ __forceinline__ void mma_tf32(float* d, const unsigned int* a, const unsigned int* b) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif

template <int BM, int BN, bool TA, bool TB>
__device__ __forceinline__ void gemm_tc_tile(int m, int n, int k, float alpha,
                                             const float* __restrict__ A, int lda, long long sa1, long long sa2,
                                             const float* __restrict__ B, int ldb, long long sb1, long long sb2,
                                             float beta, float* __restrict__ C, int ldc, long long sc1, long long sc2,
                                             int zdiv, int causal, int ksplit, int passes) {
    constexpr int BK = 16, SK = BK + 4, NT = 256;
    constexpr int WM = 2, WN = 4;                 // warps along m and n
    constexpr int WTM = BM / WM, WTN = BN / WN;   // warp tile
    constexpr int MT = WTM / 16, NTL = WTN / 8;   // mma tiles per warp
    __shared__ __align__(16) float As[BM][SK];
    __shared__ __align__(16) float Bs[BN][SK];

    const int z = blockIdx.z;
    A += (long long)(z / zdiv) * sa1 + (long long)(z % zdiv) * sa2;
    B += (long long)(z / zdiv) * sb1 + (long long)(z % zdiv) * sb2;
    C += (long long)(z / zdiv) * sc1 + (long long)(z % zdiv) * sc2;

    const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
    if (causal == 1 && col0 > row0 + BM - 1) return;
    int kBeg = 0, kEnd = k;
    if (causal == 2) kEnd = min(k, row0 + BM);
    if (causal == 3) kBeg = min(k, row0);
    if (ksplit > 0) {
        kBeg = min(k, z * ksplit);
        kEnd = min(k, kBeg + ksplit);
    }

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / WN, wn = warp % WN;
    const int g = lane >> 2, t = lane & 3;

    float acc[MT][NTL][4];
#pragma unroll
    for (int i = 0; i < MT; i++)
#pragma unroll
        for (int j = 0; j < NTL; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) acc[i][j][r] = 0.0f;

    // Global -> shared staging, as in gemm.cu: fixed per-thread coordinates,
    // one pointer per operand advanced by a panel per step.
    constexpr int LA = BM * BK / NT, LB = BN * BK / NT;
    constexpr int dAI = TA ? 0 : NT / BK, dAP = TA ? NT / BM : 0;
    const int ai = TA ? tid % BM : tid / BK, ap = TA ? tid / BM : tid % BK;
    const long long aSlot = TA ? (long long)dAP * lda : (long long)dAI * lda;
    const float* aPtr = TA ? A + (long long)(kBeg + ap) * lda + row0 + ai : A + (long long)(row0 + ai) * lda + kBeg + ap;
    const long long aStep = TA ? (long long)BK * lda : BK;
    constexpr int dBJ = TB ? NT / BK : 0, dBP = TB ? 0 : NT / BN;
    const int bj = TB ? tid / BK : tid % BN, bp = TB ? tid % BK : tid / BN;
    const long long bSlot = TB ? (long long)dBJ * ldb : (long long)dBP * ldb;
    const float* bPtr = TB ? B + (long long)(col0 + bj) * ldb + kBeg + bp : B + (long long)(kBeg + bp) * ldb + col0 + bj;
    const long long bStep = TB ? BK : (long long)BK * ldb;

    for (int p0 = kBeg; p0 < kEnd; p0 += BK) {
#pragma unroll
        for (int l = 0; l < LA; l++) {
            int i = ai + l * dAI, p = ap + l * dAP;
            As[i][p] = (row0 + i < m && p0 + p < kEnd) ? aPtr[l * aSlot] : 0.0f;
        }
#pragma unroll
        for (int l = 0; l < LB; l++) {
            int j = bj + l * dBJ, p = bp + l * dBP;
            Bs[j][p] = (col0 + j < n && p0 + p < kEnd) ? bPtr[l * bSlot] : 0.0f;
        }
        aPtr += aStep;
        bPtr += bStep;
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += 8) {
            unsigned int bBig[NTL][2], bSmall[NTL][2];
#pragma unroll
            for (int j = 0; j < NTL; j++) {
                const float* bs = &Bs[wn * WTN + j * 8 + g][kk + t];
                float x0 = bs[0], x1 = bs[4];
                bBig[j][0] = to_tf32(x0);
                bBig[j][1] = to_tf32(x1);
                bSmall[j][0] = to_tf32(x0 - __uint_as_float(bBig[j][0]));
                bSmall[j][1] = to_tf32(x1 - __uint_as_float(bBig[j][1]));
            }
#pragma unroll
            for (int i = 0; i < MT; i++) {
                const float* as = &As[wm * WTM + i * 16 + g][kk + t];
                float x[4] = {as[0], as[8 * SK], as[4], as[8 * SK + 4]};
                unsigned int aBig[4], aSmall[4];
#pragma unroll
                for (int r = 0; r < 4; r++) {
                    aBig[r] = to_tf32(x[r]);
                    aSmall[r] = to_tf32(x[r] - __uint_as_float(aBig[r]));
                }
#pragma unroll
                for (int j = 0; j < NTL; j++) {
                    if (passes == 3) {
                        mma_tf32(acc[i][j], aSmall, bBig[j]);
                        mma_tf32(acc[i][j], aBig, bSmall[j]);
                    }
                    mma_tf32(acc[i][j], aBig, bBig[j]);
                }
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < MT; i++) {
#pragma unroll
        for (int j = 0; j < NTL; j++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
                int gi = row0 + wm * WTM + i * 16 + g + 8 * (r >> 1);
                int gj = col0 + wn * WTN + j * 8 + 2 * t + (r & 1);
                if (gi >= m || gj >= n) continue;
                float* c = C + (long long)gi * ldc + gj;
                float v = alpha * acc[i][j][r];
                if (beta != 0.0f) v += beta * *c;
                *c = v;
            }
        }
    }
}

#define GEMM_TC_KERNEL(name, BM, BN, TA, TB)                                                              \
    extern "C" __global__ void __launch_bounds__(256) name(                                              \
        int m, int n, int k, float alpha, const float* A, int lda, long long sa1, long long sa2,          \
        const float* B, int ldb, long long sb1, long long sb2, float beta, float* C, int ldc,             \
        long long sc1, long long sc2, int zdiv, int causal, int ksplit, int passes) {                     \
        gemm_tc_tile<BM, BN, TA, TB>(m, n, k, alpha, A, lda, sa1, sa2, B, ldb, sb1, sb2, beta, C, ldc, sc1, \
                                     sc2, zdiv, causal, ksplit, passes);                                 \
    }

GEMM_TC_KERNEL(gemm_tc_nn_128, 128, 128, false, false)
GEMM_TC_KERNEL(gemm_tc_nt_128, 128, 128, false, true)
GEMM_TC_KERNEL(gemm_tc_tn_128, 128, 128, true, false)
GEMM_TC_KERNEL(gemm_tc_tt_128, 128, 128, true, true)
GEMM_TC_KERNEL(gemm_tc_nn_64, 64, 64, false, false)
GEMM_TC_KERNEL(gemm_tc_nt_64, 64, 64, false, true)
GEMM_TC_KERNEL(gemm_tc_tn_64, 64, 64, true, false)
GEMM_TC_KERNEL(gemm_tc_tt_64, 64, 64, true, true)
