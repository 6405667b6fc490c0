"""Training runs are resumable exactly, single-writer, and never lose work:
interrupt/resume equality of weights and optimizer state, backup locks,
corrupt or foreign backups refused, destinations checked before the first
step, the backup kept until the preset is written."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from spen_keras import load_preset, presets
from spen_keras.presets import PresetError
from spen_keras.presets.resumable import (CHECKPOINT, LOCK, BackupError,
                                           BackupLock)

PROBE = np.linspace(0.2, 0.6, 24 * 28, dtype="float32").reshape(1, 24, 28, 1)


class _Interrupt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt at the start of epoch `at_epoch`."""

    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch, self.epochs = at_epoch, []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


class _RecordState(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        self.weights = [v.numpy() for v in self.model.weights]
        self.optimizer = [v.numpy() for v in self.model.optimizer.variables]


def _train(root, name, **options):
    return presets.train_preset("foe_3", root / name, root / f"backup_{name}",
                                steps=4, steps_per_epoch=1, verbose=0,
                                **options)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted 4-step run and one interrupted after 2 steps, then
    resumed."""
    root = tmp_path_factory.mktemp("resume")
    whole = _RecordState()
    uninterrupted = _train(root, "whole", callbacks=[whole])
    first = _Interrupt(at_epoch=2)
    with pytest.raises(KeyboardInterrupt):
        _train(root, "resumed", callbacks=[first])
    assert (root / "backup_resumed" / CHECKPOINT).is_file()
    assert not (root / "backup_resumed" / LOCK).exists()  # released
    second, resumed_state = _Interrupt(at_epoch=-1), _RecordState()
    resumed = _train(root, "resumed", callbacks=[second, resumed_state])
    return dict(root=root, uninterrupted=uninterrupted, resumed=resumed,
                whole=whole, resumed_state=resumed_state, first=first,
                second=second)


def test_resumed_run_continues_where_it_stopped(runs):
    assert runs["first"].epochs == [0, 1, 2]
    assert runs["second"].epochs == [2, 3]


def test_resumed_run_reaches_the_uninterrupted_weights_and_optimizer(runs):
    whole, resumed = runs["whole"], runs["resumed_state"]
    for a, b in zip(whole.weights, resumed.weights):
        np.testing.assert_array_equal(a, b)
    assert len(whole.optimizer) == len(resumed.optimizer)
    for a, b in zip(whole.optimizer, resumed.optimizer):  # iterations, m, v
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        load_preset(runs["root"] / "whole")(PROBE),
        load_preset(runs["root"] / "resumed")(PROBE))
    assert runs["resumed"]["our_value"] == runs["uninterrupted"]["our_value"]


def test_resumed_metadata_records_total_steps_and_wall_time(runs):
    resumed = runs["resumed"]
    assert resumed["steps"] == 4
    assert resumed["resumed_at_steps"] == [2]
    assert runs["uninterrupted"]["resumed_at_steps"] == []
    stored = json.loads((runs["root"] / "resumed" / "metadata.json")
                        .read_text())
    assert stored["resumed_at_steps"] == [2]
    # Both segments count: at least the uninterrupted run's half.
    assert resumed["wall_time_s"] >= 0.4 * runs["uninterrupted"]["wall_time_s"]


def test_finished_run_removes_its_backup(runs):
    assert not (runs["root"] / "backup_whole").exists()
    assert not (runs["root"] / "backup_resumed").exists()


# === Locks ===


def test_a_second_run_into_a_locked_backup_is_refused(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c",
                              "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK).write_text(json.dumps(
            {"pid": owner.pid, "host": os.uname().nodename,
             "started": "2026-11-27T07:00:00"}))
        with pytest.raises(BackupError, match=r"already training into .* "
                                              rf"\(pid {owner.pid}"):
            presets.train_preset("foe_3", tmp_path / "out", tmp_path,
                                 steps=1, verbose=0)
        assert not (tmp_path / "out").exists()
    finally:
        owner.kill()
        owner.wait()


def test_a_stale_lock_is_taken_over_with_a_note(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK).write_text(json.dumps(
        {"pid": dead.pid, "host": os.uname().nodename, "started": "x"}))
    lock = BackupLock(tmp_path).acquire()
    assert "stale lock" in lock.note and str(dead.pid) in lock.note
    assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / LOCK).exists()


def test_an_empty_old_lock_is_stale(tmp_path):
    (tmp_path / LOCK).write_bytes(b"")
    old = time.time() - 60
    os.utime(tmp_path / LOCK, (old, old))
    with BackupLock(tmp_path) as lock:
        assert "stale lock" in lock.note


def test_a_lock_from_another_host_is_refused(tmp_path):
    (tmp_path / LOCK).write_text(json.dumps(
        {"pid": 1, "host": "elsewhere", "started": "x"}))
    with pytest.raises(BackupError, match="host elsewhere.*delete"):
        BackupLock(tmp_path).acquire()


# === Corrupt and foreign backups ===


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04trunc"])
def test_a_corrupt_backup_is_refused_with_a_way_out(tmp_path, content):
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / CHECKPOINT).write_bytes(content)
    with pytest.raises(BackupError) as caught:
        presets.train_preset("foe_3", tmp_path / "out", tmp_path / "backup",
                             steps=2, verbose=0)
    message = str(caught.value)
    assert "corrupt" in message and "was not used" in message
    assert str(tmp_path / "backup" / CHECKPOINT) in message
    assert f"Delete {tmp_path / 'backup'}" in message
    assert "\n" not in message
    assert (tmp_path / "backup" / CHECKPOINT).read_bytes() == content
    assert not (tmp_path / "backup" / LOCK).exists()


def test_another_runs_backup_is_refused(tmp_path):
    first = _Interrupt(at_epoch=1)
    with pytest.raises(KeyboardInterrupt):
        presets.train_preset("foe_3", tmp_path / "out", tmp_path / "backup",
                             steps=2, steps_per_epoch=1, verbose=0,
                             callbacks=[first])
    with pytest.raises(BackupError, match="belongs to another run"):
        presets.train_preset("foe_3", tmp_path / "out", tmp_path / "backup",
                             steps=3, steps_per_epoch=1, verbose=0)


# === Destinations ===


def test_an_output_under_a_file_is_refused_before_training(tmp_path):
    (tmp_path / "a_file").write_text("mine")
    with pytest.raises(PresetError, match="is a file, not a folder"):
        presets.train_preset("foe_3", tmp_path / "a_file" / "out",
                             tmp_path / "backup", steps=1, verbose=0)
    assert not (tmp_path / "backup").exists()
    assert (tmp_path / "a_file").read_text() == "mine"


def test_an_unwritable_output_is_refused_before_training(tmp_path,
                                                         monkeypatch):
    real_mkstemp = presets.tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and str(dir) == str(tmp_path / "ro"):
            raise PermissionError(13, "Permission denied")
        return real_mkstemp(*args, dir=dir, **kwargs)

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(presets.tempfile, "mkstemp", read_only)
    with pytest.raises(PresetError, match="is not writable"):
        presets.train_preset("foe_3", tmp_path / "ro" / "out",
                             tmp_path / "backup", steps=1, verbose=0)
    assert not (tmp_path / "backup").exists()


def test_backup_is_kept_when_the_preset_cannot_be_written(tmp_path,
                                                          monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(presets, "save_to_preset", fail)
        with pytest.raises(PresetError, match="trained state is kept in"):
            presets.train_preset("foe_3", tmp_path / "out",
                                 tmp_path / "backup", steps=2,
                                 steps_per_epoch=1, verbose=0)
    assert (tmp_path / "backup" / CHECKPOINT).is_file()
    # Running again writes the preset from the backup without training.
    epochs = _Interrupt(at_epoch=-1)
    metadata = presets.train_preset("foe_3", tmp_path / "out",
                                    tmp_path / "backup", steps=2,
                                    steps_per_epoch=1, verbose=0,
                                    callbacks=[epochs])
    assert epochs.epochs == [] and metadata["steps"] == 2
    assert (tmp_path / "out" / "model.weights.h5").is_file()
    assert not (tmp_path / "backup").exists()


# === SIGKILL, through the command line ===


def _cli(args, cwd, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen([sys.executable, "-m", "spen_keras", *args],
                            cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


@pytest.mark.large
def test_sigkilled_run_resumes_to_the_uninterrupted_result(tmp_path):
    args = ["train", "--preset", "foe_3", "--steps", "60"]
    whole = _cli(args + ["--output-dir", "whole", "--backup-dir", "bw"],
                 tmp_path)
    assert whole.wait(timeout=1200) == 0, whole.stdout.read()
    killed = _cli(args + ["--output-dir", "resumed", "--backup-dir", "br"],
                  tmp_path)
    checkpoint = tmp_path / "br" / CHECKPOINT
    deadline = time.time() + 600
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert (tmp_path / "br" / LOCK).exists()  # left behind by the kill
    resumed = _cli(args + ["--output-dir", "resumed", "--backup-dir", "br"],
                   tmp_path)
    output = resumed.communicate(timeout=1200)[0]
    assert resumed.returncode == 0, output
    assert "stale lock" in output and "Resuming foe_3" in output
    a = json.loads((tmp_path / "whole" / "metadata.json").read_text())
    b = json.loads((tmp_path / "resumed" / "metadata.json").read_text())
    assert b["resumed_at_steps"] and b["steps"] == 60
    assert abs(a["our_value"] - b["our_value"]) <= 0.01
    np.testing.assert_array_equal(load_preset(tmp_path / "whole")(PROBE),
                                  load_preset(tmp_path / "resumed")(PROBE))
