"""The largest study LungLens opens, checked from headers before any pixel memory is taken.

A file's header can claim anything: an 8.6 kB JPEG declaring 9000x9000 pixels, a 600 kB DICOM
declaring 2,147,483,647 frames. Each claim is checked against these limits first; what lies beyond
them is skipped with a reason (never decoded), so memory stays bounded whatever a folder holds.
The README states the same numbers.
"""

from __future__ import annotations

from inference.loading.control import LoadError

MAX_IMAGE_PIXELS = 8192 * 8192  # one radiograph or one CT slice: 67 megapixels (268 MB as float32)
MAX_FRAMES = 4096  # frames in one multi-frame DICOM file
MAX_VOLUME_VOXELS = 1 << 30  # one CT volume: 2 GiB as int16 (e.g. 4096 slices of 512x512)
MAX_FILES = 100_000  # files read under one folder; the rest are listed as not read
BEYOND_PIXEL_LIMIT = f"more than LungLens opens ({MAX_IMAGE_PIXELS / 1e6:.0f} megapixels per image)"


def image_size_problem(rows: int, columns: int, frames: int = 1) -> str | None:
    """Why an image of this declared size is not opened, or None when it is within the limits."""
    if rows <= 0 or columns <= 0:
        return f"the image size {rows}x{columns} is not valid"
    if rows * columns > MAX_IMAGE_PIXELS:
        return f"the image is {columns}x{rows} pixels, {BEYOND_PIXEL_LIMIT}"
    if frames > MAX_FRAMES:
        return f"the file declares {frames} frames, more than LungLens opens ({MAX_FRAMES})"
    return None


def check_volume_size(slices: int, rows: int, columns: int) -> None:
    """Raise LoadError when a CT volume of this size would exceed the voxel limit."""
    if slices * rows * columns > MAX_VOLUME_VOXELS:
        raise LoadError(
            f"the volume has {slices} slices of {columns}x{rows} pixels, more than LungLens opens "
            f"({MAX_VOLUME_VOXELS / 1e9:.2f} billion voxels)"
        )
