#!/usr/bin/env bash
# The data the device run needs, under the git-ignored devdata/ (carry it with .device: the device has no Debian
# packages): a 12 000-image cut of Fashion-MNIST (valid IDX files, header counts rewritten) and the fortunes text files.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p devdata/fm devdata/fortunes
python3 - <<'PY'
import gzip, struct
src, n = '/usr/share/datasets/fashion-mnist/', 12000
d = gzip.open(src + 'train-images-idx3-ubyte.gz').read()
magic, _, r, c = struct.unpack('>IIII', d[:16])
gzip.open('devdata/fm/train-images-idx3-ubyte.gz', 'wb').write(struct.pack('>IIII', magic, n, r, c) + d[16:16 + n * r * c])
d = gzip.open(src + 'train-labels-idx1-ubyte.gz').read()
gzip.open('devdata/fm/train-labels-idx1-ubyte.gz', 'wb').write(struct.pack('>II', struct.unpack('>I', d[:4])[0], n) + d[8:8 + n])
PY
cp /usr/share/datasets/fashion-mnist/t10k-* devdata/fm/
for f in /usr/share/games/fortunes/*; do b=$(basename "$f"); case "$b" in *.*) ;; *) [ -f "$f" ] && cp -L "$f" devdata/fortunes/ ;; esac; done
du -sh devdata
