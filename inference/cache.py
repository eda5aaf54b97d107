"""The on-disk result cache, so opening the same study again shows its analysis at once.

An entry is keyed by what determines it: the study (``study_digest``), the model id and the sha256 of
its .onnx, and ``preprocessing.PREPROCESSING_VERSION`` (plus, for results that depend on it, the lung
mask's source). Change any of them and the old entry is simply never asked for again; the size cap
ages it out. A study read from files is identified by those files (path, size, modification and change
times, inode) and its header as loaded (UIDs, shape, geometry): a stat per file, so reopening an
analysed study is instant, where hashing every pixel cost 0.4 s on a 300-slice series. Writing a file
changes its change time, so an edited series is a new study; the pixels are still hashed, off the
critical path (``pixels_match``), and a study whose pixels differ from those first analysed under its
identity is re-analysed with ``fresh`` set. A study made in memory is identified by its pixels.

The cache holds patient data (masks, maps, results), so the folders it makes are the user's alone
(0o700, files 0o600; a folder that already existed, e.g. a shared one named in $LUNGLENS_CACHE_DIR,
keeps its mode and the entries live in the private ``results`` folder inside it), entries are written
to a temporary file, flushed to disk and renamed into place (a crash, a power cut or a second LungLens
never leaves a half-written entry), and entry names are hashes that say nothing about the patient.

The cache only ever speeds things up: an entry that cannot be read (empty, truncated, not an archive)
is a miss and is removed, and a cache that cannot be written (read-only, full disk, a path under a
file) is switched off for the session with a note in ``problem``; the analysis goes on without it.
Location: ``platformdirs.user_cache_dir("LungLens")``, or ``$LUNGLENS_CACHE_DIR``; the demo phantom
lives there too, under ``demo``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from inference.preprocessing import PREPROCESSING_VERSION
from inference.study import CTVolume, XRayImage

CACHE_DIR_ENV = "LUNGLENS_CACHE_DIR"
DEFAULT_MAX_BYTES = 2 << 30
ENTRY_SUFFIX = ".npz"
_META = "__meta__"
_RUNS = "__runs__"  # a big uint8 array stored as runs: "<name>__runs__values", "...lengths", "...shape"
RUNS_MIN_BYTES = 1 << 20

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    override = os.environ.get(CACHE_DIR_ENV)
    return Path(override).expanduser() if override else Path(platformdirs.user_cache_dir("LungLens"))


def _header(image: CTVolume | XRayImage) -> list:
    """What the loader read from the headers and what decoding made of it (shape, type), as JSON."""
    if isinstance(image, CTVolume):
        return [image.uid, list(image.hu.shape), str(image.hu.dtype), image.spacing, image.origin,
                np.asarray(image.direction).ravel().tolist(), np.asarray(image.slice_positions).ravel().tolist(),
                list(image.sop_uids)]
    return [image.uid, list(image.pixels.shape), str(image.pixels.dtype), image.spacing, image.invert, image.photometric]


def study_digest(image: CTVolume | XRayImage) -> str:
    """Identity of a loaded study: its files' identity and its header, or its pixels when it has no files."""
    files = image.source_files
    try:
        stats = [os.stat(path) for path in files]
    except OSError:  # a file went away since loading: nothing to vouch for the pixels but the pixels
        stats = []
    if not files or not stats:
        return pixel_digest(image)
    identity = [(path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev) for path, st in zip(files, stats)]
    return hashlib.blake2b(json.dumps(["files", _header(image), identity], default=str).encode(), digest_size=20).hexdigest()


def pixel_digest(image: CTVolume | XRayImage) -> str:
    """Content identity of a loaded study: UID, geometry and a BLAKE2 digest of every pixel."""
    digest = hashlib.blake2b(digest_size=20)
    if isinstance(image, CTVolume):
        geometry = [image.spacing, image.origin, np.asarray(image.direction).ravel().tolist()]
    else:
        geometry = [image.spacing, image.invert, image.photometric]
    pixels = image.values
    digest.update(json.dumps([image.uid, list(pixels.shape), str(pixels.dtype), geometry], default=str).encode())
    digest.update(np.ascontiguousarray(pixels).data)
    return digest.hexdigest()


def cache_key(*parts: object) -> str:
    """Entry name from the parts that determine a result; the preprocessing version is always one of them."""
    return hashlib.sha256(json.dumps([PREPROCESSING_VERSION, *parts], default=str).encode()).hexdigest()


