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
# # 1. Losses: which one for which target
#
# Learning goal 2.1 (and 2.12): mean squared error, its root, the negative log-likelihood,
# cross entropy and binary cross entropy, computed on small examples so that you can see
# what each one rewards and punishes. Every loss here is the one a recipe selects by name
# (`train.loss = 'rmse'`).

# %%
import os
import tempfile

import numpy as np

import zoo

WORK = tempfile.mkdtemp(prefix="zoo-losses-")  # runs/ and mlflow.db go here
os.chdir(WORK)
EPOCHS = 2  # 30 to train for real

# %% [markdown]
# The names a recipe accepts, and the loss `train.loss = 'auto'` picks for each target:

# %%
print(zoo.losses.LOSSES)
zoo.losses.DEFAULT_FOR_TARGET

# %% [markdown]
# ## Regression: MSE, RMSE, MAE and one outlier
#
# Four predictions of a value, each off by 1, then the same with one prediction off by 10.
# MSE squares the errors, so the outlier dominates it; MAE grows only linearly.


# %%
def loss_value(name, y_true, y_pred):
    return float(zoo.losses.get(name)(np.asarray(y_true), np.asarray(y_pred)))


y = np.array([[3.0], [5.0], [2.0], [7.0]])
close = y + 1.0
outlier = close.copy()
outlier[0] += 9.0
for name in ("mse", "rmse", "mae"):
    print(
        f"{name:5s} all off by 1: {loss_value(name, y, close):6.2f}   "
        f"one off by 10: {loss_value(name, y, outlier):6.2f}"
    )

# %% [markdown]
# ## Classification: cross entropy punishes confident mistakes
#
# Three classes, the true class is 0. Cross entropy is `-log p(true class)`: a confident
# wrong answer costs far more than an unsure one.

# %%
labels = np.array([0])
for probs in ([0.9, 0.05, 0.05], [0.4, 0.3, 0.3], [0.05, 0.9, 0.05]):
    p = np.array([probs], dtype="float32")
    sparse = loss_value("sparse_categorical_crossentropy", labels, p)
    onehot = loss_value("categorical_crossentropy", np.eye(3)[labels], p)
    nll = loss_value("nll", labels, np.log(p))
    print(f"p = {probs}: sparse CE {sparse:.3f}  one-hot CE {onehot:.3f}  NLL {nll:.3f}")

# %% [markdown]
# The three numbers agree: `sparse_categorical_crossentropy` takes integer labels,
# `categorical_crossentropy` one-hot targets, and `nll` log-probabilities (a model that ends
# in a log-softmax). Give `nll` probabilities instead and the numbers mean nothing: this is
# why zoo picks the output activation from the loss (`zoo.losses.classifier_activation`).

# %%
{name: zoo.losses.classifier_activation(name) for name in zoo.losses.LOSSES}

# %% [markdown]
# ## Multi-label: binary cross entropy, one sigmoid per label
#
# An image can be "even" and "large" at once: each label is its own yes/no question.

# %%
truth = np.array([[1.0, 0.0, 1.0]])
for guess in ([0.9, 0.1, 0.8], [0.9, 0.9, 0.8], [0.5, 0.5, 0.5]):
    bce = loss_value("binary_crossentropy", truth, np.array([guess]))
    print(f"labels {truth[0].tolist()}, predicted {guess}: BCE {bce:.3f}")

# %% [markdown]
# ## The same recipe, three targets
#
# `digits_cnn` trains on scikit-learn's 8x8 digits. The target decides the loss, the output
# activation and the metrics; `--bind` lines (here a list of strings) change it.

# %%
results = {}
for target in ("sparse", "multilabel", "regression"):
    result = zoo.train(
        "digits_cnn",
        [
            f"train.target = '{target}'",
            f"train.epochs = {EPOCHS}",
            f"train.run_name = '{target}'",
            "train.precision = 'float32'",
        ],
        verbose=0,
    )
    results[target] = result.test_metrics
results
