//! The event bus behind `GET /events`: lifecycle code publishes, API streams subscribe.
//!
//! Publishing must never slow a lifecycle operation down, so it only takes a short lock,
//! appends to a bounded in-memory history and hands the event to a broadcast channel. Nothing
//! is written to disk and nothing waits on subscribers: a subscriber that falls more than
//! [`CHANNEL_CAPACITY`] events behind loses the oldest ones (as Docker drops events for slow
//! readers), the publisher never notices.
//!
//! The history keeps the last [`HISTORY_LEN`] events (Docker keeps 256) so that `since` and
//! `until` can replay recent ones; it is gone when berthd restarts, as in Docker.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::engine::container::Container;
use crate::engine::Daemon;
use crate::filters::Filters;

/// How many past events `since`/`until` can replay.
pub const HISTORY_LEN: usize = 256;
/// How far a live subscriber may fall behind before it loses events.
pub const CHANNEL_CAPACITY: usize = 1024;

/// The filter keys `GET /events` accepts (Docker's list; berth emits no events of the swarm,
/// plugin, network or volume kinds, so those filters simply match nothing of theirs).
pub const FILTER_KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// The object an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    /// Sorted, so the JSON reads the same way each time.
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One event, shaped as Docker's API 1.43 `events.Message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The pre-1.22 fields, still filled for containers and images.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// An event of `kind` happening now.
    pub fn new(kind: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) -> Event {
        let (secs, nanos) = crate::timefmt::unix(SystemTime::now());
        let mut ev = Event {
            status: String::new(),
            id: String::new(),
            from: String::new(),
            kind: kind.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".to_string(),
            time: secs,
            time_nano: secs * 1_000_000_000 + i64::from(nanos),
        };
        if kind == "container" || kind == "image" {
            ev.status = ev.action.clone();
            ev.id = ev.actor.id.clone();
        }
        if kind == "container" {
            ev.from = ev
                .actor
                .attributes
                .get("image")
                .cloned()
                .unwrap_or_default();
        }
        ev
    }

    /// Whether the event passes `filters`, with Docker's rules: the values of one key are
    /// alternatives, the keys must all hold; names and IDs match by prefix, the rest exactly.
    pub fn matches(&self, filters: &Filters) -> bool {
        let attr = |k: &str| self.actor.attributes.get(k).map_or("", String::as_str);
        // Docker matches these three by prefix, so that `exec_start` finds
        // `exec_start: sh -c …`.
        let event_ok = if ["exec_create", "exec_start", "health_status"]
            .iter()
            .any(|e| filters.get("event").iter().any(|v| v == e))
        {
            filters.matches_prefix("event", &self.action)
        } else {
            filters.matches_any("event", &self.action)
        };
        // A filter on an object kind (container=…, network=…) keeps only events whose actor's
        // ID or name starts with one of its values.
        let name_ok = |kind: &str| {
            filters.get(kind).is_empty()
                || filters.matches_prefix(kind, &self.actor.id)
                || filters.matches_prefix(kind, attr("name"))
        };
        let labels_ok = !filters.contains("label") || {
            let labels: std::collections::HashMap<String, String> = self
                .actor
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            filters.matches_kv("label", Some(&labels))
        };
        event_ok
            && filters.matches_any("type", &self.kind)
            && filters.matches_any("scope", &self.scope)
            && [
                "daemon",
                "container",
                "plugin",
                "volume",
                "network",
                "service",
                "node",
                "secret",
                "config",
            ]
            .iter()
            .all(|k| name_ok(k))
            && self.image_matches(filters)
            && labels_ok
    }

    /// The `image` filter: the actor's ID, or its image name (the `image` attribute of a
    /// container, the `name` of an image), with or without its tag.
    fn image_matches(&self, filters: &Filters) -> bool {
        if filters.get("image").is_empty() {
            return true;
        }
        let name_attr = if self.kind == "image" {
            "name"
        } else {
            "image"
        };
        let name = self
            .actor
            .attributes
            .get(name_attr)
            .map_or("", String::as_str);
        let exact = |v: &str| filters.get("image").iter().any(|f| f == v);
        exact(&self.actor.id)
            || exact(name)
            || exact(&strip_tag(&self.actor.id))
            || exact(&strip_tag(name))
    }

    /// The event's time as `(seconds, nanoseconds)`, comparable with parsed `since`/`until`.
    pub fn at(&self) -> (i64, u32) {
        (
            self.time_nano.div_euclid(1_000_000_000),
            self.time_nano.rem_euclid(1_000_000_000) as u32,
        )
    }
}

