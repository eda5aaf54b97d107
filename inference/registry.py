"""The model registry: which models are installed, and which of them can be trusted to run.

Models live in two places: the pack bundled with LungLens (``resources/models``, found through the
package so it works in the frozen desktop bundle) and the user's model directory
(``platformdirs.user_data_dir("LungLens")/models``, or ``$LUNGLENS_MODEL_DIR``). Each model is
``<id>.onnx`` + ``<id>.json`` (manifest) + ``<id>.md`` (model card).

Every model is checked before use: the manifest must load and validate, its id must match the file
name and the .onnx must exist and hash to the manifest's sha256 (a truncated download or a model file
swapped under an old manifest fails here, not as wrong numbers later). The .onnx and any external-
data file it names must be regular files inside the model's folder (not links, not pipes): a model
copied in by hand may not make ONNX Runtime read anything else, and the sha256 covers those files
too (the file's hash, then each external file's in order: ``model_sha256``). A failing model is reported
with its reason and skipped; the others keep working. A missing model card is a note, not a failure:
the card is for people, the manifest is what inference needs.
A user model with the same id as a bundled one takes precedence, so a site can replace a model.
"""

from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

import hashlib
import stat

from inference.manifest import ManifestError, ModelManifest, file_sha256
from inference.onnx_file import OnnxFileError, external_data_locations

MODEL_DIR_ENV = "LUNGLENS_MODEL_DIR"
# Points the bundled pack elsewhere (an empty folder to run with user models only, as the tests do).
BUNDLED_DIR_ENV = "LUNGLENS_BUNDLED_MODEL_DIR"
SOURCES = ("user", "bundled")


class ModelNotFound(LookupError):
    """No usable model answers to the requested id or path."""


@dataclass(frozen=True)
class ModelStatus:
    """One model found on disk: its manifest when readable, and whether it may run.

    ``problem`` is empty for a usable model, otherwise the reason it was skipped;
    ``notes`` are things worth telling the user that do not stop the model.
    """

    id: str
    manifest_path: Path
    source: str
    manifest: ModelManifest | None = None
    problem: str = ""
    notes: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return not self.problem and self.manifest is not None

    @property
    def onnx_path(self) -> Path:
        return self.manifest_path.with_suffix(".onnx")

    @property
    def card_path(self) -> Path:
        return self.manifest_path.with_suffix(".md")

    @property
    def status(self) -> str:
        return "ok" if self.usable else "skipped"

    def to_json(self) -> dict:
        m = self.manifest
        return {
            "id": self.id,
            "version": m.version if m else None,
            "task": m.task if m else None,
            "modality": m.modality if m else None,
            "method": m.method if m else None,
            "classes": list(m.classes) if m else [],
            "status": self.status,
            "reason": self.problem or None,
            "notes": list(self.notes),
            "source": self.source,
            "path": str(self.onnx_path),
        }


