// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MarginSpoke} from "../src/MarginSpoke.sol";
import {SymTest} from "./Cheats.sol";

/// @notice halmos properties of the production MarginSpoke (2-of-3 guardians): every accepted
/// credit carried at least `threshold` distinct guardian signatures over its EIP-712 digest, and
/// no credit of an account is accepted again (nor an older one), whatever the signatures.
contract SpokeSymTest is SymTest {
    MarginSpoke internal spoke;
    uint256 internal constant HUB_CHAIN = 31337;

    function setUp() public {
        vm.warp(NOW);
        spoke = new MarginSpoke(HUB_CHAIN, guardianSet(), 2, address(this));
    }

    function payload(address account, uint256 amount, uint64 nonce, uint64 expiry, uint64 version)
        internal
        view
        returns (bytes memory)
    {
        return abi.encode(account, block.chainid, amount, nonce, expiry, version);
    }

    function creditDigest(address account, uint256 amount, uint64 nonce, uint64 expiry, uint64 version)
        internal
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "MarginCredit(address account,uint256 spokeChainId,uint256 amount,uint64 nonce,uint64 expiry,uint64 hubStateVersion)"
                ),
                account,
                block.chainid,
                amount,
                nonce,
                expiry,
                version
            )
        );
        return eip712(address(spoke), structHash);
    }

    /// (b) acceptCredit with 0..3 symbolic signatures succeeds only when at least `threshold`
    /// distinct guardians signed the credit's EIP-712 digest in this chain's and this spoke's domain.
    function check_acceptedCreditHasQuorum(
        address account,
        uint256 amount,
        uint64 nonce,
        uint64 expiry,
        uint64 version,
        uint8 n
    ) public {
        vm.assume(n <= 3);
        bytes[] memory sigs = symSigs(n, "sig");
        try spoke.acceptCredit(payload(account, amount, nonce, expiry, version), sigs) {
            assert(distinctGuardians(creditDigest(account, amount, nonce, expiry, version), sigs) >= spoke.threshold());
            (uint256 a,, uint64 nn) = spoke.creditOf(account);
            assert(a == amount && nn == nonce);
        } catch {}
    }

    /// (a) Once a credit (account, nonce) is accepted, no credit of that account with a nonce at or
    /// below it is accepted again: not the same payload, not a different amount/expiry/version,
    /// with any 2 or 3 signatures (even ones recovering to guardians).
    function check_noCreditAcceptedTwice(
        address account,
        uint256 amount,
        uint64 nonce,
        uint64 expiry,
        uint64 version,
        uint256 amount2,
        uint64 nonce2,
        uint64 expiry2,
        uint64 version2,
        bool threeSigs
    ) public {
        bytes[] memory first = symSigs(2, "first");
        try spoke.acceptCredit(payload(account, amount, nonce, expiry, version), first) {}
        catch {
            return;
        }
        vm.assume(nonce2 <= nonce);
        bytes[] memory second = symSigs(threeSigs ? 3 : 2, "second");
        try spoke.acceptCredit(payload(account, amount2, nonce2, expiry2, version2), second) {
            assert(false);
        } catch {}
    }

    /// (a) The identical payload, re-sent with any other 2 signatures, is refused.
    function check_samePayloadNotAcceptedTwice(
        address account,
        uint256 amount,
        uint64 nonce,
        uint64 expiry,
        uint64 version
    ) public {
        bytes memory p = payload(account, amount, nonce, expiry, version);
        try spoke.acceptCredit(p, symSigs(2, "first")) {}
        catch {
            return;
        }
        try spoke.acceptCredit(p, symSigs(2, "second")) {
            assert(false);
        } catch {}
    }

    /// Vacuity control (must FAIL with a counterexample): an acceptCredit with 2 symbolic
    /// signatures is reachable, so the properties above are not proved by every call reverting.
    function reach_acceptCredit(address account, uint256 amount, uint64 nonce, uint64 expiry, uint64 version) public {
        try spoke.acceptCredit(payload(account, amount, nonce, expiry, version), symSigs(2, "sig")) {
            assert(false);
        } catch {}
    }
}
