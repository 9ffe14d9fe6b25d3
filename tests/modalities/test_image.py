"""Image input: reading, resizing, data checks, the CNN, augmentation, attacks, and decoding served images."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from shipyard.errors import DataError, InputError
from shipyard.modalities.image.augment import ImageDataset, cutmix, mixup
from shipyard.modalities.image.checks import image_profile
from shipyard.modalities.image.reading import read_folder, read_images, read_npz
from shipyard.recipe import ImageAugmentSpec
from shipyard.tasks import get_task


def test_npz_arrays_by_name(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((4, 5, 6), dtype=np.uint8), y=np.arange(4))
    found = read_npz(path, None, "y")
    assert found.images.shape == (4, 5, 6, 1) and found.labels.tolist() == [0, 1, 2, 3] and found.names[2] == "X[2]"
    with pytest.raises(DataError, match="no labels array 'label' \\(data.target\\); arrays are: X, y"):
        read_npz(path, None, "label")
    np.savez(path, images=np.zeros((4, 5, 6, 7)), labels=np.arange(4))
    with pytest.raises(DataError, match="the last axis has 7 channels"):
        read_npz(path, None, "labels")
    np.savez(path, X=np.array([{"a": 1}] * 2, dtype=object), y=np.arange(2))
    with pytest.raises(DataError, match="cannot read the arrays"):  # no pickled objects
        read_npz(path, None, "y")


def test_the_shared_semeion_set_reads_as_16x16_binary_digits():
    from tests.conftest import shared_file

    found = read_npz(shared_file("semeion_handwritten_digits.npz"), "images", "labels")
    assert found.images.shape == (1593, 16, 16, 1) and set(np.unique(found.images)) == {0, 1}
    assert np.bincount(found.labels).tolist() == [161, 162, 159, 159, 161, 159, 161, 158, 155, 158]


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_folder_of_class_folders(tmp_path):
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(2):
            (tmp_path / label / f"{i}.png").write_bytes(_png(np.full((6, 5), 40 * i, dtype=np.uint8)))
    found = read_folder(tmp_path)
    assert found.images.shape == (4, 6, 5, 1) and found.labels.tolist() == ["cat", "cat", "dog", "dog"] and found.max_value == 255
    (tmp_path / "dog" / "big.png").write_bytes(_png(np.zeros((9, 9), dtype=np.uint8)))
    with pytest.raises(DataError, match="images differ in size.*data.images.size"):
        read_folder(tmp_path)


def test_digits_are_read_with_their_0_to_16_range():
    found = read_images("sklearn:digits", None, None, "target")
    assert found.images.shape == (1797, 8, 8, 1) and found.max_value == 16 and found.images.max() == 16


def test_area_resizing_averages_blocks():
    from shipyard.modalities.image.modality import resize

    blocks = np.kron(np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2), np.ones((4, 4), dtype=np.float32))  # 8x8 of 4x4 blocks
    assert np.allclose(resize(blocks, [2, 2]), np.arange(4).reshape(1, 1, 2, 2))


def test_the_profile_finds_duplicates_constant_images_and_values_beyond_the_range():
    pixels = np.random.default_rng(0).random((6, 1, 4, 4)).astype(np.float32)
    pixels[1] = pixels[0]
    pixels[5] = 0.5
    y = np.array([0, 1, 0, 1, 0, 1])
    parts = {"train": np.arange(4), "validation": np.array([4]), "test": np.array([5])}
    profile = image_profile(pixels, (0.0, 20.0), 16.0, y, parts, "digit", get_task("classification"), [0, 1], None, (4, 4, 1), False)
    codes = {f["code"]: f["severity"] for f in profile["findings"]}
    assert codes["duplicate_images"] == "warning" and codes["conflicting_labels"] == "warning"
    assert codes["constant_images"] == "warning" and codes["pixel_range"] == "error"
    assert profile["images"]["shape"] == [1, 4, 4] and len(profile["images"]["train_mean"]) == 1


def test_the_cnn_normalises_inside_and_keeps_frozen_blocks_fixed():
    from shipyard.models.cnn import CNN

    net = CNN(1, 3, [4, 8], freeze_blocks=1)
    net.set_normalisation(np.array([0.5]), np.array([0.25]))
    x = torch.rand(5, 1, 8, 8)
    assert torch.allclose(net.features(x), CNN.features(net, x))
    net.train()
    assert not net.blocks[0].training and net.blocks[1].training  # frozen batch norm keeps its statistics
    before = {k: v.clone() for k, v in net.blocks[0].state_dict().items()}
    net(torch.rand(6, 1, 8, 8)).sum().backward()
    assert all(p.grad is None for p in net.blocks[0].parameters())
    assert all(torch.equal(before[k], v) for k, v in net.blocks[0].state_dict().items())
    other = CNN(1, 3, [4, 16])
    with pytest.raises(ValueError, match="blocks.1.0.weight: shape"):
        net.load_blocks(other.state_dict())
    copied = net.load_blocks(CNN(1, 10, [4, 8]).state_dict())
    assert copied and all(name.startswith("blocks.") for name in copied)


def test_mixup_and_cutmix_give_class_probabilities():
    torch.manual_seed(0)
    x, y = torch.rand(8, 1, 8, 8), torch.nn.functional.one_hot(torch.arange(8) % 4, 4).float()
    for mix in (mixup, cutmix):
        mixed, soft = mix(x, y, 0.4)
        assert mixed.shape == x.shape and torch.allclose(soft.sum(1), torch.ones(8)) and (soft >= 0).all()


def test_augmented_batches_stay_in_the_pixel_range_and_replay_with_the_seed():
    spec = ImageAugmentSpec(rotation=20, translate=0.2, scale=[0.8, 1.2], noise_std=0.1, p=1.0, mixup_alpha=0.2)
    data = ImageDataset(np.random.default_rng(0).random((16, 1, 8, 8)), np.arange(16) % 3, spec, 3)
    torch.manual_seed(1)
    x, y = data.__getitems__(list(range(16)))
    assert x.shape == (16, 1, 8, 8) and 0 <= float(x.min()) and float(x.max()) <= 1 and y.shape == (16, 3)
    torch.manual_seed(1)
    assert torch.equal(data.__getitems__(list(range(16)))[0], x)  # torch's generator drives it: resumable


def test_fgsm_and_pgd_stay_in_the_budget_and_the_pixel_range():
    from shipyard.modalities.image.attacks import fgsm, pgd

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    x, y = torch.rand(10, 1, 4, 4), torch.randint(0, 3, (10,))
    loss = lambda z: float(torch.nn.functional.cross_entropy(net(z), y).detach())  # noqa: E731
    for adv in (fgsm(net, x, y, 0.1), pgd(net, x, y, 0.1, steps=10)):
        assert float((adv - x).abs().max()) <= 0.1 + 1e-6 and 0 <= float(adv.min()) and float(adv.max()) <= 1
        assert loss(adv) > loss(x)
    assert loss(pgd(net, x, y, 0.1, steps=20, random_start=False)) >= loss(fgsm(net, x, y, 0.1)) - 1e-6
    assert torch.equal(fgsm(net, x, y, 0.0), x)


@pytest.fixture
def decoder():
    """An ImagePredictor's decoding, without a bundle (8x8 grayscale, raw values 0..16)."""
    from shipyard.modalities.predictors import ImagePredictor

    predictor = object.__new__(ImagePredictor)
    predictor.channels, predictor.height, predictor.width, predictor.max_value = 1, 8, 8, 16.0
    return predictor


