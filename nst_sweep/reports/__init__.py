"""Summary images for a sweep's parent run, as pure functions (no MLflow), one module per job.

- :mod:`.labels`: job captions from the parameters that differ between jobs.
- :mod:`.sheets`: contact sheets of the jobs' images (Pillow).
- :mod:`.curves`: loss curves per metric and figure rendering (matplotlib).
- :mod:`.study_plots`: Optuna study plots; the only module that imports optuna.

Nothing is re-exported here, so importing one module stays as light as that module.
"""
