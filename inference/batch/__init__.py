"""``lunglens batch``: analyse an archive of studies in parallel, locally or on Ray, into the study index.

``analyst`` is the per-study work every engine runs, ``engines`` the local worker pool (and the
seam for ``ray_engine``), ``run`` the driver that plans, dispatches and records.
"""
