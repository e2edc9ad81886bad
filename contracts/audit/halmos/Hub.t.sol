// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MarginHub} from "../src/MarginHub.sol";
import {TestToken} from "../src/TestToken.sol";
import {SymTest} from "./Cheats.sol";

/// @notice halmos properties of the production MarginHub (2-of-3 guardians) holding the test
/// ERC-20: after a symbolic deposit and a symbolic credit lock, a withdrawal with a symbolic
/// permit, symbolic guardian and account signatures and a symbolic caller either reverts or leaves
/// the account's collateral covering its outstanding credits, pays exactly the permit's amount to
/// its recipient out of the account's own collateral, carried a quorum, and spends the permit.
contract HubSymTest is SymTest {
    MarginHub internal hub;
    TestToken internal token;
    address internal constant ACCOUNT = address(0xA11CE);
    uint256 internal constant SPOKE_CHAIN = 31338;

    function setUp() public {
        vm.warp(NOW);
        token = new TestToken("Test USD", "TUSD", 6);
        hub = new MarginHub(address(token), guardianSet(), 2, address(this));
        hub.setSpoke(SPOKE_CHAIN, address(0x5B0CE), type(uint128).max, 0);
    }

    /// @dev Deposits `deposit` for ACCOUNT and, if `credit` > 0, tries to lock that credit
    /// (a lock beyond the collateral reverts and leaves no credit).
    function fund(uint256 deposit, uint256 credit) internal {
        vm.assume(deposit > 0 && deposit <= type(uint128).max);
        token.mint(ACCOUNT, deposit);
        vm.prank(ACCOUNT);
        token.approve(address(hub), deposit);
        vm.prank(ACCOUNT);
        hub.deposit(ACCOUNT, address(token), deposit);
        if (credit > 0) {
            vm.prank(ACCOUNT);
            try hub.lockCredit(SPOKE_CHAIN, credit, uint64(NOW * 1000 + 3_600_000)) {} catch {}
        }
    }

    function permitDigest(Permit memory p) internal view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "WithdrawalPermit(address account,address recipient,uint256 amount,uint64 nonce,uint64 expiry,uint64 hubStateVersion)"
                ),
                ACCOUNT,
                p.recipient,
                p.amount,
                p.nonce,
                p.expiry,
                p.version
            )
        );
        return eip712(address(hub), structHash);
    }

    /// @dev A symbolic withdrawal permit for ACCOUNT and the state it is judged against.
    struct Permit {
        address recipient;
        uint256 amount;
        uint64 nonce;
        uint64 expiry;
        uint64 version;
    }

    struct Before {
        uint256 coll;
        uint256 recipient;
        uint256 hub;
        uint64 version;
    }

    function encode(Permit memory p) internal pure returns (bytes memory) {
        return abi.encode(ACCOUNT, p.recipient, p.amount, p.nonce, p.expiry, p.version);
    }

    /// (c) After a symbolic deposit and credit lock, no withdrawal (2 symbolic guardian
    /// signatures, sent by the account) leaves collateral below the outstanding credit, pays other
    /// than the permit's amount out of the account's collateral to its recipient, or reuses a state
    /// version or nonce.
    function check_withdrawalKeepsInvariant(uint256 deposit, uint256 credit, Permit memory p) public {
        fund(deposit, credit);
        vm.assume(p.recipient != address(hub) && p.recipient != ACCOUNT);
        Before memory b = Before({
            coll: hub.collateralOf(ACCOUNT, address(token)),
            recipient: token.balanceOf(p.recipient),
            hub: token.balanceOf(address(hub)),
            version: hub.stateVersion(ACCOUNT)
        });
        vm.prank(ACCOUNT);
        try hub.withdraw(encode(p), symSigs(2, "guardian"), "") {
            uint256 collAfter = hub.collateralOf(ACCOUNT, address(token));
            // the invariant: collateral covers every outstanding credit
            assert(collAfter >= hub.totalOutstanding(ACCOUNT));
            assert(hub.totalOutstanding(ACCOUNT) == hub.outstandingCredit(ACCOUNT, SPOKE_CHAIN));
            // exactly the permit's amount, out of this account's collateral, to the recipient
            assert(b.coll - collAfter == p.amount);
            assert(token.balanceOf(address(hub)) == b.hub - p.amount);
            assert(token.balanceOf(p.recipient) == b.recipient + p.amount);
            // bound to the account's state version at the time; the permit is spent
            assert(p.version == b.version && hub.stateVersion(ACCOUNT) == b.version + 1);
            assert(hub.permitNonce(ACCOUNT) == p.nonce);
        } catch {}
    }

    /// (b) on the hub: a withdrawal permit sent by the account with 0..3 symbolic guardian
    /// signatures is paid only when at least `threshold` distinct guardians signed its EIP-712
    /// digest in this hub's domain.
    function check_withdrawalHasQuorum(Permit memory p, uint8 n) public {
        fund(1_000_000, 0);
        vm.assume(n <= 3);
        bytes[] memory sigs = symSigs(n, "guardian");
        vm.prank(ACCOUNT);
        try hub.withdraw(encode(p), sigs, "") {
            assert(distinctGuardians(permitDigest(p), sigs) >= hub.threshold());
        } catch {}
    }

    /// Portable margin: a permit relayed by anyone else than the account is paid only with the
    /// account's own signature over the permit digest (2 symbolic guardian signatures).
    function check_relayedWithdrawalNeedsAccount(Permit memory p, address relayer) public {
        fund(1_000_000, 0);
        vm.assume(relayer != ACCOUNT);
        bytes memory accountSig = symSig("account");
        vm.prank(relayer);
        try hub.withdraw(encode(p), symSigs(2, "guardian"), accountSig) {
            assert(signerOf(permitDigest(p), accountSig) == ACCOUNT);
        } catch {}
    }

    /// (c) A credit lock never exceeds the collateral: after any deposit and lock, collateral
    /// covers the outstanding credit.
    function check_lockKeepsInvariant(uint256 deposit, uint256 credit, uint256 credit2) public {
        fund(deposit, credit);
        vm.prank(ACCOUNT);
        try hub.lockCredit(SPOKE_CHAIN, credit2, uint64(NOW * 1000 + 3_600_000)) {} catch {}
        assert(hub.collateralOf(ACCOUNT, address(token)) >= hub.totalOutstanding(ACCOUNT));
    }

    /// Vacuity control (must FAIL with a counterexample): a withdrawal after a deposit and a
    /// credit lock is reachable.
    function reach_withdraw(uint256 deposit, uint256 credit, Permit memory p) public {
        fund(deposit, credit);
        vm.assume(hub.totalOutstanding(ACCOUNT) > 0);
        vm.prank(ACCOUNT);
        try hub.withdraw(encode(p), symSigs(2, "guardian"), "") {
            assert(false);
        } catch {}
    }
}
