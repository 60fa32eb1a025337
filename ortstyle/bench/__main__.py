"""`python -m ortstyle.bench OPTIONS` is `ortstyle bench OPTIONS`; with `--worker SPEC` it is
one worker process of a running bench (started by `worker.Worker`)."""

import sys

WORKER_FLAG = "--worker"  # worker.WORKER_FLAG; not imported here, which needs onnxruntime

if len(sys.argv) == 3 and sys.argv[1] == WORKER_FLAG:
    from ortstyle.bench.worker import worker_main

    worker_main(sys.argv[2])
else:  # through the CLI's entry point, for its one-line errors
    from ortstyle.__main__ import main

    sys.argv[1:1] = ["bench"]
    main(prog_name="ortstyle")  # usage lines then read `ortstyle bench`
