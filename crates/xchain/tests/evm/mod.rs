//! An in-process EVM (revm) running the committed contract artifacts (contracts/build), with
//! the ABI of MarginHub, MarginSpoke, TestToken and SmartAccount written out with `sol!` and
//! signatures made by the crate's guardian keys over the crate's EIP-712 digests.
#![allow(dead_code)]

use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use alloy_sol_types::{sol, SolCall, SolValue};
use intermargin_xchain::guardian::GuardianKey;
use intermargin_xchain::{domain, CreditRelease, MarginCredit, Payload, Scheme, WithdrawalPermit};
use revm::db::{CacheDB, EmptyDB};
use revm::primitives as rp;
use revm::Evm;

pub const HUB_BIN: &str = include_str!("../../../../contracts/build/MarginHub.bin");
pub const SPOKE_BIN: &str = include_str!("../../../../contracts/build/MarginSpoke.bin");
pub const TOKEN_BIN: &str = include_str!("../../../../contracts/build/TestToken.bin");
pub const ACCOUNT_BIN: &str = include_str!("../../../../contracts/build/SmartAccount.bin");

/// Block time the chains start at (seconds): 2027-01-15.
pub const T0: u64 = 1_800_000_000;

sol! {
    interface IHub {
        function deposit(address account, address token, uint256 amount);
        function lockCredit(uint256 spokeChainId, uint256 amount, uint64 expiry) returns (uint64);
        function retireCredit(bytes payload, bytes[] signatures);
        function withdraw(bytes payload, bytes[] signatures, bytes accountSignature);
        function collateralOf(address account, address token) returns (uint256);
        function outstandingCredit(address account, uint256 spokeChainId) returns (uint256);
        function totalOutstanding(address account) returns (uint256);
        function stateVersion(address account) returns (uint64);
        function creditNonce(address account, uint256 spokeChainId) returns (uint64);
        function setSpoke(uint256 spokeChainId, address spoke, uint128 capacity, uint128 ratePerSecond);
        function setAssetLimit(address token, uint128 capacity, uint128 ratePerSecond);
        function setPaused(bool p);
        function domainSeparator() returns (bytes32);
        function WITHDRAWAL_PERMIT_TYPEHASH() returns (bytes32);
        function CREDIT_RELEASE_TYPEHASH() returns (bytes32);
    }
    interface ISpoke {
        function acceptCredit(bytes payload, bytes[] signatures);
        function creditOf(address account) returns (uint256 amount, uint64 expiry, uint64 nonce);
        function available(address account) returns (uint256);
        function usedOf(address account) returns (uint256);
        function draw(address account, uint256 amount);
        function releaseCredit(address account, uint64 creditNonce);
        function setTrader(address trader, bool allowed);
        function setCreditLimit(uint128 capacity, uint128 ratePerSecond);
        function setPaused(bool p);
        function domainSeparator() returns (bytes32);
        function MARGIN_CREDIT_TYPEHASH() returns (bytes32);
        function lastCreditNonce(address account) returns (uint64);
    }
    struct ReportedPosition {
        string underlying;
        int256 size;
    }
    interface ISpokeReports {
        function reportPositions(address account, ReportedPosition[] positions, int256 realisedPnl);
    }
    interface IToken {
        function mint(address to, uint256 amount);
        function approve(address spender, uint256 amount) returns (bool);
        function balanceOf(address who) returns (uint256);
    }
    interface IAccount {
        function execute(address target, uint256 value, bytes data) returns (bytes);
        function isValidSignature(bytes32 hash, bytes sig) returns (bytes4);
    }
}

/// The 4-byte selector of a custom error signature.
pub fn selector(sig: &str) -> [u8; 4] {
    let h = keccak256(sig.as_bytes());
    [h[0], h[1], h[2], h[3]]
}

/// Result of one transaction.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Succeeded: return data, gas used, logs (topics, data).
    Ok(Vec<u8>, u64, Vec<(Vec<B256>, Vec<u8>)>),
    /// Reverted (or halted) with this data.
    Revert(Vec<u8>, u64),
}

