"""The shipped model's measured accuracy and known limits, as the report shows them: a marked block of the model
card (``README.md`` of the model folder the run used), read when the report is built, never copied by hand.

The block lies between ``<!-- report-box:start -->`` and ``<!-- report-box:end -->`` and is written in a small
Markdown subset: paragraphs, ``- `` bullet lists, ``**bold**``, ``[text](link)`` (shown as text) and ``code``.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

START, END = "<!-- report-box:start -->", "<!-- report-box:end -->"
CARD_NAME = "README.md"


def card_block(card: str) -> str | None:
    """The text between the markers of a model card, stripped; None when the markers are absent."""
    i, j = card.find(START), card.find(END)
    if i < 0 or j < i:
        return None
    return card[i + len(START):j].strip()


def _inline(text: str) -> str:
    t = html.escape(text, quote=True)
    t = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", t)
    t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", t)


def markdown_subset_html(block: str) -> str:
    """HTML of a block in the module's Markdown subset (every character of the text escaped)."""
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if para:
            out.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in block.splitlines():
        s = line.strip()
        if not s:
            flush()
        elif s.startswith("- "):
            if para:
                flush()
            items.append(s[2:])
        elif items and line.startswith("  "):  # continuation of a bullet
            items[-1] += " " + s
        else:
            if items:
                flush()
            para.append(s)
    flush()
    return "".join(out)


def model_box(run: dict[str, Any]) -> str:
    """The report's model box for a run summary (``run.json``): the card block of ``run["model"]["path"]``, or a
    one-line note saying why there is none (classical baseline, card or block missing)."""
    model = run.get("model") if isinstance(run.get("model"), dict) else {}
    name = html.escape(str(model.get("name", "unknown model")))
    if model.get("kind") == "classical":
        return (f"<aside class='modelbox'><b>Model: {name}</b><p>No model card: the training-free baseline has no "
                "measured accuracy box.</p></aside>")
    path = model.get("path")
    card = Path(str(path)) / CARD_NAME if path else None
    block = None
    if card is not None and card.is_file():
        block = card_block(card.read_text(encoding="utf-8"))
    if block is None:
        where = html.escape(str(card)) if card else "run.json names no model folder"
        return (f"<aside class='modelbox'><b>Model: {name}</b><p>Measured accuracy not shown: no model card block "
                f"found ({where}).</p></aside>")
    return (f"<aside class='modelbox'><b>Model: {name}</b> <span class='note'>(from its model card, "
            f"{html.escape(str(card))})</span>{markdown_subset_html(block)}</aside>")
