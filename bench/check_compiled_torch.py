"""Independent float64 check of the compiled WebGPU training step (bench/checkCompiledStep.ts --dump DIR).

For every dumped case (an example space at its largest and at one random subnet) this recomputes each of
the N compiled training steps from the product's documented semantics — not from its code paths — and
compares the loss and correct rows of the step, the MoE layers' reports, and every variable and optimizer
slot after it:

  python3 bench/check_compiled_torch.py DIR            torch float64 on CUDA (CPU when there is none)
  python3 bench/check_compiled_torch.py DIR --numpy    numpy float64, dense-only subnets (no torch needed)

Replay: step k starts from the state the GPU had before it (the initial variables and zero slots for step
0, the dumped state after step k − 1 otherwise), so every step is checked as one function of the same
input. A free-running float64 trajectory is no reference after the first step: float32 rounding moves the
weights by ~1e-5 of lr per step, which is enough, a step or two later, to put some ReLU input on the other
side of 0 and change a whole gradient column (seen on fashion-mlp-supernet at batch 16).

The step (core/train/Trainer.ts with one subnet; core/nn/webgpu/step/compiledStep.ts):
- loss = mean softmax cross-entropy of the int labels over the scored rows (the number the step reports;
  every position of a token space) + Σ weight · aux loss of the MoE layers; gradients of every trainable
  variable of the supernet (zero outside the slices the subnet reads);
- PathOptimizer's lazy Adam (core/train/PathOptimizer.ts; lr, β₁ 0.9, β₂ 0.999, ε 1e-7 from the manifest,
  taken as the float32 values the product computes with): an element whose gradient is exactly 0 keeps its
  weight and both moments; every other element counts t += 1 and takes m = β₁m + (1−β₁)g,
  v = β₂v + (1−β₂)g², w −= lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + ε) (tf.train.adam's form: ε on the uncorrected √v).

The subnet, walked as core/nn/Supernet.ts documents it (stages in order; identity blocks skipped; a layout
conversion just before the next block that computes; then the head):
- dense "<stage>.b<j>": act(x·kernel[:d, :w] + bias[:w]) of the [inMax, wMax] kernel, + x when the block is
  residual and d = w (core/nn/blocks/dense.ts); row-wise on a sequence;
- conv "<stage>.b<j>": TF 'same' padding (odd pixel bottom/right), NHWC, HWIO kernel centre
  kernel[o:o+k, o:o+k, :cin, :c] with o = (kMax − k)/2, stride; BatchNorm with batch statistics (biased
  variance, eps 1e-3) on gamma[:c], beta[:c], the running mean / variance's first c entries moved to
  0.9·old + 0.1·batch (BN_EPSILON, BN_MOMENTUM of core/nn/blocks/conv.ts), or + bias[:c]; activation;
- image → vector: global average pooling when the space has a conv stage, else NHWC flattening; sequence →
  vector: the mean over the tokens;
- MoE "<stage>.b<j>" (core/nn/moe/MoELayer.ts, plain top-k): probs = softmax(x·router[:d, :E]); the k most
  probable experts per token (ties to the lower index); capacity min(T, ⌈k·(cf·T/E)⌉) per expert while
  training when the block has a capacity factor, assignments in 'rank' priority (every token's first
  choice in token order, then every second choice, …) or 'token' priority; gates: raw probabilities of the
  chosen experts (k = 1) or renormalised over the chosen ones before drops (k ≥ 2), 0 where dropped; expert
  e: act(x·w1[:d, :h] + b1[:h])·w2[:h, :d] + b2[:d]; y = Σ gates·experts (+ x when residual); balance
  loss E·Σ f_e·P_e (f: the fraction of assignments before drops, P: mean probability) × auxLossWeight;
  the report [load × E (= f), dropped fraction, mean router entropy −Σp·log(p + 1e-9), balance loss
  (unweighted), kept assignments per token] per layer in forward order (MoELayer.report);
- token embedding: tokens[ids, :d] + positions[:T, :d]; patch embedding: patches·kernel[:P, :d] + bias[:d]
  + positions[:T, :d] (core/nn/blocks/embedding.ts);
- transformer "<stage>.b<j>.transformer" (core/nn/blocks/transformer.ts), pre-LN: h = x + Attn(LN₁(x)),
  y = h + FFN(LN₂(h)); LayerNorm over the first d of γ, β (ε 1e-5, biased variance); attention with the
  first h heads (Q, K, V kernels [:d, :h·dₕ], O [:h·dₕ, :d]), softmax(QKᵀ/√dₕ (+ −1e9 above the diagonal when
  causal))·V; FFN act(x·w1[:d, :n] + b1[:n])·w2[:n, :d] + b2[:d], n = round(ratio·d), or the MoE above over
  the B·T tokens with experts of n units and no residual of its own;
- head: x·head.kernel[:d, :classes] + head.bias (every token's row for a token input).
Parts the walk does not implement (Mixture-of-Supernets, fake-quantised bits, kernel transforms, MoE options
beyond plain top-k) make the case SKIP with the reason, never PASS.

ReLU kinks. Where a ReLU input is within float32 rounding of 0 (|z| < 1e-5·Σ|terms of z|) the GPU may have
taken either side; the replay then tries each such input on the other side (one replay each, kept where it
brings the replay closer to the GPU's step) and says how many it took over. Likewise the lazy rule's
g == 0: a gradient that cancels to within float32 rounding of 0 (|g| ≤ 1e-6 of its variable's largest) may
be exactly 0 on the GPU; where the GPU left such an element untouched, so does the replay (counted too).

Tolerance (TOL = 1e-4). The compiled step runs in float32: a gradient element carries a relative error of
~1e-6 (sums over the batch, the error of every layer behind it), the loss ~1e-7. Adam normalises the step:
each used element moves by lr·m̂/(√v̂ + ε), O(lr) whatever the gradient's size — except near the ε scale
(|g| ≲ ε/√(1−β₂) ≈ 3e-6), where the step is ≈ lr·g·√(1−β₂)/ε and a tiny gradient that float32 gets 40 %
wrong (a sum of cancelling terms) moves the weight by ~1 % of lr (measured on conv kernels, batch 16). So the
weights are checked in two parts: the moments against the float64 replay (m carries the gradient:
max|webgpu − ref| / max(max|m|, 1e-5·the model's largest m), v likewise with 1e-10 — the floors keep the
float32 noise of a mathematically zero gradient out of the ratio), and the weight against the update rule
applied in float64 to the GPU's own new m, v and t ("rule", over max(max|w|, 10·lr): a bias within a few
updates of its zero start has no scale but the update's); the weight against the float64 replay is printed
too ("w", marked "ε regime" where it exceeds TOL while both parts pass). 1e-4 leaves float32 rounding room
(measured ≤ 6e-5, the worst the key bias's noise moments and BatchNorm's running mean) while rule errors
move an element by a whole update or more (a skipped or double update, a wrong slice: ≥ lr/max(|w|, 10·lr)
≥ 1e-2; no bias correction: ×3.2 on step 1). Exact: the update counts t, and every element the reference
leaves alone keeps its bits. BatchNorm running statistics and other non-trainable variables: against the
replay over max|ref|. The loss of each step and the MoE reports: relative, TOL.

Exit status: 0 when every checked case passes (SKIPs allowed), 1 when any fails.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

TOL = 1e-4  # variables, slots, the loss of each step and the MoE reports' real-valued entries (see above)
BN_EPSILON = 1e-3  # core/nn/blocks/conv.ts
BN_MOMENTUM = 0.9
READS = {"dense": ("vector", "sequence"), "moe": ("vector", "sequence"), "conv": ("image",), "tokenEmbedding": ("tokens",), "patchEmbedding": ("sequence",), "transformer": ("sequence",)}


class Skip(Exception):
    """A part of the subnet this check does not implement (the case is SKIP, never PASS)."""


def moe_unsupported(b, c):
    """Why an MoE block is outside the plain top-k this check implements (None when it is plain top-k);
    the conditions of supernet_step_torch.check_plain_topk, plus the choice's bits and expert count."""
    r = b["routing"]
    if r["mode"] != "topk":
        return f"routing mode {r['mode']}"
    for key in ("sharedExperts", "nullExperts", "zeroExperts", "copyExperts", "constantExperts"):
        if b.get(key, 0):
            return key
    for key, plain in (("segments", 1), ("iterations", 1), ("zLossWeight", 0), ("routerJitter", 0), ("gatingResidual", False)):
        if b.get(key, plain) != plain:
            return f"{key} {b[key]}"
    for key in ("momentum", "residualMlp", "expertCounts"):
        if b.get(key):
            return key
    if r.get("biasUpdateRate", 0):
        return "loss-free selection bias"
    if c.get("bits", 32) < 32:
        return f"{c['bits']}-bit experts"
    if c.get("experts") not in (None, b["experts"]):
        return "an expert-count choice"
    return None


