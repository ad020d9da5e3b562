"""Loaders for the bundled data sets."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["BUILTIN", "Dataset", "load_builtin", "load_cardio", "load_wholesale"]


@dataclass(frozen=True, repr=False)
class Dataset:
    """A labelled table: ``X`` (n, d), ``y`` (n,) and its names.

    For anomaly data sets ``y`` is 1 = anomaly; for clustering data sets it is
    an external label to check clusters against (``description`` says which).
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    description: str

    def __repr__(self) -> str:
        n, d = self.X.shape
        return (
            f"Dataset({self.name!r}, n_samples={n}, n_features={d}, n_positive={int(self.y.sum())})"
        )


def load_cardio() -> Dataset:
    """Foetal cardiotocography exams, pathologic ones labelled as anomalies.

    1831 exams x 21 standardised features; 176 anomalies (9.6%). From the ODDS
    library (BSD-2 via PyOD; UCI Cardiotocography). Provenance in the package's
    ``datasets/SOURCES.md``.

    Examples
    --------
    >>> from anomalykit.datasets import load_cardio
    >>> data = load_cardio()
    >>> data.X.shape, int(data.y.sum()), data.feature_names[:3]
    ((1831, 21), 176, ['LB', 'AC', 'FM'])
    """
    path = resources.files("anomalykit.datasets") / "data" / "cardio.npz"
    with path.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
        return Dataset(
            name="cardio",
            X=npz["X"].astype(np.float64),
            y=npz["y"].astype(np.int8),
            feature_names=[str(n) for n in npz["feature_names"]],
            description=(
                "ODDS cardio: foetal cardiotocography, pathologic = anomaly "
                "(Rayana 2016, ODDS; UCI Cardiotocography)"
            ),
        )


def load_wholesale() -> Dataset:
    """Annual spending of 440 clients of a Portuguese wholesale distributor.

    Six spending categories (monetary units; skewed: cluster them on a log
    scale); ``y`` = 1 for the Retail channel (142 clients), 0 for Horeca
    (hotels, restaurants, cafés), the usual external check of a K = 2
    clustering. UCI "Wholesale customers" (Cardoso, 2014), CC BY 4.0;
    provenance in the package's ``datasets/SOURCES.md``.

    Examples
    --------
    >>> from anomalykit.datasets import load_wholesale
    >>> data = load_wholesale()
    >>> data.X.shape, int(data.y.sum()), data.feature_names[:3]
    ((440, 6), 142, ['Fresh', 'Milk', 'Grocery'])
    """
    path = resources.files("anomalykit.datasets") / "data" / "wholesale_customers.csv"
    with path.open("rb") as fh:
        header = fh.readline().decode("ascii").strip().split(",")
        table = np.loadtxt(fh, delimiter=",", dtype=np.float64)
    channel = table[:, header.index("Channel")]
    spend = [j for j, name in enumerate(header) if name not in ("Channel", "Region")]
    return Dataset(
        name="wholesale",
        X=table[:, spend],
        y=(channel == 2).astype(np.int8),
        feature_names=[header[j] for j in spend],
        description=(
            "UCI Wholesale customers: annual spend in six categories; y = 1 for the Retail "
            "channel, 0 for Horeca (Cardoso 2014, CC BY 4.0)"
        ),
    )


#: Labelled anomaly data sets, by name (for ``--builtin``); wholesale is a clustering set.
BUILTIN = {"cardio": load_cardio}


def load_builtin(name: str) -> Dataset:
    """Load a bundled data set by name (one of ``BUILTIN``)."""
    try:
        return BUILTIN[name]()
    except KeyError:
        raise ValueError(
            f"No built-in data set named {name!r}; choose one of {sorted(BUILTIN)}."
        ) from None
