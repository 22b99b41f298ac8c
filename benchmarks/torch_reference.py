"""Expected logits of torchvision's and timm's models for random weights from a seed.

Run with a Python that has torch, torchvision and timm (never a zoo dependency), e.g.
``python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch torchvision timm numpy``::

    /tmp/tv/bin/python benchmarks/torch_reference.py --out /tmp/refs resnet18 vgg11 ...
    /tmp/tv/bin/python benchmarks/torch_reference.py --ci     # the files tests/data needs

Each model gets the state dict that ``tests/pretrained_reference.py`` draws from the seed
(random weights and batch-norm statistics), a random NCHW input, and its float32 logits,
written as ``<name>.json`` (model, source, seed, input shape, key/shape manifest, logits).
``benchmarks/pretrained_check.py`` then compares zoo's logits with zoo's own venv.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESNETS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
VGGS = [f"vgg{n}{bn}" for n in (11, 13, 16, 19) for bn in ("", "_bn")]
TIMM = {"seresnet50": "seresnet50"}
# name: (reference file name, input NCHW) for CI: small inputs where the layout allows
# (VGG's fc1 needs 7x7 features, so 224x224)
CI = {
    "resnet18": ("resnet18", (2, 3, 64, 64)),
    "resnet50": ("resnet50", (2, 3, 64, 64)),
    "vgg11": ("vgg11", (1, 3, 224, 224)),
    "vgg11_bn": ("vgg11_bn", (1, 3, 224, 224)),
    "seresnet50": ("seresnet50", (2, 3, 64, 64)),
}


def _reference_module():
    spec = importlib.util.spec_from_file_location(
        "pretrained_reference", ROOT / "tests" / "pretrained_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_model(name: str):
    if name in TIMM:
        import timm

        return timm.create_model(
            TIMM[name], pretrained=False
        ), f"timm {timm.__version__} {TIMM[name]}"
    import torchvision

    return getattr(torchvision.models, name)(
        weights=None
    ), f"torchvision {torchvision.__version__} {name}"


def reference(name: str, input_shape, seed: int) -> dict:
    import torch

    ref = _reference_module()
    torch.manual_seed(seed)
    model, source = torch_model(name)
    manifest = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    state = ref.random_state_dict(manifest, seed)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    model.eval()
    x = torch.from_numpy(ref.random_input(input_shape, seed))
    with torch.no_grad():
        logits = model(x).float().numpy()
    return {
        "model": name,
        "source": source,
        "seed": seed,
        "input_shape": list(input_shape),
        "manifest": manifest,
        "logits": logits.tolist(),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", help="default: every ResNet, VGG and seresnet50")
    p.add_argument("--out", type=Path, default=Path("/tmp/zoo-torch-reference"))
    p.add_argument("--size", type=int, default=224, help="input height and width")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--ci", action="store_true", help="write tests/data/pretrained's files")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    if args.ci:
        jobs = [
            (name, shape, ROOT / "tests" / "data" / "pretrained") for name, (_, shape) in CI.items()
        ]
    else:
        names = args.models or RESNETS + VGGS + list(TIMM)
        shape = (args.batch, 3, args.size, args.size)
        jobs = [(name, shape, args.out) for name in names]
    for name, shape, out in jobs:
        out.mkdir(parents=True, exist_ok=True)
        data = reference(name, shape, args.seed)
        (out / f"{name}.json").write_text(json.dumps(data))
        print(f"{name}: {data['source']}, input {shape}, {len(data['manifest'])} keys", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
