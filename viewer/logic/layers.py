"""The overlay layer model: label masks and heatmaps drawn over every view. No Qt here.

Layers are frozen: a change (opacity, visibility, colormap...) makes a new layer through
``LayerList.update``, and every listener is told which layer replaced which. The Qt side (views,
layer panel) only listens, so models, scripts and tests drive overlays with plain Python::

    from viewer.logic.layers import HeatmapLayer, LabelLayer
    window.layers.add(LabelLayer("lung mask", mask_uint8, label_names={1: "right lung", 2: "left lung"}))
    window.layers.add(HeatmapLayer("Grad-CAM M4 COVID", cam_float01, colormap="jet", threshold=0.3))
    window.layers.add(HeatmapLayer("Grad-CAM M1 COVID", LazyMap(shape, compute_uint8)))  # built when first shown
    window.layers.add(HeatmapLayer("Grad-CAM M4", CoarseCam(...)))  # sliced per pane on demand (viewer.logic.cam_display)
    window.layers.update("lung mask", opacity=0.3, visible=False)
    window.layers.remove("lung mask")

A layer has the shape of the open image: (z, y, x) for CT, (y, x) for an X-ray. MPR views slice it
exactly as they slice the image, so a mask lines up in axial, coronal and sagittal panes alike.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterator, Literal, Mapping

import numpy as np

from viewer.logic.colormaps import COLORMAPS

RGB = tuple[int, int, int]

# Right lung warm, left lung cool (labels 1 and 2 of the lung-mask contract), then distinct hues.
LABEL_PALETTE: tuple[RGB, ...] = (
    (0, 0, 0), (235, 94, 52), (52, 152, 235), (80, 200, 120), (240, 200, 60),
    (190, 90, 220), (60, 210, 210), (240, 120, 180), (150, 150, 150),
)
LUNG_LABEL_NAMES: Mapping[int, str] = {1: "right lung", 2: "left lung"}


def _as_c_array(values: np.ndarray, dtype: type) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=dtype)


def quantised(values: np.ndarray) -> np.ndarray:
    """A float map in [0, 1] to 0..255 steps (clipped), the index into a heatmap table."""
    scaled = np.multiply(values, np.float32(255.0), dtype=np.float32)
    scaled += np.float32(0.5)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    return scaled.astype(np.uint8)


def _heatmap_steps(values: np.ndarray) -> np.ndarray:
    """A map as C-contiguous uint8 steps; a float volume is quantised slice by slice (one float copy of
    a slice at a time, not of the volume)."""
    values = np.asarray(values)
    if values.dtype == np.uint8:
        return _as_c_array(values, np.uint8)
    if values.ndim < 3:
        return quantised(values)
    steps = np.empty(values.shape, dtype=np.uint8)
    for index, plane in enumerate(values):
        steps[index] = quantised(plane)
    return steps


@dataclass(frozen=True, eq=False)
class LabelLayer:
    """An integer label mask (0 = nothing) shown with one colour per label value.

    labels: uint8 array shaped like the image (bool and small ints are converted).
    colours: RGB per label value; labels without an entry take ``LABEL_PALETTE``.
    label_names: what each value means, shown in the layer panel (e.g. 1 "right lung").
    opacity: 0..1 for the whole layer.
    contour: draw only the edge of each region, so the tissue under a mask stays readable.
    """

    name: str
    labels: np.ndarray
    colours: Mapping[int, RGB] = field(default_factory=dict)
    label_names: Mapping[int, str] = field(default_factory=dict)
    opacity: float = 0.4
    visible: bool = True
    contour: bool = False

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels)
        if labels.dtype != np.uint8:
            if labels.size and (labels.min() < 0 or labels.max() > 255):
                raise ValueError(f"layer {self.name!r}: label values must be 0..255")
            labels = labels.astype(np.uint8)
        object.__setattr__(self, "labels", _as_c_array(labels, np.uint8))
        object.__setattr__(self, "opacity", _unit("opacity", self.opacity))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.labels.shape

    def colour(self, label: int) -> RGB:
        return tuple(self.colours.get(label, LABEL_PALETTE[label % len(LABEL_PALETTE)]))  # type: ignore[return-value]

    @cached_property
    def present_labels(self) -> tuple[int, ...]:
        """Label values that occur, without 0; computed once per layer (the layer panel asks, on the GUI
        thread). A mask of a few labels (a lung mask: 1 and 2) is searched value by value, from the middle
        of the volume out, stopping at the first hit: a bincount widens a 300-slice mask to 630 MB of int64
        and took a second. More labels are counted in chunks."""
        top = int(self.labels.max()) if self.labels.size else 0
        flat, chunk = self.labels.reshape(-1), 1 << 20
        if top <= 8:
            middle = flat.size // 2
            starts = sorted(range(0, flat.size, chunk), key=lambda start: abs(start - middle))
            return tuple(v for v in range(1, top + 1)
                         if v == top or any((flat[start:start + chunk] == v).any() for start in starts))
        counts = np.zeros(256, dtype=np.int64)
        for start in range(0, flat.size, chunk):
            counts += np.bincount(flat[start:start + chunk], minlength=256)
        return tuple(int(v) for v in np.flatnonzero(counts[1:]) + 1)


class LazyMap:
    """A heatmap computed the first time a view draws it, then kept: uint8 steps, 255 = 1.0.

    Grad-CAM volumes of every class of every model would take gigabytes on a 500-slice study;
    built on demand, only the maps someone looks at cost memory. ``compute`` may run on any thread
    (a worker can build the maps shown by default before the GUI asks); it runs once.
    """

    def __init__(self, shape: tuple[int, ...], compute: Callable[[], np.ndarray]) -> None:
        self._shape = tuple(shape)
        self._compute: Callable[[], np.ndarray] | None = compute
        self._array: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def ready(self) -> bool:
        return self._array is not None

    def array(self) -> np.ndarray:
        with self._lock:
            if self._array is None:
                array = _as_c_array(self._compute(), np.uint8)
                if array.shape != self._shape:
                    raise ValueError(f"lazy map computed shape {array.shape}, announced {self._shape}")
                self._array, self._compute = array, None
            return self._array


@dataclass(frozen=True, eq=False)
class HeatmapLayer:
    """A map in [0, 1] (a probability or a Grad-CAM) coloured by a colormap.

    values: shaped like the image; uint8 steps where 255 = 1.0, or float (clipped to [0, 1] and
    stored as those steps: the colormap has 256 entries anyway, a float32 copy takes four times the
    memory, and every scroll step would quantise it again), or a map object with ``shape`` and
    ``array()`` (a LazyMap of steps), which may also cut a pane's slice itself (``plane_slice``).
    threshold: values below it are transparent, so a CAM does not tint the whole slice.
    """

    name: str
    values: np.ndarray | LazyMap
    colormap: str = "inferno"
    opacity: float = 0.5
    threshold: float = 0.2
    visible: bool = True

    def __post_init__(self) -> None:
        if self.colormap not in COLORMAPS:
            raise ValueError(f"layer {self.name!r}: unknown colormap {self.colormap!r}; known: {', '.join(COLORMAPS)}")
        if not hasattr(self.values, "array"):
            object.__setattr__(self, "values", _heatmap_steps(self.values))
        object.__setattr__(self, "opacity", _unit("opacity", self.opacity))
        object.__setattr__(self, "threshold", _unit("threshold", self.threshold))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    def volume(self) -> np.ndarray:
        """The map as uint8 steps; a LazyMap is computed here on first use."""
        return self.values.array() if hasattr(self.values, "array") else self.values

    def plane_slice(self, plane, index: int) -> np.ndarray:
        """uint8 steps of slice ``index`` of a pane's ``plane`` (``viewer.logic.planes.Plane``)."""
        if hasattr(self.values, "plane_slice"):
            return self.values.plane_slice(plane, index)
        return plane.view(self.volume())[index]


