"""Built-in model families. Importing this package registers them (no TensorFlow import)."""

from zoo.models import (
    cnn,  # noqa: F401
    text,  # noqa: F401
)
