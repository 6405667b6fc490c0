"""The multi-label presets: registered specs, the trainer on a few steps
(BR, MLP, SPEN-E2E on Bibtex), save/reload equality, corrupted folders, the
classifier's checks, the table's evaluation, claims and figures, and the
`predict-labels` command."""

import csv
import dataclasses
import json
import shutil

import numpy as np
import pytest

from spen_keras import cli
from spen_keras import presets
from spen_keras.mlc import mlc_data
from spen_keras.mlc import mlc_metrics
from spen_keras.mlc import mlc_presets
from spen_keras.mlc import mlc_recipe
from spen_keras.mlc import mlc_table
from spen_keras.mlc import mlc_training
from spen_keras.mlc.mlc_recipe import MlcRecipe
from spen_keras.mlc.mlc_models import MultiLabelSpen
from spen_keras.mlc.multi_label_classifier import MultiLabelClassifier
from spen_keras.mlc.user_files import MlcInputError, predict_file
from spen_keras.presets.training import TrainingDivergedError
from spen_keras.presets import PresetError
from spen_keras.presets.tables import RowResult

ROWS = ("br", "mlp", "spen_ssvm", "spen_e2e", "spen_e2e_icnn")
TRAINED = ("br", "mlp", "spen_e2e")
METRICS = {"example_f1", "hamming_loss", "micro_f1", "macro_f1"}


@pytest.fixture(scope="module")
def bibtex():
    return mlc_data.load("bibtex")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, bibtex):
    """BR, MLP and SPEN-E2E on Bibtex, 3 optimizer steps per phase, each in
    a folder; with the classifiers' test probabilities before saving."""
    root = tmp_path_factory.mktemp("mlc_presets")
    before = {}
    original = presets.save_to_preset

    def spy(classifier, directory, metadata, overwrite=False):
        before[directory.name] = classifier.probabilities(bibtex.test[0][:40])
        return original(classifier, directory, metadata, overwrite=overwrite)

    folders, metadata = {}, {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(presets, "save_to_preset", spy)
        for row in TRAINED:
            spec = presets.get_spec(f"mlc_bibtex_{row}")
            folders[row] = root / row
            metadata[row] = mlc_training.train_mlc(
                spec, folders[row], root / "backup", steps=3, verbose=0)
    return {"folders": folders, "metadata": metadata, "before": before,
            "root": root}


@pytest.fixture(scope="module")
def loaded(trained):
    return {row: presets.load_preset(folder)
            for row, folder in trained["folders"].items()}


# === Specs ===


def test_the_ten_presets_are_registered_in_table_mlc():
    names = [f"mlc_{d}_{r}" for d in ("bibtex", "delicious") for r in ROWS]
    assert presets.list_presets(table="mlc") == names
    assert presets.list_presets(family="mlc") == names
    for name in names:
        spec = presets.get_spec(name)
        assert (spec.table, spec.family, spec.kind) == ("mlc", "mlc", "mlc")
        assert spec.recipe.dataset == name.split("_")[1]


@pytest.mark.parametrize("dataset, values", [
    ("bibtex", {"br": 37.2, "mlp": 38.9, "spen_ssvm": 42.2}),
    ("delicious", {"br": 26.5, "mlp": 37.8, "spen_ssvm": 37.5}),
])
def test_paper_values(dataset, values):
    for row in ROWS:
        spec = presets.get_spec(f"mlc_{dataset}_{row}")
        assert spec.paper_value == values.get(row)
        expected = None if row not in values else {"test": values[row]}
        assert spec.paper_values == expected


def test_recipes_match_their_rows():
    recipes = {r: presets.get_spec(f"mlc_bibtex_{r}").recipe for r in ROWS}
    assert [recipes[r].model for r in ROWS] == ["br", "mlp", "spen", "spen",
                                                "spen"]
    assert recipes["spen_ssvm"].training_mode == "ssvm"
    assert recipes["spen_e2e"].training_mode == "unrolled"
    assert recipes["spen_e2e_icnn"].input_convex
    assert not recipes["spen_e2e"].input_convex
    assert recipes["spen_e2e"].seeds == (0, 1, 2)


def test_recipe_refuses_unknown_model_and_dataset():
    with pytest.raises(ValueError, match="Unknown model 'svm'"):
        MlcRecipe("bibtex", "svm")
    with pytest.raises(ValueError, match="Unknown multi-label dataset"):
        MlcRecipe("yeast", "br")


# === Training and the preset folder ===


@pytest.mark.parametrize("row", TRAINED)
def test_training_writes_a_complete_folder(row, trained):
    folder = trained["folders"][row]
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "metadata.json", "model.weights.h5"]
    config = json.loads((folder / "config.json").read_text())
    assert config["model"] == ("spen" if row.startswith("spen") else row)
    assert config["dataset"] == "bibtex"
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata == json.loads(json.dumps(trained["metadata"][row]))
    assert metadata["kind"] == "mlc"
    assert set(metadata["test_scores"]) == METRICS
    assert metadata["our_value"] == metadata["test_scores"]["example_f1"]
    assert metadata["threshold"] == config["threshold"]
    summary = metadata["seed_summary"]
    assert summary["seeds"] == [0]  # steps=...: the first seed only
    assert summary["test_example_f1"] == [metadata["our_value"]]
    assert len(metadata["per_seed"]) == 1
    assert metadata["per_seed"][0]["test"] == metadata["test_scores"]
    assert metadata["recipe"]["steps"] == 3


