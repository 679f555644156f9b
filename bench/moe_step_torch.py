"""PyTorch reference for bench/runBench.ts: the same MoE FFN training step, eager mode.

Same function as core/nn/webgpu/moeFfnReference.ts: probs = softmax(x @ routerW); top-k experts per token;
positions within capacity in GShard priority (all first choices in token order, then second choices);
gate = prob of the chosen expert (raw, not renormalised), dropped assignments add nothing; experts are
relu(x @ w1[e] + b1[e]) @ w2[e] + b2[e] over [E, C, d] buffers (bmm); loss = 0.5 * sum((y - target)^2) / T;
gradients for x and all weights; SGD on the weights. No host syncs inside the step (dropped assignments
go to a spare row instead of being masked out).

Prints one JSON object (per config: fp32 and bf16-autocast step times, tokens/s, TFLOP/s) and a 4096^3
fp32 matmul rate. Run on the device machine's python3 (it has torch).
"""
import argparse
import json
import math
import statistics

import torch
import torch.nn.functional as F

CONFIGS = {
    "large": dict(tokens=8192, d=512, h=2048, experts=8, k=2, capacity_factor=1.25),
    "small": dict(tokens=1024, d=128, h=512, experts=4, k=2, capacity_factor=1.25),
}


def capacity(tokens, k, experts, factor):
    """ceil(factor * T * k / E), as expertCapacity in core/nn/webgpu/moeFfnReference.ts."""
    return max(1, math.ceil(factor * tokens * k / experts))


def moe_forward(x, router_w, w1, b1, w2, b2, k, C):
    T, d = x.shape
    E = router_w.shape[1]
    probs = torch.softmax(x @ router_w, dim=-1)
    top_p, top_i = probs.topk(k, dim=-1)  # [T, k]
    order = top_i.t().reshape(-1)  # (r, t) priority
    one_hot = F.one_hot(order, E)
    pos_in_order = ((one_hot.cumsum(0) - one_hot) * one_hot).sum(1)
    pos = pos_in_order.view(k, T).t()  # [T, k]
    keep = pos < C
    slot = torch.where(keep, top_i * C + pos, torch.full_like(pos, E * C)).reshape(-1)  # spare row E*C
    gates = (top_p * keep).reshape(-1)
    token = torch.arange(T, device=x.device).repeat_interleave(k)
    xe = x.new_zeros(E * C + 1, d).index_put((slot,), x[token])  # dropped ones land in the spare row
    hidden = torch.relu(torch.bmm(xe[: E * C].view(E, C, d), w1) + b1[:, None, :])
    ye = torch.bmm(hidden, w2) + b2[:, None, :]
    ye = torch.cat([ye.reshape(E * C, d), ye.new_zeros(1, d)], 0)
    y = x.new_zeros(T, d).index_add(0, token, ye[slot] * gates[:, None])
    return y


def make_inputs(cfg, device, seed=0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    T, d, h, E = cfg["tokens"], cfg["d"], cfg["h"], cfg["experts"]

    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).to(device)

    x = rnd(T, d).requires_grad_(True)
    target = rnd(T, d)
    params = [
        rnd(d, E, scale=d**-0.5),
        rnd(E, d, h, scale=d**-0.5),
        torch.zeros(E, h, device=device),
        rnd(E, h, d, scale=h**-0.5),
        torch.zeros(E, d, device=device),
    ]
    for p in params:
        p.requires_grad_(True)
    return x, target, params


def step(x, target, params, cfg, C, lr, autocast):
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        y = moe_forward(x, *params, cfg["k"], C)
        loss = 0.5 * ((y.float() - target) ** 2).sum() / x.shape[0]
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None
    x.grad = None
    return loss


def time_step(cfg, autocast, iters, warmup):
    device = "cuda"
    C = capacity(cfg["tokens"], cfg["k"], cfg["experts"], cfg["capacity_factor"])
    x, target, params = make_inputs(cfg, device)
    for _ in range(warmup):
        step(x, target, params, cfg, C, 1e-3, autocast)
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        step(x, target, params, cfg, C, 1e-3, autocast)
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    ms = statistics.median(times)
    T, d, h, k = cfg["tokens"], cfg["d"], cfg["h"], cfg["k"]
    flops = 6 * 2 * T * k * d * h  # forward 2 matmuls + backward 4, at the routed (not padded) rows
    return dict(ms=ms, tokens_per_s=T / ms * 1e3, tflops=flops / ms / 1e9, capacity=C)


def time_matmul(n=4096, iters=20):
    a = torch.randn(n, n, device="cuda")
    b = torch.randn(n, n, device="cuda")
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(iters):
        a @ b
    e.record()
    e.synchronize()
    ms = s.elapsed_time(e) / iters
    return dict(n=n, ms=ms, tflops=2 * n**3 / ms / 1e9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    out = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "moe": {},
    }
    for name, cfg in CONFIGS.items():
        out["moe"][name] = dict(
            config=cfg,
            fp32=time_step(cfg, False, args.iters, args.warmup),
            bf16=time_step(cfg, True, args.iters, args.warmup),
        )
    out["matmul_fp32"] = time_matmul()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
