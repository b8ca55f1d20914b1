#!/usr/bin/env bash
# Regenerates kernels.ptx and kernels_sm80.ptx from kernels/*.cu (go generate
# ./gpu runs this).
# Needs nvcc (CUDA 11.8 or newer that still targets compute_70). Two modules:
#   kernels.ptx       kernels/all.cu, -arch=compute_70: every kernel, for Volta and newer
#   kernels_sm80.ptx  kernels/all_sm80.cu, -arch=compute_80: tensor-core GEMMs (TF32 mma),
#                     loaded only on compute capability 8.0+
# The flags are fixed so the output is byte-for-byte reproducible with a given nvcc:
#   -ptx -arch=...          PTX, which the driver JIT-compiles for the GPU at hand
#   -O3                     device optimisation
#   -std=c++14              the dialect the sources are written in
#   no -lineinfo / -G       no file paths or debug info in the output
# Usage: gpu/gen.sh [OUTDIR]   (default: this script's folder)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
if ! command -v nvcc >/dev/null 2>&1; then
  echo "gen.sh: nvcc not found; install the CUDA toolkit (Debian: nvidia-cuda-toolkit) to regenerate kernels.ptx" >&2
  exit 1
fi
cd "$here/kernels"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Compile from inside kernels/ with a relative name so no absolute path can
# reach the output.
LC_ALL=C nvcc -ptx -arch=compute_70 -O3 -std=c++14 -o "$tmp/kernels.ptx" all.cu
LC_ALL=C nvcc -ptx -arch=compute_80 -O3 -std=c++14 -o "$tmp/kernels_sm80.ptx" all_sm80.cu
mkdir -p "$out"
mv "$tmp/kernels.ptx" "$tmp/kernels_sm80.ptx" "$out/"
