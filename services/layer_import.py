"""Importing one boundary layer (district … happiness_unit) from an uploaded file (issue 13 §4).

Boundary layers are never edited by hand: a surveyed file replaces one layer whole. ``preview`` reads
the upload (.geojson, .gpkg, .parquet, or a zipped Shapefile) with geo.layers.read_layer, the same
checks as start-up (CRS, codes, parents named, geometry, repairs), then checks the would-be set of
layers with ``validate_hierarchy``: the new layer's parents exist in the current parent layer, and the
current children (e.g. the grids of a new community layer) still find their parents in it. It says
what would change (features added, removed, changed). ``apply`` does it all again and only then writes.

Writing: the layer goes to ``<kind>.parquet`` (GeoParquet, EPSG:4326, the name the loader reads first)
in the active layer folder (``GM_DATA_DIR``) through a temporary file and an atomic rename; every
previous ``<kind>.*`` file is kept beside it as ``<kind>.backup-<YYYYmmdd-HHMMSS>.<suffix>`` (a name the
loader ignores). Then the caches of the area layers are cleared in this process, and the import is
audited. The bundled sample (data/sample) is never written, nor a folder the server cannot write: the
sample is rebuilt by its generator and shared by every checkout, so an import there would be lost or
leak into other sites; set ``GM_DATA_DIR`` to a site folder (a copy of the layers) first. Stations,
buildings and appeals keep the area codes they were given; a new layer is for codes that stay or are new.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import shapely

from data import sample
from geo.layers import LAYER_PARENTS, LayerError, read_layer, validate_hierarchy
from services import access, audit
from services.clocks import TZ
from services.errors import ValidationError
from services.store.base import Store

KINDS = sample.BOUNDARY_KINDS
UPLOAD_SUFFIXES = (".geojson", ".json", ".gpkg", ".parquet", ".zip")
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
_SHP_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qpj")


class LayerRefused(ValidationError):
    """An uploaded layer that failed a check; ``detail`` is the loader's technical message (English)."""

    def __init__(self, detail: str) -> None:
        super().__init__("error.layer_refused")
        self.detail = detail


@dataclass(frozen=True)
class Preview:
    """What an import would do: the layer, its features, and how many are added, removed or changed
    (name, parent or geometry) against the current layer; ``repaired`` polygons were invalid and fixed."""

    kind: str
    features: int
    added: int
    removed: int
    changed: int
    unchanged: int
    repaired: int
    source_crs: str


def _may(who: access.Principal) -> None:
    access.check_principal(who)
    access.check_action(who.role, "manage_reference")


def active_folder() -> Path:
    """The folder the area layers are read from (``GM_DATA_DIR``, or the bundled sample)."""
    return sample.data_dir()


def target_folder() -> Path:
    """The active layer folder when an import may write there; ``ValidationError`` otherwise (the
    bundled sample, or a folder the server cannot write)."""
    folder = sample.data_dir()
    if folder.resolve() == sample.DEFAULT_OUT.resolve():
        raise ValidationError("error.layer_folder_is_sample", path=str(folder))
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ValidationError("error.layer_folder_not_writable", path=str(folder))
    return folder


