//go:build cudaemu && !cuda

// A CPU emulator for mealab's CUDA kernels, for testing the backend on
// machines without a GPU (go test -tags cudaemu ./gpu/). It compiles the very
// same kernels/*.cu sources as C++ and runs each block's threads as
// cooperative fibers (ucontext), one block at a time:
//   - __syncthreads() waits until every thread of the block has arrived;
//   - warp shuffles exchange values through a per-warp slot array with a
//     warp barrier before and after;
//   - __shared__ variables are function-level statics (one block at a time);
//   - a thread that exits while others of its block wait at __syncthreads,
//     or while lanes of its warp wait in a shuffle, is reported as an error
//     (divergent barriers are undefined behaviour on a GPU).
// It checks indexing, barriers and host orchestration. It cannot find
// races that depend on real parallelism, memory-model issues, performance
// problems or anything about the driver API.

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <cmath>
#include <string>
#include <utility>

// ---- CUDA C surface used by the kernels ------------------------------------

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct emu_dim3 {
    unsigned int x, y, z;
};
struct float4 {
    float x, y, z, w;
};

struct EmuThread;
static EmuThread* emu_cur;
static emu_dim3 emu_block_idx, emu_block_dim, emu_grid_dim;

#define threadIdx (emu_thread_idx())
#define blockIdx (emu_block_idx)
#define blockDim (emu_block_dim)
#define gridDim (emu_grid_dim)

static inline emu_dim3 emu_thread_idx();

static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }

static inline float __int_as_float(int x) {
    float f;
    memcpy(&f, &x, 4);
    return f;
}
static inline unsigned int __float_as_uint(float f) {
    unsigned int x;
    memcpy(&x, &f, 4);
    return x;
}
static inline float __uint_as_float(unsigned int x) {
    float f;
    memcpy(&f, &x, 4);
    return f;
}
static inline unsigned int atomicMax(unsigned int* p, unsigned int v) {
    unsigned int old = *p;
    if (v > old) *p = v;
    return old;
}

static void emu_syncthreads();
int emu_lane();
static void emu_warp_exchange(uint64_t v, int src_lane, uint64_t* out);
#define __syncthreads() emu_syncthreads()

template <class T>
static inline T __shfl_xor_sync(unsigned int, T v, int lane_mask) {
    static_assert(sizeof(T) <= 8, "shuffle of a wide type");
    uint64_t in = 0, out = 0;
    memcpy(&in, &v, sizeof(T));
    emu_warp_exchange(in, emu_lane() ^ lane_mask, &out);
    T r;
    memcpy(&r, &out, sizeof(T));
    return r;
}

// Tensor-core instructions (gemm_tc.cu). cvt.rna.tf32.f32 rounds to 10
// mantissa bits, to nearest with ties away from zero. mma.m16n8k8 is a
// warp-collective product: every lane hands in its fragments, and each lane
// computes its four outputs from the gathered 16x8 A and 8x8 B (summing k
// in order in float; the hardware's internal rounding differs slightly).
#define MEALAB_CUDA_EMU 1
static void emu_warp_gather(const uint32_t* mine, int n, uint32_t* all);

static inline unsigned int to_tf32(float x) {
    unsigned int b;
    memcpy(&b, &x, 4);
    if ((b & 0x7f800000u) != 0x7f800000u) b += 0x1000u; // finite: round half away from zero
    return b & 0xffffe000u;
}

static inline void mma_tf32(float* d, const unsigned int* a, const unsigned int* b) {
    uint32_t mine[6] = {a[0], a[1], a[2], a[3], b[0], b[1]};
    uint32_t all[32 * 6];
    emu_warp_gather(mine, 6, all);
    int l = emu_lane(), g = l >> 2, t = l & 3;
    for (int r = 0; r < 4; r++) {
        int row = g + 8 * (r >> 1), col = 2 * t + (r & 1);
        float acc = d[r];
        for (int kk = 0; kk < 8; kk++) {
            // A[row][kk] lives in lane (row%8)*4 + kk%4, register (row>=8) + 2*(kk>=4).
            int al = (row & 7) * 4 + (kk & 3), ar = (row >> 3) + 2 * (kk >> 2);
            // B[kk][col] lives in lane col*4 + kk%4, register kk>=4.
            int bl = col * 4 + (kk & 3), br = kk >> 2;
            acc = fmaf(__uint_as_float(all[al * 6 + ar]), __uint_as_float(all[bl * 6 + 4 + br]), acc);
        }
        d[r] = acc;
    }
}

