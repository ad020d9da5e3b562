"""Recency, frequency and monetary value (RFM) per customer from a purchase log.

Plain NumPy, no pandas: the log is one record per line (customer, day, amount).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["RFM", "RFM_DEFINITIONS", "read_cdnow", "rfm", "yyyymmdd_to_date"]

#: What each column means; written into the recipe's summary and docs.
RFM_DEFINITIONS = {
    "recency_days": (
        "days from the customer's last purchase to the end of the log (its last date, "
        "inclusive): 0 = bought on the last day"
    ),
    "frequency": (
        "number of purchases = distinct days with at least one record (several records of "
        "one customer on one day are one purchase)"
    ),
    "monetary": "total spend: the sum of dollar_value over all the customer's records (USD)",
}


@dataclass(frozen=True)
class RFM:
    """Per-customer RFM features.

    Attributes
    ----------
    customer_id : ndarray of int of shape (n_customers,)
        Sorted ascending; rows of the other arrays follow it.
    recency_days, frequency : ndarray of int of shape (n_customers,)
    monetary : ndarray of float of shape (n_customers,)
    end : numpy.datetime64
        The day recency is measured to.
    n_records : int
        Records read (lines of the log).
    """

    customer_id: np.ndarray
    recency_days: np.ndarray
    frequency: np.ndarray
    monetary: np.ndarray
    end: np.datetime64
    n_records: int

    names = ("recency_days", "frequency", "monetary")

    @property
    def X(self) -> np.ndarray:
        """The three features as columns, float64, in ``names`` order."""
        return np.column_stack([self.recency_days, self.frequency, self.monetary]).astype(
            np.float64
        )


def yyyymmdd_to_date(values: ArrayLike) -> np.ndarray:
    """Integers such as 19970101 -> ``datetime64[D]``; impossible dates are an error.

    Examples
    --------
    >>> yyyymmdd_to_date([19970101, 19980630]).tolist()
    [datetime.date(1997, 1, 1), datetime.date(1998, 6, 30)]
    """
    v = np.asarray(values, dtype=np.int64)
    year, month, day = v // 10000, v // 100 % 100, v % 100
    months = (year - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (month - 1)
    dates = months.astype("datetime64[D]") + (day - 1)
    # 19970231 would roll over into March: a date that does not read back is invalid.
    back = (dates.astype("datetime64[M]") - dates.astype("datetime64[Y]")).astype(int) + 1
    bad = (month < 1) | (month > 12) | (day < 1) | (back != month)
    if bad.any():
        raise ValueError(f"{int(v[bad][0])} is not a valid YYYYMMDD date.")
    return dates


def rfm(
    customer_id: ArrayLike,
    date: ArrayLike,
    amount: ArrayLike,
    *,
    end: np.datetime64 | None = None,
) -> RFM:
    """RFM features per customer (definitions in :data:`RFM_DEFINITIONS`).

    Parameters
    ----------
    customer_id : array-like of int of shape (n_records,)
    date : array-like of datetime64[D] of shape (n_records,)
    amount : array-like of float of shape (n_records,)
    end : datetime64, default=None
        The end of the log; its last date by default. Must not precede any record.

    Examples
    --------
    >>> import numpy as np
    >>> d = np.array(["1997-01-01", "1997-01-01", "1997-01-05", "1997-01-03"], "datetime64[D]")
    >>> r = rfm([7, 7, 7, 9], d, [10.0, 5.0, 2.5, 4.0])
    >>> r.customer_id.tolist(), r.recency_days.tolist(), r.frequency.tolist(), r.monetary.tolist()
    ([7, 9], [0, 2], [2, 1], [17.5, 4.0])
    """
    ids = np.asarray(customer_id)
    dates = np.asarray(date, dtype="datetime64[D]")
    usd = np.asarray(amount, dtype=np.float64)
    if not (ids.shape == dates.shape == usd.shape) or ids.ndim != 1 or ids.size == 0:
        raise ValueError(
            f"customer_id, date and amount must be 1-D and of one length, at least 1; got "
            f"{ids.shape}, {dates.shape}, {usd.shape}."
        )
    last_day = dates.max()
    end = last_day if end is None else np.datetime64(end, "D")
    if end < last_day:
        raise ValueError(f"end={end} precedes the log's last record ({last_day}).")
    customers, row = np.unique(ids, return_inverse=True)
    n = customers.size
    day = (dates - dates.min()).astype(np.int64)
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, row, day)
    recency = (end - dates.min()).astype(np.int64) - last
    # One purchase per distinct (customer, day).
    pairs = np.unique(np.column_stack([row, day]), axis=0)
    frequency = np.bincount(pairs[:, 0], minlength=n)
    monetary = np.round(np.bincount(row, weights=usd, minlength=n), 2)  # cents: no float dust
    return RFM(customers, recency, frequency, monetary, end, int(ids.size))


def read_cdnow(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``cdnow_master.txt`` -> (customer_id, date, dollar_value), one entry per record.

    The file is whitespace-separated with the header
    ``customer_id date number_of_cds dollar_value`` and dates as ``YYYYMMDD``.
    """
    path = Path(path)
    with path.open(encoding="ascii") as fh:
        header = fh.readline().split()
        expected = ["customer_id", "date", "number_of_cds", "dollar_value"]
        if header != expected:
            raise ValueError(f"{path} should start with the header {expected}; got {header}.")
        table = np.loadtxt(fh, dtype=np.float64, ndmin=2)
    if table.shape[1] != 4:
        raise ValueError(f"{path}: expected 4 columns, found {table.shape[1]}.")
    return table[:, 0].astype(np.int64), yyyymmdd_to_date(table[:, 1]), table[:, 3]
