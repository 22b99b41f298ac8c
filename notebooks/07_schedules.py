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
# # 7. Learning-rate schedules
#
# Learning goals 4.5 and 4.6. A constant rate that makes fast progress early is too large to
# settle late: the loss zig-zags or stalls. A schedule lowers it as the run goes (cosine with
# a warm-up, for a run of known length), or a plateau rule lowers it when the validation loss
# stops improving. The LR range test finds the rate to start from.

# %%
# %matplotlib inline
import os
import tempfile

from IPython.display import Image

import zoo

WORK = tempfile.mkdtemp(prefix="zoo-schedules-")  # runs/ and mlflow.db go here
os.chdir(WORK)
EPOCHS = 4  # 30 to see the schedules play out
COMMON = [
    f"train.epochs = {EPOCHS}",
    "train.experiment = 'schedules'",
    "train.precision = 'float32'",
]

# %% [markdown]
# ## A run that needs one
#
# The digits CNN with a rate ten times too high and no schedule. Read the diagnosis: a
# loss that zig-zags or climbs says the steps overshoot.

# %%
too_high = zoo.train(
    "digits_cnn",
    COMMON + ["train.learning_rate = 0.05", "train.run_name = 'constant-0.05'"],
    verbose=2,
)
table = zoo.compare(too_high.run_dir)
for run, findings in table.attrs["diagnosis"].items():
    print(run, "->", zoo.diagnose.describe(findings))

# %% [markdown]
# ## Finding the rate: the range test
#
# `zoo.find_lr` (the command `zoo find-lr`) trains for a few dozen steps while the rate grows
# exponentially and suggests the rate where the smoothed loss falls fastest.

# %%
sweep = zoo.find_lr("digits_cnn", COMMON, steps=60, run_name="find-lr")
print(f"suggested rate {sweep.suggestion:.2g}; lowest loss at {sweep.min_loss_learning_rate:.2g}")
Image(filename=str(sweep.plot), width=600)

# %% [markdown]
# ## Warm-up cosine and reduce-on-plateau, from that rate
#
# `warmup_cosine` rises linearly for a warm-up epoch, then follows a half cosine down;
# `train.reduce_on_plateau` multiplies the rate by `plateau.factor` when `val_loss` stalls.

# %%
rate = sweep.suggestion
cosine = zoo.train(
    "digits_cnn",
    COMMON
    + [
        f"train.learning_rate = {rate}",
        "train.schedule = 'warmup_cosine'",
        "warmup_cosine.warmup_epochs = 1",
        "train.run_name = 'warmup-cosine'",
    ],
    verbose=2,
)
plateau = zoo.train(
    "digits_cnn",
    COMMON
    + [
        f"train.learning_rate = {rate}",
        "train.reduce_on_plateau = True",
        "plateau.patience = 1",
        "train.run_name = 'plateau'",
    ],
    verbose=2,
)

# %% [markdown]
# The `learning_rate` panel shows each schedule's shape; the loss panels show what it did.

# %%
table = zoo.compare([too_high.run_dir, cosine.run_dir, plateau.run_dir])
for run, findings in table.attrs["diagnosis"].items():
    print(run, "->", zoo.diagnose.describe(findings))
zoo.comparison.curves_figure(table)
