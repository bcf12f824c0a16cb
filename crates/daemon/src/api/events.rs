//! `GET /events?since=&until=&filters=`: replays recent events from the bus's history when
//! `since` or `until` asks for them, then streams new ones as newline-delimited JSON until the
//! client goes away or `until` passes. An `until` in the past answers the history only.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::broadcast::error::RecvError;

use crate::engine::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::events::{Event, FILTER_KEYS};
use crate::filters::Filters;
use crate::server::body::{self, Response};
use crate::server::Request;
use crate::timefmt::{self, parse_time};

/// What one subscriber asked for.
struct Selection {
    since: Option<(i64, u32)>,
    until: Option<(i64, u32)>,
    filters: Filters,
}

impl Selection {
    fn wants(&self, ev: &Event) -> bool {
        let at = ev.at();
        self.since.is_none_or(|s| at >= s)
            && self.until.is_none_or(|u| at <= u)
            && ev.matches(&self.filters)
    }
}

/// `since`/`until` as clients send them: unix seconds with an optional fraction (what the
/// docker CLI computes), or an RFC 3339 time or a Go duration (what other clients may send).
/// Absent, empty and `0` mean no bound.
fn time_param(req: &Request, name: &str, now: SystemTime) -> ApiResult<Option<(i64, u32)>> {
    match req.query(name).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => {
            let t = parse_time(v, now).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            Ok((t != (0, 0)).then_some(t))
        }
    }
}

fn selection(req: &Request, now: SystemTime) -> ApiResult<Selection> {
    let since = time_param(req, "since", now)?;
    let until = time_param(req, "until", now)?;
    if let (Some(s), Some(u)) = (since, until) {
        if u < s {
            return Err(ApiError::BadRequest(format!(
                "`since` time ({}) cannot be after `until` time ({})",
                req.query("since").unwrap_or_default(),
                req.query("until").unwrap_or_default()
            )));
        }
    }
    let filters = Filters::parse(req.query("filters"))?;
    filters.validate(FILTER_KEYS)?;
    Ok(Selection {
        since,
        until,
        filters,
    })
}

pub async fn get(daemon: &Arc<Daemon>, req: Request) -> ApiResult<Response> {
    let now = SystemTime::now();
    let sel = selection(&req, now)?;
    let (history, mut live) = daemon.events.subscribe();
    // As Docker: without since or until there is no replay, only what happens from now on.
    let replay: Vec<_> = if sel.since.is_some() || sel.until.is_some() {
        history.into_iter().filter(|e| sel.wants(e)).collect()
    } else {
        Vec::new()
    };
    let deadline = sel.until.map(|u| {
        let left = timefmt::to_system_time(u)
            .duration_since(now)
            .unwrap_or_default();
        tokio::time::Instant::now() + left
    });
    let only_past = sel.until.is_some_and(|u| u <= timefmt::unix(now));
    let (resp, tx) = body::stream("application/json");
    tokio::spawn(async move {
        let line = |e: &Event| {
            let mut v = serde_json::to_vec(e).expect("events serialise");
            v.push(b'\n');
            bytes::Bytes::from(v)
        };
        for e in &replay {
            if tx.send(line(e)).await.is_err() {
                return;
            }
        }
        if only_past {
            return;
        }
        let until_passed = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(until_passed);
        loop {
            tokio::select! {
                next = live.recv() => match next {
                    Ok(e) if sel.wants(&e) => {
                        if tx.send(line(&e)).await.is_err() {
                            return;
                        }
                    }
                    Ok(e) if sel.until.is_some_and(|u| e.at() > u) => return,
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!("events: a slow subscriber lost {n} events");
                    }
                    Err(RecvError::Closed) => return,
                },
                () = &mut until_passed => return,
                // The client went away (hyper dropped the body).
                () = tx.closed() => return,
            }
        }
    });
    Ok(resp)
}
