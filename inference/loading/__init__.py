"""Opening studies: a fast header scan into series, then pixels to int16 HU volumes or radiographs.

    scan = scan_path(folder)                # headers only: series + skipped files with reasons
    preview = read_first_image(scan.series[0])   # one slice, before the rest has loaded
    image = load_series(scan.series[0])     # CTVolume (int16 HU + geometry) or XRayImage
    images, skipped = load_path(folder)     # both steps; broken series become skipped entries
    study = load_study(folder)              # the same, with the SEG/SR results found beside the images
"""

from inference.loading.control import LoadCancelled, LoadError
from inference.loading.dicom_header import InstanceHeader, PixelInfo
from inference.loading.geometry import SlicePlacement, StackGeometry, stack_geometry
from inference.loading.load import LoadedStudy, load_path, load_series, load_study, read_first_image
from inference.loading.scan import scan_path

__all__ = [
    "InstanceHeader",
    "LoadedStudy",
    "LoadCancelled",
    "LoadError",
    "PixelInfo",
    "SlicePlacement",
    "StackGeometry",
    "load_path",
    "load_series",
    "load_study",
    "read_first_image",
    "scan_path",
    "stack_geometry",
]
