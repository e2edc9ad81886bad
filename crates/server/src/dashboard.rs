//! The dashboard: one self-contained page (no CDN, works offline) and the plots it shows.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::Shared;

const INDEX: &str = include_str!("../static/index.html");

/// Serves the dashboard page.
pub async fn index() -> Html<&'static str> {
    Html(INDEX)
}

/// The key of a plot request: the `Authorization: Bearer` header, or (images cannot send
/// headers) the dashboard's `im_key` cookie. Only read-only image routes accept the cookie.
fn plot_key(headers: &HeaderMap) -> Option<String> {
    if let Some(k) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(k.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("im_key="))
        .map(str::to_string)
        .next()
}

/// Whether `p` may see the plot file `name`: admins see all; plots of the bundled demo runs are
/// everyone's; any other plot is named after its job and shown only to who may read that job.
fn may_see(st: &Shared, p: &Principal, name: &str) -> bool {
    if p.scope == crate::auth::Scope::Admin || name.starts_with("demo-") {
        return true;
    }
    let job = name.split(['-', '.']).next().unwrap_or_default();
    st.jobs.get(p, job).is_ok()
}

/// Serves a plot written by a simulation into `<data>/plots`, or the list of them (`index.json`),
/// to a key that may read the job that wrote it.
pub async fn plot(
    State(st): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(key) = plot_key(&headers) else {
        return ApiError::Unauthorized(
            "missing Authorization: Bearer <key> header (or im_key cookie)".into(),
        )
        .into_response();
    };
    let p = match st.auth.authenticate(&st.ledger, &key).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let dir = st.data_dir.join("plots");
    if name == "index.json" {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| n.ends_with(".svg") && may_see(&st, &p, n))
                    .take(10_000)
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        return axum::Json(names).into_response();
    }
    let missing = || ApiError::NotFound(format!("plot {name:?} does not exist")).into_response();
    let safe = !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    let ctype = if name.ends_with(".svg") {
        "image/svg+xml"
    } else if name.ends_with(".png") {
        "image/png"
    } else {
        return missing();
    };
    if !safe || !may_see(&st, &p, &name) {
        return missing();
    }
    match std::fs::read(dir.join(&name)) {
        Ok(bytes) => ([(header::CONTENT_TYPE, ctype)], bytes).into_response(),
        Err(_) => missing(),
    }
}
