"""Why operators reject auto-detected cases, seeded with the hard negatives vendors had to train away (domain.md
§2). Sites extend the list in server.yaml (``review.reject_reasons``); decisions become training labels."""

from __future__ import annotations

DEFAULT_REJECT_REASONS: dict[str, str] = {
    "licensed_stall": "持证摊点/早餐车",
    "abandoned_stall": "已收摊/无人摊点",
    "inside_shop": "店内/橱窗商品",
    "vendor_walking": "流动经过未停留",
    "potted_plants": "盆栽绿植",
    "fixed_object": "石头/雕塑/墙体等固定物",
    "bin_not_overflowing": "垃圾桶未满溢",
    "false_detection": "误检",
    "duplicate": "重复案件",
    "other": "其他",
}
