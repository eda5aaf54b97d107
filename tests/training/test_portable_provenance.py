"""Export writes manifests and cards that travel: the training machine's paths become data set and run names."""

from __future__ import annotations

import json
from pathlib import Path

from inference.training.export import export_checkpoint
from tests.test_model_pack_paths import ABSOLUTE
from tests.training.test_export import _checkpoint


def test_exported_manifest_and_card_name_data_and_runs_without_local_paths(tmp_path):
    extra = {
        "metrics": {"val": {"dice_mean": 0.9, "evaluated_on": "/srv/site/data/xray"}},
        "training": {"data": "/home/alice/data/xray", "split_rule": "groups", "split_file": "/home/alice/runs/xr-unet2d/split.json",
                     "pretrained": "backbone trained on /home/alice/data/xray, its training split only"},
        "config": {"out": "/home/alice/runs/xr-unet2d", "pretrained": "/home/alice/runs/xr-baseline/best.pt"},
    }
    report = export_checkpoint(_checkpoint(tmp_path, "unet2d", "XR", extra=extra), tmp_path / "models")
    manifest_text = Path(report.manifest_path).read_text()
    card = Path(report.card_path).read_text()
    assert ABSOLUTE.findall(manifest_text) == [] and ABSOLUTE.findall(card) == []
    training = json.loads(manifest_text)["training"]
    assert training["data"] == "xray" and training["config"]["pretrained"] == "xr-baseline/best.pt"
    assert training["split_file"] == "xr-unet2d/split.json"
    assert "Training data: xray." in card
