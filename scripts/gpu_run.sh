#!/usr/bin/env bash
# The one prepared script for a session that has an NVIDIA GPU. It
#   1. prints nvidia-smi;
#   2. uses the CUDA test binary that `scripts/gpu_run.sh --prepare` built
#      (out/gpu/gpu.test: GPU images usually have no Go), or builds it
#      (go test -c -tags cuda ./gpu/) when there is none and Go is here;
#   3. checks that libcuda resolves (ldd), looking in the driver's usual
#      folders when it does not;
#   4. runs the conformance suite on the GPU against the CPU reference
#      (-run Conformance: every kernel on random shapes, full training steps
#      of every attention variant, AdamW steps);
#   5. times training steps of configs A, B and L (MHA and MEA) on mealab's
#      kernels, tensor-core and CUDA-core GEMMs (-bench Step);
#   6. times the same steps in PyTorch eager (gpu/bench_torch.py);
#   7. writes everything under $OUT (or out/gpu-results) and prints a table.
# Each step has its own timeout; the whole run stays under ~8 minutes.
#
# Usage:
#   scripts/gpu_run.sh --prepare   # with Go and the CUDA headers (no GPU needed): build out/gpu/
#   scripts/gpu_run.sh             # on the GPU machine, with out/gpu carried along
# From a session with the device tool: run --prepare here, then
#   run(command="scripts/gpu_run.sh", carry=["out/gpu"], timeout_s=540)
# and read the results from the returned files ($OUT).
set -uo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
prebuilt="out/gpu"

build_env() {
  # Link against the toolkit's stub when no driver libcuda is installed.
  for d in /usr/lib/x86_64-linux-gnu /usr/local/cuda/lib64 /usr/lib64 /opt/cuda/lib64; do
    [ -e "$d/libcuda.so" ] && return 0
  done
  for d in /usr/lib/x86_64-linux-gnu/stubs /usr/local/cuda/lib64/stubs /opt/cuda/lib64/stubs; do
    if [ -e "$d/libcuda.so" ]; then export CGO_LDFLAGS="${CGO_LDFLAGS:-} -L$d"; return 0; fi
  done
}

if [ "${1:-}" = "--prepare" ]; then
  set -e
  build_env
  mkdir -p "$prebuilt"
  CGO_ENABLED=1 go test -c -tags cuda -o "$prebuilt/gpu.test" ./gpu/
  cp gpu/bench_torch.py "$prebuilt/bench_torch.py"
  git rev-parse HEAD >"$prebuilt/commit.txt" 2>/dev/null || true
  ls -l "$prebuilt"
  echo "prepared $prebuilt (git-ignored). On the GPU machine run scripts/gpu_run.sh with $prebuilt carried along."
  exit 0
fi

res="${OUT:-$root/out/gpu-results}"
mkdir -p "$res"
log="$res/gpu_run.log"
: >"$log"
say() { echo "$*" | tee -a "$log"; }
start=$(date +%s)
status=0

say "== 1. nvidia-smi"
if ! timeout 30 nvidia-smi 2>&1 | tee "$res/nvidia-smi.txt"; then
  say "nvidia-smi failed or is missing: is this a GPU machine?"
fi

say "== 2. CUDA test binary"
tmpd="$(mktemp -d)"
trap 'rm -rf "$tmpd"' EXIT
bin="$tmpd/gpu.test"
if [ -x "$prebuilt/gpu.test" ]; then
  # Prepared with --prepare (GPU images usually have no Go, and cu may not
  # build against a newer CUDA's headers).
  cp "$prebuilt/gpu.test" "$bin"
  built_at="$(cat "$prebuilt/commit.txt" 2>/dev/null || echo unknown)"
  head_now="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  say "using the prebuilt $prebuilt/gpu.test (built at commit $built_at)"
  if [ "$built_at" != "$head_now" ]; then
    say "warning: the checkout is at $head_now; rerun --prepare if gpu/ changed since"
  fi
elif command -v go >/dev/null 2>&1; then
  build_env
  if ! timeout 300 env CGO_ENABLED=1 go test -c -tags cuda -o "$bin" ./gpu/ 2>&1 | tee -a "$log"; then
    say "building the CUDA test binary failed; build it elsewhere with scripts/gpu_run.sh --prepare and carry $prebuilt"
    exit 1
  fi
  say "built with $(go version)"
else
  say "no prebuilt $prebuilt/gpu.test and no Go here: run 'scripts/gpu_run.sh --prepare' on a machine with Go and the CUDA headers, and carry $prebuilt"
  exit 1
fi

