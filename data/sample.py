"""Where the district's layers come from: the bundled sample, or a folder of the user's own real layers.

``load_layers()`` reads every layer of the district once per process. It reads the folder named by
``GM_DATA_DIR`` when that is set (files named ``<kind>.gpkg|.geojson|.shp|.parquet``, see
data/README.md), otherwise the generated sample in ``data/sample/``, building it first when it is missing
or was made by an older generator. Every file goes through ``geo.layers`` validation either way.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import pandas as pd

from data.generate import DEFAULT_OUT, GENERATOR_VERSION, generate, write
from geo.layers import LayerError, LayerReport
from geo.layers import load_layers as _load_layer_files

BOUNDARY_KINDS = ("district", "subdistrict", "community", "grid", "subgrid", "happiness_unit")
POINT_KINDS = ("station", "building")
KINDS = BOUNDARY_KINDS + POINT_KINDS
SUFFIXES = (".parquet", ".gpkg", ".geojson", ".json", ".shp")
# A generous box around Guangming (lon_min, lat_min, lon_max, lat_max): files outside it have a wrong CRS.
DISTRICT_BOUNDS = (113.80, 22.65, 114.05, 22.88)


def data_dir() -> Path:
    """The folder the layers are read from (``GM_DATA_DIR`` or the bundled sample)."""
    env = os.environ.get("GM_DATA_DIR")
    return Path(env) if env else DEFAULT_OUT


def sample_is_current(folder: Path = DEFAULT_OUT) -> bool:
    """True when the sample exists, is complete (manifest written last) and matches this generator."""
    manifest = folder / "manifest.json"
    if not manifest.exists():
        return False
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False
    return meta.get("generator_version") == GENERATOR_VERSION


def ensure_sample(folder: Path = DEFAULT_OUT) -> Path:
    """Build the sample district into ``folder`` unless a current one is already there."""
    if not sample_is_current(folder):
        write(generate(), folder)
    return folder


def manifest() -> dict:
    """The sample's manifest (seed, as-of time, counts), or {} for user-supplied layers."""
    path = data_dir() / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _find(folder: Path, kind: str) -> Path | None:
    for suffix in SUFFIXES:
        p = folder / f"{kind}{suffix}"
        if p.exists():
            return p
    return None


@lru_cache(maxsize=2)
def _load(folder: str) -> tuple[dict[str, gpd.GeoDataFrame], tuple[LayerReport, ...]]:
    path = Path(folder)
    if path == DEFAULT_OUT:
        ensure_sample(path)
    files = {k: p for k in KINDS if (p := _find(path, k)) is not None}
    missing = [k for k in ("district", "subdistrict", "community", "grid") if k not in files]
    if missing:
        raise LayerError(f"{path}: no file for layer(s) {', '.join(missing)}; expected files named "
                         f"<layer>{'|'.join(SUFFIXES)} (see data/README.md)")
    layers, reports = _load_layer_files(files, district_bounds=DISTRICT_BOUNDS)
    return layers, tuple(reports)


def load_layers() -> dict[str, gpd.GeoDataFrame]:
    """Every layer of the district, keyed by kind, in EPSG:4326 (cached; do not modify in place)."""
    return _load(str(data_dir()))[0]


def layer_reports() -> tuple[LayerReport, ...]:
    """What loading found and repaired, one report per file."""
    return _load(str(data_dir()))[1]


def load_departments() -> pd.DataFrame:
    """The departments that receive orders (code, name, name_en)."""
    folder = data_dir()
    for name in ("department.parquet", "department.csv"):
        p = folder / name
        if p.exists():
            return pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p, dtype=str)
    return pd.read_parquet(ensure_sample() / "department.parquet")


def load_appeal_history() -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The sample's twelve months of appeals and their events (for seeding a store)."""
    folder = ensure_sample()
    return gpd.read_parquet(folder / "appeal.parquet"), pd.read_parquet(folder / "appeal_event.parquet")
