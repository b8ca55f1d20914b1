#!/usr/bin/env python3
"""PyTorch eager reference for mealab's CUDA backend benchmarks.

The same architecture as mealab's model package (Llama-style decoder: RMSNorm
pre-norm with eps 1e-5, rotate-half RoPE, SwiGLU with a fused [gate; up]
projection, no biases, untied LM head) in its MHA and MEA variants (MEA: the
head-level linear combination of keys and values, W_lc^K and W_lc^V of shape
h' x H, plus a per-head RMSNorm "GroupNorm" before W_O), timed as full
training steps on the GPU: forward, mean cross-entropy, backward, global
gradient-norm clipping at 1.0 and AdamW (betas 0.9/0.95, eps 1e-8, weight
decay 0.1 on matrices and embeddings only), one loss read back per step (as
mealab's Step does).

Configs (the table in gpu/bench_test.go):
  A: layers 4,  width 128, heads 4,  vocab 256, context 128,  batch 16
  B: layers 6,  width 256, heads 8,  vocab 256, context 256,  batch 8
  L: layers 12, width 768, heads 12, vocab 256, context 1024, batch 8

float32 throughout. By default matmuls do not use TF32 (PyTorch's default,
torch.backends.cuda.matmul.allow_tf32 = False), which matches mealab's FP32
kernels; --tf32 turns it on for comparison. Attention is the eager
matmul/mask/softmax/matmul ("manual", the same algorithm as mealab's) and,
when available, torch's fused scaled_dot_product_attention ("sdpa").

Prints one JSON object (also written to --json): tokens per second per
config, variant and attention kind.

    python3 gpu/bench_torch.py --json out.json
    python3 gpu/bench_torch.py --device cpu --configs A --steps 2   # smoke test
"""

import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    "A": dict(vocab=256, context=128, layers=4, width=128, heads=4, batch=16),
    "B": dict(vocab=256, context=256, layers=6, width=256, heads=8, batch=8),
    "L": dict(vocab=256, context=1024, layers=12, width=768, heads=12, batch=8),
}


