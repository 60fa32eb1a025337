"""`python -m ortstyle.bench OPTIONS` is `ortstyle bench OPTIONS`; with `--worker SPEC` it is
one worker process of a running bench (started by `worker.Worker`)."""

import sys

from ortstyle.bench.worker import WORKER_FLAG, worker_main

if len(sys.argv) == 3 and sys.argv[1] == WORKER_FLAG:
    worker_main(sys.argv[2])
else:  # through the CLI's entry point, for its one-line errors
    from ortstyle.cli import main

    sys.argv[1:1] = ["bench"]
    main(prog_name="ortstyle")  # usage lines then read `ortstyle bench`