impl Outcome {
    /// Return data; panics with the revert data otherwise (test helper).
    pub fn ok(&self) -> &[u8] {
        match self {
            Outcome::Ok(out, _, _) => out,
            Outcome::Revert(d, _) => panic!("reverted: 0x{}", hex::encode(d)),
        }
    }
    /// Gas used.
    pub fn gas(&self) -> u64 {
        match self {
            Outcome::Ok(_, g, _) | Outcome::Revert(_, g) => *g,
        }
    }
    /// Gas used by a transaction that must have succeeded.
    pub fn ok_gas(&self) -> u64 {
        self.ok();
        self.gas()
    }
    /// Whether it reverted with the custom error `sig` (e.g. `"Replay(uint64,uint64)"`).
    pub fn reverted_with(&self, sig: &str) -> bool {
        matches!(self, Outcome::Revert(d, _) if d.len() >= 4 && d[..4] == selector(sig))
    }
    /// Whether it succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(..))
    }
}

fn to_rp(a: Address) -> rp::Address {
    rp::Address::from_slice(a.as_slice())
}
fn from_rp(a: rp::Address) -> Address {
    Address::from_slice(a.as_slice())
}

/// One EVM chain: a state, a chain id and a clock.
pub struct Chain {
    db: CacheDB<EmptyDB>,
    /// `block.chainid`.
    pub chain_id: u64,
    /// `block.timestamp` (seconds).
    pub time: u64,
    /// `block.number`.
    pub number: u64,
}

impl Chain {
    /// An empty chain at [`T0`].
    pub fn new(chain_id: u64) -> Chain {
        Chain {
            db: CacheDB::new(EmptyDB::default()),
            chain_id,
            time: T0,
            number: 1,
        }
    }

    fn exec(
        &mut self,
        from: Address,
        to: Option<Address>,
        data: Vec<u8>,
    ) -> (Outcome, Option<Address>) {
        self.number += 1;
        let (chain_id, time, number) = (self.chain_id, self.time, self.number);
        let mut evm = Evm::builder()
            .with_db(&mut self.db)
            .modify_cfg_env(|c| c.chain_id = chain_id)
            .modify_block_env(|b| {
                b.timestamp = rp::U256::from(time);
                b.number = rp::U256::from(number);
                b.gas_limit = rp::U256::from(30_000_000u64);
            })
            .modify_tx_env(|tx| {
                tx.caller = to_rp(from);
                tx.transact_to = match to {
                    Some(a) => rp::TxKind::Call(to_rp(a)),
                    None => rp::TxKind::Create,
                };
                tx.data = rp::Bytes::from(data);
                tx.gas_limit = 30_000_000;
                tx.nonce = None;
            })
            .build();
        let res = evm.transact_commit().expect("transaction executes");
        match res {
            rp::ExecutionResult::Success {
                output,
                gas_used,
                logs,
                ..
            } => {
                let logs = logs
                    .iter()
                    .map(|l| {
                        (
                            l.topics()
                                .iter()
                                .map(|t| B256::from_slice(t.as_slice()))
                                .collect(),
                            l.data.data.to_vec(),
                        )
                    })
                    .collect();
                match output {
                    rp::Output::Create(_, addr) => {
                        (Outcome::Ok(Vec::new(), gas_used, logs), addr.map(from_rp))
                    }
                    rp::Output::Call(b) => (Outcome::Ok(b.to_vec(), gas_used, logs), None),
                }
            }
            rp::ExecutionResult::Revert { output, gas_used } => {
                (Outcome::Revert(output.to_vec(), gas_used), None)
            }
            rp::ExecutionResult::Halt { reason, gas_used } => (
                Outcome::Revert(format!("halt {reason:?}").into_bytes(), gas_used),
                None,
            ),
        }
    }

