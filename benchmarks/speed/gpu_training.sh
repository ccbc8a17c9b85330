#!/usr/bin/env bash
# Everything GPU-specific of the training loop, on one GPU, in under 10 minutes (H100: the small rows take seconds):
# the loop against a bare loop for every row, the two-moons row with the backbone compiled, and the host
# synchronizations left inside training steps. Run from the repository root:
#     bash benchmarks/speed/gpu_training.sh [OUT.jsonl]
# The tumor rows need a bank; it is built here (2 000 runs, about 45 s on 2 CPU cores) unless one exists.
set -euo pipefail
out=${1:-gpu_training.jsonl}
bank=${TUMOR_BANK:-/tmp/cmpe_tumor_bank}
[ -f "$bank/bank.json" ] || cmpe-simulate --simulator cmpe_lightning.TumorSpheroid --num 2000 --workers 8 --out "$bank" --no-progress
nvidia-smi --query-gpu=name,memory.total --format=csv
python -m benchmarks.speed.gpu_syncs --rows two_moons_cmpe two_moons_cmpe_online tumor_cmpe --tumor-bank "$bank"
python -m benchmarks.speed.training_loop --accelerator gpu --steps 2000 --warmup 200 --out "$out" \
    --rows two_moons_cmpe two_moons_fmpe two_moons_cmpe_online
python -m benchmarks.speed.training_loop --accelerator gpu --steps 2000 --warmup 300 --out "$out" \
    --rows two_moons_cmpe --compile
python -m benchmarks.speed.training_loop --accelerator gpu --steps 500 --warmup 100 --out "$out" \
    --rows tumor_cmpe fashion_cmpe_unet_cpu --tumor-bank "$bank" --tumor-validation 100
