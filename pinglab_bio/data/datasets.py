"""Data sets: scikit-learn digits (default, offline), Fashion-MNIST and SHD from local files.

Fashion-MNIST is read from the official idx files (gzip) in a folder; SHD from the official
HDF5 files (``spikes/times`` in seconds, ``spikes/units``, ``labels``). Files are checked
against checksums before use; a download happens only when asked (``download=True``) and a
network exists, and the downloaded file is checked the same way.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PinglabError, SettingsError

__all__ = ["Dataset", "load_dataset", "load_digits_dataset", "load_fashion_mnist", "load_shd",
           "file_checksum", "FASHION_MNIST_FILES", "SHD_FILES", "DATASETS", "DIGITS_SPLITS", "read_idx"]

DATASETS = ("digits", "fashion_mnist", "shd")
DIGITS_SPLITS = ("permutation", "stratified")

#: Official files and MD5 checksums (from the Fashion-MNIST repository's README).
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
#: SHD files; their MD5s are listed in ``md5sums.txt`` beside them on the official server.
SHD_FILES = ("shd_train.h5", "shd_test.h5")


@dataclass
class Dataset:
    """A classification data set.

    ``kind="static"``: ``x_*`` are intensities ``[samples, channels]`` in [0, 1], encoded to
    spikes later. ``kind="spikes"``: ``x_*`` are spike counts ``[samples, steps, channels]`` at
    ``dt_s``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    kind: str = "static"
    dt_s: float | None = None
    checksums: dict | None = None

    @property
    def n_inputs(self) -> int:
        return int(self.x_train.shape[-1])


def file_checksum(path, algorithm: str = "md5") -> str:
    """Hex digest of a file (``md5`` or ``sha256``)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, expected: str | None, what: str):
    if expected is None:
        return file_checksum(path)
    got = file_checksum(path)
    if got != expected:
        raise PinglabError(f"{what}: {path} has MD5 {got}, expected {expected}. Fix: download the "
                           "official file again (a damaged or different file)")
    return got


def _download(url: str, path: Path):
    import urllib.request

    try:
        urllib.request.urlretrieve(url, path)  # noqa: S310 - fixed https/http URL of the data set
    except OSError as err:
        raise PinglabError(f"cannot download {url} ({err}). Fix: copy the file into {path.parent} "
                           "by hand") from None


def load_digits_dataset(*, test_fraction: float = 0.2, seed: int = 0, split: str = "permutation") -> Dataset:
    """scikit-learn's 8×8 digits (1,797 images, 10 classes), pixels scaled to [0, 1].

    Parameters
    ----------
    test_fraction : float
        Share of the images held out for testing, in (0, 1).
    seed : int
        Seeds the split.
    split : {"permutation", "stratified"}
        ``"permutation"``: the first ``test_fraction`` of a seeded permutation is the test set
        (``pinglab-bio train``, dt_transfer). ``"stratified"``: scikit-learn's
        ``train_test_split`` keeping the class shares (the E:I-ratio and deep E–I studies).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise PinglabError("the digits data set needs scikit-learn. Fix: pip install "
                           "'pinglab-bio[train]'") from None
    if not 0 < test_fraction < 1:
        raise SettingsError(f"test_fraction must lie in (0, 1), got {test_fraction!r}. Fix: e.g. 0.2")
    if split not in DIGITS_SPLITS:
        raise SettingsError(f"unknown digits split {split!r}. Fix: use one of {', '.join(DIGITS_SPLITS)}")
    digits = load_digits()
    x = digits.data.astype(float) / 16.0
    y = digits.target.astype(np.int64)
    if split == "stratified":
        from sklearn.model_selection import train_test_split

        x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, stratify=y,
                                                  random_state=seed)
        return Dataset("digits", x_tr, y_tr, x_te, y_te, 10)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    return Dataset("digits", x[train], y[train], x[test], y[test], 10)


