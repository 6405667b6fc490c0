"""Resumable, single-writer training runs: task-neutral.

A training run keeps its resumable state in a backup folder:

- `LOCK`: who is training into the folder (pid, host, start time). A second
  run into the same folder is refused while the first is alive; a lock left
  by a killed run on this host is taken over, with a note.
- `checkpoint.npz`: every model and optimizer variable, the steps done, the
  wall time spent so far and the run's identity (preset, steps, batch size,
  seed), written at the end of every epoch to a temporary file, read back
  and compared, and only then renamed over the previous checkpoint. A
  checkpoint is only written while every weight is finite.

Resuming restores the variables bit for bit and skips the data stream past
the batches already used (the streams are deterministic functions of the
seed and the element index), so a killed-and-resumed run computes the same
updates as an uninterrupted one. A checkpoint that cannot be read, or that
belongs to another run, is never used: it raises `BackupError` saying how to
recover. The caller deletes the folder only after the trained model has been
written and verified (`finish`).
"""

import datetime
import json
import os
import pathlib
import socket
import time

import keras
import numpy as np

CHECKPOINT = "checkpoint.npz"
LOCK = "LOCK"


class BackupError(RuntimeError):
    """The backup folder is locked by another run, corrupt, or another
    run's; the message says how to recover."""


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BackupLock:
    """An exclusive lock on a backup folder, held for a run's lifetime."""

    def __init__(self, folder):
        self.folder = pathlib.Path(folder)
        self.path = self.folder / LOCK
        self.note = None

    def _create(self):
        handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                         0o644)
        with os.fdopen(handle, "w") as stream:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                       "started": datetime.datetime.now().isoformat(
                           timespec="seconds")}, stream)

    def acquire(self):
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise BackupError(f"Cannot create the backup folder {self.folder}"
                              f": {error.strerror}; give a writable "
                              "--backup-dir.") from None
        for _ in range(2):
            try:
                self._create()
                return self
            except FileExistsError:
                self._take_over_if_stale()
            except OSError as error:
                raise BackupError(f"Cannot write {self.path}: "
                                  f"{error.strerror}; give a writable "
                                  "--backup-dir.") from None
        raise BackupError(f"Another run took the lock {self.path} first.")

    def _take_over_if_stale(self):
        try:
            owner = json.loads(self.path.read_text())
            pid, host = int(owner["pid"]), owner["host"]
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError):
            # Empty or half-written: its writer died between create and
            # write (a live writer finishes within microseconds).
            if time.time() - self.path.stat().st_mtime < 5:
                time.sleep(5)
                return
            owner, pid, host = {}, None, socket.gethostname()
        if host != socket.gethostname():
            raise BackupError(
                f"{self.folder} is locked by a run on host {host} (pid {pid}, "
                f"started {owner.get('started')}). If no run is active there, "
                f"delete {self.path}; or give another --backup-dir.")
        if pid is not None and _process_alive(pid):
            raise BackupError(
                f"Another run is already training into {self.folder} (pid "
                f"{pid}, started {owner.get('started')}). Wait for it to "
                "finish, or give another --backup-dir.")
        self.note = (f"Took over the stale lock of a run that no longer "
                     f"exists (pid {pid}, started {owner.get('started')}).")
        self.path.unlink(missing_ok=True)

    def release(self):
        try:
            owner = json.loads(self.path.read_text())
            if owner.get("pid") == os.getpid():
                self.path.unlink()
        except (OSError, ValueError):
            pass

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _variables(model):
    model.optimizer.build(model.trainable_variables)
    return list(model.variables) + list(model.optimizer.variables)


