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
              mu: float = -0.4, sigma: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(r, t) with r <= t: two logit-normal draws sorted; r = t for 1 - ratio of the batch
    (the paper's best setting: 25 % of samples with r != t, lognorm(-0.4, 1.0))."""
    a = torch.sigmoid(torch.randn(batch, generator=gen) * sigma + mu)
    b = torch.sigmoid(torch.randn(batch, generator=gen) * sigma + mu)
    t, r = torch.maximum(a, b), torch.minimum(a, b)
    same = torch.rand(batch, generator=gen) >= ratio_r_neq_t
    r = torch.where(same, t, r)
    return r, t


def meanflow_loss(model: Callable, x: torch.Tensor, cond: torch.Tensor, *,
                  gen: torch.Generator, p: float = 1.0, c: float = 1e-3,
                  ratio_r_neq_t: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """(weighted loss, unweighted mean squared error) for one batch ``x`` (B, T, C)."""
    B = x.shape[0]
    r, t = sample_tr(B, gen=gen, ratio_r_neq_t=ratio_r_neq_t)
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
    err = ((u - u_tgt) ** 2).mean(dim=(1, 2))
    w = 1.0 / (err.detach() + c) ** p
    return (w * err).mean(), err.mean().detach()


@torch.no_grad()
def sample(model: Callable, cond: torch.Tensor, noise: torch.Tensor, steps: int = 1,
           *, keep: torch.Tensor | None = None, keep_mask: torch.Tensor | None = None
           ) -> torch.Tensor:
    """Integrate from ``noise`` (t = 1) to data (t = 0) in ``steps`` equal average-velocity
    jumps. ``keep``/``keep_mask`` (B, T, C)/(B, T, 1): frames to hold to a known window
    (EDGE-style inpainting for long-form joins): before each step ``z_t`` takes
    ``(1 - t) keep + t noise`` where the mask is 1."""
    z = noise
    B = noise.shape[0]
    grid = torch.linspace(1.0, 0.0, steps + 1, device=noise.device)
    for i in range(steps):
        t, r = grid[i], grid[i + 1]
        if keep is not None and keep_mask is not None:
            z = torch.where(keep_mask > 0, (1 - t) * keep + t * noise, z)
        u = model(z, r.expand(B), t.expand(B), cond)
        z = z - (t - r) * u
    return z
