"""Compare zoo's logits with the references of benchmarks/torch_reference.py (zoo's venv).

    /tmp/tv/bin/python benchmarks/torch_reference.py --out /tmp/refs      # with torch
    .venv/bin/python benchmarks/pretrained_check.py /tmp/refs               # without torch

Prints a markdown table: model, source, input, keys, max |zoo - torch|, that over
max |torch| (the tests' criterion, < 1e-4 in float32) and the seconds zoo took.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.pretrained_reference import load_reference, relative_difference, zoo_logits  # noqa: E402

ORDER = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "seresnet50",
    *(f"vgg{n}{bn}" for n in (11, 13, 16, 19) for bn in ("", "_bn")),
]


def main(argv=None) -> int:
    folder = Path((argv or sys.argv[1:] or ["/tmp/zoo-torch-reference"])[0])
    files = sorted(
        folder.glob("*.json"), key=lambda p: ORDER.index(p.stem) if p.stem in ORDER else 99
    )
    print("| model | source | input (NCHW) | keys | max abs diff | / max abs logit | zoo s |")
    print("|---|---|---|---|---|---|---|")
    worst = 0.0
    for path in files:
        ref = load_reference(path)
        start = time.perf_counter()
        logits = zoo_logits(ref)
        seconds = time.perf_counter() - start
        expected = np.asarray(ref["logits"], np.float32)
        diff = float(np.max(np.abs(logits - expected)))
        rel = relative_difference(ref, logits)
        worst = max(worst, rel)
        shape = "x".join(str(d) for d in ref["input_shape"])
        print(
            f"| {ref['model']} | {ref['source']} | {shape} | {len(ref['manifest'])} | "
            f"{diff:.2e} | {rel:.2e} | {seconds:.1f} |",
            flush=True,
        )
    print(f"\nworst relative difference {worst:.2e} (criterion 1e-4)")
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
