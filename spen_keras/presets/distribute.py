"""Training on several devices or processes with `tf.distribute`: task-neutral.

Three strategies, by name (`get_strategy`):

- "default": `tf.distribute.get_strategy()`, one device (no distribution).
- "mirrored": `MirroredStrategy` over every local GPU, else over every logical
  CPU device (one CPU unless the process split it with
  `tf.config.set_logical_device_configuration` before TensorFlow started;
  one replica is allowed and behaves like "default"). On CPUs the gradients
  are summed by `ReductionToOneDevice` (NCCL needs GPUs).
- "multiworker": `MultiWorkerMirroredStrategy` over the processes named by the
  `TF_CONFIG` environment variable, validated first (`check_tf_config`) so
  a missing or malformed cluster spec is one clear `StrategyError`. The
  collectives use RING (gRPC), which works on CPUs and GPUs alike.

The batch size is always the GLOBAL batch: each step consumes one batch of
the single-device stream, split across replicas (`distribute_global_batches`).
Every input pipeline (one per worker) keeps its contiguous slice of each
global batch, and each replica gets its slice in replica order, so a step sees
exactly the examples one device would see and the summed gradient equals the
single-device gradient up to floating-point summation order. The slicing is
done on the stream of global batches, so every worker still computes the
whole global batch (input work is replicated, not divided); a family whose
stream is index-based can instead produce only its slice.

Only the chief (`is_chief`) writes results; the other workers write to a
temporary folder of their own (`worker_scratch_dir`) which they delete.

On Keras' JAX and PyTorch backends there is no `tf.distribute`: "default"
(or no strategy) is `SINGLE_DEVICE`, a stand-in with the same
`scope()`, and "mirrored"/"multiworker" are a one-line `StrategyError`.
"""

import contextlib

import json
import os
import re
import tempfile

STRATEGIES = ("default", "mirrored", "multiworker")


class StrategyError(ValueError):
    """A strategy cannot be set up as asked (unknown name, missing or
    malformed TF_CONFIG, a global batch that does not split); the message is
    one line saying what to fix."""


class SingleDevice:
    """One device without `tf.distribute` (Keras' JAX or PyTorch backend):
    what the training loop asks of a strategy, doing nothing."""

    num_replicas_in_sync = 1
    cluster_resolver = None

    def scope(self):
        return contextlib.nullcontext()


SINGLE_DEVICE = SingleDevice()


_ADDRESS = re.compile(r"^[^\s:]+:\d{1,5}$")


