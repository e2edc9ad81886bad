// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

// Harnesses for symbolic execution (mythril, scripts/audit-contracts.sh --symbolic): each wraps the
// production contract unchanged and states one property as an `assert`, which mythril reports
// (SWC-110) if any transaction sequence it explores can break it. Not deployed; not part of
// contracts/build.

import {MarginSpoke} from "../MarginSpoke.sol";
import {MarginHub} from "../MarginHub.sol";
import {TestToken} from "../TestToken.sol";

function guardianSet() pure returns (address[] memory g) {
    g = new address[](3);
    g[0] = address(0x1000000000000000000000000000000000000001);
    g[1] = address(0x1000000000000000000000000000000000000002);
    g[2] = address(0x1000000000000000000000000000000000000003);
}

/// No credit accepted twice, and none without a quorum.
contract SpokeProperties is MarginSpoke {
    constructor() MarginSpoke(1, guardianSet(), 2, msg.sender) {}

    /// The same payload and signatures can never be accepted twice.
    function checkNoDoubleAcceptance(bytes calldata payload, bytes[] calldata signatures) external {
        bool first;
        bool second;
        try this.acceptCredit(payload, signatures) {
            first = true;
        } catch {}
        try this.acceptCredit(payload, signatures) {
            second = true;
        } catch {}
        assert(!(first && second));
    }

    /// Control: mythril must find this assert reachable (an accepted credit), or the run above
    /// proved nothing.
    function reachAcceptance(bytes calldata payload, bytes[] calldata signatures) external {
        try this.acceptCredit(payload, signatures) {
            assert(false);
        } catch {}
    }

    /// An accepted credit carried at least `threshold` signatures and a nonce above the last one.
    function checkQuorum(bytes calldata payload, bytes[] calldata signatures) external {
        (address account,,, uint64 nonce,,) = abi.decode(payload, (address, uint256, uint256, uint64, uint64, uint64));
        uint64 before = lastCreditNonce[account];
        try this.acceptCredit(payload, signatures) {
            assert(signatures.length >= threshold);
            assert(nonce > before);
        } catch {}
    }
}

/// No withdrawal that breaks the invariant.
contract HubProperties is MarginHub {
    constructor() MarginHub(address(new TestToken("USD Coin", "USDC", 6)), guardianSet(), 2, msg.sender) {}

    /// Lets the explorer fund an account in one transaction (the production `deposit`, paid by
    /// this harness after minting the test token), so withdrawals are reachable.
    function seed(address account, uint256 amount) external {
        TestToken t = TestToken(collateralToken);
        t.mint(address(this), amount);
        t.approve(address(this), amount);
        this.deposit(account, collateralToken, amount);
    }

    /// After any successful withdrawal, collateral still covers every outstanding credit.
    function checkWithdrawal(bytes calldata payload, bytes[] calldata signatures, bytes calldata accountSignature)
        external
    {
        (address account,,,,,) = abi.decode(payload, (address, address, uint256, uint64, uint64, uint64));
        try this.withdraw(payload, signatures, accountSignature) {
            assert(collateral[account][collateralToken] >= totalOutstanding[account]);
        } catch {}
    }

    /// Control: mythril must find this assert reachable (a successful withdrawal after a deposit).
    function reachWithdrawal(bytes calldata payload, bytes[] calldata signatures, bytes calldata accountSignature)
        external
    {
        try this.withdraw(payload, signatures, accountSignature) {
            assert(false);
        } catch {}
    }
}
