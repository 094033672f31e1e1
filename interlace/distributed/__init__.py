"""One fit spread over a Dask cluster: ``glmer`` / ``fit`` on a Dask DataFrame.

The data's partitions stay on the workers; every pass over the rows is a map-reduce that
ships only sums over rows (X'WX, Z'WZ's blocks, per-level sums) to the driver, whose memory
grows with the number of random effects, not with the number of rows. See ``docs/scale.md``.
"""

from interlace.distributed.frames import is_dask_frame
from interlace.distributed.passes import PassLog

__all__ = ["is_dask_frame", "PassLog"]
