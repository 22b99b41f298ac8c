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
# # 3. Architectures: what each one added
#
# Learning goal 2.7. AlexNet (2012) stacked large convolutions with ReLU and dropout; VGG
# (2014) used only 3x3 convolutions, deeper; GoogLeNet (2014) ran 1x1, 3x3, 5x5 and pooling
# branches side by side in an inception block, with 1x1 convolutions to keep it cheap;
# ResNet (2015) added the input of a block to its output, so very deep networks train;
# SENet (2017) reweights each channel by a gate computed from the whole feature map.
# Each is one registered builder in zoo; their layer tables show the idea.

# %%
# %matplotlib inline
import os
import tempfile

import zoo

WORK = tempfile.mkdtemp(prefix="zoo-architectures-")  # runs/ and mlflow.db go here
os.chdir(WORK)
EPOCHS = 2  # 20 to train for real
TRAIN_SIZE = 500  # None: all 1,221 training images
MODELS = ["alexnet", "vgg11", "googlenet", "resnet18", "seresnet18"]

# %%
print(zoo.list_models())

# %% [markdown]
# ## Counts at the papers' input size
#
# Parameters and multiply-adds per image at the papers' input (224x224x3, 227 for AlexNet)
# with 1,000 classes. Each model is built once here and read again below.

# %%
import pandas as pd

models = {name: zoo.build(name) for name in MODELS}
pd.DataFrame(
    [
        {
            "model": name,
            "paper": zoo.get_spec(name).paper,
            "input": tuple(model.input_shape[1:]),
            "parameters": model.count_params(),
            "mult-adds": zoo.stats.count_macs(model),
        }
        for name, model in models.items()
    ]
).set_index("model")

# %% [markdown]
# ## The innovation, read in the layer tables
#
# A full table of a deep network is long; here only the layers that show each idea.


# %%
def layers_of(name, *patterns):
    lines = zoo.summary.layer_table(models[name]).splitlines()
    print("\n".join(lines[:3] + [line for line in lines[3:] if any(p in line for p in patterns)]))


# AlexNet: 11x11 stride-4 first layer, then 5x5 and 3x3; dropout in the big dense head
layers_of("alexnet", "conv", "pool", "fc", "dropout")

# %%
# VGG: nothing but 3x3 convolutions and 2x2 pools, channels doubling after each pool
layers_of("vgg11", "conv", "pool")

# %%
# GoogLeNet: one inception block, four branches concatenated (1x1 convolutions reduce first)
layers_of("googlenet", "inception3a")

# %%
# ResNet: a block's output is its input plus two convolutions (the `add`)
layers_of("resnet18", "conv2_block1")

# %%
# SENet: the same block, with a squeeze (global pooling) and an excitation (two dense layers)
layers_of("seresnet18", "conv2_block1")

# %% [markdown]
# ## Two of them trained, compared
#
# The CIFAR-style ResNet-20 and its squeeze-and-excitation version on 500 of the 8x8
# digits, same recipe, same seed. `zoo.compare` reads both runs back from TensorBoard and from
# MLflow and says in words what their curves show.

# %%
runs = []
for model in ("resnet20", "seresnet20"):
    result = zoo.train(
        "digits_cnn",
        [
            f"train.model = '{model}'",
            f"train.epochs = {EPOCHS}",
            f"digits.train_size = {TRAIN_SIZE}",
            f"train.run_name = '{model}'",
            "train.experiment = 'architectures'",
        ],
        verbose=2,
    )
    runs.append(result.run_dir)
    print(model, result.summary.get("params", {}).get("total_params", ""), result.test_metrics)

# %%
table = zoo.compare(runs)
for run, findings in table.attrs["diagnosis"].items():
    print(run, "->", zoo.diagnose.describe(findings))
zoo.comparison.curves_figure(table)
