#!/usr/bin/env bash
# The GPU checks of train.cuda_graphs and the GPU speed table (docs/benchmarks.md, "GPU results"), as one script
# for one call on a lent GPU machine whose image has PyTorch but not ganrun's other packages.
#
#   bash scripts/gpu_check.sh --prepare       here, with network: wheels and Fashion-MNIST into .gpu/ (git-ignored)
#   bash scripts/gpu_check.sh [STAGE ...]     there: every stage, or those named; results under $OUT
#
# Stages, in order: tests (real CUDA graphs against eager, bit for bit; a graphed CLI run resumed), bench28 (the
# 28×28 table: bce, wgan_gp, wgan_div at batch 64 and 128), bench32 (32×32 RGB, dcgan and resnet, wgan_gp),
# ddp (torchrun --nproc_per_node=1, the NCCL path), bf16 (Fashion-MNIST, 2,000 steps: bf16 with CUDA graphs
# against fp32 eager, classifier FD and sample grids), r3gan (experiment=r3gan_small fp32 and bf16, model=r3gan
# under CUDA graphs, the CIFAR-10 preset's step time), compile (torch.compile rows, one repeat: each compiles anew;
# the slowest, so last), r3gan_preset (experiment=r3gan_cifar10 at full size: images/s and peak memory of eager
# fp32, bf16 + channels_last, CUDA graphs (its schedules included) and compile, each after warm-up, beside R3GAN's
# reference code at the same widths in the same call), profile (an eager step's operators by the file that asked and
# its time, beside the plain math: scripts/eager_profile.py). Seen on an H200 (2026-12-04): tests 34 s, bench28 238 s, bench32's dcgan rows about
# 3 minutes and its resnet row past its 90 s limit, r3gan_small 1,500 fp32 steps 100 s; the whole does not fit one
# 10-minute call: run the stages in two or three calls, e.g. `tests ddp bf16 r3gan`, then `bench28 bench32`, then
# `compile`.
# Each stage has its own time limit; after each, every result so far is packed into $OUT/gpu-check.tar.gz (the
# device tool brings back only a few files), so a stage that fails or runs out leaves the others' results:
# rerun just the missing stages.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu-check-out}"  # the device tool sets OUT
RES=/tmp/gpu-check  # the results, packed into $OUT after each stage
mkdir -p "$OUT" "$RES"

