"""intermargin for Python: vectorised Black-76 (linear and coin-settled), venue import, margin
and collateral allocation and pre-trade what-ifs, computed by the same Rust code as the
``intermargin`` CLI.

Pricing functions take numpy arrays or scalars (broadcast together) and return numpy arrays;
the whole batch runs in Rust with the GIL released. Units: ``vol`` is a fraction a year
(0.5 = 50 %, refused above 5), ``years`` a year fraction, ``rate`` continuously compounded.
Snapshot-level functions take and return plain dicts (the canonical snapshot JSON format).
Bad input raises :class:`InputError` (a ``ValueError``) whose ``field`` names the input.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, Mapping, Optional, Union

import numpy as np

from . import _native
from ._native import MAX_VOL, InputError

__all__ = [
    "InputError",
    "MAX_VOL",
    "price",
    "greeks",
    "implied_vol",
    "import_payloads",
    "margin",
    "allocate",
    "whatif",
]

_ArrayLike = Union[float, int, Iterable[float], np.ndarray]


def _is_call(kind: Any, shape: tuple) -> np.ndarray:
    """`kind` ("call"/"put", or an array of them, or booleans) as a bool array of `shape`."""
    k = np.asarray(kind)
    if k.dtype == bool:
        flags = k
    else:
        low = np.char.lower(k.astype(str))
        bad = ~np.isin(low, ["call", "put", "c", "p"])
        if bad.any():
            first = k.reshape(-1)[int(np.argmax(bad.reshape(-1)))]
            err = InputError(f"kind: must be 'call' or 'put' (got {first!r})")
            err.field = "kind"
            raise err
        flags = np.isin(low, ["call", "c"])
    try:
        return np.ascontiguousarray(np.broadcast_to(flags, shape), dtype=bool).reshape(-1)
    except ValueError:
        err = InputError(f"kind: shape {flags.shape} does not broadcast to {shape}")
        err.field = "kind"
        raise err from None


def _columns(names, values):
    """Broadcasts the inputs together; returns the shape and contiguous float64 1-d columns."""
    arrays = []
    for name, v in zip(names, values):
        try:
            arrays.append(np.asarray(v, dtype=np.float64))
        except (TypeError, ValueError):
            err = InputError(f"{name}: must be a number or an array of numbers")
            err.field = name
            raise err from None
    try:
        b = np.broadcast_arrays(*arrays)
    except ValueError:
        shapes = ", ".join(f"{n} {a.shape}" for n, a in zip(names, arrays))
        err = InputError(f"{names[0]}: the input shapes do not broadcast together ({shapes})")
        err.field = names[0]
        raise err from None
    shape = b[0].shape
    return shape, [np.ascontiguousarray(a, dtype=np.float64).reshape(-1) for a in b]


def _shaped(out: np.ndarray, shape: tuple):
    out = out.reshape(shape)
    return out[()] if shape == () else out


def price(forward: _ArrayLike, strike: _ArrayLike, years: _ArrayLike, vol: _ArrayLike,
          kind: Any = "call", rate: _ArrayLike = 0.0, inverse: bool = False):
    """Black-76 premiums: quote currency per 1 unit of underlying, or coin per contract of one
    coin when ``inverse`` (Deribit, OKX). Returns a numpy array shaped like the broadcast inputs
    (a numpy scalar for scalar inputs)."""
    shape, (f, k, t, v, r) = _columns(
        ("forward", "strike", "years", "vol", "rate"), (forward, strike, years, vol, rate))
    out = _native.greeks_batch(_is_call(kind, shape), f, k, t, v, r, bool(inverse), False)
    return _shaped(out["price"], shape)


def greeks(forward: _ArrayLike, strike: _ArrayLike, years: _ArrayLike, vol: _ArrayLike,
           kind: Any = "call", rate: _ArrayLike = 0.0, inverse: bool = False) -> Dict[str, np.ndarray]:
    """Premium and Greeks as a dict of numpy arrays.

    Always: ``price``, ``delta`` (dV/dF), ``gamma`` (d²V/dF²), ``vega`` (per 1.00 of vol),
    ``theta`` (per year), ``vanna``, ``volga``, ``vega_per_vol_point``, ``theta_per_day``.
    For ``inverse`` these are derivatives of the coin premium, and the venue's convention is
    added: ``delta_coin`` (Deribit's delta, coin per contract: Black-Scholes delta minus the coin
    premium), ``price_quote``, ``gamma_quote``, and vega per vol point / theta per day in the
    quote currency.
    """
    shape, (f, k, t, v, r) = _columns(
        ("forward", "strike", "years", "vol", "rate"), (forward, strike, years, vol, rate))
    out = _native.greeks_batch(_is_call(kind, shape), f, k, t, v, r, bool(inverse), True)
    return {name: _shaped(col, shape) for name, col in out.items()}


def implied_vol(forward: _ArrayLike, strike: _ArrayLike, years: _ArrayLike, price: _ArrayLike,
                kind: Any = "call", rate: _ArrayLike = 0.0, inverse: bool = False,
                strict: bool = False):
    """Implied vols (fraction a year) of premiums (coin premiums when ``inverse``).

    A premium outside its no-arbitrage bounds gives NaN, or raises :class:`InputError` naming
    ``price[i]`` when ``strict``.
    """
    shape, (f, k, t, p, r) = _columns(
        ("forward", "strike", "years", "price", "rate"), (forward, strike, years, price, rate))
    out = _native.implied_vol_batch_py(_is_call(kind, shape), f, k, t, p, r, bool(inverse), bool(strict))
    return _shaped(out, shape)


def _text(value: Any, field: str) -> str:
    if isinstance(value, (str, bytes)):
        return value.decode() if isinstance(value, bytes) else value
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as e:
        err = InputError(f"{field}: not JSON-serialisable ({e})")
        err.field = field
        raise err from None


def import_payloads(venue: str, payloads: Iterable[Any], account: str = "default") -> Dict[str, Any]:
    """Venue API responses (dicts or JSON text, e.g. Deribit ``private/get_positions``) → a
    canonical snapshot dict, as ``intermargin import --json`` prints it."""
    items = [(f"payloads[{i}]", _text(p, f"payloads[{i}]")) for i, p in enumerate(payloads)]
    return json.loads(_native.import_payloads(str(venue), items, str(account)))


def margin(snapshot: Union[Mapping[str, Any], str], model: Optional[str] = None) -> Dict[str, Any]:
    """Each venue's own margin (``model=None``), or a portfolio model's verdict (``"deribit-pm"``,
    ``"span"``, ``"sensitivity"``, ``"unified"``): the document ``intermargin margin [--model M]
    --json`` prints."""
    return json.loads(_native.margin(_text(snapshot, "snapshot"), model))


def allocate(snapshot: Union[Mapping[str, Any], str], routes: Union[Mapping[str, Any], str],
             requirement: str = "initial", venue_basis: str = "auto",
             account: Optional[str] = None) -> Dict[str, Any]:
    """Where collateral should sit and the ordered transfers to put it there: the document
    ``intermargin allocate --json`` prints (amounts in base units, with ``*_decimal`` beside)."""
    return json.loads(_native.allocate(_text(snapshot, "snapshot"), _text(routes, "routes"),
                                       requirement, venue_basis, account))


def whatif(snapshot: Union[Mapping[str, Any], str],
           trades: Union[str, Mapping[str, Any], Iterable[Union[str, Mapping[str, Any]]]],
           account: Optional[str] = None) -> Dict[str, Any]:
    """Each venue's margin, the unified requirement and the first venue to liquidate, before
    and after hypothetical trades: the document ``intermargin whatif --json`` prints.

    ``trades`` are the CLI's ``"VENUE:INSTRUMENT:SIZE[@PRICE]"`` strings or the API's
    ``{"venue", "instrument", "size", "price"?}`` dicts (one, or a list applied in order); a bad
    trade raises :class:`InputError` whose ``field`` names it (``trades[1].size``)."""
    if isinstance(trades, (str, bytes, Mapping)):
        trades = [trades]
    items = [t.decode() if isinstance(t, bytes) else t for t in trades]
    return json.loads(_native.whatif(_text(snapshot, "snapshot"), _text(items, "trades"),
                                     None if account is None else str(account)))
