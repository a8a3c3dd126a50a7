"""Music-to-dance metrics of the literature, ported to numpy for any skeleton (no torch).

All functions take joint positions ``(T, J, 3)`` in METRES with y up (``to_metres`` converts
the dataset's units) at ``fps`` frames per second.

- Kinetic features (AIST++ API, ``aist_plusplus/features/kinetic.py``, Li et al. 2021):
  per joint, the average horizontal and vertical kinetic energy ``mean_i |v_h(i)|²``,
  ``mean_i v_y(i)²`` and the average energy expenditure ``mean_i |a(i)|``, with ``v(i)``
  and ``a(i)`` finite differences averaged over a sliding window of ±2 frames and the frame
  time set to 1/fps (1/30 s here). 3 features per joint (69 for 23 joints).
- Geometric features (AIST++ ``features/manual.py``, after Müller et al., "Efficient
  content-based retrieval of motion capture data", SIGGRAPH 2005): 32 boolean relations
  (a hand moving forward, a foot raised, a knee bent, ...) averaged over the frames; they need
  named joints (:func:`joint_roles`).
- FID and Div (as Bailando computes them, ``utils/metrics_new.py``, Siyao et al. 2022):
  features are normalised with the mean/std of the REFERENCE (ground-truth) set, FID is the
  Fréchet distance of Gaussians fitted to the two sets, Div the mean pairwise Euclidean
  distance inside one set.
- Beat Align Score (Bailando's ``calc_db``/``BA``): motion beats are local minima of the
  Gaussian-smoothed mean joint speed; score = mean over MUSIC beats of
  ``exp(-d² / (2 σ²))``, d = distance to the nearest motion beat in frames. Bailando works at
  60 fps with σ² = 9 (σ = 50 ms) and smoothing σ = 5 frames (83 ms); both are kept in
  seconds here, i.e. σ = 1.5 frames and smoothing σ = 2.5 frames at 30 fps.
- PFC, Physical Foot Contact (EDGE, ``eval/eval_pfc.py``, Tseng et al. 2023): per frame the
  root's acceleration (upward part clipped at 0, scaled by its maximum over the sequence)
  times the smaller horizontal speed of each foot's two joints, left times right; mean over
  frames, × 10,000. Lower = feet keep contact when the body accelerates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.ndimage import gaussian_filter1d
from scipy.signal import argrelextrema

UNIT_TO_M = {"m": 1.0, "cm": 0.01, "mm": 0.001}


def to_metres(pose: np.ndarray, units: str | None) -> np.ndarray:
    return np.asarray(pose, dtype=np.float64) * UNIT_TO_M.get(units or "m", 1.0)


# -- kinetic features -------------------------------------------------------------------
def _window_mean(d: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """For each i, the mean of rows d[lo[i]:hi[i]] (cumulative sums; empty -> 0)."""
    c = np.concatenate([np.zeros((1, *d.shape[1:])), np.cumsum(d, axis=0)])
    n = np.maximum(hi - lo, 1).reshape(-1, *([1] * (d.ndim - 1)))
    return (c[hi] - c[lo]) / n


def kinetic_features(pos: np.ndarray, fps: float = 30.0, *, up: int = 1,
                     sliding_window: int = 2) -> np.ndarray:
    """(3·J,) per joint [KE horizontal, KE vertical, energy expenditure] (AIST++ order)."""
    T = len(pos)
    dt = 1.0 / fps
    i = np.arange(1, T)
    d = np.diff(pos, axis=0)  # d[k] = p[k+1] - p[k]; AIST++ sums p[i+j] - p[i+j-1]
    lo = np.clip(i - sliding_window - 1, 0, T - 1)
    hi = np.clip(i + sliding_window, 0, T - 1)
    v = _window_mean(d, lo, hi) / dt  # (T-1, J, 3)
    flat = [k for k in range(3) if k != up]
    ke_h = (np.linalg.norm(v[..., flat], axis=-1) ** 2).mean(0)
    ke_v = (v[..., up] ** 2).mean(0)
    a2 = (pos[2:] - 2 * pos[1:-1] + pos[:-2]) / dt**2  # a2[k] centred on frame k+1
    lo_a = np.clip(i - sliding_window - 1, 0, T - 2)
    hi_a = np.clip(i + sliding_window, 0, T - 2)
    acc = np.linalg.norm(_window_mean(a2, lo_a, hi_a), axis=-1).mean(0)
    return np.stack([ke_h, ke_v, acc], axis=-1).reshape(-1).astype(np.float64)


# -- geometric features -----------------------------------------------------------------
TANG2018_ROLES: dict[str, int | tuple[int, ...]] = {
    # measured on the real data (docs/model.md): y up; chain 3-4-5 / 7-8-9-11 is on the
    # dancer's right if the capture frame is right-handed (toes point forward)
    "head": 0, "belly": 2,
    "rshoulder": 3, "relbow": 4, "rwrist": 5, "rhip": 7, "rknee": 8, "rankle": 9, "rtoes": 11,
    "lshoulder": 12, "lelbow": 13, "lwrist": 14, "lhip": 16, "lknee": 17, "lankle": 18,
    "ltoes": 20,
    # derived points (tang2018 has no such joint): midpoints
    "root": (7, 16), "neck": (3, 12),
}
DERIVED = {"chest": ("belly", "neck")}
"""chest = midpoint of belly (joint 2) and neck (shoulder midpoint)."""


def joint_roles(meta_skeleton: dict, source: str | None = None
                ) -> dict[str, int | tuple[int, ...]] | None:
    """Named joint roles for the geometric features, or None when unknown (FID_g skipped)."""
    if meta_skeleton.get("n_joints") == 23 and meta_skeleton.get("dims") == 3 and (
            source in (None, "tang2018")):
        return TANG2018_ROLES
    return None


def _named(pos: np.ndarray, roles: dict, y_min_per_frame: bool = False
           ) -> dict[str, np.ndarray]:
    out = {}
    for name, j in roles.items():
        out[name] = pos[:, j] if isinstance(j, int) else pos[:, list(j)].mean(axis=1)
    for name, (a, b) in DERIVED.items():
        out[name] = 0.5 * (out[a] + out[b])
    T = len(pos)
    out["zero"] = np.zeros((T, 3))
    out["y_unit"] = np.tile([0.0, 1.0, 0.0], (T, 1))
    out["minus_y_unit"] = -out["y_unit"]
    out["y_min"] = np.zeros((T, 3))
    out["y_min"][:, 1] = pos[..., 1].min(axis=1) if y_min_per_frame else pos[..., 1].min()
    return out


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1)


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-9)


def geometric_features(pos: np.ndarray, roles: dict, fps: float = 30.0, *,
                       y_min_per_frame: bool = False) -> np.ndarray:
    """(32,) AIST++ manual features: the fraction of frames where each relation holds.

    The floor ``y_min`` is the lowest joint over the whole window (the reference code: of
    each frame, ``y_min_per_frame``); velocities are displacements times ``fps`` (the
    reference code's helpers default to a time per frame of 1/120 s whatever the rate)."""
    P = _named(pos, roles, y_min_per_frame)
    dt = 1.0 / fps
    hl = float(np.linalg.norm(P["lshoulder"] - P["lelbow"], axis=-1).mean())  # humerus
    sw = float(np.linalg.norm(P["lshoulder"] - P["rshoulder"], axis=-1).mean())
    hw = float(np.linalg.norm(P["lhip"] - P["rhip"], axis=-1).mean())

    def cur(n: str) -> np.ndarray:
        return P[n][1:]

    def prev(n: str) -> np.ndarray:
        return P[n][:-1]

    def move(j1: str, j2: str, j3: str, j4: str, th: float) -> np.ndarray:
        """velocity of j4 relative to j3 along j1 -> j2 above th (units/s)."""
        vel = ((cur(j4) - cur(j3)) - (prev(j4) - prev(j3))) / dt
        return _dot(vel, _unit(cur(j2) - cur(j1))) > th

    def nmove(j1: str, j2: str, j3: str, j4: str, th: float) -> np.ndarray:
        """velocity of j4 relative to j1 along the normal of plane (j1, j2, j3) above th."""
        vel = ((cur(j4) - cur(j1)) - (prev(j4) - prev(j1))) / dt
        n = _unit(np.cross(cur(j2) - cur(j1), cur(j3) - cur(j1)))
        return _dot(vel, n) > th

    def plane(j1: str, j2: str, j3: str, j4: str, th: float) -> np.ndarray:
        """signed distance of j4 from the plane through j1, j2, j3 above th."""
        n = _unit(np.cross(cur(j2) - cur(j1), cur(j3) - cur(j1)))
        return _dot(cur(j4) - cur(j1), n) > th

    def nplane(j1: str, j2: str, j3: str, j4: str, th: float) -> np.ndarray:
        """signed distance of j4 from the plane with normal j1 -> j2 through j3 above th."""
        return _dot(cur(j4) - cur(j3), _unit(cur(j2) - cur(j1))) > th

    def angle(j1: str, j2: str, j3: str, j4: str, rng: tuple[float, float]) -> np.ndarray:
        """angle between j1 -> j2 and j3 -> j4 inside (lo, hi) degrees."""
        c = _dot(_unit(cur(j2) - cur(j1)), _unit(cur(j4) - cur(j3)))
        a = np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))
        return (a > rng[0]) & (a < rng[1])

    def fast(j: str, th: float) -> np.ndarray:
        return np.linalg.norm(cur(j) - prev(j), axis=-1) / dt > th

    f = [
        nmove("neck", "rhip", "lhip", "rwrist", 1.8 * hl),
        nmove("neck", "lhip", "rhip", "lwrist", 1.8 * hl),
        nplane("chest", "neck", "neck", "rwrist", 0.2 * hl),
        nplane("chest", "neck", "neck", "lwrist", 0.2 * hl),
        move("belly", "chest", "chest", "rwrist", 1.8 * hl),
        move("belly", "chest", "chest", "lwrist", 1.8 * hl),
        angle("relbow", "rshoulder", "relbow", "rwrist", (0, 110)),
        angle("lelbow", "lshoulder", "lelbow", "lwrist", (0, 110)),
        nplane("lshoulder", "rshoulder", "lwrist", "rwrist", 2.5 * sw),
        move("lwrist", "rwrist", "rwrist", "lwrist", 1.4 * hl),
        move("rwrist", "root", "lwrist", "root", 1.4 * hl),
        move("lwrist", "root", "rwrist", "root", 1.4 * hl),
        fast("rwrist", 2.5 * hl),
        fast("lwrist", 2.5 * hl),
        plane("root", "lhip", "ltoes", "rankle", 0.38 * hl),
        plane("root", "rhip", "rtoes", "lankle", 0.38 * hl),
        nplane("zero", "y_unit", "y_min", "rankle", 1.2 * hl),
        nplane("zero", "y_unit", "y_min", "lankle", 1.2 * hl),
        nplane("lhip", "rhip", "lankle", "rankle", 2.1 * hw),
        angle("rknee", "rhip", "rknee", "rankle", (0, 110)),
        angle("lknee", "lhip", "lknee", "lankle", (0, 110)),
        fast("rankle", 2.5 * hl),
        fast("lankle", 2.5 * hl),
        angle("neck", "root", "rshoulder", "relbow", (25, 180)),
        angle("neck", "root", "lshoulder", "lelbow", (25, 180)),
        angle("neck", "root", "rhip", "rknee", (50, 180)),
        angle("neck", "root", "lhip", "lknee", (50, 180)),
        plane("rankle", "neck", "lankle", "root", 0.5 * hl),
        angle("neck", "root", "zero", "y_unit", (70, 110)),
        nplane("zero", "minus_y_unit", "y_min", "rwrist", -1.2 * hl),
        nplane("zero", "minus_y_unit", "y_min", "lwrist", -1.2 * hl),
        fast("root", 2.3 * hl),
    ]
    return np.array([x.mean() for x in f], dtype=np.float64)


