"""Recipe ``image``: colour quantisation (image compression) with K-means.

Every pixel is a point in RGB space (0-255); K-means finds a palette of K
colours and each pixel keeps only the index of its nearest palette colour.

- ``china.jpg`` (427 x 640, ships with scikit-learn: runs without ``--data``),
  clustered with :class:`~anomalykit.MiniBatchKMeans` (273,280 pixels).
- ``bird_small.png`` (128 x 128, the course's example, ``--data PATH/TO/course``),
  clustered with :class:`~anomalykit.KMeans`.

Definitions (also in ``docs/recipes/image.md``):

- bits per pixel: ``ceil(log2 K)`` bits for each pixel's palette index (a
  fixed-length code) plus the palette, ``K x 24`` bits, spread over the pixels:
  ``bpp = ceil(log2 K) + 24 K / n_pixels``. The original has 24 bpp.
- compression ratio: ``24 / bpp``.
- PSNR: ``10 log10(255^2 / MSE)`` in dB, MSE over every pixel and channel on
  the 0-255 scale, the palette rounded to 8-bit integers as it would be stored.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._base import DATA_ENV, RecipeResult, find_data
from ._plots import new_figure, save_png, write_json

__all__ = ["bits_per_pixel", "compression_ratio", "psnr", "quantise", "run"]

#: Palette sizes of the PSNR curve.
KS = (2, 4, 8, 16, 32, 64)
#: The course's example.
K_EXAMPLE = 16
#: Bits of one colour in the original image and in the stored palette.
COLOUR_BITS = 24
#: Lloyd K-means restarts (bird_small; and the full-K-means baselines).
N_INIT = 3
#: Mini-batch size for large images.
BATCH_SIZE = 4096
BIRD_FILE = "bird_small.png"


def bits_per_pixel(k: int, n_pixels: int) -> float:
    """``ceil(log2 k) + 24 k / n_pixels``: index bits plus the palette, amortised.

    Examples
    --------
    >>> bits_per_pixel(16, 128 * 128)
    4.0234375
    """
    if k < 1 or n_pixels < 1:
        raise ValueError(f"k={k} and n_pixels={n_pixels} must both be >= 1.")
    return math.ceil(math.log2(k)) + COLOUR_BITS * k / n_pixels


def compression_ratio(k: int, n_pixels: int) -> float:
    """Original size over compressed size: ``24 / bits_per_pixel(k, n_pixels)``.

    Examples
    --------
    >>> round(compression_ratio(16, 128 * 128), 3)
    5.965
    """
    return COLOUR_BITS / bits_per_pixel(k, n_pixels)


def psnr(original: np.ndarray, compressed: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB on the 0-255 scale; ``inf`` for identical images.

    Examples
    --------
    >>> a = np.zeros((2, 2, 3), dtype=np.uint8)
    >>> round(psnr(a, a + 1), 2)  # MSE = 1
    48.13
    """
    a = np.asarray(original, dtype=np.float64)
    b = np.asarray(compressed, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"The images differ in shape: {a.shape} and {b.shape}.")
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def quantise(
    image: np.ndarray, k: int, *, minibatch: bool, random_state: Any = 0
) -> dict[str, Any]:
    """Fit a K-colour palette to ``image`` (H x W x 3, uint8) and repaint it.

    Returns ``{"image", "palette", "labels", "seconds", "inertia", "n_iter"}``:
    the compressed image (uint8), the palette rounded to uint8, each pixel's
    palette index, the fit time and the K-means inertia of the (unrounded) fit.
    """
    from ..cluster import KMeans, MiniBatchKMeans

    pixels = image.reshape(-1, 3).astype(np.float64)
    if minibatch:
        model = MiniBatchKMeans(k, batch_size=BATCH_SIZE, random_state=random_state)
    else:
        model = KMeans(k, n_init=N_INIT, random_state=random_state)
    _warm_up(model, pixels)
    start = time.perf_counter()
    model.fit(pixels)
    seconds = time.perf_counter() - start
    palette = np.clip(np.rint(model.cluster_centers_), 0, 255).astype(np.uint8)
    labels = np.asarray(model.labels_)
    return {
        "image": palette[labels].reshape(image.shape),
        "palette": palette,
        "labels": labels,
        "seconds": seconds,
        "inertia": float(model.inertia_),
        "n_iter": int(model.n_iter_),
    }


