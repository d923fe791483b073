"""edgeray's built-in plugins, written exactly as a third-party plugin would be: plain modules of
``@hookimpl`` functions using only the public hookspecs of ``edgeray.plugins``.

- ``edgeray_builtins.resources``   CPU / memory / object store / GPU detection, labels
- ``edgeray_builtins.scheduling``  DEFAULT, SPREAD, NODE_AFFINITY, LOCALITY, PLACEMENT_GROUP
- ``edgeray_builtins.persistence`` GCS storage: memory, sqlite

The plugin manager registers them by import (so they work without package metadata, e.g. in the
zipapp); they are also declared as ``edgeray`` entry points and registered only once.
"""
