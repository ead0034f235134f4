"""A sweep's runs as Ray tasks, here or on a cluster (default: one after another, experiments.train_runs).

    python -m problem2 all --executor ray                                  # Ray on this machine: ray.init()
    python -m problem2 all --executor ray --address HOST:6379 --results /shared/p2 --data-dir /shared/p2/data/keypoints
    python -m problem2 runs run data125_heatmap data250_heatmap --executor ray --num-cpus 1

Division of work. The driver (this process) reuses finished runs, draws any extra training images, submits
the rest as tasks in the sweep's order (no more at a time than the cluster can start), follows their epochs in
the shared training logs, and returns the logs in order; it alone writes the shared JSON files and the report
afterwards. A task trains one run into its run directory (registry.run_dir) with torch threads = --num-cpus, and
nothing else. Two runs that share a directory (the main pair, in RESULTS/) never train at once.

Storage. Tasks write straight into RESULTS, so RESULTS and the data must be one path every node sees (a shared
filesystem): a run cut by a lost worker resumes from NAME_last.pth, which must outlive the node. The driver checks
each finished run on its own view of RESULTS and stops with an error if a task wrote where it cannot see.

Faults. A task whose worker or node dies (Ray reports a system error, not an exception of the run) is
submitted again, up to --max-retries times; the driver first removes the dead writer's lock, and the new task resumes
from the last completed epoch (run.train_run, loop.fit), ending with the log and weights of an uninterrupted run. An exception
raised by the run itself is not retried: it stops the sweep, as it would without Ray.
"""
from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from problem2.core import cli, runtime, storage

EXECUTORS = ("sequential", "ray")
POLL_SECONDS = 2.0  # how often the driver looks at the logs of the runs in flight


@dataclass(frozen=True)
class KillOnce:
    """Fault injection: SIGKILL the worker process training `run_id` right after its epoch `epoch` is committed,
    once (the file `marker` records that it happened). The fault-tolerance test uses it; so can a user who wants
    to watch a retry."""
    run_id: str
    epoch: int
    marker: str

    def callback(self, run_id: str):
        if run_id != self.run_id:
            return None

        def on_epoch(entry: dict) -> None:
            if entry["epoch"] == self.epoch and not Path(self.marker).exists():
                Path(self.marker).write_text(f"{os.getpid()} {platform.node()}\n")
                os.kill(os.getpid(), signal.SIGKILL)
        return on_epoch