def check_tf_config(text=None):
    """Parses and validates a TF_CONFIG cluster spec.

    Args:
        text: the JSON text, default the `TF_CONFIG` environment variable.

    Returns:
        The parsed dict: {"cluster": {"worker": [...], ...}, "task":
        {"type": ..., "index": ...}}.

    Raises:
        StrategyError: naming the problem (unset, not JSON, no cluster, no
            worker list, a bad address, a task missing from the cluster).
    """
    if text is None:
        text = os.environ.get("TF_CONFIG")
    if not text or not text.strip():
        raise StrategyError(
            "--strategy multiworker needs the TF_CONFIG environment variable "
            "(a JSON cluster spec, e.g. '{\"cluster\": {\"worker\": "
            "[\"host1:12345\", \"host2:12345\"]}, \"task\": {\"type\": "
            "\"worker\", \"index\": 0}}') set on every worker.")
    try:
        config = json.loads(text)
    except ValueError as error:
        raise StrategyError(
            f"TF_CONFIG is not valid JSON ({error}).") from None
    if not isinstance(config, dict):
        raise StrategyError("TF_CONFIG must be a JSON object with \"cluster\" "
                            "and \"task\".")
    cluster = config.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise StrategyError("TF_CONFIG has no \"cluster\" object (job name -> "
                            "list of host:port).")
    for job, addresses in cluster.items():
        if job not in ("chief", "worker", "evaluator", "ps"):
            raise StrategyError(f"TF_CONFIG cluster job {job!r} is unknown "
                                "(expected \"chief\" and/or \"worker\").")
        if (not isinstance(addresses, list) or not addresses or not all(
                isinstance(a, str) and _ADDRESS.match(a) for a in addresses)):
            raise StrategyError(
                f"TF_CONFIG cluster[{job!r}] must be a non-empty list of "
                f"\"host:port\" strings; got {addresses!r}.")
    if "ps" in cluster:
        raise StrategyError("TF_CONFIG names \"ps\" jobs: parameter-server "
                            "training is not supported; list \"worker\"s.")
    if "worker" not in cluster and "chief" not in cluster:
        raise StrategyError("TF_CONFIG cluster lists no \"worker\".")
    task = config.get("task")
    if not isinstance(task, dict):
        raise StrategyError("TF_CONFIG has no \"task\" object ({\"type\": "
                            "\"worker\", \"index\": N}) saying which worker "
                            "this process is.")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster:
        raise StrategyError(f"TF_CONFIG task type {kind!r} is not a job of "
                            f"its cluster ({sorted(cluster)}).")
    if (not isinstance(index, int) or isinstance(index, bool)
            or not 0 <= index < len(cluster[kind])):
        raise StrategyError(
            f"TF_CONFIG task index {index!r} is not in 0.."
            f"{len(cluster[kind]) - 1} (cluster[{kind!r}] has "
            f"{len(cluster[kind])} address(es)).")
    if kind == "evaluator":
        raise StrategyError("TF_CONFIG task type \"evaluator\" does not "
                            "train; run it as a \"worker\".")
    return config


def get_strategy(strategy=None):
    """The `tf.distribute.Strategy` for a name, or `strategy` itself.

    Args:
        strategy: None or "default", "mirrored", "multiworker", or a
            `tf.distribute.Strategy` (returned as is).

    Raises:
        StrategyError: an unknown name, or a missing/malformed TF_CONFIG.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        if strategy is None or strategy == "default" or isinstance(
                strategy, SingleDevice):
            return SINGLE_DEVICE
        raise StrategyError(
            f"The {strategy!r} strategy is tf.distribute, which needs Keras' "
            f"TensorFlow backend; KERAS_BACKEND={keras.backend.backend()} "
            "trains on one device.")
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy is None or strategy == "default":
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy([d.name for d in gpus])
        cpus = tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(
            [d.name for d in cpus],
            cross_device_ops=tf.distribute.ReductionToOneDevice())
    if strategy == "multiworker":
        check_tf_config()
        experimental = tf.distribute.experimental
        options = experimental.CommunicationOptions(
            implementation=experimental.CommunicationImplementation.RING)
        return _multi_worker_strategy_class()(communication_options=options)
    raise StrategyError(f"Unknown strategy {strategy!r}; expected one of "
                        f"{', '.join(STRATEGIES)} or a "
                        "tf.distribute.Strategy.")


def _multi_worker_strategy_class():
    """MultiWorkerMirroredStrategy whose `reduce` also takes a structure.

    Keras' `fit` reduces the first (x, y) batch with `strategy.reduce` to
    build the model symbolically; MirroredStrategy reduces structures but
    MultiWorkerMirroredStrategy (TF 2.21) only single values, failing with
    "Attempt to convert a value (PerReplica...) to a Tensor". This reduces
    each value of the structure on its own (the same collectives, in the
    same order on every worker). Keras also reduces scalar metrics with
    axis=0 under it ("Invalid reduction dimension 0"): scalars are reduced
    across replicas only.
    """
    import tensorflow as tf

    base = tf.distribute.MultiWorkerMirroredStrategy

    class MultiWorkerMirroredStrategy(base):
        def reduce(self, reduce_op, value, axis=None):
            parent = super(MultiWorkerMirroredStrategy, self).reduce

            def one(v):
                local = self.experimental_local_results(v)
                rank = getattr(local[0], "shape", tf.TensorShape(None)).rank
                # Keras reduces scalar metrics with axis=0 in multi-worker
                # mode; a scalar has no axis 0: reduce across replicas only.
                return parent(reduce_op, v, None if rank == 0 else axis)

            return tf.nest.map_structure(one, value)

    return MultiWorkerMirroredStrategy


def strategy_name(strategy):
    """"default", "mirrored" or "multiworker" for a strategy (metadata)."""
    if isinstance(strategy, SingleDevice):
        return "default"
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "multiworker"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return "mirrored"
    if ((strategy is tf.distribute.get_strategy()
         and not tf.distribute.has_strategy())
            or type(strategy).__name__ == "_DefaultDistributionStrategy"):
        return "default"
    return type(strategy).__name__


def worker_task(strategy):
    """(task_type, task_id) of this process, (None, None) outside a
    multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return None, None
    return resolver.task_type, resolver.task_id


