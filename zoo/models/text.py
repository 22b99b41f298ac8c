"""Text classifiers over token ids: embedding bag, Kim's CNN, GRU / LSTM, a transformer, and a
one-hot baseline.

Every builder takes token ids of shape ``(sequence_length,)`` (0 is padding) and the shared
arguments (``input_shape``, ``classes``, ``classifier_activation``, ``include_top``,
``weights``, ``input_tensor``, ``name``) plus ``vocabulary_size`` and, for pretrained vectors,
``vocabulary`` and ``vectors`` (a word2vec / GloVe file). The runner passes the vocabulary of
the dataset (``Dataset.extras["model_kwargs"]``). The embedding layer is named ``embedding``
(``embedding_static`` / ``embedding_nonstatic`` in Kim's multichannel mode).
"""

from __future__ import annotations

from collections.abc import Sequence

from zoo._lazy import keras, layers
from zoo.errors import ConfigError
from zoo.models.common import check_top, finish
from zoo.models.registry import register

KIM_MODES = ("rand", "static", "nonstatic", "multichannel")
DEFAULT_INPUT = (56,)  # the longest MR sentence in tokens (Kim 2014, Table 1: l = 56)


def _layers():
    """The custom layers' module (imports keras; registers them for ``load_model``)."""
    from zoo.models import text_layers

    return text_layers


def _pretrained(vectors, vocabulary, vocabulary_size: int, embedding_dim: int, seed: int):
    from zoo.models.word_vectors import embedding_matrix

    if vocabulary is None:
        raise ConfigError(
            "Pretrained vectors need the dataset's vocabulary: train on a text dataset "
            "(the runner passes it) or pass vocabulary=[...]."
        )
    if len(vocabulary) != vocabulary_size:
        raise ConfigError(
            f"vocabulary has {len(vocabulary)} words but vocabulary_size is {vocabulary_size}."
        )
    found = embedding_matrix(vectors, vocabulary, embedding_dim, seed=seed)
    print(found.describe(), flush=True)
    return found.matrix


def _head(x, *, include_top, classes, classifier_activation, dropout, max_norm=None):
    if not include_top:
        return x
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    constraint = keras.constraints.MaxNorm(max_norm, axis=0) if max_norm else None
    return layers.Dense(
        classes,
        activation=classifier_activation,
        kernel_constraint=constraint,
        dtype="float32",
        name="predictions",
    )(x)


def _input(input_tensor, input_shape, model_name: str):
    """Integer token ids of shape ``(sequence_length,)`` (or the given ``input_tensor``)."""
    if input_tensor is not None:
        return input_tensor
    shape = tuple(input_shape) if input_shape is not None else DEFAULT_INPUT
    if shape[0] is not None and int(shape[0]) <= 0:
        raise ConfigError(f"{model_name}: sequence length must be positive, not {shape[0]}.")
    return layers.Input(shape=shape, dtype="int32", name="tokens")


def _check(vocabulary_size, input_shape, model_name):
    if int(vocabulary_size) < 2:
        raise ConfigError(f"{model_name}: vocabulary_size must be at least 2.")
    if input_shape is not None and len(tuple(input_shape)) != 1:
        raise ConfigError(
            f"{model_name} takes token ids of shape (sequence_length,), not {tuple(input_shape)}: "
            "use a text dataset (mr, imdb, text_folder)."
        )


