"""Metrics per skin-tone tertile and per labelled group of images, with exact expected numbers."""

from __future__ import annotations

import pytest

from vitiseg.evaluation.stratify import group_metrics, ita_tertiles, read_groups


def test_ita_tertiles():
    rows = []
    for i, ita in enumerate([-40, -30, -20, 10, 20, 30, 50, 55, 60]):
        tp = 10 if i < 3 else 20
        rows.append({"ita": float(ita), "depig_tp": tp, "depig_fp": 0, "depig_fn": 20 - tp,
                     "depig_dice": 2 * tp / (20 + tp), "depig_iou": tp / 20, "gt_has_lesion": True})
    t = ita_tertiles(rows)
    assert [t["tertiles"][k]["n"] for k in ("T1", "T2", "T3")] == [3, 3, 3]
    assert t["tertiles"]["T1"]["depig_pooled_dice"] == pytest.approx(20 / 30)
    assert t["gap_depig_pooled_dice"] == pytest.approx(1.0 - 20 / 30)
    assert ita_tertiles(rows[:2]) is None


def test_group_metrics_exact(tmp_path):
    def row(id_, tp, fp, fn, ft, fpred):
        return {"id": id_, "depig_tp": tp, "depig_fp": fp, "depig_fn": fn, "depig_dice": 2 * tp / max(2 * tp + fp + fn, 1),
                "depig_iou": tp / max(tp + fp + fn, 1), "gt_has_lesion": tp + fn > 0, "fraction_true": ft,
                "fraction_pred": fpred, "fraction_abs_err": abs(fpred - ft)}

    rows = [row("a", 8, 2, 10, 0.4, 0.2), row("b", 2, 0, 0, 0.1, 0.1), row("c", 0, 6, 30, 0.3, 0.1), row("d", 1, 0, 0, 0.5, 0.6)]
    labels = {"a": "faces", "b": "faces", "c": "scenes"}
    g = group_metrics(rows, labels, "classes")
    assert list(g) == ["(none)", "faces", "scenes"]
    assert g["faces"]["n_images"] == 2
    assert g["faces"]["depig_pooled_dice"] == pytest.approx(20 / 32)  # 2*10 / (20 + 2 + 10)
    assert g["faces"]["fn_share"] == pytest.approx(10 / 40) and g["faces"]["fp_share"] == pytest.approx(2 / 8)
    assert g["scenes"]["depig_pooled_dice"] == 0.0 and g["scenes"]["fn_share"] == pytest.approx(30 / 40)
    assert g["faces"]["fraction_mae"] == pytest.approx(0.1) and g["faces"]["fraction_bias"] == pytest.approx(-0.1)
    assert g["(none)"]["fraction_bias"] == pytest.approx(0.1) and g["(none)"]["fp_share"] == 0.0
    # skin masks: no depigmented Dice per group, skin Dice when present
    sk = group_metrics([{**rows[1], "skin_tp": 3, "skin_fp": 1, "skin_fn": 0, "skin_dice": 6 / 7, "skin_iou": 0.75}],
                          {"b": "x"}, "skin")
    assert "depig_pooled_dice" not in sk["x"] and sk["x"]["skin_pooled_dice"] == pytest.approx(6 / 7)

    idx = tmp_path / "index.csv"
    idx.write_text("id,split,set\na,test,faces\nb,test,faces\n")
    assert read_groups(idx, ["set"]) == {"set": {"a": "faces", "b": "faces"}}
    with pytest.raises(ValueError, match=r"no column \['kind'\]"):
        read_groups(idx, ["set", "kind"])
    (tmp_path / "noid.csv").write_text("name,set\na,faces\n")
    with pytest.raises(ValueError, match="no 'id' column"):
        read_groups(tmp_path / "noid.csv", ["set"])
