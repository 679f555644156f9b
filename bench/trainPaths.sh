#!/usr/bin/env bash
# Train every example space for a few steps with the SPOS and sandwich strategies on one backend and print
# one line per run: pass/fail, median ms/step (steps 6…N, from metrics.jsonl), test accuracy and the last
# MoE report. The GPU check of bench/RESULTS.md ("every training path on webgpu").
#   bash .device/env.sh bash bench/trainPaths.sh [FASHION_DIR] [BACKEND]
# FASHION_DIR holds the Fashion-MNIST IDX .gz files (the 784-vector and image spaces train on its first
# 2000 images); the 2-D spaces train on spirals. STEPS (default 30) and SPACES override the defaults.
set -u
fm=${1:-.fmnist}; backend=${2:-webgpu}; steps=${STEPS:-30}
spaces=${SPACES:-"spirals-moe moe-zoo fashion-mlp-supernet fashion-conv-supernet moe-relu-topk"}
runs=$(mktemp -d)
for space in $spaces; do
  case $space in spirals-moe|moe-zoo) data=(--data spirals);; *) data=(--data "fashion-mnist:$fm" --limit 2000);; esac
  for strategy in spos sandwich; do
    log="$runs/$space.$strategy.log"
    timeout "${RUN_TIMEOUT:-240}" node --import tsx core/host/cliMain.ts train "assets/spaces/$space.json" --backend "$backend" --steps "$steps" \
      --strategy "$strategy" "${data[@]}" --runs-dir "$runs/r" --json >"$log" 2>&1
    rc=$?
    node -e '
      const fs = require("fs"); const [log, rc, space, strategy] = process.argv.slice(1);
      const lines = fs.readFileSync(log, "utf8").split("\n");
      const res = lines.filter((l) => l.startsWith("{")).map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean).pop();
      const errs = lines.filter((l) => /error|Error|invalid|NaN/.test(l)).slice(0, 3).map((l) => l.slice(0, 200));
      let ms = NaN, moe = "";
      if (res && res.runDir) {
        const m = fs.readFileSync(res.runDir + "/metrics.jsonl", "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l)).filter((r) => r.stepMs !== undefined);
        const tail = m.slice(5).map((r) => r.stepMs).sort((a, b) => a - b);
        ms = tail.length ? tail[Math.floor(tail.length / 2)] : NaN;
        const last = m[m.length - 1];
        if (last && last.moe) moe = last.moe.map((l) => `${l.layer}: load sum ${l.load.reduce((a, b) => a + b, 0).toFixed(3)} dropped ${l.dropped.toFixed(3)} meanActive ${l.meanActive.toFixed(2)} aux ${l.auxLoss.toFixed(3)}`).join("; ");
      }
      const ok = rc === "0" && res && res.status === "completed" && Number.isFinite(res.lastLoss);
      console.log(`| ${space} | ${strategy} | ${ok ? "PASS" : "FAIL rc=" + rc} | ${ms.toFixed(1)} | ${res ? res.lastLoss?.toFixed(3) : "-"} | ${res ? res.testAccuracy ?? res.bestValAccuracy : "-"} | ${res ? res.elapsedSec?.toFixed(1) : "-"} | ${moe} |`);
      if (!ok || errs.length) console.log("    " + errs.join("\n    "));
    ' "$log" "$rc" "$space" "$strategy"
    [ -n "${OUT:-}" ] && { echo "=== $space $strategy (rc $rc)"; cat "$log"; } >>"$OUT/train-logs.txt"
  done
done