/// `busybox:latest` → `busybox`; what is not a reference stays as it is.
fn strip_tag(name: &str) -> String {
    match berth_image::Reference::parse(name) {
        Ok(r) => r.familiar_name(),
        Err(_) => name.to_string(),
    }
}

struct Inner {
    history: VecDeque<Arc<Event>>,
    live: broadcast::Sender<Arc<Event>>,
}

/// The daemon's event bus.
pub struct Events {
    inner: Mutex<Inner>,
}

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
}

impl Events {
    pub fn new() -> Events {
        let (live, _) = broadcast::channel(CHANNEL_CAPACITY);
        Events {
            inner: Mutex::new(Inner {
                history: VecDeque::with_capacity(HISTORY_LEN),
                live,
            }),
        }
    }

    /// Records `ev` and hands it to the live subscribers; never waits for them.
    pub fn publish(&self, ev: Event) {
        tracing::debug!("event {} {} {}", ev.kind, ev.action, ev.actor.id);
        let ev = Arc::new(ev);
        let mut inner = self.inner.lock().expect("events lock");
        if inner.history.len() == HISTORY_LEN {
            inner.history.pop_front();
        }
        inner.history.push_back(ev.clone());
        // No subscriber is not an error.
        let _ = inner.live.send(ev);
    }

    /// A container event: its image and name, its labels, then `extra` (exitCode, signal…).
    pub fn container(&self, c: &Container, action: &str, extra: &[(&str, &str)]) {
        let mut attributes: BTreeMap<String, String> = c
            .config
            .labels
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        attributes.insert("image".into(), c.image.clone());
        attributes.insert("name".into(), c.name.clone());
        for (k, v) in extra {
            attributes.insert(k.to_string(), v.to_string());
        }
        self.publish(Event::new("container", action, &c.id, attributes));
    }

    /// An image event about image `id` (`sha256:…`), named `name` (a tag, or the ID again, as
    /// Docker does for untag, delete, import, load and save).
    pub fn image(&self, id: &str, name: &str, action: &str) {
        self.image_with_labels(id, name, action, &BTreeMap::new());
    }

    /// [`image`](Events::image) with the image's labels among the attributes.
    pub fn image_with_labels(
        &self,
        id: &str,
        name: &str,
        action: &str,
        labels: &BTreeMap<String, String>,
    ) {
        let mut attributes = labels.clone();
        attributes.insert("name".into(), name.to_string());
        self.publish(Event::new("image", action, id, attributes));
    }

    /// The history as it is now and a receiver of every event after it, taken under one lock
    /// so that nothing falls between the two.
    pub fn subscribe(&self) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        let inner = self.inner.lock().expect("events lock");
        (
            inner.history.iter().cloned().collect(),
            inner.live.subscribe(),
        )
    }
}

