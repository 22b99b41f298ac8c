"""Every bundled training recipe through its life: train, SIGTERM mid-epoch, resume with the
printed hint in another process, then compare with an uninterrupted run on both trackers.

The recipes come from the recipe registry (``zoo list --recipes``), tuning recipes left out
(they bind ``tune.*``): a new recipe gets these tests by being added. Each runs on tiny data
made here (fake Fashion-MNIST, CIFAR-10 and MR files, 100 digits) with 2 epochs of batch 16
(3 for a step decay or warm-up cosine schedule: their SGD at 0.1 needs a decayed epoch to
lower its loss), float32 and ``train.deterministic``; a schedule is bound to change the rate
after the stop. A transfer recipe first gets a one-epoch source run where its
``train.init_from`` points.

The printed hint runs through ``zoo.cli.main`` in a separate Python process that never saw the
stopped run, so the resume has only the run directory to go on; one such process serves every
recipe of the module, so TensorFlow is imported once rather than once per recipe.

Tolerances: every epoch, the resumed ones included, equals the uninterrupted run's to a
relative 1e-4 (absolute 1e-5): same seed, float32, ``train.deterministic``, and a resume that
restores the weights, the optimizer, the random generators of the model and the shuffle order.
A recipe that augments its training batches is compared up to the stop only: the augmentation
layers draw in the input pipeline, whose prefetching runs ahead by a number of batches no run
controls. Every recipe is checked for what must hold exactly: one record per epoch on
``history.csv``, TensorBoard and MLflow, equal values across the three, the same settings,
FINISHED, one MLflow run.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import gin
import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import zoo
from tests.conftest import write_idx
from zoo._compat import gin_bindings
from zoo.config import list_recipes, resolve_recipe
from zoo.tracking import rundir
from zoo.tracking.readers import read_mlflow, read_tensorboard
from zoo.training.stops import RunStopped

ROOT = Path(__file__).resolve().parent.parent
EPOCHS = 2


def _is_tuning(name: str) -> bool:
    return bool(re.search(r"^\s*tune\.", resolve_recipe(name).read_text(), re.M))


TRAINING_RECIPES = [name for name in list_recipes() if not _is_tuning(name)]


# ---- tiny data ---------------------------------------------------------------------------


def _images(rng, n: int, shape) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % 10
    images = rng.integers(0, 60, size=(n, *shape)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, c * 2 : c * 2 + 4] = 250  # each class lights up its own band of rows
    return images, labels.astype(np.uint8)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Fake Fashion-MNIST (IDX), CIFAR-10 (pickled batches) and MR (Latin-1 lines)."""
    root = tmp_path_factory.mktemp("tiny-data")
    rng = np.random.default_rng(0)
    fashion = root / "fashion"
    fashion.mkdir()
    for prefix, n in (("train", 120), ("t10k", 20)):
        x, y = _images(rng, n, (28, 28))
        write_idx(fashion / f"{prefix}-images-idx3-ubyte.gz", x)
        write_idx(fashion / f"{prefix}-labels-idx1-ubyte.gz", y)
    cifar = root / "cifar"
    cifar.mkdir()
    for name, n in [*((f"data_batch_{i}", 40) for i in range(1, 6)), ("test_batch", 50)]:
        x, y = _images(rng, n, (32, 32, 3))
        batch = {b"data": x.transpose(0, 3, 1, 2).reshape(n, -1), b"labels": y.tolist()}
        (cifar / name).write_bytes(pickle.dumps(batch))
    mr = root / "mr"
    mr.mkdir()
    words = {"pos": ["good", "great", "fine", "warm"], "neg": ["bad", "dull", "poor", "cold"]}
    filler = ["the", "film", "a", "story", "is", "of", "caf\xe9"]
    for side, marks in words.items():
        lines = [
            " ".join(rng.choice(filler, 6).tolist() + rng.choice(marks, 2).tolist())
            for _ in range(80)
        ]
        (mr / f"rt-polarity.{side}").write_bytes("\n".join(lines).encode("latin-1") + b"\n")
    from PIL import Image

    for c, cls in enumerate(("daisy", "roses", "tulips")):  # a flower_photos folder
        (root / "flowers" / cls).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 60, size=(12, 10, 3), dtype=np.uint8)
            pixels[c * 4 : c * 4 + 4] = 250
            Image.fromarray(pixels).save(root / "flowers" / cls / f"{i}.png")
    return root


