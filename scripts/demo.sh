#!/usr/bin/env bash
# The main job: a synthetic 30-minute overnight recording with known stages, staged clip by clip
# by the demo model (trained on synthetic data only), with CSV, summary JSON, hypnogram PNG and
# the agreement printed. A few minutes at most on 2 CPU cores. Extra arguments go to
# tools/demo_sleep.py (e.g. --out-dir DIR, --minutes 60, --smooth 15 --smooth-mode causal).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
exec .venv/bin/python tools/demo_sleep.py "$@"
