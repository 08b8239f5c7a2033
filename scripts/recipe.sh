#!/usr/bin/env bash
# The default model's recipe, from an empty folder, resumable: run it again after any
# interruption and it continues where it stopped (finished steps are skipped, training resumes
# from its last checkpoint). Stages 1-6 took about 6 and a half hours on a 2-core AVX2 CPU,
# stages 7-8 77 minutes and stage 9 85 minutes on a 2-core AVX-512 one (stage 10 trains
# nothing: seconds); see README "Accuracy
# recipe".
#
#   bash scripts/recipe.sh WORKDIR            # e.g. nohup bash scripts/recipe.sh ~/recipe &
#
# Environment overrides: STEPS_A (4000, at 64x128), STEPS_B (450, at 128x256), STEPS_C (2000, at
# 64x128 on diverse scenes), STEPS_D (200, at 128x256), STEPS_E (500, at 128x256 on diverse and
# rooms scenes mixed), STEPS_F (500, the same mix at a lower rate), STEPS_G (450, on new diverse
# and rooms scenes), STEPS_H (3300, on twice as many new scenes), STEPS_I (3800, on as many
# again and small rooms), WORKBENCH (the workbench command; default: the repository's .venv), PYTHON (the Python
# that has workbench installed, for stage 10's script; default: the repository's .venv).
set -euo pipefail
WORK=${1:?usage: bash scripts/recipe.sh WORKDIR}
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${WORKBENCH:-$REPO/.venv/bin/workbench}
PY=${PYTHON:-$REPO/.venv/bin/python}
STEPS_A=${STEPS_A:-4000}
STEPS_B=${STEPS_B:-450}
STEPS_C=${STEPS_C:-2000}
STEPS_D=${STEPS_D:-200}
STEPS_E=${STEPS_E:-500}
STEPS_F=${STEPS_F:-500}
STEPS_G=${STEPS_G:-450}
STEPS_H=${STEPS_H:-3300}
STEPS_I=${STEPS_I:-3800}
mkdir -p "$WORK" && cd "$WORK"
# once MARK COMMAND...: run COMMAND unless data/MARK.done says it finished, then mark it
once() { local mark=$1; shift; [ -f "data/$mark.done" ] || { "$@"; mkdir -p data; touch "data/$mark.done"; }; }

# 1. data: 3000 furnished rooms at 256x128 (3 views each; two seeds, as the shipped model was
#    made), a held-out set from another seed
[ -f data/train.done ] || {
  $W synth --out data/train_scenes --scenes 800 --views 3 --preset rooms --size 256x128 --seed 2000
  $W synth --out data/train_scenes --scenes 2200 --views 3 --preset rooms --size 256x128 --seed 3000
  touch data/train.done; }
once val $W synth --out data/val_scenes --scenes 40 --views 2 --preset rooms --size 256x128 --seed 9100
[ -f lists/train.csv ] || $W split data/train_scenes --out lists --val-fraction 0.02
[ -f lists_val/val.csv ] || $W split data/val_scenes --out lists_val --val-fraction 1.0

# 2. training: 64x128 first (4x the samples per second), then 128x256 from those weights
M="--model-width 16 --model-depth 4 --model-coords --model-context --model-stem --l1-space log
   --batch 16 --val-views 40 --no-deterministic --no-progress"
resume() { [ -f "$1/checkpoints/checkpoint" ] && echo --resume || true; }
[ -f runs/a/model.keras ] || $W train --train-csv lists/train.csv --val-csv lists_val/val.csv \
  --logdir runs/a --height 64 $M --steps "$STEPS_A" --lr 2e-3 --warmup-steps 100 \
  --ckpt-every 250 --val-every 2000 $(resume runs/a)
[ -f runs/b/model.keras ] || $W train --train-csv lists/train.csv --val-csv lists_val/val.csv \
  --logdir runs/b --height 128 $M --steps "$STEPS_B" --lr 1e-3 --warmup-steps 50 \
  --ckpt-every 100 --val-every 450 --dump-every 450 --init-from runs/a $(resume runs/b)

# 3. diversity: the diverse preset (room shapes, ceilings, camera placements, palettes;
#    workbench/data/diverse.py) and its held-out families for the generalisation check
[ -f data/diverse.done ] || {
  $W synth --out data/diverse_scenes --scenes 1800 --views 3 --preset diverse --size 256x128 --seed 4000
  touch data/diverse.done; }
[ -f data/diverse_val.done ] || {
  $W synth --out data/diverse_val --scenes 40 --views 2 --preset diverse --size 256x128 --seed 9200
  $W synth --out data/heldout_val --scenes 40 --views 2 --preset diverse-heldout --size 256x128 --seed 9300
  touch data/diverse_val.done; }
[ -f lists_diverse/train.csv ] || $W split data/diverse_scenes --out lists_diverse --val-fraction 0.02
[ -f lists_dval/val.csv ] || $W split data/diverse_val --out lists_dval --val-fraction 1.0
[ -f lists_held/val.csv ] || $W split data/heldout_val --out lists_held --val-fraction 1.0

# 4. fine-tuning on diverse scenes: 64x128 from the rooms model, then 128x256 (the shipped model
#    went on from this stage's step-100 checkpoint: STEPS_D=200 was stopped there)
[ -f runs/c/model.keras ] || $W train --train-csv lists_diverse/train.csv --val-csv lists_dval/val.csv \
  --logdir runs/c --height 64 $M --steps "$STEPS_C" --lr 1e-3 --warmup-steps 100 \
  --ckpt-every 250 --val-every 1000 --init-from runs/b $(resume runs/c)