def _recovery(folder):
    return (f"Delete {folder} to start this run from scratch, or give another "
            "--backup-dir.")


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves, verifies and restores a run's full state in a backup folder.

    Args:
        folder: the (locked) backup folder.
        identity: a JSON-able dict naming the run (preset, steps, batch
            size, seed, ...); a checkpoint with another identity is refused.
        steps_per_epoch: steps between two checkpoints.
        extras: objects whose state belongs to the run beside the model's
            variables (e.g. the best epoch so far, `BestEpoch`): each has
            `get_state()` -> (a JSON-able dict, a list of arrays) and
            `set_state(dict, arrays)`; saved in the same file, so the two
            can never disagree. Their callbacks must run before this one's.
    """

    def __init__(self, folder, identity, steps_per_epoch, extras=()):
        super().__init__()
        self.extras = list(extras)
        self.folder = pathlib.Path(folder)
        self.path = self.folder / CHECKPOINT
        self.identity = identity
        self.steps_per_epoch = steps_per_epoch
        self.steps_done = 0
        self.wall_time_before = 0.0
        self.resumed_at = []
        self._segment_started = time.perf_counter()

    # --- restore ----------------------------------------------------------

    def restore(self, model):
        """Loads the checkpoint into `model` (compiled) if there is one.

        Returns:
            The steps already done (0 for a fresh run).

        Raises:
            BackupError: for an unreadable checkpoint or another run's.
        """
        self._segment_started = time.perf_counter()
        if not self.path.exists():
            return 0
        variables = _variables(model)
        try:
            # Opened here, not by np.load: np.load leaks the file it opened
            # when the zip is unreadable (a ResourceWarning).
            with open(self.path, "rb") as file, \
                    np.load(file, allow_pickle=False) as stored:
                state = json.loads(str(stored["state"]))
                values = [stored[f"v{i}"] for i in range(state["count"])]
                extras = [[stored[f"e{k}_{i}"] for i in range(count)]
                          for k, count in enumerate(
                              state.get("extra_counts", []))]
        except Exception as error:  # zip, npz, json: all mean corrupt
            raise BackupError(
                f"Backup {self.path} is corrupt ({type(error).__name__}: "
                f"{error}) and was not used. {_recovery(self.folder)}"
            ) from None
        if state.get("identity") != self.identity:
            raise BackupError(
                f"Backup {self.path} belongs to another run "
                f"({state.get('identity')}), not this one ({self.identity}). "
                + _recovery(self.folder))
        if len(values) != len(variables) or any(
                tuple(v.shape) != tuple(a.shape)
                for v, a in zip(variables, values)):
            raise BackupError(
                f"Backup {self.path} holds variables of other shapes than "
                f"this model's. {_recovery(self.folder)}")
        if len(extras) != len(self.extras):
            raise BackupError(
                f"Backup {self.path} holds the state of {len(extras)} "
                f"training callbacks, this run has {len(self.extras)}. "
                + _recovery(self.folder))
        for variable, value in zip(variables, values):
            variable.assign(value)
        for extra, facts, arrays in zip(self.extras, state.get(
                "extra_states", []), extras):
            extra.set_state(facts, arrays)
        self.steps_done = int(state["steps_done"])
        self.wall_time_before = float(state["wall_time_s"])
        self.resumed_at = list(state.get("resumed_at", [])) + [
            self.steps_done]
        return self.steps_done

    # --- save -------------------------------------------------------------

    @property
    def wall_time_s(self):
        """Wall time of every segment of the run, this one included."""
        return self.wall_time_before + (time.perf_counter()
                                        - self._segment_started)

    def on_epoch_end(self, epoch, logs=None):
        variables = _variables(self.model)
        values = [keras.ops.convert_to_numpy(v) for v in variables]
        if not all(np.isfinite(v).all() for v in values
                   if np.issubdtype(v.dtype, np.floating)):
            return  # keep the last good checkpoint
        self.steps_done = (epoch + 1) * self.steps_per_epoch
        extras = [extra.get_state() for extra in self.extras]
        state = {"identity": self.identity, "steps_done": self.steps_done,
                 "wall_time_s": self.wall_time_s, "count": len(values),
                 "resumed_at": self.resumed_at,
                 "extra_states": [facts for facts, _ in extras],
                 "extra_counts": [len(arrays) for _, arrays in extras]}
        arrays = {f"v{i}": v for i, v in enumerate(values)}
        for k, (_, extra_arrays) in enumerate(extras):
            arrays.update({f"e{k}_{i}": np.asarray(a)
                           for i, a in enumerate(extra_arrays)})
        self._write_verified(arrays, state)

    def _write_verified(self, arrays, state):
        partial = self.path.with_name(CHECKPOINT + ".part.npz")
        with open(partial, "wb") as handle:
            np.savez(handle, state=json.dumps(state), **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        with open(partial, "rb") as file, \
                np.load(file, allow_pickle=False) as written:
            if not all(np.array_equal(written[k], arrays[k], equal_nan=True)
                       for k in arrays):
                raise BackupError(f"Checkpoint {partial} did not read back "
                                  "equal to what was written (disk full?).")
        os.replace(partial, self.path)

    def finish(self):
        """Deletes the backup folder's checkpoint (call once the trained
        model has been written and verified)."""
        self.path.unlink(missing_ok=True)
