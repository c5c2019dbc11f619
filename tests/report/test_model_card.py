"""The report's model box: the marked block of the model card the run used, read at report time."""

from __future__ import annotations

import re
from pathlib import Path

from vitiseg.report.model_card import card_block, markdown_subset_html, model_box
from vitiseg.segmentation.artifact import default_model_dir


def test_block_is_read_from_the_card_and_rendered_escaped(tmp_path: Path) -> None:
    card = ("# m\n<!-- report-box:start -->\n**Measured** Dice 0.9 <b>\n\n- first limit\n  continued\n"
            "- see [card](x.md) and `cfg`\n<!-- report-box:end -->\nrest")
    assert card_block(card).startswith("**Measured** Dice 0.9")
    assert card_block("no markers") is None
    html = markdown_subset_html(card_block(card))
    assert html == ("<p><b>Measured</b> Dice 0.9 &lt;b&gt;</p><ul><li>first limit continued</li>"
                    "<li>see card and <code>cfg</code></li></ul>")
    (tmp_path / "README.md").write_text(card)
    box = model_box({"model": {"name": "m", "kind": "unet", "path": str(tmp_path)}})
    assert "<b>Measured</b> Dice 0.9" in box and "rest" not in box


def test_box_degrades_without_a_card() -> None:
    assert "no model card block found" in model_box({"model": {"name": "m", "kind": "unet", "path": "/nowhere"}})
    assert "run.json names no model folder" in model_box({})
    assert "training-free baseline" in model_box({"model": {"name": "classical", "kind": "classical"}})


def test_shipped_card_box_repeats_numbers_of_its_metrics_table() -> None:
    card = (default_model_dir() / "README.md").read_text(encoding="utf-8")
    block = card_block(card)
    assert block is not None and "Known limits" in block
    metrics = card[card.index("<!-- metrics:start -->"):card.index("<!-- metrics:end -->")]
    for number in re.findall(r"Dice (0\.\d{3})", block):  # every Dice in the box is one the card measured
        assert number in metrics, number
