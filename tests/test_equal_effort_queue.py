"""experiments/equal_effort_queue.py: the order the protocol's runs were
trained in and the leave-one-sequence-out folds (the protocol itself:
tests/denoising/test_equal_effort.py)."""

import pathlib
import sys

import pytest

from spen_keras import presets
from spen_keras.denoising import equal_effort as ee

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def queue():
    sys.path.insert(0, str(ROOT))  # as `python -m` from the root has it
    try:
        from experiments import equal_effort_queue
    finally:
        sys.path.remove(str(ROOT))
    return equal_effort_queue


def test_the_queue_holds_every_protocol_run_and_fold_once(queue):
    assert len(queue.QUEUE) == len(set(queue.QUEUE))
    assert set(queue.QUEUE) == set(ee.protocol_runs()) | set(queue.VARIANTS)
    # The rows of the paper's claims come first.
    assert queue.QUEUE[:3] == [("dp_20", 1e-3), ("dp_3", 1e-3),
                               ("dp_3", 3e-3)]


def test_each_fold_is_a_protocol_preset_on_the_other_sequences(queue):
    for name, variant in queue.VARIANTS.items():
        assert variant.preset in ee.PROTOCOL_ROWS, name
        assert name == f"{variant.preset}_seq3"
        assert (variant.train_sequences, variant.validation_sequences) == (
            ee.VALIDATION_SEQUENCES, ee.TRAIN_SEQUENCES)
        assert name not in presets.list_presets()  # never shipped


def test_a_fold_trains_its_presets_model_on_sequence_3(queue, tmp_path,
                                                      monkeypatch):
    calls = []

    def train_run(spec, rate, runs_dir, arrays, task=None, name=None,
                  command=None):
        calls.append((spec.name, rate, arrays, task, name))

    monkeypatch.setattr(ee, "train_run", train_run)
    queue.train_item("dp_3_augmented_seq3", tmp_path, lambda seqs: seqs)
    (spec, rate, arrays, task, name), = calls
    assert (spec, rate, arrays, name) == (
        "dp_3_augmented", ee.LEARNING_RATES["dp_3"][0], (2,),
        "dp_3_augmented_seq3")
    assert task.train_sequences == (3,)
    assert task.augmentation == presets.get_spec(
        "dp_3_augmented").recipe.task.augmentation
    # A protocol run goes to the protocol.
    queue.train_item(("foe_3", 1e-2), tmp_path, lambda seqs: seqs)
    assert calls[-1][:2] == ("foe_3", 1e-2)


def test_an_unknown_row_is_refused(queue, capsys):
    with pytest.raises(SystemExit) as caught:
        queue.main(["--runs-dir", "runs", "--rows", "dp_99"])
    assert caught.value.code == 2
    assert "invalid choice: 'dp_99'" in capsys.readouterr().err
