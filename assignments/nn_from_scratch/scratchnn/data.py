"""Data sets in the shapes the nets expect.

- `load_digits`: scikit-learn's handwritten digits (1797 images, 8x8
  grayscale, 10 classes). It ships inside scikit-learn, so it needs no
  download: the default for the notebooks, the tests and the autograder.
- `load_cifar10`: CIFAR-10 (32x32 color, 10 classes), downloaded once from
  the official python archive, verified by checksum and cached.

Both return a dict with X_train, y_train, X_val, y_val, X_test, y_test:
X float (N, D) when flatten else (N, C, H, W), y int64 (N,).
"""
import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
import torch

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_CLASSES = ('plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')


def default_data_dir():
    """Where downloads are cached: $SCRATCHNN_DATA, else ~/.cache/scratchnn."""
    return Path(os.environ.get('SCRATCHNN_DATA', Path.home() / '.cache' / 'scratchnn'))


def _as_tensors(splits, flatten, image_shape, device, dtype):
    out = {}
    for name, (X, y) in splits.items():
        X = X.reshape(len(X), -1) if flatten else X.reshape(len(X), *image_shape)
        out[f'X_{name}'] = torch.as_tensor(np.ascontiguousarray(X)).to(device=device, dtype=dtype)
        out[f'y_{name}'] = torch.as_tensor(np.asarray(y, dtype=np.int64)).to(device=device)
    return out


def load_digits(flatten=True, num_val=300, num_test=300, seed=0, device='cpu',
                dtype=torch.float32):
    """The digits data set as stratified, seeded train/val/test splits.

    Inputs:
    - flatten: X of shape (N, 64) if True, else (N, 1, 8, 8)
    - num_val, num_test: sizes of the validation and test splits; the rest
      (1797 - num_val - num_test) is for training
    - seed: fixes the split
    - device, dtype: of the returned X (y is always int64)

    Pixels are scaled to [0, 1], centered by the per-pixel training mean and
    divided by one number, the standard deviation of the centered training
    pixels (so the training data has unit spread). No statistic comes from
    the validation or test images.
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    digits = sklearn_digits()
    X, y = digits.images.astype(np.float64) / 16.0, digits.target
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=num_test, stratify=y, random_state=seed)
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=num_val, stratify=y_rest, random_state=seed)
    mean = X_train.mean(axis=0)
    std = (X_train - mean).std()
    splits = {name: ((X_ - mean) / std, y_) for name, X_, y_ in
              (('train', X_train, y_train), ('val', X_val, y_val), ('test', X_test, y_test))}
    return _as_tensors(splits, flatten, (1, 8, 8), device, dtype)


def _md5(path):
    digest = hashlib.md5()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def download_cifar10(root=None, url=CIFAR10_URL, md5=CIFAR10_MD5):
    """The path of the CIFAR-10 python archive, downloaded into root once.

    The download goes to a temporary file and is moved into the cache only
    after its MD5 matches, so a corrupt or truncated download raises an
    error and leaves nothing behind. A cached archive is checked again.
    """
    root = Path(root) if root is not None else default_data_dir()
    root.mkdir(parents=True, exist_ok=True)
    archive = root / 'cifar-10-python.tar.gz'
    if archive.exists():
        if _md5(archive) == md5:
            return archive
        archive.unlink()  # a corrupt cache would fail forever; fetch it again
    fd, tmp = tempfile.mkstemp(dir=root, suffix='.part')
    try:
        with os.fdopen(fd, 'wb') as f, urllib.request.urlopen(url) as response:
            shutil.copyfileobj(response, f)
        got = _md5(tmp)
        if got != md5:
            raise RuntimeError(
                f"CIFAR-10 download from {url} is corrupt or truncated: MD5 {got}, "
                f"expected {md5}. Nothing was cached; try again.")
        os.replace(tmp, archive)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return archive


def _read_batches(archive, names):
    """Images (N, 3, 32, 32) uint8 and labels (N,) of the named pickled batches,
    read straight from the tar archive (nothing is extracted to disk)."""
    images, labels = [], []
    try:
        with tarfile.open(archive, 'r:gz') as tar:
            for name in names:
                member = tar.extractfile(f'cifar-10-batches-py/{name}')
                if member is None:
                    raise KeyError(name)
                batch = pickle.load(member, encoding='bytes')
                images.append(np.asarray(batch[b'data'], dtype=np.uint8).reshape(-1, 3, 32, 32))
                labels.append(np.asarray(batch[b'labels'], dtype=np.int64))
    except (tarfile.TarError, KeyError, EOFError, pickle.UnpicklingError) as e:
        raise RuntimeError(f"{archive} is not a valid CIFAR-10 python archive: {e!r}") from e
    return np.concatenate(images), np.concatenate(labels)


def load_cifar10(num_train=49000, num_val=1000, num_test=10000, flatten=True, root=None,
                 url=CIFAR10_URL, md5=CIFAR10_MD5, device='cpu', dtype=torch.float32):
    """A subset of CIFAR-10, downloaded and cached on first use.

    Inputs:
    - num_train, num_val: the first num_train training images, and the
      num_val after them (num_train + num_val <= 50000)
    - num_test: the first num_test test images (<= 10000)
    - flatten: X of shape (N, 3072) if True, else (N, 3, 32, 32)
    - root, url, md5: where to cache, and what to download and expect
    - device, dtype: of the returned X

    Pixels are scaled to [0, 1] and normalized per channel with the mean and
    standard deviation of the training subset.
    """
    archive = download_cifar10(root, url, md5)
    X, y = _read_batches(archive, [f'data_batch_{i}' for i in range(1, 6)])
    X_test, y_test = _read_batches(archive, ['test_batch'])
    if num_train + num_val > len(X) or num_test > len(X_test):
        raise ValueError(f"asked for {num_train} + {num_val} training and {num_test} test "
                         f"images; the archive has {len(X)} and {len(X_test)}")
    X, X_test = X.astype(np.float64) / 255.0, X_test.astype(np.float64) / 255.0
    X_train, y_train = X[:num_train], y[:num_train]
    X_val, y_val = X[num_train:num_train + num_val], y[num_train:num_train + num_val]
    X_test, y_test = X_test[:num_test], y_test[:num_test]
    mean = X_train.mean(axis=(0, 2, 3), keepdims=True)
    std = X_train.std(axis=(0, 2, 3), keepdims=True)
    splits = {name: ((X_ - mean) / std, y_) for name, X_, y_ in
              (('train', X_train, y_train), ('val', X_val, y_val), ('test', X_test, y_test))}
    return _as_tensors(splits, flatten, (3, 32, 32), device, dtype)