# core/space/blocks/moe.ts schema defaults (a transformer's `moe` options may leave them out).
MOE_DEFAULTS = {"activation": "gelu", "capacityFactor": None, "capacityPriority": "rank", "auxLossWeight": 0.01, "zLossWeight": 0, "routerJitter": 0, "gatingResidual": False, "segments": 1, "iterations": 1}


def moe_op(name, b, c, d, hidden, residual):
    why = moe_unsupported(b, c)
    if why:
        raise Skip(f"{name}: MoE with {why} (this check implements plain top-k)")
    r = b["routing"]
    E = b["experts"]
    gate = r.get("gate") or ("raw" if r["k"] == 1 else "renormalize")  # core/space/routing/topk.ts defaultGate
    return {"kind": "moe", "name": name, "d": d, "h": hidden, "E": E, "k": min(r["k"], E), "cf": b["capacityFactor"], "priority": b["capacityPriority"], "gate": gate, "act": b["activation"], "residual": residual, "auxWeight": b["auxLossWeight"]}


def plan(spec, arch):
    """The subnet's layers in forward order (core/nn/Supernet.ts walk): dicts with the variables they read."""
    inp = spec["input"]
    kind = inp["kind"]
    if kind == "vector":
        shape = {"layout": "vector", "width": inp["dim"], "spatial": (1, 1)}
    elif kind == "image":
        shape = {"layout": "image", "width": inp["channels"], "spatial": (inp["height"], inp["width"])}
    elif kind == "sequence":
        shape = {"layout": "sequence", "width": inp["dim"], "spatial": (1, 1), "length": inp["length"]}
    else:
        shape = {"layout": "tokens", "width": inp["vocab"], "spatial": (1, 1), "length": inp["length"]}
    has_conv = any(st["block"]["type"] == "conv" for st in spec["stages"])

    def convert(s, reads, where):
        if s["layout"] in reads:
            return s, None
        if "vector" not in reads:
            raise Skip(f"{where} reads {'/'.join(reads)}, a {s['layout']} reaches it")
        if s["layout"] == "image":
            H, W = s["spatial"]
            return ({"layout": "vector", "width": s["width"], "spatial": (1, 1)}, "gap") if has_conv else ({"layout": "vector", "width": s["width"] * H * W, "spatial": (1, 1)}, "flatten")
        if s["layout"] == "sequence":
            return {"layout": "vector", "width": s["width"], "spatial": (1, 1)}, "tokenMean"
        raise Skip(f"{where}: no conversion from {s['layout']}")

    ops = []
    pending = None
    for st, sa in zip(spec["stages"], arch["stages"]):
        b = st["block"]
        t = b["type"]
        if t not in READS:
            raise Skip(f"stage {st['id']}: {t} blocks are not implemented in this check")
        shape, how = convert(shape, READS[t], f"stage {st['id']}")
        pending = how or pending
        for j, c in enumerate(sa["blocks"][: sa["depth"]]):
            if c.get("op") == "identity":
                continue
            name = f"{st['id']}.b{j}"
            if pending:
                ops.append({"kind": pending})
                pending = None
            d = shape["width"]
            if t == "dense":
                if b.get("archMixture"):
                    raise Skip(f"{name}: Mixture-of-Supernets weights")
                if c.get("bits", 32) < 32:
                    raise Skip(f"{name}: {c['bits']}-bit weights")
                w = c["width"]
                ops.append({"kind": "dense", "name": name, "kernel": f"{name}.dense.kernel", "bias": f"{name}.dense.bias", "d": d, "w": w, "act": b["activation"], "residual": bool(b["residual"]) and d == w})
                shape = dict(shape, width=w)
            elif t == "conv":
                if b.get("kernelTransform"):
                    raise Skip(f"{name}: kernel transformation matrices")
                if c.get("bits", 32) < 32:
                    raise Skip(f"{name}: {c['bits']}-bit weights")
                k, ch, s = c["kernel"], c["channels"], b["stride"]
                ops.append({"kind": "conv", "name": name, "cin": d, "c": ch, "k": k, "kMax": max(b["kernel"]), "stride": s, "bn": bool(b["batchNorm"]), "act": b["activation"]})
                H, W = shape["spatial"]
                shape = {"layout": "image", "width": ch, "spatial": (-(-H // s), -(-W // s))}
            elif t == "moe":
                ops.append(moe_op(name, b, c, d, c["expertHidden"], bool(b["residual"])))
            elif t == "tokenEmbedding" or t == "patchEmbedding":
                T = shape["length"]
                if T > b["positions"]:
                    raise Skip(f"{name}: {T} tokens exceed the embedding's {b['positions']} positions")
                ops.append({"kind": t, "name": name, "P": d, "d": c["width"], "T": T})
                shape = {"layout": "sequence", "width": c["width"], "spatial": (1, 1), "length": T}
            else:
                p = f"{name}.transformer"
                hidden = max(1, math.floor(c["mlpRatio"] * d + 0.5))  # ffnHidden: max(1, round(ratio·d)), JS rounding
                if b.get("moe"):
                    # transformerMoEBlock: the block's MoE options, experts of `hidden` units, no residual of its own.
                    ffn = moe_op(f"{p}.moe", {**MOE_DEFAULTS, **b["moe"]}, {}, d, hidden, False)
                else:
                    ffn = {"kind": "ffn", "name": f"{p}.ffn", "d": d, "h": hidden, "act": b["activation"]}
                ops.append({"kind": "transformer", "name": p, "d": d, "T": shape["length"], "heads": c["heads"], "dh": b["headDim"], "causal": bool(b.get("causal")), "ffn": ffn})
    per_token = kind == "tokens"
    shape, how = convert(shape, ("sequence",) if per_token else ("vector",), "the head")
    pending = how or pending
    if pending:
        ops.append({"kind": pending})
    ops.append({"kind": "dense", "name": "head", "kernel": "head.kernel", "bias": "head.bias", "d": shape["width"], "w": spec["numClasses"], "act": "linear", "residual": False})
    return ops


def capacity_keep(top_i, E, priority, capacity):
    """[T, k] bool: assignment kept under `capacity` per expert, queued in 'rank' or 'token' priority."""
    T, k = top_i.shape
    order = top_i.T.reshape(-1) if priority == "rank" else top_i.reshape(-1)  # rank: every first choice, then every second…
    pos = np.zeros(order.shape[0], dtype=np.int64)
    seen = np.zeros(E, dtype=np.int64)
    for n, e in enumerate(order.tolist()):
        pos[n] = seen[e]
        seen[e] += 1
    pos = pos.reshape(k, T).T if priority == "rank" else pos.reshape(T, k)
    return pos < capacity


KINK_BAND = 1e-5  # |z| below this fraction of Σ|terms| of z: float32 cannot tell which side of ReLU's kink z is on
NOISE = 1e-6  # a variable whose whole gradient stays below this fraction of the model's largest: float32 noise
M_FLOOR = 1e-5  # moments: errors over max(max|m|, M_FLOOR·the largest m), v likewise with M_FLOOR²
G_BAND = 1e-6  # a gradient below this fraction of its variable's largest may round to exactly 0 in float32
W_FLOOR = 10  # weights: errors over max(max|w|, W_FLOOR·lr) (see the docstring)
MAX_KINKS = 64  # ambiguous kinks per step tried on the other side (one replay of the step each)


class TorchStep:
    """One training step of the subnet in torch float64 (the plan's layers, autograd, lazy Adam)."""

    def __init__(self, case, arrays, device):
        import torch
        import torch.nn.functional as F

        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        # The eager reference's activations, TF 'same' padding, LayerNorm ε and causal mask value.
        from supernet_step_torch import LN_EPS, MASK_VALUE, act, same_pad

        self.torch, self.F, self.act, self.same_pad = torch, F, act, same_pad
        self.ln_eps, self.mask_value = LN_EPS, MASK_VALUE
        self.device = device
        self.ops = plan(case["spec"], case["arch"])
        self.case = case
        self.x = self.f64(arrays["x"])
        self.labels = torch.from_numpy(arrays["labels"].astype(np.int64)).to(device)

    def f64(self, a):
        return self.torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)).to(self.device)

    def relu(self, z, scale, key, kinks, flips):
        """ReLU whose derivative at the kinks in `flips` is taken on the other side; records ambiguous kinks."""
        torch = self.torch
        on = (z > 0).detach()
        amb = (z.detach().abs() < KINK_BAND * scale).nonzero().tolist()
        kinks.extend((key, tuple(i)) for i in amb)
        for fk, idx in flips:
            if fk == key:
                on[idx] = ~on[idx]
        return z * on.to(z.dtype)

    def moe(self, rows, op, V, report, kinks, flips):
        torch, F = self.torch, self.F
        report_ties = self.route_ties
        T = rows.shape[0]
        d, h, E, k = op["d"], op["h"], op["E"], op["k"]
        pre = f"{op['name']}.moe"
        probs = torch.softmax(rows @ V[f"{pre}.router"][:d, :E], -1)
        order = torch.sort(-probs.detach(), dim=-1, stable=True)
        top_i = order.indices[:, :k]  # ties to the lower index (tf.topk)
        if k < E:
            # Tokens whose k-th and (k+1)-th probabilities are within float32 rounding: the GPU may route them otherwise.
            pk, pk1 = -order.values[:, k - 1], -order.values[:, k]
            report_ties.append(int((pk - pk1 <= 1e-6 * pk).sum()))
        top_p = probs.gather(1, top_i)
        if op["cf"] is not None:
            C = min(T, math.ceil(k * (op["cf"] * T / E)))
            keep = torch.from_numpy(capacity_keep(top_i.cpu().numpy(), E, op["priority"], C)).to(self.device)
        else:
            keep = torch.ones_like(top_i, dtype=torch.bool)
        gates = (top_p / top_p.sum(-1, keepdim=True) if op["gate"] == "renormalize" else top_p) * keep
        y = torch.zeros_like(rows)
        for e in range(E):
            sel = (top_i == e) & keep  # [T, k]
            if not bool(sel.any()):
                continue
            t = sel.any(1).nonzero().squeeze(1)
            g = (gates * sel).sum(1, keepdim=True)[t]
            w1, b1 = V[f"{pre}.e{e}.w1"][:d, :h], V[f"{pre}.e{e}.b1"][:h]
            z = rows[t] @ w1 + b1
            if op["act"] == "relu":
                # Kinks indexed by (token, unit) of the whole batch.
                scale = rows[t].detach().abs() @ w1.detach().abs() + b1.detach().abs()
                on = (z > 0).detach()
                amb = (z.detach().abs() < KINK_BAND * scale).nonzero().tolist()
                tl = t.tolist()
                kinks.extend((f"{pre}.e{e}", (tl[i], u)) for i, u in amb)
                for fk, (tok, u) in flips:
                    if fk == f"{pre}.e{e}" and tok in tl:
                        on[tl.index(tok), u] = ~on[tl.index(tok), u]
                hid = z * on.to(z.dtype)
            else:
                hid = self.act(z, op["act"])
            y = y.index_add(0, t, (hid @ V[f"{pre}.e{e}.w2"][:h, :d] + V[f"{pre}.e{e}.b2"][:d]) * g)
        if op["residual"]:
            y = y + rows
        chosen = F.one_hot(top_i, E).sum(1).to(rows.dtype)  # [T, E] before drops
        f = chosen.sum(0) / chosen.sum().clamp_min(1)
        balance = E * (f * probs.mean(0)).sum()
        kept = int(keep.sum())
        entropy = -(probs * torch.log(probs + 1e-9)).sum(1).mean()
        report.extend([*f.tolist(), (T * k - kept) / max(T * k, 1), entropy.item(), balance.item(), kept / T])
        return y, op["auxWeight"] * balance

    def transformer(self, x, op, V, report, kinks, flips):
        """Pre-LN: h = x + Attn(LN₁(x)), y = h + FFN(LN₂(h)) (core/nn/blocks/transformer.ts, ../transformer/*.ts)."""
        torch, F = self.torch, self.F
        B, T, d = x.shape
        p, heads, dh = op["name"], op["heads"], op["dh"]
        inner = heads * dh

        def ln(z, which):  # the first d entries of γ, β; biased variance, ε 1e-5
            return F.layer_norm(z, (d,), V[f"{p}.{which}.gamma"][:d], V[f"{p}.{which}.beta"][:d], self.ln_eps)

        a = ln(x, "ln1").reshape(B * T, d)

        def project(w):  # the first d rows and the first `heads` heads' columns → [B, heads, T, dₕ]
            return (a @ V[f"{p}.attn.{w}.kernel"][:d, :inner] + V[f"{p}.attn.{w}.bias"][:inner]).view(B, T, heads, dh).transpose(1, 2)

        q, k, v = project("q"), project("k"), project("v")
        scores = q @ k.transpose(-2, -1) / math.sqrt(dh)
        if op["causal"]:
            scores = scores + torch.triu(torch.full((T, T), self.mask_value, dtype=x.dtype, device=x.device), diagonal=1)
        merged = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(B * T, inner)
        h = x + (merged @ V[f"{p}.attn.o.kernel"][:inner, :d] + V[f"{p}.attn.o.bias"][:d]).view(B, T, d)
        rows = ln(h, "ln2").reshape(B * T, d)
        ffn = op["ffn"]
        if ffn["kind"] == "moe":
            f, aux = self.moe(rows, ffn, V, report, kinks, flips)
        else:
            n, hid = ffn["name"], ffn["h"]
            W1, b1 = V[f"{n}.w1"][:d, :hid], V[f"{n}.b1"][:hid]
            z = rows @ W1 + b1
            u = self.relu(z, rows.detach().abs() @ W1.detach().abs() + b1.detach().abs(), n, kinks, flips) if ffn["act"] == "relu" else self.act(z, ffn["act"])
            f, aux = u @ V[f"{n}.w2"][:hid, :d] + V[f"{n}.b2"][:d], x.new_zeros(())
        return h + f.view(B, T, d), aux

    def run(self, state, flips):
        torch, F = self.torch, self.F
        trainable = self.case["trainable"]
        P = {n: self.f64(a) for n, a in state.items() if "#" not in n}
        V = dict(P)
        for n in trainable:
            V[n] = P[n].clone().requires_grad_(True)
        kinks, report = [], []
        self.route_ties = []
        h = self.x
        aux = self.x.new_zeros(())
        for op in self.ops:
            kind = op["kind"]
            if kind == "flatten":
                h = h.reshape(h.shape[0], -1)  # NHWC order, as tf.reshape
            elif kind == "gap":
                h = h.mean((1, 2))
            elif kind == "tokenMean":
                h = h.mean(1)
            elif kind == "dense":
                d, w = op["d"], op["w"]
                lead = h.shape[:-1]
                rows = h.reshape(-1, d)
                W, b = V[op["kernel"]][:d, :w], V[op["bias"]][:w]
                z = rows @ W + b
                if op["act"] == "relu":
                    y = self.relu(z, rows.detach().abs() @ W.detach().abs() + b.detach().abs(), op["name"], kinks, flips)
                else:
                    y = self.act(z, op["act"])
                h = (y + rows if op["residual"] else y).reshape(*lead, w)
            elif kind == "conv":
                k, kMax, cin, ch, s, name = op["k"], op["kMax"], op["cin"], op["c"], op["stride"], op["name"]
                off = (kMax - k) // 2
                kern = V[f"{name}.conv.kernel"][off : off + k, off : off + k, :cin, :ch].permute(3, 2, 0, 1)
                xn = h.permute(0, 3, 1, 2)
                _, top, bottom = self.same_pad(xn.shape[2], k, s)
                _, left, right = self.same_pad(xn.shape[3], k, s)
                pad = (left, right, top, bottom)
                y = F.conv2d(F.pad(xn, pad), kern, stride=s).permute(0, 2, 3, 1)  # NHWC
                scale = F.conv2d(F.pad(xn.detach().abs(), pad), kern.detach().abs(), stride=s).permute(0, 2, 3, 1)
                if op["bn"]:
                    mean = y.mean((0, 1, 2))
                    var = ((y - mean) ** 2).mean((0, 1, 2))
                    for stat, batch in (("mean", mean), ("variance", var)):
                        run = P[f"{name}.bn.{stat}"]
                        run[:ch] = BN_MOMENTUM * run[:ch] + (1 - BN_MOMENTUM) * batch.detach()
                    gamma, beta = V[f"{name}.bn.gamma"][:ch], V[f"{name}.bn.beta"][:ch]
                    inv = 1 / torch.sqrt(var + BN_EPSILON)
                    y = (y - mean) * inv * gamma + beta
                    scale = ((scale + mean.abs()) * inv * gamma.abs() + beta.abs()).detach()
                else:
                    bias = V[f"{name}.conv.bias"][:ch]
                    y = y + bias
                    scale = scale + bias.detach().abs()
                h = self.relu(y, scale, name, kinks, flips) if op["act"] == "relu" else self.act(y, op["act"])
            elif kind == "moe":
                lead = h.shape[:-1]
                y, a = self.moe(h.reshape(-1, op["d"]), op, V, report, kinks, flips)
                h = y.reshape(*lead, op["d"])
                aux = aux + a
            elif kind == "tokenEmbedding":
                # ids (the batch's floats) → the first d columns of the token table + the first T position rows.
                e = f"{op['name']}.tokenEmbedding"
                h = V[f"{e}.tokens"][:, : op["d"]][h.long()] + V[f"{e}.positions"][: op["T"], : op["d"]]
            elif kind == "patchEmbedding":
                e = f"{op['name']}.patchEmbedding"
                B, T, Pd = h.shape
                h = (h.reshape(B * T, Pd) @ V[f"{e}.kernel"][:Pd, : op["d"]] + V[f"{e}.bias"][: op["d"]]).view(B, T, op["d"]) + V[f"{e}.positions"][:T, : op["d"]]
            elif kind == "transformer":
                h, a = self.transformer(h, op, V, report, kinks, flips)
                aux = aux + a
        logits = h.reshape(-1, h.shape[-1])  # a per-token head: [B·T, classes] in the labels' row-major order
        ce = F.cross_entropy(logits, self.labels)
        grads = torch.autograd.grad(ce + aux, [V[n] for n in trainable], allow_unused=True)
        new = {n: p.cpu().numpy() for n, p in P.items()}
        gnp = {}
        with torch.no_grad():
            for n, g in zip(trainable, grads):
                if g is None:
                    continue  # off the path: no gradient, no update (PathOptimizer skips the variable)
                gnp[n] = g.cpu().numpy()
                s = [self.f64(state[f"{n}#{i}"]) for i in range(3)]
                w, s = lazy_adam(P[n], g, s, self.case["optimizer"], torch)
                new[n] = w.cpu().numpy()
                new.update({f"{n}#{i}": v.cpu().numpy() for i, v in enumerate(s)})
        lg = logits.detach().cpu().numpy()
        return {"loss": ce.item(), "correct": int((lg.argmax(1) == self.labels.cpu().numpy()).sum()), "near_ties": near_tie_rows(lg), "report": report, "state": new, "kinks": kinks, "grads": gnp, "route_ties": sum(self.route_ties)}


def _erf(v):
    return np.vectorize(math.erf, otypes=[np.float64])(v)


NP_ACT = {
    "relu": (lambda z: np.maximum(z, 0), lambda z, y: (z > 0).astype(np.float64)),
    "linear": (lambda z: z, lambda z, y: np.ones_like(z)),
    "tanh": (np.tanh, lambda z, y: 1 - y * y),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, y: y * (1 - y)),
    "gelu": (lambda z: 0.5 * z * (1 + _erf(z / math.sqrt(2))), lambda z, y: 0.5 * (1 + _erf(z / math.sqrt(2))) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)),
}


