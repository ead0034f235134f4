"""The Ray executor: a tiny sweep on a local cluster of two one-CPU worker nodes ends with the logs and the
weights of the sequential path (one thread per run on both sides), although one worker is killed mid-run;
its options fail clearly."""
import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from problem2.__main__ import build_parser
from problem2.core.cli import UserError
from problem2.experiments.executor import KillOnce, RayExecutor, executor_from_args
from problem2.experiments.registry import checkpoint_path, run_dir, run_log
from problem2.experiments.runner import train_runs
from problem2.training.loop import TrainConfig

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")

SWEEP = ["main_heatmap", "main_regression", "ablation_sigma1"]  # the main pair shares one directory
EPOCHS = 2
KILLED, KILLED_AFTER = "ablation_sigma1", 1


def comparable(log: dict) -> dict:
    """A run's log, as JSON stores it, without what depends on the clock or the process: timings, environment."""
    log = json.loads(json.dumps(log))
    epochs = [{k: v for k, v in e.items() if k not in ("epoch_seconds", "train_img_per_s")} for e in log["epochs"]]
    return {k: v for k, v in log.items() if k != "environment"} | {"epochs": epochs}


class EpochCounter:
    """Stands in for pipeline.Plan: counts the epochs the driver reports per run."""

    def __init__(self):
        self.epochs, self.notes = {}, []

    def epoch_finished(self, run_id):
        self.epochs[run_id] = self.epochs.get(run_id, 0) + 1

    def note(self, text):
        self.notes.append(text)


@pytest.fixture(scope="module")
def sequential(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("sequential")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each Ray task here (--num-cpus 1)
    try:
        train_runs(SWEEP, tiny_data, TrainConfig(epochs=EPOCHS), out, progress=False)
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def local_cluster():
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # the driver's node runs no task
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_a_killed_worker_resumes_and_the_sweep_matches_the_sequential_one(tiny_data, tmp_path, sequential,
                                                                          local_cluster):
    marker = tmp_path / "killed"
    executor = RayExecutor(num_cpus=1, fault=KillOnce(KILLED, KILLED_AFTER, str(marker)))
    plan = EpochCounter()
    logs = train_runs(SWEEP, tiny_data, TrainConfig(epochs=EPOCHS), tmp_path / "ray", progress=False,
                      executor=executor, plan=plan)
    assert list(logs) == SWEEP
    assert plan.epochs == dict.fromkeys(SWEEP, EPOCHS)  # the bar counts every epoch once, the retried run's too
    assert marker.exists()  # the worker really died after epoch 1 ...
    events = [(e["run"], e["event"]) for e in executor.events]
    assert events.count((KILLED, "submitted")) == 2 and events.count((KILLED, "finished")) == 1  # ... was retried
    lost = [e for e in executor.events if e["event"] == "worker lost"]
    assert [(e["run"], e["error"], e["retry"]) for e in lost] == [(KILLED, "WorkerCrashedError", 1)]
    assert events.index(("main_regression", "submitted")) > events.index(("main_heatmap", "finished"))  # one dir
    running = [0]
    for _, what in events:  # never more tasks out than the two one-CPU nodes can start
        running.append(running[-1] + {"submitted": 1, "finished": -1, "worker lost": -1}[what])
    assert max(running) == 2 and running[-1] == 0
    for run_id in SWEEP:
        ours, theirs = run_log(run_id, tmp_path / "ray"), run_log(run_id, sequential)
        assert comparable(ours) == comparable(theirs), run_id
        assert len(ours["epochs"]) == EPOCHS and comparable(logs[run_id]) == comparable(theirs)
        a = torch.load(checkpoint_path(run_id, tmp_path / "ray"), weights_only=True)
        b = torch.load(checkpoint_path(run_id, sequential), weights_only=True)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in b), run_id
    assert not (run_dir(KILLED, tmp_path / "ray") / ".lock").exists()


def test_a_second_ray_sweep_reuses_the_finished_runs(tiny_data, sequential, local_cluster):
    before = {r: checkpoint_path(r, sequential).stat().st_mtime_ns for r in SWEEP}
    executor = RayExecutor(num_cpus=1)
    logs = train_runs(SWEEP, tiny_data, TrainConfig(epochs=EPOCHS), sequential, progress=False, executor=executor)
    assert executor.events == []  # nothing was submitted
    assert {r: checkpoint_path(r, sequential).stat().st_mtime_ns for r in SWEEP} == before
    assert [len(logs[r]["epochs"]) for r in SWEEP] == [EPOCHS] * 3



