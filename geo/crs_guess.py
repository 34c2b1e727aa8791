"""Which coordinate system a set of points is in, judged against places whose true position is known.

Why: a GCJ-02 point (高德, 腾讯) labelled WGS84 lies about 600 m off in Shenzhen, a BD-09 point (百度)
about 1.2 km; a single point cannot be told apart from a badly placed one, but many can. Given points
that name known places (a QR scan names its building), each candidate system is tried: the points are
converted from it to WGS84 and their median distance to the named places measured (EPSG:4547). The
declared system is doubted only when it misses by far and another system fits closely.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geo.coords import to_wgs84
from geo.crs import distance_m

CANDIDATES = ("wgs84", "gcj02", "bd09")


@dataclass(frozen=True)
class Guess:
    """The median miss (metres) of each candidate system, how many points were compared, and the
    system that fits best."""

    medians: dict[str, float]
    points: int
    best: str

    def doubts(self, declared: str, *, max_miss_m: float, min_points: int) -> bool:
        """True when the declared system misses by more than ``max_miss_m`` and the best one fits
        within it, over at least ``min_points`` points."""
        declared = "wgs84" if declared == "cgcs2000" else declared  # the same to a metre here
        return (self.points >= min_points and self.best != declared
                and self.medians[declared] > max_miss_m and self.medians[self.best] <= max_miss_m)


def guess_system(lon: np.ndarray, lat: np.ndarray, true_lon: np.ndarray, true_lat: np.ndarray) -> Guess:
    """Median distance from the points, read in each candidate system, to their true places."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    medians = {}
    for system in CANDIDATES:
        wlon, wlat = to_wgs84(lon, lat, system)
        d = distance_m(wlon, wlat, np.asarray(true_lon, float), np.asarray(true_lat, float))
        medians[system] = float(np.median(d)) if len(d) else float("nan")
    best = min(CANDIDATES, key=lambda s: medians[s] if np.isfinite(medians[s]) else np.inf)
    return Guess(medians, len(lon), best)