def _unit(what: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be within 0..1, got {value}")
    return value


Layer = LabelLayer | HeatmapLayer


@dataclass(frozen=True)
class LayerEvent:
    """What happened to the list: ``layer`` is the layer now in place (the removed one for "removed")."""

    kind: Literal["added", "removed", "changed", "moved", "cleared"]
    layer: Layer | None
    index: int
    old: Layer | None = None


Listener = Callable[[LayerEvent], None]


class LayerList:
    """The ordered overlays of one open image (first = drawn lowest), keyed by unique name."""

    def __init__(self, shape: tuple[int, ...] | None = None) -> None:
        self._layers: list[Layer] = []
        self._listeners: list[Listener] = []
        self._shape = shape

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The image shape every layer must have; None accepts any shape (no image open)."""
        return self._shape

    def reset(self, shape: tuple[int, ...] | None) -> None:
        """Drop every layer and expect a new image shape (a new series was opened)."""
        self._shape = shape
        if self._layers:
            self._layers.clear()
            self._emit(LayerEvent("cleared", None, -1))

    def connect(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` on every change; returns a function that disconnects it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def add(self, layer: Layer, index: int | None = None) -> Layer:
        """Add on top, or at ``index`` (0 = drawn lowest)."""
        self._check(layer)
        if layer.name in self:
            raise ValueError(f"a layer named {layer.name!r} already exists; remove it or pick another name")
        index = len(self._layers) if index is None else max(0, min(index, len(self._layers)))
        self._layers.insert(index, layer)
        self._emit(LayerEvent("added", layer, index))
        return layer

    def remove(self, name: str) -> Layer:
        index = self.index(name)
        layer = self._layers.pop(index)
        self._emit(LayerEvent("removed", layer, index))
        return layer

    def update(self, name: str, /, **changes) -> Layer:
        """Replace layer ``name`` by a copy with ``changes`` (e.g. opacity=0.3); returns the new layer."""
        index = self.index(name)
        old = self._layers[index]
        new = dataclasses.replace(old, **changes)
        if new.name != old.name and new.name in self:
            raise ValueError(f"a layer named {new.name!r} already exists")
        self._check(new)
        self._layers[index] = new
        self._emit(LayerEvent("changed", new, index, old))
        return new

    def move(self, name: str, index: int) -> None:
        layer = self._layers.pop(self.index(name))
        index = max(0, min(index, len(self._layers)))
        self._layers.insert(index, layer)
        self._emit(LayerEvent("moved", layer, index))

    def clear(self) -> None:
        self.reset(self._shape)

    def index(self, name: str) -> int:
        for i, layer in enumerate(self._layers):
            if layer.name == name:
                return i
        raise KeyError(f"no layer named {name!r}; layers: {', '.join(self.names) or 'none'}")

    def unique_name(self, base: str) -> str:
        """``base``, or ``base (2)``, ``base (3)``... whichever is free."""
        name, n = base, 2
        while name in self:
            name, n = f"{base} ({n})", n + 1
        return name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self._layers)

    def __getitem__(self, key: str | int) -> Layer:
        return self._layers[key] if isinstance(key, int) else self._layers[self.index(key)]

    def __contains__(self, name: object) -> bool:
        return any(layer.name == name for layer in self._layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(tuple(self._layers))

    def __len__(self) -> int:
        return len(self._layers)

    def _check(self, layer: Layer) -> None:
        if self._shape is not None and tuple(layer.shape) != tuple(self._shape):
            raise ValueError(
                f"layer {layer.name!r} has shape {tuple(layer.shape)} but the open image is {tuple(self._shape)}"
            )

    def _emit(self, event: LayerEvent) -> None:
        for listener in tuple(self._listeners):
            listener(event)
