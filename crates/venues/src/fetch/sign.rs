//! Request signing as each venue documents it. Pure functions of their inputs, so each can be
//! checked against the venue's own printed example.

use base64::Engine;
use chrono::{DateTime, SecondsFormat};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::VenueError;

/// HMAC-SHA256 of `msg` under `key` (RFC 2104; any key length is valid).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Result<[u8; 32], VenueError> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|e| VenueError::Unsupported(format!("HMAC key rejected: {e}")))?;
    mac.update(msg);
    Ok(mac.finalize().into_bytes().into())
}

/// Binance: lowercase hex HMAC-SHA256 of the total parameter string (query string, then body)
/// under the secret key; sent as the `signature` parameter with `X-MBX-APIKEY`.
pub fn binance_signature(secret: &str, total_params: &str) -> Result<String, VenueError> {
    Ok(hex::encode(hmac_sha256(
        secret.as_bytes(),
        total_params.as_bytes(),
    )?))
}

/// OKX: the string signed is `timestamp + METHOD + requestPath(+?query) + body`.
pub fn okx_prehash(timestamp: &str, method: &str, request_path: &str, body: &str) -> String {
    format!(
        "{timestamp}{}{request_path}{body}",
        method.to_ascii_uppercase()
    )
}

/// OKX: `OK-ACCESS-SIGN` = Base64(HMAC-SHA256(prehash, secret)).
pub fn okx_signature(
    secret: &str,
    timestamp: &str,
    method: &str,
    request_path: &str,
    body: &str,
) -> Result<String, VenueError> {
    let mac = hmac_sha256(
        secret.as_bytes(),
        okx_prehash(timestamp, method, request_path, body).as_bytes(),
    )?;
    Ok(base64::engine::general_purpose::STANDARD.encode(mac))
}

/// OKX `OK-ACCESS-TIMESTAMP`: ISO 8601 UTC with milliseconds (`2020-12-08T09:08:57.715Z`).
pub fn okx_timestamp(ms: i64) -> Result<String, VenueError> {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .ok_or_else(|| VenueError::Unsupported(format!("timestamp {ms} ms out of range")))
}

/// Bybit v5: the string signed is `timestamp + api_key + recv_window + (queryString | body)`.
pub fn bybit_prehash(timestamp: i64, api_key: &str, recv_window: u64, payload: &str) -> String {
    format!("{timestamp}{api_key}{recv_window}{payload}")
}

/// Bybit v5: `X-BAPI-SIGN` = lowercase hex HMAC-SHA256 of the prehash under the secret.
pub fn bybit_signature(
    secret: &str,
    timestamp: i64,
    api_key: &str,
    recv_window: u64,
    payload: &str,
) -> Result<String, VenueError> {
    Ok(hex::encode(hmac_sha256(
        secret.as_bytes(),
        bybit_prehash(timestamp, api_key, recv_window, payload).as_bytes(),
    )?))
}

/// OKX WebSocket `login`: `sign` = Base64(HMAC-SHA256(secret, timestamp + "GET" +
/// "/users/self/verify")), the timestamp in Unix seconds (docs-v5 "WebSocket / Login").
pub fn okx_ws_login_sign(secret: &str, timestamp_secs: &str) -> Result<String, VenueError> {
    okx_signature(secret, timestamp_secs, "GET", "/users/self/verify", "")
}

