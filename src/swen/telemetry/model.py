"""Constants and small pure functions of the telemetry model (what a sample's numbers mean).

All rates are per simulated hour. Mean-reverting quantities use the exact Ornstein-Uhlenbeck update
``x' = mu + (x - mu) e^{-k dt} + sigma sqrt(1 - e^{-2 k dt}) N(0, 1)`` (``sigma`` = stationary standard
deviation), so any step size, from 5 s to a day, gives the same statistics.
"""

from __future__ import annotations

import numpy as np

from swen.domain.arrays import FloatArray

# Price: ratio to the list price of each offer, mean 1, bounded ("spot-like" moves).
PRICE_REVERSION_PER_H = 0.5
PRICE_STD = 0.04
PRICE_MIN_RATIO, PRICE_MAX_RATIO = 0.85, 1.25

# Latency: p95 seen by users = RTT x (1 + amplitude x diurnal load) + noise, never below 0.98 x RTT.
LATENCY_DIURNAL_AMPLITUDE = 0.25
LATENCY_NOISE_REL, LATENCY_NOISE_ABS_MS = 0.03, 0.2
PEAK_LOCAL_HOUR = 14.0
"""Users' load peaks at 14:00 local time and bottoms out at 02:00."""

# Health: availability near 0.999, small error rate that grows with load.
AVAILABILITY_NOISE = 0.0007
AVAILABILITY_FLOOR_NORMAL = 0.99
ERROR_RATE_BASE, ERROR_RATE_NOISE = 0.001, 0.0005

# GPU availability: mean-reverting around a provider mean, with Poisson stock-outs.
GPU_MEAN = {"aws": 0.85, "gcp": 0.80, "alibaba": 0.70}
GPU_MEAN_DEFAULT = 0.75
GPU_STD = 0.10
GPU_REVERSION_PER_H = 0.25
STOCKOUT_MEAN_INTERVAL_H = 48.0
"""Each (provider, region, GPU model) market runs out on average once every two simulated days."""
STOCKOUT_MEAN_DURATION_H = 0.75

# Outage effect (scenario): availability 1 - 0.8 m, error rate 0.5 m, latency x (1 + 9 m).
OUTAGE_AVAILABILITY_LOSS, OUTAGE_ERROR_RATE, OUTAGE_LATENCY_FACTOR = 0.8, 0.5, 9.0

REGION_UTC_OFFSET_H: dict[str, float] = {
    "us-east-1": -5,
    "us-west-1": -8,
    "us-west-2": -8,
    "us-central1": -6,
    "eu-west-1": 0,
    "eu-central-1": 1,
    "europe-west4": 1,
    "ap-southeast-1": 8,
    "asia-southeast1": 8,
    "ap-northeast-1": 9,
}
"""Users' local time per region (standard time, no daylight saving); unknown regions use UTC."""


def ou_step(
    x: FloatArray, mean: FloatArray | float, std: float, rate_per_h: float, dt_h: float, noise: FloatArray
) -> FloatArray:
    decay = float(np.exp(-rate_per_h * dt_h))
    return mean + (x - mean) * decay + std * float(np.sqrt(1.0 - decay * decay)) * noise


def diurnal_load(utc_hour: float, utc_offset_h: FloatArray) -> FloatArray:
    """Load in [0, 1]: 1 at PEAK_LOCAL_HOUR local time, 0 twelve hours later."""
    local = (utc_hour + utc_offset_h) % 24.0
    return 0.5 * (1.0 + np.cos(2.0 * np.pi * (local - PEAK_LOCAL_HOUR) / 24.0))
