"""scratchnn.data: the digits splits, and the CIFAR-10 loader on a small
archive built here in the real CIFAR-10 python format (no network)."""
import hashlib
import io
import pickle
import tarfile
from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits as sklearn_digits

from scratchnn.data import load_cifar10, load_digits

f64 = torch.float64


# ---------------------------------------------------------------- digits

@pytest.fixture(scope='module')
def raw_digits():
    """The 1797 images as rows of pixel values in 0..16, and their labels."""
    d = sklearn_digits()
    return d.data.astype(np.int64), d.target


@pytest.fixture(scope='module')
def digits():
    return load_digits(dtype=f64)


def recover_pixels(data):
    """Undo X = (pixels / 16 - mean) / std without knowing mean and std.

    Pixels are integers 0..16, so within a column the values are spaced by
    multiples of 1 / (16 std): the smallest gap gives std. Every pixel is 0 in
    some image, so a column's minimum is -mean / std.
    Returns (pixels of each split as int arrays, mean, std).
    """
    splits = ('train', 'val', 'test')
    X = torch.cat([data[f'X_{s}'] for s in splits]).numpy()
    gaps = [np.diff(np.unique(col)) for col in X.T]
    std = 1 / (16 * min(g.min() for g in gaps if len(g)))
    mean = -X.min(axis=0) * std
    pixels = {}
    for s in splits:
        p = (data[f'X_{s}'].numpy() * std + mean) * 16
        assert np.abs(p - p.round()).max() < 1e-6, "not an affine image of integer pixels"
        pixels[s] = p.round().astype(np.int64)
    return pixels, mean, std


def test_digits_shapes_and_dtypes(digits):
    sizes = {'train': 1797 - 600, 'val': 300, 'test': 300}
    for s, n in sizes.items():
        assert digits[f'X_{s}'].shape == (n, 64) and digits[f'X_{s}'].dtype == f64
        assert digits[f'y_{s}'].shape == (n,) and digits[f'y_{s}'].dtype == torch.int64


def test_digits_image_shape_and_split_sizes():
    data = load_digits(flatten=False, num_val=100, num_test=200)
    assert data['X_train'].shape == (1497, 1, 8, 8)
    assert data['X_val'].shape == (100, 1, 8, 8) and data['X_test'].shape == (200, 1, 8, 8)
    assert data['X_train'].dtype == torch.float32
    flat = load_digits(num_val=100, num_test=200)
    assert torch.equal(data['X_val'].reshape(100, 64), flat['X_val'])


def test_digits_splits_partition_the_data_set(digits, raw_digits):
    """Every image lands in exactly one split, with its own label."""
    pixels, _, _ = recover_pixels(digits)
    raw_X, raw_y = raw_digits
    rows = Counter((tuple(x), int(y)) for x, y in zip(raw_X, raw_y))
    split_rows = Counter((tuple(x), int(y)) for s in pixels
                         for x, y in zip(pixels[s], digits[f'y_{s}'].tolist()))
    assert split_rows == rows
    # No image shared between splits (duplicates in the raw data aside).
    seen = [set(map(tuple, pixels[s])) for s in pixels]
    shared = (seen[0] & seen[1]) | (seen[0] & seen[2]) | (seen[1] & seen[2])
    duplicated = {x for x, n in Counter(map(tuple, raw_X)).items() if n > 1}
    assert shared <= duplicated


def test_digits_normalized_with_training_statistics(digits):
    """Per-pixel training mean; one std, that of the centered training pixels."""
    pixels, mean, std = recover_pixels(digits)
    train = pixels['train'] / 16
    assert np.allclose(mean, train.mean(axis=0), atol=1e-9)
    assert abs(std - (train - train.mean(axis=0)).std()) < 1e-9
    everything = np.concatenate(list(pixels.values())) / 16
    assert not np.allclose(mean, everything.mean(axis=0), atol=1e-6)  # the check can tell
    assert digits['X_train'].mean(0).abs().max() < 1e-9


@pytest.mark.parametrize('split, n', [('train', 1197), ('val', 300), ('test', 300)])
def test_digits_splits_are_stratified(digits, raw_digits, split, n):
    overall = np.bincount(raw_digits[1], minlength=10) / len(raw_digits[1])
    counts = np.bincount(digits[f'y_{split}'].numpy(), minlength=10)
    assert counts.sum() == n
    assert np.abs(counts - n * overall).max() <= 1.5


def test_digits_seed_fixes_the_split():
    a, b, c = load_digits(seed=3), load_digits(seed=3), load_digits(seed=4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a['y_val'], c['y_val'])


# ---------------------------------------------------------------- CIFAR-10

PER_BATCH, N_TEST = 20, 30


def cifar_batch(n, seed):
    rng = np.random.default_rng(seed)
    return {b'data': rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b'labels': rng.integers(0, 10, n).tolist(),
            b'batch_label': f'batch {seed}'.encode()}