say "== 3. libcuda"
if ldd "$bin" | grep -q 'libcuda.so.1 => not found'; then
  for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/cuda/compat /usr/lib/wsl/lib; do
    if [ -e "$d/libcuda.so.1" ]; then
      export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      say "libcuda.so.1 found in $d (added to LD_LIBRARY_PATH)"
      break
    fi
  done
fi
ldd "$bin" | grep libcuda | tee -a "$log"
if ldd "$bin" | grep -q 'libcuda.so.1 => not found'; then
  say "libcuda.so.1 does not resolve: the NVIDIA driver is not installed or not visible"
  exit 1
fi

say "== 4. conformance on the GPU (go test -tags cuda ./gpu/ -run Conformance -v)"
(cd gpu && timeout 150 "$bin" -test.run Conformance -test.v -test.count=1) >"$res/conformance.txt" 2>&1
rc=$?
grep -E '^(--- |=== RUN|PASS|FAIL|ok)|exceeds|panic|Error' "$res/conformance.txt" | grep -v '=== RUN' | tail -60
if [ $rc -ne 0 ]; then
  say "conformance FAILED (exit $rc; 124 = timed out); details in conformance.txt"
  status=1
else
  say "conformance passed ($(grep -c -- '--- PASS' "$res/conformance.txt") tests and subtests)"
fi

say "== 5. mealab CUDA training steps (-bench Step)"
(cd gpu && timeout 180 "$bin" -test.run '^$' -test.bench Step -test.benchtime 10x -test.count=1) >"$res/bench_go.txt" 2>&1
rc=$?
grep -E '^Benchmark|ok|FAIL|panic' "$res/bench_go.txt"
[ $rc -ne 0 ] && { say "mealab benchmarks exited $rc (124 = timed out)"; status=1; }

say "== 6. PyTorch eager, same architecture (gpu/bench_torch.py)"
torch_py="gpu/bench_torch.py"
[ -f "$torch_py" ] || torch_py="$prebuilt/bench_torch.py"
PYTHONUNBUFFERED=1 timeout 200 python3 "$torch_py" --steps 10 --json "$res/bench_torch.json" >/dev/null 2>"$res/bench_torch.log"
rc=$?
cat "$res/bench_torch.log"
[ $rc -ne 0 ] && { say "bench_torch.py exited $rc (124 = timed out)"; status=1; }

say "== 7. summary"
python3 - "$res" <<'PY' 2>&1 | tee -a "$log"
import json, os, re, sys
res = sys.argv[1]
rows = {}
kinds = []
try:
    for line in open(os.path.join(res, "bench_go.txt")):
        m = re.match(r"BenchmarkStep/(\w+?)_(mha|mea)_(\w+?)(?:-\d+)?\s+\d+\s+\d+ ns/op(.*)", line)
        if not m:
            continue
        vals = dict((u, float(v)) for v, u in re.findall(r"([\d.e+]+) (\S+)", m.group(4)))
        kind = m.group(3)
        if kind not in kinds:
            kinds.append(kind)
        r = rows.setdefault((m.group(1), m.group(2)), {})
        r["mealab_%s_tok_s" % kind] = vals.get("tok/s")
        r["mealab_%s_ms_step" % kind] = vals.get("ms/step")
except OSError:
    pass
torch = {}
try:
    torch = json.load(open(os.path.join(res, "bench_torch.json")))
    for r in torch.get("results", []):
        if "tok_s" in r:
            rows.setdefault((r["config"], r["variant"]), {})["torch_%s_tok_s" % r["attention"]] = r["tok_s"]
except (OSError, ValueError):
    pass
out = {"device": torch.get("device"), "torch": torch.get("torch"), "rows": []}
cols = ["mealab_%s_tok_s" % k for k in kinds] + ["torch_manual_tok_s", "torch_sdpa_tok_s"]
print("tokens/s (higher is better); ratio = mealab %s / torch eager manual attention" % (kinds[0] if kinds else "?"))
print("%-4s %-4s " % ("cfg", "var") + " ".join("%18s" % c.replace("_tok_s", "") for c in cols) + " %7s" % "ratio")
for (c, v), r in sorted(rows.items()):
    ratio = None
    if kinds and r.get(cols[0]) and r.get("torch_manual_tok_s"):
        ratio = r[cols[0]] / r["torch_manual_tok_s"]
    out["rows"].append(dict(config=c, variant=v, ratio_vs_torch_manual=ratio, **r))
    f = lambda x: "-" if x is None else "%.0f" % x
    print("%-4s %-4s " % (c, v) + " ".join("%18s" % f(r.get(col)) for col in cols) + " %7s" % ("-" if ratio is None else "%.2fx" % ratio))
json.dump(out, open(os.path.join(res, "summary.json"), "w"), indent=1)
PY
say "results in $res ($(($(date +%s) - start)) s)"
exit $status