// ---- the kernels -------------------------------------------------------------

#include "kernels/all.cu"
#include "kernels/gemm_tc.cu"

// ---- fibers ------------------------------------------------------------------

enum { RUN = 0, AT_SYNC = 1, AT_WARP = 2, DONE = 3 };

#if defined(__x86_64__)
// A minimal context switch (callee-saved registers and the stack pointer):
// ucontext's swapcontext makes a system call per switch, which made the
// emulator ~50x slower.
extern "C" void emu_switch(void** save_sp, void* load_sp);
asm(R"(
.text
.globl emu_switch
.type emu_switch,@function
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
.size emu_switch,.-emu_switch
.section .note.GNU-stack,"",@progbits
.text
)");
struct EmuCtx {
    void* sp;
};
#else
struct EmuCtx {
    ucontext_t uc;
};
#endif

struct EmuThread {
    EmuCtx ctx;
    emu_dim3 tid;
    int lin;   // linear thread index in the block
    int state; // RUN, AT_SYNC, AT_WARP, DONE
};

static const size_t kStack = 64 * 1024;
static const int kMaxThreads = 1024;
static EmuThread emu_threads[kMaxThreads];
static char* emu_stacks[kMaxThreads];
static EmuCtx emu_sched;
static int emu_nthreads;
static uint64_t emu_slots[kMaxThreads];
static std::string emu_error;

static void (*emu_thunk)(const uint64_t*);
static const uint64_t* emu_args;

static inline emu_dim3 emu_thread_idx() { return emu_cur->tid; }
int emu_lane() { return emu_cur->lin & 31; }

// to_fiber runs fiber t until it yields; to_sched returns to the scheduler.
static void to_fiber(EmuThread* t) {
    emu_cur = t;
#if defined(__x86_64__)
    emu_switch(&emu_sched.sp, t->ctx.sp);
#else
    swapcontext(&emu_sched.uc, &t->ctx.uc);
#endif
}

static void to_sched() {
#if defined(__x86_64__)
    emu_switch(&emu_cur->ctx.sp, emu_sched.sp);
#else
    swapcontext(&emu_cur->ctx.uc, &emu_sched.uc);
#endif
}

static void emu_yield(int state) {
    emu_cur->state = state;
    to_sched();
}

static void emu_syncthreads() { emu_yield(AT_SYNC); }

static uint32_t emu_gather_slots[kMaxThreads][8];

static void emu_warp_gather(const uint32_t* mine, int n, uint32_t* all) {
    int lin = emu_cur->lin, w0 = lin & ~31;
    memcpy(emu_gather_slots[lin], mine, 4 * n);
    emu_yield(AT_WARP); // everyone has written
    for (int l = 0; l < 32; l++) memcpy(all + l * n, emu_gather_slots[w0 + l], 4 * n);
    emu_yield(AT_WARP); // everyone has read
}

static void emu_warp_exchange(uint64_t v, int src_lane, uint64_t* out) {
    int lin = emu_cur->lin;
    emu_slots[lin] = v;
    emu_yield(AT_WARP); // everyone has written
    int src = (lin & ~31) | (src_lane & 31);
    *out = src < emu_nthreads ? emu_slots[src] : v;
    emu_yield(AT_WARP); // everyone has read
}

static void emu_entry() {
    emu_thunk(emu_args);
    emu_cur->state = DONE;
    to_sched(); // never resumed
    abort();
}

