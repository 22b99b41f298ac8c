#!/usr/bin/env bash
# The package as users get it: build the wheel and sdist, install the wheel (not editable) into
# a fresh venv outside the repository, and run the README's tour from a temporary folder.
# An editable install maps zoo.* to the checkout and hides a subpackage missing from the wheel,
# so nothing here runs with the checkout's venv or from the checkout's folder.
#   .ci/wheel_tour.sh            (after make install; PY picks the Python that builds)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PY=${PY:-$REPO/.venv/bin/python}
START=$SECONDS

TMP=$(mktemp -d "${TMPDIR:-/tmp}/zoo-wheel-tour.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
unset PYTHONPATH MLFLOW_TRACKING_URI
export TF_CPP_MIN_LOG_LEVEL=2

fail() { echo "wheel tour: FAILED: $*" >&2; exit 1; }
step() { echo; echo "== $*"; }

step "build wheel and sdist"
"$PY" -m build --outdir "$TMP/dist" . >"$TMP/build.log" 2>&1 || { cat "$TMP/build.log"; fail "python -m build"; }
WHEEL=$(ls "$TMP"/dist/*.whl)
"$PY" -m twine check --strict "$TMP"/dist/* || fail "twine check"

step "every package of the source tree is in the wheel"
"$PY" - "$WHEEL" <<'EOF' || fail "packages missing from the wheel"
import pathlib
import sys
import zipfile

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
expected = {str(p) for top in ("zoo", "tuners", "callbacks") for p in pathlib.Path(top).rglob("__init__.py")}
expected |= {"zoo/recipes/" + p.name for p in pathlib.Path("recipes").iterdir() if p.suffix in (".py", ".gin")}
missing = sorted(expected - names)
if missing:
    sys.exit("missing from the wheel: " + ", ".join(missing))
print(f"{len(expected)} package files and recipes all in {pathlib.Path(sys.argv[1]).name}")
EOF

step "fresh venv outside the repository, wheel installed with constraints.txt"
BASE_PY=$("$PY" -c "import sys, pathlib; print(pathlib.Path(sys.base_prefix, 'bin', 'python3'))")
"$BASE_PY" -m venv "$TMP/venv"
"$TMP/venv/bin/python" -m pip install --quiet --upgrade pip
"$TMP/venv/bin/python" -m pip install --quiet -c constraints.txt "$WHEEL" || fail "pip install of the wheel"
ZOO="$TMP/venv/bin/zoo"

mkdir "$TMP/work"
cd "$TMP/work"
run() { echo "\$ zoo $*"; "$ZOO" "$@" || fail "zoo $* (exit $?)"; }

step "README tour from $TMP/work"
run --version
run list
RECIPES=$("$ZOO" list --recipes) || fail "zoo list --recipes"
echo "$RECIPES"
for gin in "$REPO"/recipes/*.gin; do
    name=$(basename "$gin" .gin)
    grep -qx "$name" <<<"$RECIPES" || fail "recipe $name not listed by the installed zoo"
done
run info cnn
run summary cnn --input-shape 28,28,1
run train digits_cnn --bind train.epochs=2 --bind "train.run_name='tour'"
test -f runs/digits/tour/summary.json || fail "the run wrote no summary.json"
run compare runs/digits/tour --html report.html
test -s report.html || fail "zoo compare wrote no HTML report"
run tune tune_fashion_cnn_hyperband --dry-run
run system --seconds 0

step "import zoo; zoo.compare comes from the venv"
"$TMP/venv/bin/python" - "$TMP/venv" "$REPO" <<'EOF' || fail "zoo.comparison is not the installed one"
import pathlib
import sys

import zoo

zoo.compare
where = pathlib.Path(zoo.comparison.__file__).resolve()
print(where)
venv, repo = (pathlib.Path(p).resolve() for p in sys.argv[1:])
if not where.is_relative_to(venv) or where.is_relative_to(repo):
    sys.exit(f"zoo.comparison was imported from {where}, not from the venv {venv}")
EOF

echo
echo "wheel tour: passed in $((SECONDS - START)) s"
