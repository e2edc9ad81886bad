"""Reference EIP-712 digests from eth-account for crates/xchain/tests/eip712_random.rs.

Reads a JSON array of eth_signTypedData_v4 documents on stdin (Python's json keeps integer
literals of any size exact) and prints, one line per document, the hex digest
keccak256(0x19 ‖ version ‖ domainSeparator ‖ hashStruct(message)), or "error: <reason>".
"""
import json
import sys

from eth_account.messages import encode_typed_data
from eth_utils import keccak

for doc in json.load(sys.stdin):
    try:
        m = encode_typed_data(full_message=doc)
        print(keccak(b"\x19" + m.version + m.header + m.body).hex().removeprefix("0x"))
    except Exception as e:  # noqa: BLE001 - reported to the Rust test
        print("error: " + str(e).replace("\n", " "))
