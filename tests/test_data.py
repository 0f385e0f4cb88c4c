"""Encoders, data-set loaders (official formats written small) and moving spikes across dt."""

import gzip
import struct

import numpy as np
import pytest

from pinglab_bio.data import (
    downsample,
    file_checksum,
    latency_encode,
    load_dataset,
    load_fashion_mnist,
    load_shd,
    move_spikes,
    poisson_encode,
    spike_probability,
    upsample,
)
from pinglab_bio.errors import PinglabError, SettingsError


def test_poisson_encode_behavior_dt_correct_rate():
    x = np.full((200, 50), 0.5)  # 50 Hz at max_rate 100 Hz
    for dt in (1e-4, 1e-3, 4e-3):
        steps = int(round(0.4 / dt))
        spikes = poisson_encode(x, dt_s=dt, steps=steps, max_rate_hz=100.0, rng=1)
        expected = spike_probability(50.0, dt) / dt  # Hz, slightly below 50 at coarse dt (≤ one spike a step)
        rate = spikes.sum() / (x.size * 0.4)
        # 2 %: 4e6 … 1e5 Bernoulli draws; the standard error of the rate is below 0.5 %
        assert rate == pytest.approx(expected, rel=0.02)
    assert spike_probability(50.0, 1e-3) == pytest.approx(1 - np.exp(-0.05))


def test_encoders_errors():
    with pytest.raises(SettingsError, match=r"intensities must lie in \[0, 1\], got \[0, 2\]"):
        poisson_encode(np.array([[0.0, 2.0]]), dt_s=1e-3, steps=3)
    with pytest.raises(SettingsError, match=r"dt must be positive, got 0"):
        poisson_encode(np.zeros((1, 2)), dt_s=0, steps=3)
    with pytest.raises(SettingsError, match=r"must be \[samples, channels\]"):
        latency_encode(np.zeros(4), dt_s=1e-3, steps=3)


def test_latency_encode_behavior():
    x = np.array([[1.0, 0.5, 0.0, 0.25]])
    out = latency_encode(x, dt_s=1e-3, steps=11)  # t_max = 10 ms
    assert out.sum() == 3  # zero intensity: no spike
    assert [int(np.argmax(out[0, :, c])) for c in (0, 1, 3)] == [0, 5, 7]


def test_transport_behavior():
    rng = np.random.default_rng(0)
    spikes = (rng.random((3, 20, 4)) < 0.3).astype(np.uint8)
    up = upsample(spikes, 4)
    assert up.shape == (3, 80, 4) and up.sum() == spikes.sum() and up[:, 1::4].sum() == 0
    down = downsample(spikes, 5)
    assert down.shape == (3, 4, 4) and down.sum() == spikes.sum() and down.max() >= 2
    np.testing.assert_array_equal(move_spikes(spikes, 1e-3, 2.5e-4), up)
    np.testing.assert_array_equal(move_spikes(spikes, 1e-3, 5e-3), down)
    odd = move_spikes(spikes, 1e-4, 2.5e-4)  # non-integer ratio: by time
    assert odd.shape == (3, 8, 4) and odd.sum() == spikes.sum()
    with pytest.raises(SettingsError, match=r"not a whole number of 0.003 s steps"):
        move_spikes(spikes, 1e-3, 3e-3)
    with pytest.raises(SettingsError, match=r"upsample factor must be a whole number ≥ 1, got 0"):
        upsample(spikes, 0)


def test_load_digits_behavior():
    pytest.importorskip("sklearn")
    data = load_dataset("digits", seed=0)
    assert data.x_train.shape == (1438, 64) and data.x_test.shape == (359, 64)
    assert 0 <= data.x_train.min() and data.x_train.max() == 1.0 and data.n_classes == 10
    again = load_dataset("digits", seed=0)
    np.testing.assert_array_equal(data.y_test, again.y_test)


def _write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def _fashion_folder(tmp_path):
    rng = np.random.default_rng(0)
    files = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 28, 28)),
             "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 6),
             "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28)),
             "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 3)}
    for name, arr in files.items():
        _write_idx(tmp_path / name, arr)
    return files, {name: file_checksum(tmp_path / name) for name in files}


def test_load_fashion_mnist_behavior(tmp_path):
    files, sums = _fashion_folder(tmp_path)
    data = load_fashion_mnist(tmp_path, checksums=sums)
    assert data.x_train.shape == (6, 784) and data.x_test.shape == (3, 784)
    np.testing.assert_allclose(data.x_train[0], files["train-images-idx3-ubyte.gz"][0].reshape(-1) / 255)
    np.testing.assert_array_equal(data.y_test, files["t10k-labels-idx1-ubyte.gz"])


def test_load_fashion_mnist_errors(tmp_path):
    _fashion_folder(tmp_path)
    # the small test files are not the official ones: the default checksums reject them
    with pytest.raises(PinglabError,
                       match=r"train-images-idx3-ubyte.gz has MD5 [0-9a-f]{32}, expected 8d4fb7e6"):
        load_fashion_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(PinglabError, match=r"t10k-labels-idx1-ubyte.gz is missing"):
        load_fashion_mnist(tmp_path, checksums=None)
    with pytest.raises(SettingsError, match=r"data set 'fashion_mnist' is read from local files"):
        load_dataset("fashion_mnist")
    with pytest.raises(SettingsError, match=r"unknown data set 'mnist'"):
        load_dataset("mnist")


def _write_shd(path, samples, labels):
    import h5py

    with h5py.File(path, "w") as h5:
        vlen_f = h5py.vlen_dtype(np.float32)
        vlen_u = h5py.vlen_dtype(np.uint16)
        times = h5.create_dataset("spikes/times", (len(samples),), dtype=vlen_f)
        units = h5.create_dataset("spikes/units", (len(samples),), dtype=vlen_u)
        for k, (t, u) in enumerate(samples):
            times[k], units[k] = np.asarray(t, np.float32), np.asarray(u, np.uint16)
        h5.create_dataset("labels", data=np.asarray(labels, np.uint16))


def test_load_shd_behavior_and_errors(tmp_path):
    _write_shd(tmp_path / "shd_train.h5", [([0.0005, 0.0105, 0.0106], [3, 699, 699])], [7])
    _write_shd(tmp_path / "shd_test.h5", [([0.02], [0])], [19])
    data = load_shd(tmp_path, dt_s=1e-3, duration_s=0.05)
    assert data.x_train.shape == (1, 50, 700) and data.kind == "spikes"
    assert data.x_train[0, 0, 3] == 1 and data.x_train[0, 10, 699] == 2  # two spikes summed in one bin
    assert data.y_train.tolist() == [7] and data.n_classes == 20
    (tmp_path / "md5sums.txt").write_text(f"{'0' * 32}  shd_test.h5.gz\n")
    with pytest.raises(PinglabError, match=r"shd_test.h5 has MD5 [0-9a-f]{32}, expected 0{32}"):
        load_shd(tmp_path)