    /// Deploys creation code `bin` (hex) followed by the abi-encoded constructor arguments.
    pub fn deploy(&mut self, from: Address, bin: &str, args: Vec<u8>) -> (Address, u64) {
        let (out, addr) = self.try_deploy(from, bin, args);
        out.ok();
        (addr.expect("created"), out.gas())
    }

    /// Deploys, returning the outcome and the address when creation succeeded.
    pub fn try_deploy(
        &mut self,
        from: Address,
        bin: &str,
        args: Vec<u8>,
    ) -> (Outcome, Option<Address>) {
        let mut code = hex::decode(bin.trim()).expect("artifact is hex");
        code.extend(args);
        self.exec(from, None, code)
    }

    /// Sends a call transaction.
    pub fn send<C: SolCall>(&mut self, from: Address, to: Address, call: C) -> Outcome {
        self.exec(from, Some(to), call.abi_encode()).0
    }

    /// Sends raw calldata.
    pub fn send_raw(&mut self, from: Address, to: Address, data: Vec<u8>) -> Outcome {
        self.exec(from, Some(to), data).0
    }

    /// A view call (committed like a transaction; views do not change state).
    pub fn view<C: SolCall>(&mut self, to: Address, call: C) -> Vec<u8> {
        self.send(Address::repeat_byte(0xee), to, call)
            .ok()
            .to_vec()
    }

    /// A view returning one `uint256`/`uint64`/`bytes32` word.
    pub fn word<C: SolCall>(&mut self, to: Address, call: C) -> U256 {
        U256::from_be_slice(&self.view(to, call)[..32])
    }

    /// Advances the clock.
    pub fn advance(&mut self, secs: u64) {
        self.time += secs;
    }

    /// Expiry (ms) `secs` seconds from now.
    pub fn expiry_in(&self, secs: u64) -> u64 {
        (self.time + secs) * 1000
    }
}

/// Well-known participants.
pub fn admin() -> Address {
    Address::repeat_byte(0xad)
}
/// A trading contract on the spoke (an EOA stands in: only its address is checked).
pub fn trader() -> Address {
    Address::repeat_byte(0x7a)
}
/// A relayer with no role.
pub fn relayer() -> Address {
    Address::repeat_byte(0x8e)
}

/// Guardian keys g0, g1, g2.
pub fn guardian_keys() -> Vec<GuardianKey> {
    (0..3)
        .map(|i| GuardianKey::from_label(&format!("guardian-{i}")))
        .collect()
}

/// Signs `digest` with each key (ECDSA, low s).
pub fn sign(keys: &[&GuardianKey], digest: &B256) -> Vec<Bytes> {
    keys.iter()
        .map(|k| k.sign(Scheme::Ecdsa, digest).unwrap())
        .collect()
}

/// A hub chain with token and hub, and a spoke chain with a spoke, both 2-of-3 guardians.
pub struct World {
    pub hub_chain: Chain,
    pub spoke_chain: Chain,
    pub token: Address,
    pub hub: Address,
    pub spoke: Address,
    pub keys: Vec<GuardianKey>,
    pub gas_deploy: Vec<(&'static str, u64)>,
}

/// Hub chain id.
pub const HUB_CHAIN: u64 = 31_337;
/// Spoke chain id.
pub const SPOKE_CHAIN: u64 = 31_338;

impl World {
    /// Deploys everything; no limits set (buckets disabled) unless a test sets them.
    pub fn new() -> World {
        let keys = guardian_keys();
        let gs: Vec<Address> = keys.iter().map(|k| k.address()).collect();
        let mut hub_chain = Chain::new(HUB_CHAIN);
        let mut spoke_chain = Chain::new(SPOKE_CHAIN);
        let mut gas_deploy = Vec::new();
        let (token, g) = hub_chain.deploy(
            admin(),
            TOKEN_BIN,
            ("Test USD".to_string(), "TUSD".to_string(), U256::from(6)).abi_encode_params(),
        );
        gas_deploy.push(("deploy TestToken", g));
        let (hub, g) = hub_chain.deploy(
            admin(),
            HUB_BIN,
            (token, gs.clone(), U256::from(2), admin()).abi_encode_params(),
        );
        gas_deploy.push(("deploy MarginHub", g));
        // Spoke deployed by another key so its address differs from the hub's.
        let (spoke, g) = spoke_chain.deploy(
            Address::repeat_byte(0x5d),
            SPOKE_BIN,
            (U256::from(HUB_CHAIN), gs, U256::from(2), admin()).abi_encode_params(),
        );
        gas_deploy.push(("deploy MarginSpoke", g));
        hub_chain
            .send(
                admin(),
                hub,
                IHub::setSpokeCall {
                    spokeChainId: U256::from(SPOKE_CHAIN),
                    spoke,
                    capacity: u128::MAX / 4,
                    ratePerSecond: 0,
                },
            )
            .ok();
        spoke_chain
            .send(
                admin(),
                spoke,
                ISpoke::setTraderCall {
                    trader: trader(),
                    allowed: true,
                },
            )
            .ok();
        World {
            hub_chain,
            spoke_chain,
            token,
            hub,
            spoke,
            keys,
            gas_deploy,
        }
    }

