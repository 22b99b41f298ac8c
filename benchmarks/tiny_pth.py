"""Write tests/data/pretrained/tiny_state_dict.pth (and _legacy.pth, the old format) with torch: the layouts zoo's reader of
.pth archives must handle (float32, float16, bfloat16, int64 scalar, a transposed view, a
slice at an offset of a shared storage). Values come from numpy's generator with seed 7, so
the test recomputes them without torch."""

from pathlib import Path

import numpy as np
import torch

rng = np.random.default_rng(7)
base = torch.from_numpy(rng.standard_normal((4, 6)).astype(np.float32))
state = {
    "conv.weight": torch.from_numpy(rng.standard_normal((2, 3, 3, 3)).astype(np.float32)),
    "half": torch.from_numpy(rng.standard_normal(5).astype(np.float16)),
    "bf16": torch.from_numpy(rng.standard_normal(5).astype(np.float32)).to(torch.bfloat16),
    "bn.num_batches_tracked": torch.tensor(3, dtype=torch.int64),
    "transposed": base.t(),
    "slice": base[1:3, 2:5],
}
out = Path(__file__).resolve().parents[1] / "tests" / "data" / "pretrained" / "tiny_state_dict.pth"
torch.save(state, out)
legacy = out.with_name("tiny_state_dict_legacy.pth")  # PyTorch's pre-1.6 format
torch.save(state, legacy, _use_new_zipfile_serialization=False)
for path in (out, legacy):
    print(path, path.stat().st_size, "bytes")