static void init_fiber(EmuThread& t, char* stack) {
#if defined(__x86_64__)
    uintptr_t top = ((uintptr_t)(stack + kStack)) & ~(uintptr_t)15;
    void** sp = (void**)top;
    *--sp = nullptr;               // emu_entry's return address (never used)
    *--sp = (void*)&emu_entry;     // where emu_switch's ret goes
    for (int i = 0; i < 6; i++) *--sp = nullptr; // rbp rbx r12 r13 r14 r15
    t.ctx.sp = sp;
#else
    getcontext(&t.ctx.uc);
    t.ctx.uc.uc_stack.ss_sp = stack;
    t.ctx.uc.uc_stack.ss_size = kStack;
    t.ctx.uc.uc_link = &emu_sched.uc;
    makecontext(&t.ctx.uc, emu_entry, 0);
#endif
}

// run_block runs every thread of the current block to completion.
static bool run_block() {
    int n = emu_nthreads;
    for (int i = 0; i < n; i++) {
        EmuThread& t = emu_threads[i];
        t.lin = i;
        t.tid = emu_dim3{(unsigned)(i % emu_block_dim.x), (unsigned)((i / emu_block_dim.x) % emu_block_dim.y),
                         (unsigned)(i / (emu_block_dim.x * emu_block_dim.y))};
        t.state = RUN;
        init_fiber(t, emu_stacks[i]);
    }
    for (;;) {
        bool ran = false;
        for (int i = 0; i < n; i++) {
            if (emu_threads[i].state != RUN) continue;
            to_fiber(&emu_threads[i]);
            ran = true;
        }
        if (ran) continue;
        // Nobody can run: release a barrier, finish, or report a deadlock.
        int done = 0, sync = 0;
        for (int i = 0; i < n; i++) {
            done += emu_threads[i].state == DONE;
            sync += emu_threads[i].state == AT_SYNC;
        }
        if (done == n) return true;
        bool released = false;
        // Warps whose live lanes all wait in a shuffle.
        for (int w = 0; w * 32 < n; w++) {
            int lo = w * 32, hi = min(n, lo + 32);
            int at = 0, dead = 0;
            for (int i = lo; i < hi; i++) {
                at += emu_threads[i].state == AT_WARP;
                dead += emu_threads[i].state == DONE;
            }
            if (at == 0) continue;
            if (at + dead == hi - lo) {
                if (dead > 0) {
                    emu_error = "warp shuffle with exited lanes (warp " + std::to_string(w) + ")";
                    return false;
                }
                for (int i = lo; i < hi; i++) emu_threads[i].state = RUN;
                released = true;
            }
        }
        if (released) continue;
        if (sync > 0 && sync + done == n) {
            if (done > 0) {
                emu_error = "__syncthreads() reached by " + std::to_string(sync) + " threads while " +
                            std::to_string(done) + " had exited";
                return false;
            }
            for (int i = 0; i < n; i++) emu_threads[i].state = RUN;
            continue;
        }
        emu_error = "deadlock: threads wait at different barriers (divergent __syncthreads or shuffle)";
        return false;
    }
}

// ---- launching by name -------------------------------------------------------

template <class T>
struct Slot {
    static T get(uint64_t s) {
        T v;
        memcpy(&v, &s, sizeof(T)); // little-endian: the low bytes
        return v;
    }
};
template <class T>
struct Slot<T*> {
    static T* get(uint64_t s) { return reinterpret_cast<T*>(static_cast<uintptr_t>(s)); }
};

template <class... A, size_t... I>
static void call_with(void (*f)(A...), const uint64_t* s, std::index_sequence<I...>) {
    f(Slot<A>::get(s[I])...);
}

struct Entry {
    const char* name;
    void (*thunk)(const uint64_t*);
    int nargs;
};

template <class... A>
static constexpr int arity(void (*)(A...)) {
    return sizeof...(A);
}

#define K(fn)                                                                                        \
    Entry {                                                                                          \
        #fn, [](const uint64_t* s) { call_with(fn, s, std::make_index_sequence<arity(fn)>{}); }, arity(fn) \
    }

