"""``python -m nst_sweep`` runs the same Hydra app as the ``nst-sweep`` script."""

from nst_sweep.app import main

if __name__ == "__main__":
    main()
