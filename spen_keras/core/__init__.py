"""The model core: task-neutral, knows no family, no preset, no file;
written in `keras.ops`, it runs on TensorFlow, JAX and PyTorch.

- `energies/`: energies as Keras layers, `call(y, features) -> (batch,)`;
- `step_rules/`: optax-shaped step rules, `ChainedStep(parametrization,
  direction, projection)`;
- `unrolled_minimizer`: `UnrolledMinimizer`, T steps with exact
  second-order terms (nested `GradientTape`), finite-difference HVPs and
  checkpointed steps;
- `spen`: the `SPEN` keras.Model (F(x) -> Init -> minimiser; Eq. 9 loss);
- `decoding`: constrained decoding of soft outputs (H, LP, ILP);
- `tiled_inference`: exact tiled inference for large images;
- `backend/`: what Keras does not abstract, once per backend (TensorFlow,
  JAX, PyTorch); `backend_check`: the one-line refusal of a backend the
  core cannot run on (numpy, openvino).

The public names are re-exported by `spen_keras` itself.
"""
