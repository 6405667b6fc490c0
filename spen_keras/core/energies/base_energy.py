"""The base class shared by every energy term."""

import numbers

import keras


def sum_over_non_batch_axes(values):
    """Reduces a (batch, ...) tensor to (batch,) by summing all other axes."""
    rank = len(values.shape)
    if rank == 1:
        return values
    return keras.ops.sum(values, axis=list(range(1, rank)))


def static_rank(shape):
    """The rank of a static shape, None when unknown (a TensorShape of
    unknown rank); any backend's shape tuple has a rank."""
    if hasattr(shape, "rank"):
        return shape.rank
    return None if shape is None else len(shape)


def known_sizes(sizes):
    """The sizes among `sizes` known now, as ints: None (an axis left free
    in a traced function) and a JAX export's symbolic dimension (whose
    comparisons raise, and which is no `numbers.Integral`) are checked when
    the function runs instead."""
    return [int(d) for d in sizes if isinstance(d, numbers.Integral)]


def check_positive(name, value):
    """Raises a ValueError naming `name` unless `value` is a positive number."""
    if value is None or not float(value) > 0.0:
        raise ValueError(f"`{name}` must be a positive number; got {value!r}.")
    return float(value)


class Energy(keras.layers.Layer):
    """An energy term E(y; features) returning one value per example.

    Subclasses implement `energy(y, features)`. The base class selects their
    features (`features_key` picks one entry when features is a dict, so one
    `SumEnergy` can feed different inputs to different terms) and checks the
    rank and last dimension of `y` against `expected_rank` and
    `expected_last_dim`, so a wrong shape fails with a message that names it
    instead of deep inside a convolution.

    Args:
        features_key: optional key of the features dict this term reads.
        **kwargs: standard `keras.layers.Layer` arguments (e.g. `dtype`).

    Call arguments:
        y: the structured output, shape (batch, ...).
        features: optional tensor or dict of tensors, the output of F(x).

    Returns:
        A tensor of shape (batch,).
    """

    #: Rank of `y` this term accepts (None: any).
    expected_rank = None
    #: Whether the term cannot work without features.
    requires_features = False

    def __init__(self, features_key=None, **kwargs):
        super().__init__(**kwargs)
        self.features_key = features_key

    @property
    def expected_last_dim(self):
        """Size of the last axis of `y` this term accepts (None: any)."""
        return None

    def select_features(self, features):
        """Returns this term's features: `features[features_key]` or all."""
        if self.features_key is None or features is None:
            return features
        if not isinstance(features, dict) or self.features_key not in features:
            available = sorted(features) if isinstance(features, dict) else None
            raise ValueError(
                f"{self.__class__.__name__} reads features[{self.features_key!r}]"
                f" but the features given have keys {available}."
            )
        return features[self.features_key]

    def select_features_shape(self, features_shape):
        """The shape of this term's features, given the shape of all (the
        same selection as `select_features`, for `build`)."""
        return self.select_features(features_shape)

    def check_y(self, y):
        """Raises a ValueError if the static shape of `y` cannot fit."""
        name = self.__class__.__name__
        shape = y.shape
        rank = static_rank(shape)
        if self.expected_rank is not None and rank is not None:
            if rank != self.expected_rank:
                raise ValueError(
                    f"{name} expects y of rank {self.expected_rank}"
                    f" {self.shape_description()}; got shape {tuple(shape)}."
                )
        last = self.expected_last_dim
        if last is not None and rank and shape[-1] is not None:
            if shape[-1] != last:
                raise ValueError(
                    f"{name} expects y with {last} channel(s) on the last axis"
                    f" {self.shape_description()}; got shape {tuple(shape)}."
                )

    def shape_description(self):
        """A human description of the expected shape for error messages."""
        return ""

    # --- receptive field ---------------------------------------------------
    #
    # Two numbers describe how an energy sees the spatial axes of y (every
    # axis between batch and the last, channel axis). They let a model refuse
    # inputs too small for it with a clear message, and let inference split a
    # large input into overlapping tiles that give exactly the whole-input
    # result (`spen_keras.core.tiled_inference`).

    def minimum_spatial_size(self):
        """The smallest size of every spatial axis of y the energy accepts.

        For a stack of "valid" convolutions with kernel sizes k_1..k_L this is
        sum_l (k_l - 1) + 1 (one output window must fit); per-pixel energies
        return 1.

        Returns:
            An int (the same bound on every spatial axis), or None for an
            energy without spatial structure (e.g. one over the flattened y),
            which sets no such bound.
        """
        return None

    def gradient_radius(self):
        """How far, in pixels, information travels in one evaluation of dE/dy.

        dE/dy at pixel i depends on y (and on the features) only at pixels j
        with |j - i| <= radius along every spatial axis. One unrolled step
        therefore moves information by at most this many pixels, and T steps
        by T x radius. Per-pixel energies return 0; a stack of convolutions
        with kernel sizes k_1..k_L returns sum_l (k_l - 1) (see
        `ImageEnergy.gradient_radius` for the derivation).

        Returns:
            A non-negative int, or None when dE/dy is not spatially local
            (e.g. an energy over the flattened y): such an energy cannot be
            evaluated exactly in tiles.
        """
        return None

    # --- preconditioning --------------------------------------------------

    def step_scale(self, features):
        """A per-example factor the minimiser multiplies dE/dy by, or None.

        A diagonal preconditioner that depends on the features only (never
        on y, and without gradient): minimising s_n E instead of E for
        example n has the same minimum, but the steps the unrolled
        minimiser takes are s_n times as long. An energy whose curvature in
        y changes from example to example by orders of magnitude (e.g. a
        data term weighted by a per-example noise estimate) uses it to keep
        learned step sizes inside their stable range on every example.

        Args:
            features: this term's features (already selected with
                `select_features`).

        Returns:
            None (no scaling: the default), or a (batch,) tensor > 0.
        """
        del features
        return None

    def call(self, y, features=None):
        self.check_y(y)
        features = self.select_features(features)
        if self.requires_features and features is None:
            raise ValueError(
                f"{self.__class__.__name__} needs features but got None."
            )
        return self.energy(y, features)

    def energy(self, y, features):
        """Returns the energy per example, shape (batch,)."""
        raise NotImplementedError

    def compute_output_shape(self, y_shape, features_shape=None):
        return (y_shape[0],)

    def get_config(self):
        config = super().get_config()
        config.update({"features_key": self.features_key})
        return config
