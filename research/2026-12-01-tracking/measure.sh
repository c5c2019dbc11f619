#!/usr/bin/env bash
# Every figure of README.md in this folder, from scratch (about 35 min on 2 CPU cores).
#   bash research/2026-12-01-tracking/measure.sh [WORK_DIR] [SKIN_ROOT]
# Calibration cohort (seed 101, 20 patients, 384-px photos): pattern thresholds and the variants that were tried.
# Evaluation cohort (seed 202, 30 patients, 384 px): the closing figures; never used to choose anything.
# Check at 768 px (seed 303, 8 patients of the ruxolitinib_wk12 preset).
set -euo pipefail
W=${1:-/tmp/tracking-measure}
SKIN=${2:-../shared/data/skin}
HERE=$(dirname "$0")
mkdir -p "$W"
cohort() {  # cohort NAME SEED PATIENTS PRESET
  [ -d "$W/$1" ] || vitiseg synth cohort --skin-root "$SKIN" --out "$W/$1" --seed "$2" --patients "$3" \
    --preset "${4:-small}" --camera-motion 1 --repigmentation patterns
}
acc() { python scripts/tracking_accuracy.py "$@"; }

cohort CAL 101 20
cohort EVAL 202 30

# 1. calibration: pattern thresholds (defaults of the thresholds do not matter here: border_auc is recorded)
acc --visits "$W/CAL" --truth "$W/CAL_truth" --masks truth --out "$W/CAL_eval" | tee "$W/cal.md"
python "$HERE/calibrate_patterns.py" "$W/CAL_eval/patches.csv" | tee -a "$W/cal.md"
# variants tried, on the calibration cohort
printf 'tracking:\n  refine: none\n' > "$W/refine_none.yaml"
printf 'tracking:\n  face_warp: piecewise_affine\n' > "$W/piecewise.yaml"
acc --visits "$W/CAL" --truth "$W/CAL_truth" --masks truth --config "$W/refine_none.yaml" | tee "$W/cal_refine_none.md"
acc --visits "$W/CAL" --truth "$W/CAL_truth" --masks truth --regions face --config "$W/piecewise.yaml" \
  | tee "$W/cal_piecewise.md"

# 2. evaluation: true masks (registration and the change map alone), estimated and true transform
acc --visits "$W/EVAL" --truth "$W/EVAL_truth" --masks truth --out "$W/EVAL_eval" | tee "$W/eval.md"
acc --visits "$W/EVAL" --truth "$W/EVAL_truth" --masks truth --transform true | tee "$W/eval_true_transform.md"

# 3. evaluation, end to end on the first 10 patients: the shipped model's masks from `vitiseg run`
mkdir -p "$W/EVAL10"
head -1 "$W/EVAL/visits.csv" > "$W/EVAL10/visits.csv"
for p in P001 P002 P003 P004 P005 P006 P007 P008 P009 P010; do
  cp -r "$W/EVAL/$p" "$W/EVAL10/$p"
  grep "^$p," "$W/EVAL/visits.csv" >> "$W/EVAL10/visits.csv"
done
vitiseg run "$W/EVAL10" --out "$W/EVAL10_run" --no-report --no-progress
acc --visits "$W/EVAL10" --truth "$W/EVAL_truth" --run "$W/EVAL10_run" | tee "$W/eval10_model.md"
acc --visits "$W/EVAL10" --truth "$W/EVAL_truth" --masks truth | tee "$W/eval10_truth.md"

# 4. evaluation at 768 px (true masks)
cohort EVAL768 303 8 ruxolitinib_wk12
acc --visits "$W/EVAL768" --truth "$W/EVAL768_truth" --masks truth | tee "$W/eval768.md"
