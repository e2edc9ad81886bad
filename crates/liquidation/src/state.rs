//! Account states as predicates on (equity, initial, maintenance), with hysteresis.
//!
//! Order of the gates (mango's `HealthType` order, dYdX's `IsLiquidatable`):
//! `equity < 0` ⇒ bankrupt; `equity < maintenance` ⇒ liquidation; `equity < initial` ⇒ margin
//! call; otherwise healthy. An account already in liquidation stays there until its equity
//! reaches `maintenance × (1 + exit_buffer)` (mango's "liquidation end" health), so a partial
//! close that lands exactly on the maintenance line does not flap in and out.

use serde::{Deserialize, Serialize};

/// The requirement figures every state question is asked of (one currency, risk `f64`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Collateral value plus unrealised P&L.
    pub equity: f64,
    /// Initial requirement.
    pub initial: f64,
    /// Maintenance requirement.
    pub maintenance: f64,
}

impl Figures {
    /// Equity over maintenance (≥ 1 means above maintenance); infinite with no requirement.
    pub fn health_ratio(&self) -> f64 {
        if self.maintenance <= 0.0 {
            if self.equity >= 0.0 {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            }
        } else {
            self.equity / self.maintenance
        }
    }
}

/// Where an account stands; ordered from safest to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    /// Equity covers the initial requirement: may open risk.
    Healthy,
    /// Below initial, above maintenance: may only reduce risk.
    MarginCall,
    /// Below maintenance: liquidators may reduce positions.
    Liquidation,
    /// Equity below zero: positions cannot cover the debt; the waterfall pays the rest.
    Bankrupt,
}

/// Hysteresis applied when leaving the liquidation state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hysteresis {
    /// An account in liquidation leaves it only when equity ≥ maintenance × (1 + exit_buffer).
    pub exit_buffer: f64,
}

impl Default for Hysteresis {
    fn default() -> Self {
        Hysteresis { exit_buffer: 0.05 }
    }
}

/// True when equity is negative: nothing left to liquidate into.
pub fn is_bankrupt(f: &Figures) -> bool {
    f.equity < 0.0
}

/// True when equity is below maintenance (dYdX: `TNC < TMMR`, with a positive requirement).
pub fn is_liquidatable(f: &Figures) -> bool {
    f.maintenance > 0.0 && f.equity < f.maintenance
}

/// True when equity is below the initial requirement.
pub fn is_margin_call(f: &Figures) -> bool {
    f.initial > 0.0 && f.equity < f.initial
}

/// The state with no memory: the first gate that fails.
pub fn classify(f: &Figures) -> AccountState {
    if is_bankrupt(f) {
        AccountState::Bankrupt
    } else if is_liquidatable(f) {
        AccountState::Liquidation
    } else if is_margin_call(f) {
        AccountState::MarginCall
    } else {
        AccountState::Healthy
    }
}

/// The state given the previous one: liquidation is left only above the exit buffer.
pub fn next_state(prev: AccountState, f: &Figures, h: Hysteresis) -> AccountState {
    let now = classify(f);
    if prev >= AccountState::Liquidation
        && now < AccountState::Liquidation
        && f.equity < f.maintenance * (1.0 + h.exit_buffer)
    {
        return AccountState::Liquidation;
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(equity: f64, initial: f64, maintenance: f64) -> Figures {
        Figures {
            equity,
            initial,
            maintenance,
        }
    }

    #[test]
    fn gates_apply_in_order_bankrupt_liquidation_margin_call_healthy() {
        // dYdX docs' isolated example: e=1000, short 3 ETH @3000, MMF 5% → MMR 450, IMR (5%×2=10%) 900.
        assert_eq!(classify(&fig(1000.0, 900.0, 450.0)), AccountState::Healthy);
        assert_eq!(
            classify(&fig(800.0, 900.0, 450.0)),
            AccountState::MarginCall
        );
        assert_eq!(
            classify(&fig(449.0, 900.0, 450.0)),
            AccountState::Liquidation
        );
        assert_eq!(classify(&fig(-1.0, 900.0, 450.0)), AccountState::Bankrupt);
    }

    #[test]
    fn an_account_with_no_requirement_is_healthy_unless_equity_is_negative() {
        assert_eq!(classify(&fig(0.0, 0.0, 0.0)), AccountState::Healthy);
        assert_eq!(classify(&fig(-5.0, 0.0, 0.0)), AccountState::Bankrupt);
    }

    #[test]
    fn liquidation_is_left_only_above_the_exit_buffer() {
        let h = Hysteresis { exit_buffer: 0.1 };
        // 450 × 1.1 = 495: at 480 the account is above maintenance but inside the buffer.
        assert_eq!(
            next_state(AccountState::Liquidation, &fig(480.0, 900.0, 450.0), h),
            AccountState::Liquidation
        );
        assert_eq!(
            next_state(AccountState::Liquidation, &fig(496.0, 900.0, 450.0), h),
            AccountState::MarginCall
        );
        // Coming from healthy, the same 480 is only a margin call.
        assert_eq!(
            next_state(AccountState::Healthy, &fig(480.0, 900.0, 450.0), h),
            AccountState::MarginCall
        );
    }

    #[test]
    fn health_ratio_is_equity_over_maintenance() {
        assert_eq!(fig(900.0, 0.0, 450.0).health_ratio(), 2.0);
        assert!(fig(1.0, 0.0, 0.0).health_ratio().is_infinite());
    }
}