def tiny_bindings(name: str, data: Path) -> list[str]:
    """What makes ``name`` train in seconds, for the dataset its recipe loads."""
    gin.clear_config()
    zoo.config.parse(name)
    dataset = gin.query_parameter("zoo.train.dataset")
    bound = {selector.split(".")[-1] for _, selector in gin_bindings()}
    gin.clear_config()
    budget = {  # schedules and phases cut to the epochs: each changes the rate after the stop
        "warmup_cosine": ["warmup_cosine.warmup_epochs = 1"],
        "step_decay": ["step_decay.boundaries = [2]"],
        "transfer": ["transfer.fine_tune_epochs = 1"],
    }
    # SGD at 0.1 lowers the loss below the first epoch's only in an epoch after the schedule
    # brought the rate down: a step decay or warm-up cosine recipe keeps a third epoch
    epochs = EPOCHS + 1 if bound & {"step_decay", "warmup_cosine"} else EPOCHS
    common = [
        *(b for key, lines in budget.items() if key in bound for b in lines),
        f"train.epochs = {epochs}",
        "train.batch_size = 16",
        "train.precision = 'float32'",
        "train.deterministic = True",
        "train.early_stopping_patience = None",  # a stop inside patience resumes with it reset
    ]
    per_dataset = {
        "fashion_mnist": [
            f"fashion_mnist.data_dir = '{data / 'fashion'}'",
            "fashion_mnist.validation_split = 20",
            "fashion_mnist.train_size = None",
        ],
        "cifar10": [
            f"cifar10.data_dir = '{data / 'cifar'}'",
            "cifar10.validation_split = 40",
            "cifar10.train_size = None",
        ],
        "digits": ["digits.train_size = 100"],
        "mr": [f"mr.directory = '{data / 'mr'}'", "mr.max_tokens = 200"],
        "flowers": [  # no ImageNet download: the pretrained numbers have their own tests
            f"flowers.data_dir = '{data / 'flowers'}'",
            "flowers.image_size = (32, 32)",
            "transfer.image_size = 32",
            "transfer.weights = None",
        ],
    }
    return common + per_dataset[dataset]


def _transfer_source(name: str, bindings: list[str]) -> None:
    """A one-epoch run where the recipe's ``train.init_from`` points (runs/<exp>/<run>)."""
    gin.clear_config()
    zoo.config.parse(name, bindings)
    source = gin_bindings().get(("", "zoo.train"), {}).get("init_from")
    gin.clear_config()
    if not source or source.startswith(("imagenet:", "keras.applications.")):
        return  # pretrained sources need no run of their own
    experiment, run_name = Path(source).parts[-2:]
    if (Path(source) / "checkpoints").is_dir():
        return
    zoo.train(
        name,
        [
            *bindings,
            "train.init_from = None",
            "transfer.fine_tune_epochs = 0",
            "train.epochs = 1",
            f"train.experiment = '{experiment}'",
            f"train.run_name = '{run_name}'",
        ],
        verbose=0,
    )


class StopMidEpoch(keras.callbacks.Callback):
    """SIGTERM to this very process after the second batch of the second epoch."""

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 1:
            os.kill(os.getpid(), signal.SIGTERM)


def raw_tensorboard_steps(log_dir: Path, tag: str) -> list[int]:
    """Every step of ``tag`` in the raw event files (no reader's de-duplication)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    steps = []
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            steps += [int(event.step) for v in event.summary.value if v.tag == tag]
    return sorted(steps)


RESUMER = """
import contextlib, io, json, os, sys, traceback
import gin
from zoo.cli import main

answers = os.fdopen(int(sys.argv[1]), "w")
for line in sys.stdin:
    request = json.loads(line)
    os.chdir(request["cwd"])
    gin.clear_config()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(request["args"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
    gin.clear_config()
    import keras
    keras.mixed_precision.set_global_policy("float32")
    answers.write(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue()}) + "\\n")
    answers.flush()
