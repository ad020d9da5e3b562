"""Recipe ``image``: the compression arithmetic, china.jpg end to end, bird_small with data."""

import math

import numpy as np
import pytest

from anomalykit.recipes import _image
from anomalykit.recipes._base import DATA_ENV
from anomalykit.recipes._image import bits_per_pixel, compression_ratio, psnr


@pytest.mark.parametrize(
    ("k", "n", "bpp"),
    [(16, 128 * 128, 4 + 16 * 24 / 16384), (2, 100, 1 + 0.48), (3, 1000, 2 + 0.072), (1, 10, 2.4)],
)
def test_bits_per_pixel_counts_index_bits_and_the_palette(k, n, bpp):
    assert bits_per_pixel(k, n) == pytest.approx(bpp)
    assert compression_ratio(k, n) == pytest.approx(24 / bpp)


def test_psnr_on_hand_made_images():
    a = np.zeros((4, 4, 3), dtype=np.uint8)
    b = a.copy()
    b[0, 0, 0] = 48  # squared error 48^2 over 48 values: MSE = 48
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 48))
    assert psnr(a, a) == math.inf
    assert psnr(np.full((1, 1, 3), 255, np.uint8), a[:1, :1]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(a, a[:2])


@pytest.fixture(scope="module")
def china(tmp_path_factory):
    """The recipe without data (china.jpg only), on a shorter K sweep."""
    out = tmp_path_factory.mktemp("image")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(DATA_ENV, raising=False)
        mp.setattr(_image, "KS", (2, 4, 16))
        mp.setattr(_image, "N_INIT", 1)  # the full-K-means baselines: one run each
        return _image.run(None, out, random_state=0), out


def test_china_psnr_grows_with_k_and_bpp_follows_the_formula(china):
    result, _ = china
    info = result.summary["images"]["china"]
    assert info["shape"] == [427, 640, 3] and info["clusterer"] == "MiniBatchKMeans"
    curve = info["curve"]
    assert [r["k"] for r in curve] == [2, 4, 16]
    values = [r["psnr_db"] for r in curve]
    assert values == sorted(values) and values[0] + 5 < values[-1]
    # docs/recipes/image.md: K = 16 gives over 26 dB on china.jpg.
    assert values[-1] > 26
    for r in curve:
        assert r["bits_per_pixel"] == pytest.approx(math.log2(r["k"]) + 24 * r["k"] / 273280)
        assert r["compression_ratio"] == pytest.approx(24 / r["bits_per_pixel"])
    assert "bird_small" in result.summary["skipped"]


def test_china_minibatch_and_ours_are_close_to_sklearn(china):
    result, _ = china
    rows = {r["model"]: r for r in result.summary["images"]["china"]["vs_sklearn"]}
    assert set(rows) == {"anomalykit MiniBatchKMeans", "anomalykit KMeans", "scikit-learn KMeans"}
    # One run each here (N_INIT=1): different local optima, so a loose band.
    sk = rows["scikit-learn KMeans"]["inertia"]
    assert rows["anomalykit KMeans"]["inertia"] < 1.10 * sk
    assert rows["anomalykit MiniBatchKMeans"]["inertia"] < 1.10 * sk
    # PSNR and inertia describe one error: MSE = inertia / (3 n_pixels), up to
    # the rounding of the palette to 8 bits.
    n = 427 * 640
    for r in rows.values():
        assert r["psnr_db"] == pytest.approx(
            10 * math.log10(255**2 * 3 * n / r["inertia"]), abs=0.1
        )


def test_china_compressed_image_has_at_most_k_colours(china):
    from matplotlib.image import imread

    _, out = china
    img = imread(out / "china_k16.png")[..., :3]
    assert img.shape == (427, 640, 3)
    assert np.unique(img.reshape(-1, 3), axis=0).shape[0] <= 16
    for name in ("china_side_by_side.png", "psnr_vs_k.png", "summary.json", "china_psnr.csv"):
        assert (out / name).stat().st_size > 0


def test_bird_small_png_reads_as_the_course_pixels_and_compresses(shared_data):
    from scipy.io import loadmat

    folder = shared_data("course")
    bird = _image._read_png(folder / "bird_small.png")
    assert np.array_equal(bird, loadmat(folder / "bird_small.mat")["A"])
    rows, images = _image.compress(bird, ks=(4, 16), minibatch=False, random_state=0)
    assert rows[0]["psnr_db"] < rows[1]["psnr_db"]
    # docs/recipes/image.md: K = 16 gives over 25 dB on bird_small (4.02 bpp, 5.97x).
    assert rows[1]["psnr_db"] > 25
    assert rows[1]["compression_ratio"] == pytest.approx(24 / (4 + 384 / 16384))
    assert np.unique(images[16].reshape(-1, 3), axis=0).shape[0] <= 16
