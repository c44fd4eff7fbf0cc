#!/usr/bin/env bash
# Train the NLU model only when its inputs changed. The model is named by a hash of the config,
# the training data, the custom components and the pinned requirements; a model with that name in
# nlu/models/ (or in the local model cache) is reused as it is.
#   NLU_CONFIG=config/config_lr.yml nlu/train.sh   trains another pipeline
set -euo pipefail
cd "$(dirname "$0")"
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 PYTHONPATH=.
CONFIG=${NLU_CONFIG:-config/config.yml}
CACHE=${NLU_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trainee-rights/nlu-models}
HASH=$( { echo "$CONFIG"; cat "$CONFIG" requirements.txt; find data components -type f \( -name '*.yml' -o -name '*.py' \) | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-16)
NAME="nlu-$(basename "$CONFIG" .yml)-$HASH"
mkdir -p models
if [ -f "models/$NAME.tar.gz" ]; then
    echo "NLU model up to date: models/$NAME.tar.gz"
elif [ -f "$CACHE/$NAME.tar.gz" ]; then
    cp "$CACHE/$NAME.tar.gz" "models/$NAME.tar.gz"
    echo "NLU model taken from the local cache: models/$NAME.tar.gz"
else
    echo "Training the NLU model ($CONFIG; inputs changed) - this takes a few minutes..."
    start=$(date +%s)
    .venv/bin/rasa train nlu --config "$CONFIG" --nlu data --out models --fixed-model-name "$NAME" --quiet
    echo "Trained models/$NAME.tar.gz in $(( $(date +%s) - start )) s"
    mkdir -p "$CACHE" && cp "models/$NAME.tar.gz" "$CACHE/" || true
fi
if [ "$CONFIG" = "config/config.yml" ]; then echo "$NAME.tar.gz" > models/CURRENT; fi
echo "$NAME.tar.gz" > "models/CURRENT-$(basename "$CONFIG" .yml)"
