"""Built-in model families. Importing this package registers them (no TensorFlow import)."""

from zoo.models import alexnet, cnn, googlenet, resnet, text, vgg  # noqa: F401
