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
# name: (input NCHW, fc width) for CI: small inputs, and VGGs with a narrowed classifier
# (fc 64-64 after the 2x2x512 map of a 64x64 input, no adaptive pooling) so that the flatten
# order of fc1 is still checked at a fraction of the 133M parameters. benchmarks/RESULTS.md
# has every full-size model at 224x224.
CI = {
    "resnet18": ((2, 3, 64, 64), None),
    "resnet50": ((2, 3, 64, 64), None),
    "seresnet50": ((2, 3, 64, 64), None),
    "vgg11": ((2, 3, 64, 64), 64),
    "vgg11_bn": ((2, 3, 64, 64), 64),
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


def narrow_vgg(model, input_shape, width: int):
    """torchvision's VGG with fc layers of ``width`` units on the unpooled feature map."""
    from torch import nn

    side = input_shape[2] // 32
    model.avgpool = nn.Identity()
    model.classifier = nn.Sequential(
        nn.Linear(512 * side * side, width),
        nn.ReLU(True),
        nn.Dropout(),
        nn.Linear(width, width),
        nn.ReLU(True),
        nn.Dropout(),
        nn.Linear(width, 1000),
    )
    return model


def reference(name: str, input_shape, seed: int, width: int | None = None) -> dict:
    import torch

    ref = _reference_module()
    torch.manual_seed(seed)
    model, source = torch_model(name)
    build = {}
    if width:
        model = narrow_vgg(model, input_shape, width)
        source += f", classifier narrowed to {width}-{width} on the unpooled features"
        build = {"fc_units": [width, width]}
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
        "build": build,
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
        ci = ROOT / "tests" / "data" / "pretrained"
        jobs = [(name, shape, width, ci) for name, (shape, width) in CI.items()]
    else:
        names = args.models or RESNETS + VGGS + list(TIMM)
        shape = (args.batch, 3, args.size, args.size)
        jobs = [(name, shape, None, args.out) for name in names]
    for name, shape, width, out in jobs:
        out.mkdir(parents=True, exist_ok=True)
        data = reference(name, shape, args.seed, width)
        (out / f"{name}.json").write_text(json.dumps(data))
        print(f"{name}: {data['source']}, input {shape}, {len(data['manifest'])} keys", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
