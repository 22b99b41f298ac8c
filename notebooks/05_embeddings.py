# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. Embeddings against one-hot
#
# Learning goal 4.1. One-hot encoding gives each word a vector as wide as the vocabulary
# that says nothing about which words are alike; an embedding is a learned table of short
# vectors in which words used alike end up close. Here both learn sentence polarity; then
# we look for each word's nearest neighbours and write the vectors for TensorBoard's
# projector.
#
# The data: Movie Review polarity (Pang & Lee 2005) when its files are in `MR_DIR`
# (`rt-polarity.pos` and `rt-polarity.neg`); otherwise a small made-up corpus of the same
# form, so that the notebook runs anywhere without a download.

# %%
import os
import random
import tempfile
from pathlib import Path

import zoo

WORK = tempfile.mkdtemp(prefix="zoo-embeddings-")  # runs/ and mlflow.db go here
os.chdir(WORK)
EPOCHS = 8  # 10 with early stopping on the real MR data
MR_DIR = Path(os.environ.get("ZOO_DATA_DIR", "data")) / "mr"

# %%
if not (MR_DIR / "rt-polarity.pos").is_file():
    POSITIVE = ["good", "great", "fun", "moving", "superb", "charming", "delight"]
    NEGATIVE = ["bad", "awful", "dull", "boring", "tedious", "mess", "clumsy"]
    FILLER = ["the", "a", "movie", "film", "plot", "is", "and", "with", "this", "story"]
    rng = random.Random(0)

    def sentences(words, n):
        return [
            " ".join(rng.choice(words + FILLER) for _ in range(rng.randint(4, 10)))
            for _ in range(n)
        ]

    MR_DIR = Path(WORK) / "mr"
    MR_DIR.mkdir()
    (MR_DIR / "rt-polarity.pos").write_text("\n".join(sentences(POSITIVE, 400)) + "\n")
    (MR_DIR / "rt-polarity.neg").write_text("\n".join(sentences(NEGATIVE, 400)) + "\n")
print(MR_DIR, (MR_DIR / "rt-polarity.pos").read_text().splitlines()[:3])

# %% [markdown]
# ## Two models on the same sentences
#
# `embedding_bag` averages 64-number word vectors; `onehot` averages vocabulary-wide one-hot
# vectors and multiplies by a weight matrix, which is the same lookup done the wide way.

# %%
results = {}
for model in ("embedding_bag", "onehot"):
    results[model] = zoo.train(
        "mr_embedding_bag",
        [
            f"mr.directory = '{MR_DIR}'",
            f"train.model = '{model}'",
            f"train.epochs = {EPOCHS}",
            f"train.run_name = '{model}'",
            "train.precision = 'float32'",
        ],
        verbose=2,
    )
for model, result in results.items():
    print(f"{model:14s} test accuracy {result.test_metrics['test_accuracy']:.3f}")

# %% [markdown]
# ## How many weights each spends on the words

# %%
for model, result in results.items():
    print(f"--- {model}")
    print(zoo.summary.layer_table(zoo.text.load_model_and_vocabulary(result.run_dir)[0]))

# %% [markdown]
# ## Nearest words
#
# The cosine similarity of the learned vectors: words that push a sentence the same way
# end up close. (The one-hot model has no table to ask.)

# %%
bag = results["embedding_bag"]
for word in ("good", "bad", "movie"):
    neighbours = zoo.text.nearest(bag.run_dir, word, k=5)
    print(f"{word:6s}", ", ".join(f"{w} ({s:.2f})" for w, s in neighbours))

# %% [markdown]
# ## The projector
#
# Every text run already wrote `vectors.tsv`, `metadata.tsv` and `projector_config.pbtxt`
# into its `tensorboard/` folder: `tensorboard --logdir` on the run shows the words in the
# Projector tab (MLflow keeps them under `projector/`). `zoo.text.export_projector` writes
# them anywhere else.

# %%
folder = zoo.text.export_projector(bag.run_dir, Path(WORK) / "projector")
sorted(p.name for p in folder.iterdir())
