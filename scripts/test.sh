#!/usr/bin/env bash
# Run the test suite (sets up .venv on first use).
#   bash scripts/test.sh            # the default suite (CI runs exactly this)
#   bash scripts/test.sh --slow     # only the heavier checks marked `slow`
#   bash scripts/test.sh --all      # everything
source "$(dirname "$0")/_env.sh"
MARK=(-m "not slow")
ARGS=()
for a in "$@"; do
  case "$a" in
    --slow) MARK=(-m slow) ;;
    --all) MARK=(-m "slow or not slow") ;;
    *) ARGS+=("$a") ;;
  esac
done
exec .venv/bin/python -m pytest -n 2 --dist loadfile "${MARK[@]}" "${ARGS[@]+"${ARGS[@]}"}"
