// The single translation unit that ../gen.sh compiles to ../kernels.ptx:
// one PTX module holds every kernel, loaded once per process.
#include "gemm.cu"
#include "norm.cu"
#include "attn.cu"
#include "misc.cu"