[ -f runs/d/model.keras ] || $W train --train-csv lists_diverse/train.csv --val-csv lists_dval/val.csv \
  --logdir runs/d --height 128 $M --steps "$STEPS_D" --lr 5e-4 --warmup-steps 30 \
  --ckpt-every 100 --val-every 200 --dump-every 200 --init-from runs/c $(resume runs/d)

# 5. diverse and rooms scenes mixed (1,800 + 700 scenes) at 128x256 from stage 4; the rooms
#    scenes keep what stage 4 forgot about rooms
once mix $W synth --out data/diverse_scenes --scenes 700 --views 3 --preset rooms --size 256x128 --seed 2000
[ -f lists_mix/train.csv ] || $W split data/diverse_scenes --out lists_mix --val-fraction 0.02
[ -f runs/e/model.keras ] || $W train --train-csv lists_mix/train.csv --val-csv lists_val/val.csv \
  --logdir runs/e --height 128 $M --steps "$STEPS_E" --lr 5e-4 --warmup-steps 30 \
  --ckpt-every 50 --val-every 500 --dump-every 500 --init-from runs/d $(resume runs/e)

# 6. a second pass over the same mix at a lower rate (3e-4, cosine to 0)
[ -f runs/f/model.keras ] || $W train --train-csv lists_mix/train.csv --val-csv lists_val/val.csv \
  --logdir runs/f --height 128 $M --steps "$STEPS_F" --lr 3e-4 --warmup-steps 20 \
  --ckpt-every 50 --val-every 500 --dump-every 500 --init-from runs/e $(resume runs/f)

# new_scenes MARK N_DIVERSE SEED_DIVERSE N_ROOMS SEED_ROOMS: render scenes the model has never
# seen into data/more_scenes (once), then split the whole folder into lists_MARK/
new_scenes() {
  [ -f "data/$1.done" ] || {
    $W synth --out data/more_scenes --scenes "$2" --views 3 --preset diverse --size 256x128 --seed "$3"
    $W synth --out data/more_scenes --scenes "$4" --views 3 --preset rooms --size 256x128 --seed "$5"
    touch "data/$1.done"; }
  [ -f "lists_$1/train.csv" ] || $W split data/more_scenes --out "lists_$1" --val-fraction 0.02
}

# 7. new scenes never seen before (2,000 diverse, 800 rooms; seeds of their own), 450 steps
new_scenes more 2000 5000 800 5100
[ -f runs/g/model.keras ] || $W train --train-csv lists_more/train.csv --val-csv lists_val/val.csv \
  --logdir runs/g --height 128 $M --steps "$STEPS_G" --lr 3e-4 --warmup-steps 20 \
  --ckpt-every 50 --val-every 450 --dump-every 450 --init-from runs/f $(resume runs/g)

# 8. 4,000 more new scenes (3,000 diverse, 1,000 rooms) beside those, 3,300 steps at 4e-4
new_scenes more2 3000 5200 1000 5300
[ -f runs/h/model.keras ] || $W train --train-csv lists_more2/train.csv --val-csv lists_val/val.csv \
  --logdir runs/h --height 128 $M --steps "$STEPS_H" --lr 4e-4 --warmup-steps 30 \
  --ckpt-every 250 --val-every 1100 --dump-every 3300 --init-from runs/g $(resume runs/h)

# 9. 4,000 more new scenes again (3,000 diverse, 1,000 rooms) and 1,500 small rooms (compact:
#    closets, bathrooms), 36,243 training views in all, 3,800 steps at 3e-4: the shipped default
#    model (models/default/)
new_scenes more3 3000 5400 1000 5500
once more4 $W synth --out data/more_scenes --scenes 1500 --views 3 --preset compact --size 256x128 --seed 5600
[ -f lists_more4/train.csv ] || $W split data/more_scenes --out lists_more4 --val-fraction 0.02
[ -f runs/i/model.keras ] || $W train --train-csv lists_more4/train.csv --val-csv lists_val/val.csv \
  --logdir runs/i --height 128 $M --steps "$STEPS_I" --lr 3e-4 --warmup-steps 30 \
  --ckpt-every 250 --val-every 1900 --dump-every 3800 --init-from runs/h $(resume runs/i)

# 10. no training: stage 9's weights behind a grey-world input layer (each colour channel
#    balanced to the panorama's mean grey inside the model): the shipped default model
[ -f runs/j/model.keras ] || "$PY" "$REPO/scripts/add_grey_world.py" runs/i runs/j

# last: evaluation beside the baselines (training families, held-out families, rooms, small rooms,
#    homes), and the int8 TFLite export with its report
$W eval lists_dval/val.csv --model runs/j --out eval_diverse --height 128
$W eval lists_held/val.csv --model runs/j --out eval_heldout --height 128
$W eval lists_val/val.csv --model runs/j --out eval_rooms --height 128
once compact_val $W synth --out data/compact_val --scenes 40 --views 2 --preset compact --size 256x128 --seed 9400
[ -f lists_cval/val.csv ] || $W split data/compact_val --out lists_cval --val-fraction 1.0
$W eval lists_cval/val.csv --model runs/j --out eval_compact --height 128
once homes_val $W synth --out data/homes_val --scenes 40 --views 2 --preset homes --size 256x128 --seed 9500
[ -f lists_hval/val.csv ] || $W split data/homes_val --out lists_hval --val-fraction 1.0
$W eval lists_hval/val.csv --model runs/j --out eval_homes --height 128
$W export --checkpoint runs/j --format tflite --quantize int8 --csv lists_more4/val.csv \
  --calibration 16 --report --views 16 --out export
echo "recipe: done; the default model is $WORK/runs/j/model.keras, its int8 TFLite $WORK/export/"
