#!/usr/bin/env bash
# Issue 18's table in one command on a GPU machine (run from the project root, after
# `bash ../shared/device/pack.sh`, carrying .device): the PyTorch eager references and the kernel checks
# against PyTorch, then bench/runBench.ts on WebGPU with the ratios. Everything lands in $1 (default ./gpu-bench).
#
#   bash bench/gpuStepBench.sh OUTDIR [extra runBench arguments…]
#
# SW_DAWN="enable-dawn-features=…" passes Dawn toggles to runBench's process (e.g. skip_validation).
set -uo pipefail
out=${1:-gpu-bench}; shift || true
mkdir -p "$out"
run() { bash .device/env.sh "$@"; }
log="$out/log.txt"
{
  echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"
  run node --import tsx bench/supernetArchs.ts > /tmp/archs.json
  echo "== PyTorch references"
  timeout 240 python3 bench/supernet_step_torch.py /tmp/archs.json --batch 256,2048 > "$out/supernet_torch.json" || echo "supernet_step_torch.py failed"
  timeout 120 python3 bench/moe_step_torch.py > "$out/torch.json" || echo "moe_step_torch.py failed"
  echo "== kernel checks against PyTorch"
  timeout 240 bash .device/env.sh node --import tsx bench/checkDenseKernels.ts --dump /tmp/dense && timeout 120 python3 bench/check_dense_torch.py /tmp/dense
  timeout 200 bash .device/env.sh node --import tsx bench/checkMatmulKernel.ts --dump /tmp/mm && timeout 120 python3 bench/check_matmul_torch.py /tmp/mm
  # The compiled step (core/nn/webgpu/step/) of every example space, replayed in float64 by torch.
  # A build that throws is recorded in the dump (and fails the check), so the check runs either way.
  rm -rf /tmp/cstep; timeout 300 bash .device/env.sh node --import tsx bench/checkCompiledStep.ts --dump /tmp/cstep; timeout 300 python3 bench/check_compiled_torch.py /tmp/cstep
  echo "== runBench"
  dawn=()
  [ -n "${SW_DAWN:-}" ] && dawn=(--dawn "$SW_DAWN")
  timeout 400 bash .device/env.sh node --import tsx bench/runBench.ts --backend webgpu --torch "$out/torch.json" \
    --torch-supernet "$out/supernet_torch.json" --supernet-batch 256,2048 --json "$out/bench.json" "${dawn[@]}" "$@"
} 2>&1 | tee "$log"
