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
# # 6. Hyperparameter search
#
# Learning goals 4.2-4.4 and 4.10-4.12. A search space grows as the product of its
# dimensions, so first size it; then search it with keras-tuner's Hyperband (many
# configurations on few epochs, more epochs for the best) and Bayesian optimisation (a
# model of the objective picks the next configuration), and with Ray Tune, which runs the
# same trials on one machine or a cluster. Every trial is a run, in TensorBoard and MLflow.

# %%
# %matplotlib inline
import os
import tempfile
from pathlib import Path

from IPython.display import Image, display

import zoo

WORK = tempfile.mkdtemp(prefix="zoo-search-")  # runs/ and mlflow.db go here
os.chdir(WORK)
TRIALS = 2  # 20 or more to search for real
EPOCHS = 2  # each trial's budget; 9 or more for real

# %% [markdown]
# ## How big is the space?
#
# `dry_run=True` (the command `zoo tune RECIPE --dry-run`) trains nothing: it counts the
# configurations and the epochs the algorithm would spend.

# %%
print(zoo.tune("tune_fashion_cnn_hyperband", dry_run=True))

# %% [markdown]
# Every dimension you add multiplies the count: choose the two or three knobs that matter
# (the learning rate first) and leave the rest at the recipe's values.
#
# ## A small search on the 8x8 digits
#
# A tuning recipe is a training recipe plus `tune.*` lines: the space (gin parameter ->
# kind and range), the algorithm and the objective.

# %%
recipe = Path(WORK) / "tune_digits.gin"
recipe.write_text(f"""
include 'digits_cnn.gin'
train.experiment = 'search'
train.epochs = {EPOCHS}
train.precision = 'float32'
tune.space = {{
    'train.learning_rate': ('log', 1e-3, 3e-2),
    'cnn.filters': ('choice', [[16, 32], [32, 64]]),
    'cnn.dense_dropout': ('float', 0.0, 0.5, 0.25),
}}
tune.objective = 'val_accuracy'
tune.max_epochs = {EPOCHS}
tune.max_trials = {TRIALS}
tune.heatmap = ('train.learning_rate', 'cnn.filters')
""")
print(zoo.tune(recipe, dry_run=True, algorithm="bayesian"))

# %% [markdown]
# ## keras-tuner: Hyperband and Bayesian optimisation on the same space

# %%
searches = {}
for algorithm in ("hyperband", "bayesian"):
    searches[algorithm] = zoo.tune(recipe, algorithm=algorithm, verbose=0)
    best = searches[algorithm].best
    print(
        f"{algorithm:10s} {len(searches[algorithm].records)} trials, best "
        f"{searches[algorithm].objective} = {best.objective:.3f} with {best.values}"
    )

# %% [markdown]
# ## The results table
#
# Each search writes a leaderboard (best first) and `best.gin`, the recipe with the winning
# values, which `zoo train` retrains.

# %%
import pandas as pd

pd.read_csv(searches["bayesian"].leaderboard_csv)

# %%
print(searches["bayesian"].best_recipe.read_text()[-400:])

# %% [markdown]
# ## The heatmap: the objective over two of the knobs

# %%
for plot in searches["bayesian"].plots:
    print(plot.name)
    display(Image(filename=str(plot), width=600))

# %% [markdown]
# ## Ray Tune: the same space, trials as Ray tasks
#
# `backend='ray'` starts a local Ray (or joins a cluster with `address=`); an ASHA scheduler
# stops poor trials early and Optuna proposes the next ones. Starting Ray takes tens of
# seconds, so this search is kept to two trials.

# %%
ray_search = zoo.tune(recipe, backend="ray", max_trials=2, num_cpus=2, verbose=0)
pd.read_csv(ray_search.leaderboard_csv)

# %% [markdown]
# ## Which monitoring tool for what
#
# Every trial is an MLflow run nested under its search's run, and a TensorBoard log in the
# trial's folder. `zoo.compare` reads the trials of a search folder like any runs:

# %%
table = zoo.compare(searches["bayesian"].tune_dir)
table.groupby("run")["status"].value_counts().unstack(fill_value=0)
