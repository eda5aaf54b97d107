"""Checkpoints: weights-only round trip, resume state, DDP prefixes, and clear errors for bad files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from inference.preprocessing import InputSpec
from inference.training.checkpoint import (
    CheckpointError,
    build_from_checkpoint,
    checkpoint_input_spec,
    load_checkpoint,
    save_checkpoint,
)
from inference.training.networks import build_network, network_config

SPEC = InputSpec(size=64, window=(1500.0, -600.0))


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _trained_one_step(config):
    model = build_network("M4", **{**config, "pretrained": None})
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    loss = model(torch.randn(2, 3, 64, 64), torch.ones(2, 1, 64, 64)).logsumexp(dim=1).mean()
    loss.backward()
    optimizer.step()
    scheduler.step(loss.item())
    return model, optimizer, scheduler


def _save(path, model, config, **extra_fields):
    return save_checkpoint(
        path, model=model, method="M4", model_config=config, classes=("COVID", "NonCOVID"), modality="CT",
        input_spec=SPEC, epoch=7, **extra_fields,
    )


def test_round_trip_loads_weights_only_and_rebuilds_the_same_network(tmp_path):
    config = network_config("M4", backbone="resnet18", pretrained=Path("/nowhere/imagenet.pth"))
    model, optimizer, scheduler = _trained_one_step(config)
    extra = {
        "temperature": np.float32(1.3),
        "training": {"split_file": tmp_path / "split.json"},
        "history": [{"loss": 0.5}],
    }
    path = _save(tmp_path / "run" / "best.pt", model, config, optimizer=optimizer, scheduler=scheduler, extra=extra)
    assert [p.name for p in path.parent.iterdir()] == ["best.pt"]  # written atomically, no temporary left

    raw = torch.load(path, weights_only=True)  # plain types and tensors only
    assert raw["format"] == "lunglens-checkpoint/1"
    checkpoint = load_checkpoint(path)
    assert checkpoint["epoch"] == 7 and checkpoint["classes"] == ["COVID", "NonCOVID"]
    assert checkpoint["extra"]["training"]["split_file"] == str(tmp_path / "split.json")
    assert checkpoint_input_spec(checkpoint) == SPEC
    resumed = torch.optim.Adam(model.parameters(), lr=1e-3)
    resumed.load_state_dict(checkpoint["optimizer"])
    assert resumed.state_dict()["state"][0]["step"] == 1

    rebuilt = build_from_checkpoint(checkpoint)  # the ImageNet file is not needed again
    assert not rebuilt.training
    image, mask = torch.randn(1, 3, 64, 64), torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(image, mask), model.eval()(image, mask))


def test_a_ddp_wrapped_model_is_saved_without_its_module_prefix(tmp_path):
    config = network_config("M4", backbone="resnet18")
    wrapper = torch.nn.Module()
    wrapper.module = build_network("M4", **config)  # what DistributedDataParallel's state_dict looks like
    path = _save(tmp_path / "ddp.pt", wrapper, config)
    assert not any(key.startswith("module.") for key in load_checkpoint(path)["state_dict"])
    build_from_checkpoint(path)


def test_values_a_weights_only_file_cannot_hold_are_refused_when_saving(tmp_path):
    config = network_config("M4", backbone="resnet18")
    with pytest.raises(TypeError, match=r"extra\['sampler'\] holds a set"):
        _save(tmp_path / "bad.pt", build_network("M4", **config), config, extra={"sampler": {1, 2}})
    assert not list(tmp_path.iterdir())


class _RunsCode:
    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_corrupt_foreign_and_malicious_files_give_a_clear_error(tmp_path):
    config = network_config("M4", backbone="resnet18")
    good = _save(tmp_path / "good.pt", build_network("M4", **config), config)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated.pt is not a readable weights-only checkpoint"):
        load_checkpoint(truncated)

    foreign = tmp_path / "imagenet.pth"
    torch.save(build_network("baseline", backbone="resnet18").state_dict(), foreign)
    with pytest.raises(CheckpointError, match="not a LungLens checkpoint"):
        load_checkpoint(foreign)

    marker = tmp_path / "code-ran"
    payload = _RunsCode()
    payload.marker = str(marker)
    malicious = tmp_path / "malicious.pt"
    malicious.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(CheckpointError, match="weights-only"):
        load_checkpoint(malicious)
    assert not marker.exists()

    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "absent.pt")


def test_weights_that_do_not_fit_the_recorded_network_are_reported(tmp_path):
    config = network_config("M4", backbone="resnet18")
    path = _save(tmp_path / "m4.pt", build_network("M4", **config), config)
    checkpoint = load_checkpoint(path)
    checkpoint["model_config"] = {**config, "num_classes": 3}
    with pytest.raises(CheckpointError, match="do not fit a M4 network"):
        build_from_checkpoint(checkpoint)
