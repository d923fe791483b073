"""Entry point of edgeray.pyz: ``python edgeray.pyz <edgeray arguments>``.

The same program as the ``edgeray`` command and ``python -m edgeray``: every argument
(``start``, ``stop``, ``worker ...``) passes through to ``edgeray.cli.main``.
"""

if __name__ == "__main__":
    from edgeray.cli import main

    raise SystemExit(main())
