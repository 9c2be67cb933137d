"""How far a confidence is from calibrated, read on a few dozen decisions (pure numpy).

The report's figure is the expected calibration error over 10 equal-width bins
(``engine.calibration.expected_calibration_error``, the goal's definition). On 18-75 decisions per
scenario it is dominated by sampling: a perfectly calibrated confidence already shows 0.05-0.09. So it
is read next to:

* :func:`ece_null_draws`: the ECE a perfectly calibrated confidence shows on the same decisions from
  sampling alone (labels drawn as Bernoulli(confidence), the same bins, seeded), and
  :func:`p_value`: the share of those draws at or above the observed ECE (consistency resampling,
  Bröcker and Smith 2007, "Increasing the reliability of reliability diagrams"). A small p-value says
  the confidence is off by more than the sample's noise; a large one says the sample cannot tell.
* :func:`ece_equal_mass_sweep`: the ECE over equal-mass bins, as many as keep the bins' observed
  shares monotone (Roelofs et al. 2022, "Mitigating bias in calibration error estimation"): fewer,
  fuller bins where decisions are few, so less of the figure is noise.
* :func:`ece_cluster_interval`: for decisions pooled from several scenarios, the 5-95 % range of the
  pooled ECE when the scenarios themselves are resampled (a cluster bootstrap): a scenario's decisions
  share its price path, so they are not independent, and this interval says how much the pooled figure
  depends on which scenarios were replayed.
* :func:`l2_calibration_error_debiased`: the root-mean-square calibration error over the report's
  bins with each bin's sampling variance subtracted (Kumar, Liang and Ma 2019, "Verified uncertainty
  calibration", their debiased estimator): an estimate of the error the confidence would show on
  endless decisions. It is an l2 figure: at least the l1 ECE of the same bins, not comparable with
  the goal's 0.05 one to one.

No maintained library covers these without a deep-learning stack (netcal needs PyTorch; Kumar's
``uncertainty-calibration`` is unmaintained), and each is a few lines.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
FLOOR_DRAWS = 2000
"""Simulated label draws for the noise floor and the p-value (seeded: the report stays deterministic)."""
BINS = 10


def _as_arrays(
    confidence: Sequence[float] | FloatArray, positive: Sequence[bool] | np.ndarray
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    conf = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    pos = np.asarray(positive, dtype=bool)
    if conf.shape != pos.shape or conf.ndim != 1:
        raise ValueError("confidence and outcomes must be two sequences of the same length")
    return conf, pos


def _bin_index(conf: FloatArray, bins: int) -> npt.NDArray[np.intp]:
    """Equal-width bin of each confidence, as ``engine.calibration.reliability`` bins them."""
    idx: npt.NDArray[np.intp] = np.minimum((conf * bins).astype(np.intp), bins - 1)
    return idx


def ece_null_draws(
    confidence: Sequence[float] | FloatArray, bins: int = BINS, draws: int = FLOOR_DRAWS, seed: int = 0
) -> FloatArray:
    """The equal-width-bin ECE of ``draws`` label sets drawn as Bernoulli(confidence): what a perfectly
    calibrated confidence shows on these decisions from sampling alone (empty without decisions)."""
    conf = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    if not conf.size:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    labels = rng.uniform(size=(draws, conf.size)) < conf[None, :]
    onehot = np.zeros((conf.size, bins))
    onehot[np.arange(conf.size), _bin_index(conf, bins)] = 1.0
    counts = onehot.sum(axis=0)
    used = counts > 0
    mean_conf = (conf @ onehot)[used] / counts[used]
    share = (labels.astype(np.float64) @ onehot)[:, used] / counts[used]
    ece: FloatArray = (np.abs(share - mean_conf) * counts[used]).sum(axis=1) / conf.size
    return ece


def p_value(observed: float, null: FloatArray) -> float:
    """Share of the null draws at or above ``observed``, counting the observation itself
    (``(1 + k) / (1 + draws)``, so never 0: Phipson and Smyth 2010)."""
    if not null.size:
        raise ValueError("no null draws to compare with")
    at_or_above = int(np.count_nonzero(null >= observed - 1e-12))  # float noise of two summations
    return (1 + at_or_above) / (1 + null.size)


def _equal_mass_ece(cum_conf: FloatArray, cum_pos: FloatArray, bins: int) -> tuple[float, bool]:
    """(l1 ECE over ``bins`` equal-mass bins of the decisions sorted by confidence, whether the bins'
    shares are non-decreasing); ``cum_*``: cumulative sums of the sorted values, starting at 0."""
    n = cum_conf.size - 1
    size, extra = divmod(n, bins)
    edges = np.concatenate(([0], np.cumsum(np.where(np.arange(bins) < extra, size + 1, size))))
    counts = np.diff(edges)
    conf = np.diff(cum_conf[edges]) / counts
    share = np.diff(cum_pos[edges]) / counts
    return float((np.abs(share - conf) * counts).sum() / n), bool(np.all(np.diff(share) >= 0))


def ece_equal_mass_sweep(
    confidence: Sequence[float] | FloatArray, positive: Sequence[bool] | np.ndarray
) -> tuple[float, int] | None:
    """(ECE, bins) over equal-mass bins (decisions sorted by confidence, split into bins of equal count,
    the first ones one larger when it does not divide), with the largest number of bins for which the
    bins' observed shares are non-decreasing (Roelofs et al. 2022's ECE_sweep). None without data."""
    conf, pos = _as_arrays(confidence, positive)
    if not conf.size:
        return None
    order = np.argsort(conf, kind="stable")
    cum_conf = np.concatenate(([0.0], np.cumsum(conf[order])))
    cum_pos = np.concatenate(([0.0], np.cumsum(pos[order].astype(np.float64))))
    best, used = _equal_mass_ece(cum_conf, cum_pos, 1)[0], 1
    for bins in range(2, conf.size + 1):
        ece, monotone = _equal_mass_ece(cum_conf, cum_pos, bins)
        if not monotone:
            break
        best, used = ece, bins
    return best, used


def l2_calibration_error_debiased(
    confidence: Sequence[float] | FloatArray, positive: Sequence[bool] | np.ndarray, bins: int = BINS
) -> float | None:
    """``sqrt(max(0, sum_b n_b / N x [(share_b - conf_b)^2 - share_b (1 - share_b) / (n_b - 1)]))`` over
    the report's equal-width bins: the squared gap of each bin less its share's sampling variance
    (Kumar et al. 2019). A bin of one decision has no variance estimate and adds nothing. None without
    data."""
    conf, pos = _as_arrays(confidence, positive)
    if not conf.size:
        return None
    idx = _bin_index(conf, bins)
    total = 0.0
    for b in np.unique(idx):
        sel = idx == b
        n = int(np.count_nonzero(sel))
        if n < 2:
            continue
        share = float(pos[sel].mean())
        gap = share - float(conf[sel].mean())
        total += n / conf.size * (gap * gap - share * (1.0 - share) / (n - 1))
    return float(np.sqrt(max(total, 0.0)))


def ece_cluster_interval(
    groups: Sequence[tuple[FloatArray, npt.NDArray[np.bool_]]],
    bins: int = BINS,
    draws: int = FLOOR_DRAWS,
    seed: int = 0,
) -> tuple[float, float] | None:
    """(5th, 95th percentile) of the equal-width-bin ECE of the decisions of ``len(groups)`` groups (e.g.
    scenarios: (confidence, positive) each) drawn with replacement, ``draws`` times (seeded). None with
    fewer than two groups or no decisions."""
    groups = [_as_arrays(c, p) for c, p in groups]
    if len(groups) < 2 or not sum(c.size for c, _ in groups):
        return None
    # per group and bin: count, sum of confidence, sum of positives; a draw adds its groups' rows
    stats = np.zeros((len(groups), 3, bins))
    for g, (conf, pos) in enumerate(groups):
        idx = _bin_index(conf, bins)
        stats[g, 0] = np.bincount(idx, minlength=bins)
        stats[g, 1] = np.bincount(idx, weights=conf, minlength=bins)
        stats[g, 2] = np.bincount(idx, weights=pos.astype(np.float64), minlength=bins)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(groups), size=(draws, len(groups)))
    times = np.zeros((draws, len(groups)))
    np.add.at(times, (np.arange(draws)[:, None], picks), 1.0)
    count, conf_sum, pos_sum = (times @ stats[:, k] for k in range(3))
    total = count.sum(axis=1)
    ok = total > 0
    gap = np.abs(pos_sum - conf_sum)  # n_b x |share_b - confidence_b|
    ece = gap[ok].sum(axis=1) / total[ok]
    low, high = np.quantile(ece, [0.05, 0.95])
    return float(low), float(high)
