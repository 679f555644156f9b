"""Independent PyTorch check of the fused dense block's WebGPU outputs (bench/checkDenseKernels.ts --dump DIR).

For every dumped case: y = act(x @ W[:d, :w] + b[:w]) and the gradients of <dy, y> for x, the whole W and
the whole b, recomputed in float64 by torch autograd; prints ||webgpu - torch|| / ||torch|| per output. Then
the fused cross-entropy (mean softmax cross-entropy of int labels) and its logit gradient.

  python3 bench/check_dense_torch.py DIR
"""
import json
import os
import sys

import numpy as np
import torch

TOL = 2e-5
ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda v: v, "gelu": lambda v: torch.nn.functional.gelu(v)}


def main():
    d = sys.argv[1]
    manifest = json.load(open(os.path.join(d, "manifest.json")))
    cases = manifest["dense"]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    fails = 0
    for c in cases:
        t = {k: torch.from_numpy(np.fromfile(os.path.join(d, c["prefix"] + k + ".f32"), dtype="<f4").reshape(s)).to(dev, torch.float64) for k, s in c["shapes"].items()}
        x = t["x"].clone().requires_grad_(True)
        W = t["W"].clone().requires_grad_(True)
        b = t["b"].clone().requires_grad_(True)
        y = ACT[c["act"]](x @ W[: c["d"], : c["w"]] + b[: c["w"]])
        (y * t["dy"]).sum().backward()
        errs = {}
        for name, ref in (("y", y.detach()), ("dx", x.grad), ("dW", W.grad), ("db", b.grad)):
            errs[name] = ((t[name] - ref).norm() / ref.norm().clamp_min(1e-30)).item()
        ok = all(e < TOL for e in errs.values())
        fails += 0 if ok else 1
        tag = f"T={c['T']} d={c['d']}/{c['dMax']} w={c['w']}/{c['wMax']} {c['act']}"
        print(("PASS" if ok else "FAIL") + f" webgpu fused dense vs torch float64 {tag}: " + "  ".join(f"{k} {v:.1e}" for k, v in errs.items()))
    # Fused mean softmax cross-entropy: loss and d(seed * loss)/dlogits.
    for c in manifest["ce"]:
        load = lambda k, shape: torch.from_numpy(np.fromfile(os.path.join(d, c["prefix"] + k + ".f32"), dtype="<f4").reshape(shape)).to(dev, torch.float64)
        z = load("z", (c["N"], c["C"])).requires_grad_(True)
        labels = torch.from_numpy(np.fromfile(os.path.join(d, c["prefix"] + "labels.f32"), dtype="<i4").astype(np.int64)).to(dev)
        loss = torch.nn.functional.cross_entropy(z, labels)
        (loss * c["seed"]).backward()
        e_loss = (abs(load("loss", (1,))[0] - loss) / abs(loss)).item()
        e_grad = ((load("dz", (c["N"], c["C"])) - z.grad).norm() / z.grad.norm()).item()
        ok = e_loss < TOL and e_grad < TOL
        fails += 0 if ok else 1
        print(("PASS" if ok else "FAIL") + f" webgpu fused cross-entropy vs torch float64 N={c['N']} C={c['C']}: loss {e_loss:.1e}  dlogits {e_grad:.1e}")
    # conv2d 'same' (TF padding: the odd pixel bottom/right), NHWC / HWIO as tfjs; y, dx, dK of <dy, y>.
    for c in manifest.get("conv", []):
        load = lambda k, shape: torch.from_numpy(np.fromfile(os.path.join(d, c["prefix"] + k + ".f32"), dtype="<f4").reshape(shape)).to(dev, torch.float64)
        x = load("x", c["x"]).requires_grad_(True)
        kern = load("k", c["k"]).requires_grad_(True)
        kh, s = c["k"][0], c["stride"]

        def pad(size):
            out = -(-size // s)
            total = max((out - 1) * s + kh - size, 0)
            return total // 2, total - total // 2

        (t0, b0), (l0, r0) = pad(c["x"][1]), pad(c["x"][2])
        xn = torch.nn.functional.pad(x.permute(0, 3, 1, 2), (l0, r0, t0, b0))
        y = torch.nn.functional.conv2d(xn, kern.permute(3, 2, 0, 1), stride=s).permute(0, 2, 3, 1)
        (y * load("dy", c["y"])).sum().backward()
        errs = {}
        for name, ref, shape in (("y", y.detach(), c["y"]), ("dx", x.grad, c["x"]), ("dk", kern.grad, c["k"])):
            errs[name] = ((load(name, shape) - ref).norm() / ref.norm()).item()
        ok = all(e < TOL for e in errs.values())
        fails += 0 if ok else 1
        print(("PASS" if ok else "FAIL") + f" webgpu conv (im2col filter gradient) vs torch float64 x {c['x']} k {c['k']} s{s}: " + "  ".join(f"{k} {v:.1e}" for k, v in errs.items()))
    # PathOptimizer's lazy update (core/train/PathOptimizer.ts) re-implemented here: elements with a zero
    # gradient keep weight and slots; Adam counts steps per element.
    for c in manifest.get("opt", []):
        load = lambda k: torch.from_numpy(np.fromfile(os.path.join(d, c["prefix"] + k + ".f32"), dtype="<f4").reshape(c["shape"])).to(dev, torch.float64)
        w = load("w0")
        m = torch.zeros_like(w)
        u = torch.zeros_like(w)
        t = torch.zeros_like(w)
        lr = c["lr"]
        for i in range(c["steps"]):
            g = load(f"g{i}")
            used = g != 0
            if c["kind"] == "sgd":
                w = torch.where(used, w - lr * g, w)
            elif c["kind"] == "momentum":
                m = torch.where(used, m * 0.9 + g, m)
                w = torch.where(used, w - lr * m, w)
            else:
                t = t + used.double()
                m = torch.where(used, 0.9 * m + 0.1 * g, m)
                u = torch.where(used, 0.999 * u + 0.001 * g * g, u)
                ts = t.clamp_min(1)
                step = lr * torch.sqrt(1 - 0.999**ts) / (1 - 0.9**ts)
                w = torch.where(used, w - m / (torch.sqrt(u) + 1e-7) * step, w)
        err = ((load("w") - w).norm() / w.norm()).item()
        ok = err < TOL
        fails += 0 if ok else 1
        print(("PASS" if ok else "FAIL") + f" webgpu fused PathOptimizer {c['kind']} (3 lazy steps) vs torch float64: weight {err:.1e}")
    # Training BatchNorm (biased batch variance), gamma / beta longer than the channels (gradient zero past them).
    for c in manifest.get("bn", []):
        shape, C, cMax = c["shape"], c["shape"][3], c["cMax"]
        load = lambda k, sh: torch.from_numpy(np.fromfile(os.path.join(d, c["prefix"] + k + ".f32"), dtype="<f4").reshape(sh)).to(dev, torch.float64)
        y = load("y", shape).requires_grad_(True)
        g = load("g", (cMax,)).requires_grad_(True)
        b = load("b", (cMax,)).requires_grad_(True)
        out = torch.nn.functional.batch_norm(y.permute(0, 3, 1, 2), None, None, g[:C], b[:C], training=True, eps=c["eps"]).permute(0, 2, 3, 1)
        (out * load("dz", shape)).sum().backward()
        yy = y.detach().reshape(-1, C)
        stats = torch.stack([yy.mean(0), yy.var(0, unbiased=False)])
        errs = {}
        for name, ref, sh in (("out", out.detach(), shape), ("stats", stats, (2, C)), ("dy", y.grad, shape), ("dg", g.grad, (cMax,)), ("db", b.grad, (cMax,))):
            errs[name] = ((load(name, sh) - ref).norm() / ref.norm()).item()
        ok = all(e < TOL for e in errs.values())
        fails += 0 if ok else 1
        print(("PASS" if ok else "FAIL") + f" webgpu fused BatchNorm vs torch float64 y {shape} gamma/beta [{cMax}]: " + "  ".join(f"{k} {v:.1e}" for k, v in errs.items()))
    print("ALL PASS" if fails == 0 else f"{fails} FAIL")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
