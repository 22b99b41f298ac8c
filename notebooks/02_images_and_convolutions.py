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
# # 2. Images and convolutions
#
# Learning goals 1.1, 2.2-2.6, 2.9 and 2.13: an image is a tensor; a dense network on
# pixels needs a weight per pixel per unit, a convolution shares a few weights across all
# positions; stride, padding, pooling and 1x1 convolutions change the shapes; and the way a
# convolution is connected to the dense head decides how the network grows with the input.

# %%
# %matplotlib inline
import os
import tempfile

import numpy as np
from IPython.display import Image

import zoo

WORK = tempfile.mkdtemp(prefix="zoo-images-")  # runs/ and mlflow.db go here
os.chdir(WORK)
TRAIN_SIZE = 1000  # None (all 55,000 images) to train for real
EPOCHS = 2  # 6 to train for real

# %% [markdown]
# ## An image is a tensor
#
# Fashion-MNIST's pipelines give batches of shape `(batch, height, width, channels)`: a batch
# of grey 28x28 images is a 4D tensor, one image a 3D tensor.

# %%
data = zoo.datasets.load("fashion_mnist", train_size=TRAIN_SIZE, validation_split=500)
print(data.describe())
images, labels = next(iter(data.train))
print("a batch:", tuple(images.shape), images.dtype, "labels:", tuple(labels.shape))
print(
    "one image:",
    tuple(images[0].shape),
    "values from",
    float(np.min(images[0])),
    "to",
    float(np.max(images[0])),
)

# %%
from matplotlib.figure import Figure

fig = Figure(figsize=(12, 2))
axes = fig.subplots(1, 8)
for ax, image, label in zip(axes, images[:8], labels[:8], strict=True):
    ax.imshow(np.asarray(image)[..., 0], cmap="gray")
    ax.set_title(data.class_names[int(label)], fontsize=8)
    ax.axis("off")
fig

# %% [markdown]
# ## Dense against convolutional: the parameter counts
#
# `zoo.info` builds a model and counts its parameters and its multiply-adds per example.

# %%
for name in ("mlp", "cnn"):
    info = zoo.info(name, input_shape=(28, 28, 1))
    print(
        f"{name:4s} {info['total_params']:>10,} parameters {info['macs']:>12,} mult-adds  "
        f"{info['description']}"
    )

# %% [markdown]
# ## Layer by layer
#
# `zoo.summary.layer_table` (the command `zoo summary`) shows every layer's output shape,
# parameters, multiply-adds and receptive field. The convolutions hold few parameters; the
# first dense layer after the flatten holds most of them.

# %%
print(zoo.summary.layer_table(zoo.build("cnn", input_shape=(28, 28, 1))))

# %% [markdown]
# ## Stride, padding, pooling and 1x1 convolutions change the shapes
#
# One knob at a time, on the same 28x28 input: watch the shape of the last feature map and
# the parameter count.


# %%
def last_feature_map(**knobs):
    model = zoo.build("cnn", input_shape=(28, 28, 1), filters=[32, 64], **knobs)
    names = [layer.name for layer in model.layers]
    bridge = model.layers[names.index("fc1") - 1]  # flatten, or a global pooling
    return tuple(bridge.input.shape[1:]), model.count_params()


variants = {
    "defaults (same, max pool 2)": {},
    "no pooling": {"pool": None},
    "stride 2, no pooling": {"strides": 2, "pool": None},
    "valid padding": {"padding": "valid"},
    "1x1 convolution to 8": {"pointwise_filters": 8},
    "global average bridge": {"bridge": "global_avg"},
}
for label, knobs in variants.items():
    shape, params = last_feature_map(**knobs)
    print(f"{label:30s} {shape!s:13s} {params:>9,} parameters")

# %% [markdown]
# A wrong combination is one clear sentence, not a stack trace deep inside Keras:

# %%
try:
    zoo.build("cnn", input_shape=(8, 8, 1), filters=[16, 32, 64, 128], padding="valid")
except zoo.ZooError as error:
    print(str(error).splitlines()[0])

# %% [markdown]
# ## How each network grows with the input (2.9)
#
# The same three networks built at 28, 56 and 112 pixels a side. A convolution's weights do
# not depend on the image size; a dense layer on the pixels does, and so does the dense
# layer after a `flatten` bridge. A `global_avg` bridge keeps the parameters constant.

# %%
rows = zoo.scaling.measure(sizes=(28, 56, 112))
print(zoo.scaling.reading(rows))
zoo.scaling.figure(rows)

# %% [markdown]
# ## A short training, and what it got wrong
#
# `zoo.train` runs a recipe; keyword arguments named like `train.*` settings override it.
# Every classification run writes its confusion matrix to `evaluation/` in the run folder.

# %%
result = zoo.train(
    "fashion_cnn",
    [f"fashion_mnist.train_size = {TRAIN_SIZE}", "fashion_mnist.validation_split = 500"],
    epochs=EPOCHS,
    run_name="cnn",
    verbose=2,
)
result.test_metrics

# %%
Image(filename=str(result.run_dir / "evaluation" / "confusion_matrix.png"), width=520)