@dataclass
class RayExecutor:
    """Runs each pending run as one Ray task asking for num_cpus (its torch threads, rounded down, at least 1)
    and num_gpus. address: None starts Ray on this machine (or uses the connection this process already
    has); 'auto' or HOST:PORT joins a running cluster."""
    address: str | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    max_retries: int = 3
    fault: KillOnce | None = None
    events: list = field(default_factory=list)  # {t: s since the first submission, run, event, ...}: the record

    def train(self, specs: dict, data_dir: Path, results_dir: Path, plan=None) -> dict:
        """{run id: log} of every run in specs ({id: experiments.RunSpec}), in specs' order."""
        from problem2.experiments.registry import run_dir, run_reusable
        from problem2.experiments.runner import run_training
        check_device(specs, self.num_gpus)
        logs, pending = {}, []
        for run_id, spec in specs.items():  # finished runs: reused here, exactly as without Ray
            if run_reusable(run_id, results_dir):
                logs[run_id] = run_training(spec, data_dir, run_dir(run_id, results_dir), progress=False)
                self._say(plan, f"reused {run_id}")
            else:
                pending.append(run_id)
        if pending:
            prepare_shared_data([specs[r] for r in pending], data_dir)
            with ray_session(self.address):
                check_feasible(self.num_cpus, self.num_gpus)
                logs.update(self._train_on_ray(pending, specs, Path(data_dir), Path(results_dir), plan))
        return {run_id: logs[run_id] for run_id in specs}

    def _train_on_ray(self, pending: list, specs: dict, data_dir: Path, results_dir: Path, plan) -> dict:
        import ray

        from problem2.experiments.registry import epochs_done, run_dir, run_finished
        task = ray.remote(train_task).options(num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=0)
        t0, logs, in_flight, retries = time.perf_counter(), {}, {}, {}
        epochs_seen = {r: epochs_done(r, results_dir) for r in pending}  # the plan has counted these already
        pending = list(pending)
        while pending or in_flight:
            busy = {run_dir(r, results_dir) for r in in_flight.values()}
            for run_id in list(pending):
                if len(in_flight) >= self.slots():  # submit no more than can start: Ray runs tasks in the order
                    break                           # they came, so a run held back (the main pair's second) goes next
                if run_dir(run_id, results_dir) not in busy:
                    busy.add(run_dir(run_id, results_dir))
                    pending.remove(run_id)
                    in_flight[task.remote(run_id, specs[run_id], str(data_dir), str(results_dir),
                                          max(1, int(self.num_cpus)), self.fault, storage.reference_open())] = run_id
                    self._event(t0, run_id, "submitted")
                    self._say(plan, f"submitted {run_id}")
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=POLL_SECONDS)
            self._follow_epochs(in_flight.values(), results_dir, plan, epochs_seen)
            for ref in done:
                run_id = in_flight.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as e:  # the run's own exception: as without Ray
                    raise e.as_instanceof_cause() from None
                except ray.exceptions.RayError as e:  # the worker or its node was lost: retry, resuming
                    retries[run_id] = retries.get(run_id, 0) + 1
                    if retries[run_id] > self.max_retries:
                        raise RuntimeError(f"{run_id}: worker lost {retries[run_id]} times; giving up "
                                           f"(last: {type(e).__name__})") from e
                    holder = runtime.DirectoryLock.remove_dead_holders(run_dir(run_id, results_dir))
                    self._event(t0, run_id, "worker lost", error=type(e).__name__, lock=holder,
                                retry=retries[run_id])
                    self._say(plan, f"{run_id}: worker lost ({type(e).__name__}), retry {retries[run_id]}/"
                                    f"{self.max_retries} resumes from its last epoch")
                    pending.insert(0, run_id)
                    continue
                if not run_finished(run_id, results_dir):
                    raise cli.UserError(f"{run_id} finished on {result['host']}, but its log is not complete under "
                                        f"{run_dir(run_id, results_dir)} as this driver sees it: RESULTS must be a "
                                        f"path that every Ray node shares (see problem2/experiments/executor.py)")
                logs[run_id] = result["log"]
                self._event(t0, run_id, "finished", host=result["host"], task_seconds=result["seconds"])
                self._follow_epochs([run_id], results_dir, plan, epochs_seen)
                self._say(plan, f"finished {run_id} ({result['seconds']:.0f} s on {result['host']})")
        return logs

    def slots(self) -> int:
        """Runs the cluster can train at once with this executor's resources per run (read again each time: a
        cluster may grow or shrink)."""
        import ray
        total = ray.cluster_resources()
        n = int(total.get("CPU", 0) // self.num_cpus)
        if self.num_gpus > 0:
            n = min(n, int(total.get("GPU", 0) // self.num_gpus))
        return max(1, n)

    def _event(self, t0: float, run_id: str, event: str, **detail) -> None:
        self.events.append({"t": round(time.perf_counter() - t0, 3), "run": run_id, "event": event, **detail})

    @staticmethod
    def _say(plan, text: str) -> None:
        if plan is not None:
            plan.note(text)
        else:
            print(f"[ray] {text}", flush=True)

    @staticmethod
    def _follow_epochs(run_ids, results_dir: Path, plan, seen: dict) -> None:
        """Advance the plan's bar by the epochs that the runs' logs gained (tasks cannot reach the driver's bar)."""
        if plan is None:
            return
        from problem2.experiments.registry import epochs_done
        for run_id in run_ids:
            n = epochs_done(run_id, results_dir)
            for _ in range(seen[run_id], n):
                plan.epoch_finished(run_id)
            seen[run_id] = max(n, seen[run_id])


def train_task(run_id: str, spec, data_dir: str, results_dir: str, threads: int, fault: KillOnce | None,
               reference: bool = False) -> dict:
    """The body of one Ray task: train (or resume) one run into its run directory; its log and where it ran
    (reference: the driver writes the committed reference, in its writing_reference() block, so this task may)."""
    import torch

    from problem2.experiments.registry import run_dir
    from problem2.experiments.runner import run_training
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    with storage.writing_reference() if reference else contextlib.nullcontext():
        log = run_training(spec, data_dir, run_dir(run_id, results_dir), progress=False,
                           on_epoch=fault.callback(run_id) if fault else None)
    return {"log": log, "host": platform.node(), "pid": os.getpid(), "seconds": time.perf_counter() - t0}


def check_device(specs: dict, num_gpus: float) -> None:
    """A task sees the GPUs it asked for and no others: --device cuda needs --num-gpus > 0."""
    if num_gpus <= 0 and any(spec.train.device == "cuda" for spec in specs.values()):
        raise cli.UserError("--device cuda under Ray needs --num-gpus > 0 per run (e.g. --num-gpus 0.5 shares "
                            "one GPU between two runs); a task without GPUs sees none")


CONNECT_TIMEOUT_S = 10


def check_reachable(address: str | None) -> None:
    """UserError, within CONNECT_TIMEOUT_S, when HOST:PORT does not accept a connection (ray.init would wait on)."""
    if not address or address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise cli.UserError(f"--address must be 'auto' or HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise cli.UserError(f"no Ray cluster answers at {address} ({e.strerror or type(e).__name__}); start one with "
                            f"`ray start --head`, or leave out --address to start Ray here") from None


def check_feasible(num_cpus: float, num_gpus: float) -> None:
    """UserError when no node of the connected cluster can ever offer what one run asks for (Ray would queue
    the task for ever)."""
    import ray
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if not any(r.get("CPU", 0) >= num_cpus and r.get("GPU", 0) >= num_gpus for r in nodes):
        most = max(nodes, key=lambda r: (r.get("GPU", 0), r.get("CPU", 0)), default={})
        raise cli.UserError(f"each run asks for {num_cpus:g} CPU(s) and {num_gpus:g} GPU(s), but no node of this Ray "
                            f"cluster has that many (the largest: {most.get('CPU', 0):g} CPUs, {most.get('GPU', 0):g} "
                            f"GPUs); lower --num-cpus / --num-gpus")


def prepare_shared_data(specs: list, data_dir: Path) -> None:
    """Draw the extra training images of the largest data-size run once, before parallel tasks need them."""
    from problem2.data.files import read_annotations
    from problem2.data.generate import ensure_extra_pool
    largest = max((spec.train_images or 0 for spec in specs), default=0)
    n_split = len(read_annotations(Path(data_dir) / "train_annotations.json")["images"])
    if largest > n_split:
        ensure_extra_pool(data_dir, largest - n_split)


class ray_session:
    """Connects to Ray for the with-block: a new local instance (address None), a cluster (address), or the
    connection this process already has (left open afterwards)."""

    def __init__(self, address: str | None):
        self.address = address
        self.started = False

    def __enter__(self):
        try:
            import ray
        except ImportError:
            raise cli.UserError("--executor ray needs Ray: pip install -e '.[ray]'") from None
        if not ray.is_initialized():
            check_reachable(self.address)
            handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
            env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=True,
                         runtime_env={"env_vars": env})
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise cli.UserError(f"cannot connect to a Ray cluster at {self.address!r}: "
                                    f"{str(e).splitlines()[0] if str(e) else type(e).__name__} (start one with "
                                    f"`ray start --head`, or leave out --address to start Ray here)") from None
            for sig, handler in handlers.items():  # ray.init installs its own: keep the command's (cli.run), so
                signal.signal(sig, handler)          # that SIGTERM still ends with 'interrupted ... resume with'
            self.started = True
        return self

    def __exit__(self, *exc):
        if self.started:
            import ray
            ray.shutdown()


def add_executor_options(p) -> None:
    """--executor, --address, --num-cpus, --num-gpus, --max-retries on a command line that trains runs."""
    g = p.add_argument_group("executor (where the runs train)")
    g.add_argument("--executor", choices=EXECUTORS, default="sequential",
                   help="sequential: one run after another in this process (default); ray: one Ray task per run")
    g.add_argument("--address", default=None,
                   help="with --executor ray: a running cluster ('auto' or HOST:PORT); default: start Ray here")
    g.add_argument("--num-cpus", type=cli.positive_float, default=None,
                   help="with --executor ray: CPUs per run, also its torch threads (default 1)")
    g.add_argument("--num-gpus", type=cli.nonnegative_float, default=None,
                   help="with --executor ray: GPUs per run, fractions share one (default 0; --device cuda needs > 0)")
    g.add_argument("--max-retries", type=cli.nonnegative_int, default=None,
                   help="with --executor ray: resubmissions of a run whose worker was lost (default 3)")


def executor_from_args(args) -> RayExecutor | None:
    """The executor the options ask for (None: sequential); ray-only options without --executor ray are an error."""
    ray_only = {"--address": args.address, "--num-cpus": args.num_cpus, "--num-gpus": args.num_gpus,
                "--max-retries": args.max_retries}
    if args.executor != "ray":
        given = [name for name, value in ray_only.items() if value is not None]
        if given:
            raise cli.UserError(f"{', '.join(given)} only apply with --executor ray")
        return None
    check_reachable(args.address)  # before any data, probe or training: a wrong address is named at once
    defaults = RayExecutor()
    return RayExecutor(args.address, args.num_cpus or defaults.num_cpus,
                       defaults.num_gpus if args.num_gpus is None else args.num_gpus,
                       defaults.max_retries if args.max_retries is None else args.max_retries)