@pytest.mark.parametrize("row", TRAINED)
def test_reload_equals_the_trained_model(row, trained, loaded, bibtex):
    classifier = loaded[row]
    assert isinstance(classifier, MultiLabelClassifier)
    assert isinstance(classifier.model, MultiLabelSpen) == (row == "spen_e2e")
    np.testing.assert_array_equal(
        classifier.probabilities(bibtex.test[0][:40]),
        trained["before"][row])
    metadata = trained["metadata"][row]
    assert classifier.threshold == metadata["threshold"]
    assert 0.0 < classifier.threshold < 1.0
    assert classifier.threshold in mlc_metrics.THRESHOLDS
    assert classifier.label_names == bibtex.label_names
    assert classifier.num_labels == 159 and classifier.num_features == 1836
    assert classifier.dataset == "bibtex"
    assert classifier.metadata["seed_summary"] == metadata["seed_summary"]


def test_from_preset_model_is_compiled_and_fits_without_compile():
    import keras

    classifier = MultiLabelClassifier.from_preset("mlc_bibtex_spen_e2e")
    assert isinstance(classifier, MultiLabelClassifier)
    model, recipe = classifier.model, presets.get_spec(
        "mlc_bibtex_spen_e2e").recipe
    assert model.compiled and model.loss == mlc_recipe.LOSS  # the preset's
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(
        recipe.learning_rate)
    rng = np.random.default_rng(0)
    x = (rng.random((4, classifier.num_features)) < 0.05).astype(np.float32)
    y = (rng.random((4, classifier.num_labels)) < 0.05).astype(np.float32)
    before = model.get_weights()
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 1
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b)
               for a, b in zip(before, model.get_weights()))
    # Compiling again replaces the preset's loss and optimizer.
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse",
                  metrics=[mlc_metrics.ExampleF1(classifier.threshold)])
    assert model.loss == "mse"
    assert "example_f1" in model.fit(x, y, batch_size=4, verbose=0).history
    with pytest.raises(PresetError, match="not a MultiLabelClassifier"):
        MultiLabelClassifier.from_preset("foe_3")


def test_loaded_baseline_models_are_compiled_at_their_recipe_rate():
    for row in ("br", "mlp"):
        name = f"mlc_delicious_{row}"
        model = presets.load_preset(name).model
        recipe = presets.get_spec(name).recipe
        rate = (mlc_recipe.MLP_LEARNING_RATE if row == "mlp"
                else recipe.learning_rate)
        assert model.compiled and model.loss == mlc_recipe.LOSS
        assert float(model.optimizer.learning_rate) == pytest.approx(rate)