def num_workers(strategy):
    """Processes training together: the cluster's chief and workers, 1
    outside a cluster."""
    if worker_task(strategy)[0] is None:
        return 1
    jobs = strategy.cluster_resolver.cluster_spec().as_dict()
    return sum(len(jobs.get(job, [])) for job in ("chief", "worker"))


def is_chief(strategy):
    """Whether this process writes the results: always outside a cluster;
    in one, the "chief" task, else worker 0 when there is no chief."""
    task_type, task_id = worker_task(strategy)
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    has_chief = "chief" in strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def worker_scratch_dir(strategy, prefix="spen-keras-worker-"):
    """A new temporary folder for a non-chief worker's writes (delete it
    when done); None for the chief."""
    if is_chief(strategy):
        return None
    task_type, task_id = worker_task(strategy)
    return tempfile.mkdtemp(prefix=f"{prefix}{task_type}{task_id}-")


def distribute_global_batches(strategy, dataset_fn, global_batch_size,
                              shardable=False):
    """Splits a stream of global batches across a strategy's replicas.

    Args:
        strategy: the `tf.distribute.Strategy`.
        dataset_fn: `dataset_fn()` -> a `tf.data.Dataset` of global batches
            (structures of tensors with `global_batch_size` rows), the same
            deterministic stream on every worker. With `shardable`,
            `dataset_fn(shard=(first_row, rows))` must instead give only
            those rows of every global batch, built by this worker alone
            (the input pipeline is then sharded: each worker makes only its
            own examples).
        global_batch_size: rows per global batch.
        shardable: whether `dataset_fn` accepts `shard`.

    Returns:
        A distributed dataset whose step k gives replica r rows
        [r * b, (r + 1) * b) of global batch k, b = global_batch_size /
        replicas (the single-device batch split in replica order).

    Raises:
        StrategyError: the global batch does not split evenly.
    """
    import tensorflow as tf

    replicas = strategy.num_replicas_in_sync
    if global_batch_size % replicas:
        raise StrategyError(
            f"The global batch of {global_batch_size} does not split evenly "
            f"over {replicas} replicas; use a batch size divisible by "
            f"{replicas}.")

    def pipeline(context):
        per_replica = context.get_per_replica_batch_size(global_batch_size)
        local = context.num_replicas_in_sync // context.num_input_pipelines
        rows = per_replica * local
        start = context.input_pipeline_id * rows
        if shardable:  # this worker builds only its rows
            dataset = dataset_fn(shard=(start, rows))
        else:  # every worker builds the global batch and keeps its rows
            dataset = dataset_fn().map(
                lambda *batch: tf.nest.map_structure(
                    lambda t: t[start:start + rows],
                    batch[0] if len(batch) == 1 else batch),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        options = tf.data.Options()
        # Already split here: no auto-sharding on top of it.
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.OFF)
        dataset = dataset.with_options(options)
        if local > 1:
            dataset = dataset.rebatch(per_replica)
        return dataset.prefetch(tf.data.AUTOTUNE)

    return strategy.distribute_datasets_from_function(pipeline)