impl Daemon {
    /// An image event with the image's labels (none once the image is deleted).
    pub fn image_event(&self, id: &berth_image::Digest, name: &str, action: &str) {
        let labels = self
            .images
            .get(id)
            .ok()
            .and_then(|img| img.config.config.and_then(|c| c.labels))
            .unwrap_or_default();
        self.events
            .image_with_labels(&id.to_string(), name, action, &labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, action: &str, id: &str, attrs: &[(&str, &str)]) -> Event {
        let attrs = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Event::new(kind, action, id, attrs)
    }

    fn f(json: &str) -> Filters {
        Filters::parse(Some(json)).unwrap()
    }

    #[test]
    fn json_has_docker_fields() {
        let e = ev(
            "container",
            "start",
            "abc",
            &[("image", "busybox"), ("name", "web")],
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["status"], "start");
        assert_eq!(v["id"], "abc");
        assert_eq!(v["from"], "busybox");
        assert_eq!(v["Type"], "container");
        assert_eq!(v["Action"], "start");
        assert_eq!(v["Actor"]["ID"], "abc");
        assert_eq!(v["Actor"]["Attributes"]["name"], "web");
        assert_eq!(v["scope"], "local");
        assert_eq!(v["timeNano"].as_i64().unwrap() / 1_000_000_000, e.time);
        let image =
            serde_json::to_value(ev("image", "tag", "sha256:1", &[("name", "a:b")])).unwrap();
        assert!(image.get("from").is_none(), "{image}");
        assert_eq!(image["status"], "tag");
    }

    #[test]
    fn filters_or_within_a_key_and_across_keys() {
        let start = ev(
            "container",
            "start",
            "abcdef",
            &[("image", "busybox"), ("name", "web")],
        );
        let die = ev(
            "container",
            "die",
            "abcdef",
            &[("image", "busybox"), ("name", "web")],
        );
        let other = ev(
            "container",
            "start",
            "123456",
            &[("image", "busybox"), ("name", "db")],
        );
        let tag = ev("image", "tag", "sha256:99", &[("name", "busybox:latest")]);

        assert!(start.matches(&Filters::default()));
        let by_event = f(r#"{"event":{"start":true,"stop":true}}"#);
        assert!(start.matches(&by_event) && !die.matches(&by_event));
        let name_and_event = f(r#"{"container":["web"],"event":["start"]}"#);
        assert!(start.matches(&name_and_event));
        assert!(!other.matches(&name_and_event) && !die.matches(&name_and_event));
        // ID prefixes and names; a container filter excludes image events.
        assert!(start.matches(&f(r#"{"container":["abc"]}"#)));
        assert!(!tag.matches(&f(r#"{"container":["web"]}"#)));
        let images = f(r#"{"type":["image"]}"#);
        assert!(tag.matches(&images) && !start.matches(&images));
        // image: container's image attribute or the image's name, tag stripped or not.
        assert!(start.matches(&f(r#"{"image":["busybox"]}"#)));
        assert!(tag.matches(&f(r#"{"image":["busybox"]}"#)));
        assert!(tag.matches(&f(r#"{"image":["busybox:latest"]}"#)));
        assert!(tag.matches(&f(r#"{"image":["sha256:99"]}"#)));
        assert!(!tag.matches(&f(r#"{"image":["alpine"]}"#)));
        assert!(start.matches(&f(r#"{"scope":["local"]}"#)));
        assert!(!start.matches(&f(r#"{"scope":["swarm"]}"#)));
        assert!(!start.matches(&f(r#"{"network":["x"]}"#)));
    }

    #[test]
    fn label_filters_need_every_label() {
        let e = ev(
            "container",
            "start",
            "a",
            &[
                ("image", "i"),
                ("name", "n"),
                ("tier", "web"),
                ("env", "prod"),
            ],
        );
        assert!(e.matches(&f(r#"{"label":["tier"]}"#)));
        assert!(e.matches(&f(r#"{"label":["tier=web","env=prod"]}"#)));
        assert!(!e.matches(&f(r#"{"label":["tier=web","env=dev"]}"#)));
        assert!(!e.matches(&f(r#"{"label":["owner"]}"#)));
    }

    #[test]
    fn exec_events_match_by_prefix() {
        let e = ev("container", "exec_start: sh -c true", "a", &[]);
        assert!(e.matches(&f(r#"{"event":["exec_start"]}"#)));
        assert!(!e.matches(&f(r#"{"event":["start"]}"#)));
    }

    #[test]
    fn history_keeps_the_last_events() {
        let bus = Events::new();
        for i in 0..HISTORY_LEN + 10 {
            bus.image(&format!("sha256:{i}"), "x", "tag");
        }
        let (history, _) = bus.subscribe();
        assert_eq!(history.len(), HISTORY_LEN);
        assert_eq!(history[0].actor.id, "sha256:10");
        assert_eq!(
            history.last().unwrap().actor.id,
            format!("sha256:{}", HISTORY_LEN + 9)
        );
    }

    #[tokio::test]
    async fn a_slow_subscriber_loses_events_but_never_blocks_the_publisher() {
        let bus = Events::new();
        let (_, mut slow) = bus.subscribe();
        let started = std::time::Instant::now();
        for i in 0..CHANNEL_CAPACITY * 3 {
            bus.image(&format!("sha256:{i}"), "x", "tag");
        }
        // Thousands of publishes with a reader that never read: no waiting at all.
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        match slow.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => {
                assert_eq!(n as usize, CHANNEL_CAPACITY * 2)
            }
            other => panic!("expected a lag, got {other:?}"),
        }
        // After the lag it reads on from the oldest event it still has.
        let next = slow.recv().await.unwrap();
        assert_eq!(next.actor.id, format!("sha256:{}", CHANNEL_CAPACITY * 2));
    }

    #[test]
    fn subscribers_get_what_comes_after_the_history() {
        let bus = Events::new();
        bus.image("sha256:1", "a", "tag");
        let (history, mut rx) = bus.subscribe();
        bus.image("sha256:2", "b", "tag");
        assert_eq!(history.len(), 1);
        assert_eq!(rx.try_recv().unwrap().actor.id, "sha256:2");
        assert!(rx.try_recv().is_err());
    }
}