def test_a_multi_label_preset_naming_no_recipe_loads_with_the_default(
        trained, tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(trained["folders"]["br"], folder)
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata.pop("name")
    (folder / "metadata.json").write_text(json.dumps(metadata))
    model = MultiLabelClassifier.from_preset(folder).model
    assert model.compiled and float(model.optimizer.learning_rate) == (
        pytest.approx(MlcRecipe("bibtex", "br").learning_rate))


def test_stored_threshold_is_the_best_on_the_validation_slice(loaded, bibtex):
    classifier = loaded["mlp"]
    x, y = bibtex.validation
    threshold, f1 = mlc_metrics.choose_threshold(y,
                                                 classifier.probabilities(x))
    assert classifier.threshold == threshold
    assert classifier.metadata["validation_example_f1"] == round(f1, 2)


def test_test_scores_are_those_of_the_stored_threshold(loaded, bibtex):
    classifier = loaded["br"]
    x, y = bibtex.test
    scores = mlc_metrics.score(y, classifier.probabilities(x),
                               classifier.threshold)
    assert scores.as_dict() == classifier.metadata["test_scores"]


def test_training_again_into_a_folder_refuses_without_overwrite(trained):
    spec = presets.get_spec("mlc_bibtex_br")
    folder = trained["folders"]["br"]
    before = (folder / "model.weights.h5").read_bytes()
    with pytest.raises(PresetError, match="already exists"):
        mlc_training.train_mlc(spec, folder, trained["root"] / "b", steps=3,
                              verbose=0)
    assert (folder / "model.weights.h5").read_bytes() == before


def test_saving_into_an_existing_folder_refuses_then_overwrites(
        trained, loaded, tmp_path, bibtex):
    classifier = loaded["br"]
    target = tmp_path / "copy"
    shutil.copytree(trained["folders"]["mlp"], target)
    with pytest.raises(PresetError, match="already exists"):
        presets.save_to_preset(classifier, target, {"note": "x"})
    assert presets.load_preset(target).kind == "mlp"
    presets.save_to_preset(classifier, target, {"note": "x"},
                           overwrite=True)
    copy = presets.load_preset(target)
    assert copy.kind == "br"
    assert copy.metadata == {"note": "x", "kind": "mlc"}
    x = bibtex.test[0][:10]
    np.testing.assert_array_equal(copy.probabilities(x),
                                  classifier.probabilities(x))


def test_diverged_training_is_a_preset_error(tmp_path):
    spec = presets.get_spec("mlc_bibtex_br")
    spec = dataclasses.replace(spec, recipe=dataclasses.replace(
        spec.recipe, learning_rate=float("nan")))
    with pytest.raises(TrainingDivergedError, match="NaN"):
        mlc_training.train_mlc(spec, tmp_path / "out", tmp_path / "b",
                              steps=3, verbose=0)


def corrupted(trained, tmp_path, row="br"):
    folder = tmp_path / "broken"
    shutil.copytree(trained["folders"][row], folder)
    return folder


def edit_config(folder, **changes):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize("changes, message", [
    ({"threshold": 1.5}, "threshold 1.5 is not in (0, 1)"),
    ({"threshold": "high"}, "could not convert"),
    ({"model": "cnn"}, "unknown model 'cnn'"),
    ({"dataset": "yeast"}, "Unknown multi-label dataset 'yeast'"),
])
def test_a_corrupted_config_is_a_preset_error_naming_the_file(
        changes, message, trained, tmp_path):
    folder = corrupted(trained, tmp_path)
    edit_config(folder, **changes)
    with pytest.raises(PresetError) as info:
        presets.load_preset(folder)
    text = str(info.value)
    assert str(folder / "config.json") in text and message in text, text


def test_missing_or_mismatched_weights_are_preset_errors(trained, tmp_path):
    folder = corrupted(trained, tmp_path)
    (folder / "model.weights.h5").unlink()
    with pytest.raises(PresetError, match="model.weights.h5"):
        presets.load_preset(folder)
    # The MLP's weights in the BR's folder: a different architecture.
    shutil.copy(trained["folders"]["mlp"] / "model.weights.h5",
                folder / "model.weights.h5")
    with pytest.raises(PresetError) as info:
        presets.load_preset(folder)
    assert str(folder / "model.weights.h5") in str(info.value)


def test_recipe_refuses_an_unknown_training_mode():
    with pytest.raises(ValueError, match="training_mode"):
        MlcRecipe("bibtex", "spen", training_mode="SSVM")


# === The classifier ===


@pytest.mark.parametrize("x, message", [
    (np.zeros((2, 1835), np.float32), "Expected rows of 1836 features"),
    (np.zeros(1836, np.float32), "got shape (1836,)"),
    (np.full((2, 1836), np.nan, np.float32), "NaN or Inf"),
])
def test_predict_labels_rejects_bad_features_in_one_line(x, message,
                                                         loaded):
    with pytest.raises(ValueError) as info:
        loaded["mlp"].predict_labels(x)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_predict_labels_and_label_sets_use_the_threshold(loaded, bibtex):
    classifier = loaded["spen_e2e"]
    x = bibtex.test[0][:8]
    soft = classifier.probabilities(x)
    assert soft.shape == (8, 159) and soft.dtype == np.float32
    assert soft.min() >= 0.0 and soft.max() <= 1.0
    labels = classifier.predict_labels(x)
    np.testing.assert_array_equal(labels, soft >= classifier.threshold)
    sets = classifier.label_sets(x)
    assert [len(s) for s in sets] == list(labels.sum(1))
    assert sets[0] == [bibtex.label_names[j]
                       for j in np.flatnonzero(labels[0])]


def test_spen_probabilities_of_no_rows(loaded):
    soft = loaded["spen_e2e"].probabilities(np.zeros((0, 1836), np.float32))
    assert soft.shape == (0, 159)


def test_baseline_probabilities_of_no_rows(loaded):
    soft = loaded["br"].probabilities(np.zeros((0, 1836), np.float32))
    assert soft.shape == (0, 159) and soft.dtype == np.float32


def test_spen_iterates_end_at_the_probabilities(loaded, bibtex):
    classifier = loaded["spen_e2e"]
    x = bibtex.test[0][:7]
    iterates = classifier.iterates(x, batch_size=3)  # several batches
    steps = presets.get_spec("mlc_bibtex_spen_e2e").recipe.num_steps
    assert iterates.shape == (steps, 7, 159)
    np.testing.assert_allclose(iterates[-1], classifier.probabilities(x),
                               atol=1e-6)
    assert np.abs(iterates[0] - iterates[-1]).max() > 0  # it takes steps
    baseline = loaded["mlp"].iterates(x)
    assert baseline.shape == (1, 7, 159)
    np.testing.assert_array_equal(baseline[0], loaded["mlp"].probabilities(x))


# === The table ===


@pytest.fixture(scope="module")
def table_results(loaded):
    data = mlc_table.evaluation_data(max_examples=60)
    results = {}
    for row, classifier in loaded.items():
        spec = presets.get_spec(f"mlc_bibtex_{row}")
        results[spec.name] = mlc_table.evaluate(classifier, spec, data)
    return data, results


def test_evaluation_data_holds_both_test_splits():
    data = mlc_table.evaluation_data(max_examples=5)
    assert set(data.arrays["test"]) == {"bibtex", "delicious"}
    x, y = data.arrays["test"]["delicious"]
    assert x.shape == (5, 500) and y.shape == (5, 983)
    assert data.size == 10


def test_evaluate_scores_at_the_stored_threshold(table_results, loaded,
                                                 bibtex):
    data, results = table_results
    x, y = bibtex.test[0][:60], bibtex.test[1][:60]
    for row, classifier in loaded.items():
        result = results[f"mlc_bibtex_{row}"]
        assert isinstance(result, RowResult)
        expected = mlc_metrics.example_f1(
            y, classifier.probabilities(x) >= classifier.threshold)
        assert result.value == round(expected, 2)
        assert result.columns == {"test": result.value}
        assert set(result.extras["scores"]) == METRICS
        assert result.extras["seeds"] == classifier.metadata["seed_summary"]
    spen = results["mlc_bibtex_spen_e2e"]
    assert len(spen.curve) == 11 and spen.curve[-1] == spen.value
    assert results["mlc_bibtex_mlp"].curve is None
    assert data.arrays["curves"] == {"mlc_bibtex_spen_e2e": spen.curve}


def test_claims_return_a_statement_and_a_verdict(table_results):
    data, results = table_results
    measured = {name: r.value for name, r in results.items()}
    text, holds = mlc_table.mlp_as_reported(measured, {}, data)
    assert "38.9" in text and holds is (measured["mlc_bibtex_mlp"] >= 38.9)
    assert holds is False  # 3 optimizer steps
    text, holds = mlc_table.e2e_at_least_2016_spen(
        {"mlc_bibtex_spen_e2e": 50.0}, {}, data)
    assert "42.2" in text and "50.00" in text and holds is True
    assert mlc_table.e2e_reaches_dvn({"mlc_bibtex_spen_e2e": 44.6}, {},
                                     data)[1] is False
    beats = mlc_table._beats_mlp_beyond_spread("bibtex")
    text, holds = beats(measured, {}, data)
    gap = (data.arrays["classifiers"]["mlc_bibtex_spen_e2e"]
           .metadata["seed_summary"]["mean"]
           - data.arrays["classifiers"]["mlc_bibtex_mlp"]
           .metadata["seed_summary"]["mean"])
    assert holds is (gap > 0.0) and f"gap {gap:+.2f}" in text
    ssvm = mlc_table._e2e_beats_ssvm("bibtex")
    assert ssvm({**measured, "mlc_bibtex_spen_ssvm": 0.0}, {}, data)[1]
    ablated = data.arrays["without_global"]["mlc_bibtex_spen_e2e"]
    text, holds = mlc_table._global_energy_matters("bibtex")(
        measured, {}, data)
    drop = measured["mlc_bibtex_spen_e2e"] - ablated
    assert f"{ablated:.2f}" in text and holds is (drop > 0.0)


def test_switching_the_global_energy_off_is_measured_and_undone(loaded,
                                                                bibtex):
    classifier = loaded["spen_e2e"]
    x, y = bibtex.test[0][:60], bibtex.test[1][:60]
    before = classifier.probabilities(x)
    output = classifier.model.energy.energies[1].kernels[-1]
    kept = output.numpy().copy()
    output.assign(np.zeros_like(kept))
    expected = mlc_metrics.example_f1(
        y, classifier.probabilities(x) >= classifier.threshold)
    output.assign(kept)
    assert mlc_table.f1_without_global_energy(classifier, x, y) == expected
    np.testing.assert_array_equal(classifier.probabilities(x), before)


def test_claims_need_their_rows():
    empty = mlc_table.EvaluationData(
        arrays={"test": {}, "curves": {}, "classifiers": {}}, label="none",
        size=0)
    assert len(mlc_table.CLAIMS) == 9
    for claim in mlc_table.CLAIMS:
        assert claim.check({}, {}, empty) is None, claim.check.__name__
    assert mlc_table._e2e_beats_ssvm("bibtex")(
        {"mlc_bibtex_spen_e2e": 1.0}, {}, empty) is None


def test_figures_are_written(table_results, tmp_path):
    data, results = table_results
    written = mlc_table.figures(tmp_path, data, results)
    assert {p.name for p in written} == {"f1_by_step.png", "bibtex_c1.png"}
    for name in ("f1_by_step.png", "bibtex_c1.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    seeds = (tmp_path / "seeds.md").read_text().splitlines()
    assert len(seeds) == 2 + len(results)
    assert any(line.startswith("| mlc_bibtex_spen_e2e |") for line in seeds)
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["mlc_bibtex_spen_e2e"]["f1_by_step"] == \
        results["mlc_bibtex_spen_e2e"].curve


# === predict-labels ===


@pytest.fixture(scope="module")
def rows_csv(tmp_path_factory, bibtex):
    path = tmp_path_factory.mktemp("mlc_user") / "rows.csv"
    with open(path, "w", newline="") as stream:
        csv.writer(stream).writerows(bibtex.test[0][:5].tolist())
    return path


def read_output(path):
    with open(path, newline="") as stream:
        return list(csv.reader(stream))


def test_predict_labels_command_writes_a_csv(trained, loaded, rows_csv,
                                             bibtex, tmp_path, capsys):
    output = tmp_path / "labels.csv"
    folder = trained["folders"]["spen_e2e"]
    assert cli.main(["predict-labels", str(rows_csv), str(output),
                     "--preset", str(folder)]) == 0
    assert "Labelled 5 rows" in capsys.readouterr().out
    table = read_output(output)
    assert table[0] == ["row", "labels", "num_labels", "max_score"]
    assert len(table) == 6
    classifier = loaded["spen_e2e"]
    x = bibtex.test[0][:5]
    expected = classifier.label_sets(x)
    soft = classifier.probabilities(x)
    for i, (row, labels, count, top) in enumerate(table[1:]):
        assert int(row) == i
        assert (labels.split(" ") if labels else []) == expected[i]
        assert int(count) == len(expected[i])
        assert float(top) == pytest.approx(soft[i].max(), abs=1e-4)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_existing_output_needs_force(trained, rows_csv, tmp_path, capsys):
    output = tmp_path / "labels.csv"
    output.write_text("mine\n")
    folder = str(trained["folders"]["br"])
    assert cli.main(["predict-labels", str(rows_csv), str(output),
                     "--preset", folder]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spen-keras: error: ") and err.count("\n") == 1
    assert "exists; pass --overwrite to replace it" in err
    assert output.read_text() == "mine\n"
    assert cli.main(["predict-labels", str(rows_csv), str(output),
                     "--preset", folder, "--force"]) == 0
    assert len(read_output(output)) == 6


def test_output_over_input_refuses(trained, rows_csv, tmp_path, capsys):
    copy = tmp_path / "rows.csv"
    shutil.copy(rows_csv, copy)
    before = copy.read_bytes()
    assert cli.main(["predict-labels", str(copy), str(copy), "--force",
                     "--preset", str(trained["folders"]["br"])]) == 2
    err = capsys.readouterr().err
    assert "is the input file" in err and err.count("\n") == 1
    assert copy.read_bytes() == before


def test_wrong_column_count_names_the_file(trained, tmp_path, capsys):
    bad = tmp_path / "short.csv"
    bad.write_text("1,2,3\n")
    assert cli.main(["predict-labels", str(bad), "--preset",
                     str(trained["folders"]["br"])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err
    assert "expected 1836 columns" in err and "got 3" in err


def test_printing_mode_prints_one_line_per_row(trained, loaded, rows_csv,
                                               bibtex, capsys):
    printed = []
    count, path = predict_file(rows_csv, preset=str(trained["folders"][
        "mlp"]), echo=printed.append)
    assert (count, path) == (5, None)
    expected = loaded["mlp"].label_sets(bibtex.test[0][:5])
    assert printed == [f"{i}\t{' '.join(s)}" for i, s in enumerate(expected)]
    assert cli.main(["predict-labels", str(rows_csv), "--preset",
                     str(trained["folders"]["mlp"])]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == printed


def test_threshold_override(trained, loaded, rows_csv, bibtex):
    printed = []
    predict_file(rows_csv, preset=str(trained["folders"]["mlp"]),
                 threshold=0.999, echo=printed.append)
    soft = loaded["mlp"].probabilities(bibtex.test[0][:5])
    expected = [(soft[i] >= 0.999).sum() for i in range(5)]
    assert [len(line.split("\t")[1].split()) for line in printed] == expected


@pytest.mark.parametrize("threshold", ["0", "1", "1.5", "-0.1", "nan"])
def test_threshold_outside_0_1_refuses(threshold, trained, rows_csv,
                                       capsys):
    assert cli.main(["predict-labels", str(rows_csv), "--preset",
                     str(trained["folders"]["br"]), "--threshold",
                     threshold]) == 2
    err = capsys.readouterr().err
    assert "--threshold must be in (0, 1)" in err and err.count("\n") == 1


def test_a_non_mlc_preset_refuses(rows_csv, capsys):
    assert cli.main(["predict-labels", str(rows_csv), "--preset",
                     "foe_3"]) == 2
    err = capsys.readouterr().err
    assert "'foe_3' is not a multi-label preset" in err
    assert err.count("\n") == 1
    with pytest.raises(MlcInputError, match="not a multi-label preset"):
        predict_file(rows_csv, preset="foe_3", echo=lambda line: None)


def test_an_output_folder_is_a_one_line_error(trained, rows_csv, tmp_path,
                                              capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    assert cli.main(["predict-labels", str(rows_csv), str(folder), "--force",
                     "--preset", str(trained["folders"]["br"])]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and err.count("\n") == 1


def test_an_interrupted_run_resumes_from_its_finished_seeds(tmp_path,
                                                            monkeypatch):
    spec = presets.get_spec("mlc_bibtex_br")
    spec = dataclasses.replace(spec, recipe=dataclasses.replace(
        spec.recipe, steps=2, seeds=(0, 1)))
    original = mlc_training.train_one_seed
    calls = []

    def crash_on_seed_1(recipe, seed, *args):
        calls.append(seed)
        if seed == 1:
            raise KeyboardInterrupt
        return original(recipe, seed, *args)

    monkeypatch.setattr(mlc_training, "train_one_seed", crash_on_seed_1)
    backup = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        mlc_training.train_mlc(spec, tmp_path / "out", backup, verbose=0)
    assert (backup / "seed_0" / mlc_training.SEED_FACTS).is_file()
    assert not (tmp_path / "out").exists()
    first = presets.load_preset(backup / "seed_0" / "preset")

    calls.clear()
    monkeypatch.setattr(mlc_training, "train_one_seed",
                        lambda recipe, seed, *args: (
                            calls.append(seed), original(recipe, seed,
                                                         *args))[1])
    metadata = mlc_training.train_mlc(spec, tmp_path / "out", backup,
                                     verbose=0)
    assert calls == [1]  # seed 0 came from the backup
    assert [f["seed"] for f in metadata["per_seed"]] == [0, 1]
    shipped = presets.load_preset(tmp_path / "out")
    x = mlc_data.load("bibtex").test[0][:20]
    np.testing.assert_array_equal(shipped.probabilities(x),
                                  first.probabilities(x))
    assert not backup.exists()  # deleted once the preset was written


def test_a_backup_of_another_recipe_is_not_reused(tmp_path, monkeypatch):
    spec = presets.get_spec("mlc_bibtex_br")
    quick = dataclasses.replace(spec, recipe=dataclasses.replace(
        spec.recipe, steps=2, seeds=(0,)))
    backup = tmp_path / "backup"
    classifier, facts = mlc_training.train_one_seed(quick.recipe, 0,
                                                    log=lambda m: None)
    facts["wall_time_s"] = 1.0
    other = {"preset": spec.name, "recipe": {"changed": True}}
    mlc_training._keep_seed(backup, other, 0, facts, classifier)
    calls = []
    original = mlc_training.train_one_seed
    monkeypatch.setattr(mlc_training, "train_one_seed",
                        lambda recipe, seed, *args: (
                            calls.append(seed), original(recipe, seed,
                                                         *args))[1])
    mlc_training.train_mlc(quick, tmp_path / "out", backup, verbose=0)
    assert calls == [0]


def test_a_spen_trains_its_global_energy_first_with_the_local_part_clamped(
        monkeypatch):
    spec = presets.get_spec("mlc_bibtex_spen_e2e")
    recipe = dataclasses.replace(spec.recipe, steps=2, pretrain_epochs=1,
                                 epochs=3, clamp_epochs=1)
    phases = []
    original = mlc_training.fit_resumably

    def recording_fit(model, *args, compile=None, **kwargs):
        def recording_compile(model, learning_rate):
            compile(model, learning_rate)
            if isinstance(model, MultiLabelSpen):
                local = model.energy.energies[0]
                phases.append({
                    "local_trainable": [model.feature_network.trainable,
                                        model.init_network.trainable,
                                        local.trainable],
                    "global_trainable": model.energy.energies[1].trainable,
                    "rate": float(model.optimizer.learning_rate),
                    "weights": len(model.trainable_weights)})
        return original(model, *args, compile=recording_compile, **kwargs)

    monkeypatch.setattr(mlc_training, "fit_resumably", recording_fit)
    mlc_training.train_one_seed(recipe, 0, log=lambda message: None)
    assert [p["local_trainable"] for p in phases] == [[False] * 3,
                                                      [True] * 3]
    assert all(p["global_trainable"] for p in phases)
    assert [p["rate"] for p in phases] == pytest.approx(
        [recipe.clamp_learning_rate, recipe.learning_rate])
    # Clamped: the global energy's 3 variables and the T step sizes only.
    assert phases[0]["weights"] == 4 < phases[1]["weights"]


def test_a_seed_killed_inside_a_spen_phase_resumes_exactly(tmp_path,
                                                           monkeypatch):
    """The one training loop checkpoints inside a seed: a run killed at
    the start of the SPEN's second phase resumes there (the MLP and the
    first phase, with its best epoch, come from the backup) and ends with
    the weights of an uninterrupted run."""
    recipe = dataclasses.replace(
        presets.get_spec("mlc_bibtex_spen_e2e").recipe, steps=2,
        pretrain_epochs=1, epochs=2, clamp_epochs=1, seeds=(0,))
    x = mlc_data.load("bibtex").test[0][:20]
    whole, _ = mlc_training.train_one_seed(recipe, 0, log=None,
                                           backup_dir=tmp_path / "a")
    original = mlc_training.fit_resumably
    compiles = []

    def killed_in_phase_2(model, *args, compile=None, **kwargs):
        def counting(model, learning_rate):
            if isinstance(model, MultiLabelSpen):
                compiles.append(learning_rate)
                if len(compiles) == 2:
                    raise KeyboardInterrupt
            compile(model, learning_rate)
        return original(model, *args, compile=counting, **kwargs)

    monkeypatch.setattr(mlc_training, "fit_resumably", killed_in_phase_2)
    backup = tmp_path / "b"
    with pytest.raises(KeyboardInterrupt):
        mlc_training.train_one_seed(recipe, 0, log=None, backup_dir=backup)
    assert (backup / "spen" / "phase_0" / "checkpoint.npz").is_file()
    monkeypatch.setattr(mlc_training, "fit_resumably", original)
    lines = []
    resumed, _ = mlc_training.train_one_seed(recipe, 0, log=lines.append,
                                             backup_dir=backup)
    np.testing.assert_array_equal(resumed.probabilities(x),
                                  whole.probabilities(x))
    assert not any("clamped" in line for line in lines)  # phase 1 not rerun
    assert not (backup / "spen").exists()
