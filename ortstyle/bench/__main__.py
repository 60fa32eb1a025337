"""`python -m ortstyle.bench OPTIONS` is `ortstyle bench OPTIONS`; with `--worker SPEC` it is
one worker process of a running bench (started by `worker.Worker`)."""

import sys

import typer

from ortstyle.bench.command import bench
from ortstyle.bench.worker import WORKER_FLAG, worker_main

if len(sys.argv) == 3 and sys.argv[1] == WORKER_FLAG:
    worker_main(sys.argv[2])
else:
    typer.run(bench)
