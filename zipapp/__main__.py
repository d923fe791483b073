"""Entry point of edgeray.pyz: ``python edgeray.pyz <edgeray arguments>``.

The same program as the ``edgeray`` command and ``python -m edgeray``: every argument
(``start``, ``stop``, ``worker ...``) passes through to ``edgeray.cli.main``.

This file alone is run by whatever interpreter the user has, so it is written for old Pythons
too (no f-strings, no annotations): on one older than 3.11 it says so, not a traceback from the
first 3.11-only module (``tomllib``) or syntax edgeray uses.
"""

import sys

REQUIRED = (3, 11)


def _python_is_too_old(version_info=sys.version_info):
    return tuple(version_info[:2]) < REQUIRED


if __name__ == "__main__":
    if _python_is_too_old(sys.version_info):
        sys.stderr.write(
            "edgeray needs Python {}.{} or newer; this is Python {}.{} ({}).\n".format(
                *(REQUIRED + tuple(sys.version_info[:2]) + (sys.executable or "python",))
            )
        )
        sys.exit(1)

    from edgeray.cli import main

    raise SystemExit(main())
