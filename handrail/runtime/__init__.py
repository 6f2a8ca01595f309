"""The ready runtime: a worker wired from settings (``worker``) and the embedded Temporal dev
server (``devserver``)."""
