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
# # 4. Overfitting and regularisation
#
# Learning goals 2.8, 2.10 and 2.11. A network with more capacity than data learns the
# training set by heart: the training loss keeps falling while the validation loss turns up.
# Dropout, batch norm and a smaller learning rate are the knobs; a recipe plus overrides is
# how you turn them, and TensorBoard and MLflow both keep every run to compare.

# %%
# %matplotlib inline
import os
import tempfile

import zoo

WORK = tempfile.mkdtemp(prefix="zoo-overfitting-")  # runs/ and mlflow.db go here
os.chdir(WORK)
EPOCHS = 12  # 40 to see the curves part further
TRAIN_SIZE = 150  # few examples: a wide network overfits them

# %% [markdown]
# ## The recipe
#
# A recipe is a gin file: every line is a binding, and any of them can be overridden.

# %%
print(zoo.config.resolve_recipe("digits_cnn").read_text())

# %% [markdown]
# ## `--bind` from Python
#
# `zoo train digits_cnn --bind cnn.dense_dropout=0.0` on the command line is a list of
# bindings in Python. Two runs: no regularisation at all, and dropout with batch norm.

# %%
common = [
    f"digits.train_size = {TRAIN_SIZE}",
    "digits.validation_split = 300",
    "train.batch_size = 16",
    f"train.epochs = {EPOCHS}",
    "train.experiment = 'overfitting'",
    "cnn.filters = [64, 128]",
    "cnn.dense_units = [256]",
]
plain = zoo.train(
    "digits_cnn",
    common
    + [
        "train.run_name = 'plain'",
        "cnn.batch_norm = False",
        "cnn.block_dropout = 0.0",
        "cnn.dense_dropout = 0.0",
    ],
    verbose=2,
)
print("test accuracy, plain:", round(plain.test_metrics["test_accuracy"], 3))
regularised = zoo.train(
    "digits_cnn",
    common
    + ["train.run_name = 'regularised'", "cnn.block_dropout = 0.2", "cnn.dense_dropout = 0.5"],
    verbose=2,
)

# %% [markdown]
# ## The two runs compared, in words and in curves
#
# `zoo.compare` (the command `zoo compare`) reads each run from TensorBoard's event files
# and from MLflow, lines the values up by metric and epoch, and diagnoses the curves. Look
# at the gap between the training loss (solid) and the validation loss (dashed): the plain
# network drives its training loss towards zero on 150 examples, which says little about
# images it has not seen; the test accuracy says how each one does on those.

# %%
table = zoo.compare([plain.run_dir, regularised.run_dir])
for run, findings in table.attrs["diagnosis"].items():
    print(f"{run}: {zoo.diagnose.describe(findings)}")

# %%
zoo.comparison.curves_figure(table)

# %% [markdown]
# ## TensorBoard and MLflow, side by side
#
# The same metric at the same epoch, once as TensorBoard stored it and once as MLflow did:
# the `status` column says whether they agree.

# %%
table[table.metric.isin(["loss", "val_loss"])].head(12)

# %% [markdown]
# MLflow keeps each run's parameters and its operative config (every gin binding that was
# used, defaults included) as an artifact; TensorBoard shows the same config as text.

# %%
import mlflow

runs = mlflow.search_runs(experiment_names=["overfitting"])
runs[
    [
        "tags.mlflow.runName",
        "params.cnn.dense_dropout",
        "params.cnn.batch_norm",
        "metrics.val_loss",
        "metrics.test_accuracy",
    ]
]

# %%
config = mlflow.artifacts.load_text(f"runs:/{regularised.mlflow_run_id}/operative_config.gin")
print("\n".join(line for line in config.splitlines() if line.startswith("cnn.")))

# %% [markdown]
# `zoo ui` starts TensorBoard and the MLflow UI on these runs; in a notebook,
# `%load_ext tensorboard` then `%tensorboard --logdir runs` shows TensorBoard inline.
