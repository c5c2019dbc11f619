#!/usr/bin/env bash
# Stage 9 of the shipped model in ONE call of the device tool (prepared in session 7; not run yet).
#
# Here, once:   python research/2026-11-30-gpu-stage9-prepared/pack_for_device.py          # data + wheels into the ignored .device_pack/
# Device call:  run(command="bash research/2026-11-30-gpu-stage9-prepared/gpu_stage9.sh", carry=[".device_pack"], timeout_s=590)
#
# On the lent machine it installs the wheels the image lacks, points ../shared/data at the pack, renders the
# synthetic set (SYNTH_N samples, seed 11, 16 processes), trains research/2026-11-30-gpu-stage9-prepared/train_unet_mnv2_gpu4.yaml (device-side
# batches, max_minutes inside) and copies the run's best/last artifacts, metrics and log to $OUT (6 files; each
# model.safetensors is ~15.9 MiB, under the tool's 16 MiB a file). Judge the result here, network only, on the
# development cohorts (seeds 1 and 2) before anything else (see the config's header).
# Environment overrides (for a rehearsal on the CPU): SYNTH_N, WORKERS, CONFIG, RUN, TRAIN_ARGS.
set -euo pipefail
cd "$(dirname "$0")/../.."
PACK=${PACK:-.device_pack}
OUT=${OUT:-runs/gpu_stage9_out}
SYNTH_N=${SYNTH_N:-12000}
WORKERS=${WORKERS:-16}
CONFIG=${CONFIG:-research/2026-11-30-gpu-stage9-prepared/train_unet_mnv2_gpu4.yaml}
RUN=${RUN:-runs/train/vitiseg-unet-mnv2-gpu4}
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
t0=$(date +%s)
if ! "$PY" -c "import segmentation_models_pytorch, kornia, pydantic, colour" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$PACK"/whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
if [ ! -e ../shared/data ]; then
  mkdir -p ../shared && ln -s "$PWD/$PACK/data" ../shared/data
fi
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), flush=True)"
mkdir -p "$OUT"
"$PY" -m vitiseg.cli synth dataset --skin-root ../shared/data/skin --out data_cache/synth_v4 --n "$SYNTH_N" \
  --seed 11 --size 384 --workers "$WORKERS" 2>&1 | tail -c 300
echo "rendered after $(( $(date +%s) - t0 )) s"
set +e
"$PY" -m vitiseg.cli train --config "$CONFIG" --out "$RUN" --no-progress ${TRAIN_ARGS:-} 2>&1 | tee "$OUT/train.log" \
  | grep -E "device banks|epoch|time budget|best|ERROR|Error" | tail -40
rc=${PIPESTATUS[0]}
set -e
echo "trained (rc $rc) after $(( $(date +%s) - t0 )) s"
for which in best last; do
  if [ -d "$RUN/$which" ]; then
    mkdir -p "$OUT/$which"
    cp "$RUN/$which/config.json" "$RUN/$which/model.safetensors" "$OUT/$which/"
  fi
done
[ -f "$RUN/metrics.jsonl" ] && cp "$RUN/metrics.jsonl" "$OUT/"
exit "$rc"