    /// Mints `amount` to `account` and deposits it at the hub (sent by `account`).
    pub fn fund(&mut self, account: Address, amount: u128) -> Outcome {
        let (hub, token) = (self.hub, self.token);
        self.hub_chain
            .send(
                account,
                token,
                IToken::mintCall {
                    to: account,
                    amount: U256::from(amount),
                },
            )
            .ok();
        self.hub_chain
            .send(
                account,
                token,
                IToken::approveCall {
                    spender: hub,
                    amount: U256::MAX,
                },
            )
            .ok();
        self.hub_chain.send(
            account,
            hub,
            IHub::depositCall {
                account,
                token,
                amount: U256::from(amount),
            },
        )
    }

    /// Locks a credit at the hub for `account` on the spoke chain; returns (outcome, credit).
    pub fn lock(&mut self, account: Address, amount: u128, secs: u64) -> (Outcome, MarginCredit) {
        let expiry = self.hub_chain.expiry_in(secs);
        let out = self.hub_chain.send(
            account,
            self.hub,
            IHub::lockCreditCall {
                spokeChainId: U256::from(SPOKE_CHAIN),
                amount: U256::from(amount),
                expiry,
            },
        );
        let nonce = self.hub_chain.word(
            self.hub,
            IHub::creditNonceCall {
                account,
                spokeChainId: U256::from(SPOKE_CHAIN),
            },
        );
        let version = self
            .hub_chain
            .word(self.hub, IHub::stateVersionCall { account });
        let credit = MarginCredit {
            account,
            spokeChainId: U256::from(SPOKE_CHAIN),
            amount: U256::from(amount),
            nonce: nonce.to::<u64>(),
            expiry,
            hubStateVersion: version.to::<u64>(),
        };
        (out, credit)
    }

    /// The spoke-domain digest of a credit (the crate's hashing).
    pub fn credit_digest(&self, c: &MarginCredit) -> B256 {
        Payload::MarginCredit(c.clone()).signing_hash(&domain(SPOKE_CHAIN, self.spoke))
    }

    /// Submits a credit to the spoke with the given signatures.
    pub fn accept(&mut self, c: &MarginCredit, sigs: Vec<Bytes>) -> Outcome {
        let spoke = self.spoke;
        self.spoke_chain.send(
            relayer(),
            spoke,
            ISpoke::acceptCreditCall {
                payload: c.abi_encode().into(),
                signatures: sigs,
            },
        )
    }

    /// Signs a credit with guardians `idx` and submits it.
    pub fn accept_signed(&mut self, c: &MarginCredit, idx: &[usize]) -> Outcome {
        let d = self.credit_digest(c);
        let ks: Vec<&GuardianKey> = idx.iter().map(|&i| &self.keys[i]).collect();
        let sigs = sign(&ks, &d);
        self.accept(c, sigs)
    }

