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
# # 8. Transfer learning
#
# Learning goals 4.7-4.9. A network trained on one task has learned features (edges,
# strokes, parts) that another task can reuse: freeze it, extend it with a new head, train
# the head, then fine-tune the whole with a small rate. Whether it pays depends on how few
# labelled examples the new task has, and on how good the from-scratch baseline is.
#
# Here the source task is the 8x8 digits 0-4 and the new task the digits 5-9.

# %%
# %matplotlib inline
import os
import tempfile

import zoo

WORK = tempfile.mkdtemp(prefix="zoo-transfer-")  # runs/ and mlflow.db go here
os.chdir(WORK)
EPOCHS = 3  # 30 for the source, 10 for the new task to train for real
SIZES = [30, 150]  # labelled examples of the new task; [25, 50, 100, 200, 400] for a curve
COMMON = ["train.precision = 'float32'", "train.experiment = 'transfer'"]

# %% [markdown]
# ## The source: a network trained on digits 0-4

# %%
source = zoo.train(
    "digits_cnn",
    COMMON
    + [
        "digits.classes = [0, 1, 2, 3, 4]",
        f"train.epochs = {EPOCHS}",
        "train.run_name = 'source-0to4'",
    ],
    verbose=2,
)
source.test_metrics

# %% [markdown]
# ## Freeze, extend, fine-tune by hand
#
# `zoo.transfer` works on any Keras model: `extend` cuts before the old head and adds a new
# one, `freeze` stops the base from training, `unfreeze` lets it train again (batch norm
# stays frozen).

# %%
base = zoo.transfer.load_base(source.run_dir)
model = zoo.transfer.extend(base, classes=5)
zoo.transfer.freeze(model, up_to=zoo.transfer.feature_layer(base))
print(zoo.transfer.trainable_report(model))
zoo.transfer.unfreeze(model)
print(zoo.transfer.trainable_report(model))

# %% [markdown]
# ## The same from a recipe: head first, then fine-tuning
#
# `digits_transfer` names the source in `train.init_from`; `transfer.*` says what to freeze
# and how long to fine-tune. Both phases are one run: MLflow and TensorBoard get the metric
# `phase`, and the curves mark where phase 2 starts. Against it, the same network trained
# from scratch on the same few examples, for as many epochs as both phases together.
# Each is trained at every size of `SIZES`.


# %%
def transfer_run(size):
    return zoo.train(
        "digits_transfer",
        COMMON
        + [
            f"train.init_from = '{source.run_dir}'",
            f"digits.train_size = {size}",
            f"train.epochs = {EPOCHS}",
            f"transfer.fine_tune_epochs = {EPOCHS}",
            f"train.run_name = 'transfer-{size}'",
        ],
        verbose=2,
    )


def scratch_run(size):
    return zoo.train(
        "digits_cnn",
        COMMON
        + [
            "digits.classes = [5, 6, 7, 8, 9]",
            f"digits.train_size = {size}",
            f"train.epochs = {2 * EPOCHS}",
            f"train.run_name = 'scratch-{size}'",
        ],
        verbose=2,
    )


runs = {size: {"transfer": transfer_run(size), "scratch": scratch_run(size)} for size in SIZES}

# %%
largest = runs[SIZES[-1]]
table = zoo.compare([largest["transfer"].run_dir, largest["scratch"].run_dir])
zoo.comparison.curves_figure(table)

# %% [markdown]
# ## When does it pay?
#
# Test accuracy against the number of labelled examples of the new task: transfer (head,
# then fine-tuning) against training from scratch, with the same total epochs.

# %%
from matplotlib.figure import Figure

fig = Figure(figsize=(6, 4))
ax = fig.subplots()
for how in ("transfer", "scratch"):
    accuracy = [runs[size][how].test_metrics["test_accuracy"] for size in SIZES]
    print(how, dict(zip(SIZES, (round(a, 3) for a in accuracy), strict=True)))
    ax.plot(SIZES, accuracy, "o-", label=how)
ax.set_xscale("log")
ax.set_xlabel("labelled examples of the new task")
ax.set_ylabel("test accuracy")
ax.legend()
ax.grid(alpha=0.3)
fig