def read_idx(path) -> np.ndarray:
    """Read an idx file (gzip or plain): unsigned-byte data with its dimensions."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise PinglabError(f"{path} is not an unsigned-byte idx file. Fix: use the official "
                           "Fashion-MNIST files")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise PinglabError(f"{path}: header says {dims} but holds {body.size} values. Fix: download "
                           "the file again")
    return body.reshape(dims)


def load_fashion_mnist(folder, *, checksums: dict | None = FASHION_MNIST_FILES,
                       download: bool = False, limit: int | None = None) -> Dataset:
    """Fashion-MNIST from the four official idx files in ``folder``.

    ``checksums`` maps file name → MD5 (default: the official ones; ``None`` skips the check).
    ``limit`` keeps the first ``limit`` training and test samples.
    """
    folder = Path(folder)
    if not folder.is_dir() and not download:
        raise PinglabError(f"Fashion-MNIST folder {folder} does not exist. Fix: put "
                           f"{', '.join(FASHION_MNIST_FILES)} there (or pass download=True)")
    folder.mkdir(parents=True, exist_ok=True)
    found = {}
    for name in FASHION_MNIST_FILES:
        path = folder / name
        if not path.is_file():
            if not download:
                raise PinglabError(f"Fashion-MNIST file {path} is missing. Fix: copy the official "
                                   f"{name} into {folder}")
            _download(FASHION_MNIST_URL + name, path)
        found[name] = _verify(path, None if checksums is None else checksums.get(name), "Fashion-MNIST")
    x_train = read_idx(folder / "train-images-idx3-ubyte.gz")
    y_train = read_idx(folder / "train-labels-idx1-ubyte.gz")
    x_test = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    y_test = read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise PinglabError(f"Fashion-MNIST in {folder}: image and label counts differ. Fix: use "
                           "matching official files")
    sl = slice(None, limit)

    def flat(images):
        return images.reshape(len(images), -1).astype(float) / 255.0

    return Dataset("fashion_mnist", flat(x_train)[sl], y_train[sl].astype(np.int64), flat(x_test)[sl],
                   y_test[sl].astype(np.int64), 10, checksums=found)


def _shd_split(path: Path, dt_s: float, duration_s: float, n_channels: int):
    import h5py

    with h5py.File(path, "r") as h5:
        for key in ("spikes/times", "spikes/units", "labels"):
            if key not in h5:
                raise PinglabError(f"{path} has no '{key}', so it is not an SHD file. Fix: use the "
                                   "official shd_train.h5 / shd_test.h5")
        times, units, labels = h5["spikes/times"][()], h5["spikes/units"][()], h5["labels"][()]
    steps = int(round(duration_s / dt_s))
    x = np.zeros((len(labels), steps, n_channels), dtype=np.uint8)
    for k, (t, u) in enumerate(zip(times, units, strict=True)):
        step = np.floor(np.asarray(t, dtype=float) / dt_s + 1e-9).astype(np.int64)
        keep = step < steps
        np.add.at(x[k], (step[keep], np.asarray(u, dtype=np.int64)[keep]), 1)
    return x, np.asarray(labels, dtype=np.int64)


def load_shd(folder, *, dt_s: float = 1e-3, duration_s: float = 1.0, checksums: dict | None = None,
             n_channels: int = 700) -> Dataset:
    """SHD from ``shd_train.h5`` and ``shd_test.h5`` in ``folder``, binned at ``dt_s``.

    ``checksums`` maps file name → MD5; when ``None``, a ``md5sums.txt`` beside the files
    (``<md5>  <name>`` lines, as on the official server) is used if present.
    """
    folder = Path(folder)
    sums = dict(checksums or {})
    if not sums and (folder / "md5sums.txt").is_file():
        for line in (folder / "md5sums.txt").read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                sums[Path(parts[1]).name.removesuffix(".gz")] = parts[0]
    found = {}
    for name in SHD_FILES:
        path = folder / name
        if not path.is_file():
            raise PinglabError(f"SHD file {path} is missing. Fix: download {name}.gz from the SHD site, "
                               f"gunzip it and put it into {folder}")
        found[name] = _verify(path, sums.get(name), "SHD")
    x_train, y_train = _shd_split(folder / "shd_train.h5", dt_s, duration_s, n_channels)
    x_test, y_test = _shd_split(folder / "shd_test.h5", dt_s, duration_s, n_channels)
    n_classes = int(max(y_train.max(initial=0), y_test.max(initial=0)) + 1)
    return Dataset("shd", x_train, y_train, x_test, y_test, max(n_classes, 20), kind="spikes", dt_s=dt_s,
                   checksums=found)


def load_dataset(name: str, *, data_dir=None, seed: int = 0, **kwargs) -> Dataset:
    """``digits`` (default), ``fashion_mnist`` or ``shd`` (the last two need ``data_dir``)."""
    if name == "digits":
        return load_digits_dataset(seed=seed, **kwargs)
    if name in ("fashion_mnist", "shd"):
        if data_dir is None:
            raise SettingsError(f"data set '{name}' is read from local files. Fix: pass --data-dir "
                                "FOLDER (see docs/readme/training.md)")
        return (load_fashion_mnist if name == "fashion_mnist" else load_shd)(data_dir, **kwargs)
    raise SettingsError(f"unknown data set {name!r}. Fix: use one of {', '.join(DATASETS)}")
