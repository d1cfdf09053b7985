"""Train / validation split by camera and day.

A camera's pictures of one day are one scene: the same light, the same parked van, often the same object raised
again a few minutes later. Were they split picture by picture, validation would score the model on near copies
of its training images. So whole (camera, day) groups go to one side: train and validation never share a scene
minute. Which groups go to validation is fixed by a hash of the group's name (the same export gives the same
split every time, and a new day does not reshuffle the old ones), taken until the fraction is reached.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Literal

from wall.dataset.models import Example

Split = Literal["train", "val"]


def group_of(example: Example) -> str:
    """'camera/YYYY-MM-DD' (UTC day of the picture)."""
    return f"{example.camera}/{example.frame.taken_at.date().isoformat()}"


def split(examples: list[Example], val_fraction: float) -> dict[str, Split]:
    """Group name → side. With one group only, all of it trains (there is no scene left to validate on)."""
    sizes: dict[str, int] = defaultdict(int)
    for example in examples:
        sizes[group_of(example)] += 1
    order = sorted(sizes, key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    sides: dict[str, Split] = dict.fromkeys(order, "train")
    if len(order) < 2 or val_fraction <= 0:
        return sides
    want, taken = val_fraction * len(examples), 0
    for group in order[:-1]:  # the last stays in train: both sides non-empty
        if taken >= want:
            break
        sides[group] = "val"
        taken += sizes[group]
    return sides
