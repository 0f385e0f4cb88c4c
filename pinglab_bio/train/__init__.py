"""Surrogate-gradient training layer (needs the ``train`` extra: torch, safetensors).

Modules by role: ``derive`` (Brian2 equations → torch step), ``surrogates``, ``layers`` (the
E–I layer of deep networks, Dale projection), ``networks`` (trainable networks from model
files), ``loop`` (the one training loop with hooks, evaluation, checkpoints), ``device``,
``bridge`` (export to and import from Brian2), ``reservoir`` and ``studies/`` (the study
configurations of the loop).

Public API (see docs/readme/training.md):

* surrogates: :func:`spike`, :func:`get_surrogate`, ``SURROGATES``;
* the step derived from Brian2 equations: :class:`NetworkModel`, :class:`PopulationModel`,
  :class:`PathwayModel`, :func:`derive_network`, :func:`network_step`, :func:`run_network`,
  :func:`init_network_state`, :func:`damp_gradient`;
* networks: :func:`classifier_model` (three-layer E/I or PING hidden layer, from a model
  file), :func:`network_model_from_spec`, :func:`baseline_model` (``U ← βU + Ws``),
  :class:`EIClassifier` (weights, Dale projection ``project_()``, ``add_weight_noise_()``),
  :func:`readout_loss`, :func:`predict`;
* training: :func:`train_loop` (hooks for projection, weight noise, logging, evaluation),
  :func:`evaluate`, :class:`TrainConfig`, :func:`build_classifier`, :func:`train_classifier`,
  :func:`encode_split`, :func:`evaluate_torch`, :func:`evaluate_brian2` (the same weights in
  Brian2), :func:`save_checkpoint`, :func:`load_checkpoint` (safetensors);
* devices: :func:`pick_device`, :func:`check_torch_device`;
* reservoir mode: :mod:`pinglab_bio.train.reservoir` (``ReservoirConfig``, ``train_reservoir``).
"""

import importlib

# Names are imported on first use, so that ``pinglab_bio.train.bridge`` (export and import, no
# torch) works where torch is not installed.
_HOMES = {
    **dict.fromkeys(("DerivationError", "derive_network", "init_network_state", "network_step",
                     "run_network", "damp_gradient"), "derive"),
    **dict.fromkeys(("NetworkModel", "PathwayModel", "PopulationModel"), "..model.network"),
    **dict.fromkeys(("TrainConfig", "build_classifier", "encode_split", "evaluate_brian2", "evaluate_torch",
                     "load_checkpoint", "save_checkpoint", "train_classifier", "train_loop", "evaluate",
                     "EpochStats"), "loop"),
    **dict.fromkeys(("check_torch_device", "pick_device"), "device"),
    **dict.fromkeys(("EIClassifier", "baseline_model", "classifier_model", "network_model_from_spec",
                     "predict", "readout_loss"), "networks"),
    **dict.fromkeys(("SURROGATES", "get_surrogate", "spike"), "surrogates"),
}


def __getattr__(name):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(home if home.startswith("..") else "." + home, __name__)
    return getattr(module, name)


__all__ = [
    "spike", "get_surrogate", "SURROGATES",
    "DerivationError", "NetworkModel", "PopulationModel", "PathwayModel", "derive_network",
    "network_step", "run_network", "init_network_state", "damp_gradient",
    "classifier_model", "network_model_from_spec", "baseline_model", "EIClassifier", "readout_loss",
    "predict",
    "TrainConfig", "build_classifier", "train_classifier", "encode_split", "evaluate_torch",
    "evaluate_brian2", "save_checkpoint", "load_checkpoint", "train_loop", "evaluate", "EpochStats",
    "check_torch_device", "pick_device",
]
