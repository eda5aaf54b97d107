"""``--engine ray`` on a private local cluster: the same ranked list as the local engine, and nothing leaves loopback."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

from inference.batch.analyst import BatchSettings
from inference.batch.engines import make_engine
from inference.batch.run import plan_batch, run_batch
from inference.cli import main
from inference.worklist.index import StudyIndex
from inference.worklist.ranking import ranked

# Not imported here: LungLens imports Ray itself, after setting what keeps a private cluster on loopback.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray comes with the [scale] extra")


def _probe() -> dict:
    import os

    import ray

    return {
        "ort_telemetry_off": os.environ.get("ORT_DISABLE_TELEMETRY"),
        "usage_stats": os.environ.get("RAY_USAGE_STATS_ENABLED"),
        "node_ip": ray.util.get_node_ip_address(),
    }


def test_ray_gives_the_local_ranked_list_on_a_loopback_only_cluster(capsys, private, archive, monkeypatch):
    code = main(["batch", str(archive.root), "--workers", "2", "--threads", "1", "--json", "-"])
    local = json.loads(capsys.readouterr().out)["studies"]
    assert code == 0

    monkeypatch.setenv("LUNGLENS_CACHE_DIR", str(private / "ray-cache"))  # the Ray run analyses everything again
    monkeypatch.setenv("LUNGLENS_INDEX", str(private / "ray-index.sqlite"))
    for name in ("RAY_USAGE_STATS_ENABLED", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the test: the engine sets them
    settings = BatchSettings(threads=1)
    with StudyIndex() as index:
        plan = plan_batch([archive.root], settings, index)
        engine = make_engine("ray", settings, workers=2)
        import ray

        try:
            probe = ray.get(ray.remote(num_cpus=0)(_probe).remote())  # the actors hold both CPUs
            gcs_host = ray.get_runtime_context().gcs_address.rsplit(":", 1)[0]
            summary = run_batch(plan, engine, index)
        finally:
            engine.close()
        assert not ray.is_initialized()  # the private cluster is gone
        rows = ranked(index.rows(plan.installed, plan.keys))
        counts = index.analysis_counts()

    assert probe == {"ort_telemetry_off": "1", "usage_stats": "0", "node_ip": "127.0.0.1"}
    assert gcs_host in ("127.0.0.1", "::ffff:127.0.0.1")
    assert not summary.interrupted and summary.done == len(local) and set(counts.values()) == {1}
    assert [r.key for r in rows] == [s["key"] for s in local]
    assert [r.status.value for r in rows] == [s["status"] for s in local]
    assert [r.top_probability for r in rows] == pytest.approx([s["top_probability"] for s in local], abs=1e-6)