@register(
    "embedding_bag",
    family="text",
    task="text",
    default_input=DEFAULT_INPUT,
    default_classes=2,
    paper="Joulin et al. 2017, Bag of Tricks for Efficient Text Classification (fastText)",
)
def embedding_bag(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    classes: int = 2,
    classifier_activation: str | None = "softmax",
    vocabulary_size: int = 20_000,
    embedding_dim: int = 64,
    hidden_units: int = 0,
    dropout: float = 0.0,
    vectors: str | None = None,
    trainable_embedding: bool = True,
    vocabulary: Sequence[str] | None = None,
    seed: int = 42,
    name: str = "embedding_bag",
):
    """Mean of the word embeddings -> [dense] -> classifier (fastText-like)."""
    _check(vocabulary_size, input_shape, name)
    check_top(include_top, weights, classes, name)
    inputs = _input(input_tensor, input_shape, name)
    embed = layers.Embedding(
        vocabulary_size,
        embedding_dim,
        mask_zero=True,
        trainable=trainable_embedding or vectors is None,
        name="embedding",
    )
    x = embed(inputs)
    x = layers.GlobalAveragePooling1D(name="mean_pool")(x)
    if hidden_units:
        x = layers.Dense(hidden_units, activation="relu", name="fc1")(x)
    x = _head(
        x,
        include_top=include_top,
        classes=classes,
        classifier_activation=classifier_activation,
        dropout=dropout,
    )
    model = finish(inputs, x, input_tensor=input_tensor, name=name, weights=weights)
    if vectors and weights is None:
        embed.set_weights([_pretrained(vectors, vocabulary, vocabulary_size, embedding_dim, seed)])
    return model


@register(
    "onehot",
    family="text",
    task="text",
    default_input=DEFAULT_INPUT,
    default_classes=2,
    paper="baseline: bag of one-hot vectors (the input an embedding replaces)",
)
def onehot(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    classes: int = 2,
    classifier_activation: str | None = "softmax",
    vocabulary_size: int = 20_000,
    hidden_units: int = 64,
    dropout: float = 0.0,
    vocabulary: Sequence[str] | None = None,
    name: str = "onehot",
):
    """Mean of one-hot word vectors (vocabulary-wide) -> [dense] -> classifier.

    With ``hidden_units`` the first dense layer multiplies one-hot vectors by a
    ``vocabulary_size x hidden_units`` matrix: the same parameters as an embedding of that
    width, computed on the wide sparse input instead of by a table lookup.
    """
    _check(vocabulary_size, input_shape, name)
    check_top(include_top, weights, classes, name)
    inputs = _input(input_tensor, input_shape, name)
    x = _layers().BagOfTokens(vocabulary_size, name="one_hot_bag")(inputs)
    if hidden_units:
        x = layers.Dense(hidden_units, activation="relu", name="fc1")(x)
    x = _head(
        x,
        include_top=include_top,
        classes=classes,
        classifier_activation=classifier_activation,
        dropout=dropout,
    )
    return finish(inputs, x, input_tensor=input_tensor, name=name, weights=weights)