    /// A withdrawal permit for the account's current state version.
    pub fn permit(
        &mut self,
        account: Address,
        recipient: Address,
        amount: u128,
        nonce: u64,
    ) -> WithdrawalPermit {
        let version = self
            .hub_chain
            .word(self.hub, IHub::stateVersionCall { account });
        WithdrawalPermit {
            account,
            recipient,
            amount: U256::from(amount),
            nonce,
            expiry: self.hub_chain.expiry_in(600),
            hubStateVersion: version.to::<u64>(),
        }
    }

    /// The hub-domain digest of a permit.
    pub fn permit_digest(&self, p: &WithdrawalPermit) -> B256 {
        Payload::WithdrawalPermit(p.clone()).signing_hash(&domain(HUB_CHAIN, self.hub))
    }

    /// Withdraws with guardians 0 and 1, sent by `from` with `account_sig`.
    pub fn withdraw(&mut self, from: Address, p: &WithdrawalPermit, account_sig: Bytes) -> Outcome {
        let d = self.permit_digest(p);
        let sigs = sign(&[&self.keys[0], &self.keys[1]], &d);
        let hub = self.hub;
        self.hub_chain.send(
            from,
            hub,
            IHub::withdrawCall {
                payload: p.abi_encode().into(),
                signatures: sigs,
                accountSignature: account_sig,
            },
        )
    }

    /// Releases credits up to `credit_nonce` on the spoke (sent by the account) and retires them
    /// at the hub with the guardians' attestation of the spoke's `CreditReleased` event.
    pub fn release_and_retire(
        &mut self,
        account: Address,
        credit_nonce: u64,
    ) -> (Outcome, Outcome) {
        let spoke = self.spoke;
        let rel = self.spoke_chain.send(
            account,
            spoke,
            ISpoke::releaseCreditCall {
                account,
                creditNonce: credit_nonce,
            },
        );
        let Outcome::Ok(_, _, logs) = &rel else {
            return (rel.clone(), rel);
        };
        let topic = keccak256("CreditReleased(address,uint256,uint64,uint256,uint64,uint64)");
        let (_, data) = logs
            .iter()
            .find(|(t, _)| t[0] == topic)
            .expect("CreditReleased event");
        let (chain, nonce, used, height, rnonce) =
            <(U256, u64, U256, u64, u64)>::abi_decode_params(data).expect("event data");
        let release = CreditRelease {
            account,
            spokeChainId: chain,
            creditNonce: nonce,
            used,
            blockHeight: height,
            nonce: rnonce,
        };
        let d = Payload::CreditRelease(release.clone()).signing_hash(&domain(HUB_CHAIN, self.hub));
        let sigs = sign(&[&self.keys[1], &self.keys[2]], &d);
        let hub = self.hub;
        let ret = self.hub_chain.send(
            relayer(),
            hub,
            IHub::retireCreditCall {
                payload: release.abi_encode().into(),
                signatures: sigs,
            },
        );
        (rel, ret)
    }

    /// `creditOf(account)` on the spoke.
    pub fn credit_of(&mut self, account: Address) -> (U256, u64, u64) {
        let out = self
            .spoke_chain
            .view(self.spoke, ISpoke::creditOfCall { account });
        <(U256, u64, u64)>::abi_decode_params(&out).expect("creditOf returns three words")
    }

    /// `collateralOf(account, token)` at the hub.
    pub fn collateral(&mut self, account: Address) -> U256 {
        let (hub, token) = (self.hub, self.token);
        self.hub_chain
            .word(hub, IHub::collateralOfCall { account, token })
    }

    /// `outstandingCredit(account, SPOKE_CHAIN)` at the hub.
    pub fn outstanding(&mut self, account: Address) -> U256 {
        let hub = self.hub;
        self.hub_chain.word(
            hub,
            IHub::outstandingCreditCall {
                account,
                spokeChainId: U256::from(SPOKE_CHAIN),
            },
        )
    }
}
