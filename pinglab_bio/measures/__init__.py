"""Measures of spiking activity on neo objects, through elephant: rates, spectra, synchrony,
rhythm and spike-train dissimilarity."""

from .core import (
    GAMMA_BAND,
    PEAK_SEARCH_BAND,
    cv_isi,
    cycle_participation,
    ei_lag,
    firing_rates,
    fraction_active,
    gamma_peak,
    lv_isi,
    mean_rate,
    mean_spectrum,
    multitaper_psd,
    population_rate,
    rate_bin_size,
    spike_contrast_flat,
    sttc_pairs,
    summarize,
    summarize_arrays,
    synchrony_index,
    welch_psd,
)
from .dissimilarity import (
    PAIR_CLASSES,
    PairClassDistances,
    on_grid,
    paired_van_rossum,
    van_rossum_by_class,
    van_rossum_matrix,
)

__all__ = ["GAMMA_BAND", "PEAK_SEARCH_BAND", "firing_rates", "mean_rate", "population_rate", "rate_bin_size",
           "welch_psd", "multitaper_psd", "mean_spectrum", "gamma_peak", "cv_isi", "lv_isi",
           "fraction_active", "synchrony_index", "spike_contrast_flat", "sttc_pairs", "ei_lag",
           "cycle_participation", "summarize", "summarize_arrays",
           "PAIR_CLASSES", "van_rossum_matrix", "paired_van_rossum", "van_rossum_by_class",
           "PairClassDistances", "on_grid"]
