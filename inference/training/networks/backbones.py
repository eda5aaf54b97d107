"""timm feature extractors for the classifiers, and loading a local checkpoint into them.

No model hub is reachable where LungLens trains, so ``pretrained`` is always a path to a file the
user brought: an ImageNet checkpoint (torchvision or timm format, optionally wrapped in
``state_dict``/``model`` and with a DDP ``module.`` prefix), or a LungLens training checkpoint whose
network has the same backbone (e.g. a ResNet50 trained on chest X-rays to start a CT model: a
domain-near start where ImageNet weights are out of reach). For the latter the backbone's tensors
are found by their key suffix under whatever the network called the backbone, and must all fit. timm reads it with ``weights_only=True`` (a weights file can never run code),
applies its own per-architecture converters (e.g. torchvision DenseNet key names) and drops the
ImageNet classifier. timm only logs keys it could not place, so we check the result ourselves: every
tensor of the backbone must now hold a value that came from the file, or the file is for another
architecture and the user gets an error instead of a silently random backbone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import timm
import timm.models
import torch
from torch import nn


class PretrainedWeightsError(ValueError):
    """A local ImageNet checkpoint that is missing, unreadable or made for another architecture."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights-only checkpoint file, unwrapped and without DDP prefixes."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(f"no pretrained checkpoint file at {path}")
    try:
        state = timm.models.load_state_dict(str(path), weights_only=True)
    except Exception as exc:  # any unpickling failure means the file is not a plain weights file
        raise PretrainedWeightsError(
            f"{path.name} is not a weights-only torch checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    tensors = {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise PretrainedWeightsError(f"{path.name} holds no tensors")
    return tensors


def _fingerprint(tensor: torch.Tensor) -> tuple:
    values = tensor.detach().float()
    return tuple(values.shape), values.sum().item(), values.abs().sum().item()


def _require_loaded(
    model: nn.Module, weights: Mapping[str, torch.Tensor], name: str, path: Path, in_chans: int
) -> None:
    """Fail unless every backbone tensor now equals a tensor of the file (compared by value, not name,
    because timm's converters rename keys). An adapted stem (in_chans != 3) is allowed to differ."""
    available = {_fingerprint(tensor) for tensor in weights.values()}
    own = [(key, tensor) for key, tensor in model.state_dict().items() if not key.endswith("num_batches_tracked")]
    if in_chans != 3:
        own = own[1:]
    missing = [key for key, tensor in own if _fingerprint(tensor) not in available]
    if missing:
        raise PretrainedWeightsError(
            f"{path.name} does not fit backbone {name}: {len(missing)} of {len(own)} tensors were not found "
            f"in it (first: {', '.join(missing[:3])}); is it a checkpoint of another architecture?"
        )


def _lunglens_backbone(path: Path, model: nn.Module, name: str) -> dict[str, torch.Tensor] | None:
    """The ``name`` backbone's tensors from a LungLens training checkpoint, or None for other files."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not a weights-only torch file: read_state_dict reports it
        return None
    if not (isinstance(saved, dict) and str(saved.get("format", "")).startswith("lunglens-checkpoint")):
        return None
    state, own = saved["state_dict"], model.state_dict()
    anchor = next(iter(own))
    for key in state:
        if key.endswith(anchor):
            prefix = key[: -len(anchor)]
            found = {k: state.get(prefix + k) for k in own}
            if all(t is not None and t.shape == own[k].shape for k, t in found.items()):
                return found
    raise PretrainedWeightsError(
        f"{path.name} is a LungLens {saved.get('method')} checkpoint without a {name} backbone"
    )


def create_backbone(
    name: str,
    *,
    pretrained: str | Path | None = None,
    out_indices: Sequence[int] = (-1,),
    in_chans: int = 3,
) -> nn.Module:
    """A timm feature extractor returning the maps at ``out_indices`` (no pooling, no classifier).

    ``features_only`` keeps only the modules up to the last requested map, so no parameter is
    unused (DistributedDataParallel and ONNX export both want that).
    """
    options = dict(features_only=True, out_indices=tuple(out_indices), in_chans=in_chans)
    if pretrained is None:
        return timm.create_model(name, pretrained=False, **options)
    path = Path(pretrained)
    model = timm.create_model(name, pretrained=False, **options)
    own_kind = _lunglens_backbone(path, model, name) if path.is_file() else None
    if own_kind is not None:
        model.load_state_dict(own_kind)
        return model
    weights = read_state_dict(path)
    model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": str(path)}, **options)
    _require_loaded(model, weights, name, path, in_chans)
    return model


def _pretrained_by_backbone(pretrained: str | Path | Mapping[str, str | Path] | None, names: Sequence[str]) -> dict:
    """Accept one file for a single-backbone network, a {backbone: file} mapping for several."""
    if pretrained is None:
        return {}
    if isinstance(pretrained, Mapping):
        return dict(pretrained)
    if len(names) != 1:
        raise PretrainedWeightsError(
            f"this network has {len(names)} backbones ({', '.join(names)}): give pretrained as {{backbone name: file}}"
        )
    return {names[0]: pretrained}


class BackboneMaps(nn.Module):
    """One or several timm backbones on the same image; returns each one's last feature map.

    ``pretrained`` is one local ImageNet checkpoint file for a single backbone, or a mapping
    {backbone name: file}; backbones without a file start from random weights.
    """

    def __init__(
        self,
        names: Sequence[str],
        *,
        pretrained: str | Path | Mapping[str, str | Path] | None = None,
        in_chans: int = 3,
    ):
        super().__init__()
        pretrained = _pretrained_by_backbone(pretrained, names)
        unknown = set(pretrained) - set(names)
        if unknown:
            raise PretrainedWeightsError(
                f"pretrained weights given for {sorted(unknown)}, which are not among {list(names)}"
            )
        self.backbones = nn.ModuleList(
            create_backbone(name, pretrained=pretrained.get(name), in_chans=in_chans) for name in names
        )

    @property
    def channels(self) -> list[int]:
        return [backbone.feature_info.channels()[-1] for backbone in self.backbones]

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        return [backbone(image)[-1] for backbone in self.backbones]
