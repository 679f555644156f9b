"""PyTorch eager fp32 reference of bench/runBench.ts's supernet training step.

The architectures come from the same space JSON: bench/supernetArchs.ts prints every example space
(schema defaults filled in), its largest subnet and the product's parameter count of it
(Supernet.countParams); this script builds that subnet as Supernet.apply (core/nn/Supernet.ts)
computes it and times one training step on random data, as runBench does:

  loss = softmax cross-entropy (mean over the scored rows) + auxLoss; SGD lr 1e-3 (key
  "<space>@<batch>"), and Adam lr 1e-3, eps 1e-7 (key "<space>@<batch>:adam"), both torch.optim with foreach.

- dense block: act(x·W + b), + x when the block is residual and the widths match (row-wise on a sequence);
- conv block: TF 'same' padding (the odd pixel bottom/right), stride, BatchNorm with batch statistics
  (eps 1e-3, running statistics updated with momentum 0.9), activation; then global average pooling;
- MoE block (top-k only): probs = softmax(x·Wr); top-k; capacity ceil(cf·T·k/E) in GShard rank priority
  when the space gives a capacity factor; gates = probabilities of the kept choices, renormalised over
  the k chosen for k ≥ 2 (routers.ts gateCombination), raw for k = 1; each expert runs on its own
  tokens only (index gather / index_add, one host read of the per-expert counts per layer); + x when
  residual; Switch balance loss E·Σ f_e·P_e weighted by auxLossWeight;
- head: x·W + b.

Transformer spaces (core/nn/blocks/transformer.ts, embedding.ts, core/nn/transformer/*.ts):
- tokenEmbedding: ids [B, T] → table[ids] + positions[:T] (F.embedding; the product multiplies a one-hot by
  the table, the same function); patchEmbedding: patches [B, T, P] · W + b + positions[:T];
- transformer block, pre-LN: h = x + Attn(LN₁(x)), y = h + FFN(LN₂(h)); LayerNorm eps 1e-5 over the width;
  Attn: Q, K, V = x·W{q,k,v} + b (three products, as the product's separate variables), heads of headDim
  columns, softmax(QKᵀ/√dₕ + mask)·V, merged heads · Wo + bo; the causal mask adds −1e9 above the diagonal
  (attention.ts MASK_VALUE). FFN dense: act(x·W1 + b1)·W2 + b2 (GELU exact erf by default), or the MoE
  block above over the B·T token rows with experts of round(mlpRatio·d) hidden units, no residual of its
  own (the transformer's), balance loss weighted by the block's auxLossWeight;
- no final layer norm (the product has none: the head reads the last block's output);
- head: a token input (char-lm-fortunes, sequence-tasks-moe: net.perToken) scores every position, logits
  [B·T, vocab] against int targets [B·T], every position scored (tokenCrossEntropy's mean over the scored
  rows, core/train/languageModel.ts); any other input (fashion-vit-moe) mean-pools the tokens (tokenMean)
  into one [B, classes] row per sample against labels [B].
- "batch" of a token or sequence space is sequences per step, each of the space's input.length tokens
  (T = 64 for char-lm-fortunes, 16 for sequence-tasks-moe and fashion-vit-moe): a step sees batch·T tokens.
- Attention comes in two forms: key "<space>@<batch>" (and ":adam") is the manual softmax(QKᵀ/√dₕ)V with
  the additive mask made once on the device — the same ops the product runs, the apples-to-apples row;
  "<space>@<batch>:sdpa" (and ":sdpa:adam") calls F.scaled_dot_product_attention (is_causal for the LM),
  PyTorch eager's own fused attention (flash / memory-efficient kernels where it picks them).

Spaces with other MoE features (top-p, shared / null / zero / copy / constant experts: moe-zoo) are
skipped. PyTorch runs NCHW (its native eager layout); runBench's tfjs runs NHWC.

Timing: blocks of N steps ended by one synchronisation (runBench's timeSteps does the same with one
read-back); the median block gives ms per step.

Initialisation follows the product's distributions (Glorot-uniform dense / expert / head kernels, N(0, 1/d)
router, N(0, 0.02²) attention, dense FFN and embedding tables, zero biases), from its own seed: the timing does
not depend on the values beyond the routing they give.

  node --import tsx bench/supernetArchs.ts > archs.json
  python3 bench/supernet_step_torch.py archs.json --batch 256,2048 > supernet_torch.json
  # checks only (--device cpu works too): parameter counts, shapes, causal mask, attention forms, and with
  # --fixture the reference on the product's own weights and batch against its logits, losses and gradients
  node --import tsx bench/supernetStepFixture.ts > fixture.json
  python3 bench/supernet_step_torch.py archs.json --selfcheck --fixture fixture.json
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

LN_EPS = 1e-5  # core/nn/transformer/layerNorm.ts LAYER_NORM_EPS
MASK_VALUE = -1e9  # core/nn/transformer/attention.ts MASK_VALUE
INIT_STD = 0.02  # attention.ts INIT_STD (GPT-2 / nanoGPT): attention, dense FFN and embedding tables


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


def normal(std, shape, g):
    return torch.randn(*shape, generator=g) * std


def ffn_hidden(ratio, d):
    """core/space/blocks/transformer.ts ffnHidden: max(1, round(ratio·d)) (JS Math.round: halves up)."""
    return max(1, math.floor(ratio * d + 0.5))


def check_plain_topk(b):
    """The MoE blocks this reference computes: plain top-k over FFN experts (what `moe` below implements)."""
    r = b["routing"]
    extra = any(b.get(key, 0) for key in ("sharedExperts", "nullExperts", "zeroExperts", "copyExperts", "constantExperts"))
    options = (
        b.get("segments", 1) != 1
        or b.get("zLossWeight", 0)
        or b.get("routerJitter", 0)
        or b.get("gatingResidual", False)
        or b.get("iterations", 1) != 1
        or b.get("momentum")
        or b.get("residualMlp")
        or b.get("expertCounts")
        or "gate" in r
        or r.get("biasUpdateRate", 0)
    )
    if r["mode"] != "topk" or extra or options:
        raise NotImplementedError("MoE block with routing or experts other than plain top-k")


class Net:
    """The largest subnet as plain tensors (no nn.Module: the step is the same autograd graph).

    attention: 'manual' (softmax(QKᵀ/√dₕ + mask)·V) or 'sdpa' (F.scaled_dot_product_attention).
    """

    def __init__(self, space, arch, device, seed=1, attention="manual"):
        g = torch.Generator().manual_seed(seed)
        self.layers = []
        self.params = []
        # The product's variable of each parameter (core/nn/init.ts stable names), a list for experts stacked
        # on a new first axis, None where the loader does not map it (conv): --fixture loads by these.
        self.names = []
        self.buffers = []  # BN running statistics: not trained, but conv.ts countParams counts them
        self.attention = attention
        inp = space["input"]
        self.per_token = inp["kind"] == "tokens"  # Supernet.perToken
        # shape: [C, H, W] for an image, [d] for a vector or per token of a sequence; seq: tokens per sample
        # (None for vectors and images); layout as core/nn/blocks/shapes.ts.
        if inp["kind"] == "image":
            shape, seq, layout = [inp["channels"], inp["height"], inp["width"]], None, "image"
        elif inp["kind"] == "tokens":
            shape, seq, layout = [inp["vocab"]], inp["length"], "tokens"
        elif inp["kind"] == "sequence":
            shape, seq, layout = [inp["dim"]], inp["length"], "sequence"
        else:
            shape, seq, layout = [inp["dim"]], None, "vector"
        self.input_kind = inp["kind"]
        self.seq = seq
        self.has_conv = any(st["block"]["type"] == "conv" for st in space["stages"])
        self.causal_mask = None

        def p(t, name=None):
            t = t.to(device).requires_grad_(True)
            self.params.append(t)
            self.names.append(name)
            return t

        def to_vector():
            """An image or sequence before a layer that reads vectors (Supernet.walk's conversions)."""
            nonlocal shape, layout
            if layout == "image":
                self.layers.append(("pool" if self.has_conv else "flatten",))
                shape = [shape[0]] if self.has_conv else [shape[0] * shape[1] * shape[2]]
            elif layout == "sequence":
                self.layers.append(("tokenMean",))
            layout = "vector"

        reads = {"dense": ("vector", "sequence"), "moe": ("vector", "sequence"), "conv": ("image",), "tokenEmbedding": ("tokens",), "patchEmbedding": ("sequence",), "transformer": ("sequence",)}
        for st, sa in zip(space["stages"], arch["stages"]):
            b = st["block"]
            if layout not in reads[b["type"]]:
                if "vector" not in reads[b["type"]]:
                    raise NotImplementedError(f"stage {st['id']} reads {reads[b['type']]}, a {layout} reaches it")
                to_vector()
            for j, c in enumerate(sa["blocks"][: sa["depth"]]):
                if c.get("op") == "identity":
                    continue
                pre = f"{st['id']}.b{j}"
                if b["type"] == "dense":
                    d, w = shape[0], c["width"]
                    self.layers.append(("dense", p(glorot(d, w, (d, w), g), f"{pre}.dense.kernel"), p(torch.zeros(w), f"{pre}.dense.bias"), b["activation"], b["residual"] and d == w))
                    shape = [w]
                elif b["type"] == "conv":
                    cin, h, wd = shape
                    k, co, s = c["kernel"], c["channels"], b["stride"]
                    ho, top, bottom = same_pad(h, k, s)
                    wo, left, right = same_pad(wd, k, s)
                    kern = p(glorot(k * k * cin, k * k * co, (co, cin, k, k), g))
                    if b["batchNorm"]:
                        bn = (p(torch.ones(co)), p(torch.zeros(co)), torch.zeros(co, device=device), torch.ones(co, device=device))
                        self.buffers += bn[2:]
                        bias = None
                    else:
                        bn, bias = None, p(torch.zeros(co))
                    self.layers.append(("conv", kern, bias, bn, s, (left, right, top, bottom), b["activation"]))
                    shape = [co, ho, wo]
                elif b["type"] == "tokenEmbedding":
                    V, d, T = shape[0], c["width"], seq
                    if T > b["positions"]:
                        raise NotImplementedError(f"{T} tokens exceed the embedding's {b['positions']} positions")
                    self.layers.append(("tokenEmbedding", p(normal(INIT_STD, (V, d), g), f"{pre}.tokenEmbedding.tokens"), p(normal(INIT_STD, (T, d), g), f"{pre}.tokenEmbedding.positions")))
                    shape, layout = [d], "sequence"
                elif b["type"] == "patchEmbedding":
                    P, d, T = shape[0], c["width"], seq
                    if T > b["positions"]:
                        raise NotImplementedError(f"{T} patches exceed the embedding's {b['positions']} positions")
                    e = f"{pre}.patchEmbedding"
                    self.layers.append(("patchEmbedding", p(normal(INIT_STD, (P, d), g), f"{e}.kernel"), p(torch.zeros(d), f"{e}.bias"), p(normal(INIT_STD, (T, d), g), f"{e}.positions")))
                    shape = [d]
                elif b["type"] == "transformer":
                    self.layers.append(self._transformer(b, c, shape[0], p, g, device, f"{pre}.transformer"))
                else:
                    check_plain_topk(b)
                    d, h, E = shape[0], c["expertHidden"], b["experts"]
                    self.layers.append(("moe",) + self._moe_weights(d, h, E, p, g, f"{pre}.moe") + (b["routing"]["k"], b["capacityFactor"], b["activation"], b["residual"], b["auxLossWeight"]))
        if self.per_token:
            if layout != "sequence":
                raise NotImplementedError(f"a per-token head needs a sequence, a {layout} reaches it")
        elif layout != "vector":
            to_vector()
        n = space["numClasses"]
        self.head = (p(glorot(shape[0], n, (shape[0], n), g), "head.kernel"), p(torch.zeros(n), "head.bias"))

    @staticmethod
    def _moe_weights(d, h, E, p, g, prefix):
        """Router N(0, 1/rows) without bias, experts Glorot-uniform (core/nn/moe/MoELayer.ts)."""
        experts = lambda w: [f"{prefix}.e{i}.{w}" for i in range(E)]
        w1 = p(torch.stack([glorot(d, h, (d, h), g) for _ in range(E)]), experts("w1"))
        b1 = p(torch.zeros(E, h), experts("b1"))
        w2 = p(torch.stack([glorot(h, d, (h, d), g) for _ in range(E)]), experts("w2"))
        b2 = p(torch.zeros(E, d), experts("b2"))
        router = p(normal(1 / math.sqrt(d), (d, E), g), f"{prefix}.router")
        return (router, w1, b1, w2, b2)

    def _transformer(self, b, c, d, p, g, device, pre):
        heads, dh = c["heads"], b["headDim"]
        inner = heads * dh
        hidden = ffn_hidden(c["mlpRatio"], d)
        ln1 = (p(torch.ones(d), f"{pre}.ln1.gamma"), p(torch.zeros(d), f"{pre}.ln1.beta"))
        a = f"{pre}.attn"
        qkvo = (
            p(normal(INIT_STD, (d, inner), g), f"{a}.q.kernel"), p(torch.zeros(inner), f"{a}.q.bias"),
            p(normal(INIT_STD, (d, inner), g), f"{a}.k.kernel"), p(torch.zeros(inner), f"{a}.k.bias"),
            p(normal(INIT_STD, (d, inner), g), f"{a}.v.kernel"), p(torch.zeros(inner), f"{a}.v.bias"),
            p(normal(INIT_STD, (inner, d), g), f"{a}.o.kernel"), p(torch.zeros(d), f"{a}.o.bias"),
        )
        ln2 = (p(torch.ones(d), f"{pre}.ln2.gamma"), p(torch.zeros(d), f"{pre}.ln2.beta"))
        if b.get("causal") and self.causal_mask is None:
            T = self.seq
            # [T, T] additive mask (attention.ts causalMask), made once on the device as a PyTorch user registers a buffer.
            self.causal_mask = torch.triu(torch.full((T, T), MASK_VALUE), diagonal=1).to(device)
        m = b.get("moe")
        if m:
            check_plain_topk(m)
            ffn = ("moe",) + self._moe_weights(d, hidden, m["experts"], p, g, f"{pre}.moe.moe") + (m["routing"]["k"], m["capacityFactor"], m["activation"], False, m["auxLossWeight"])
        else:
            f = f"{pre}.ffn"
            ffn = ("dense", p(normal(INIT_STD, (d, hidden), g), f"{f}.w1"), p(torch.zeros(hidden), f"{f}.b1"), p(normal(INIT_STD, (hidden, d), g), f"{f}.w2"), p(torch.zeros(d), f"{f}.b2"), b["activation"])
        return ("transformer", ln1, qkvo, ln2, ffn, heads, dh, bool(b.get("causal")))

    def forward(self, x):
        aux = x.new_zeros((), dtype=torch.float32)
        for layer in self.layers:
            kind = layer[0]
            if kind == "pool":
                x = x.mean((2, 3))
            elif kind == "flatten":
                x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # NHWC order, as tf.reshape
            elif kind == "tokenMean":
                x = x.mean(1)
            elif kind == "dense":
                _, w, b, a, res = layer
                y = act(torch.addmm(b, x, w) if x.dim() == 2 else x @ w + b, a)
                x = x + y if res else y
            elif kind == "conv":
                _, kern, bias, bn, s, pad, a = layer
                y = F.conv2d(F.pad(x, pad), kern, bias, stride=s)
                if bn is not None:
                    gamma, beta, rm, rv = bn
                    # batch statistics (biased variance, as Supernet.applyConv), running stats momentum 0.9
                    y = F.batch_norm(y, rm, rv, gamma, beta, training=True, momentum=0.1, eps=1e-3)
                x = act(y, a)
            elif kind == "tokenEmbedding":
                _, table, pos = layer
                x = F.embedding(x, table) + pos[: x.shape[1]]
            elif kind == "patchEmbedding":
                _, w, b, pos = layer
                B, T, P = x.shape
                x = torch.addmm(b, x.reshape(B * T, P), w).view(B, T, -1) + pos[:T]
            elif kind == "transformer":
                x, a_loss = self._transformer_forward(x, *layer[1:])
                aux = aux + a_loss
            else:
                lead = x.shape[:-1]
                y, a_loss = moe(x.reshape(-1, x.shape[-1]), *layer[1:])
                x = y.view(*lead, -1)
                aux = aux + a_loss
        w, b = self.head
        if self.per_token:
            x = x.reshape(-1, x.shape[-1])  # [B·T, d]: logits in the targets' row-major order
        return torch.addmm(b, x, w), aux

    def _transformer_forward(self, x, ln1, qkvo, ln2, ffn, heads, dh, causal):
        B, T, d = x.shape
        h = x + self._attention(F.layer_norm(x, (d,), ln1[0], ln1[1], LN_EPS), qkvo, heads, dh, causal)
        rows = F.layer_norm(h, (d,), ln2[0], ln2[1], LN_EPS).reshape(B * T, d)
        if ffn[0] == "dense":
            _, w1, b1, w2, b2, a = ffn
            f, aux = torch.addmm(b2, act(torch.addmm(b1, rows, w1), a), w2), h.new_zeros(())
        else:
            f, aux = moe(rows, *ffn[1:])
        return h + f.view(B, T, d), aux

    def _attention(self, x, qkvo, heads, dh, causal):
        wq, bq, wk, bk, wv, bv, wo, bo = qkvo
        B, T, d = x.shape
        rows = x.reshape(B * T, d)

        def project(w, b):  # [B·T, h·dₕ] → [B, h, T, dₕ]
            return torch.addmm(b, rows, w).view(B, T, heads, dh).transpose(1, 2)

        q, k, v = project(wq, bq), project(wk, bk), project(wv, bv)
        if self.attention == "sdpa":
            o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # scale 1/√dₕ by default
        else:
            s = (q @ k.transpose(-2, -1)) * (1 / math.sqrt(dh))
            if causal:
                s = s + self.causal_mask[:T, :T]
            o = torch.softmax(s, -1) @ v
        merged = o.transpose(1, 2).reshape(B * T, heads * dh)
        return torch.addmm(bo, merged, wo).view(B, T, d)


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


def batch_of(space, batch, device, g=None):
    """Random inputs and int labels as runBench builds them: token ids < vocab [B, T] with [B·T] targets
    for a per-token head, patch features [B, T, P], images NCHW, vectors; labels [B] otherwise."""
    inp = space["input"]
    if inp["kind"] == "tokens":
        x = torch.randint(0, inp["vocab"], (batch, inp["length"]), device=device, generator=g)
        return x, torch.randint(0, space["numClasses"], (batch * inp["length"],), device=device, generator=g)
    if inp["kind"] == "sequence":
        shape = (batch, inp["length"], inp["dim"])
    elif inp["kind"] == "image":
        shape = (batch, inp["channels"], inp["height"], inp["width"])
    else:
        shape = (batch, inp["dim"])
    x = torch.randn(*shape, device=device, generator=g)
    return x, torch.randint(0, space["numClasses"], (batch,), device=device, generator=g)


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def time_space(name, space, arch, batch, blocks, steps, device, adam=False, attention="manual"):
    torch.manual_seed(0)
    net = Net(space, arch, device, attention=attention)
    x, labels = batch_of(space, batch, device)
    opt = torch.optim.Adam(net.params, lr=1e-3, eps=1e-7, foreach=True) if adam else torch.optim.SGD(net.params, lr=1e-3, foreach=True)

    def step():
        logits, aux = net.forward(x)
        # Mean over the scored rows: every row here (all B·T positions of a token batch are scored).
        loss = F.cross_entropy(logits, labels) + aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    for _ in range(5):
        step()
    sync(device)
    per = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = step()
        loss.item()
        per.append((time.perf_counter() - t0) * 1e3 / steps)
    r = dict(ms=statistics.median(per), batch=batch, params=sum(p.numel() for p in net.params))
    if net.seq is not None:
        r["tokens"] = net.seq
    return r


def product_tensor(t, shape, device):
    """A fixture tensor ({shape, data}) as torch, its leading block at `shape` when given: the product slices
    its supernet variables the same way (first rows / columns / heads; the largest subnet uses them whole)."""
    full = torch.tensor(t["data"], dtype=torch.float32, device=device).view(t["shape"])
    return full if shape is None else full[tuple(slice(0, n) for n in shape)]


def product_param(arrays, name, shape, device):
    """The product's variable(s) behind one reference parameter (a list: experts stacked on axis 0); zeros
    where `arrays` has none (a gradient tfjs does not return: an expert that got no token)."""
    if isinstance(name, list):
        return torch.stack([product_param(arrays, n, shape[1:], device) for n in name])
    if name not in arrays:
        return torch.zeros(shape, device=device)
    return product_tensor(arrays[name], shape, device)


def worst_gradient(pairs):
    """(name, mine, reference) triples → the largest error, each relative to its reference's largest entry
    floored at 1e-4 of the largest of all, and where. The floor: the K bias's gradient is zero in exact
    arithmetic (softmax is unchanged by the q·b_k it adds to a whole row of scores), so both sides hold
    rounding noise there (~1e-11), which no relative measure can compare."""
    floor = 1e-4 * max(t.abs().max().item() for _, _, t in pairs)
    worst, where = 0.0, ""
    for n, mine, theirs in pairs:
        r = (mine - theirs).abs().max().item() / max(theirs.abs().max().item(), floor)
        if r > worst:
            worst, where = r, n if isinstance(n, str) else n[0] + "…"
    return worst, where


def check_fixture(archs, fixture, device, check):
    """The reference on the product's weights and batch (bench/supernetStepFixture.ts, the tfjs CPU backend):
    logits, the cross-entropy, the aux loss and every parameter's gradient against the product's own."""

    def rel(a, b):
        return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item() if b.numel() else 0.0

    for name, fx in fixture.items():
        if name not in archs:
            continue
        space = archs[name]["space"]
        try:
            net = Net(space, archs[name]["arch"], device)
            if any(n is None for n in net.names):
                raise NotImplementedError("conv weights are not mapped from the product's variables")
        except NotImplementedError as e:
            print(f"skip fixture {name}: {e}", file=sys.stderr)
            continue
        with torch.no_grad():
            for p, n in zip(net.params, net.names):
                p.copy_(product_param(fx["weights"], n, tuple(p.shape), device))
        x = product_tensor(fx["x"], None, device)
        if space["input"]["kind"] == "tokens":
            x = x.long()
        elif space["input"]["kind"] == "image":
            x = x.permute(0, 3, 1, 2).contiguous()  # the product's NHWC batch as NCHW
        labels = product_tensor(fx["labels"], None, device).long()
        logits, aux = net.forward(x)
        ce = F.cross_entropy(logits, labels)
        grads = torch.autograd.grad(ce + aux, net.params, allow_unused=True)
        ref = product_tensor(fx["logits"], None, device)
        check(tuple(logits.shape) == tuple(ref.shape) and rel(logits, ref) < 1e-4, f"{name}: logits vs the product's (tfjs cpu), rel {rel(logits, ref):.2e}")
        check(abs(ce.item() - fx["ce"]) <= 1e-5 * max(1.0, abs(fx["ce"])), f"{name}: cross-entropy {ce.item():.6f}, the product's {fx['ce']:.6f}")
        check(abs(aux.item() - fx["aux"]) <= 1e-5 * max(1.0, abs(fx["aux"])), f"{name}: aux loss {aux.item():.6f}, the product's {fx['aux']:.6f}")
        pairs = [(n, gr if gr is not None else torch.zeros_like(p), product_param(fx["grads"], n, tuple(p.shape), device)) for p, n, gr in zip(net.params, net.names, grads)]
        worst, where = worst_gradient(pairs)
        check(worst < 1e-4, f"{name}: every gradient vs the product's, worst rel {worst:.2e}{f' ({where})' if where else ''}")


def has_transformer(space):
    return any(st["block"]["type"] == "transformer" for st in space["stages"])


def selfcheck(archs, device, fixture=None):
    """Checks of the reference itself (not timed); prints one line per check, exits 1 on a failure.

    - parameters: the subnet's parameter count (with BN running statistics, which the product counts) equals
      the product's (supernetArchs.ts "params", Supernet.countParams of the largest subnet), for every space
      the reference builds;
    - shapes: logits [B·T, vocab] for a token space, [B, classes] otherwise; loss finite; every parameter
      gets a gradient;
    - transformer spaces: manual attention vs F.scaled_dot_product_attention (logits and every gradient), and
      the manual attention vs torch.nn.MultiheadAttention loaded with the same weights (an independent
      implementation, where h·dₕ = d as it requires);
    - causal spaces: changing token t of a sequence leaves the logits of positions < t unchanged and changes
      those at t; a non-causal one (ViT): changing one patch changes every sample's pooled logits of that sample only;
    - with a fixture (bench/supernetStepFixture.ts): the reference on the product's own weights and batch
      against the product's logits, losses and gradients (check_fixture).
    """
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    failures = []

    def check(ok, what):
        print(f"{'ok  ' if ok else 'FAIL'} {what}", file=sys.stderr)
        if not ok:
            failures.append(what)

    def rel(a, b):
        return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()

    sdpa = hasattr(F, "scaled_dot_product_attention")
    for name, entry in archs.items():
        space, arch = entry["space"], entry["arch"]
        try:
            net = Net(space, arch, device)
        except NotImplementedError as e:
            print(f"skip {name}: {e}", file=sys.stderr)
            continue
        n = sum(p.numel() for p in net.params + net.buffers)
        if "params" in entry:
            check(n == entry["params"], f"{name}: {n} parameters (BN running statistics included), the product counts {entry['params']}")
        B = 3
        g = torch.Generator(device=device).manual_seed(7)
        x, labels = batch_of(space, B, device, g)
        logits, aux = net.forward(x)
        rows = B * net.seq if net.per_token else B
        check(tuple(logits.shape) == (rows, space["numClasses"]), f"{name}: logits {tuple(logits.shape)}, expected {(rows, space['numClasses'])}")
        loss = F.cross_entropy(logits, labels) + aux
        check(bool(torch.isfinite(loss)), f"{name}: loss {loss.item():.4f} finite")
        grads = torch.autograd.grad(loss, net.params, allow_unused=True)
        check(all(gr is not None for gr in grads), f"{name}: every parameter has a gradient")
        if not has_transformer(space):
            continue
        # Same weights (same seed), SDPA attention: the same function.
        if sdpa:
            other = Net(space, arch, device, attention="sdpa")
            lo, ao = other.forward(x)
            go = torch.autograd.grad(F.cross_entropy(lo, labels) + ao, other.params, allow_unused=True)
            check(rel(lo, logits) < 1e-5, f"{name}: sdpa vs manual logits, rel {rel(lo, logits):.2e}")
            zero = lambda gr, p: gr if gr is not None else torch.zeros_like(p)
            worst, where = worst_gradient([(n, zero(a, p), zero(b, p)) for n, p, a, b in zip(net.names, net.params, go, grads)])
            check(worst < 1e-4, f"{name}: sdpa vs manual gradients, worst rel {worst:.2e}{f' ({where})' if where else ''}")
        else:
            print(f"skip {name}: this torch has no F.scaled_dot_product_attention", file=sys.stderr)
        for layer in net.layers:
            if layer[0] != "transformer":
                continue
            _, _, qkvo, _, _, heads, dh, causal = layer
            d = qkvo[0].shape[0]
            if heads * dh != d:
                continue
            mha = torch.nn.MultiheadAttention(d, heads, batch_first=True).to(device)
            wq, bq, wk, bk, wv, bv, wo, bo = qkvo
            with torch.no_grad():
                mha.in_proj_weight.copy_(torch.cat([wq, wk, wv], 1).t())
                mha.in_proj_bias.copy_(torch.cat([bq, bk, bv]))
                mha.out_proj.weight.copy_(wo.t())
                mha.out_proj.bias.copy_(bo)
                h = torch.randn(B, net.seq, d, device=device, generator=g)
                mask = torch.triu(torch.ones(net.seq, net.seq, dtype=torch.bool, device=device), 1) if causal else None
                ref, _ = mha(h, h, h, attn_mask=mask, need_weights=False)
                mine = net._attention(h, qkvo, heads, dh, causal)
            check(rel(mine, ref) < 1e-5, f"{name}: attention vs nn.MultiheadAttention{' (causal)' if causal else ''}, rel {rel(mine, ref):.2e}")
            break
        with torch.no_grad():
            base, _ = net.forward(x)
            x2 = x.clone()
            if net.per_token:
                t = net.seq // 2
                x2[0, t] = (x2[0, t] + 1) % space["input"]["vocab"]
                after, _ = net.forward(x2)
                T = net.seq
                a, b0 = after.view(B, T, -1), base.view(B, T, -1)
                causal_net = any(layer[0] == "transformer" and layer[-1] for layer in net.layers)
                before_t = (a[0, :t] - b0[0, :t]).abs().max().item()
                at_t = (a[0, t:] - b0[0, t:]).abs().amax(-1)
                others = (a[1:] - b0[1:]).abs().max().item()
                if causal_net:
                    check(before_t <= 1e-5 * b0.abs().max().item(), f"{name}: causal: positions < {t} unchanged by token {t} (max diff {before_t:.2e})")
                check(bool((at_t > 0).all()), f"{name}: positions ≥ {t} change with token {t}")
                check(others <= 1e-5 * b0.abs().max().item(), f"{name}: other sequences unchanged (max diff {others:.2e})")
            else:
                x2[0, 0] = x2[0, 0] + 1
                after, _ = net.forward(x2)
                check((after[0] - base[0]).abs().max().item() > 0, f"{name}: sample 0 changes with its first patch")
                others = (after[1:] - base[1:]).abs().max().item()
                check(others <= 1e-5 * base.abs().max().item(), f"{name}: other samples unchanged (max diff {others:.2e})")
    if fixture is not None:
        check_fixture(archs, fixture, device, check)
    print(json.dumps({"selfcheck": "failed" if failures else "passed", "failures": failures}))
    return not failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("archs", help="bench/supernetArchs.ts output")
    ap.add_argument("--batch", default="256,2048")
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--spaces", help="only these spaces (comma-separated)")
    ap.add_argument("--selfcheck", action="store_true", help="check the reference (parameter counts, shapes, causal mask, attention forms) and exit")
    ap.add_argument("--fixture", help="with --selfcheck: bench/supernetStepFixture.ts output, the product's step on its own weights")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    archs = json.load(open(args.archs))
    if args.spaces:
        keep = set(args.spaces.split(","))
        archs = {k: v for k, v in archs.items() if k in keep}
    if args.selfcheck:
        fixture = json.load(open(args.fixture)) if args.fixture else None
        sys.exit(0 if selfcheck(archs, args.device, fixture) else 1)
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else args.device
    out = {"device": name, "torch": torch.__version__, "supernet": {}}
    for name, entry in archs.items():
        # Transformer spaces: the manual attention (the product's ops) and PyTorch's fused SDPA.
        forms = ["manual", "sdpa"] if has_transformer(entry["space"]) and hasattr(F, "scaled_dot_product_attention") else ["manual"]
        for batch in [int(b) for b in args.batch.split(",")]:
            for attention in forms:
                for adam in (False, True):
                    try:
                        r = time_space(name, entry["space"], entry["arch"], batch, args.blocks, args.steps, args.device, adam, attention)
                    except NotImplementedError as e:
                        r = dict(skipped=str(e), batch=batch)
                    out["supernet"][f"{name}@{batch}{':sdpa' if attention == 'sdpa' else ''}{':adam' if adam else ''}"] = r
    print(json.dumps(out))


if __name__ == "__main__":
    main()
