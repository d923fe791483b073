"""``get`` of several refs raises the first error as soon as one of them has failed, while the
others still run (Ray's behaviour; edgeray waited for all of them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)


def test_get_raises_the_first_error_while_others_still_run(ray: Any, tmp_path: Path) -> None:
    release = tmp_path / "release"

    @ray.remote(max_retries=0)
    def fails() -> None:
        raise ValueError("boom")

    @ray.remote
    def waits() -> str:
        import time
        from pathlib import Path

        while not Path(release).exists():  # finishes only once the test lets it
            time.sleep(0.01)
        return "done"

    slow = waits.remote()
    with pytest.raises(ValueError, match="boom"):
        ray.get([slow, fails.remote()], timeout=100)
    release.touch()
    assert ray.get(slow, timeout=60) == "done"


def test_a_failure_already_here_raises_before_waiting(ray: Any, tmp_path: Path) -> None:
    release = tmp_path / "release"

    @ray.remote(max_retries=0)
    def fails() -> None:
        raise KeyError("first")

    @ray.remote
    def waits() -> int:
        import time
        from pathlib import Path

        while not Path(release).exists():
            time.sleep(0.01)
        return 1

    failed = fails.remote()
    with pytest.raises(KeyError):
        ray.get(failed)
    slow = waits.remote()
    with pytest.raises(KeyError):
        ray.get([slow, failed], timeout=100)
    release.touch()
    assert ray.get(slow, timeout=60) == 1
