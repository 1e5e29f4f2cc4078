//! Defines notifications (spec §16): Slack (Block Kit), Microsoft Teams (Adaptive Card)
//! and generic JSON webhooks, with the original's payloads field for field (the generic
//! payload is extended with run counts, never renamed). Sends are concurrent and off
//! the run's critical path: [`Notifier::send`] returns at once, and [`Notifier::finish`]
//! waits for what is still outstanding, bounded by the channels' timeouts. A failed
//! send is a warning, never an error: it cannot change a run's exit status.
//!
//! Webhook URLs carry credentials (a Slack URL is its own token): every URL is
//! registered with the redactor and only `scheme://host/…` is ever printed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::task::JoinSet;

use crate::config::{Channel, Settings};
use crate::redact::redact;
use crate::timefmt::now_ms;

/// The original's per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One event to send.
#[derive(Debug, Clone, Default)]
pub struct Event {
    /// `deploy_start`, `script_failed`, …
    pub name: &'static str,
    /// The keyspace (or the run's keyspaces joined with `,`).
    pub keyspace: String,
    /// The script, for `script_failed` and `repair`.
    pub script: String,
    /// `SUCCESS`/`FAILED` on the closing events (empty otherwise, as in the original).
    pub status: String,
    /// The original's detail text (`errors=0 tag=…`, an error message).
    pub detail: String,
}

/// Counts of the run so far, sent in the generic webhook's payload.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Scripts that ran.
    pub run: usize,
    /// Scripts skipped (applied, unchanged).
    pub skipped: usize,
    /// Scripts that failed.
    pub failed: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Slack,
    Teams,
    Webhook,
}

impl Kind {
    /// As the spec's `[notify]` line writes it.
    fn title(self) -> &'static str {
        match self {
            Kind::Slack => "Slack",
            Kind::Teams => "Teams",
            Kind::Webhook => "Webhook",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Slack => "slack",
            Kind::Teams => "teams",
            Kind::Webhook => "webhook",
        }
    }
}

/// A channel ready to send to.
#[derive(Debug)]
struct Target {
    kind: Kind,
    url: reqwest::Url,
    /// `slack (https://hooks.slack.com/…)`: what messages show.
    label: String,
    method: reqwest::Method,
    timeout: Duration,
    headers: Vec<(String, String)>,
}

/// The fields every payload shares.
#[derive(Debug, Clone)]
struct Base {
    run_id: String,
    profile: String,
    environment: String,
    tag: String,
    hostname: String,
}

type Sent = (usize, &'static str, Result<(), String>);

/// The notifications of one run.
pub struct Notifier {
    targets: Vec<Target>,
    on_events: Vec<String>,
    client: Option<reqwest::Client>,
    base: Base,
    started: Instant,
    pending: Mutex<JoinSet<Sent>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("targets", &self.targets.len())
            .finish_non_exhaustive()
    }
}

/// `scheme://host[:port]/…`: a URL without the path, query or credentials that may
/// carry a token.
pub fn display_url(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(p) => format!("{}://{host}:{p}/…", url.scheme()),
        None => format!("{}://{host}/…", url.scheme()),
    }
}

/// Replaces each `${VAR}` with the variable's value (empty when unset), as the
/// original does for header values.
pub fn substitute_env(value: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}').filter(|&l| l > 0) else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&env(&rest[start + 2..start + 2 + len]).unwrap_or_default());
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    out
}

