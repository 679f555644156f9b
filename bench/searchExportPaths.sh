#!/usr/bin/env bash
# The GPU check of search and export: train a space briefly, search it with NSGA-II and export the largest
# subnet (tfjs + arch; onnxruntime is not carried to the device machine), all on one backend.
#   bash .device/env.sh bash bench/searchExportPaths.sh [FASHION_DIR] [BACKEND]
set -u
fm=${1:-.fmnist}; backend=${2:-webgpu}
for space in moe-relu-topk fashion-conv-supernet; do
  runs=$(mktemp -d)
  echo "== $space on $backend"
  node --import tsx core/host/cliMain.ts train "assets/spaces/$space.json" --backend "$backend" --steps 40 \
    --data "fashion-mnist:$fm" --limit 2000 --runs-dir "$runs" --json 2>&1 | grep -v '^    at ' | tail -2
  run=$(ls "$runs" | head -1)
  node --import tsx core/host/cliMain.ts search "$run" --runs-dir "$runs" --backend "$backend" --population 6 --generations 2 2>&1 | grep -v '^    at ' | tail -12
  echo "search rc=${PIPESTATUS[0]}"
  node --import tsx core/host/cliMain.ts export "$run" largest --formats tfjs,arch --runs-dir "$runs" --backend "$backend" 2>&1 | grep -v '^    at ' | tail -6
  echo "export rc=${PIPESTATUS[0]}"
done