class NumpyStep:
    """Dense blocks, flattening / pooling and the head by hand: forward, cross-entropy, backward, lazy Adam."""

    def __init__(self, case, arrays):
        self.ops = plan(case["spec"], case["arch"])
        for op in self.ops:
            if op["kind"] not in ("dense", "flatten", "gap"):
                raise Skip(f"--numpy implements dense blocks only ({op['kind']} {op.get('name', '')})")
        self.case = case
        self.x = arrays["x"].astype(np.float64)
        self.labels = arrays["labels"].astype(np.int64)

    def run(self, state, flips):
        P = {n: a.astype(np.float64) for n, a in state.items() if "#" not in n}
        tape, kinks = [], []
        h = self.x
        for op in self.ops:
            if op["kind"] == "flatten":
                tape.append((op, h.shape))
                h = h.reshape(h.shape[0], -1)
            elif op["kind"] == "gap":
                tape.append((op, h.shape))
                h = h.mean((1, 2))
            else:
                d, w = op["d"], op["w"]
                W, b = P[op["kernel"]][:d, :w], P[op["bias"]][:w]
                z = h @ W + b
                y = NP_ACT[op["act"]][0](z)
                dact = NP_ACT[op["act"]][1](z, y)
                if op["act"] == "relu":
                    amb = np.argwhere(np.abs(z) < KINK_BAND * (np.abs(h) @ np.abs(W) + np.abs(b)))
                    kinks.extend((op["name"], tuple(int(v) for v in i)) for i in amb)
                    for fk, idx in flips:
                        if fk == op["name"]:
                            dact[idx] = 1 - dact[idx]
                            y[idx] = z[idx] * dact[idx]
                tape.append((op, h, dact))
                h = y + h if op["residual"] else y
        logits = h
        rows = logits.shape[0]
        m = logits.max(1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(logits - m).sum(1))
        loss = float(np.mean(lse - logits[np.arange(rows), self.labels]))
        g = np.exp(logits - lse[:, None])
        g[np.arange(rows), self.labels] -= 1
        g /= rows
        grads = {}
        for entry in reversed(tape):
            op = entry[0]
            if op["kind"] == "flatten":
                g = g.reshape(entry[1])
            elif op["kind"] == "gap":
                B, H, W, C = entry[1]
                g = np.broadcast_to(g[:, None, None, :] / (H * W), (B, H, W, C))
            else:
                _, hin, dact = entry
                d, w = op["d"], op["w"]
                dz = g * dact
                gk = np.zeros_like(P[op["kernel"]])
                gk[:d, :w] = hin.T @ dz
                gb = np.zeros_like(P[op["bias"]])
                gb[:w] = dz.sum(0)
                grads[op["kernel"]], grads[op["bias"]] = gk, gb
                g = dz @ P[op["kernel"]][:d, :w].T + (g if op["residual"] else 0)
        new = dict(P)
        for n in self.case["trainable"]:
            if n in grads:
                w, s = lazy_adam(P[n], grads[n], [state[f"{n}#{i}"].astype(np.float64) for i in range(3)], self.case["optimizer"], np)
                new[n] = w
                new.update({f"{n}#{i}": v for i, v in enumerate(s)})
        return {"loss": loss, "correct": int((logits.argmax(1) == self.labels).sum()), "near_ties": near_tie_rows(logits), "report": [], "state": new, "kinks": kinks, "grads": grads}


