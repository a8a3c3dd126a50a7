"""MeanFlow objective and samplers (Geng et al., "Mean Flows for One-step Generative
Modeling", arXiv 2505.13447).

Path: ``z_t = (1 - t) x + t e`` (x data at t = 0, e ~ N(0, I) at t = 1), instantaneous
velocity ``v = e - x``. The network predicts the AVERAGE velocity over ``[r, t]``,
``u(z_t, r, t) = 1/(t - r) * integral_r^t v(z_s, s) ds``, trained on the MeanFlow identity

    u_tgt = v - (t - r) * d/dt u(z_t, r, t),   d/dt u = v . dz u + dt u

computed as one Jacobian-vector product ``jvp(u, (z, r, t), (v, 0, 1))``, with the target
detached (stop-gradient). Loss: the adaptive weight of the paper, ``w = 1 / (|Δ|² + c)^p``
(sg on w), p = 1, c = 1e-3, on the per-sample squared error |Δ|² (mean over elements here).
Sampling in one step: ``x = e - u(e, 0, 1)``; in n steps ``z_r = z_t - (t - r) u(z_t, r, t)``
on a uniform grid. Why MeanFlow rather than shortcut models (arXiv 2410.12557): it needs no
step-size-doubling bootstrap schedule and reports better 1-step FID; its one cost, the JVP,
is cheap for a small network.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def sample_tr(batch: int, *, gen: torch.Generator, ratio_r_neq_t: float = 0.25,
              mu: float = -0.4, sigma: float = 1.0, ratio_full: float = 0.0
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(r, t) with r <= t: two logit-normal draws sorted; r = t for 1 - ratio of the batch
    (the paper's best setting: 25 % of samples with r != t, lognorm(-0.4, 1.0)).

    ``ratio_full`` of the batch (taken from the r = t part) is the full interval r = 0,
    t = 1: exactly the jump a one-step sample makes. A logit-normal pair almost never lands
    there (issue 19: the one-step map was the least trained one)."""
    a = torch.sigmoid(torch.randn(batch, generator=gen) * sigma + mu)
    b = torch.sigmoid(torch.randn(batch, generator=gen) * sigma + mu)
    t, r = torch.maximum(a, b), torch.minimum(a, b)
    u = torch.rand(batch, generator=gen)
    same = u >= ratio_r_neq_t + ratio_full
    r = torch.where(same, t, r)
    full = u < ratio_full
    r = torch.where(full, torch.zeros_like(r), r)
    t = torch.where(full, torch.ones_like(t), t)
    return r, t