def bundled_model_dir() -> Path:
    """``resources/models`` inside the installed (or frozen) package; ``$LUNGLENS_BUNDLED_MODEL_DIR`` overrides it."""
    override = os.environ.get(BUNDLED_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(str(importlib.resources.files("resources"))) / "models"


def user_model_dir() -> Path:
    """Where a user or site installs extra models; ``$LUNGLENS_MODEL_DIR`` overrides it."""
    override = os.environ.get(MODEL_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("LungLens")) / "models"


def model_dirs() -> list[tuple[str, Path]]:
    """(source, directory) in precedence order: user models first, so they can replace bundled ones."""
    return [("user", user_model_dir()), ("bundled", bundled_model_dir())]


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _cached_sha256(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) so a second scan does not re-hash 100 MB."""
    info = path.stat()
    key = (str(path), info.st_size, info.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = file_sha256(path)
    return _SHA_CACHE[key]


class UnsafeModelFile(ValueError):
    """A model file (or a file it names) that LungLens will not let ONNX Runtime open."""


def _plain_file(path: Path, role: str) -> None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeModelFile(f"{role} {path.name} is a symbolic link; copy the file itself into the model folder")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeModelFile(f"{role} {path.name} is not a regular file")


def model_files(onnx_path: Path) -> list[Path]:
    """The .onnx and the external-data files it names, each checked to be a regular file in its folder."""
    _plain_file(onnx_path, "model file")
    try:
        locations = external_data_locations(onnx_path)
    except OnnxFileError as exc:
        raise UnsafeModelFile(f"{onnx_path.name} is not a readable ONNX file ({exc})") from exc
    folder = onnx_path.parent.resolve()
    files = [onnx_path]
    for location in locations:
        target = onnx_path.parent / location
        if Path(location).is_absolute() or folder not in target.resolve().parents:
            raise UnsafeModelFile(f"{onnx_path.name} names external data outside its folder ({location[:80]!r})")
        if not target.exists():
            raise UnsafeModelFile(f"external data file {location[:80]} of {onnx_path.name} is missing")
        _plain_file(target, "external data file")
        files.append(target)
    return files


def model_sha256(onnx_path: Path) -> str:
    """The manifest's sha256 of a model: the .onnx's own hash when it has no external data (every
    shipped model), else the sha256 of its files' hashes joined in order."""
    files = model_files(onnx_path)
    if len(files) == 1:
        return _cached_sha256(onnx_path)
    return hashlib.sha256("".join(_cached_sha256(f) for f in files).encode()).hexdigest()


def inspect_model(manifest_path: Path, source: str = "file") -> ModelStatus:
    """Check one model (manifest + .onnx + card) and say whether it may run, and if not why."""
    manifest_path = Path(manifest_path)
    model_id = manifest_path.stem
    try:
        manifest = ModelManifest.load(manifest_path)
    except ManifestError as exc:
        return ModelStatus(model_id, manifest_path, source, problem=str(exc))
    status = ModelStatus(manifest.id, manifest_path, source, manifest)
    onnx_path = status.onnx_path
    problem = ""
    if manifest.id != model_id:
        problem = f"manifest id {manifest.id!r} does not match its file name {manifest_path.name}"
    elif not onnx_path.exists() and not onnx_path.is_symlink():
        problem = f"model file {onnx_path.name} is missing"
    elif not manifest.sha256:
        problem = "manifest has no sha256, so the model file cannot be verified"
    else:
        try:
            actual = model_sha256(onnx_path)
        except UnsafeModelFile as exc:
            # a damaged file is best reported as not the file the manifest describes
            damaged = onnx_path.is_file() and not onnx_path.is_symlink() and _cached_sha256(onnx_path) != manifest.sha256.lower()
            problem = f"{onnx_path.name} does not match its manifest: corrupt or replaced file ({exc})" if damaged else str(exc)
        except OSError as exc:
            problem = f"cannot read {onnx_path.name}: {exc.strerror or exc}"
        else:
            if actual != manifest.sha256.lower():
                problem = (
                    f"{onnx_path.name} does not match its manifest (sha256 {actual[:12]}..., "
                    f"expected {manifest.sha256[:12]}...): corrupt or replaced file"
                )
    notes = () if status.card_path.is_file() else (f"model card {status.card_path.name} is missing",)
    return ModelStatus(manifest.id, manifest_path, source, manifest, problem, notes)


def _scan_dir(directory: Path, source: str) -> list[ModelStatus]:
    if not directory.is_dir():
        return []
    found = [inspect_model(p, source) for p in sorted(directory.glob("*.json"))]
    with_manifest = {p.stem for p in directory.glob("*.json")}
    for onnx_path in sorted(directory.glob("*.onnx")):
        if onnx_path.stem not in with_manifest:
            found.append(
                ModelStatus(
                    onnx_path.stem,
                    onnx_path.with_suffix(".json"),
                    source,
                    problem=f"no manifest {onnx_path.stem}.json beside {onnx_path.name}",
                )
            )
    return found


def discover_models(dirs: list[tuple[str, Path]] | None = None) -> list[ModelStatus]:
    """Every model in the model directories, usable or not; a later one with a taken id is shadowed."""
    statuses: list[ModelStatus] = []
    winners: dict[str, ModelStatus] = {}
    for source, directory in model_dirs() if dirs is None else dirs:
        for status in _scan_dir(Path(directory), source):
            winner = winners.get(status.id)
            if winner is not None and status.usable:
                status = ModelStatus(
                    status.id,
                    status.manifest_path,
                    status.source,
                    status.manifest,
                    f"shadowed by the {winner.source} model {winner.onnx_path}",
                    status.notes,
                )
            elif status.usable:
                winners[status.id] = status
            statuses.append(status)
    return statuses


def usable_models(statuses: list[ModelStatus] | None = None) -> list[ModelStatus]:
    return [s for s in (discover_models() if statuses is None else statuses) if s.usable]


def find_model(id_or_path: str, statuses: list[ModelStatus] | None = None) -> ModelStatus:
    """A usable model by id, or by the path of its .onnx or .json (for evaluating a model not installed)."""
    candidate = Path(id_or_path)
    if candidate.suffix in (".onnx", ".json") and candidate.exists():
        status = inspect_model(candidate.with_suffix(".json"))
        if not status.usable:
            raise ModelNotFound(f"model {candidate.name} cannot be used: {status.problem}")
        return status
    statuses = discover_models() if statuses is None else statuses
    same_id = [s for s in statuses if s.id == id_or_path]
    for status in same_id:
        if status.usable:
            return status
    if same_id:
        raise ModelNotFound(f"model {id_or_path} cannot be used: {same_id[0].problem}")
    known = ", ".join(sorted(s.id for s in statuses if s.usable)) or "none"
    raise ModelNotFound(f"no model {id_or_path!r}; usable models: {known}")