def lazy_adam(w, g, s, o, xp):
    """PathOptimizer's lazy Adam on one variable (numpy or torch arrays, float64)."""
    m, u, t = s
    used = g != 0
    # The step's scalars as the float32 values every path of the product computes with (tf scalars, WGSL
    # uniforms): 1 − f32(0.999) is 1.3e-5 off 0.001, which would show in every second moment.
    b1, b2, lr, eps = (float(np.float32(o[key])) for key in ("beta1", "beta2", "lr", "eps"))
    t = t + (used.astype(np.float64) if xp is np else used.to(t.dtype))
    m = xp.where(used, b1 * m + (1 - b1) * g, m)
    u = xp.where(used, b2 * u + (1 - b2) * g * g, u)
    ts = xp.maximum(t, xp.ones_like(t))
    step = lr * xp.sqrt(1 - b2**ts) / (1 - b1**ts)
    w = xp.where(used, w - m / (xp.sqrt(u) + eps) * step, w)
    return w, [m, u, t]


def adam_weight(w0, m, v, t, t0, o):
    """The weight PathOptimizer's Adam makes from moments m, v and counts t (float64; unchanged where t = t0)."""
    b1, b2, lr, eps = (float(np.float32(o[key])) for key in ("beta1", "beta2", "lr", "eps"))
    m, v, t, w0 = (a.astype(np.float64) for a in (m, v, t, w0))
    ts = np.maximum(t, 1)
    step = lr * np.sqrt(1 - b2**ts) / (1 - b1**ts)
    return np.where(t != t0, w0 - m / (np.sqrt(v) + eps) * step, w0)


