//! `/ws`: margin updates and alerts, for the accounts the presented key may see.
//!
//! Browsers cannot set headers on a WebSocket, so the first client message carries the key:
//! `{"auth":"im_…"}`. Until then nothing is sent; a bad key closes the socket.

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use crate::auth::Scope;
use crate::state::Shared;

/// The reason given (in an error message and the close frame, code 1008) when a socket's key is
/// revoked or rotated while it is open.
pub const REVOKED: &str = "API key revoked";

/// Upgrades the connection and serves the feed.
pub async fn upgrade(State(st): State<Shared>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| serve(st, socket))
}

async fn serve(st: Shared, mut socket: WebSocket) {
    let first = match tokio::time::timeout(std::time::Duration::from_secs(10), socket.recv()).await
    {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<serde_json::Value>(&t).ok(),
        _ => None,
    };
    let key = first
        .as_ref()
        .and_then(|v| v["auth"].as_str().map(str::to_string));
    let Some(key) = key else {
        let _ = socket
            .send(Message::Text(
                json!({"type":"error","message":"first message must be {\"auth\":\"<key>\"}"})
                    .to_string()
                    .into(),
            ))
            .await;
        return;
    };
    let principal = match st.auth.authenticate(&st.ledger, &key).await {
        Ok(p) => p,
        Err(e) => {
            let _ = socket
                .send(Message::Text(
                    json!({"type":"error","message":e.to_string()})
                        .to_string()
                        .into(),
                ))
                .await;
            return;
        }
    };
    let mut rx = st.feed.subscribe();
    // Registered while the socket is open: the monitor serialises reports for listeners only.
    let _listening = st.listeners.join(match &principal.scope {
        Scope::Account(a) => Some(a.as_str()),
        _ => None,
    });
    // An account the client follows (`{"subscribe":"<id>"}`, also in the first message): every
    // re-margin of it is serialised for this socket, not only moves beyond the report threshold.
    let mut _following = None;
    if let Some(id) = first.as_ref().and_then(|v| v["subscribe"].as_str()) {
        _following = follow(&st, &principal.scope, id);
    }
    let mut revoked = st.auth.revocations();
    let hello =
        json!({"type":"ready","scope":principal.scope.label(),"role":principal.scope.role()});
    if socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let msg = match msg {
                    Ok(m) => m,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                };
                let (account, text) = (&msg.0, &msg.1);
                let visible = account == "*" || match &principal.scope { Scope::Account(a) => a == account, _ => true };
                if visible && socket.send(Message::Text(text.clone().into())).await.is_err() {
                    return;
                }
            }
            gone = revoked.recv() => {
                // A revoked key is closed at once; a lagged notice list is checked against the ledger.
                let ours = match gone {
                    Ok(id) => id == principal.key_id,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        !matches!(st.ledger.active_key(&principal.key_id).await, Ok(Some(_)))
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                if ours {
                    let _ = socket
                        .send(Message::Text(json!({"type":"error","message":REVOKED}).to_string().into()))
                        .await;
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame {
                            code: close_code::POLICY,
                            reason: REVOKED.into(),
                        })))
                        .await;
                    return;
                }
            }
            incoming = socket.recv() => {
                match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(Message::Text(t))) => {
                        let id = serde_json::from_str::<serde_json::Value>(&t)
                            .ok()
                            .and_then(|v| v["subscribe"].as_str().map(str::to_string));
                        if let Some(id) = id {
                            // The new subscription replaces the old one (one per socket).
                            _following = follow(&st, &principal.scope, &id);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Registers a socket as following one account, if its key may see that account (an account key
/// only its own) and the id is of sane length; otherwise nothing is registered.
fn follow(st: &Shared, scope: &Scope, id: &str) -> Option<crate::state::ListenerGuard> {
    let visible = match scope {
        Scope::Account(a) => a == id,
        _ => true,
    };
    (visible && !id.is_empty() && id.len() <= 128).then(|| st.listeners.join(Some(id)))
}
