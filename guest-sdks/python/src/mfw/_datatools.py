"""Metaflow's `S3` client, by name: flows that import it load in mfw."""

from __future__ import annotations

from typing import Any

from ._errors import MfwError


class S3:
    """Metaflow's S3 client. mfw has none yet: a flow that imports it
    builds and runs, and using it fails saying what to do instead.

    >>> try:
    ...     S3(run=None)
    ... except MfwError as e:
    ...     print("artifacts" in str(e))
    True
    """

    def __init__(self, *args: Any, **kwargs: Any):
        raise MfwError(
            "mfw has no S3 client yet (Metaflow's S3(run=self), S3(s3root=...)): keep the "
            "values as artifacts (self.data = ...), which mfw stores content-addressed in its "
            "datastore (on S3 when the run uses one), or grant the step the network with "
            "@grant(network=['BUCKET.s3.amazonaws.com:443']) and use a client of its own"
        )
