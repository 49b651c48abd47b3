"""Certification jobs spread over processes and over Ray give the single-process answer, bit
for bit, also when a worker dies in the middle of the job."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import pytest
import torch

import nets
from nets.certify import LineCertificate, line_certificate
from nets.certify.scaleout import certified_accuracy, line_certificates

RADII = ["0", "1/20", "1/10", "1/4"]


@pytest.fixture(scope="module")
def job():
    torch.manual_seed(3)
    model = nets.LipschitzMLP([2, 12, 12, 3], activation="maxmin", layer="aol")
    x = torch.randn(96, 2)
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    y[::5] = (y[::5] + 1) % 3  # some wrong labels: never certified
    generator = torch.Generator().manual_seed(4)
    pairs = [(torch.randn(2, generator=generator), 3 * torch.randn(2, generator=generator)) for _ in range(24)]
    reference = certified_accuracy(model, x, y, RADII, shard_size=16)
    lines = line_certificates(model, pairs, shard_size=3)
    return model, x, y, pairs, reference, lines


def _masks(reports):
    return [(r.eps, r.lipschitz, r.certified_mask, r.naive_mask) for r in reports]


def test_the_reference_is_not_trivial(job):
    model, x, y, pairs, reference, lines = job
    assert 0 < sum(reference[1].certified_mask) < len(x) and sum(reference[-1].certified_mask) < sum(
        reference[1].certified_mask
    )
    assert lines == [line_certificate(model, a, b) for a, b in pairs]
    assert any(c.t is not None for c in lines) and any(c.t is None for c in lines)


def test_first_changes_only_are_the_whole_certificates_without_the_constant(job):
    model, x, y, pairs, reference, lines = job
    first_only = line_certificates(model, pairs, shard_size=5, lipschitz=False)
    assert first_only == [LineCertificate(c.label, c.t, c.length_squared, None) for c in lines]


def test_a_local_pool_gives_the_same_answer(job, tmp_path):
    model, x, y, pairs, reference, lines = job
    path = tmp_path / "model.pt"
    nets.model_file.save(model, path)
    assert _masks(certified_accuracy(path, x, y, RADII, shard_size=16, workers=2)) == _masks(reference)
    assert line_certificates(path, pairs, shard_size=3, workers=2) == lines


def _cpu_seconds(pid: int) -> float:
    """CPU time a process has used (Linux /proc; elsewhere a value that counts as enough)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("inf")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _kill_a_worker_soon(victims: list) -> threading.Thread:
    """Kill the first worker process of this test process once it works: a worker killed
    while the pool is still starting it can leave CPython's ProcessPoolExecutor waiting
    forever (a start-up race of the executor, not a worker dying mid-shard)."""

    def hunt():
        deadline = time.time() + 60
        while time.time() < deadline and not victims:
            for child in multiprocessing.active_children():
                if _cpu_seconds(child.pid) >= 0.3:
                    os.kill(child.pid, signal.SIGKILL)
                    victims.append(child.pid)
                    break
            time.sleep(0.05)

    thread = threading.Thread(target=hunt)
    thread.start()
    return thread


def test_a_dead_local_worker_costs_a_retry_not_a_result(job):
    model, x, y, pairs, reference, lines = job
    victims: list = []
    hunter = _kill_a_worker_soon(victims)
    got = line_certificates(model, pairs, shard_size=3, workers=2)
    hunter.join()
    assert victims, "no worker was killed: the test did not test a retry"
    assert got == lines


def test_ray_gives_the_same_answer_when_a_worker_dies(job):
    ray = pytest.importorskip("ray")
    psutil = pytest.importorskip("psutil")
    model, x, y, pairs, reference, lines = job
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert _masks(certified_accuracy(model, x, y, RADII, shard_size=16, ray="local")) == _masks(reference)
        victims: list = []

        def hunt():  # kill a Ray worker while it runs one of our shards
            deadline = time.time() + 90
            while time.time() < deadline and not victims:
                for process in psutil.process_iter(["pid", "name", "cmdline"]):
                    title = " ".join(process.info["cmdline"] or []) + (process.info["name"] or "")
                    if "_lines_shard" in title:
                        os.kill(process.info["pid"], signal.SIGKILL)
                        victims.append(process.info["pid"])
                        return
                time.sleep(0.05)

        hunter = threading.Thread(target=hunt)
        hunter.start()
        got = line_certificates(model, pairs, shard_size=3, ray="local")
        hunter.join()
        assert victims, "no Ray worker was killed: the test did not test a retry"
        assert got == lines
    finally:
        ray.shutdown()


def test_arguments_are_checked(job):
    from cpwl import InvalidArgument

    model, x, y, *_ = job
    with pytest.raises(InvalidArgument, match="not both"):
        certified_accuracy(model, x, y, RADII, workers=2, ray="local")
    with pytest.raises(InvalidArgument, match="shard_size"):
        certified_accuracy(model, x, y, RADII, shard_size=0)


def test_graph_files_certify_along_lines_and_in_accuracy(tmp_path):
    """An ONNX file's line certificates and certified accuracy, in shards (a local pool
    included), equal the torch model's."""
    import warnings

    from nets.certify import certified_robust_accuracy

    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)).eval()
    path = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3),), str(path), dynamo=False)
    pairs = [(torch.randn(3), 4 * torch.randn(3)) for _ in range(8)]
    expected = [line_certificate(model, a, b) for a, b in pairs]
    assert any(c.t is not None for c in expected)  # label changes to find
    assert line_certificates(str(path), pairs, shard_size=2) == expected
    first_only = [LineCertificate(c.label, c.t, c.length_squared, None) for c in expected]
    assert line_certificates(str(path), pairs, shard_size=3, workers=2, lipschitz=False) == first_only
    assert [line_certificate(str(path), a, b) for a, b in pairs] == expected
    x, y = torch.randn(12, 3), torch.randint(0, 3, (12,))
    want = certified_robust_accuracy(model, x, y, "1/10")
    got = certified_accuracy(str(path), x, y, ["1/10"], shard_size=5, workers=2)[0]
    assert got.certified_mask == want.certified_mask and got.lipschitz == want.lipschitz
