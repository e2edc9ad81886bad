"""margin, allocate and import_payloads give the same documents as the CLI on the bundled examples.

The CLI binary comes from INTERMARGIN_BIN (scripts/test.sh passes the one it built), else
target/debug/intermargin of CARGO_TARGET_DIR or the checkout.
"""

import json
import math
import os
import pathlib
import subprocess

import pytest

import intermargin as im

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def cli_binary():
    explicit = os.environ.get("INTERMARGIN_BIN")
    if explicit:
        return explicit
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("debug", "release"):
        p = target / profile / "intermargin"
        if p.exists():
            return str(p)
    pytest.skip("no intermargin binary: build it (cargo build -p intermargin-cli) or set INTERMARGIN_BIN")


def cli_json(*args):
    out = subprocess.run([cli_binary(), *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def assert_same(a, b, path="$"):
    """Equal documents; floats to 1e-12 relative (the same Rust code computes both)."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), f"{path}: {a!r} vs {b!r}"
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12), f"{path}: {a!r} vs {b!r}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{path}: keys {sorted(a)} vs {sorted(b)}"
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


SNAPSHOTS = [EXAMPLES / "hedged-book" / "snapshot.json", EXAMPLES / "demo" / "snapshot.json"]


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda p: p.parent.name)
@pytest.mark.parametrize("model", [None, "deribit-pm", "span", "sensitivity", "unified"])
def test_margin_equals_the_cli(snapshot, model):
    snap = json.loads(snapshot.read_text())
    args = ["margin", "--snapshot", str(snapshot)] + (["--model", model] if model else [])
    assert_same(im.margin(snap, model=model), cli_json(*args))


def test_allocate_equals_the_cli():
    snapshot = EXAMPLES / "hedged-book" / "snapshot.json"
    routes = EXAMPLES / "routes" / "hedged-book.json"
    got = im.allocate(json.loads(snapshot.read_text()), json.loads(routes.read_text()))
    want = cli_json("allocate", "--snapshot", str(snapshot), "--routes", str(routes))
    assert_same(got, want)
    for t in got["transfers"]:
        assert t["amount_base"] == t["amount"]


def test_import_payloads_equals_the_cli():
    folder = EXAMPLES / "hedged-book" / "deribit"
    files = sorted(folder.glob("*.json"))
    got = im.import_payloads("deribit", [json.loads(f.read_text()) for f in files], account="hedged")
    args = ["import", "--venue", "deribit", "--account", "hedged"]
    for f in files:
        args += ["--file", str(f)]
    assert_same(got, cli_json(*args))


def test_snapshot_errors_name_the_field():
    with pytest.raises(im.InputError) as e:
        im.margin({"portfolio": {}}, model="unified")
    assert e.value.field == "snapshot"
    snap = json.loads((EXAMPLES / "demo" / "snapshot.json").read_text())
    with pytest.raises(im.InputError) as e:
        im.margin(snap, model="simm-2.6")
    assert e.value.field == "model"
    with pytest.raises(im.InputError) as e:
        im.import_payloads("nasdaq", [])
    assert e.value.field == "venue"


WHATIFS = [
    (EXAMPLES / "hedged-book" / "snapshot.json", ["okx:BTC-USD-SWAP:2000"]),
    (EXAMPLES / "hedged-book" / "snapshot.json", ["binance:BTCUSDT:8.5", "deribit:BTC-27DEC24-60000-C:-4@0.05"]),
    (EXAMPLES / "demo" / "snapshot.json", ["binance:BTCUSDT:-1@60000", "deribit:BTC-26DEC26-80000-P:5"]),
]


@pytest.mark.parametrize("snapshot,trades", WHATIFS, ids=lambda x: x.parent.name if isinstance(x, pathlib.Path) else "+".join(x))
def test_whatif_equals_the_cli(snapshot, trades):
    snap = json.loads(snapshot.read_text())
    args = ["whatif", "--snapshot", str(snapshot)]
    for t in trades:
        args += ["--trade", t]
    want = cli_json(*args)
    assert_same(im.whatif(snap, trades), want)
    # The API's form of the same trades gives the same document.
    as_dicts = []
    for t in trades:
        venue, instrument, rest = t.split(":", 2)
        size, _, price = rest.partition("@")
        d = {"venue": venue, "instrument": instrument, "size": float(size)}
        if price:
            d["price"] = float(price)
        as_dicts.append(d)
    assert_same(im.whatif(snap, as_dicts, account=want["account"]), want)


@pytest.mark.parametrize("trade,field", [
    ("binance:BTCUSDT:ten", "trades[0].size"),
    ("binance:BTCUSDT:0", "trades[0].size"),
    ("binance:NOPE:1", "trades[0].instrument"),
    ("nowhere:BTCUSDT:1", "trades[0].venue"),
    ({"venue": "binance", "instrument": "BTCUSDT", "size": 1, "price": -5}, "trades[0].price"),
    ({"venue": "binance", "instrument": "BTCUSDT", "size": "1"}, "trades[0].size"),
    ({"venue": "binance", "instrument": "BTCUSDT"}, "trades[0]"),
])
def test_a_bad_trade_names_its_field(trade, field):
    snap = json.loads((EXAMPLES / "hedged-book" / "snapshot.json").read_text())
    with pytest.raises(im.InputError) as e:
        im.whatif(snap, [trade])
    assert e.value.field == field, str(e.value)
    assert str(e.value).startswith(field), str(e.value)
    # The CLI names the same part for the string form.
    if isinstance(trade, str):
        out = subprocess.run([cli_binary(), "whatif", "--snapshot", str(EXAMPLES / "hedged-book" / "snapshot.json"),
                              "--trade", trade, "--json"], capture_output=True, text=True)
        assert out.returncode != 0
        assert field.split(".")[-1] in out.stderr, out.stderr


def test_whatif_names_a_missing_account():
    snap = json.loads((EXAMPLES / "hedged-book" / "snapshot.json").read_text())
    with pytest.raises(im.InputError) as e:
        im.whatif(snap, ["binance:BTCUSDT:1"], account="nobody")
    assert e.value.field == "account"
