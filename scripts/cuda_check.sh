#!/usr/bin/env bash
# CUDA checks that need no GPU (scripts/test.sh runs this when it is
# executable):
#  1. the CUDA kernels on the CPU emulator (go test -tags cudaemu ./gpu/):
#     every kernel and whole training steps against the CPU reference; needs
#     cgo and a C++ compiler, not the CUDA toolkit;
#  2. with the CUDA toolkit (nvcc and cuda.h; Debian: nvidia-cuda-toolkit):
#     gpu/kernels.ptx and gpu/kernels_sm80.ptx regenerate byte-identically,
#     and the cuda build of
#     ./gpu/... vets and builds (linking libcuda, the driver's or the stub).
# Nothing here runs on a GPU: scripts/gpu_run.sh does that.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cuda: kernels on the CPU emulator (go test -tags cudaemu ./gpu/)"
cxx="${CXX:-g++}"
if command -v "$cxx" >/dev/null 2>&1; then
  CGO_ENABLED=1 go test -count=1 -tags cudaemu ./gpu/
  CGO_ENABLED=1 go test -count=1 -tags cudaemu -run Cuda ./trainer/
else
  echo "cuda emulator tests skipped: no C++ compiler ($cxx; apt-get install g++)"
fi

cuda_h=""
for d in "${CUDA_HOME:-/usr/local/cuda}/include" /usr/include /usr/local/cuda/include /opt/cuda/include; do
  if [ -f "$d/cuda.h" ]; then cuda_h="$d/cuda.h"; break; fi
done
if ! command -v nvcc >/dev/null 2>&1 || [ -z "$cuda_h" ]; then
  echo "cuda checks skipped: nvidia-cuda-toolkit not installed"
  exit 0
fi

# Link against the driver's libcuda when it is installed, else the toolkit's
# stub (enough to link; a GPU machine's driver provides the real one).
have_lib=""
for d in /usr/lib/x86_64-linux-gnu /usr/local/cuda/lib64 /usr/lib64 /opt/cuda/lib64; do
  if [ -e "$d/libcuda.so" ]; then have_lib=1; break; fi
done
if [ -z "$have_lib" ]; then
  for d in /usr/lib/x86_64-linux-gnu/stubs /usr/local/cuda/lib64/stubs /opt/cuda/lib64/stubs; do
    if [ -e "$d/libcuda.so" ]; then
      export CGO_LDFLAGS="${CGO_LDFLAGS:-} -L$d"
      break
    fi
  done
fi

echo "== cuda: the committed PTX regenerates byte-identically"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
gpu/gen.sh "$tmp"
for f in kernels.ptx kernels_sm80.ptx; do
  committed_rel="$(grep -m1 '^// Cuda compilation tools' "gpu/$f" || true)"
  local_rel="$(grep -m1 '^// Cuda compilation tools' "$tmp/$f" || true)"
  if [ "$committed_rel" != "$local_rel" ]; then
    echo "$f was made by a different nvcc (${committed_rel#// } vs local ${local_rel#// }): byte comparison skipped; regenerate with go generate ./gpu if the sources changed"
  elif ! cmp -s "gpu/$f" "$tmp/$f"; then
    echo "gpu/$f is stale: the kernels in gpu/kernels/ compile to different PTX. Run: go generate ./gpu"
    diff "gpu/$f" "$tmp/$f" | head -20 || true
    exit 1
  else
    echo "$f is up to date ($(wc -c <"gpu/$f") bytes, ${local_rel#// })"
  fi
done

echo "== cuda: go vet -tags cuda ./..."
CGO_ENABLED=1 go vet -tags cuda ./...
echo "== cuda: go build -tags cuda (the library, the test binary and ./cmd/mealab)"
CGO_ENABLED=1 go build -tags cuda -o /dev/null ./gpu/...
CGO_ENABLED=1 go test -c -tags cuda -o "$tmp/gpu.test" ./gpu/
CGO_ENABLED=1 go build -tags cuda -o "$tmp/mealab" ./cmd/mealab
echo "cuda checks passed (no GPU used; scripts/gpu_run.sh runs the suite on one)"
