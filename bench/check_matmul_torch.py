"""Independent PyTorch (float64) check of tf.matMul through the WebGPU override (bench/checkMatmulKernel.ts --dump DIR).

  python3 bench/check_matmul_torch.py DIR
"""
import json
import os
import sys

import numpy as np
import torch


def main():
    d = sys.argv[1]
    fails = 0
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    for c in json.load(open(os.path.join(d, "manifest.json"))):
        load = lambda k, s: torch.from_numpy(np.fromfile(os.path.join(d, c["prefix"] + k + ".f32"), dtype="<f4").reshape(s)).to(dev, torch.float64)
        a, b, y = load("a", c["a"]), load("b", c["b"]), load("y", c["y"])
        ref = torch.matmul(a.transpose(-1, -2) if c["ta"] else a, b.transpose(-1, -2) if c["tb"] else b)
        err = ((y - ref).norm() / ref.norm()).item()
        ok = err < 2e-5 and list(ref.shape) == list(y.shape)
        fails += 0 if ok else 1
        print(("PASS" if ok else "FAIL") + f" webgpu matMul {c['a']}{'T' if c['ta'] else ''} x {c['b']}{'T' if c['tb'] else ''} vs torch float64: {err:.1e}")
    print("ALL PASS" if fails == 0 else f"{fails} FAIL")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
