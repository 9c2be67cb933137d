"""Review-comment benchmark: what "post only on a real change" costs when nothing changed.

Every pipeline run ends its plan stage with ``host.comment(mr, body)``; most re-runs (a restart, a
superseded run, GitLab CI's stage jobs) have the same plan and verdict, so the comment is skipped.
Measured in one process against the loopback fake GitHub and fake GitLab of the tests (real PyGithub
and python-gitlab over real HTTP), on one merge request that already carries ``--people`` comments of
people and SWEN's last comment:

  (a) the check as it is: the store's SHA-256 of SWEN's last comment (``mr_comments``), no request;
  (b) the baseline, the check before the store kept it: read the host's comments and find SWEN's last
      one (``_last_comment``), as every unchanged comment did.

Prints the median time per check, the HTTP requests per check, and the (b)/(a) ratio.

    .venv/bin/python bench/mr_comment_bench.py [--checks 50] [--people 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration")]

import fake_github  # noqa: E402
import fake_gitlab  # noqa: E402

from support.fake_api import FakeApi  # noqa: E402
from swen.config import Settings  # noqa: E402
from swen.domain.merge_requests import MRKind  # noqa: E402
from swen.gitops.github_host import GitHubMergeRequestHost  # noqa: E402
from swen.gitops.mr_hosts import GitLabMergeRequestHost, _StoreBackedHost  # noqa: E402
from swen.store.repository import Store  # noqa: E402

BODY = "### SWEN: plan and policy\n\n`Plan: 1 to add, 0 to change, 1 to destroy.`\n" + "| x | y |\n" * 20


def _median_ms(fn: Callable[[], object], checks: int) -> float:
    times = []
    for _ in range(checks):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _measure(
    name: str,
    host: _StoreBackedHost,
    fake: FakeApi,
    add_comment: Callable[[str], None],
    checks: int,
    people: int,
) -> None:
    mr = host.open("ai-rec/service-2-aws-20261126T101503Z", "t", "d", "d-1", "service-2", MRKind.MIGRATION)
    for i in range(people):
        add_comment(f"comment {i} of a person")
    assert host.comment(mr.id, BODY) is True  # SWEN's last comment, recorded in the store
    stored = host.mrs.get(mr.id)

    before = len(fake.requests)
    now_ms = _median_ms(lambda: host.comment(mr.id, BODY), checks)
    now_requests = (len(fake.requests) - before) / checks

    before = len(fake.requests)
    base_ms = _median_ms(lambda: host._last_comment(stored) == BODY, checks)
    base_requests = (len(fake.requests) - before) / checks

    print(f"{name}: {people} comments by people + SWEN's last one; {checks} unchanged-comment checks")
    print(f"  (a) store digest:        {now_ms:8.3f} ms/check, {now_requests:.1f} HTTP requests/check")
    print(f"  (b) read host comments:  {base_ms:8.3f} ms/check, {base_requests:.1f} HTTP requests/check")
    print(f"  ratio (b)/(a): {base_ms / now_ms:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=50)
    parser.add_argument("--people", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp))
        with Store.open(settings) as store, fake_github.FakeGitHub() as gh:
            host = GitHubMergeRequestHost(
                store, repository=fake_github.REPOSITORY, token=fake_github.TOKEN, api_url=gh.url,
                **fake_github.NO_PAUSES,
            )  # fmt: skip

            def person_gh(body: str) -> None:
                comment = fake_github._fixture("issue_comment.json")
                comment.update(body=body)
                gh.comments[1].append(comment)

            _measure("GitHub", host, gh, person_gh, args.checks, args.people)
        settings = Settings(home=Path(tmp) / "gitlab")
        with Store.open(settings) as store, fake_gitlab.FakeGitLab() as gl:
            gl_host = GitLabMergeRequestHost(
                store, url=gl.url, token=fake_gitlab.TOKEN, project=fake_gitlab.PROJECT
            )

            def person_gl(body: str) -> None:
                gl.notes[1].append({"id": 999, "body": body, "system": False})

            _measure("GitLab", gl_host, gl, person_gl, args.checks, args.people)


if __name__ == "__main__":
    main()