"""


class Resumer:
    """A Python process that runs ``zoo`` command lines through ``zoo.cli.main``, one at a time."""

    def __init__(self, env: dict, log: Path):
        read_fd, write_fd = os.pipe()
        self.log = log
        with open(log, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", RESUMER, str(write_fd)],
                cwd=log.parent,
                env=env,
                stdin=subprocess.PIPE,
                stdout=err,
                stderr=err,
                text=True,
                pass_fds=(write_fd,),
            )
        os.close(write_fd)
        self.answers = os.fdopen(read_fd)

    def run(self, args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
        self.proc.stdin.write(json.dumps({"args": args, "cwd": str(cwd)}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.answers], [], [], timeout)
        line = self.answers.readline() if ready else ""
        if not line:  # no answer: the process died or hangs
            self.proc.kill()
            return subprocess.CompletedProcess(args, None, "", self.log.read_text()[-3000:])
        answer = json.loads(line)
        return subprocess.CompletedProcess(args, answer["code"], answer["out"], answer["err"])

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.answers.close()


@pytest.fixture(scope="module")
def resumer(tmp_path_factory, mlflow_db):
    """One process for every recipe's resume: what a fresh process costs is TensorFlow's
    import, and a process that never saw the stopped run is what the resume needs."""
    env = {k: v for k, v in os.environ.items() if k != "ZOO_DATA_DIR"}
    env.update(PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2", MLFLOW_TRACKING_URI=mlflow_db)
    process = Resumer(env, tmp_path_factory.mktemp("resumer") / "output.txt")
    yield process
    process.close()


@pytest.mark.parametrize("name", TRAINING_RECIPES)
def test_recipe_stops_resumes_and_matches_an_uninterrupted_run(
    name, data, tmp_path, mlflow_db, capsys, resumer
):
    bindings = tiny_bindings(name, data)
    _transfer_source(name, bindings)
    reference = zoo.train(name, [*bindings, "train.run_name = 'uninterrupted'"], verbose=0)
    assert reference.status == "FINISHED"

    with pytest.raises(RunStopped):
        zoo.train(
            name,
            [*bindings, "train.run_name = 'stopped'"],
            extra_callbacks=[StopMidEpoch()],
            verbose=0,
        )
    out = capsys.readouterr().out
    hint = re.search(r"to continue: (zoo train .*)$", out, re.M)
    assert hint, out[-2000:]
    run_dir = Path(reference.run_dir).parent / "stopped"
    assert hint.group(1) == f"zoo train --resume {run_dir}"
    stopped_rows = rundir.history_rows(run_dir / "history.csv")
    assert stopped_rows in (1, 2)  # the stop lands in epoch 2 (or, deferred, at its end)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "KILLED"

    resumed = resumer.run(hint.group(1).split()[1:], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]

    history = rundir.read_history(run_dir / "history.csv")
    expected = reference.history
    assert sorted(history) == sorted(expected)
    epochs = len(expected["loss"])  # EPOCHS, and a transfer run's fine-tuning epoch
    assert epochs >= EPOCHS and stopped_rows < epochs  # the resume has epochs to train
    operative = (Path(reference.run_dir) / "operative_config.gin").read_text()
    augmented = re.search(r"\.augment = \[.+\]", operative) is not None
    same = epochs if not augmented else stopped_rows
    for key, values in expected.items():
        assert len(history[key]) == epochs, key
        np.testing.assert_allclose(history[key][:same], values[:same], rtol=1e-4, atol=1e-5)
    assert all(np.isfinite(history["loss"])) and history["loss"][-1] < history["loss"][0]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "FINISHED" and summary["epochs_completed"] == epochs

    client = MlflowClient(tracking_uri=mlflow_db)
    run_id = summary["mlflow"]["run_id"]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == client.get_run(reference.mlflow_run_id).data.params | {
        k: v for k, v in run.data.params.items() if k == "train.run_name"
    }
    same_folder = client.search_runs(  # one MLflow run for the run directory, stop or not
        [run.info.experiment_id],
        filter_string=f"tags.`zoo.run_dir` = '{run_dir.resolve()}'",
    )
    assert [r.info.run_id for r in same_folder] == [run_id]
    board = read_tensorboard(run_dir / "tensorboard")
    flow = read_mlflow(run_id, mlflow_db)
    for key, values in history.items():
        steps = list(range(epochs))
        assert raw_tensorboard_steps(run_dir / "tensorboard", key) == steps, key
        assert sorted(m.step for m in client.get_metric_history(run_id, key)) == steps, key
        want = [float(np.float32(v)) for v in values]
        assert [board[key][s] for s in steps] == want, key
        assert [flow[key][s] for s in steps] == want, key
    assert (run_dir / "operative_config.gin").read_text() == (
        Path(reference.run_dir) / "operative_config.gin"
    ).read_text().replace("'uninterrupted'", "'stopped'")


def test_a_checkpoint_carries_the_random_generators_states(tmp_path):
    from zoo.training.checkpoints import random_states, restore_random_states, save_model

    net = zoo.build("cnn", input_shape=(8, 8, 1), classes=3, filters=[4], dense_dropout=0.5)
    states = random_states(net)
    assert states and all("seed_generator" in v.path for v in states)
    x = np.ones((2, 8, 8, 1), "float32")
    for _ in range(3):  # each call draws a mask and moves the generators on
        net(x, training=True)
    path = tmp_path / "last.keras"
    save_model(net, path, epochs=1)
    loaded = keras.saving.load_model(path)
    assert [np.asarray(v).tolist() for v in random_states(loaded)] != [
        np.asarray(v).tolist() for v in states
    ]
    restore_random_states(loaded, path)
    assert [np.asarray(v).tolist() for v in random_states(loaded)] == [
        np.asarray(v).tolist() for v in states
    ]
    np.testing.assert_array_equal(net(x, training=True), loaded(x, training=True))


def test_training_recipes_come_from_the_registry():
    assert "fashion_cnn" in TRAINING_RECIPES and "transfer_fashion" in TRAINING_RECIPES
    assert not [n for n in TRAINING_RECIPES if n.startswith("tune_")]


# ---- one loader for every checkpoint, in a fresh process -----------------------------------

REGISTRY_CHECK = """
import importlib, pkgutil, keras
from zoo.models.saving import register_custom_objects
register_custom_objects()
before = set(keras.saving.get_custom_objects())
import callbacks, zoo
for package in (zoo, callbacks):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
print(sorted(set(keras.saving.get_custom_objects()) - before))
"""


def _fresh(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_the_loader_registers_every_class_the_package_registers(tmp_path):
    done = _fresh("-c", REGISTRY_CHECK, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"  # nothing the loader does not know


def test_nearest_and_summary_load_a_scheduled_text_run_in_a_fresh_process(data, tmp_path):
    bindings = [
        *tiny_bindings("mr_kim_cnn", data),
        "train.epochs = 1",
        "train.schedule = 'warmup_cosine'",
        "warmup_cosine.warmup_epochs = 1",
        "train.run_name = 'scheduled'",
    ]
    result = zoo.train("mr_kim_cnn", bindings, verbose=0)
    nearest = _fresh("-m", "zoo", "nearest", str(result.run_dir), "good", "-k", "2", cwd=tmp_path)
    assert nearest.returncode == 0 and "Traceback" not in nearest.stderr, nearest.stderr[-3000:]
    assert nearest.stdout.splitlines()[0] == "good" and len(nearest.stdout.splitlines()) == 3
    summary = _fresh("-m", "zoo", "summary", str(result.run_dir), cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr[-3000:]
    assert "kim_cnn" in summary.stdout or "embedding" in summary.stdout


def test_the_readme_resume_examples_work_in_a_fresh_process(data, tmp_path):
    """The README's lines that resume ``runs/fashion/long``, run as written: the CLI line, then
    the Python ones, each in a new process (``recipes/fashion_cnn.gin`` here is the bundled
    recipe on tiny data, found first by name)."""
    readme = (ROOT / "README.md").read_text()
    cli = [
        line.split("#")[0].strip()
        for line in readme.splitlines()
        if "zoo train --resume runs/fashion/long" in line
    ]
    code = [line.split("#")[0].strip() for line in readme.splitlines() if "resume=" in line]
    assert cli == ["zoo train --resume runs/fashion/long"] and len(code) == 2
    (tmp_path / "recipes").mkdir()
    tiny = "\n".join(tiny_bindings("fashion_cnn", data)).replace(f"epochs = {EPOCHS}", "epochs = 2")
    (tmp_path / "recipes" / "fashion_cnn.gin").write_text(
        resolve_recipe("fashion_cnn").read_text() + "\n" + tiny + "\n"
    )
    with pytest.raises(RunStopped):
        zoo.train("fashion_cnn", ["train.run_name = 'long'"], extra_callbacks=[StopMidEpoch()])
    first = _fresh("-m", "zoo", *cli[0].split()[1:], cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = _fresh("-c", "\n".join(["import zoo", *code]), cwd=tmp_path)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    run_dir = tmp_path / "runs" / "fashion" / "long"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "FINISHED" and summary["epochs_completed"] == 8