class CleanLosses:
    """Losses on the clean window ``x_hat`` (EDGE's ``p_losses``, Tseng et al. 2023), in
    positions decoded from the normalised representation (data.py), per sample (B,).

    Lengths are divided by the body scale ``s`` (RMS of the root-relative joint coordinates
    over the train windows) and per-frame displacements by the step scale ``sv`` (RMS of the
    root's displacement per frame over the train windows), so every term is O(1) for an
    error the size of the real signal, whatever the units (cm, pixels):

    - ``vel``:  mean over frame pairs of |Δp̂ - Δp|² / sv² (joint velocities, root included);
    - ``bone``: mean over frames and bones of (|p̂_a - p̂_b| - |p_a - p_b|)² / s²
      (the skeleton's edges: EDGE's forward-kinematics loss for a position representation);
    - ``foot``: mean over frames and foot joints of contact · |Δp̂_foot|² / sv², contact where
      the REAL foot moves less than ``contact_frac · sv`` in the frame (EDGE uses predicted
      contact labels; this skeleton-agnostic form needs no extra channels).

    Frames without a valid pose (mask) count nowhere.
    """

    def __init__(self, stats: dict, skel: dict, *, contact_frac: float = 0.5) -> None:
        self.J, self.D = int(skel["n_joints"]), int(skel["dims"])
        mean = torch.as_tensor(stats["mean"], dtype=torch.float32)
        std = torch.as_tensor(stats["std"], dtype=torch.float32)
        self.mean, self.std = mean, std
        jd = self.J * self.D
        self.scale = float(torch.sqrt((std[:jd] ** 2 + mean[:jd] ** 2).mean()))
        vs = float(torch.sqrt((std[jd:] ** 2 + mean[jd:] ** 2).sum()))
        self.step = vs / self.scale if vs > 0 else 1.0  # sv in units of s
        e = skel.get("edges") or []
        self.ea = torch.tensor([a for a, _ in e], dtype=torch.long)
        self.eb = torch.tensor([b for _, b in e], dtype=torch.long)
        self.feet = torch.tensor(list(skel.get("feet") or []), dtype=torch.long)
        self.contact_frac = contact_frac

    def positions(self, xn: torch.Tensor) -> torch.Tensor:
        """(B, T, C) normalised -> (B, T, J, D) positions / s, root path from frame 0."""
        rep = xn * self.std.to(xn.device) + self.mean.to(xn.device)
        jd = self.J * self.D
        rel = rep[..., :jd].reshape(*rep.shape[:-1], self.J, self.D)
        vel = torch.cat([torch.zeros_like(rep[:, :1, jd:]), rep[:, 1:, jd:]], dim=1)
        root = torch.cumsum(vel, dim=1)
        return (rel + root[..., None, :]) / self.scale

    def __call__(self, xhat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor
                 ) -> dict[str, torch.Tensor]:
        ph, p = self.positions(xhat), self.positions(x)
        fv = mask[..., 0]  # (B, T) pose valid
        pv = (fv[:, 1:] * fv[:, :-1])  # (B, T-1) both frames valid
        dph, dp = ph[:, 1:] - ph[:, :-1], p[:, 1:] - p[:, :-1]
        sv2 = self.step ** 2
        out = {"vel": _mmean(((dph - dp) ** 2).sum(-1).mean(-1), pv) / sv2}
        if len(self.ea):
            lh = (ph[:, :, self.ea] - ph[:, :, self.eb]).norm(dim=-1)
            lr = (p[:, :, self.ea] - p[:, :, self.eb]).norm(dim=-1)
            out["bone"] = _mmean(((lh - lr) ** 2).mean(-1), fv)
        else:
            out["bone"] = torch.zeros(len(x), device=x.device)
        if len(self.feet):
            sp = dp[:, :, self.feet].norm(dim=-1)  # (B, T-1, F)
            contact = (sp < self.contact_frac * self.step).float() * pv[..., None]
            out["foot"] = (contact * (dph[:, :, self.feet] ** 2).sum(-1)).mean(dim=(1, 2)) / sv2
        else:
            out["foot"] = torch.zeros(len(x), device=x.device)
        return out


