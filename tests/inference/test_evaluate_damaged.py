"""``lunglens evaluate`` on a site's real-world folders: damaged or hostile images are skipped with a
reason and never counted, and masks pair with their own image even when names have several dots."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from inference.cli import main
from inference.preprocessing import InputSpec
from inference.testing.tiny_models import classifier_onnx, install, segmenter_onnx


def png_declaring(width: int, height: int) -> bytes:
    """A 69-byte PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


def run_json(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_damaged_images_are_skipped_with_reasons_and_not_counted(capsys, tmp_path):
    model = install(tmp_path / "models", classifier_onnx(32, [-2.0, 2.0]), "bright")
    data = tmp_path / "data"
    for folder, value in (("NonCOVID", 30), ("COVID", 220)):
        (data / folder).mkdir(parents=True)
        for k in range(2):
            Image.fromarray(np.full((40, 40), value, np.uint8)).save(data / folder / f"ok{k}.png")
    (data / "NonCOVID" / "bomb.png").write_bytes(png_declaring(30000, 30000))
    jpeg = io.BytesIO()
    Image.fromarray(np.full((64, 64), 220, np.uint8)).save(jpeg, "JPEG")
    (data / "NonCOVID" / "cut.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    stream = io.BytesIO()
    Image.fromarray(np.full((64, 64), 220, np.uint8)).save(stream, "PNG")
    (data / "NonCOVID" / "cut.png").write_bytes(stream.getvalue()[:60])
    report = run_json(capsys, "evaluate", "--model", str(model.onnx_path), "--data", str(data), "--json")
    assert report["n"] == 4 and report["metrics"]["accuracy"] == pytest.approx(1.0)
    skipped = {entry["path"].rsplit("/", 1)[-1]: entry["reason"] for entry in report["skipped"]}
    assert set(skipped) == {"bomb.png", "cut.jpg", "cut.png"}
    assert "megapixels per image" in skipped["bomb.png"]


def test_masks_pair_by_the_whole_name_not_up_to_the_first_dot(capsys, tmp_path):
    spec = InputSpec(size=32, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    model = install(tmp_path / "models", segmenter_onnx(32, 2, (70 / 255, 120 / 255), channels=3), "seg2d",
                    task="segmentation", modality="XR", method="unet2d", spec=spec)
    data = tmp_path / "seg"
    (data / "images").mkdir(parents=True)
    (data / "masks").mkdir()
    image = np.full((32, 32), 230, np.uint8)
    image[:, :8] = image[:, 24:] = 85
    right = np.zeros((32, 32), np.uint8)
    right[:, :8], right[:, 24:] = 1, 2
    wrong = np.zeros((32, 32), np.uint8)
    wrong[:, 8:24] = 1
    wrong[0, 0] = 2
    # Names as in the COVID-19 Radiography Database's figures: one prefix up to the first dot for all.
    for name, mask in (("1-s2.0-S0085-gr1_lrg-a", right), ("1-s2.0-S0085-gr1_lrg-b", right), ("1-s2.0-S0099-gr2", wrong)):
        Image.fromarray(image if mask is right else 255 - image).save(data / "images" / f"{name}.png")
        Image.fromarray(mask).save(data / "masks" / f"{name}.png")
    report = run_json(capsys, "evaluate", "--model", str(model.onnx_path), "--data", str(data), "--json")
    dice = {row["file"]: row["dice"]["lung"] for row in report["per_image"]}
    assert dice["1-s2.0-S0085-gr1_lrg-a.png"] == pytest.approx(1.0)
    assert dice["1-s2.0-S0085-gr1_lrg-b.png"] == pytest.approx(1.0)