/// Bybit v5 WebSocket `auth`: lowercase hex HMAC-SHA256(secret, "GET/realtime" + expires), with
/// `expires` a future UTC timestamp in ms (docs v5 "WebSocket Connect / Authentication").
pub fn bybit_ws_auth_signature(secret: &str, expires_ms: i64) -> Result<String, VenueError> {
    Ok(hex::encode(hmac_sha256(
        secret.as_bytes(),
        format!("GET/realtime{expires_ms}").as_bytes(),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?"
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?").unwrap();
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn binance_spot_docs_example_signature() {
        // https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security
        // ("SIGNED Endpoint Examples for POST /api/v3/order", HMAC keys, example 1).
        let secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let q = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(
            binance_signature(secret, q).unwrap(),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
    }

    #[test]
    fn binance_usdm_futures_docs_example_signature() {
        // https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
        // ("SIGNED Endpoint Examples for POST /fapi/v1/order", example 1: as a query string).
        let secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";
        let q = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943";
        assert_eq!(
            binance_signature(secret, q).unwrap(),
            "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
        );
    }

    #[test]
    fn okx_docs_example_inputs() {
        // https://www.okx.com/docs-v5/en/#overview-rest-authentication-signature prints the recipe
        // `sign = Base64(HmacSHA256(timestamp + 'GET' + '/users/self/verify', SecretKey))` with
        // example timestamp 2020-12-08T09:08:57.715Z and SecretKey 22582BD0CFF14C41EDBF1AB98506286D,
        // but no resulting signature. The expected values come from an independent
        // implementation, Python 3's hmac/base64:
        //   base64.b64encode(hmac.new(b'22582BD0CFF14C41EDBF1AB98506286D',
        //       b'2020-12-08T09:08:57.715ZGET/users/self/verify', hashlib.sha256).digest())
        let ts = okx_timestamp(1_607_418_537_715).unwrap();
        assert_eq!(ts, "2020-12-08T09:08:57.715Z");
        let secret = "22582BD0CFF14C41EDBF1AB98506286D";
        assert_eq!(
            okx_signature(secret, &ts, "get", "/users/self/verify", "").unwrap(),
            "vPTGlFn/TNqBMlYCAIlx+GAQO0sl7Iz8OyCpDrUUcbk="
        );
        assert_eq!(
            okx_signature(secret, &ts, "GET", "/api/v5/account/balance?ccy=BTC", "").unwrap(),
            "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="
        );
    }

    #[test]
    fn bybit_docs_example_prehash_and_signature() {
        // https://bybit-exchange.github.io/docs/v5/guide ("An example for how to generate plain
        // text to encrypt", GET): param_str
        // "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C".
        // The page masks the key and the signature (XXXXXXXXXX), so the signature is checked
        // against Python 3's hmac with secret "XXXXXXXXXX":
        //   hmac.new(b'XXXXXXXXXX', param_str, hashlib.sha256).hexdigest()
        let q = "category=option&symbol=BTC-29JUL22-25000-C";
        assert_eq!(
            bybit_prehash(1_658_384_314_791, "XXXXXXXXXX", 5000, q),
            "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
        );
        assert_eq!(
            bybit_signature("XXXXXXXXXX", 1_658_384_314_791, "XXXXXXXXXX", 5000, q).unwrap(),
            "c00720f96c5934ca7057ac28ae65b823f83b8b67a8fe784e7795ca0fa3c148ec"
        );
    }

    #[test]
    fn okx_ws_login_docs_example_inputs() {
        // https://www.okx.com/docs-v5/en/#overview-websocket-login: the login request example's
        // timestamp "1538054050" (Unix seconds) and the page's example SecretKey
        // 22582BD0CFF14C41EDBF1AB98506286D; the page's printed sign belongs to an unstated key,
        // so the expected value is Python 3's:
        //   base64.b64encode(hmac.new(b'22582BD0CFF14C41EDBF1AB98506286D',
        //       b'1538054050GET/users/self/verify', hashlib.sha256).digest())
        assert_eq!(
            okx_ws_login_sign("22582BD0CFF14C41EDBF1AB98506286D", "1538054050").unwrap(),
            "+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M="
        );
    }

    #[test]
    fn bybit_ws_auth_docs_example_inputs() {
        // https://bybit-exchange.github.io/docs/v5/ws/connect ("Authentication"): expires
        // 1662350400000 from the auth request example, the recipe
        // hmac.new(api_secret, f"GET/realtime{expires}", "sha256").hexdigest(); the page's
        // secret is blank, so "XXXXXXXXXX" (as the REST example masks it) and Python 3's value:
        //   hmac.new(b'XXXXXXXXXX', b'GET/realtime1662350400000', hashlib.sha256).hexdigest()
        assert_eq!(
            bybit_ws_auth_signature("XXXXXXXXXX", 1_662_350_400_000).unwrap(),
            "3d6cbbfa4569aab894f661add824ff3f06090d0edba388f1e47dc15e6a7b5a8b"
        );
    }
}