def as_runs(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Big uint8 arrays of long runs (a lung mask) as run values and lengths: reading a 300-slice mask
    back from deflate took 0.3-0.5 s, a repeat of its runs takes a tenth of that."""
    stored = {}
    for name, array in arrays.items():
        flat = array.reshape(-1)
        if array.dtype != np.uint8 or array.nbytes < RUNS_MIN_BYTES:
            stored[name] = array
            continue
        starts = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1])
        if len(starts) > array.size // 16:  # not worth it: keep it as it is
            stored[name] = array
            continue
        stored[f"{name}{_RUNS}values"] = flat[starts]
        stored[f"{name}{_RUNS}lengths"] = np.diff(np.append(starts, flat.size)).astype(np.int64)
        stored[f"{name}{_RUNS}shape"] = np.asarray(array.shape, dtype=np.int64)
    return stored


def from_runs(stored: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    arrays = {name: array for name, array in stored.items() if _RUNS not in name}
    for key in stored:
        if key.endswith(f"{_RUNS}values"):
            name = key[: -len(f"{_RUNS}values")]
            runs = np.repeat(stored[key], stored[f"{name}{_RUNS}lengths"])
            arrays[name] = runs.reshape(tuple(int(n) for n in stored[f"{name}{_RUNS}shape"]))
    return arrays


def _aged(path: Path) -> tuple[float, int, Path] | None:
    """(last use, size, path) of an entry; None when another LungLens removed it meanwhile."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_mtime, status.st_size, path


@dataclass(frozen=True)
class CacheInfo:
    path: Path
    entries: int
    bytes: int

    def to_json(self) -> dict:
        return {"path": str(self.path), "entries": self.entries, "bytes": self.bytes}


class ResultCache:
    """Arrays + a JSON-able dict per key, in one ``.npz`` file each, under ``root/results``."""

    def __init__(self, root: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES, fresh: bool = False) -> None:
        self.root = Path(root) if root is not None else cache_dir()
        self.max_bytes = max_bytes
        # Read nothing, write everything: the re-analysis of a study whose old entries are not to be trusted.
        self.fresh = fresh
        # Why results are not being cached (set at the first failed write), for the analysis' notes.
        self.problem: str | None = None

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    def _path(self, key: str) -> Path:
        return self.results_dir / key[:2] / f"{key}{ENTRY_SUFFIX}"

    def _private_dirs(self, path: Path) -> None:
        """Create the folders down to ``path``; those created here are made 0o700, existing ones are left as they are."""
        for directory in (*reversed(path.relative_to(self.root).parents), path.relative_to(self.root)):
            full = self.root / directory
            if not full.is_dir():
                full.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(full, 0o700)
        if (self.results_dir.stat().st_mode & 0o777) != 0o700:
            os.chmod(self.results_dir, 0o700)

    def get(self, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        """(arrays, meta) or None; an entry that cannot be read, whatever the damage, is a miss and is removed."""
        if self.fresh:
            return None
        path = self._path(key)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = from_runs({name: data[name] for name in data.files if name != _META})
                meta = json.loads(str(data[_META]))
        except FileNotFoundError:
            return None
        except Exception as exc:  # numpy, zipfile and json raise many types for a damaged file
            log.info("unreadable cache entry dropped (%s)", type(exc).__name__)
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        return arrays, meta

    def put(self, key: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Store an entry; a cache that cannot be written is switched off (``problem`` says why), never an error."""
        if self.problem is not None:
            return
        try:
            self._write(self._path(key), arrays, meta)
            self._prune()
        except OSError as exc:
            self.problem = f"results are not cached: the cache folder {self.root} cannot be written ({exc.strerror or type(exc).__name__})"
            log.warning("%s", self.problem)

    def _write(self, path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Temporary file, flushed to disk, renamed into place, and the rename flushed too."""
        self._private_dirs(path.parent)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=ENTRY_SUFFIX)
        try:
            with os.fdopen(handle, "wb") as out:
                np.savez_compressed(out, **as_runs(arrays), **{_META: np.array(json.dumps(meta))})
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def _files(self) -> list[Path]:
        """Entries and temporary files of writes in progress (or interrupted)."""
        if not self.results_dir.is_dir():
            return []
        return [p for p in self.results_dir.glob(f"*/*{ENTRY_SUFFIX}") if p.is_file()]

    def _entries(self) -> list[Path]:
        return [p for p in self._files() if not p.name.startswith(".tmp-")]

    def _prune(self) -> None:
        """Drop least recently used entries while the cache is over its size cap."""
        entries = sorted((e for p in self._entries() if (e := _aged(p)) is not None), key=lambda e: e[0])
        total = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size

    def pixels_match(self, image: CTVolume | XRayImage) -> bool:
        """Whether the pixels behind ``study_digest(image)`` are those first seen under it (recorded then).

        A pass over every pixel: run it off the critical path, after the cached results are shown."""
        key, pixels = cache_key("pixels", study_digest(image)), pixel_digest(image)
        hit = ResultCache(self.root, self.max_bytes).get(key)
        if hit is not None and hit[1].get("pixels") == pixels:
            return True
        self.put(key, {}, {"pixels": pixels})
        return hit is None

    def info(self) -> CacheInfo:
        entries = self._entries()
        return CacheInfo(self.root, len(entries), sum(p.stat().st_size for p in entries))

    def clear(self) -> CacheInfo:
        """Delete every entry (and leftover temporary file); returns what was removed.

        Only files this cache wrote are touched, so a mistaken $LUNGLENS_CACHE_DIR cannot wipe a folder.
        """
        removed = self.info()
        for path in self._files():
            path.unlink(missing_ok=True)
        if self.results_dir.is_dir():
            for directory in sorted(self.results_dir.iterdir(), reverse=True):
                if directory.is_dir() and not any(directory.iterdir()):
                    directory.rmdir()
        return removed