def near_tie_rows(logits):
    """Rows whose two largest logits are within float32 noise (their arg-max can differ between the sides)."""
    top2 = np.sort(logits, 1)[:, -2:]
    scale = max(float(np.abs(logits).max()), 1e-30)
    return int((top2[:, 1] - top2[:, 0] < 1e-5 * scale).sum())


def load_case(blob, case):
    def arr(e):
        n = int(np.prod(e["shape"])) if e["shape"] else 1
        return np.frombuffer(blob, dtype="<f4" if e["dtype"] == "f32" else "<i4", count=n, offset=e["offset"]).reshape(e["shape"])

    inputs = {e["name"]: arr(e) for e in case["input"]}
    initial = {e["name"]: arr(e) for e in case["initial"]}
    # Before the first step the slots are zero (PathOptimizer creates them so).
    initial.update({f"{n}#{i}": np.zeros(initial[n].shape, np.float32) for n in case["trainable"] for i in range(3)})
    return {"x": inputs["x"], "labels": inputs["labels"], "initial": initial, "after": [{e["name"]: arr(e) for e in s} for s in case["after"]]}


def rel(got, ref):
    if ref.size == 0:
        return 0.0
    den = float(np.abs(ref).max())
    num = float(np.abs(got.astype(np.float64) - ref).max())
    return num / den if den > 0 else num


