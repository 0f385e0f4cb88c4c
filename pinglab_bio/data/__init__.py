"""Input data for the training layer: encoders, data sets and moving spikes across dt.

numpy only at import (torch only when a torch tensor is encoded), so protocols can encode
data without the ``train`` extra.
"""

from .datasets import (
                       FASHION_MNIST_FILES,
                       Dataset,
                       file_checksum,
                       load_dataset,
                       load_digits_dataset,
                       load_fashion_mnist,
                       load_shd,
)
from .encoders import latency_encode, poisson_encode, spike_probability
from .transport import TRANSPORTS, downsample, move_spikes, upsample

__all__ = [
    "Dataset", "load_dataset", "load_digits_dataset", "load_fashion_mnist", "load_shd", "file_checksum",
    "FASHION_MNIST_FILES",
    "poisson_encode", "latency_encode", "spike_probability",
    "upsample", "downsample", "move_spikes", "TRANSPORTS",
]
