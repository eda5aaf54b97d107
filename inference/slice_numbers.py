"""Slice numbers as a PACS shows them, so a per-slice curve can be matched with the PACS viewer.

A CT volume's array runs along the slice normal (feet to head for an axial series), which is not how
anyone numbers slices. The number shown for a slice is its InstanceNumber where every slice has a
distinct one (what PACS viewers show), else its rank from head to foot (1 = the most superior slice).
The overlay, the curves, the key slices, the report and the JSON all take their number from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.study import CTVolume, Image

BY_INSTANCE_NUMBER = "InstanceNumber"
BY_POSITION = "position, head to foot"


@dataclass(frozen=True)
class SliceNumbering:
    """The shown number and the SOPInstanceUID of each slice, in array order; ``rule`` says where the
    numbers come from (InstanceNumber or position)."""

    numbers: tuple[int, ...]
    sop_uids: tuple[str, ...]
    rule: str

    @property
    def count(self) -> int:
        return len(self.numbers)

    def number(self, index: int) -> int:
        return self.numbers[index]

    def index_of(self, number: float) -> int:
        """The array index of the slice whose number is nearest to ``number`` (a click on a curve)."""
        return int(np.argmin(np.abs(np.asarray(self.numbers, dtype=float) - number)))

    def label(self, index: int) -> str:
        """'22/64', or '122 (22/64)' when the numbers do not run 1..n (the position then follows)."""
        number, count = self.numbers[index], self.count
        if sorted(self.numbers) == list(range(1, count + 1)):
            return f"{number}/{count}"
        rank = sorted(self.numbers).index(number) + 1
        return f"{number} ({rank}/{count})"

    def to_json(self) -> list[dict]:
        """One entry per slice in array order (the order of ``per_slice`` rows): number and SOPInstanceUID."""
        return [
            {"number": n, "sop_instance_uid": self.sop_uids[i] if i < len(self.sop_uids) else None}
            for i, n in enumerate(self.numbers)
        ]


def _head_to_foot_ranks(volume: CTVolume) -> tuple[int, ...]:
    """1 for the most superior slice (largest LPS z), counting down the body."""
    height = np.asarray(volume.slice_positions, dtype=float).reshape(-1, 3)[:, 2]
    if len(height) != volume.shape[0]:
        height = -np.arange(volume.shape[0], dtype=float) * float(volume.direction[2, 2])
    order = np.argsort(-height, kind="stable")
    ranks = np.empty(len(order), dtype=int)
    ranks[order] = np.arange(1, len(order) + 1)
    return tuple(int(r) for r in ranks)


def slice_numbering(image: Image) -> SliceNumbering:
    """How the slices of ``image`` are numbered (an X-ray is image 1)."""
    if not isinstance(image, CTVolume):
        return SliceNumbering((1,), (), BY_INSTANCE_NUMBER)
    stated = image.instance_numbers
    if len(stated) == image.shape[0] and None not in stated and len(set(stated)) == len(stated):
        return SliceNumbering(tuple(int(n) for n in stated), tuple(image.sop_uids), BY_INSTANCE_NUMBER)
    return SliceNumbering(_head_to_foot_ranks(image), tuple(image.sop_uids), BY_POSITION)
