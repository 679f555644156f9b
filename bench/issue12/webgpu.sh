#!/usr/bin/env bash
# Issue 12 on the lent GPU: the three token workloads' example spaces trained from the CLI on WebGPU (Dawn), one
# command. Data travel under the git-ignored devdata/ (bench/issue12/makeDevdata.sh: a 12 000-image Fashion-MNIST cut and the fortunes text
# files; the device has no Debian packages); carry [".device", "devdata"]. Usage (from the repo root, on the device):
#   bash .device/env.sh bash bench/issue12/webgpu.sh "$OUT"
set -u
out=${1:-/tmp/issue12}
mkdir -p "$out"
cli="node --import tsx core/host/cliMain.ts"
run() { # name seconds args...
  local name=$1 secs=$2; shift 2
  local t0=$(date +%s%N)
  timeout "$secs" $cli train "$@" --backend webgpu --runs-dir "$out/runs" >"$out/$name.log" 2>"$out/$name.err"
  local rc=$?
  echo "$name rc=$rc wall=$(( ($(date +%s%N) - t0) / 1000000 ))ms" | tee -a "$out/summary.txt"
}
run char-lm 70 assets/spaces/char-lm-fortunes.json --data text:devdata/fortunes --limit 30000 --steps 150 --batch 32 --grad-clip 1 --warmup 15 --eval-every 150 --checkpoint-every 1000
run sequence-tasks 50 assets/spaces/sequence-tasks-moe.json --data sequence-tasks --steps 150 --batch 64 --eval-every 150 --checkpoint-every 1000
run vit 50 assets/spaces/fashion-vit-moe.json --data fashion-mnist:devdata/fm --limit 12000 --steps 150 --batch 128 --eval-every 150 --checkpoint-every 1000
