//! The event loop, the relayer, the attacker and the invariant checker.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use alloy_primitives::{Bytes, B256, U256};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::config::{SimConfig, SpokeConfig};
use crate::error::XchainError;
use crate::guardian::{GuardianKey, GuardianSet};
use crate::hub::{attest, effective, Endpoint, Hub, HubParams};
use crate::messages::{Envelope, MarginCredit, Payload, PositionReport};
use crate::requirement::{Book, RequirementModel};
use crate::spoke::{Spoke, SpokeState};
use crate::unified::SpokeModel;

/// Rejections by reason, as the CLI prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// Nonce not above the last accepted one.
    pub replay: u64,
    /// Delivered after expiry.
    pub expired: u64,
    /// Unparsable signature, failed check, or unknown signer.
    pub bad_signature: u64,
    /// Wrong chain, contract or account.
    pub wrong_domain: u64,
    /// Too few distinct guardians.
    pub no_quorum: u64,
    /// Credit refused by the per-spoke token bucket.
    pub rate_limited: u64,
    /// Malformed payload for the receiver.
    pub malformed: u64,
}

/// Outcome of one simulation run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SimReport {
    /// Seed of the run.
    pub seed: u64,
    /// Messages delivered (including duplicates, replays and forgeries).
    pub messages: u64,
    /// Credits accepted by spokes.
    pub credits: u64,
    /// Rejected messages and credit requests by reason.
    pub rejected: Rejected,
    /// Invariant evaluations (one after every event).
    pub invariant_checks: u64,
    /// Evaluations where the invariant failed.
    pub invariant_violations: u64,
    /// Peak unified requirement of the true book (collateral one hub pool needs).
    pub collateral_hub: u128,
    /// Sum over spokes of each spoke's peak standalone requirement (collateral siloed pools need).
    pub collateral_siloed: u128,
    /// Messages accepted twice in one chain history (must be 0).
    pub replays_accepted: u64,
    /// Whether the final entitled withdrawal was granted in full.
    pub liveness_ok: bool,
    /// Entitled final withdrawal under the true book (base units).
    pub entitled_withdrawal: u128,
    /// What the hub allowed at the end (base units).
    pub hub_max_withdrawable: u128,
    /// Orders executed.
    pub orders_accepted: u64,
    /// Orders refused (credit exhausted or breaker).
    pub orders_rejected: u64,
    /// Credits issued by the hub.
    pub credits_issued: u64,
    /// Withdrawals granted during the run.
    pub withdrawals: u64,
    /// Withdrawals refused during the run.
    pub withdrawals_refused: u64,
    /// Reorgs.
    pub reorgs: u64,
    /// Forgery attempts.
    pub forgeries: u64,
    /// Blocks produced over all spokes.
    pub blocks: u64,
    /// Simulated time at the end (ms).
    pub end_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest {
    Hub,
    Spoke(usize),
}

#[derive(Debug)]
enum Ev {
    Block(usize),
    Deliver(Dest, Box<Envelope>),
    Order(usize),
    Shock,
    BreakerEnd(usize),
    Forge,
    Withdraw,
    Release(usize),
    Finish,
}

struct Item {
    time: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Item {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.seq) == (o.time, o.seq)
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Item {
    fn cmp(&self, o: &Self) -> Ordering {
        // Min-heap on (time, seq).
        (o.time, o.seq).cmp(&(self.time, self.seq))
    }
}

struct Block {
    time: u64,
    state: SpokeState,
    credits: Vec<Envelope>,
}

struct SpokeSim {
    spoke: Spoke<SpokeModel>,
    cfg: SpokeConfig,
    blocks: Vec<Block>,
    pending_credits: Vec<Envelope>,
    last_final: u64,
    accepted: BTreeMap<B256, u64>,
    breaker_until: u64,
    releases_emitted: u64,
    peak: u128,
    underlyings: Vec<String>,
}

struct Issued {
    spoke: usize,
    nonce: u64,
    amount: u128,
    expiry: u64,
}

struct Sim<'a> {
    cfg: &'a SimConfig,
    rng: ChaCha8Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Item>,
    hub: Hub<SpokeModel>,
    spokes: Vec<SpokeSim>,
    signers: Vec<GuardianKey>,
    compromised: Vec<GuardianKey>,
    attacker: GuardianKey,
    stress: BTreeMap<String, f64>,
    marks: BTreeMap<String, f64>,
    issued: Vec<Issued>,
    report: SimReport,
    settle_ms: u64,
}

