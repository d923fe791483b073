"""``edgeray.experimental``: Ray's ``ray.experimental`` names edgeray has (``tqdm_ray``).

Rule: built on the public API only, like ``edgeray.util``.
"""
