#!/usr/bin/env python3
"""Lays out the forge project that scripts/symbolic-check.sh runs halmos on, and checks its code.

`project.py ROOT WORK` writes WORK/foundry.toml (the pinned solc-js through solc-shim.cjs, the
production optimizer settings and EVM version of scripts/build-contracts.cjs), copies
ROOT/contracts/*.sol to WORK/src and ROOT/contracts/audit/halmos/*.sol to WORK/test, and writes one
renamed copy per mutant (every contract name and file suffixed `_<mutant>`, one check removed).
A mutation that no longer matches the source exactly once is an error, so the controls follow the
contracts as they change.

`project.py --same-code ROOT WORK` (after `forge build`) checks that forge's MarginHub, MarginSpoke
and TestToken creation code equals contracts/build/<Name>.bin once the CBOR metadata hash (which
covers source paths) is blanked: halmos runs the production bytecode.
"""
import json
import pathlib
import re
import shutil
import sys

# name: (file, exact text, replacement, the sources it needs, the test file)
MUTANTS = {
    "noThreshold": (
        "GuardianQuorum.sol",
        "        if (sigs.length < threshold) revert BelowThreshold(sigs.length, threshold);\n",
        "",
        ["GuardianQuorum.sol", "MarginSpoke.sol"],
        "Spoke.t.sol",
    ),
    "noDuplicateCheck": (
        "GuardianQuorum.sol",
        "                if (seen[j] == signer) revert DuplicateSigner(i, signer);\n",
        "",
        ["GuardianQuorum.sol", "MarginSpoke.sol"],
        "Spoke.t.sol",
    ),
    "noNonceMark": (
        "MarginSpoke.sol",
        "        lastCreditNonce[account] = nonce;\n",
        "",
        ["GuardianQuorum.sol", "MarginSpoke.sol"],
        "Spoke.t.sol",
    ),
    "noWithdrawalCheck": (
        "MarginHub.sol",
        "        if (amount > coll || coll - amount < totalOutstanding[account]) {\n",
        "        if (amount > coll) {\n",
        ["GuardianQuorum.sol", "MarginHub.sol", "TestToken.sol"],
        "Hub.t.sol",
    ),
}
RENAMED = ["GuardianQuorum", "MarginSpoke", "MarginHub", "TestToken", "IERC20Min", "SpokeSymTest", "HubSymTest"]
CBOR = re.compile(r"a264697066735822[0-9a-f]{68}64736f6c6343[0-9a-f]{6}0033")


def rename(text: str, suffix: str) -> str:
    return re.sub(r"\b(" + "|".join(RENAMED) + r")\b", lambda m: m.group(1) + "_" + suffix, text)


def layout(root: pathlib.Path, work: pathlib.Path) -> None:
    src, test = work / "src", work / "test"
    src.mkdir(parents=True)
    test.mkdir()
    shim = root / "contracts/audit/halmos/solc-shim.cjs"
    (work / "foundry.toml").write_text(
        "[profile.default]\n"
        'src = "src"\ntest = "test"\nout = "out"\nlibs = []\n'
        f'solc = "{shim}"\n'
        "offline = true\noptimizer = true\noptimizer_runs = 200\n"
        'evm_version = "cancun"\n\n[lint]\nlint_on_build = false\n'
    )
    for f in sorted((root / "contracts").glob("*.sol")):
        shutil.copy(f, src / f.name)
    for f in sorted((root / "contracts/audit/halmos").glob("*.sol")):
        shutil.copy(f, test / f.name)
    for name, (file, old, new, needs, test_file) in MUTANTS.items():
        for f in needs:
            text = (root / "contracts" / f).read_text()
            if f == file:
                if text.count(old) != 1:
                    sys.exit(f"mutant {name}: {old.strip()!r} is not exactly once in contracts/{f}")
                text = text.replace(old, new)
            (src / (f[: -len(".sol")] + "_" + name + ".sol")).write_text(rename(text, name))
        t = (root / "contracts/audit/halmos" / test_file).read_text()
        (test / (test_file[: -len(".t.sol")] + "_" + name + ".t.sol")).write_text(rename(t, name))


def same_code(root: pathlib.Path, work: pathlib.Path) -> None:
    for name in ["MarginHub", "MarginSpoke", "TestToken"]:
        built = json.loads((work / "out" / f"{name}.sol" / f"{name}.json").read_text())
        ours = built["bytecode"]["object"].removeprefix("0x").lower()
        prod = (root / "contracts/build" / f"{name}.bin").read_text().strip().lower()
        a, b = CBOR.sub("<metadata>", ours), CBOR.sub("<metadata>", prod)
        if "<metadata>" not in b or a != b:
            sys.exit(f"{name}: the code halmos runs differs from contracts/build/{name}.bin")
        print(f"{name}: {len(prod) // 2} bytes, same code as contracts/build (metadata hash aside)")


if __name__ == "__main__":
    args = sys.argv[1:]
    check = args and args[0] == "--same-code"
    if check:
        args = args[1:]
    if len(args) != 2:
        sys.exit("usage: project.py [--same-code] ROOT WORK")
    (same_code if check else layout)(pathlib.Path(args[0]).resolve(), pathlib.Path(args[1]).resolve())
