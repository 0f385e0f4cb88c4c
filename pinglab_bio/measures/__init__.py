"""Measures of spiking activity on neo objects, through elephant, one module per topic.

- :mod:`.rates`: firing rates, population rate, rate bin, CV and LV of the ISIs, fraction active
- :mod:`.spectral`: Welch and multitaper spectra, mean spectrum, gamma peak
- :mod:`.synchrony`: spike contrast, spike-time tiling coefficient
- :mod:`.rhythm`: E→I lag, participation per cycle, which population carries the rhythm
- :mod:`.dissimilarity`: Van Rossum distances by pair class
- :mod:`.drift`: drift of a measure across dt
- :mod:`.summary`: :func:`summary`, the measures of one run at a level, used by every caller
- :mod:`.checks`: the input checks and window helpers the others share
"""

from .checks import (
    analysis_window,
    check_frequency,
    check_min_spikes,
    check_signal,
    check_spiketrains,
    check_times,
    elephant_module,
    times_in_seconds,
    trains_in_window,
)
from .dissimilarity import (
    PAIR_CLASSES,
    PairClassDistances,
    on_grid,
    paired_van_rossum,
    van_rossum_by_class,
    van_rossum_matrix,
)
from .drift import peak_frequency_drift, percent_drift
from .rates import (
    cv_isi,
    cv_isi_times,
    firing_rates,
    fraction_active,
    lv_isi,
    lv_isi_times,
    mean_rate,
    population_rate,
    population_rate_flat,
    rate_bin_size,
)
from .rhythm import EI_POPULATIONS, cycle_participation, ei_lag, ei_pair, rhythm_population
from .spectral import (
    GAMMA_BAND,
    PEAK_SEARCH_BAND,
    gamma_peak,
    mean_spectrum,
    multitaper_psd,
    welch_psd,
    welch_psd_one_window,
)
from .summary import LEVELS, VR_SAMPLE_PAIRS, VR_TIME_CONSTANT, summarize, summarize_arrays, summary
from .synchrony import spike_contrast_flat, sttc_pairs, synchrony_index

__all__ = [
    # rates
    "firing_rates", "mean_rate", "population_rate", "population_rate_flat", "rate_bin_size", "cv_isi",
    "cv_isi_times", "lv_isi", "lv_isi_times", "fraction_active",
    # spectral
    "GAMMA_BAND", "PEAK_SEARCH_BAND", "welch_psd", "welch_psd_one_window", "multitaper_psd", "mean_spectrum",
    "gamma_peak",
    # synchrony
    "synchrony_index", "spike_contrast_flat", "sttc_pairs",
    # rhythm
    "EI_POPULATIONS", "rhythm_population", "ei_pair", "ei_lag", "cycle_participation",
    # dissimilarity
    "PAIR_CLASSES", "van_rossum_matrix", "paired_van_rossum", "van_rossum_by_class", "PairClassDistances",
    "on_grid",
    # drift
    "percent_drift", "peak_frequency_drift",
    # summary
    "LEVELS", "VR_TIME_CONSTANT", "VR_SAMPLE_PAIRS", "summary", "summarize", "summarize_arrays",
    # checks
    "check_spiketrains", "check_signal", "check_min_spikes", "check_frequency", "check_times",
    "analysis_window", "trains_in_window", "times_in_seconds", "elephant_module",
]
