"""``get`` of several refs raises the first error as soon as one of them has failed, while the
others still run (Ray's behaviour; edgeray waited for all of them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)


def remotes(ray: Any) -> tuple[Any, Any]:
    """A task that fails at once, and one that finishes only once its file exists."""

    @ray.remote(max_retries=0)
    def fails(exc_type: type) -> None:
        raise exc_type("boom")

    @ray.remote
    def waits_for(release: str) -> str:
        import time
        from pathlib import Path

        while not Path(release).exists():  # finishes only once the test lets it
            time.sleep(0.01)
        return "done"

    return fails, waits_for


def test_get_raises_the_first_error_while_others_still_run(ray: Any, tmp_path: Path) -> None:
    fails, waits_for = remotes(ray)
    release = tmp_path / "release"
    slow = waits_for.remote(str(release))
    with pytest.raises(ValueError, match="boom"):
        ray.get([slow, fails.remote(ValueError)], timeout=100)
    release.touch()
    assert ray.get(slow, timeout=60) == "done"


def test_a_failure_already_here_raises_before_waiting(ray: Any, tmp_path: Path) -> None:
    fails, waits_for = remotes(ray)
    release = tmp_path / "release"
    failed = fails.remote(KeyError)
    with pytest.raises(KeyError):
        ray.get(failed)
    slow = waits_for.remote(str(release))
    with pytest.raises(KeyError):
        ray.get([slow, failed], timeout=100)
    release.touch()
    assert ray.get(slow, timeout=60) == "done"