def scales(state, trainable, lr):
    """What each array's error is measured against (see Tolerance): max|ref|, floored for weights at
    W_FLOOR·lr and for moments at a tiny fraction of the model's largest (a mathematically zero gradient,
    such as attention's key bias — softmax ignores a constant added to a query's scores — leaves float32
    noise in its moments on both sides)."""
    top = lambda a: float(np.abs(a).max()) if a.size else 0.0
    m_all = max([top(a) for n, a in state.items() if n.endswith("#0")], default=0.0)
    v_all = max([top(a) for n, a in state.items() if n.endswith("#1")], default=0.0)
    out = {}
    for n, a in state.items():
        base, _, slot = n.partition("#")
        den = top(a)
        if slot == "" and base in trainable:
            # A weight still within a few updates of zero (a bias) has no scale of its own but the update's.
            den = max(den, W_FLOOR * lr)
        elif slot == "0":
            den = max(den, M_FLOOR * m_all)
        elif slot == "1":
            den = max(den, M_FLOOR**2 * v_all)
        out[n] = den
    return out


def misfit(got_state, ref_state, den):
    """Σ over arrays of ‖(webgpu − ref) / scale‖²: how far a replay is from the GPU's step (to pick kink sides)."""
    total = 0.0
    for n, want in ref_state.items():
        if not n.endswith("#2") and den[n] > 0:
            total += float(((got_state[n].astype(np.float64) - want) ** 2).sum()) / den[n] ** 2
    return total


