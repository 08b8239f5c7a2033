"""Training tasks: the shared loop (:mod:`~workbench.training.loop`), supervised depth
(:mod:`~workbench.training.supervised`), bi-view self-supervision, relative pose, and the
``eval`` verb. Nothing below this package imports it."""