@register(
    "kim_cnn",
    family="text",
    task="text",
    default_input=DEFAULT_INPUT,
    default_classes=2,
    paper="Kim 2014, Convolutional Neural Networks for Sentence Classification",
)
def kim_cnn(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    classes: int = 2,
    classifier_activation: str | None = "softmax",
    vocabulary_size: int = 20_000,
    embedding_dim: int = 300,
    mode: str = "rand",
    vectors: str | None = None,
    filter_sizes: Sequence[int] = (3, 4, 5),
    filters: int = 100,
    activation: str = "relu",
    dropout: float = 0.5,
    embedding_dropout: float = 0.0,
    word_dropout: float = 0.0,
    max_norm: float | None = 3.0,
    embedding_init_scale: float = 0.25,
    pad_edges: bool = False,
    vocabulary: Sequence[str] | None = None,
    seed: int = 42,
    name: str = "kim_cnn",
):
    """Kim's sentence CNN: widths 3/4/5 x 100 maps, max-over-time pooling, four embedding modes.

    Dropout 0.5 and an L2 max-norm of 3 on the output layer's weight vectors, as in the paper.

    ``rand`` draws embeddings uniformly from [-0.25, 0.25] (``embedding_init_scale``) and trains
    them; ``static`` freezes pretrained ``vectors``; ``nonstatic`` fine-tunes them;
    ``multichannel`` has one frozen and one fine-tuned channel, each filter sees both.
    ``embedding_dropout`` (not in the paper, default 0) drops word-vector entries in training;
    ``word_dropout`` (not in the paper either, default 0) drops whole words: every entry of a
    token's vector at once, as if the word were missing from the sentence.
    ``pad_edges`` lays sentences out as Kim's code does: the padding vector is held at zero
    and each convolution sees ``width - 1`` zero vectors before and after the sentence, so
    the first and last words meet every position of a filter, as the middle ones do
    (without it the first word enters a width-5 filter only at its first position).
    """
    _check(vocabulary_size, input_shape, name)
    check_top(include_top, weights, classes, name)
    if mode not in KIM_MODES:
        raise ConfigError(f"kim_cnn.mode must be one of {', '.join(KIM_MODES)}, not {mode!r}.")
    if mode != "rand" and not vectors:
        raise ConfigError(
            f"kim_cnn.mode = '{mode}' needs pretrained vectors: set kim_cnn.vectors = "
            "'<word2vec or GloVe file>' (or use mode 'rand')."
        )
    inputs = _input(input_tensor, input_shape, name)
    length = inputs.shape[1]
    if length is not None and length < max(filter_sizes):
        raise ConfigError(
            f"kim_cnn: sequence length {length} is shorter than the widest filter "
            f"({max(filter_sizes)}): set the dataset's sequence_length to at least that."
        )
    init = keras.initializers.RandomUniform(-embedding_init_scale, embedding_init_scale, seed=seed)
    if mode == "multichannel":
        embeds = [
            layers.Embedding(
                vocabulary_size, embedding_dim, trainable=False, name="embedding_static"
            ),
            layers.Embedding(vocabulary_size, embedding_dim, name="embedding_nonstatic"),
        ]
        # Concatenating the channels on the feature axis makes each filter's weights span
        # both channels and sum their responses, as Kim applies a filter to both channels.
        x = layers.Concatenate(name="channels")([e(inputs) for e in embeds])
    else:
        embeds = [
            layers.Embedding(
                vocabulary_size,
                embedding_dim,
                embeddings_initializer=init,
                trainable=mode != "static",
                name="embedding",
            )
        ]
        x = embeds[0](inputs)
    if pad_edges:
        x = _layers().ZeroPaddingVectors(name="zero_padding_vectors")([x, inputs])
    if word_dropout:
        x = layers.Dropout(word_dropout, noise_shape=(None, None, 1), name="word_dropout")(x)
    if embedding_dropout:
        x = layers.Dropout(embedding_dropout, name="embedding_dropout")(x)
    pooled = []
    for width in filter_sizes:
        h = x
        if pad_edges:
            h = layers.ZeroPadding1D(width - 1, name=f"conv{width}_edges")(h)
        h = layers.Conv1D(filters, width, activation=activation, name=f"conv{width}")(h)
        pooled.append(layers.GlobalMaxPooling1D(name=f"conv{width}_max_pool")(h))
    x = pooled[0] if len(pooled) == 1 else layers.Concatenate(name="features")(pooled)
    x = _head(
        x,
        include_top=include_top,
        classes=classes,
        classifier_activation=classifier_activation,
        dropout=dropout,
        max_norm=max_norm,
    )
    model = finish(inputs, x, input_tensor=input_tensor, name=name, weights=weights)
    if mode != "rand" and weights is None:
        matrix = _pretrained(vectors, vocabulary, vocabulary_size, embedding_dim, seed)
        for e in embeds:
            e.set_weights([matrix])
    return model


