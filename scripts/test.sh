#!/usr/bin/env bash
# The project's test command (the README's, and what CI runs): vet, gofmt,
# the whole Go test suite, then the terminal end-to-end tests when tmux (and,
# for the SSH server, the OpenSSH client) exist.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go vet"
go vet ./...
echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted"
  exit 1
fi
echo "== go test"
go test -count=1 ./...
echo "== pure-Go build (CGO off, purego kernels)"
CGO_ENABLED=0 go build -tags purego -o /dev/null ./cmd/mealab
if [ -x scripts/e2e_tui.sh ]; then
  if command -v tmux >/dev/null 2>&1; then
    echo "== terminal end-to-end (tmux)"
    scripts/e2e_tui.sh
  else
    echo "== terminal end-to-end skipped: tmux is not installed (apt-get install tmux)"
  fi
fi
if [ -x scripts/e2e_slurm.sh ]; then
  # CI (.ci/run sets MEALAB_E2E_SLURM=1) always runs it, installing Slurm if
  # needed; elsewhere it runs when Slurm's packages are installed, without
  # installing anything.
  if [ "${MEALAB_E2E_SLURM:-0}" = 1 ]; then
    echo "== Slurm sweep end-to-end"
    scripts/e2e_slurm.sh
  elif command -v sbatch >/dev/null 2>&1; then
    echo "== Slurm sweep end-to-end"
    MEALAB_SLURM_NOINSTALL=1 scripts/e2e_slurm.sh
  else
    echo "== Slurm sweep end-to-end skipped: Slurm is not installed (apt-get install slurm-wlm munge, or run .ci/run)"
  fi
fi
if [ -x scripts/e2e_serve.sh ]; then
  if command -v tmux >/dev/null 2>&1 && command -v ssh >/dev/null 2>&1; then
    echo "== SSH server end-to-end (OpenSSH client in tmux)"
    scripts/e2e_serve.sh
  else
    echo "== SSH server end-to-end skipped: needs tmux and ssh (apt-get install tmux openssh-client)"
  fi
fi
if [ -x scripts/cuda_check.sh ]; then
  scripts/cuda_check.sh
fi