static const Entry emu_kernels[] = {
    K(gemm_nn_128), K(gemm_nt_128), K(gemm_tn_128), K(gemm_tt_128),
    K(gemm_nn_64), K(gemm_nt_64), K(gemm_tn_64), K(gemm_tt_64),
    K(gemm_tc_nn_128), K(gemm_tc_nt_128), K(gemm_tc_tn_128), K(gemm_tc_tt_128),
    K(gemm_tc_nn_64), K(gemm_tc_nt_64), K(gemm_tc_tn_64), K(gemm_tc_tt_64),
    K(rmsnorm_fwd), K(rmsnorm_bwd_dx), K(rmsnorm_dgain_partial), K(reduce_partials),
    K(splitk_reduce),
    K(rope), K(mix_fwd), K(mix_bwd_in), K(mix_dw_partial),
    K(attn_softmax_fwd), K(attn_softmax_bwd),
    K(embed_fwd), K(embed_bwd), K(swiglu_fwd), K(swiglu_bwd), K(add_inplace),
    K(ce_fwd), K(sum_to_double), K(ce_bwd), K(sumsq_partial), K(sum_double), K(adamw), K(scale_inplace),
};

extern "C" {

// emu_nargs returns the parameter count of kernel name, or -1.
int emu_nargs(const char* name) {
    for (const Entry& e : emu_kernels)
        if (strcmp(e.name, name) == 0) return e.nargs;
    return -1;
}

// emu_launch runs kernel name over the grid; 0 on success, else a message
// is left for emu_last_error.
int emu_launch(const char* name, int gx, int gy, int gz, int block, const uint64_t* args, int nargs) {
    const Entry* k = nullptr;
    for (const Entry& e : emu_kernels)
        if (strcmp(e.name, name) == 0) k = &e;
    if (!k) {
        emu_error = std::string("no kernel ") + name;
        return 1;
    }
    if (nargs != k->nargs) {
        emu_error = std::string(name) + ": " + std::to_string(nargs) + " arguments given, kernel takes " +
                    std::to_string(k->nargs);
        return 1;
    }
    if (block <= 0 || block > kMaxThreads) {
        emu_error = "bad block size " + std::to_string(block);
        return 1;
    }
    for (int i = 0; i < block; i++)
        if (!emu_stacks[i]) emu_stacks[i] = (char*)malloc(kStack);
    emu_thunk = k->thunk;
    emu_args = args;
    emu_block_dim = emu_dim3{(unsigned)block, 1, 1};
    emu_grid_dim = emu_dim3{(unsigned)gx, (unsigned)gy, (unsigned)gz};
    emu_nthreads = block;
    for (int z = 0; z < gz; z++)
        for (int y = 0; y < gy; y++)
            for (int x = 0; x < gx; x++) {
                emu_block_idx = emu_dim3{(unsigned)x, (unsigned)y, (unsigned)z};
                if (!run_block()) {
                    emu_error = std::string(name) + " block (" + std::to_string(x) + "," + std::to_string(y) + "," +
                                std::to_string(z) + "): " + emu_error;
                    return 1;
                }
            }
    return 0;
}

const char* emu_last_error() { return emu_error.c_str(); }

// Emulated device memory: host memory addressed by integers, so that Go
// never turns an integer back into a pointer.
uint64_t emu_malloc(size_t n) {
    void* p = malloc(n);
    if (p) memset(p, 0xff, n); // NaN patterns: reads of unwritten memory show up
    return (uint64_t)(uintptr_t)p;
}
void emu_free(uint64_t p) { free((void*)(uintptr_t)p); }
void emu_copy_in(uint64_t dst, const void* src, size_t n) { memcpy((void*)(uintptr_t)dst, src, n); }
void emu_copy_out(void* dst, uint64_t src, size_t n) { memcpy(dst, (const void*)(uintptr_t)src, n); }
void emu_move(uint64_t dst, uint64_t src, size_t n) { memmove((void*)(uintptr_t)dst, (const void*)(uintptr_t)src, n); }
void emu_zero(uint64_t dst, size_t n) { memset((void*)(uintptr_t)dst, 0, n); }

} // extern "C"