/// Deterministic simulation keys, derived once per process: key 0 of `sim_keys(0)` is the
/// attacker's own key; `sim_keys(n)` are the n guardians.
fn sim_keys(n: usize) -> Vec<GuardianKey> {
    use std::sync::OnceLock;
    static KEYS: OnceLock<Vec<GuardianKey>> = OnceLock::new();
    const MAX: usize = 16;
    let all = KEYS.get_or_init(|| {
        let mut v = vec![GuardianKey::from_label("intermargin-sim-attacker")];
        v.extend(
            (0..MAX).map(|i| GuardianKey::from_label(&format!("intermargin-sim-guardian-{i}"))),
        );
        v
    });
    if n == 0 {
        return all[..1].to_vec();
    }
    if n <= MAX {
        return all[1..=n].to_vec();
    }
    (0..n)
        .map(|i| GuardianKey::from_label(&format!("intermargin-sim-guardian-{i}")))
        .collect()
}

fn exp_sample(rng: &mut ChaCha8Rng, mean: u64) -> u64 {
    if mean == 0 {
        return 0;
    }
    let u: f64 = rng.gen::<f64>();
    let x = -(1.0 - u).ln() * mean as f64;
    (x.min(10.0 * mean as f64)) as u64
}

/// Runs one simulation of `cfg` with `seed`. Errors only on an invalid configuration.
pub fn run(cfg: &SimConfig, seed: u64) -> Result<SimReport, XchainError> {
    cfg.validate()?;
    let mut sim = Sim::new(cfg, seed)?;
    sim.start()?;
    let quiet_from = cfg.faults_end_ms.saturating_add(cfg.hub.credit_ttl_ms);
    while let Some(item) = sim.queue.pop() {
        sim.now = item.time;
        let done = matches!(item.ev, Ev::Finish);
        let at_hub = matches!(item.ev, Ev::Deliver(Dest::Hub, _));
        sim.handle(item.ev)?;
        sim.check();
        if done {
            break;
        }
        // Once every credit has expired, the run can end as soon as the hub grants the full
        // entitlement: nothing later can change the hub's bound except further reports.
        if at_hub && sim.now >= quiet_from {
            let (entitled, max) = sim.entitlement()?;
            if max >= entitled {
                sim.on_finish()?;
                sim.check();
                break;
            }
        }
    }
    sim.report.end_ms = sim.now;
    Ok(sim.report)
}

