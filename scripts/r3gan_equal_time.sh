#!/usr/bin/env bash
# The equal-wall-time comparison of docs/models.md on real Fashion-MNIST, single-threaded (OMP_NUM_THREADS=1).
#   scripts/r3gan_equal_time.sh speed OUT          it/s of each configuration: 2 interleaved rounds of 30 steps,
#                                                  timed over the last 10 (the loop's perf/it_per_s)
#   scripts/r3gan_equal_time.sh train OUT SECONDS  each configuration for SECONDS × its measured it/s steps, two at once
#   scripts/r3gan_equal_time.sh score OUT          each final generator (its EMA) scored by python -m ganrun.evaluate:
#                                                  the classifier's FD, precision, recall, density and coverage of
#                                                  5,000 samples, with noise seeds 0 and 1
# NAMES="defaults dcgan_rpgan_r1r2" picks configurations (default: all four); SEEDS="0 1" trains each with several
# training seeds (default: 0), seed S > 0 in the folder NAME-seedS.
set -euo pipefail
what=$1; out=$2; mkdir -p "$out"
NAMES=${NAMES:-defaults dcgan_rpgan_r1r2 r3gan_wgan_gp r3gan_small}
SEEDS=${SEEDS:-0}
DATA="dataset=fashion_mnist dataset.root=${FASHION:-/usr/share/datasets/fashion-mnist} dataset.download=false"
declare -A CONFIGS=(
  [defaults]=""
  [dcgan_rpgan_r1r2]="loss=rpgan regularizer=r1r2"
  [r3gan_wgan_gp]="model=r3gan model.widths=[64,32,16] model.blocks=1 loss=wgan_gp"
  [r3gan_small]="experiment=r3gan_small"
)
run() {  # name steps folder extra...
  local name=$1 steps=$2 dir=$3; shift 3
  OMP_NUM_THREADS=1 python -m ganrun $DATA ${CONFIGS[$name]} train.steps=$steps metrics.names=[] \
    ckpt.every=1000000 hydra.run.dir="$dir" "$@" > "$dir.log" 2>&1
}
folder() {  # name seed: the run's folder name under OUT
  if [ "$2" = 0 ]; then echo "$1"; else echo "$1-seed$2"; fi
}
if [ "$what" = speed ]; then
  for round in 1 2; do
    for name in $NAMES; do
      run $name 30 "$out/speed-$name-$round" log.every=10 log.images_every=1000000
      python -c "import json,sys; print('$name', json.load(open('$out/speed-$name-$round/status.json'))['final']['perf/it_per_s'])"
    done
  done | tee "$out/speed.txt"
elif [ "$what" = score ]; then
  for name in $NAMES; do
    for train_seed in $SEEDS; do
      run_name=$(folder $name $train_seed)
      for seed in 0 1; do
        python -m ganrun.evaluate "$out/$run_name/checkpoints/last.pt" --num 5000 --seed $seed \
          --metrics classifier_fd,classifier_precision,classifier_recall,classifier_density,classifier_coverage \
          > "$out/score-$run_name-$seed.txt" 2>&1
        echo "$run_name noise seed $seed: $(grep -o 'classifier_[a-z]* [0-9][0-9.]*' "$out/score-$run_name-$seed.txt" | tr '\n' ' ')"
      done
    done
  done | tee "$out/scores.txt"
else
  seconds=$3
  jobs=0
  for name in $NAMES; do
    for train_seed in $SEEDS; do
      rate=$(awk -v n=$name '$1 == n {s += $2; k++} END {print s / k}' "$out/speed.txt")
      steps=$(python -c "print(max(1, int($seconds * $rate)))")
      echo "$(folder $name $train_seed): $rate it/s -> $steps steps"
      run $name $steps "$out/$(folder $name $train_seed)" seed=$train_seed log.every=100 log.images_every=$steps &
      jobs=$((jobs + 1))
      if [ $((jobs % 2)) -eq 0 ]; then wait; fi  # two at once, one per core
    done
  done
  wait
fi