def test_a_logged_run_without_its_checkpoint_trains_on_ray(tiny_data, tmp_path, sequential, local_cluster):
    """As committed reference runs are (log kept, checkpoint not): the run trains again, as a task, not in the
    driver's process under the name of a reuse."""
    shutil.copytree(run_dir(KILLED, sequential), run_dir(KILLED, tmp_path))
    checkpoint_path(KILLED, tmp_path).unlink()
    executor = RayExecutor(num_cpus=1)
    logs = train_runs([KILLED], tiny_data, TrainConfig(epochs=EPOCHS), tmp_path, progress=False, executor=executor)
    assert [(e["run"], e["event"]) for e in executor.events] == [(KILLED, "submitted"), (KILLED, "finished")]
    assert comparable(logs[KILLED]) == comparable(run_log(KILLED, sequential))
    assert checkpoint_path(KILLED, tmp_path).exists()

@pytest.mark.parametrize("argv, message", [
    (["all", "--address", "auto"], "--address only apply with --executor ray"),
    (["all", "--num-gpus", "1", "--max-retries", "2"], "--num-gpus, --max-retries only apply"),
])
def test_ray_options_without_the_ray_executor_are_refused(argv, message):
    with pytest.raises(UserError, match=message):
        executor_from_args(build_parser().parse_args(argv))


def test_ray_options_reach_the_executor():
    args = build_parser().parse_args(["all", "--executor", "ray", "--num-cpus", "2", "--num-gpus", "0.5"])
    assert executor_from_args(args) == RayExecutor(None, 2.0, 0.5, 3)
    assert executor_from_args(build_parser().parse_args(["all"])) is None


def test_cuda_under_ray_needs_gpus_per_run(tiny_data, tmp_path):
    with pytest.raises(UserError, match="needs --num-gpus > 0"):
        train_runs(["main_heatmap"], tiny_data, TrainConfig(epochs=1, device="cuda"), tmp_path,
                   executor=RayExecutor(num_gpus=0))


def test_the_benchmark_sweep_has_one_directory_per_run():
    from problem2.studies.bench_sweep import sweep_runs
    runs = sweep_runs(18)
    assert len({run_dir(r, Path("R")) for r in runs}) == 18 and runs[:2] == ["ablation_sigma1", "ablation_sigma3"]
    with pytest.raises(ValueError, match="at most 18"):
        sweep_runs(19)


def test_sigterm_ends_a_ray_sweep_with_the_resume_line(tiny_data, tmp_path, local_cluster):
    """ray.init installs its own signal handlers; the command keeps its own: exit 143, 'interrupted', the resume."""
    import subprocess
    import sys
    import time

    from problem2.experiments.executor import POLL_SECONDS
    cmd = [sys.executable, "-m", "problem2", "runs", "run", "main_regression", "--executor", "ray", "--address",
           local_cluster.address, "--data-dir", str(tiny_data), "--results", str(tmp_path), "--epochs", "200",
           "--no-progress"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    log = tmp_path / "training_log.json"
    deadline = time.time() + 120
    while not log.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(POLL_SECONDS)
    proc.terminate()
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143, err
    assert "interrupted (SIGTERM)" in err and "resume with:" in err and "Traceback" not in err


def test_resources_no_node_has_are_refused_before_anything_is_submitted(tiny_data, tmp_path, local_cluster):
    for executor, message in ((RayExecutor(num_cpus=16), "asks for 16 CPU(s) and 0 GPU(s), but no node"),
                              (RayExecutor(num_cpus=1, num_gpus=1), "asks for 1 CPU(s) and 1 GPU(s), but no node")):
        with pytest.raises(UserError, match=re.escape(message)):
            train_runs(SWEEP[:1], tiny_data, TrainConfig(epochs=1), tmp_path, progress=False, executor=executor)
        assert executor.events == []  # nothing was submitted


def test_an_address_where_no_cluster_answers_is_refused_at_once():
    from problem2.experiments.executor import check_reachable
    with pytest.raises(UserError, match=r"no Ray cluster answers at 127.0.0.1:1 .*ray start --head"):
        check_reachable("127.0.0.1:1")
    with pytest.raises(UserError, match="must be 'auto' or HOST:PORT"):
        check_reachable("nowhere")