# -- FID / Div ---------------------------------------------------------------------------
def normalise_by(ref: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Scale every set by the reference set's per-feature mean/std (Bailando). A feature
    constant in the reference (std < 1e-6, e.g. a geometric relation that never holds there)
    is divided by 1 instead of 1e-10, which would blow any difference up by 10^10."""
    mean, std = ref.mean(0), ref.std(0)
    std = np.where(std < 1e-6, 1.0, std)
    return [(x - mean) / std for x in (ref, *others)]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted to feature sets a (N, F) and b (M, F)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    if not np.isfinite(covmean).all():
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def diversity(x: np.ndarray) -> float:
    """Mean pairwise Euclidean distance between the rows of x."""
    n = len(x)
    if n < 2:
        return 0.0
    d = np.sqrt(np.maximum(((x[:, None] - x[None]) ** 2).sum(-1), 0.0))
    return float(d[np.triu_indices(n, 1)].mean())


@dataclass
class FidDiv:
    fid: float
    div: float
    div_ref: float


def fid_div(ref: np.ndarray, pred: np.ndarray) -> FidDiv:
    """FID(pred vs ref) and Div of both, after normalising by the reference statistics."""
    r, p = normalise_by(ref, pred)
    return FidDiv(frechet_distance(p, r), diversity(p), diversity(r))


# -- Beat Align Score ---------------------------------------------------------------------
def motion_beats(pos: np.ndarray, fps: float = 30.0, smooth_s: float = 5 / 60) -> np.ndarray:
    """Frames of local minima of the smoothed mean joint speed (Bailando ``calc_db``)."""
    vel = np.linalg.norm(np.diff(pos, axis=0), axis=-1).mean(-1)
    vel = gaussian_filter1d(vel, smooth_s * fps)
    return argrelextrema(vel, np.less)[0]


def beat_align_score(pos: np.ndarray, music_beat_frames: np.ndarray, fps: float = 30.0,
                     sigma_s: float = 3 / 60) -> float:
    """Mean over music beats of exp(-d²/(2σ²)), d = frames to the nearest motion beat.
    NaN when the window has no music beat; 0 when the motion has no beat."""
    mb = np.asarray(music_beat_frames)
    if mb.size == 0:
        return float("nan")
    kb = motion_beats(pos, fps)
    if kb.size == 0:
        return 0.0
    sigma = sigma_s * fps
    d = np.abs(kb[None, :] - mb[:, None]).min(axis=1)
    return float(np.mean(np.exp(-(d**2) / (2 * sigma**2))))


# -- PFC ---------------------------------------------------------------------------------
def foot_joints(roles: dict) -> tuple[list[int], int | tuple[int, ...]] | None:
    """([l ankle, l toes, r ankle, r toes], root) from roles."""
    try:
        return [roles["lankle"], roles["ltoes"], roles["rankle"], roles["rtoes"]], roles["root"]
    except KeyError:
        return None


def pfc(pos: np.ndarray, feet: list[int], root: int | tuple[int, ...], fps: float = 30.0,
        *, up: int = 1) -> float:
    """EDGE's Physical Foot Contact score of one sequence (before the ×10,000 of the mean)."""
    dt = 1.0 / fps
    r = pos[:, root] if isinstance(root, int) else pos[:, list(root)].mean(1)
    root_v = np.diff(r, axis=0) / dt
    root_a = np.diff(root_v, axis=0) / dt
    root_a[:, up] = np.maximum(root_a[:, up], 0)
    root_a = np.linalg.norm(root_a, axis=-1)
    scale = root_a.max()
    if scale <= 0:
        return 0.0
    root_a = root_a / scale
    flat = [k for k in range(3) if k != up]
    f = pos[:, feet][..., flat]
    foot_v = np.linalg.norm(f[2:] - f[1:-1], axis=-1)  # (T-2, 4), per frame (EDGE: no /dt)
    left = np.minimum(foot_v[:, 0], foot_v[:, 1])
    right = np.minimum(foot_v[:, 2], foot_v[:, 3])
    return float((left * right * root_a).mean())


def pfc_score(seqs: list[np.ndarray], feet: list[int], root: int | tuple[int, ...],
              fps: float = 30.0) -> float:
    """EDGE's reported PFC: mean over sequences × 10,000."""
    return float(np.mean([pfc(p, feet, root, fps) for p in seqs]) * 10000)


# -- the reference code's literal settings (Bailando utils/metrics_new.py + AIST++ API) ----
REF_FPS = 60.0
"""The frame rate the reference code's constants are written for (AIST++ motion)."""


def resample(pos: np.ndarray, fps: float, to_fps: float = REF_FPS) -> np.ndarray:
    """Linear interpolation of (T, J, D) positions from ``fps`` to ``to_fps`` (same span)."""
    T = len(pos)
    n = int(np.floor((T - 1) * to_fps / fps + 1e-9)) + 1
    src = np.arange(n) * (fps / to_fps)
    lo = np.minimum(np.floor(src).astype(int), T - 1)
    hi = np.minimum(lo + 1, T - 1)
    w = (src - lo).reshape(-1, *([1] * (pos.ndim - 1)))
    return pos[lo] * (1 - w) + pos[hi] * w


def zero_start(pos: np.ndarray, root: int | tuple[int, ...] = 0) -> np.ndarray:
    """Bailando's ``joint3d - joint3d[:1, root]``: the root's first position moved to 0."""
    r0 = pos[0, root] if isinstance(root, int) else pos[0, list(root)].mean(0)
    return pos - r0


def kinetic_features_as_written(pos: np.ndarray, frame_time: float = 1 / REF_FPS, *,
                                up: int = 1, sliding_window: int = 2) -> np.ndarray:
    """AIST++ ``extract_kinetic_features`` exactly as published, vectorised.

    The velocity terms equal :func:`kinetic_features` with ``dt = frame_time``. The energy
    expenditure keeps the published ``calc_average_acceleration``, whose ``v1`` is
    ``p[k] - p[k-1] / frame_time`` (the bracket closes after the division), so the "acceleration"
    is ``((p[k+1] - p[k]) / ft - p[k] + p[k-1] / ft) / ft``: dominated by the absolute position
    ``(p[k+1] + p[k-1]) / ft²``, not by the second difference. That is why the reference moves
    the root's first position to the origin before extracting (:func:`zero_start`).
    """
    T = len(pos)
    k = kinetic_features(pos, 1.0 / frame_time, up=up, sliding_window=sliding_window)
    i = np.arange(1, T)
    ft = frame_time
    term = ((pos[2:] - pos[1:-1]) / ft - pos[1:-1] + pos[:-2] / ft) / ft  # k = 1 .. T-2
    lo = np.clip(i - sliding_window - 1, 0, T - 2)
    hi = np.clip(i + sliding_window, 0, T - 2)
    acc = np.linalg.norm(_window_mean(term, lo, hi), axis=-1).mean(0)
    out = k.reshape(-1, 3).copy()
    out[:, 2] = acc
    return out.reshape(-1)


def normalise_as_written(ref: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Bailando's ``normalize``: ``(x - mean) / (std + 1e-10)`` with the reference's stats."""
    mean, std = ref.mean(0), ref.std(0)
    return [(x - mean) / (std + 1e-10) for x in (ref, *others)]


def fid_div_as_written(ref: np.ndarray, pred: np.ndarray) -> FidDiv:
    r, p = normalise_as_written(ref, pred)
    return FidDiv(frechet_distance(p, r), diversity(p), diversity(r))


def beat_align_as_written(pos: np.ndarray, music_beat_frames: np.ndarray,
                          fps: float) -> float:
    """Bailando's ``calc_db`` + ``BA`` on the motion resampled to 60 fps: smoothing
    ``G(vel, 5)`` and ``exp(-d² / 2 / 9)`` in 60 fps frames; music beats moved to the
    60 fps grid."""
    p60 = resample(pos, fps, REF_FPS)
    mb = np.round(np.asarray(music_beat_frames) * (REF_FPS / fps)).astype(int)
    return beat_align_score(p60, mb, REF_FPS)


# -- motion-quality measures (issue 19) -------------------------------------------------
def mean_abs_acc(pos: np.ndarray) -> float:
    """Mean over frames and joints of |p[t+1] - 2 p[t] + p[t-1]| (units per frame²)."""
    a = pos[2:] - 2 * pos[1:-1] + pos[:-2]
    return float(np.linalg.norm(a, axis=-1).mean())


def velocity_power_above(pos: np.ndarray, fps: float, hz: float = 5.0) -> float:
    """Fraction of the joint velocities' power (|rFFT|² over time, summed over joints and
    axes) at frequencies above ``hz``. Jitter lives there; dance mostly below."""
    v = np.diff(pos, axis=0).reshape(len(pos) - 1, -1)
    p = np.abs(np.fft.rfft(v, axis=0)) ** 2
    f = np.fft.rfftfreq(len(v), d=1.0 / fps)
    tot = p.sum()
    return float(p[f > hz].sum() / tot) if tot > 0 else float("nan")


def bone_length_cv(pos: np.ndarray, segments: list) -> float:
    """Mean over bones of std/mean of the bone's length over the frames. A segment is a pair
    of joint groups (each end the mean of its joints, as in the preview drawings)."""
    cvs = []
    for a, b in segments:
        pa = pos[:, list(a)].mean(1)
        pb = pos[:, list(b)].mean(1)
        ln = np.linalg.norm(pa - pb, axis=-1)
        m = ln.mean()
        if m > 1e-9:
            cvs.append(ln.std() / m)
    return float(np.mean(cvs)) if cvs else float("nan")


# -- style classifier (multinomial logistic regression, numpy + scipy) --------------------
@dataclass
class StyleClassifier:
    classes: list[str]
    mean: np.ndarray
    std: np.ndarray
    W: np.ndarray  # (F + 1, K)

    def predict(self, x: np.ndarray) -> list[str]:
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.std
        logits = np.concatenate([z, np.ones((len(z), 1))], axis=1) @ self.W
        return [self.classes[k] for k in logits.argmax(1)]


def fit_style_classifier(x: np.ndarray, labels: list[str], *, l2: float = 1.0
                         ) -> StyleClassifier:
    """L2-regularised multinomial logistic regression (L-BFGS), classes weighted inversely to
    their counts (balanced), features standardised by the training set."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    classes = sorted(set(labels))
    y = np.array([classes.index(s) for s in labels])
    mean, std = x.mean(0), x.std(0)
    std = np.where(std < 1e-9, 1.0, std)
    z = np.concatenate([(x - mean) / std, np.ones((len(x), 1))], axis=1)
    K, F = len(classes), z.shape[1]
    counts = np.bincount(y, minlength=K)
    w = (len(y) / (K * counts))[y]
    onehot = np.eye(K)[y]

    def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W = theta.reshape(F, K)
        lg = z @ W
        lse = logsumexp(lg, axis=1)
        nll = float((w * (lse - lg[np.arange(len(y)), y])).sum() / w.sum())
        prob = np.exp(lg - lse[:, None])
        g = z.T @ ((prob - onehot) * w[:, None]) / w.sum()
        reg = W[:-1]
        return nll + 0.5 * l2 * float((reg**2).sum()) / len(y), (
            g + np.vstack([l2 * reg / len(y), np.zeros((1, K))])).ravel()

    res = minimize(f, np.zeros(F * K), jac=True, method="L-BFGS-B",
                   options={"maxiter": 500})
    return StyleClassifier(classes, mean, std, res.x.reshape(F, K))


def balanced_accuracy(true: list[str], pred: list[str]) -> float:
    """Mean over the classes present in ``true`` of the fraction predicted correctly."""
    recalls = []
    for c in sorted(set(true)):
        idx = [i for i, t in enumerate(true) if t == c]
        recalls.append(np.mean([pred[i] == c for i in idx]))
    return float(np.mean(recalls)) if recalls else float("nan")
