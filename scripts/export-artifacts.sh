#!/usr/bin/env bash
# Copies ABI + bytecode of the deployable contracts from forge's out/ into crates/concord-bindings/artifacts,
# which `alloy::sol!` reads at compile time. `write` updates them, `check` fails if they are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-check}
dest=crates/concord-bindings/artifacts
mkdir -p "$dest"
stale=0
for c in LabelMarketV2 LabelMarketV2Settlement LabelMarketV2Optimistic LabelMarketV2Relay GenerationMarket ConcordToken NaiveLabelMarket; do
  src="out/$c.sol/$c.json"
  [ -f "$src" ] || { echo "missing $src: run 'make contracts' first" >&2; exit 1; }
  fresh=$(mktemp)
  node -e '
    const a = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    process.stdout.write(JSON.stringify({abi: a.abi, bytecode: {object: a.bytecode.object}, deployedBytecode: {object: a.deployedBytecode.object}}, null, 1) + "\n");
  ' "$src" > "$fresh"
  if [ "$mode" = write ]; then
    mv "$fresh" "$dest/$c.json"
  elif ! cmp -s "$fresh" "$dest/$c.json"; then
    echo "stale bindings: $dest/$c.json differs from forge build output; run 'make bindings' and commit" >&2
    stale=1
  fi
  rm -f "$fresh"
done
exit $stale
