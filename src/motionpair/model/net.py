"""FlowNet: a seamless frame/token network over a pose window, conditioned on music.

Layout (``arch = "conv"``, the default since issue 19)::

    frames (B, T, n_motion + n_cond) --conv k3--> h0 (B, T, w)           every frame
    h0 --conv k=2p-1, stride p (overlapping)--> tokens (B, T/p, w) + pos  30 tokens of 1/6 s
    tokens --transformer (adaLN-zero from time + pooled music)--> tokens
    tokens --linear interpolation to T frames--> + h0 --2 residual convs k5--> head --> x_hat

Why: the first network (``arch = "patch"``) embedded each 5-frame token with its own
linear map and decoded each token to its frames alone, so the one-step sample was 30
separately drawn chunks: real speed inside a token, a jump of ~24 cm at every token boundary
(issue 19). Here no frame is special: the token encoder overlaps its neighbours, the decoder
interpolates between token centres (continuous in time) and the full-rate convolutions are
shift-equivariant. Attention stays on 30 tokens, which keeps CPU training in minutes
(150 per-frame tokens would cost about 5x the linear-layer compute: an estimate, not measured).

Music enters twice: per frame (beside the motion, at full rate) and as a pooled window
embedding (per-channel mean and std over the window -> MLP) added to the time embedding
that modulates every block. The pooled path carries what a 1/6 s token cannot see: tempo
(the beat channels' rate), timbre and key over 5 s, i.e. the dance style.

Attention is written out (``softmax(q k^T / sqrt(d)) v``) instead of calling
``F.scaled_dot_product_attention``: ``torch.func.jvp`` (needed by the MeanFlow target) does
not go through the fused kernel on torch 2.13 CPU, and the plain form also exports cleanly to
ONNX and Core ML. Time conditioning is adaLN-zero (DiT, Peebles & Xie 2023): the embedding of
``(t, t - r)`` shifts, scales and gates each block.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class NetConfig:
    """Shape of the network; saved in the run's config."""

    n_motion: int = 72
    n_cond: int = 35
    frames: int = 150
    width: int = 192
    layers: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0
    patch: int = 5
    time_scale: float = 1.0
    """t and t - r enter the sinusoidal embedding as ``time_scale * t``. DiT's 1000 made the
    network's du/dt, and so the MeanFlow target, grow without bound in the first CPU run
    (train MSE 2 -> 600 over 1,277 steps); 1 keeps u smooth in t."""
    """frames per token: 150 frames -> 30 tokens of 1/6 s (5x fewer tokens, 25x cheaper
    attention: what makes CPU training in minutes possible)"""
    arch: str = "patch"
    """"conv" (seamless, see the module docstring) or "patch" (the first network: one
    linear map per 5-frame token; kept so that runs saved before issue 19 still load)."""
    pool_cond: bool = False
    """add the window-pooled music embedding to the time embedding (new runs: True)"""
    pred: str = "u"
    """What the head outputs. "u": the average velocity itself (the first run). "x": a
    clean window ``x_hat``, with ``u = (z - x_hat) / max(t, t_min)`` (the x-prediction of
    Li & He, "Back to Basics: Let Denoising Generative Models Denoise", arXiv 2511.13720).
    Why: a token carries patch * n_motion = 360 numbers through a 128-wide network, so a
    u-head cannot reproduce the noise ``z`` it must cancel; the unremovable part stayed in
    the one-step sample ``z - u`` as frame-to-frame jitter (36 cm/frame vs 3 cm real when
    overfitting 8 windows). With "x", the one-step sample ``z - u(z, 0, 1)`` is exactly
    ``x_hat``. Any ``u`` is still representable, so the MeanFlow identity is unchanged.
    Runs saved without this field load as "u"."""
    t_min: float = 0.05
    """floor of t in the x-prediction's division (JiT clips the same way)"""
    n_styles: int = 0
    """styles of the auxiliary classifier on the pooled music embedding (0 = none). Used
    in training only (``style_logits``); sampling and export never call it."""

    def to_dict(self) -> dict:
        return asdict(self)


def time_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0,
                   scale: float = 1.0) -> torch.Tensor:
    """Sinusoidal embedding of ``scale * t`` (t in [0, 1]), shape (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=t.dtype,
                                                           device=t.device) / half)
    args = (t * scale)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class Attention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        h = self.heads
        qkv = self.qkv(x).reshape(B, T, 3, h, C // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.softmax((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // h)), dim=-1)
        return self.out((att @ v).transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.att = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(hidden, width))
        self.mod = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.mod.weight)
        nn.init.zeros_(self.mod.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        s1, c1, g1, s2, c2, g2 = self.mod(emb)[:, None].chunk(6, dim=-1)
        x = x + g1 * self.att(self.norm1(x) * (1 + c1) + s1)
        return x + g2 * self.mlp(self.norm2(x) * (1 + c2) + s2)


class LocalBlock(nn.Module):
    """Residual full-rate block on (B, w, T): GroupNorm(1) -> conv k5 -> GELU -> conv k5."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, width, eps=1e-6)
        self.c1 = nn.Conv1d(width, width, 5, padding=2)
        self.c2 = nn.Conv1d(width, width, 5, padding=2)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.c2(nn.functional.gelu(self.c1(self.norm(h)), approximate="tanh"))