def _unpack(filename: str, data: bytes, work: Path) -> Path:
    """The upload written into ``work`` (a zip's Shapefile extracted); returns the file to read."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise ValidationError("error.layer_file_type", suffix=suffix or "-", allowed=", ".join(UPLOAD_SUFFIXES))
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationError("error.layer_file_too_big", mb=MAX_UPLOAD_BYTES // (1024 * 1024))
    path = work / f"upload{suffix}"
    path.write_bytes(data)
    if suffix != ".zip":
        return path
    try:
        with zipfile.ZipFile(path) as z:
            members = [m for m in z.infolist() if not m.is_dir() and Path(m.filename).suffix.lower() in _SHP_PARTS]
            shps = [m for m in members if m.filename.lower().endswith(".shp")]
            if len(shps) != 1:
                raise ValidationError("error.layer_zip_needs_one_shp", n=len(shps))
            stem = Path(shps[0].filename).with_suffix("")
            for m in members:  # only the Shapefile's own parts, flattened (no path from the archive is used)
                if Path(m.filename).with_suffix("") == stem:
                    (work / ("layer" + Path(m.filename).suffix.lower())).write_bytes(z.read(m))
    except zipfile.BadZipFile:
        raise ValidationError("error.layer_zip_bad") from None
    return work / "layer.shp"


def _read(kind: str, filename: str, data: bytes) -> tuple[gpd.GeoDataFrame, int, str]:
    if kind not in KINDS:
        raise ValidationError("error.layer_kind_unknown", kind=str(kind), kinds=", ".join(KINDS))
    with tempfile.TemporaryDirectory(prefix="gm-layer-") as tmp:
        path = _unpack(filename, data, Path(tmp))
        try:
            gdf, report = read_layer(path, kind, district_bounds=sample.DISTRICT_BOUNDS)
            current = {k: v for k, v in sample.load_layers().items() if k in KINDS}
            validate_hierarchy({**current, kind: gdf})
        except LayerError as exc:
            raise LayerRefused(str(exc).replace(str(path), Path(filename).name)) from None
    return gdf, len(report.repaired), report.source_crs


def _diff(kind: str, new: gpd.GeoDataFrame) -> tuple[int, int, int, int]:
    old = sample.load_layers().get(kind)
    if old is None:
        return len(new), 0, 0, 0
    o, n = old.set_index("code"), new.set_index("code")
    common = o.index.intersection(n.index)
    same = shapely.equals_exact(o.loc[common].geometry.values, n.loc[common].geometry.values, tolerance=1e-9)
    for col in ("name", "parent_code"):
        if col in o.columns and col in n.columns:
            same &= (o.loc[common, col].astype(str).to_numpy() == n.loc[common, col].astype(str).to_numpy())
    changed = int((~same).sum())
    return len(n.index.difference(o.index)), len(o.index.difference(n.index)), changed, len(common) - changed


def preview(store: Store, who: access.Principal, kind: str, filename: str, data: bytes) -> Preview:
    """Check an uploaded ``kind`` layer and say what importing it would change; writes nothing.
    ``LayerRefused`` (with the loader's detail) or ``ValidationError`` when it may not be imported."""
    _may(who)
    gdf, repaired, crs = _read(kind, filename, data)
    added, removed, changed, unchanged = _diff(kind, gdf)
    return Preview(kind, len(gdf), added, removed, changed, unchanged, repaired, crs)


def clear_layer_caches() -> None:
    """Forget every cached read of the area layers and what was derived from them, in this process."""
    from geo import assign
    from services import district, registration, wall
    from services.intake import appeals
    from services.planning import base

    sample._load.cache_clear()
    for fn in (district._area_layers, district._names, district._records, base.english_names,
               wall._grid_polygons, wall._grid_outlines):
        fn.cache_clear()
    district._derived.clear()
    base._built.clear()
    registration._BUILDING_AREAS.clear()
    appeals._INDEX_CACHE.clear()
    assign._CACHE.clear()


def _write(folder: Path, kind: str, gdf: gpd.GeoDataFrame, stamp: str) -> list[str]:
    """Write ``gdf`` as ``<kind>.parquet`` atomically, keeping earlier ``<kind>.*`` files as backups."""
    tmp = folder / f".{kind}.parquet.tmp-{os.getpid()}"
    gdf.to_parquet(tmp)
    backups: list[str] = []
    final = folder / f"{kind}.parquet"
    try:
        if final.exists():
            backup = folder / f"{kind}.backup-{stamp}.parquet"
            os.link(final, backup)
            backups.append(backup.name)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    for suffix in (*sample.SUFFIXES, *_SHP_PARTS):
        old = folder / f"{kind}{suffix}"
        if suffix != ".parquet" and old.exists():
            backup = folder / f"{kind}.backup-{stamp}{suffix}"
            os.replace(old, backup)
            backups.append(backup.name)
    return backups


def apply(store: Store, who: access.Principal, kind: str, filename: str, data: bytes) -> Preview:
    """Check the upload again and write it into the active layer folder (a dated backup of the previous
    file beside it), clear the layer caches, and audit it (``reference.layer.import``, or
    ``….refused`` with the reason). Returns what changed."""
    _may(who)
    detail: dict = {"kind": kind, "file": Path(filename or "").name, "bytes": len(data)}

    def step() -> Preview:
        folder = target_folder()
        gdf, repaired, crs = _read(kind, filename, data)
        counts = _diff(kind, gdf)
        stamp = datetime.now(TZ).strftime("%Y%m%d-%H%M%S")
        detail["backups"] = _write(folder, kind, gdf, stamp)
        detail.update(zip(("added", "removed", "changed", "unchanged"), counts, strict=True))
        clear_layer_caches()
        return Preview(kind, len(gdf), *counts, repaired, crs)
    return audit.audited(store, who.name, "reference.layer.import", "layer", kind, detail, step, who.address)


def parent_of(kind: str) -> str | None:
    """The layer a ``kind`` layer's ``parent_code`` names (geo.layers.LAYER_PARENTS)."""
    return LAYER_PARENTS.get(kind)

