"""Model files: the TOML schema, ``--set`` overrides, validation and the validated :class:`ModelSpec`."""

from .spec import (
    PATHWAYS,
    POPULATIONS,
    DriveSpec,
    ModelSpec,
    PathwaySpec,
    PopulationSpec,
    apply_overrides,
    check_run_settings,
    load_model,
    parse_model,
)

__all__ = ["ModelSpec", "PopulationSpec", "PathwaySpec", "DriveSpec", "POPULATIONS", "PATHWAYS",
           "load_model", "parse_model", "apply_overrides", "check_run_settings"]