impl<'a> Sim<'a> {
    fn new(cfg: &'a SimConfig, seed: u64) -> Result<Sim<'a>, XchainError> {
        let g = &cfg.guardians;
        let keys = sim_keys(g.n);
        let set = GuardianSet::from_keys(&keys, g.threshold, g.scheme)?;
        let compromised = keys[..cfg.faults.compromised_guardians].to_vec();
        let signers = keys[..g.threshold].to_vec();
        let stress: BTreeMap<String, f64> = cfg
            .prices
            .iter()
            .map(|(u, p)| (u.clone(), p.stress))
            .collect();
        let marks = cfg
            .prices
            .iter()
            .map(|(u, p)| (u.clone(), p.start))
            .collect();
        let endpoints: Vec<Endpoint> = cfg
            .spokes
            .iter()
            .map(|s| Endpoint {
                chain_id: s.chain_id,
                contract: s.contract,
            })
            .collect();
        let params = HubParams {
            hub: Endpoint {
                chain_id: cfg.hub.chain_id,
                contract: cfg.hub.contract,
            },
            account: cfg.account,
            haircut_bps: cfg.hub.haircut_bps,
            credit_ttl_ms: cfg.hub.credit_ttl_ms,
            rate_capacity: cfg.hub.rate_capacity as u128,
            rate_window_ms: cfg.hub.rate_window_ms,
            stress_prices: stress.clone(),
            spokes: endpoints.clone(),
            ignore_outstanding_credits: cfg.testing.ignore_outstanding_credits,
        };
        let hub = Hub::new(
            params,
            cfg.model,
            signers.clone(),
            set.clone(),
            cfg.hub.collateral as u128,
        )?;
        let spokes = cfg
            .spokes
            .iter()
            .zip(endpoints)
            .map(|(sc, e)| SpokeSim {
                spoke: Spoke::new(
                    e,
                    cfg.account,
                    set.clone(),
                    cfg.model,
                    stress.clone(),
                    cfg.model.size_decimals(),
                    cfg.model.collateral_decimals(),
                ),
                cfg: sc.clone(),
                blocks: vec![Block {
                    time: 0,
                    state: SpokeState::default(),
                    credits: Vec::new(),
                }],
                pending_credits: Vec::new(),
                last_final: 0,
                accepted: BTreeMap::new(),
                breaker_until: 0,
                releases_emitted: 0,
                peak: 0,
                underlyings: sc.bias.keys().cloned().collect(),
            })
            .collect::<Vec<_>>();
        let f = &cfg.faults;
        let worst_latency = cfg
            .spokes
            .iter()
            .map(|s| s.latency_min_ms + 11 * s.latency_mean_ms)
            .max()
            .unwrap_or(0);
        let worst_report = cfg
            .spokes
            .iter()
            .map(|s| (s.finality_blocks + s.report_every_blocks + 2) * s.block_time_ms)
            .max()
            .unwrap_or(0);
        let settle_ms =
            cfg.hub.credit_ttl_ms + worst_report + 2 * worst_latency + f.withhold_ms + 1_000;
        Ok(Sim {
            cfg,
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            hub,
            spokes,
            signers,
            compromised,
            attacker: sim_keys(0)[0].clone(),
            stress,
            marks,
            issued: Vec::new(),
            report: SimReport {
                seed,
                ..SimReport::default()
            },
            settle_ms,
        })
    }

    fn faulty(&self) -> bool {
        self.now < self.cfg.faults_end_ms
    }

    fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Item {
            time: at,
            seq: self.seq,
            ev,
        });
    }

    fn start(&mut self) -> Result<(), XchainError> {
        let f = self.cfg.faults.clone();
        for i in 0..self.spokes.len() {
            let bt = self.spokes[i].cfg.block_time_ms;
            let oe = self.spokes[i].cfg.order_every_ms;
            let first_block = self.rng.gen_range(1..=bt);
            self.schedule(first_block, Ev::Block(i));
            let t = exp_sample(&mut self.rng, oe) + 1;
            self.schedule(t, Ev::Order(i));
            if f.release_every_ms > 0 {
                let t = exp_sample(&mut self.rng, f.release_every_ms) + 1;
                self.schedule(t, Ev::Release(i));
            }
            self.maybe_issue_credit(i)?;
        }
        if f.shock_every_ms > 0 {
            let t = exp_sample(&mut self.rng, f.shock_every_ms) + 1;
            self.schedule(t, Ev::Shock);
        }
        if f.forge_every_ms > 0 {
            let t = exp_sample(&mut self.rng, f.forge_every_ms) + 1;
            self.schedule(t, Ev::Forge);
        }
        if self.cfg.hub.withdrawal_every_ms > 0 {
            let t = exp_sample(&mut self.rng, self.cfg.hub.withdrawal_every_ms) + 1;
            self.schedule(t, Ev::Withdraw);
        }
        let end = self.cfg.faults_end_ms + self.settle_ms;
        self.schedule(end, Ev::Finish);
        Ok(())
    }

    fn latency(&mut self, spoke: usize) -> u64 {
        let (min, mean) = (
            self.spokes[spoke].cfg.latency_min_ms,
            self.spokes[spoke].cfg.latency_mean_ms,
        );
        if self.faulty() {
            min + exp_sample(&mut self.rng, mean)
        } else {
            min + mean
        }
    }

    /// The relayer: delivers `env` to `dest`, with faults while the fault phase lasts.
    fn send(&mut self, dest: Dest, mut env: Envelope, via: usize) {
        let f = self.cfg.faults.clone();
        let faulty = self.faulty();
        if faulty && self.rng.gen_bool(f.drop) {
            return;
        }
        if faulty && !env.signatures.is_empty() && self.rng.gen_bool(f.corrupt) {
            let i = self.rng.gen_range(0..env.signatures.len());
            let mut b = env.signatures[i].to_vec();
            if self.rng.gen_bool(0.5) {
                b.truncate(64);
            } else if let Some(v) = b.last_mut() {
                *v = 5;
            }
            env.signatures[i] = Bytes::from(b);
        }
        let mut dest = dest;
        if faulty
            && matches!(env.payload, Payload::MarginCredit(_))
            && self.spokes.len() > 1
            && self.rng.gen_bool(f.misroute)
        {
            if let Dest::Spoke(i) = dest {
                let j = (i + self.rng.gen_range(1..self.spokes.len())) % self.spokes.len();
                dest = Dest::Spoke(j);
            }
        }
        let mut delay = self.latency(via);
        if faulty && self.rng.gen_bool(f.withhold) {
            delay += f.withhold_ms;
        }
        let now = self.now;
        if faulty && self.rng.gen_bool(f.duplicate) {
            let d2 = self.latency(via);
            self.schedule(now + d2, Ev::Deliver(dest, Box::new(env.clone())));
        }
        if faulty && self.rng.gen_bool(f.replay) {
            let later = delay + self.rng.gen_range(0..=2 * self.cfg.hub.credit_ttl_ms);
            self.schedule(now + later, Ev::Deliver(dest, Box::new(env.clone())));
        }
        self.schedule(now + delay, Ev::Deliver(dest, Box::new(env)));
    }

    fn reject(&mut self, e: &XchainError) {
        let r = &mut self.report.rejected;
        match e {
            XchainError::Replay { .. } => r.replay += 1,
            XchainError::Expired { .. } => r.expired += 1,
            XchainError::BadSignature { .. } | XchainError::UnknownSigner { .. } => {
                r.bad_signature += 1
            }
            XchainError::WrongDomain { .. }
            | XchainError::WrongAccount { .. }
            | XchainError::UnknownSpoke(_) => r.wrong_domain += 1,
            XchainError::NoQuorum { .. } => r.no_quorum += 1,
            XchainError::RateLimited { .. } => r.rate_limited += 1,
            _ => r.malformed += 1,
        }
    }

    fn handle(&mut self, ev: Ev) -> Result<(), XchainError> {
        match ev {
            Ev::Block(i) => self.on_block(i)?,
            Ev::Deliver(dest, env) => self.on_deliver(dest, &env)?,
            Ev::Order(i) => self.on_order(i),
            Ev::Shock => self.on_shock()?,
            Ev::BreakerEnd(i) => {
                if self.now >= self.spokes[i].breaker_until {
                    self.spokes[i].spoke.state.paused = false;
                    let id = self.spokes[i].cfg.chain_id;
                    self.hub.set_paused(id, false)?;
                }
            }
            Ev::Forge => self.on_forge()?,
            Ev::Withdraw => self.on_withdraw()?,
            Ev::Release(i) => {
                if self.faulty() {
                    self.spokes[i].spoke.release_active();
                    let t =
                        self.now + 1 + exp_sample(&mut self.rng, self.cfg.faults.release_every_ms);
                    self.schedule(t, Ev::Release(i));
                }
            }
            Ev::Finish => self.on_finish()?,
        }
        Ok(())
    }

    fn on_block(&mut self, i: usize) -> Result<(), XchainError> {
        let now = self.now;
        let s = &mut self.spokes[i];
        let credits = std::mem::take(&mut s.pending_credits);
        s.blocks.push(Block {
            time: now,
            state: s.spoke.state.clone(),
            credits,
        });
        self.report.blocks += 1;
        let f = self.cfg.faults.clone();
        if self.faulty() && f.reorg_max_depth > 0 && self.rng.gen_bool(f.reorg) {
            let s = &self.spokes[i];
            let tip = s.blocks.len() as u64 - 1;
            let room = tip - s.last_final;
            let depth = self.rng.gen_range(1..=f.reorg_max_depth).min(room);
            if depth > 0 {
                let s = &mut self.spokes[i];
                let keep = s.blocks.len() - depth as usize;
                let dropped = s.blocks.split_off(keep);
                s.spoke.state = s.blocks[keep - 1].state.clone();
                let new_tip = keep as u64 - 1;
                s.accepted.retain(|_, h| *h <= new_tip);
                self.report.reorgs += 1;
                for b in dropped {
                    for env in b.credits {
                        self.send(Dest::Spoke(i), env, i);
                    }
                }
            }
        }
        // Finality: guardians attest reports and releases of newly final blocks.
        let s = &self.spokes[i];
        let tip = s.blocks.len() as u64 - 1;
        let fin = tip.saturating_sub(s.cfg.finality_blocks);
        let mut out = Vec::new();
        let mut emitted = s.releases_emitted;
        for h in (s.last_final + 1)..=fin {
            let b = &s.blocks[h as usize];
            if h % s.cfg.report_every_blocks == 0 {
                out.push(Payload::PositionReport(
                    s.spoke.report_of(&b.state, h, b.time),
                ));
            }
            for r in &b.state.releases {
                if r.nonce > emitted {
                    out.push(Payload::CreditRelease(s.spoke.release_of(r, h)));
                    emitted = r.nonce;
                }
            }
        }
        let hub_ep = self.hub.params().hub;
        let scheme = self.cfg.guardians.scheme;
        {
            let s = &mut self.spokes[i];
            s.last_final = s.last_final.max(fin);
            s.releases_emitted = emitted;
        }
        for p in out {
            let env = attest(&self.signers, scheme, hub_ep, p)?;
            self.send(Dest::Hub, env, i);
        }
        let bt = self.spokes[i].cfg.block_time_ms;
        self.schedule(now + bt, Ev::Block(i));
        Ok(())
    }

    fn on_deliver(&mut self, dest: Dest, env: &Envelope) -> Result<(), XchainError> {
        self.report.messages += 1;
        match dest {
            Dest::Hub => {
                let res = match &env.payload {
                    Payload::PositionReport(_) => self.hub.on_report(env),
                    Payload::CreditRelease(_) => self.hub.on_release(env),
                    other => Err(XchainError::malformed(
                        "payload.type",
                        format!("hub does not accept {}", other.kind()),
                    )),
                };
                match res {
                    Ok(id) => {
                        if matches!(env.payload, Payload::PositionReport(_)) {
                            if let Some(i) = self.spokes.iter().position(|s| s.cfg.chain_id == id) {
                                self.maybe_issue_credit(i)?;
                            }
                        }
                    }
                    Err(e) => self.reject(&e),
                }
            }
            Dest::Spoke(i) => {
                let now = self.now;
                let res = match &env.payload {
                    Payload::MarginCredit(_) => self.spokes[i].spoke.accept_credit(env, now),
                    other => Err(XchainError::malformed(
                        "payload.type",
                        format!("spoke does not accept {}", other.kind()),
                    )),
                };
                match res {
                    Ok(_) => {
                        self.report.credits += 1;
                        let s = &mut self.spokes[i];
                        let digest = env.digest();
                        let pending_height = s.blocks.len() as u64;
                        if s.accepted.insert(digest, pending_height).is_some() {
                            self.report.replays_accepted += 1;
                        }
                        s.pending_credits.push(env.clone());
                    }
                    Err(e) => self.reject(&e),
                }
            }
        }
        Ok(())
    }

    fn maybe_issue_credit(&mut self, i: usize) -> Result<(), XchainError> {
        if !self.faulty() {
            return Ok(());
        }
        let id = self.spokes[i].cfg.chain_id;
        let now = self.now;
        let size = self.cfg.hub.credit_size as u128;
        let ttl = self.cfg.hub.credit_ttl_ms;
        let Some(l) = self.hub.ledger(id) else {
            return Err(XchainError::UnknownSpoke(id));
        };
        if l.paused || l.has_pending_credit(now) {
            return Ok(());
        }
        if let Some(r) = &l.report {
            if let Some(c) = l.credits.get(&r.credit_nonce) {
                let left = c.amount.saturating_sub(r.credit_used);
                if !r.credit_void && c.expiry_ms > now + ttl / 2 && left >= size / 2 {
                    return Ok(());
                }
            }
        }
        let free = self.hub.free()?;
        let amount = size.min(free);
        if amount == 0 || amount < size / 4 {
            return Ok(());
        }
        match self.hub.issue_credit(id, amount, now) {
            Ok(env) => {
                if let Payload::MarginCredit(c) = &env.payload {
                    self.issued.push(Issued {
                        spoke: i,
                        nonce: c.nonce,
                        amount,
                        expiry: c.expiry,
                    });
                }
                self.report.credits_issued += 1;
                self.send(Dest::Spoke(i), env, i);
            }
            Err(e) => self.reject(&e),
        }
        Ok(())
    }

    fn on_order(&mut self, i: usize) {
        if !self.faulty() {
            return;
        }
        let s = &self.spokes[i];
        let n = s.underlyings.len();
        let u = s.underlyings[self.rng.gen_range(0..n)].clone();
        let bias = s.cfg.bias.get(&u).copied().unwrap_or(0.0);
        let max = s.cfg.max_order;
        let up = self.rng.gen_bool(((1.0 + bias) / 2.0).clamp(0.0, 1.0));
        let size = self.rng.gen_range(1..=max) as i128;
        let delta = if up { size } else { -size };
        let price = self.marks.get(&u).copied().unwrap_or(1.0);
        let now = self.now;
        match self.spokes[i].spoke.submit_order(&u, delta, price, now) {
            Ok(_) => self.report.orders_accepted += 1,
            Err(_) => self.report.orders_rejected += 1,
        }
        let t = now + 1 + exp_sample(&mut self.rng, self.spokes[i].cfg.order_every_ms);
        self.schedule(t, Ev::Order(i));
    }

    fn on_shock(&mut self) -> Result<(), XchainError> {
        if !self.faulty() {
            return Ok(());
        }
        let f = self.cfg.faults.clone();
        let names: Vec<String> = self.marks.keys().cloned().collect();
        let u = names[self.rng.gen_range(0..names.len())].clone();
        let x = if f.shock_max > 0.0 {
            self.rng.gen_range(-f.shock_max..=f.shock_max)
        } else {
            0.0
        };
        let pc = &self.cfg.prices[&u];
        let (lo, hi) = (pc.start * (1.0 - pc.band), pc.start * (1.0 + pc.band));
        if let Some(m) = self.marks.get_mut(&u) {
            *m = (*m * (1.0 + x)).clamp(lo, hi);
        }
        if f.breaker_threshold > 0.0 && x.abs() >= f.breaker_threshold {
            let until = self.now + f.breaker_ms;
            for i in 0..self.spokes.len() {
                if self.spokes[i].cfg.bias.contains_key(&u) {
                    self.spokes[i].spoke.state.paused = true;
                    self.spokes[i].breaker_until = until;
                    let id = self.spokes[i].cfg.chain_id;
                    self.hub.set_paused(id, true)?;
                    self.schedule(until, Ev::BreakerEnd(i));
                }
            }
        }
        let t = self.now + 1 + exp_sample(&mut self.rng, f.shock_every_ms);
        self.schedule(t, Ev::Shock);
        Ok(())
    }

    /// The attacker signs with the compromised keys (below quorum), padded with its own key or
    /// with duplicates of a compromised signature, and submits directly.
    fn forged_signatures(&mut self, digest: &B256) -> Result<Vec<Bytes>, XchainError> {
        let scheme = self.cfg.guardians.scheme;
        let mut sigs = Vec::new();
        for k in &self.compromised {
            sigs.push(k.sign(scheme, digest)?);
        }
        match self.rng.gen_range(0..3) {
            0 => sigs.push(self.attacker.sign(scheme, digest)?),
            1 => {
                if let Some(first) = sigs.first().cloned() {
                    while sigs.len() < self.cfg.guardians.threshold {
                        sigs.push(first.clone());
                    }
                }
            }
            _ => {}
        }
        Ok(sigs)
    }

    fn on_forge(&mut self) -> Result<(), XchainError> {
        if !self.faulty() {
            return Ok(());
        }
        self.report.forgeries += 1;
        let i = self.rng.gen_range(0..self.spokes.len());
        let id = self.spokes[i].cfg.chain_id;
        let now = self.now;
        if self.rng.gen_bool(0.5) {
            let ep = self.spokes[i].spoke.endpoint();
            let payload = Payload::MarginCredit(MarginCredit {
                account: self.cfg.account,
                spokeChainId: U256::from(id),
                amount: U256::from((self.cfg.hub.collateral as u128).saturating_mul(10)),
                nonce: self.spokes[i].spoke.state.last_credit_nonce + 1,
                expiry: now + self.cfg.hub.credit_ttl_ms,
                hubStateVersion: self.hub.version(),
            });
            let mut env = Envelope {
                chain_id: ep.chain_id,
                verifying_contract: ep.contract,
                payload,
                signatures: Vec::new(),
            };
            env.signatures = self.forged_signatures(&env.digest())?;
            self.schedule(now + 1, Ev::Deliver(Dest::Spoke(i), Box::new(env)));
        } else {
            let ep = self.hub.params().hub;
            let payload = Payload::PositionReport(PositionReport {
                account: self.cfg.account,
                spokeChainId: U256::from(id),
                blockHeight: u64::MAX / 2,
                blockTime: now,
                nonce: u64::MAX / 2,
                positions: Vec::new(),
                realisedPnl: alloy_primitives::I256::ZERO,
                creditNonce: u64::MAX / 2,
                creditUsed: U256::ZERO,
                creditVoid: true,
            });
            let mut env = Envelope {
                chain_id: ep.chain_id,
                verifying_contract: ep.contract,
                payload,
                signatures: Vec::new(),
            };
            env.signatures = self.forged_signatures(&env.digest())?;
            self.schedule(now + 1, Ev::Deliver(Dest::Hub, Box::new(env)));
        }
        let t = now + 1 + exp_sample(&mut self.rng, self.cfg.faults.forge_every_ms);
        self.schedule(t, Ev::Forge);
        Ok(())
    }

    fn on_withdraw(&mut self) -> Result<(), XchainError> {
        if !self.faulty() {
            return Ok(());
        }
        let max = (self.hub.collateral() / 20).max(1);
        let w = self.rng.gen_range(1..=max);
        match self.hub.withdraw(w, self.cfg.account, self.now) {
            Ok(_) => self.report.withdrawals += 1,
            Err(XchainError::InsufficientFree { .. }) => self.report.withdrawals_refused += 1,
            Err(e) => return Err(e),
        }
        let t = self.now + 1 + exp_sample(&mut self.rng, self.cfg.hub.withdrawal_every_ms);
        self.schedule(t, Ev::Withdraw);
        Ok(())
    }

    fn true_book(&self) -> Book {
        self.spokes
            .iter()
            .map(|s| (s.cfg.chain_id, s.spoke.state.positions.clone()))
            .collect()
    }

    /// (entitled withdrawal under the true book, what the hub would grant now).
    fn entitlement(&self) -> Result<(u128, u128), XchainError> {
        let r = self
            .cfg
            .model
            .requirement(&self.true_book(), &self.stress)?;
        let keep = 10_000u128 - self.cfg.hub.haircut_bps as u128;
        let need = (r * 10_000).div_ceil(keep);
        let entitled = self.hub.collateral().saturating_sub(need);
        Ok((entitled, self.hub.max_withdrawable()?))
    }

    fn on_finish(&mut self) -> Result<(), XchainError> {
        let (entitled, max) = self.entitlement()?;
        self.report.entitled_withdrawal = entitled;
        self.report.hub_max_withdrawable = max;
        self.report.liveness_ok = max >= entitled
            && (entitled == 0
                || self
                    .hub
                    .withdraw(entitled, self.cfg.account, self.now)
                    .is_ok());
        Ok(())
    }

    /// The omniscient invariant check on the true state.
    fn check(&mut self) {
        self.report.invariant_checks += 1;
        let now = self.now;
        let model = self.cfg.model;
        let total = (|| -> Result<u128, XchainError> {
            let parts: Vec<(u64, &crate::requirement::Positions)> = self
                .spokes
                .iter()
                .map(|s| (s.cfg.chain_id, &s.spoke.state.positions))
                .collect();
            let unified = model.requirement_parts(&parts, &self.stress)?;
            let mut peaks = Vec::with_capacity(parts.len());
            for part in &parts {
                peaks.push(model.requirement_parts(std::slice::from_ref(part), &self.stress)?);
            }
            drop(parts);
            self.report.collateral_hub = self.report.collateral_hub.max(unified);
            let mut total = unified;
            for (s, p) in self.spokes.iter_mut().zip(peaks) {
                s.peak = s.peak.max(p);
                total += s
                    .spoke
                    .state
                    .active
                    .as_ref()
                    .map_or(0, |a| a.remaining(now));
            }
            self.issued.retain(|c| c.expiry > now);
            for c in &self.issued {
                if c.nonce > self.spokes[c.spoke].spoke.state.last_credit_nonce {
                    total += c.amount;
                }
            }
            Ok(total)
        })();
        let eff = effective(self.hub.collateral(), self.cfg.hub.haircut_bps);
        match total {
            Ok(t) if t <= eff => {}
            _ => self.report.invariant_violations += 1,
        }
        self.report.collateral_siloed = self.spokes.iter().map(|s| s.peak).sum();
    }
}
