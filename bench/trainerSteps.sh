#!/usr/bin/env bash
# The product's own training loop (switchyard train, SPOS, Adam) on one backend, with the compiled WebGPU
# step on and off (SWITCHYARD_COMPILED_STEP=0): median ms per step over steps 21…N from metrics.jsonl
# (stepMs: sampling, batch upload, the step and its one read-back; validation excluded). Synthetic data only,
# so it runs anywhere:  bash .device/env.sh bash bench/trainerSteps.sh [BACKEND] [STEPS]
set -u
backend=${1:-webgpu}; steps=${2:-200}
runs=$(mktemp -d)
for spec in "spirals-moe spirals 256" "sequence-tasks-moe sequence-tasks 256"; do
  set -- $spec
  for compiled in 1 0; do
    log="$runs/$1.$compiled.log"
    SWITCHYARD_COMPILED_STEP=$compiled timeout 240 node --import tsx core/host/cliMain.ts train "assets/spaces/$1.json" --backend "$backend" \
      --steps "$steps" --batch "$3" --data "$2" --eval-every "$steps" --checkpoint-every "$steps" --runs-dir "$runs/r$compiled" --json >"$log" 2>&1
    node -e '
      const fs = require("fs"); const [log, space, compiled, batch] = process.argv.slice(1);
      const lines = fs.readFileSync(log, "utf8").split("\n");
      const res = lines.filter((l) => l.startsWith("{")).map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean).pop();
      if (!res || !res.runDir) { console.log(`${space} compiled=${compiled}: FAILED ${lines.slice(-3).join(" | ").slice(0, 300)}`); process.exit(0); }
      const m = fs.readFileSync(res.runDir + "/metrics.jsonl", "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l)).filter((r) => r.stepMs !== undefined);
      const tail = m.slice(20).map((r) => r.stepMs).sort((a, b) => a - b);
      const warn = lines.filter((l) => /compiled WebGPU step not used/.test(l)).slice(0, 1).join("");
      console.log(`${space} batch ${batch} compiled=${compiled}: median ${tail[Math.floor(tail.length / 2)].toFixed(2)} ms/step over ${tail.length} steps, last loss ${m[m.length - 1].loss.toFixed(3)}${warn ? " · " + warn.slice(0, 160) : ""}`);
    ' "$log" "$1" "$compiled" "$3"
  done
done