def _mmean(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Per-sample mean of (B, T) ``v`` over the entries where ``m`` is 1."""
    return (v * m).sum(1) / m.sum(1).clamp_min(1.0)


WEIGHTS = {"simple": 0.636, "vel": 2.964, "bone": 0.646, "foot": 10.942}
"""EDGE's p_losses weights (simple, velocity, FK, foot); "bone" stands in for FK."""


def meanflow_loss(model: Callable, x: torch.Tensor, cond: torch.Tensor, *,
                  gen: torch.Generator, p: float = 1.0, c: float = 1e-3,
                  ratio_r_neq_t: float = 0.25, ratio_full: float = 0.0,
                  mask: torch.Tensor | None = None, clean: CleanLosses | None = None,
                  weights: dict[str, float] | None = None, t_min: float = 0.05,
                  parts: dict[str, float] | None = None, dims: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(weighted loss, unweighted mean squared error) for one batch ``x`` (B, T, C).

    ``mask`` (B, T, 2): per frame [pose valid, root velocity valid] (data.rep_mask); masked
    entries count nowhere. ``clean``: the clean-window losses, applied where the network's
    clean window ``x_hat = z - max(t, t_min) u`` is the estimate of ``x`` it is paired
    with: r = t only (the denoiser E[x | z_t], as EDGE). Not on r = 0: there ``x_hat`` is a
    SAMPLE for the noise, and pulling it toward the one random ``x`` drawn with that noise
    regresses it to the conditional mean (measured: the first run with r = 0 included gave
    a one-step Div_k of 0.19 against 18.7 real at step 600). The per-sample total
    ``simple * |u - u_tgt|² + vel + bone + foot`` (``weights``) gets the adaptive weight.
    ``parts``: filled with the batch means of each term (logging)."""
    B = x.shape[0]
    r, t = sample_tr(B, gen=gen, ratio_r_neq_t=ratio_r_neq_t, ratio_full=ratio_full)
    e = torch.randn(x.shape, generator=gen)
    r, t, e = r.to(x.device), t.to(x.device), e.to(x.device)
    tb = t[:, None, None]
    z = (1 - tb) * x + tb * e
    v = e - x

    def fn(z_: torch.Tensor, r_: torch.Tensor, t_: torch.Tensor,
           c_: torch.Tensor) -> torch.Tensor:
        return model(z_, r_, t_, c_)

    # where r == t the target is v itself ((t - r) * du/dt = 0): only the r != t part of
    # the batch pays for the Jacobian-vector product (~1/3 less compute per step)
    neq = (t != r).nonzero().flatten()
    eq = (t == r).nonzero().flatten()
    u_parts, tgt_parts, order = [], [], []
    if len(eq):
        u_parts.append(fn(z[eq], r[eq], t[eq], cond[eq]))
        tgt_parts.append(v[eq])
        order.append(eq)
    if len(neq):
        rn, tn, vn = r[neq], t[neq], v[neq]
        out = torch.func.jvp(lambda a, b, c_t: fn(a, b, c_t, cond[neq]),
                             (z[neq], rn, tn),
                             (vn, torch.zeros_like(rn), torch.ones_like(tn)))
        u_n, dudt = out[0], out[1]
        u_parts.append(u_n)
        tgt_parts.append(vn - (tn - rn)[:, None, None] * dudt)
        order.append(neq)
    inv = torch.argsort(torch.cat(order))
    u = torch.cat(u_parts)[inv]
    u_tgt = torch.cat(tgt_parts)[inv].detach()
    if mask is None:
        err = ((u - u_tgt) ** 2).mean(dim=(1, 2))
    else:
        C = x.shape[-1]
        D = clean.D if clean is not None else dims
        if D is None:
            raise ValueError("meanflow_loss: a mask needs dims (or clean)")
        cm = channel_mask(mask, C, D)
        err = (((u - u_tgt) ** 2) * cm).sum(dim=(1, 2)) / cm.sum(dim=(1, 2)).clamp_min(1.0)
    total = err
    if clean is not None:
        wts = {**WEIGHTS, **(weights or {})}
        xhat = z - t.clamp_min(t_min)[:, None, None] * u
        m = mask if mask is not None else torch.ones(*x.shape[:2], 2, device=x.device)
        terms = clean(xhat, x, m)
        on = (r == t).float()
        total = wts["simple"] * err + on * sum(wts[k] * v for k, v in terms.items())
        if parts is not None:
            parts.update({k: float((v.detach() * on).sum() / on.sum().clamp_min(1.0))
                          for k, v in terms.items()})
    w = 1.0 / (total.detach() + c) ** p
    return (w * total).mean(), err.mean().detach()


def drop_cond(cond: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """``cond`` with each window's music replaced by the null condition (zeros: the
    normalised mean) with probability ``p``: what classifier-free guidance needs."""
    if p <= 0:
        return cond
    keep = (torch.rand(cond.shape[0], generator=gen) >= p).to(cond.device, cond.dtype)
    return cond * keep[:, None, None]


def channel_mask(mask: torch.Tensor, C: int, D: int) -> torch.Tensor:
    """(B, T, 2) frame mask -> (B, T, C): pose channels follow [..., 0], the D root
    velocity channels follow [..., 1]."""
    return torch.cat([mask[..., :1].expand(*mask.shape[:2], C - D),
                      mask[..., 1:].expand(*mask.shape[:2], D)], dim=-1)


@torch.no_grad()
def sample(model: Callable, cond: torch.Tensor, noise: torch.Tensor, steps: int = 1,
           *, keep: torch.Tensor | None = None, keep_mask: torch.Tensor | None = None,
           guidance: float = 1.0) -> torch.Tensor:
    """Integrate from ``noise`` (t = 1) to data (t = 0) in ``steps`` equal average-velocity
    jumps. ``keep``/``keep_mask`` (B, T, C)/(B, T, 1): frames to hold to a known window
    (EDGE-style inpainting for long-form joins): before each step ``z_t`` takes
    ``(1 - t) keep + t noise`` where the mask is 1.

    ``guidance`` w: classifier-free guidance (Ho & Salimans 2022; EDGE samples with w = 2),
    ``u = u(∅) + w (u(music) - u(∅))`` with the null condition ``∅`` = all-zero normalised
    music, which a run trained with ``cond_drop`` > 0 has seen; w = 1 is plain sampling."""
    z = noise
    B = noise.shape[0]
    grid = torch.linspace(1.0, 0.0, steps + 1, device=noise.device)
    for i in range(steps):
        t, r = grid[i], grid[i + 1]
        if keep is not None and keep_mask is not None:
            z = torch.where(keep_mask > 0, (1 - t) * keep + t * noise, z)
        u = model(z, r.expand(B), t.expand(B), cond)
        if guidance != 1.0:
            u0 = model(z, r.expand(B), t.expand(B), torch.zeros_like(cond))
            u = u0 + guidance * (u - u0)
        z = z - (t - r) * u
    return z
