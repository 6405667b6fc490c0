"""The multi-label models, built from the library's layers.

- `feature_network`: F(x), an MLP (ReLU hidden layers with dropout). F is
  differentiated twice only through the linear local term, so ReLU is safe.
- `logistic_regression` (BR) and `mlp_classifier`: the baselines, one
  sigmoid per label (binary relevance), from x or from F(x).
- `MultiLabelSpen`: the SPEN of Belanger & McCallum (2016) trained either
  end-to-end through the unrolled steps (2017) or as a structured SVM (2016):
  E(y; x) = -sum_i y_i b_i^T F(x)  (`LocalLinearEnergy`)
            + c2^T SoftPlus(C1 y)  (`MLPGlobalEnergy`, optionally ICNN)
            + w sum_i [y_i log y_i + (1 - y_i) log(1 - y_i)]
              (`EntropyEnergy`, Bernoulli: with the local term alone the
              minimiser is sigmoid(b_i^T F(x)), the MLP's prediction).
  Inference starts from the MLP's prediction (Init) and takes T steps in
  logit space with sigmoids (`LogitStep`, Eq. 8), or entropic mirror descent
  on [0, 1] (`BernoulliMirrorStep`), or projected gradient on [0, 1].
"""

import keras
from keras import ops

from spen_keras.core.energies import EntropyEnergy
from spen_keras.core.energies import LocalLinearEnergy
from spen_keras.core.energies import MLPGlobalEnergy
from spen_keras.core.energies import SumEnergy
from spen_keras.core.energies.base_energy import sum_over_non_batch_axes
from spen_keras.core.spen import SPEN
from spen_keras.core.step_rules import ChainedStep
from spen_keras.core.step_rules import LogitParametrization
from spen_keras.core.step_rules import LogitStep
from spen_keras.core.step_rules import NoProjection
from spen_keras.core.step_rules import PlainDirection
from spen_keras.core.step_rules import ProjectedGradientStep
from spen_keras.core.unrolled_minimizer import UnrolledMinimizer

MARGINS = ("hamming", "f1", "squared")
INFERENCE = ("logits", "mirror_descent", "projected")