class FlowNet(nn.Module):
    """``u = net(z, r, t, cond)``: average velocity over [r, t] of a (B, T, n_motion) window.

    ``cond`` is (B, T, n_cond) music features on the same frames; ``r``, ``t`` are (B,).
    """

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        p = cfg.patch
        if cfg.pred not in ("u", "x"):
            raise ValueError(f"pred {cfg.pred!r}: choose 'u' or 'x'")
        if cfg.frames % p:
            raise ValueError(f"frames {cfg.frames} is not a multiple of patch {p}")
        if cfg.arch not in ("patch", "conv"):
            raise ValueError(f"arch {cfg.arch!r}: choose 'conv' or 'patch'")
        if cfg.arch == "conv":
            self.frame_in = nn.Conv1d(cfg.n_motion + cfg.n_cond, w, 3, padding=1)
            # kernel 2p - 1 centred on the token's middle frame (p - 1 frames of overlap on
            # each side), the same centre that the linear interpolation below decodes to
            self.down = nn.Conv1d(w, w, 2 * p - 1, stride=p, padding=(p - 1) // 2)
            self.local = nn.ModuleList(LocalBlock(w) for _ in range(2))
        else:
            self.inp = nn.Linear(cfg.n_motion * p, w)
            self.cond = nn.Sequential(nn.Linear(cfg.n_cond * p, w),
                                      nn.GELU(approximate="tanh"), nn.Linear(w, w))
        if cfg.pool_cond:
            self.pool = nn.Sequential(nn.Linear(2 * cfg.n_cond, w), nn.SiLU(),
                                      nn.Linear(w, w))
            if cfg.n_styles:
                self.style_head = nn.Linear(w, cfg.n_styles)
        self.pos = nn.Parameter(torch.zeros(1, cfg.frames // p, w))
        nn.init.normal_(self.pos, std=0.02)
        self.temb = nn.Sequential(nn.Linear(2 * w, w), nn.SiLU(), nn.Linear(w, w))
        self.blocks = nn.ModuleList(Block(w, cfg.heads, cfg.mlp_ratio)
                                    for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.final_mod = nn.Linear(w, 2 * w)
        self.head = nn.Linear(w, cfg.n_motion * (1 if cfg.arch == "conv" else p))
        for lin in (self.final_mod, self.head):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, z: torch.Tensor, r: torch.Tensor, t: torch.Tensor,
                cond: torch.Tensor) -> torch.Tensor:
        w = self.cfg.width
        ts = self.cfg.time_scale
        emb = self.temb(torch.cat([time_embedding(t, w, scale=ts),
                                   time_embedding(t - r, w, scale=ts)], dim=-1))
        if self.cfg.pool_cond:
            emb = emb + self.pooled(cond)
        emb = nn.functional.silu(emb)
        B, T, C = z.shape
        p = self.cfg.patch
        shift, scale = self.final_mod(emb)[:, None].chunk(2, dim=-1)
        if self.cfg.arch == "conv":
            h0 = self.frame_in(torch.cat([z, cond], dim=-1).transpose(1, 2))  # (B, w, T)
            x = self.down(h0).transpose(1, 2) + self.pos
            for blk in self.blocks:
                x = blk(x, emb)
            # token centres -> frames by linear interpolation: continuous across tokens
            h = nn.functional.interpolate(x.transpose(1, 2), size=T, mode="linear",
                                          align_corners=False) + h0
            for lb in self.local:
                h = lb(h)
            out = self.head(self.norm(h.transpose(1, 2)) * (1 + scale) + shift)
        else:
            x = (self.inp(z.reshape(B, T // p, p * C))
                 + self.cond(cond.reshape(B, T // p, p * cond.shape[-1])) + self.pos)
            for blk in self.blocks:
                x = blk(x, emb)
            out = self.head(self.norm(x) * (1 + scale) + shift).reshape(B, T, C)
        if self.cfg.pred == "x":
            return (z - out) / t.clamp_min(self.cfg.t_min)[:, None, None]
        return out


    def pooled(self, cond: torch.Tensor) -> torch.Tensor:
        """(B, w) window-pooled music embedding: per-channel mean and std over the window."""
        return self.pool(torch.cat([cond.mean(dim=1), cond.std(dim=1)], dim=-1))

    def style_logits(self, cond: torch.Tensor) -> torch.Tensor:
        """(B, n_styles) the auxiliary style classifier on the pooled music embedding."""
        return self.style_head(self.pooled(cond))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