def _recurrent(cell: str):
    def builder(
        include_top: bool = True,
        weights: str | None = None,
        input_tensor=None,
        input_shape: Sequence[int] | None = None,
        classes: int = 2,
        classifier_activation: str | None = "softmax",
        vocabulary_size: int = 20_000,
        embedding_dim: int = 128,
        units: Sequence[int] | int = (64,),
        bidirectional: bool = True,
        dropout: float = 0.5,
        recurrent_dropout: float = 0.0,
        vectors: str | None = None,
        trainable_embedding: bool = True,
        vocabulary: Sequence[str] | None = None,
        seed: int = 42,
        name: str = cell,
    ):
        _check(vocabulary_size, input_shape, name)
        check_top(include_top, weights, classes, name)
        stack = [int(units)] if isinstance(units, int) else [int(u) for u in units]
        if not stack:
            raise ConfigError(f"{name}.units needs at least one layer size.")
        inputs = _input(input_tensor, input_shape, name)
        embed = layers.Embedding(
            vocabulary_size,
            embedding_dim,
            mask_zero=True,
            trainable=trainable_embedding or vectors is None,
            name="embedding",
        )
        x = embed(inputs)
        rnn = layers.GRU if cell == "gru" else layers.LSTM
        for i, n in enumerate(stack, start=1):
            last = i == len(stack)
            layer = rnn(
                n,
                return_sequences=not last,
                recurrent_dropout=recurrent_dropout,
                name=f"{cell}{i}",
            )
            if bidirectional:
                layer = layers.Bidirectional(layer, name=f"bi{cell}{i}")
            x = layer(x)
        x = _head(
            x,
            include_top=include_top,
            classes=classes,
            classifier_activation=classifier_activation,
            dropout=dropout,
        )
        model = finish(inputs, x, input_tensor=input_tensor, name=name, weights=weights)
        if vectors and weights is None:
            embed.set_weights(
                [_pretrained(vectors, vocabulary, vocabulary_size, embedding_dim, seed)]
            )
        return model

    builder.__name__ = cell
    builder.__doc__ = (
        f"Embedding -> stacked (bidirectional) {cell.upper()} layers -> classifier; padding masked."
    )
    return builder


gru = register(
    "gru",
    family="text",
    task="text",
    default_input=DEFAULT_INPUT,
    default_classes=2,
    paper="Cho et al. 2014, Learning Phrase Representations using RNN Encoder-Decoder",
)(_recurrent("gru"))
lstm = register(
    "lstm",
    family="text",
    task="text",
    default_input=DEFAULT_INPUT,
    default_classes=2,
    paper="Hochreiter & Schmidhuber 1997, Long Short-Term Memory",
)(_recurrent("lstm"))


@register(
    "transformer",
    family="text",
    task="text",
    default_input=DEFAULT_INPUT,
    default_classes=2,
    paper="Vaswani et al. 2017, Attention Is All You Need (encoder only)",
)
def transformer(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    classes: int = 2,
    classifier_activation: str | None = "softmax",
    vocabulary_size: int = 20_000,
    embedding_dim: int = 64,
    heads: int = 2,
    ff_dim: int = 128,
    blocks: int = 1,
    dropout: float = 0.1,
    head_dropout: float = 0.3,
    vocabulary: Sequence[str] | None = None,
    name: str = "transformer",
):
    """Token + learned position embeddings -> encoder blocks -> masked mean -> classifier."""
    _check(vocabulary_size, input_shape, name)
    check_top(include_top, weights, classes, name)
    if embedding_dim % heads:
        raise ConfigError(
            f"transformer.embedding_dim ({embedding_dim}) must be a multiple of heads ({heads})."
        )
    inputs = _input(input_tensor, input_shape, name)
    if inputs.shape[1] is None:
        raise ConfigError("transformer needs a fixed sequence length for its position embedding.")
    tl = _layers()
    x = tl.TokenAndPositionEmbedding(
        vocabulary_size, inputs.shape[1], embedding_dim, name="embedding"
    )(inputs)
    for i in range(1, blocks + 1):
        x = tl.TransformerEncoder(embedding_dim, heads, ff_dim, dropout, name=f"encoder{i}")(x)
    x = layers.GlobalAveragePooling1D(name="mean_pool")(x)
    x = _head(
        x,
        include_top=include_top,
        classes=classes,
        classifier_activation=classifier_activation,
        dropout=head_dropout,
    )
    return finish(inputs, x, input_tensor=input_tensor, name=name, weights=weights)
