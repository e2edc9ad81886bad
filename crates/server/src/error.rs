//! API errors: a stable machine code, an HTTP status, and a message naming the field.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// Every failure the API reports; `code()` is stable for clients to match on.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing or unknown API key.
    #[error("authorization: {0}")]
    Unauthorized(String),
    /// The key is valid but may not touch this resource.
    #[error("{0}")]
    Forbidden(String),
    /// No such account or resource.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed; the message names the field.
    #[error("{field}: {reason}")]
    BadRequest {
        /// Offending field path.
        field: String,
        /// Why.
        reason: String,
    },
    /// The request conflicts with stored state (idempotency key reuse, insufficient balance).
    #[error("{field}: {reason}")]
    Conflict {
        /// Offending field path.
        field: String,
        /// Why.
        reason: String,
    },
    /// Too many requests (or failed attempts); retry after this many seconds.
    #[error("rate limit exceeded; retry after {0} s")]
    RateLimited(u64),
    /// Storage failed; nothing was applied.
    #[error("storage: {0}")]
    Storage(String),
    /// An engine failed on otherwise valid input.
    #[error("{0}")]
    Engine(String),
    /// A node or service the request depends on (an EVM chain's JSON-RPC endpoint) failed.
    #[error("upstream: {0}")]
    Upstream(String),
}

/// The JSON body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Stable code, readable message and, when known, the field at fault.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (`bad_request`, `unauthorized`, …).
    pub code: String,
    /// Human-readable message naming the field and reason.
    pub message: String,
    /// JSON path of the offending field, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// Shorthand for a 400 naming `field`.
    pub fn bad(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Stable code for the error kind.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::Conflict { .. } => "conflict",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Storage(_) => "storage_error",
            ApiError::Engine(_) => "engine_error",
            ApiError::Upstream(_) => "upstream_error",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Engine(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// The JSON body for this error.
    pub fn body(&self) -> ErrorBody {
        let field = match self {
            ApiError::BadRequest { field, .. } | ApiError::Conflict { field, .. } => {
                Some(field.clone())
            }
            _ => None,
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message: self.to_string(),
                field,
            },
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Storage(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status(), Json(self.body())).into_response();
        if let ApiError::RateLimited(secs) = self {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs.max(1)),
            );
        }
        resp
    }
}

/// Rewrites error answers the framework makes itself (413 body too large, 400 bad query string,
/// 404 unknown route, 405 method) into the JSON error format every route uses, and gives any
/// 429 without one a `Retry-After`.
pub async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let mut resp = if is_json {
        resp
    } else {
        let (parts, body) = resp.into_parts();
        let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::TOO_MANY_REQUESTS => "rate_limited",
            StatusCode::REQUEST_TIMEOUT => "timeout",
            s if s.is_server_error() => "server_error",
            _ => "bad_request",
        };
        let mut message = String::from_utf8_lossy(&text).trim().to_string();
        if message.is_empty() {
            message = status.canonical_reason().unwrap_or("error").to_string();
        }
        let field =
            (code == "bad_request" && message.contains("query")).then(|| "query".to_string());
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message,
                field,
            },
        };
        let mut r = (status, Json(body)).into_response();
        for (k, v) in parts.headers.iter() {
            if k != axum::http::header::CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
                r.headers_mut().insert(k.clone(), v.clone());
            }
        }
        r
    };
    if status == StatusCode::TOO_MANY_REQUESTS
        && !resp.headers().contains_key(axum::http::header::RETRY_AFTER)
    {
        resp.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    resp
}
