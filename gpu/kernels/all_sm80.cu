// The compute_80 translation unit that ../gen.sh compiles to
// ../kernels_sm80.ptx: tensor-core kernels, loaded only on GPUs of compute
// capability 8.0 or newer (the driver refuses compute_80 PTX on older ones).
#include "gemm_tc.cu"