@keras.saving.register_keras_serializable(package="spen_keras.mlc")
class BernoulliMirrorParametrization(LogitParametrization):
    """Entropic mirror descent on [0, 1]^L: logit(y) <- logit(y) - eta g.

    The mirror map of the Bernoulli entropy sum_i y_i log y_i +
    (1 - y_i) log(1 - y_i) has gradient logit(y), so a mirror step moves the
    logits by the plain gradient dE/dy (no y (1 - y) factor, unlike
    gradient descent on the logits). With the local and entropy terms alone
    one step of size 1 from any start lands on sigmoid(local scores).

    Example:
    >>> p = BernoulliMirrorParametrization()
    >>> g = p.coordinate_gradient(ops.ones((1,)) * 4.0, p.init(ops.ones((1,))))
    >>> ops.convert_to_numpy(g)
    array([4.], dtype=float32)
    """

    def __init__(self, epsilon=1e-6):
        super().__init__("sigmoid", epsilon)

    def coordinate_gradient(self, grad, coords):
        return grad

    def get_config(self):
        return {"epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="spen_keras.mlc")
class BernoulliMirrorStep(ChainedStep):
    """Entropic mirror descent on the unit box, as a step rule."""

    name = "bernoulli_mirror_descent"

    def __init__(self, epsilon=1e-6):
        super().__init__(BernoulliMirrorParametrization(epsilon),
                         PlainDirection(), NoProjection())

    def get_config(self):
        return {"epsilon": self.parametrization.epsilon}


def step_rule(inference):
    """The step rule of an inference name in `INFERENCE`."""
    if inference == "logits":
        return LogitStep("sigmoid")
    if inference == "mirror_descent":
        return BernoulliMirrorStep()
    if inference == "projected":
        return ProjectedGradientStep()
    raise ValueError(f"Unknown inference {inference!r}; expected one of "
                     f"{INFERENCE}.")


@keras.saving.register_keras_serializable(package="spen_keras.mlc")
class MultiLabelSpen(SPEN):
    """A SPEN over y in [0, 1]^L with multi-label SSVM margins.

    As `SPEN`, with the structured SVM's margin Delta(y, y*) chosen for
    multi-label outputs (Belanger & McCallum 2016):

    - "hamming": sum_i |y_i - y*_i|, the Hamming loss of a relaxed y
      (linear in y for a binary y*);
    - "f1": L (1 - 2 <y, y*> / (sum y + sum y*)), a smooth F1 surrogate
      scaled to the Hamming margin's range;
    - "squared": the core's sum_i (y_i - y*_i)^2.

    Args:
        margin: one of `MARGINS`.
        **kwargs: `SPEN` arguments.
    """

    def __init__(self, *args, margin="hamming", **kwargs):
        super().__init__(*args, **kwargs)
        if margin not in MARGINS:
            raise ValueError(f"Unknown margin {margin!r}; expected one of "
                             f"{MARGINS}.")
        self.margin = margin

    def _margin(self, y_pred, y_true):
        y_true = ops.cast(y_true, y_pred.dtype)
        if self.margin == "squared":
            return super()._margin(y_pred, y_true)
        if self.margin == "hamming":
            delta = sum_over_non_batch_axes(
                y_true * (1.0 - y_pred) + (1.0 - y_true) * y_pred)
        else:
            overlap = sum_over_non_batch_axes(y_pred * y_true)
            sizes = (sum_over_non_batch_axes(y_pred)
                     + sum_over_non_batch_axes(y_true))
            labels = ops.cast(ops.shape(y_pred)[-1], y_pred.dtype)
            # No gold and no predicted label is a perfect answer (F1 = 1).
            delta = ops.where(
                sizes > 0,
                labels * (1.0 - 2.0 * overlap / ops.maximum(sizes, 1e-6)),
                ops.zeros_like(sizes))
        return self.ssvm_margin_scale * delta

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


def feature_network(num_features, hidden_units, dropout, name="features"):
    """F(x): ReLU layers of `hidden_units` with dropout after each."""
    layers = [keras.Input((num_features,))]
    for width in hidden_units:
        layers += [keras.layers.Dense(width, activation="relu"),
                   keras.layers.Dropout(dropout)]
    return keras.Sequential(layers, name=name)


def mlp_classifier(num_features, num_labels, hidden_units, dropout):
    """The MLP baseline: F(x), then one sigmoid per label."""
    return keras.Sequential(
        [feature_network(num_features, hidden_units, dropout),
         keras.layers.Dense(num_labels, activation="sigmoid", name="head")],
        name="mlp")


def logistic_regression(num_features, num_labels, l2=0.0):
    """BR: independent logistic regressions on x (one per label)."""
    regularizer = keras.regularizers.L2(l2) if l2 else None
    return keras.Sequential(
        [keras.Input((num_features,)),
         keras.layers.Dense(num_labels, activation="sigmoid",
                            kernel_regularizer=regularizer, name="head")],
        name="binary_relevance")


def build_spen(mlp, num_labels, num_steps, global_units=(16,),
               input_convex=False, entropy_weight=1.0, step_size=1.0,
               inference="logits", training_mode="unrolled",
               margin="hamming", temperature=1.0):
    """A `MultiLabelSpen` whose F, Init and local term start from `mlp`.

    The feature network is the MLP's (shared: its weights are the SPEN's);
    Init and the local term are copies of the MLP's sigmoid head, so before
    training the SPEN's Init is the MLP's prediction.

    Args:
        mlp: a trained (or fresh) `mlp_classifier`.
        num_labels: L.
        num_steps: T.
        global_units: widths of the global energy's hidden layers (the
            first is the number of label "measurements" C1 y).
        input_convex: ICNN global energy.
        entropy_weight: weight of the Bernoulli entropy term (0: none).
        step_size: initial step size (learned per step).
        inference: one of `INFERENCE`.
        training_mode: "unrolled" (2017) or "ssvm" (2016).
        margin: the SSVM margin, one of `MARGINS`.
        temperature: SoftPlus temperature of the global energy.
    """
    features = mlp.get_layer("features")
    head = mlp.get_layer("head")
    local = LocalLinearEnergy(num_labels, name="local")
    terms = [local, MLPGlobalEnergy(hidden_units=tuple(global_units),
                                    temperature=temperature,
                                    input_convex=input_convex,
                                    name="global")]
    if entropy_weight:
        terms.append(EntropyEnergy(weight=entropy_weight, mode="bernoulli",
                                   name="entropy"))
    init = keras.layers.Dense(num_labels, activation="sigmoid", name="init")
    minimizer = UnrolledMinimizer(
        SumEnergy(terms, name="energy"), num_steps=num_steps,
        step_rule=step_rule(inference), step_size=step_size,
        learn_step_sizes=training_mode == "unrolled", name="minimizer")
    spen = MultiLabelSpen(minimizer, feature_network=features,
                          init_network=init, training_mode=training_mode,
                          margin=margin, name="spen")
    spen.build((None, features.input_shape[-1]))
    weights = head.get_weights()
    init.set_weights(weights)
    local.set_weights(weights)
    return spen
