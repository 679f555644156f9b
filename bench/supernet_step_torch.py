"""PyTorch eager fp32 reference of bench/runBench.ts's supernet training step.

The architectures come from the same space JSON: bench/supernetArchs.ts prints every example space
(schema defaults filled in) and its largest subnet; this script builds that subnet as Supernet.apply
(core/nn/Supernet.ts) computes it and times one SGD step on random data, as runBench does:

  loss = softmax cross-entropy(logits, int labels) (mean over the batch) + auxLoss; SGD lr 1e-3 (key
  "<space>@<batch>"), and Adam lr 1e-3, eps 1e-7 (key "<space>@<batch>:adam"), both torch.optim with foreach.

- dense block: act(x·W + b), + x when the block is residual and the widths match;
- conv block: TF 'same' padding (the odd pixel bottom/right), stride, BatchNorm with batch statistics
  (eps 1e-3, running statistics updated with momentum 0.9), activation; then global average pooling;
- MoE block (top-k only): probs = softmax(x·Wr); top-k; capacity ceil(cf·T·k/E) in GShard rank priority
  when the space gives a capacity factor; gates = probabilities of the kept choices, renormalised over
  the k chosen for k ≥ 2 (routers.ts gateCombination), raw for k = 1; each expert runs on its own
  tokens only (index gather / index_add, no host sync); + x when residual; Switch balance loss
  E·Σ f_e·P_e weighted by auxLossWeight;
- head: x·W + b.

Spaces with other MoE features (top-p, shared / null / zero / copy / constant experts: moe-zoo) are
skipped. PyTorch runs NCHW (its native eager layout); runBench's tfjs runs NHWC.

Timing: blocks of N steps ended by one synchronisation (runBench's timeSteps does the same with one
read-back); the median block gives ms per step.

  python3 bench/supernet_step_torch.py archs.json --batch 256,2048 > supernet_torch.json
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F


def act(x, kind):
    if kind == "relu":
        return torch.relu(x)
    if kind == "gelu":
        return F.gelu(x)  # exact erf form, as core/nn/activations.ts
    if kind == "tanh":
        return torch.tanh(x)
    if kind == "sigmoid":
        return torch.sigmoid(x)
    return x


def same_pad(size, k, s):
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def glorot(fan_in, fan_out, shape, g):
    lim = math.sqrt(6 / (fan_in + fan_out))
    return (torch.rand(*shape, generator=g) * 2 - 1) * lim


class Net:
    """The largest subnet as plain tensors (no nn.Module: the step is the same autograd graph)."""

    def __init__(self, space, arch, device, seed=1):
        g = torch.Generator().manual_seed(seed)
        self.layers = []
        self.params = []
        inp = space["input"]
        shape = [inp["channels"], inp["height"], inp["width"]] if inp["kind"] == "image" else [inp["dim"]]
        self.has_conv = any(st["block"]["type"] == "conv" for st in space["stages"])

        def p(t):
            t = t.to(device).requires_grad_(True)
            self.params.append(t)
            return t

        for st, sa in zip(space["stages"], arch["stages"]):
            b = st["block"]
            if b["type"] != "conv" and len(shape) == 3:
                self.layers.append(("pool" if self.has_conv else "flatten",))
                shape = [shape[0]] if self.has_conv else [shape[0] * shape[1] * shape[2]]
            for c in sa["blocks"][: sa["depth"]]:
                if c.get("op") == "identity":
                    continue
                if b["type"] == "dense":
                    d, w = shape[0], c["width"]
                    self.layers.append(("dense", p(glorot(d, w, (d, w), g)), p(torch.zeros(w)), b["activation"], b["residual"] and d == w))
                    shape = [w]
                elif b["type"] == "conv":
                    cin, h, wd = shape
                    k, co, s = c["kernel"], c["channels"], b["stride"]
                    ho, top, bottom = same_pad(h, k, s)
                    wo, left, right = same_pad(wd, k, s)
                    kern = p(glorot(k * k * cin, k * k * co, (co, cin, k, k), g))
                    if b["batchNorm"]:
                        bn = (p(torch.ones(co)), p(torch.zeros(co)), torch.zeros(co, device=device), torch.ones(co, device=device))
                        bias = None
                    else:
                        bn, bias = None, p(torch.zeros(co))
                    self.layers.append(("conv", kern, bias, bn, s, (left, right, top, bottom), b["activation"]))
                    shape = [co, ho, wo]
                else:
                    r = b["routing"]
                    if r["mode"] != "topk" or any(b[key] for key in ("sharedExperts", "nullExperts", "zeroExperts", "copyExperts", "constantExperts")) or b["segments"] != 1:
                        raise NotImplementedError("MoE block with routing or experts other than plain top-k")
                    d, h, E = shape[0], c["expertHidden"], b["experts"]
                    w1 = p(torch.stack([glorot(d, h, (d, h), g) for _ in range(E)]))
                    b1 = p(torch.zeros(E, h))
                    w2 = p(torch.stack([glorot(h, d, (h, d), g) for _ in range(E)]))
                    b2 = p(torch.zeros(E, d))
                    router = p(glorot(d, E, (d, E), g))
                    self.layers.append(("moe", router, w1, b1, w2, b2, r["k"], b["capacityFactor"], b["activation"], b["residual"], b["auxLossWeight"]))
        if len(shape) == 3:
            self.layers.append(("pool" if self.has_conv else "flatten",))
            shape = [shape[0]] if self.has_conv else [shape[0] * shape[1] * shape[2]]
        n = space["numClasses"]
        self.head = (p(glorot(shape[0], n, (shape[0], n), g)), p(torch.zeros(n)))

    def forward(self, x):
        aux = x.new_zeros(())
        for layer in self.layers:
            kind = layer[0]
            if kind == "pool":
                x = x.mean((2, 3))
            elif kind == "flatten":
                x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # NHWC order, as tf.reshape
            elif kind == "dense":
                _, w, b, a, res = layer
                y = act(torch.addmm(b, x, w), a)
                x = x + y if res else y
            elif kind == "conv":
                _, kern, bias, bn, s, pad, a = layer
                y = F.conv2d(F.pad(x, pad), kern, bias, stride=s)
                if bn is not None:
                    gamma, beta, rm, rv = bn
                    # batch statistics (biased variance, as Supernet.applyConv), running stats momentum 0.9
                    y = F.batch_norm(y, rm, rv, gamma, beta, training=True, momentum=0.1, eps=1e-3)
                x = act(y, a)
            else:
                x, a_loss = moe(x, *layer[1:])
                aux = aux + a_loss
        w, b = self.head
        return torch.addmm(b, x, w), aux


def moe(x, router, w1, b1, w2, b2, k, cf, activation, residual, aux_weight):
    T, d = x.shape
    E = router.shape[1]
    probs = torch.softmax(x @ router, dim=-1)
    top_p, top_i = probs.topk(k, dim=-1)
    if cf is not None:
        C = min(T, math.ceil(k * (cf * T / E)))
        order = top_i.t().reshape(-1)  # rank priority: all first choices, then second choices
        one_hot = F.one_hot(order, E)
        pos = ((one_hot.cumsum(0) - one_hot) * one_hot).sum(1).view(k, T).t()
        keep = pos < C
    else:
        keep = torch.ones_like(top_i, dtype=torch.bool)
    gates = top_p / top_p.sum(-1, keepdim=True).clamp_min(1e-30) if k >= 2 else top_p
    gates = gates * keep
    # Each expert on its own tokens: sort the kept assignments by expert, run E bmm-free matmuls.
    flat_e = torch.where(keep, top_i, torch.full_like(top_i, E)).reshape(-1)
    token = torch.arange(T, device=x.device).repeat_interleave(k)
    order = torch.argsort(flat_e, stable=True)
    counts = torch.bincount(flat_e, minlength=E + 1)[:E]
    y = torch.zeros_like(x)
    # The per-expert split needs the counts on the host: one sync per MoE layer (as a PyTorch user writes it).
    start = 0
    for e, n in enumerate(counts.tolist()):
        if n == 0:
            continue
        idx = order[start : start + n]
        start += n
        t = token[idx]
        hdn = act(torch.addmm(b1[e], x[t], w1[e]), activation)
        out = torch.addmm(b2[e], hdn, w2[e])
        y = y.index_add(0, t, out * gates.reshape(-1)[idx, None])
    if residual:
        y = y + x
    pre = F.one_hot(top_i, E).sum(1).float()  # choices before capacity
    f = pre.sum(0) / pre.sum().clamp_min(1)
    aux = aux_weight * E * (f * probs.mean(0)).sum()
    return y, aux


def time_space(name, space, arch, batch, blocks, steps, device, adam=False):
    torch.manual_seed(0)
    net = Net(space, arch, device)
    inp = space["input"]
    shape = (batch, inp["channels"], inp["height"], inp["width"]) if inp["kind"] == "image" else (batch, inp["dim"])
    x = torch.randn(*shape, device=device)
    labels = torch.randint(0, space["numClasses"], (batch,), device=device)
    opt = torch.optim.Adam(net.params, lr=1e-3, eps=1e-7, foreach=True) if adam else torch.optim.SGD(net.params, lr=1e-3, foreach=True)

    def step():
        logits, aux = net.forward(x)
        loss = F.cross_entropy(logits, labels) + aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    per = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = step()
        loss.item()
        per.append((time.perf_counter() - t0) * 1e3 / steps)
    return dict(ms=statistics.median(per), batch=batch, params=sum(p.numel() for p in net.params))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("archs", help="bench/supernetArchs.ts output")
    ap.add_argument("--batch", default="256,2048")
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    archs = json.load(open(args.archs))
    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "supernet": {}}
    for name, entry in archs.items():
        for batch in [int(b) for b in args.batch.split(",")]:
            for adam in (False, True):
                try:
                    r = time_space(name, entry["space"], entry["arch"], batch, args.blocks, args.steps, "cuda", adam)
                except NotImplementedError as e:
                    r = dict(skipped=str(e), batch=batch)
                out["supernet"][f"{name}@{batch}{':adam' if adam else ''}"] = r
    print(json.dumps(out))


if __name__ == "__main__":
    main()
