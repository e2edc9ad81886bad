//! The dashboard: one self-contained page (no CDN, works offline) and the plots it shows.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::state::Shared;

const INDEX: &str = include_str!("../static/index.html");

/// Serves the dashboard page.
pub async fn index() -> Html<&'static str> {
    Html(INDEX)
}

/// Serves a plot written by a simulation into `<data>/plots`, or the list of them (`index.json`).
pub async fn plot(State(st): State<Shared>, Path(name): Path<String>) -> Response {
    let dir = st.data_dir.join("plots");
    if name == "index.json" {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| n.ends_with(".svg"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        return axum::Json(names).into_response();
    }
    let safe = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    let ctype = if name.ends_with(".svg") {
        "image/svg+xml"
    } else if name.ends_with(".png") {
        "image/png"
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !safe {
        return StatusCode::NOT_FOUND.into_response();
    }
    match std::fs::read(dir.join(&name)) {
        Ok(bytes) => ([(header::CONTENT_TYPE, ctype)], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