def adopt_rounded_zeros(got, before, r):
    """The lazy rule tests g == 0, which float32 rounding can decide either way for a gradient that is 0 up
    to rounding. Where the update counts differ, the replay takes the GPU's side for (a) an element the GPU
    left untouched (bit for bit, t not counted) whose float64 gradient cancels to within G_BAND of its
    variable's largest, and (b) any element of a variable whose whole gradient is float32 noise (below NOISE
    of the model's largest: mathematically 0). Returns the counts of (a) and the variables of (b)."""
    n, noise_vars = 0, []
    g_all = max([float(np.abs(g).max()) for g in r["grads"].values() if g.size], default=0.0)
    for name, g in r["grads"].items():
        if f"{name}#2" not in got or g.size == 0:
            continue
        keys = (name, f"{name}#0", f"{name}#1", f"{name}#2")
        differ = got[f"{name}#2"] != r["state"][f"{name}#2"]
        if not differ.any():
            continue
        g_max = float(np.abs(g).max())
        if g_max <= NOISE * g_all:
            noise_vars.append(name)
            for key in keys:
                r["state"][key] = np.where(differ, got[key].astype(np.float64), r["state"][key])
            continue
        idle = differ & (got[f"{name}#2"] == before[f"{name}#2"]) & (got[name] == before[name]) & (g != 0) & (np.abs(g) <= G_BAND * g_max)
        if idle.any():
            n += int(idle.sum())
            for key in keys:
                r["state"][key] = np.where(idle, before[key].astype(np.float64), r["state"][key])
    return n, noise_vars


def replay(case, arrays, stepper):
    """Every compiled step recomputed from the state the GPU had before it; ambiguous ReLU kinks resolved."""
    out = []
    before = arrays["initial"]
    trainable, lr = set(case["trainable"]), case["optimizer"]["lr"]
    for k in range(case["steps"]):
        got = arrays["after"][k]
        r = stepper.run(before, ())
        kinks = sorted(set(r["kinks"]))
        flips = ()
        if kinks:
            # float32 may have taken either side of each: keep each flip that brings the replay closer to the
            # GPU's step (one at a time: kinks in different units touch different gradient columns).
            den = scales(r["state"], trainable, lr)
            best = misfit(got, r["state"], den)
            for kk in kinks[:MAX_KINKS]:
                alt = stepper.run(before, flips + (kk,))
                fit = misfit(got, alt["state"], den)
                if fit < best:
                    best, r, flips = fit, alt, flips + (kk,)
        r["n_kinks"] = len(kinks)
        r["flipped"] = len(flips)
        r["zero_grads"], r["noise_vars"] = adopt_rounded_zeros(got, before, r)
        r["before"] = before
        out.append(r)
        before = got
    return out