if [ "${1:-}" = "--prepare" ]; then
    mkdir -p .gpu/whl .gpu/fashion
    # Pure-Python packages the GPU image lacks, at the versions this checkout is tested with (antlr4's runtime
    # comes as source only: built into a wheel here).
    pins=$(python3 -c "import importlib.metadata as m; print(' '.join(f'{p}=={m.version(p)}' for p in
        ('hydra-core', 'omegaconf', 'torch-fidelity', 'antlr4-python3-runtime')))") || exit 1
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 -d .gpu/whl \
        ${pins% antlr4*} || exit 1
    python3 -m pip wheel -q --no-deps -w .gpu/whl "antlr4${pins##* antlr4}" || exit 1
    fashion="$(dirname "$(dpkg -L dataset-fashion-mnist 2>/dev/null | grep 'train-images-idx3-ubyte.gz$')")"
    [ -f "$fashion/train-images-idx3-ubyte.gz" ] || { echo "apt-get install dataset-fashion-mnist first"; exit 1; }
    cp "$fashion"/*-ubyte.gz .gpu/fashion/
    # R3GAN's own code for the reference speed (stage r3gan_preset): a checkout given as R3GAN=DIR, or the git dir
    # that the search tool's fetch of github:brownvc/R3GAN leaves.
    r3gan="${R3GAN:-/work/.mirror/brownvc+R3GAN/repo}"
    if [ -d "$r3gan/.git" ] || [ -f "$r3gan/HEAD" ]; then
        mkdir -p .gpu/r3gan && git --git-dir="$( [ -d "$r3gan/.git" ] && echo "$r3gan/.git" || echo "$r3gan" )" \
            archive HEAD | tar -x -C .gpu/r3gan
    else
        echo "no R3GAN checkout at $r3gan: stage r3gan_preset will time ganrun alone"
    fi
    du -sh .gpu
    echo "now: run with carry [\".gpu\"] and command: bash scripts/gpu_check.sh"
    exit 0
fi

python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 GANRUN_CACHE=/tmp/ganrun-cache
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(tests r3gan_preset bench28 bench32 ddp bf16 r3gan profile compile)  # compile: the slowest
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())"
    date -Is
} | tee "$RES/machine.txt"

bench() {  # NAME TIMEOUT ARGS...: one bench.py run, its table in NAME.log and NAME.json
    local name=$1 limit=$2; shift 2
    timeout "$limit" python3 scripts/bench.py --device cuda --out "$RES/$name.json" "$@" > "$RES/$name.log" 2>&1
    echo "$name: exit $?"; grep -v " it/s$" "$RES/$name.log" | tail -n 25
}

for stage in "${stages[@]}"; do
    start=$SECONDS
    case $stage in
    tests)
        timeout 240 python3 -m pytest -q -p no:cacheprovider tests/training/test_graphs_gpu.py > "$RES/tests.log" 2>&1
        echo "tests: exit $?"; tail -n 30 "$RES/tests.log" ;;
    bench28)
        graphs=eager,bf16,bf16+channels_last,cuda_graphs,bf16+channels_last+cuda_graphs
        bench bench28_b64 150 --repeats 3 --batch-size 64 --variants $graphs
        bench bench28_b128 150 --repeats 3 --batch-size 128 --variants $graphs ;;
    bench32)
        graphs=eager,bf16+channels_last,cuda_graphs,bf16+channels_last+cuda_graphs
        for model in dcgan resnet; do for batch in 64 128; do
            bench "bench32_${model}_b$batch" 90 --repeats 3 --batch-size $batch --model $model --losses wgan_gp \
                --variants $graphs
        done; done ;;
    compile)
        bench compile28_b128 240 --repeats 1 --batch-size 128 --losses wgan_gp,bce --variants compile,bf16+channels_last+compile ;;
    ddp)
        timeout 120 torchrun --nproc_per_node=1 -m ganrun dataset=fashion_mnist dataset.root=.gpu/fashion \
            dataset.download=false model=dcgan28 device=cuda train.steps=200 log.every=50 metrics.names=[] \
            hydra.run.dir=/tmp/ddp-run > "$RES/ddp.log" 2>&1
        echo "ddp: exit $?"; grep -E "step 200|Error|error" "$RES/ddp.log" | tail -n 5 ;;
    bf16)
        for variant in "fp32_eager train.precision=fp32" "bf16_graphs train.precision=bf16 train.cuda_graphs=true"; do
            set -- $variant
            name=$1; shift
            timeout 240 python3 -m ganrun dataset=fashion_mnist dataset.root=.gpu/fashion dataset.download=false \
                model=dcgan28 device=cuda train.steps=2000 log.every=500 metrics.names=[classifier_fd] \
                metrics.num_samples=10000 "$@" hydra.run.dir=/tmp/bf16-$name > "$RES/bf16_$name.log" 2>&1
            echo "bf16 $name: exit $?"; grep -E "step 2000|Error" "$RES/bf16_$name.log" | tail -n 2
            cp /tmp/bf16-$name/status.json "$RES/bf16_$name.status.json" && grep classifier_fd "$RES/bf16_$name.status.json"
            python3 -m ganrun.sample /tmp/bf16-$name/checkpoints/last.pt --num 64 --out "$RES/bf16_$name.png" \
                >> "$RES/bf16_$name.log" 2>&1
        done ;;
    r3gan)
        # experiment=r3gan_small on Fashion-MNIST (its schedules follow train.steps), fp32 eager, bf16 +
        # channels_last and under CUDA graphs (the scheduled values read from the device), a grid each; then R3GAN's
        # CIFAR-10 network (widths 768, batch 512, conditional) at 32×32 for 60 bf16 steps: its step time.
        for variant in "fp32_eager experiment=r3gan_small train.precision=fp32" \
            "bf16 experiment=r3gan_small train.precision=bf16 train.channels_last=true" \
            "graphs experiment=r3gan_small train.cuda_graphs=true"; do
            set -- $variant
            name=$1; shift
            timeout 150 python3 -m ganrun dataset=fashion_mnist dataset.root=.gpu/fashion dataset.download=false \
                device=cuda train.steps=1500 log.every=500 metrics.names=[] "$@" hydra.run.dir=/tmp/r3gan-$name \
                > "$RES/r3gan_$name.log" 2>&1
            echo "r3gan $name: exit $?"; grep -E "step (500|1500):|Error" "$RES/r3gan_$name.log" | tail -n 2
            python3 -m ganrun.sample /tmp/r3gan-$name/checkpoints/last.pt --num 64 --out "$RES/r3gan_$name.png" \
                >> "$RES/r3gan_$name.log" 2>&1
        done
        timeout 150 python3 -m ganrun experiment=r3gan_cifar10 dataset=fashion_mnist dataset.root=.gpu/fashion \
            dataset.download=false dataset.image_size=32 device=cuda train.precision=bf16 train.channels_last=true \
            train.steps=60 log.every=20 metrics.names=[] hydra.run.dir=/tmp/r3gan-cifar \
            > "$RES/r3gan_cifar10_preset.log" 2>&1
        echo "r3gan_cifar10 preset: exit $?"; grep -E "step 60:|Error" "$RES/r3gan_cifar10_preset.log" | tail -n 2 ;;
    r3gan_preset)
        # R3GAN's CIFAR-10 configuration as its preset has it (widths 768, batch 512, conditional, ADA, schedules),
        # on Fashion-MNIST at 32×32: 30 steps per variant, speed and peak memory read from the second interval.
        for variant in "fp32_eager" "bf16_cl train.precision=bf16 train.channels_last=true" \
            "graphs train.cuda_graphs=true" "bf16_cl_graphs train.precision=bf16 train.channels_last=true train.cuda_graphs=true" \
            "compile train.compile=true"; do
            set -- $variant
            name=$1; shift
            timeout 240 python3 -m ganrun experiment=r3gan_cifar10 dataset=fashion_mnist dataset.root=.gpu/fashion \
                dataset.download=false dataset.image_size=32 dataset.channels=3 device=cuda train.steps=30 \
                log.every=15 metrics.names=[] "$@" hydra.run.dir=/tmp/r3gan-preset-$name > "$RES/r3gan_preset_$name.log" 2>&1
            echo "r3gan_preset $name: exit $?"; grep -E "step 30:|Error|out of memory" "$RES/r3gan_preset_$name.log" | tail -n 2
        done
        if [ -d .gpu/r3gan ]; then  # the reference's pure-PyTorch operators, interleaved with ganrun's step
            for batch in 64 512; do
                timeout 240 python3 scripts/r3gan_reference.py --reference .gpu/r3gan speed --device cuda --width 768 \
                    --blocks 2 --group-width 16 --batch $batch --size 32 --steps 10 --warmup 3 --repeats 3 \
                    --out "$RES/r3gan_reference_b$batch.json" > "$RES/r3gan_reference_b$batch.log" 2>&1
                echo "reference batch $batch: exit $?"; grep -A3 '"images_per_s"' "$RES/r3gan_reference_b$batch.log"
            done
        fi ;;
    profile)
        # The eager step's operators by the file that asked, beside the plain math, and both timed uncounted: how
        # much of the eager step on a GPU is ganrun's own host work (scripts/eager_profile.py).
        for loss in bce wgan_gp; do for batch in 64 128; do
            timeout 60 python3 scripts/eager_profile.py --device cuda --loss $loss --batch-size $batch --ema 0 \
                --time-steps 50 --out "$RES/profile_${loss}_b$batch.json" > "$RES/profile_${loss}_b$batch.log" 2>&1
            echo "profile $loss b$batch: exit $?"; head -n 4 "$RES/profile_${loss}_b$batch.log"
        done; done ;;
    *) echo "unknown stage $stage"; exit 2 ;;
    esac
    echo "[$stage took $((SECONDS - start)) s]"
    tar czf "$OUT/gpu-check.tar.gz" -C "$RES" .
done
