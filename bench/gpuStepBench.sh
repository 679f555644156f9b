#!/usr/bin/env bash
# Issue 18's tables on a GPU machine, in two calls of under 10 minutes each (run from the project root,
# after `bash ../shared/device/pack.sh`, carrying .device). Everything lands in OUTDIR.
#
#   bash bench/gpuStepBench.sh OUTDIR checks     # PyTorch references, the checks against PyTorch, the matmul sweep
#   bash bench/gpuStepBench.sh OUTDIR bench [extra runBench arguments…]   # runBench with the ratios (needs the
#                                                # checks' supernet_torch.json / torch.json in OUTDIR)
#
# SW_DAWN="enable-dawn-features=…" passes Dawn toggles to runBench's process (e.g. skip_validation).
# SWITCHYARD_MATMUL_VARIANT=<name> selects the matmul kernel (core/nn/webgpu/matmulKernel.ts) for the bench phase.
set -uo pipefail
out=${1:-gpu-bench}; phase=${2:-checks}; shift 2 || shift || true
mkdir -p "$out"
run() { bash .device/env.sh "$@"; }
log="$out/$phase.log"
{
  echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null) phase $phase"
  run node --import tsx bench/supernetArchs.ts > /tmp/archs.json
  if [ "$phase" = checks ]; then
    echo "== PyTorch references (eager fp32; transformer rows manual attention and :sdpa)"
    timeout 170 python3 bench/supernet_step_torch.py /tmp/archs.json --batch 256,2048 --steps 10 --blocks 3 > "$out/supernet_torch.json" || echo "supernet_step_torch.py failed"
    timeout 60 python3 bench/moe_step_torch.py > "$out/torch.json" || echo "moe_step_torch.py failed"
    echo "== the compiled step (core/nn/webgpu/step/) of every example space, replayed in float64 by torch"
    rm -rf /tmp/cstep; timeout 120 bash .device/env.sh node --import tsx bench/checkCompiledStep.ts --dump /tmp/cstep; timeout 90 python3 bench/check_compiled_torch.py /tmp/cstep
    echo "== matmul kernel sweep (4096³)"
    timeout 110 bash .device/env.sh node --import tsx bench/matmulSweep.ts --size 4096 --modes nn,tn --budget-s 80 --json "$out/matmul_sweep.json"
    echo "== the PyTorch reference on the product's own weights (every space's largest subnet)"
    run node --import tsx bench/supernetStepFixture.ts > /tmp/fixture.json && timeout 45 python3 bench/supernet_step_torch.py /tmp/archs.json --selfcheck --fixture /tmp/fixture.json
  else
    echo "== runBench"
    dawn=()
    [ -n "${SW_DAWN:-}" ] && dawn=(--dawn "$SW_DAWN")
    timeout 480 bash .device/env.sh node --import tsx bench/runBench.ts --backend webgpu --torch "$out/torch.json" \
      --torch-supernet "$out/supernet_torch.json" --supernet-batch 256,2048 --json "$out/bench.json" "${dawn[@]}" "$@"
  fi
} 2>&1 | tee "$log"