def compare(case, arrays, steps):
    """Print the comparison of one case; returns True when it passes."""
    fails, notes = [], []
    per = {}  # name → [max rel error over steps, notes]
    trainable = set(case["trainable"])
    lr = case["optimizer"]["lr"]
    for k, r in enumerate(steps):
        a, b = case["losses"][k], r["loss"]
        e = abs(a - b) / max(abs(b), 1e-30)
        kink = ""
        if r["n_kinks"]:
            kink = f"   {r['n_kinks']} ReLU inputs within float32 rounding of 0, {r['flipped']} taken on the other side" + (f" (only the first {MAX_KINKS} tried)" if r["n_kinks"] > MAX_KINKS else "")
        if r.get("route_ties"):
            kink += f"   {r['route_ties']} tokens with their k-th and next expert within float32 rounding (routing may differ)"
        if r["zero_grads"]:
            kink += f"   {r['zero_grads']} gradients within float32 rounding of 0 left untouched as on the GPU"
        if r["noise_vars"]:
            kink += f"   float32-noise gradients (mathematically 0), update counts as on the GPU: {', '.join(r['noise_vars'])}"
        print(f"  step {k}: loss webgpu {a:.7f}  ref {b:.7f}  rel {e:.1e}   correct webgpu {case['correct'][k]:g}  ref {r['correct']}{kink}")
        if e > TOL:
            fails.append(f"loss of step {k} ({e:.1e})")
        if abs(case["correct"][k] - r["correct"]) > r["near_ties"]:
            fails.append(f"correct rows of step {k} ({case['correct'][k]:g} vs {r['correct']}, {r['near_ties']} near ties)")
        got_r, want_r = np.asarray(case["reports"][k], dtype=np.float64), np.asarray(r["report"], dtype=np.float64)
        if got_r.size or want_r.size:
            # MoE reports: [load × E, dropped, entropy, balance, kept per token] per layer, in forward order.
            if got_r.shape != want_r.shape:
                notes.append(f"reports of step {k}: {got_r.size} floats, the reference's MoE layers make {want_r.size}")
            else:
                err = float(np.abs(got_r - want_r).max() / max(np.abs(want_r).max(), 1e-30))
                print(f"  step {k}: MoE reports max rel {err:.1e}  webgpu {np.array2string(got_r, precision=4, max_line_width=400)}")
                if err > TOL:
                    fails.append(f"MoE reports of step {k} ({err:.1e})")
        got, before = arrays["after"][k], r["before"]
        dens = scales(r["state"], trainable, lr)
        for name, want in r["state"].items():
            g = got[name]
            base, _, slot = name.partition("#")
            den = dens[name]
            diff = np.abs(g.astype(np.float64) - want)
            e = float(diff.max()) / den if want.size and den > 0 else 0.0
            entry = per.setdefault(name, [0.0, []])
            entry[0] = max(entry[0], e)
            if slot == "2":
                off = int((g != want).sum())
                if off:
                    entry[1].append(f"step {k}: {off} update counts differ")
            elif e > TOL:
                over = int((diff > TOL * den).sum())
                entry[1].append(f"step {k}: {over} of {want.size} elements over tolerance")
            if slot == "":
                # Elements the reference left alone keep the bits they had before the step (the lazy rule).
                same = want == before[name]
                changed = int((g[same] != before[name][same]).sum())
                if changed:
                    entry[1].append(f"step {k}: {changed} elements changed that the reference left untouched")
                if f"{name}#2" in got:
                    # The weight the update rule gives with the GPU's own new moments and counts: isolates the
                    # rule from the gradient (checked through m), whose float32 noise the rule can amplify.
                    w_rule = adam_weight(before[name], got[f"{name}#0"], got[f"{name}#1"], got[f"{name}#2"], before[f"{name}#2"], case["optimizer"])
                    e_rule = float(np.abs(g - w_rule).max()) / den if den > 0 else 0.0
                    rule = per.setdefault(name + "@rule", [0.0, []])
                    rule[0] = max(rule[0], e_rule)
                    if e_rule > TOL:
                        rule[1].append(f"step {k}: {int((np.abs(g - w_rule) > TOL * den).sum())} weights off the rule on the GPU's moments")
    print(f"  max over the steps of max|webgpu − ref| / max|ref|  (w: variable vs the float64 replay, over max(max|w|, {W_FLOOR}·lr) where trainable; rule: vs the update rule applied to the GPU's new m, v, t; m, v: Adam moments, over max(max|m|, {M_FLOOR:g}·the largest m) and max(max|v|, {M_FLOOR**2:g}·the largest v); t: update counts, exact):")
    for name in sorted({n.partition("#")[0].partition("@")[0] for n in per}, key=list(per).index):
        parts, bad = [], []
        ruled = name + "@rule" in per
        for slot, what in (("", "w"), ("@rule", "rule"), ("#0", "m"), ("#1", "v"), ("#2", "t")):
            if name + slot not in per:
                continue
            e, ns = per[name + slot]
            if slot == "" and ruled:
                # Informational where the rule is checked: float32 noise of gradients near the ε scale moves
                # the weight by a part of lr (see Tolerance); the gradient itself is checked through m.
                ns = [x for x in ns if "over tolerance" not in x]
                ok = not ns
                parts.append(f"w {e:.1e}{'' if ok else ' (FAIL)'}{' (ε regime)' if ok and e > TOL else ''}")
            else:
                ok = not ns and (slot == "#2" or e <= TOL)
                parts.append(f"{what} {'exact' if slot == '#2' and ok else f'{e:.1e}'}{'' if ok else ' (FAIL)'}")
            if not ok:
                bad.append(name + slot)
                fails.append(f"{name + slot} ({e:.1e}{': ' + '; '.join(ns) if ns else ''})")
        shape = list(arrays["initial"][name].shape)
        print(f"  {'FAIL' if bad else 'ok  '} {name} {shape}: " + "  ".join(parts))
    for s in notes:
        print(f"SKIP {case['id']}: {s}")
    if fails:
        print(f"FAIL {case['id']}: " + "; ".join(fails))
        return False
    worst = max(((n, v) for n, v in per.items() if not (n.partition("#")[0] + "@rule" in per and "#" not in n and "@" not in n)), key=lambda kv: kv[1][0])
    print(f"PASS {case['id']}: {len(per)} variables and slots × {len(steps)} steps, worst {worst[1][0]:.1e} ({worst[0]}), tolerance {TOL:g}")
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", help="bench/checkCompiledStep.ts --dump DIR")
    ap.add_argument("--numpy", action="store_true", help="numpy float64, dense-only subnets (no torch)")
    ap.add_argument("--device", help="torch device (default cuda when available, else cpu)")
    args = ap.parse_args()
    manifest = json.load(open(os.path.join(args.dir, "manifest.json")))
    with open(os.path.join(args.dir, "data.bin"), "rb") as fh:
        blob = fh.read()
    if args.numpy:
        where = "numpy float64"
    else:
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        where = f"torch {torch.__version__} float64 on {torch.cuda.get_device_name(0) if device.startswith('cuda') else device}"
    print(f"compiled step on {manifest['device']} vs {where}")
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for case in manifest["cases"]:
        cid = case["id"]
        if "skipped" in case:
            print(f"SKIP {cid}: not compiled: {case['skipped']}")
            counts["SKIP"] += 1
            continue
        if "error" in case:
            print(f"FAIL {cid}: the compiled step failed: {case['error']}")
            counts["FAIL"] += 1
            continue
        arrays = load_case(blob, case)
        o = case["optimizer"]
        print(f"== {cid}: batch {case['batch']}, {case['steps']} lazy Adam steps (lr {o['lr']:g}, β1 {o['beta1']:g}, β2 {o['beta2']:g}, ε {o['eps']:g}), {case['dispatches']} dispatches")
        try:
            stepper = NumpyStep(case, arrays) if args.numpy else TorchStep(case, arrays, device)
        except Skip as e:
            print(f"SKIP {cid}: {e}")
            counts["SKIP"] += 1
            continue
        counts["PASS" if compare(case, arrays, replay(case, arrays, stepper)) else "FAIL"] += 1
    print(f"{counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP")
    sys.exit(1 if counts["FAIL"] else 0)


if __name__ == "__main__":
    main()
