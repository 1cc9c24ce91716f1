"""``python -m nst_sweep`` and the ``nst-sweep`` script: the Hydra app of ``nst_sweep.app``.

The app's modules (Hydra, MLflow's helpers, NumPy) take a second or two to load; Ctrl-C then
ends the same way as later, in one line with exit code 130, not with an import traceback.
"""

import signal
import sys


def _interrupted_while_loading(signum: int, frame: object) -> None:
    print("nst-sweep: interrupted", file=sys.stderr)
    raise SystemExit(130)


def main() -> None:
    signal.signal(signal.SIGINT, _interrupted_while_loading)
    from nst_sweep.app import main as run_app  # its main() installs its own Ctrl-C handler

    run_app()


if __name__ == "__main__":
    main()
