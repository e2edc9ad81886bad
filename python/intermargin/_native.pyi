from typing import Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

MAX_VOL: float

class InputError(ValueError):
    field: str

def greeks_batch(
    is_call: npt.NDArray[np.bool_],
    forward: npt.NDArray[np.float64],
    strike: npt.NDArray[np.float64],
    years: npt.NDArray[np.float64],
    vol: npt.NDArray[np.float64],
    rate: npt.NDArray[np.float64],
    inverse: bool,
    full: bool,
) -> Dict[str, npt.NDArray[np.float64]]: ...
def implied_vol_batch_py(
    is_call: npt.NDArray[np.bool_],
    forward: npt.NDArray[np.float64],
    strike: npt.NDArray[np.float64],
    years: npt.NDArray[np.float64],
    price: npt.NDArray[np.float64],
    rate: npt.NDArray[np.float64],
    inverse: bool,
    strict: bool,
) -> npt.NDArray[np.float64]: ...
def import_payloads(venue: str, payloads: List[Tuple[str, str]], account: str) -> str: ...
def margin(snapshot: str, model: Optional[str]) -> str: ...
def allocate(
    snapshot: str, routes: str, requirement: str, venue_basis: str, account: Optional[str]
) -> str: ...
def whatif(snapshot: str, trades: str, account: Optional[str]) -> str: ...
