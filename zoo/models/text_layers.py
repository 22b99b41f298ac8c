"""Keras layers of the text models: serialisable subclasses (no Lambda layers).

Importing this module imports keras and registers the layers under the package ``zoo``, so
``keras.saving.load_model`` finds them; ``zoo.models.text`` imports it when it builds a model.
"""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="zoo")
class TokenAndPositionEmbedding(layers.Layer):
    """Token embedding plus a learned position embedding; token 0 (padding) is masked."""

    def __init__(self, vocabulary_size: int, sequence_length: int, embedding_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = int(sequence_length)
        self.embedding_dim = int(embedding_dim)
        self.token_embedding = layers.Embedding(
            self.vocabulary_size, self.embedding_dim, name="token_embedding"
        )
        self.position_embedding = layers.Embedding(
            self.sequence_length, self.embedding_dim, name="position_embedding"
        )

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        self.position_embedding.build((self.sequence_length,))
        self.built = True

    def call(self, inputs):
        positions = ops.arange(0, ops.shape(inputs)[-1], dtype="int32")
        return self.token_embedding(inputs) + self.position_embedding(positions)

    def compute_mask(self, inputs, mask=None):
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.embedding_dim)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "embedding_dim": self.embedding_dim,
        }


@keras.saving.register_keras_serializable(package="zoo")
class TransformerEncoder(layers.Layer):
    """One post-norm encoder block (Vaswani et al. 2017): self-attention, then a feed-forward
    network, each with dropout, a residual connection and layer normalisation. Padding
    positions are masked out of the attention."""

    def __init__(self, embedding_dim: int, heads: int, ff_dim: int, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.embedding_dim = int(embedding_dim)
        self.heads = int(heads)
        self.ff_dim = int(ff_dim)
        self.dropout = float(dropout)
        self.attention = layers.MultiHeadAttention(
            self.heads, self.embedding_dim // self.heads, dropout=self.dropout, name="attention"
        )
        self.ff1 = layers.Dense(self.ff_dim, activation="relu", name="ff1")
        self.ff2 = layers.Dense(self.embedding_dim, name="ff2")
        self.norm1 = layers.LayerNormalization(epsilon=1e-6, name="norm1")
        self.norm2 = layers.LayerNormalization(epsilon=1e-6, name="norm2")
        self.drop1 = layers.Dropout(self.dropout)
        self.drop2 = layers.Dropout(self.dropout)

    def build(self, input_shape):
        self.attention.build(input_shape, input_shape)
        self.norm1.build(input_shape)
        self.ff1.build(input_shape)
        self.ff2.build((*input_shape[:-1], self.ff_dim))
        self.norm2.build(input_shape)
        self.built = True

    def call(self, inputs, mask=None, training=None):
        attention_mask = None
        if mask is not None:
            m = ops.cast(mask, "bool")
            attention_mask = ops.logical_and(m[:, :, None], m[:, None, :])
        attended = self.attention(inputs, inputs, attention_mask=attention_mask, training=training)
        x = self.norm1(inputs + self.drop1(attended, training=training))
        ff = self.ff2(self.ff1(x))
        return self.norm2(x + self.drop2(ff, training=training))

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "embedding_dim": self.embedding_dim,
            "heads": self.heads,
            "ff_dim": self.ff_dim,
            "dropout": self.dropout,
        }


@keras.saving.register_keras_serializable(package="zoo")
class BagOfTokens(layers.Layer):
    """Token ids -> the mean of their one-hot vectors (a normalised bag of words).

    This is what an embedding layer followed by averaging computes, before the embedding
    matrix: one-hot vectors are ``vocabulary_size`` wide, an embedding is ``embedding_dim``
    wide. Padding (token 0) is not counted.
    """

    def __init__(self, vocabulary_size: int, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        # Counted in float32 whatever the policy: under mixed_bfloat16 a bfloat16 count
        # (in a compiled graph) rounds the token ids themselves to 8 significant bits, so
        # word 12345 lands on 12352 and most words above 256 share a column with others.
        self.encoder = layers.CategoryEncoding(
            self.vocabulary_size, output_mode="count", dtype="float32"
        )

    def build(self, input_shape):
        self.encoder.build(input_shape)
        self.built = True

    def call(self, inputs):
        counts = ops.cast(self.encoder(inputs), self.compute_dtype)
        not_pad = ops.cast(ops.arange(self.vocabulary_size) > 0, self.compute_dtype)
        counts = counts * not_pad
        lengths = ops.maximum(ops.sum(counts, axis=-1, keepdims=True), 1.0)
        return counts / lengths

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.vocabulary_size)

    def get_config(self) -> dict:
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size}


@keras.saving.register_keras_serializable(package="zoo")
class ZeroPaddingVectors(layers.Layer):
    """``[vectors, token_ids]`` -> ``vectors`` with the padding positions (token 0) set to zero.

    Kim (2014)'s code holds the padding word's vector at zero; a trained embedding row would
    let a convolution read a sentence's length from how much padding it covers.
    """

    def call(self, inputs):
        vectors, ids = inputs
        keep = ops.cast(ops.not_equal(ids, 0), vectors.dtype)
        return vectors * ops.expand_dims(keep, -1)

    def compute_output_shape(self, input_shape):
        return input_shape[0]