def _warm_up(model: Any, pixels: np.ndarray) -> None:
    """Fit a copy on about 2,000 pixels, untimed: one-off costs (Numba compilation,
    thread-pool start-up) are then not counted as the fit's time."""
    from sklearn.base import clone

    clone(model).fit(pixels[:: max(1, len(pixels) // 2000)])


def compress(
    image: np.ndarray, *, ks: tuple[int, ...] = KS, minibatch: bool, random_state: Any = 0
) -> tuple[list[dict[str, Any]], dict[int, np.ndarray]]:
    """The PSNR curve over ``ks``: one row per K, and the compressed images by K."""
    n_pixels = image.shape[0] * image.shape[1]
    rows, images = [], {}
    for k in ks:
        q = quantise(image, k, minibatch=minibatch, random_state=random_state)
        images[k] = q["image"]
        rows.append(
            {
                "k": k,
                "psnr_db": psnr(image, q["image"]),
                "bits_per_pixel": bits_per_pixel(k, n_pixels),
                "compression_ratio": compression_ratio(k, n_pixels),
                "inertia": q["inertia"],
                "seconds": q["seconds"],
                "n_iter": q["n_iter"],
            }
        )
    return rows, images


def compare_with_sklearn(
    image: np.ndarray, k: int, *, minibatch: bool, random_state: int = 0
) -> list[dict[str, Any]]:
    """Ours and scikit-learn's K-means on the same pixels, same K: inertia, PSNR, time.

    Rows: the clusterer the recipe uses; for mini-batch images also our full
    (Lloyd) KMeans; then scikit-learn's ``KMeans`` (Lloyd, ``n_init=N_INIT``,
    same seed). Inertia is recomputed here for all, from each fit's own
    unrounded centres, so the numbers are comparable. Each model is fitted
    once on a small subsample first, untimed (compilation, thread start-up).
    """
    from sklearn.cluster import KMeans as SkKMeans

    from ..cluster import KMeans, MiniBatchKMeans

    pixels = image.reshape(-1, 3).astype(np.float64)
    models = []
    if minibatch:
        models.append(
            ("anomalykit MiniBatchKMeans", MiniBatchKMeans(k, batch_size=BATCH_SIZE,
                                                           random_state=random_state))
        )  # fmt: skip
    models.append(("anomalykit KMeans", KMeans(k, n_init=N_INIT, random_state=random_state)))
    models.append(("scikit-learn KMeans", SkKMeans(k, n_init=N_INIT, random_state=random_state)))
    rows = []
    for name, model in models:
        _warm_up(model, pixels)
        start = time.perf_counter()
        model.fit(pixels)
        seconds = time.perf_counter() - start
        centres = np.asarray(model.cluster_centers_, dtype=np.float64)
        labels = np.asarray(model.labels_)
        inertia = float(np.sum((pixels - centres[labels]) ** 2))
        palette = np.clip(np.rint(centres), 0, 255).astype(np.uint8)
        rows.append(
            {
                "model": name,
                "k": k,
                "inertia": inertia,
                "psnr_db": psnr(image, palette[labels].reshape(image.shape)),
                "seconds": seconds,
            }
        )
    return rows


def run(data: str | Path | None, out: Path, *, random_state: Any = 0) -> RecipeResult:
    """Compress china.jpg (always) and bird_small.png (with ``--data``); write into ``out``."""
    from sklearn.datasets import load_sample_image

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed = random_state if isinstance(random_state, int) else 0
    images: dict[str, tuple[np.ndarray, bool]] = {}
    folder = _bird_folder(data)
    if folder is not None:
        images["bird_small"] = (_read_png(folder / BIRD_FILE), False)
    images["china"] = (np.asarray(load_sample_image("china.jpg"), dtype=np.uint8), True)

    summary: dict[str, Any] = {
        "recipe": "image",
        "ks": list(KS),
        "k_example": K_EXAMPLE,
        "definitions": {
            "bits_per_pixel": "ceil(log2 K) + 24 K / n_pixels (palette indices + 24-bit palette)",
            "compression_ratio": "24 / bits_per_pixel",
            "psnr_db": "10 log10(255^2 / MSE), MSE over pixels and channels, 0-255 scale, "
            "palette rounded to uint8",
        },
        "images": {},
    }
    if folder is None:
        summary["skipped"] = {
            "bird_small": f"no --data given and ${DATA_ENV} is not set; pass --data PATH/TO/course"
        }
    files: dict[str, Path] = {}
    curves: dict[str, list[dict[str, Any]]] = {}
    lines = [
        "image: colour quantisation with K-means (palette of K colours, 8-bit each)",
        "  bpp = ceil(log2 K) + 24 K / n_pixels; ratio = 24 / bpp; PSNR on 0-255",
        "",
    ]
    for name, (image, minibatch) in images.items():
        rows, compressed = compress(image, ks=KS, minibatch=minibatch, random_state=random_state)
        curves[name] = rows
        comparison = compare_with_sklearn(image, K_EXAMPLE, minibatch=minibatch, random_state=seed)
        files[f"{name}_curve"] = _write_rows(out / f"{name}_psnr.csv", rows)
        files[f"{name}_comparison"] = _write_rows(out / f"{name}_vs_sklearn.csv", comparison)
        files[f"{name}_k{K_EXAMPLE}"] = _write_image(
            out / f"{name}_k{K_EXAMPLE}.png", compressed[K_EXAMPLE]
        )
        example = next(r for r in rows if r["k"] == K_EXAMPLE)
        files[f"{name}_side_by_side"] = _side_by_side(
            out / f"{name}_side_by_side.png", image, compressed[K_EXAMPLE], example
        )
        clusterer = "MiniBatchKMeans" if minibatch else f"KMeans (n_init={N_INIT})"
        summary["images"][name] = {
            "shape": list(image.shape),
            "n_pixels": int(image.shape[0] * image.shape[1]),
            "n_colours": int(np.unique(image.reshape(-1, 3), axis=0).shape[0]),
            "clusterer": clusterer,
            "curve": rows,
            "vs_sklearn": comparison,
        }
        lines += _image_lines(name, image, clusterer, rows, comparison)
    files["psnr_curve"] = _curve_figure(out / "psnr_vs_k.png", curves)
    summary["files"] = {name: str(path.relative_to(out)) for name, path in files.items()}
    if folder is None:
        lines.append(
            f"bird_small: skipped (pass --data PATH/TO/course, the folder with {BIRD_FILE})"
        )
    files["summary"] = write_json(out / "summary.json", summary)
    return RecipeResult("image", summary, lines, files)


def _bird_folder(data: str | Path | None) -> Path | None:
    import os

    if data is None and not os.environ.get(DATA_ENV):
        return None
    return find_data("course", data, must_contain=BIRD_FILE)


def _read_png(path: Path) -> np.ndarray:
    """An 8-bit RGB(A) PNG as H x W x 3 uint8 (alpha dropped)."""
    from matplotlib.image import imread

    img = imread(path)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"{path} is not an RGB image (shape {img.shape}).")
    img = img[..., :3]
    if img.dtype != np.uint8:  # matplotlib reads PNG as floats in [0, 1]
        img = np.rint(np.asarray(img, dtype=np.float64) * 255)
    return img.astype(np.uint8)


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    return path


def _write_image(path: Path, image: np.ndarray) -> Path:
    from matplotlib.image import imsave

    imsave(path, image, format="png", metadata={"Software": None})
    return path


def _side_by_side(path: Path, original: np.ndarray, compressed: np.ndarray, row: dict) -> Path:
    height, width = original.shape[:2]
    fig = new_figure(int(300 * height / width) + 45)
    left, right = fig.subplots(1, 2)
    left.imshow(original, interpolation="nearest")
    left.set_title(f"original: 24 bpp, {width} x {height}", fontsize=9)
    right.imshow(compressed, interpolation="nearest")
    right.set_title(
        f"K={row['k']}: {row['bits_per_pixel']:.2f} bpp, {row['compression_ratio']:.2f}x, "
        f"PSNR {row['psnr_db']:.1f} dB",
        fontsize=9,
    )
    for ax in (left, right):
        ax.set_axis_off()
    return save_png(fig, path)


def _curve_figure(path: Path, curves: dict[str, list[dict[str, Any]]]) -> Path:
    fig = new_figure(300)
    ax = fig.add_subplot()
    for name, rows in curves.items():
        ks = [r["k"] for r in rows]
        ax.plot(ks, [r["psnr_db"] for r in rows], marker="o", label=name)
    ax.set_xscale("log", base=2)
    bits = [math.ceil(math.log2(k)) for k in KS]
    ax.set_xticks(list(KS), [f"{k}\n{b} bit{'s' * (b > 1)}" for k, b in zip(KS, bits, strict=True)])
    ax.set_xlabel("K (palette colours) and index bits per pixel", fontsize=9)
    ax.set_ylabel("PSNR (dB)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    ax.set_title("Quality against palette size", fontsize=10)
    return save_png(fig, path)


def _image_lines(
    name: str,
    image: np.ndarray,
    clusterer: str,
    rows: list[dict[str, Any]],
    comparison: list[dict[str, Any]],
) -> list[str]:
    h, w = image.shape[:2]
    lines = [
        f"{name} ({w} x {h} = {h * w:,} pixels, {clusterer})",
        "     K    bpp  ratio  PSNR dB  fit s",
    ]
    for r in rows:
        lines.append(
            f"  {r['k']:>4}  {r['bits_per_pixel']:5.3f}  {r['compression_ratio']:5.2f}  "
            f"{r['psnr_db']:7.2f}  {r['seconds']:5.2f}"
        )
    lines.append(f"  K={K_EXAMPLE} on the same pixels:")
    for c in comparison:
        lines.append(
            f"    {c['model']:<28} inertia {c['inertia']:.4e}  PSNR {c['psnr_db']:6.2f} dB  "
            f"{c['seconds']:5.2f} s"
        )
    lines.append("")
    return lines
