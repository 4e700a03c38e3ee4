from __future__ import annotations

from types import SimpleNamespace

import pytest

from mlops.cicd.cancel import cancel_jobs
from mlops.commands import cancel_job
from mlops.config import load_config
from mlops.naming import RunNames, run_names

NAMES = RunNames("nyc_taxi_experiment_dev_develop", "nyc_taxi_run_dev_42", "m", "develop", "42")


class FakeJobs:
    """The jobs operation group at the network boundary: records cancellations."""

    def __init__(self, jobs):
        self.jobs = {job.name: job for job in jobs}
        self.cancelled: list[str] = []

    def get(self, name):
        return self.jobs[name]

    def list(self):
        return list(self.jobs.values())

    def begin_cancel(self, name):
        self.cancelled.append(name)
        return SimpleNamespace(result=lambda: None)


def job(name, status, experiment=NAMES.experiment_name, display=NAMES.display_name):
    return SimpleNamespace(name=name, status=status, experiment_name=experiment,
                           display_name=display)


def client(*jobs):
    return SimpleNamespace(jobs=FakeJobs(jobs))


def test_named_active_job_is_cancelled():
    c = client(job("j1", "Running"), job("j2", "Running"))
    assert cancel_jobs(c, NAMES, "j1", log=lambda m: None) == ["j1"]
    assert c.jobs.cancelled == ["j1"]


def test_finished_job_is_left_alone():
    c, messages = client(job("j1", "Completed")), []
    assert cancel_jobs(c, NAMES, "j1", log=messages.append) == []
    assert c.jobs.cancelled == []
    assert messages == ["Azure ML job j1 is already Completed; nothing to cancel"]


def test_without_a_name_only_this_builds_active_jobs_are_cancelled():
    c = client(job("mine", "Running"), job("mine-queued", "Queued"),
               job("done", "Failed"),
               job("other-build", "Running", display="nyc_taxi_run_dev_41"),
               job("other-branch", "Running", experiment="nyc_taxi_experiment_dev_main"))
    assert cancel_jobs(c, NAMES, None, log=lambda m: None) == ["mine", "mine-queued"]
    assert c.jobs.cancelled == ["mine", "mine-queued"]


def test_nothing_found_says_what_it_looked_for():
    messages = []
    assert cancel_jobs(client(), NAMES, None, log=messages.append) == []
    assert "nyc_taxi_experiment_dev_develop" in messages[0]
    assert "nyc_taxi_run_dev_42" in messages[0]


@pytest.fixture
def args():
    return SimpleNamespace(models=["nyc_taxi"], target="azure")


def test_command_uses_the_published_job_name(args, monkeypatch, capsys):
    fake = client(job("published", "Running", display="whatever"))
    monkeypatch.setattr(cancel_job, "_client", lambda config: fake)
    monkeypatch.setenv("AZUREML_JOB_NAME", "published")
    assert cancel_job.run(args, load_config()) == 0
    assert fake.jobs.cancelled == ["published"]
    assert "nyc_taxi: cancelled 1 Azure ML job(s)" in capsys.readouterr().out


@pytest.mark.parametrize("env", ["dev", "pr"])  # a CI build submits on dev, a PR build on pr
def test_command_finds_the_job_by_this_builds_names(args, monkeypatch, env):
    monkeypatch.delenv("AZUREML_JOB_NAME", raising=False)
    monkeypatch.setenv("BUILD_BUILDID", "977")
    monkeypatch.setenv("BUILD_SOURCEBRANCHNAME", "develop")
    config = load_config()
    names = run_names(config.entry("nyc_taxi", env))
    fake = client(job("submitted", "Running", names.experiment_name, names.display_name),
                  job("other-branch", "Running", f"nyc_taxi_experiment_{env}_main",
                      names.display_name))
    monkeypatch.setattr(cancel_job, "_client", lambda config: fake)
    assert cancel_job.run(args, config) == 0
    assert fake.jobs.cancelled == ["submitted"]


def test_local_target_has_nothing_to_cancel(args, monkeypatch, capsys):
    args.target = "local"
    monkeypatch.setattr(cancel_job, "_client", lambda config: pytest.fail("no client needed"))
    assert cancel_job.run(args, load_config()) == 0
    assert "nothing to cancel" in capsys.readouterr().out