/// The original's title: `deploy_success` → `Deploy Success`.
fn title(event: &str) -> String {
    event
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or_else(String::new, |f| {
                f.to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first eight characters of a run id.
fn short(run_id: &str) -> String {
    run_id.chars().take(8).collect()
}

/// Resolves one configured channel; `Err` says why it cannot be used.
fn target(
    index: usize,
    ch: &Channel,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Target, String> {
    let kind = match ch.kind.as_str() {
        "slack" => Kind::Slack,
        "teams" => Kind::Teams,
        "webhook" => Kind::Webhook,
        other => return Err(format!("unknown channel type '{other}'")),
    };
    let path = format!("notifications.channels[{index}]");
    let url = match (&ch.url, &ch.url_env) {
        (Some(u), _) => u.expose().to_string(),
        (None, Some(var)) => env(var)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{path} ({}): webhook_url_env {var} is not set", kind.name()))?,
        (None, None) => {
            return Err(format!(
                "{path} ({}): no URL; set webhook_url (or url), webhook_url_env, or a \
                 secret for {path}.webhook_url",
                kind.name()
            ))
        }
    };
    crate::redact::register(&url);
    let url = reqwest::Url::parse(&url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            format!(
                "{path} ({}): the URL is not an http(s) URL (the value is not shown)",
                kind.name()
            )
        })?;
    let method = ch
        .method
        .as_deref()
        .unwrap_or("POST")
        .to_ascii_uppercase()
        .parse::<reqwest::Method>()
        .map_err(|_| format!("{path}.method: not an HTTP method"))?;
    let headers = ch
        .headers
        .iter()
        .map(|(k, v)| {
            let value = substitute_env(v, env);
            if value != *v {
                // A substituted value is usually a token.
                crate::redact::register(&value);
            }
            (k.clone(), value)
        })
        .collect();
    Ok(Target {
        kind,
        label: format!("{} ({})", kind.name(), display_url(&url)),
        url,
        method,
        timeout: ch.timeout.unwrap_or(DEFAULT_TIMEOUT),
        headers,
    })
}

impl Notifier {
    /// The notifications of a run `run_id` under `settings` (none when the
    /// configuration has no channels). Channels that cannot be used are warned about
    /// once, here, and skipped.
    pub fn new(settings: &Settings, run_id: &str) -> Notifier {
        Self::with_env(settings, run_id, &|k| std::env::var(k).ok())
    }

    /// [`Notifier::new`] with an explicit environment lookup.
    pub fn with_env(
        settings: &Settings,
        run_id: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Notifier {
        let (channels, on_events) = settings
            .notifications
            .as_ref()
            .map(|n| (n.channels.as_slice(), n.on_events.clone()))
            .unwrap_or_default();
        let mut targets = Vec::new();
        for (i, ch) in channels.iter().enumerate() {
            match target(i, ch, env) {
                Ok(t) => targets.push(t),
                Err(why) => crate::ui::warn(format_args!(
                    "notifications: {}; that channel is skipped",
                    redact(&why)
                )),
            }
        }
        let client = if targets.is_empty() {
            None
        } else {
            // Proxies come from HTTPS_PROXY / HTTP_PROXY / NO_PROXY.
            match reqwest::Client::builder()
                .user_agent(concat!("cassachange/", env!("CARGO_PKG_VERSION")))
                .build()
            {
                Ok(c) => Some(c),
                Err(e) => {
                    crate::ui::warn(format_args!(
                        "notifications are off: the HTTP client could not start ({})",
                        redact(&e.to_string())
                    ));
                    None
                }
            }
        };
        Notifier {
            targets,
            on_events,
            client,
            base: Base {
                run_id: run_id.to_string(),
                profile: settings.profile.clone().unwrap_or_default(),
                environment: settings.environment.clone().unwrap_or_default(),
                tag: settings.tag.clone().unwrap_or_default(),
                hostname: crate::host::hostname(),
            },
            started: Instant::now(),
            pending: Mutex::new(JoinSet::new()),
        }
    }

    /// Whether `event` goes anywhere.
    fn wanted(&self, event: &str) -> bool {
        self.client.is_some()
            && (self.on_events.is_empty() || self.on_events.iter().any(|e| e == event))
    }

    /// The original's payload, field for field and in its order, plus our counts for the
    /// generic webhook.
    fn payload(&self, event: &Event, counts: Counts, timestamp: &str) -> Map<String, Value> {
        let mut p = Map::new();
        // Every value through the redactor: a keyspace or tag that came from a secret
        // manager is a secret too.
        for (k, v) in [
            ("event", event.name),
            ("run_id", &self.base.run_id),
            ("profile", &self.base.profile),
            ("environment", &self.base.environment),
            ("tag", &self.base.tag),
            ("keyspace", &event.keyspace),
            ("script", &event.script),
            ("status", &event.status),
            ("detail", &event.detail),
            ("hostname", &self.base.hostname),
            ("timestamp", timestamp),
        ] {
            p.insert(k.into(), Value::String(redact(v).into_owned()));
        }
        p.insert("scripts_run".into(), counts.run.into());
        p.insert("scripts_skipped".into(), counts.skipped.into());
        p.insert("scripts_failed".into(), counts.failed.into());
        p.insert(
            "elapsed_ms".into(),
            u64::try_from(self.started.elapsed().as_millis())
                .unwrap_or(u64::MAX)
                .into(),
        );
        p
    }

    /// Starts sending `event` to every channel and returns at once.
    pub fn send(&self, event: &Event, counts: Counts) {
        if !self.wanted(event.name) {
            return;
        }
        let Some(client) = &self.client else { return };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let timestamp = utc_seconds(now_ms());
        let payload = self.payload(event, counts, &timestamp);
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (i, t) in self.targets.iter().enumerate() {
            let body = match t.kind {
                Kind::Slack => slack(&payload, event.name),
                Kind::Teams => teams(&payload, event.name),
                Kind::Webhook => Value::Object(payload.clone()),
            };
            let mut req = client
                .request(t.method.clone(), t.url.clone())
                .timeout(t.timeout)
                .header("Content-Type", "application/json")
                .body(body.to_string());
            for (k, v) in &t.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let name = event.name;
            let timeout = t.timeout;
            pending.spawn_on(
                async move {
                    let result = match req.send().await {
                        // The original fails on 400 and above only.
                        Ok(resp) if resp.status().as_u16() < 400 => Ok(()),
                        Ok(resp) => Err(format!("HTTP {}", resp.status().as_u16())),
                        Err(e) => Err(describe(&e, timeout)),
                    };
                    (i, name, result)
                },
                &handle,
            );
            // The spec's line: `[notify]  Slack → deploy_success`.
            crate::outln!("[notify]  {} → {}", t.kind.title(), event.name);
            tracing::debug!("notification {} → {}", event.name, t.label);
        }
    }

    /// Waits for the sends still outstanding (at most the longest channel timeout from
    /// now), then warns once per channel that failed.
    pub async fn finish(&self) {
        let mut set = std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if set.is_empty() {
            return;
        }
        let bound = self
            .targets
            .iter()
            .map(|t| t.timeout)
            .max()
            .unwrap_or(DEFAULT_TIMEOUT)
            + Duration::from_millis(500);
        let mut failures: Vec<Vec<String>> = vec![Vec::new(); self.targets.len()];
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            match tokio::time::timeout_at(deadline, set.join_next()).await {
                Ok(Some(Ok((i, name, Err(why))))) => failures[i].push(format!("{name}: {why}")),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    set.abort_all();
                    for f in &mut failures {
                        f.push(format!("no answer within {}s", bound.as_secs()));
                    }
                    break;
                }
            }
        }
        for (t, f) in self.targets.iter().zip(failures) {
            if !f.is_empty() {
                crate::ui::warn(format_args!(
                    "notification to {} failed ({}); the run's result is unchanged",
                    t.label,
                    redact(&f.join("; "))
                ));
            }
        }
    }
}

/// A send error without its URL (which may carry a token).
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {}s (timeout)", timeout.as_secs_f64());
    }
    let mut why = if e.is_connect() {
        "connection failed".to_string()
    } else if e.is_redirect() {
        "too many redirects".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    if let Some(l) = last {
        why.push_str(": ");
        why.push_str(&l);
    }
    why
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the original's timestamp.
fn utc_seconds(ms: i64) -> String {
    let s = crate::timefmt::format_ms(ms);
    format!("{}Z", s.replacen(' ', "T", 1))
}

fn field(p: &Map<String, Value>, k: &str) -> String {
    p.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// The original's Slack Block Kit message.
fn slack(p: &Map<String, Value>, event: &str) -> Value {
    let icon = if event.contains("failed") {
        ":x:"
    } else {
        ":white_check_mark:"
    };
    let mut fields: Vec<Value> = [
        ("Profile", "profile"),
        ("Env", "environment"),
        ("Keyspace", "keyspace"),
        ("Tag", "tag"),
        ("Script", "script"),
    ]
    .iter()
    .filter(|(_, k)| !field(p, k).is_empty())
    .map(|(label, k)| json!({"type": "mrkdwn", "text": format!("*{label}:*\n{}", field(p, k))}))
    .collect();
    let run_id = field(p, "run_id");
    if !run_id.is_empty() {
        fields.push(json!({"type": "mrkdwn", "text": format!("*Run ID:*\n{}", short(&run_id))}));
    }
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": format!("{icon} *cassachange — {}*", title(event))}
    })];
    let detail = field(p, "detail");
    if !detail.is_empty() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": detail}}));
    }
    if !fields.is_empty() {
        fields.truncate(10);
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    blocks.push(json!({"type": "context", "elements": [{
        "type": "mrkdwn",
        "text": format!("Host: {} | {}", field(p, "hostname"), field(p, "timestamp"))
    }]}));
    json!({ "blocks": blocks })
}