def write_archive(path, batches, drop=()):
    """A tar.gz laid out like cifar-10-python.tar.gz."""
    members = {f'data_batch_{i}': b for i, b in enumerate(batches[:5], 1)}
    members['test_batch'] = batches[5]
    members['batches.meta'] = {b'label_names': [c.encode() for c in 'abcdefghij']}
    with tarfile.open(path, 'w:gz') as tar:
        for name, obj in members.items():
            if name in drop:
                continue
            blob = pickle.dumps(obj)
            info = tarfile.TarInfo(f'cifar-10-batches-py/{name}')
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def cifar(tmp_path):
    """(batches, url, md5, cache dir) of a small archive served from a file:// URL."""
    batches = [cifar_batch(PER_BATCH, seed) for seed in range(5)] + [cifar_batch(N_TEST, 99)]
    source = tmp_path / 'served' / 'cifar.tar.gz'
    source.parent.mkdir()
    md5 = write_archive(source, batches)
    return batches, source, md5, tmp_path / 'cache'


def images(batches):
    X = np.concatenate([b[b'data'] for b in batches]).reshape(-1, 3, 32, 32) / 255.0
    y = np.concatenate([b[b'labels'] for b in batches])
    return X, y


def test_cifar_shapes_subsets_and_normalization(cifar):
    batches, source, md5, root = cifar
    data = load_cifar10(num_train=70, num_val=20, num_test=25, url=source.as_uri(), md5=md5,
                        root=root, dtype=f64)
    X, y = images(batches[:5])
    X_test, y_test = images(batches[5:])
    mean = X[:70].mean(axis=(0, 2, 3), keepdims=True)
    std = X[:70].std(axis=(0, 2, 3), keepdims=True)
    expected = {'train': (X[:70], y[:70]), 'val': (X[70:90], y[70:90]),
                'test': (X_test[:25], y_test[:25])}
    for s, (X_s, y_s) in expected.items():
        assert data[f'X_{s}'].shape == (len(X_s), 3072) and data[f'X_{s}'].dtype == f64
        assert data[f'y_{s}'].dtype == torch.int64
        assert np.array_equal(data[f'y_{s}'].numpy(), y_s)
        assert np.allclose(data[f'X_{s}'].numpy(), ((X_s - mean) / std).reshape(len(X_s), -1), atol=1e-12)
    per_channel = data['X_train'].reshape(70, 3, -1)
    assert per_channel.mean(dim=(0, 2)).abs().max() < 1e-9
    assert (per_channel.std(dim=(0, 2), unbiased=False) - 1).abs().max() < 1e-9


def test_cifar_image_shape(cifar):
    _, source, md5, root = cifar
    data = load_cifar10(num_train=10, num_val=5, num_test=5, flatten=False, url=source.as_uri(),
                        md5=md5, root=root)
    assert data['X_train'].shape == (10, 3, 32, 32) and data['X_train'].dtype == torch.float32
    assert data['X_val'].shape == (5, 3, 32, 32) and data['X_test'].shape == (5, 3, 32, 32)


def test_cifar_is_cached(cifar):
    _, source, md5, root = cifar
    first = load_cifar10(num_train=10, num_val=5, num_test=5, url=source.as_uri(), md5=md5, root=root)
    source.unlink()  # a second download would fail now
    second = load_cifar10(num_train=10, num_val=5, num_test=5, url=source.as_uri(), md5=md5, root=root)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert [p.name for p in root.iterdir()] == ['cifar-10-python.tar.gz']


def test_cifar_corrupt_download_raises_and_caches_nothing(cifar):
    _, source, md5, root = cifar
    source.write_bytes(source.read_bytes()[:-10] + b'0123456789')
    with pytest.raises(RuntimeError, match=r'corrupt or truncated: MD5 [0-9a-f]{32}, expected ' + md5):
        load_cifar10(url=source.as_uri(), md5=md5, root=root)
    assert list(root.iterdir()) == []


def test_cifar_truncated_download_raises_and_caches_nothing(cifar):
    _, source, md5, root = cifar
    source.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(RuntimeError, match='corrupt or truncated'):
        load_cifar10(url=source.as_uri(), md5=md5, root=root)
    assert list(root.iterdir()) == []


def test_cifar_missing_source_raises_and_caches_nothing(cifar):
    _, source, md5, root = cifar
    source.unlink()
    with pytest.raises(OSError):
        load_cifar10(url=source.as_uri(), md5=md5, root=root)
    assert list(root.iterdir()) == []


def test_cifar_corrupt_cache_is_fetched_again(cifar):
    batches, source, md5, root = cifar
    root.mkdir()
    cached = root / 'cifar-10-python.tar.gz'
    cached.write_bytes(b'not an archive')
    data = load_cifar10(num_train=10, num_val=5, num_test=5, url=source.as_uri(), md5=md5, root=root)
    assert hashlib.md5(cached.read_bytes()).hexdigest() == md5
    assert np.array_equal(data['y_train'].numpy(), images(batches[:1])[1][:10])


def test_cifar_archive_without_test_batch_is_a_clear_error(tmp_path):
    batches = [cifar_batch(PER_BATCH, seed) for seed in range(5)] + [cifar_batch(N_TEST, 99)]
    source = tmp_path / 'bad.tar.gz'
    md5 = write_archive(source, batches, drop=('test_batch',))
    with pytest.raises(RuntimeError, match='not a valid CIFAR-10 python archive'):
        load_cifar10(url=source.as_uri(), md5=md5, root=tmp_path / 'cache')


def test_cifar_too_many_images_requested(cifar):
    _, source, md5, root = cifar
    with pytest.raises(ValueError, match=r'asked for 90 \+ 20 training and 5 test images; '
                                         r'the archive has 100 and 30'):
        load_cifar10(num_train=90, num_val=20, num_test=5, url=source.as_uri(), md5=md5, root=root)
