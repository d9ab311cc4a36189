"""The default generator (src/models/generator/dit.ts) rebuilt in PyTorch eager, timed one command at a time.

`npm run bench` starts this with /usr/bin/python3 (Debian's python3-torch) when it is present and alternates
rounds with the engine's own runs, so both sides see the same machine load. Protocol on stdin/stdout, one
line each: `forward` or `train` runs once and answers the elapsed and the CPU milliseconds (all threads); `quit` ends. The first line
of stdin is the JSON configuration: the DiT config plus `forwardBatch`, `trainBatch` and `threads`.

Same layers and shapes as the TypeScript model (sigma features, adaLN-Zero blocks, exact-erf GELU, patchify
convolution, the token-to-pixel reshuffle); the train step is the flow-matching loss mean((v - target)^2),
backward, and torch.optim.AdamW, as the engine's bench step. Weights are N(0, 0.02): timing does not depend
on the values.
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn


def sigma_features(sigma, dims):
    half = dims // 2
    frequencies = 1000 * torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    phase = sigma[:, None] * frequencies[None, :]
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=1)


def modulate(x, shift, scale):
    return F.layer_norm(x, x.shape[-1:], eps=1e-6) * (1 + scale[:, None]) + shift[:, None]


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d, heads, mlp_ratio):
        super().__init__()
        self.ada = nn.Linear(d, 6 * d)
        self.attn = Attention(d, heads)
        self.fc1 = nn.Linear(d, mlp_ratio * d)
        self.fc2 = nn.Linear(mlp_ratio * d, d)

    def forward(self, x, cond):
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = self.ada(cond).chunk(6, dim=1)
        h = x + self.attn(modulate(x, shift_a, scale_a)) * gate_a[:, None]
        return h + self.fc2(F.gelu(self.fc1(modulate(h, shift_m, scale_m)))) * gate_m[:, None]


class DiT(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["width"]
        self.c = c
        self.time = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.text = nn.Sequential(nn.Linear(c["textWidth"], d), nn.SiLU(), nn.Linear(d, d))
        self.patchify = nn.Conv2d(c["channels"], d, c["patch"], stride=c["patch"])
        self.pos_embed = nn.Parameter(torch.zeros(1, (c["size"] // c["patch"]) ** 2, d))
        self.blocks = nn.ModuleList(Block(d, c["heads"], c["mlpRatio"]) for _ in range(c["depth"]))
        self.final_ada = nn.Linear(d, 2 * d)
        self.final = nn.Linear(d, c["patch"] ** 2 * c["channels"])

    def forward(self, latents, sigma, pooled):
        c, d, p = self.c, self.c["width"], self.c["patch"]
        b, g = latents.shape[0], c["size"] // p
        cond = F.silu(self.time(sigma_features(sigma, d)) + self.text(pooled))
        x = self.patchify(latents).reshape(b, d, g * g).transpose(1, 2) + self.pos_embed
        for block in self.blocks:
            x = block(x, cond)
        shift, scale = self.final_ada(cond).chunk(2, dim=1)
        pixels = self.final(modulate(x, shift, scale))
        return pixels.reshape(b, g, g, p, p, c["channels"]).permute(0, 5, 1, 3, 2, 4).reshape(b, c["channels"], c["size"], c["size"])


def inputs(c, batch):
    return (
        torch.randn(batch, c["channels"], c["size"], c["size"]),
        torch.rand(batch),
        torch.randn(batch, c["textWidth"]),
        torch.randn(batch, c["channels"], c["size"], c["size"]),
    )


def mapped_blas():
    """The BLAS library this process has mapped. Debian's torch links libblas.so.3, which the alternatives system
    points at OpenBLAS or at the reference BLAS; the reference one is about 15x slower on these products, which
    would make the side by side meaningless."""
    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps if "blas" in line.rsplit("/", 1)[-1]})
    return ", ".join(paths) or "none found"


def main():
    config = json.loads(sys.stdin.readline())
    torch.set_num_threads(config["threads"])
    torch.manual_seed(0)
    model = DiT(config)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0, 0.02)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    forward_batch = inputs(config, config["forwardBatch"])
    train_batch = inputs(config, config["trainBatch"])

    def forward():
        with torch.no_grad():
            model(*forward_batch[:3])

    def train():
        latents, sigma, pooled, target = train_batch
        optimizer.zero_grad(set_to_none=True)
        loss = torch.mean((model(latents, sigma, pooled) - target) ** 2)
        loss.backward()
        optimizer.step()

    commands = {"forward": forward, "train": train}
    hello = {"torch": torch.__version__, "threads": torch.get_num_threads(), "parameters": sum(p.numel() for p in model.parameters()), "blas": mapped_blas()}
    print(json.dumps(hello), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            return
        start, cpu = time.perf_counter(), time.process_time()
        commands[command]()
        print(f"{1000 * (time.perf_counter() - start):.4f} {1000 * (time.process_time() - cpu):.4f}", flush=True)


if __name__ == "__main__":
    main()
