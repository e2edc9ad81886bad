from typing import Any, Dict, Iterable, Mapping, Optional, Union

import numpy as np
import numpy.typing as npt

_ArrayLike = Union[float, int, Iterable[float], npt.NDArray[np.float64]]
_Kind = Union[str, Iterable[str], npt.NDArray[np.bool_]]

MAX_VOL: float

class InputError(ValueError):
    """Bad input; ``field`` names it (``vol``, ``price``, ``snapshot``, ``model`` …)."""

    field: str

def price(
    forward: _ArrayLike,
    strike: _ArrayLike,
    years: _ArrayLike,
    vol: _ArrayLike,
    kind: _Kind = "call",
    rate: _ArrayLike = 0.0,
    inverse: bool = False,
) -> npt.NDArray[np.float64]: ...
def greeks(
    forward: _ArrayLike,
    strike: _ArrayLike,
    years: _ArrayLike,
    vol: _ArrayLike,
    kind: _Kind = "call",
    rate: _ArrayLike = 0.0,
    inverse: bool = False,
) -> Dict[str, npt.NDArray[np.float64]]: ...
def implied_vol(
    forward: _ArrayLike,
    strike: _ArrayLike,
    years: _ArrayLike,
    price: _ArrayLike,
    kind: _Kind = "call",
    rate: _ArrayLike = 0.0,
    inverse: bool = False,
    strict: bool = False,
) -> npt.NDArray[np.float64]: ...
def import_payloads(
    venue: str, payloads: Iterable[Union[Mapping[str, Any], str]], account: str = "default"
) -> Dict[str, Any]: ...
def margin(snapshot: Union[Mapping[str, Any], str], model: Optional[str] = None) -> Dict[str, Any]: ...
def allocate(
    snapshot: Union[Mapping[str, Any], str],
    routes: Union[Mapping[str, Any], str],
    requirement: str = "initial",
    venue_basis: str = "auto",
    account: Optional[str] = None,
) -> Dict[str, Any]: ...
def whatif(
    snapshot: Union[Mapping[str, Any], str],
    trades: Union[str, Mapping[str, Any], Iterable[Union[str, Mapping[str, Any]]]],
    account: Optional[str] = None,
) -> Dict[str, Any]: ...