def test_served_images_decode_from_png_and_nested_arrays(decoder):
    raw = np.arange(64).reshape(8, 8) % 17
    from_arrays = decoder.decode(raw.tolist(), "record 0")
    assert from_arrays.shape == (1, 8, 8) and np.allclose(from_arrays[0], raw / 16)
    png = base64.b64encode(_png((raw / 16 * 255).round().astype(np.uint8))).decode()
    assert np.allclose(decoder.decode(png, "record 0"), from_arrays, atol=1 / 255)
    assert np.allclose(decoder.decode("data:image/png;base64," + png, "record 0"), from_arrays, atol=1 / 255)


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG header announcing width x height grey pixels and no pixel data (Pillow's open reads only the header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")


def _damaged_png() -> bytes:
    """An 8x8 PNG with one byte of its compressed pixel data flipped."""
    raw = bytearray(_png((np.arange(64) * 4).reshape(8, 8).astype(np.uint8)))
    raw[raw.index(b"IDAT") + 8] ^= 0xFF
    return bytes(raw)


def _tiff(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="TIFF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "value, message",
    [
        ([[1, 2], [3, 4]], "image of shape (2, 2); the model takes 8x8 with 1 channel(s)"),
        ((np.ones((8, 8)) * 17).tolist(), "pixel values must be finite and in [0, 16]"),
        ("not base64!", "the image string is not base64"),
        (base64.b64encode(b"not an image").decode(), "the image bytes are not a PNG or other image file"),
        (base64.b64encode(_png(np.zeros((4, 4), dtype=np.uint8))).decode(), "image of 4x4 pixels; the model takes 8x8"),
        (7, "an image is a base64 PNG string or nested arrays"),
        # found by a new user's trial: each was a 500 or a confident prediction from impossible pixels
        ([[10**400] * 8] * 8, "pixel values must be finite and in [0, 16]"),
        (base64.b64encode(_bomb_png(20000, 20000)).decode(), "the image is far larger than the model's 8x8"),
        (base64.b64encode(_damaged_png()).decode(), "the image's pixel data cannot be decoded"),
        (base64.b64encode(_tiff(np.full((8, 8), 10**7, dtype=np.int32))).decode(), "image of mode I; the model reads 8-bit or 16-bit images"),
        ([["1.5"] * 8] * 8, "must hold numbers of one shape, not text or booleans"),
        ([[True] * 8] * 8, "must hold numbers of one shape, not text or booleans"),
    ],
)
def test_bad_images_are_named(decoder, value, message):
    with pytest.raises(InputError) as err:
        decoder.decode(value, "request: record 3")
    assert message in str(err.value) and "record 3" in str(err.value)


def test_line_wrapped_unpadded_and_url_safe_base64_decode_as_the_image(decoder):
    """`base64 file.png` wraps lines at 76 characters, Python's encodebytes too; some clients drop padding or use the URL-safe alphabet."""
    pixels = (np.arange(64) * 4).reshape(8, 8).astype(np.uint8)
    png = _png(pixels)
    expected = decoder.decode(base64.b64encode(png).decode(), "record 0")
    for variant in (base64.encodebytes(png).decode(), base64.urlsafe_b64encode(png).decode().rstrip("=")):
        assert np.array_equal(decoder.decode(variant, "record 0"), expected)