def mlp_width(d):
    return (8 * d // 3 + 15) // 16 * 16


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(T, d, theta, device):
    half = d // 2
    inv = theta ** (-2.0 * torch.arange(half, dtype=torch.float64) / d)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    return ang.cos().float().to(device), ang.sin().float().to(device)


def rope(x, cos, sin):
    # x: (B, T, heads, d); rotate-half: feature i pairs with i + d/2.
    half = x.shape[-1] // 2
    c = cos[: x.shape[1], None, :]
    s = sin[: x.shape[1], None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1)


class Attention(nn.Module):
    def __init__(self, D, H, G, hlc, gn, attention):
        super().__init__()
        self.H, self.G, self.d = H, G, D // H
        self.hlc, self.gn, self.attention = hlc, gn, attention
        d = self.d
        self.wqkv = nn.Linear(D, (H + 2 * G) * d, bias=False)
        if hlc:
            init = torch.zeros(G, H)
            for j in range(H):
                init[j * G // H, j] = 1.0
            self.wlc_k = nn.Parameter(init.clone())
            self.wlc_v = nn.Parameter(init.clone())
        else:
            self.register_buffer("group", torch.tensor([j * G // H for j in range(H)]), persistent=False)
        if gn:
            self.head_norm = nn.Parameter(torch.ones(H, d))
        self.wo = nn.Linear(H * d, D, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        H, G, d = self.H, self.G, self.d
        qkv = self.wqkv(x)
        q = qkv[..., : H * d].view(B, T, H, d)
        k = qkv[..., H * d : (H + G) * d].view(B, T, G, d)
        v = qkv[..., (H + G) * d :].view(B, T, G, d)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        if self.hlc:  # composite heads: whole-head scalar mixing (MEA eq. 10-11)
            k = torch.einsum("btgd,gh->bthd", k, self.wlc_k)
            v = torch.einsum("btgd,gh->bthd", v, self.wlc_v)
        else:
            k, v = k[:, :, self.group], v[:, :, self.group]
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, T, d)
        if self.attention == "sdpa":
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            s = (q @ k.transpose(-1, -2)) / math.sqrt(d)
            s = s.masked_fill(mask[:T, :T], float("-inf"))
            o = torch.softmax(s, dim=-1) @ v
        o = o.transpose(1, 2)  # (B, T, H, d)
        if self.gn:  # per-head RMSNorm with per-feature gains (MEA eq. 12)
            o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-5) * self.head_norm
        return self.wo(o.reshape(B, T, H * d))


class Block(nn.Module):
    def __init__(self, D, H, G, F_, hlc, gn, attention):
        super().__init__()
        self.attention_norm = RMSNorm(D)
        self.attention = Attention(D, H, G, hlc, gn, attention)
        self.ffn_norm = RMSNorm(D)
        self.w13 = nn.Linear(D, 2 * F_, bias=False)
        self.w2 = nn.Linear(F_, D, bias=False)

    def forward(self, x, cos, sin, mask):
        x = x + self.attention(self.attention_norm(x), cos, sin, mask)
        a, b = self.w13(self.ffn_norm(x)).chunk(2, dim=-1)
        return x + self.w2(F.silu(a) * b)


class Model(nn.Module):
    def __init__(self, vocab, context, layers, width, heads, kv, hlc, gn, attention, device, theta=10000.0):
        super().__init__()
        F_ = mlp_width(width)
        self.tok_embeddings = nn.Embedding(vocab, width)
        self.layers = nn.ModuleList(Block(width, heads, kv, F_, hlc, gn, attention) for _ in range(layers))
        self.norm = RMSNorm(width)
        self.output = nn.Linear(width, vocab, bias=False)
        for n, p in self.named_parameters():
            if p.dim() == 2 and "wlc" not in n:
                std = 0.02 / math.sqrt(2 * layers) if n.endswith(("wo.weight", "w2.weight")) else 0.02
                nn.init.normal_(p, std=std)
        cos, sin = rope_tables(context, width // heads, theta, device)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        mask = torch.triu(torch.ones(context, context, dtype=torch.bool, device=device), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, tokens):
        x = self.tok_embeddings(tokens)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.mask)
        return self.output(self.norm(x))


def run(cfg_name, variant, attention, steps, warmup, device):
    c = CONFIGS[cfg_name]
    H = c["heads"]
    hlc = gn = variant == "mea"
    torch.manual_seed(1)
    model = Model(c["vocab"], c["context"], c["layers"], c["width"], H, H, hlc, gn, attention, device).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "wlc" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "wlc" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-3, betas=(0.9, 0.95), eps=1e-8,
    )
    B, T, V = c["batch"], c["context"], c["vocab"]
    g = torch.Generator(device="cpu").manual_seed(2)
    tokens = torch.randint(0, V, (B, T), generator=g).to(device)
    targets = torch.randint(0, V, (B, T), generator=g).to(device)
    params = list(model.parameters())

    def step():
        logits = model(tokens)
        loss = F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item(), float(gnorm)

    for _ in range(warmup):
        step()
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss, gnorm = step()
    sync()
    dt = (time.perf_counter() - t0) / steps
    nparams = sum(p.numel() for p in params)
    return {
        "config": cfg_name, "variant": variant, "attention": attention,
        "batch": B, "context": T, "params": nparams,
        "ms_step": dt * 1e3, "tok_s": B * T / dt, "loss": loss, "grad_norm": gnorm,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="A,B,L")
    ap.add_argument("--variants", default="mha,mea")
    ap.add_argument("--attention", default="manual,sdpa")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 tensor cores in matmuls (off: true FP32)")
    ap.add_argument("--json", default="", help="also write the JSON here")
    a = ap.parse_args()
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print(json.dumps({"error": "torch sees no CUDA device"}))
        return 1
    if a.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32
    out = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else "cpu",
        "tf32": a.tf32,
        "results": [],
    }
    for cfg in a.configs.split(","):
        for variant in a.variants.split(","):
            for att in a.attention.split(","):
                if att == "sdpa" and not hasattr(F, "scaled_dot_product_attention"):
                    continue
                try:
                    r = run(cfg, variant, att, a.steps, a.warmup, a.device)
                except Exception as e:  # e.g. out of memory: report and go on
                    r = {"config": cfg, "variant": variant, "attention": att, "error": str(e)[:300]}
                    if a.device.startswith("cuda"):
                        torch.cuda.empty_cache()
                out["results"].append(r)
                print(json.dumps(r), file=sys.stderr, flush=True)
    text = json.dumps(out, indent=1)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