/// The original's Teams Adaptive Card message.
fn teams(p: &Map<String, Value>, event: &str) -> Value {
    let color = if event.contains("failed") {
        "attention"
    } else {
        "good"
    };
    let mut facts: Vec<Value> = [
        "profile",
        "environment",
        "keyspace",
        "tag",
        "script",
        "hostname",
    ]
    .iter()
    .filter(|k| !field(p, k).is_empty())
    .map(|k| json!({"title": title(k), "value": field(p, k)}))
    .collect();
    let run_id = field(p, "run_id");
    if !run_id.is_empty() {
        facts.push(json!({"title": "Run ID", "value": short(&run_id)}));
    }
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": format!("cassachange — {}", title(event)),
        "weight": "bolder",
        "size": "medium",
        "color": color
    })];
    let detail = field(p, "detail");
    if !detail.is_empty() {
        body.push(json!({"type": "TextBlock", "text": detail, "wrap": true}));
    }
    if !facts.is_empty() {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    json!({"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.2",
            "body": body
        }
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_env_substitution_follow_the_original() {
        assert_eq!(title("deploy_success"), "Deploy Success");
        assert_eq!(title("environment"), "Environment");
        let env = |k: &str| (k == "TOKEN").then(|| "abc".to_string());
        assert_eq!(substitute_env("Bearer ${TOKEN}", &env), "Bearer abc");
        assert_eq!(substitute_env("${NOPE}-${TOKEN}", &env), "-abc");
        assert_eq!(substitute_env("${} ${TOKEN", &env), "${} ${TOKEN");
        assert_eq!(utc_seconds(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn displayed_urls_hide_the_path() {
        let u = reqwest::Url::parse("https://hooks.slack.com/services/T0/B0/XYZ").unwrap();
        assert_eq!(display_url(&u), "https://hooks.slack.com/…");
        let u = reqwest::Url::parse("http://user:pw@127.0.0.1:8080/h?token=1").unwrap();
        assert_eq!(display_url(&u), "http://127.0.0.1:8080/…");
    }
}
