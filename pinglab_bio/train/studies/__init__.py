"""Study configurations of the training loop (:func:`pinglab_bio.train.loop.train_loop`).

``ei_ratio`` (E:I ratio, initial rate, weight noise), ``ei_deep`` (deep E–I layers against batch
norm), ``dt_transfer`` (train at one dt, run in Brian2 at others) and ``common`` (what they and
their analyses share: flag lists, the digits split as tensors, E/I pair classes).
"""

__all__: list[str] = []
