//! The signals explorer (query bar, facets, histogram, keyset-paginated table) and the signal page
//! (rule and remediation, process tree, impacted files, event JSON, related signals, profile and
//! suppression suggestion, triage history, assignment and comments).

use askama::Template;
use axum::extract::{Query, State};
use rampart_api::signals::SignalFacets;
use serde::Deserialize;
use serde_json::Value;

use super::auth::Form;
use super::query::{self, KEYS};
use super::view::{self, Bar, ProcNode};
use super::{
    api_outcome, html, see_other, Chrome, UiAdmin, UiError, UiResponder, UiResult, UiViewer,
};
use crate::api::extract::{ApiBytes, Id};
use crate::auth::extract::Admin;
use crate::error::ApiError;
use crate::signals::{self, Filters, Update, STATES};
use crate::state::AppState;
use crate::storage::now_ns;

const PAGE: i64 = 50;
const RANGES: &[(&str, i64)] = &[
    ("15m", 900),
    ("1h", 3600),
    ("24h", 86_400),
    ("7d", 7 * 86_400),
    ("30d", 30 * 86_400),
    ("all", 0),
];

#[derive(Deserialize)]
pub struct ExplorerQuery {
    q: Option<String>,
    range: Option<String>,
    before: Option<String>,
}

pub struct Link {
    pub label: String,
    pub href: String,
    pub active: bool,
}

pub struct FacetItem {
    pub value: String,
    pub count: i64,
    pub href: String,
}

pub struct Facet {
    pub title: &'static str,
    pub items: Vec<FacetItem>,
}

pub struct Row {
    pub href: String,
    pub severity: String,
    pub title: String,
    pub rule_id: String,
    pub hostname: String,
    pub container: String,
    pub image: String,
    pub state: String,
    pub assignee: String,
    pub count: i64,
    pub last_seen: String,
    pub ago: String,
}

#[derive(Template)]
#[template(path = "signals.html")]
struct Explorer {
    chrome: Chrome,
    q: String,
    range: String,
    error: String,
    keys: &'static [(&'static str, &'static str)],
    ranges: Vec<Link>,
    facets: Vec<Facet>,
    bars: Vec<Bar>,
    interval: String,
    hist_from: String,
    hist_to: String,
    total: i64,
    rows: Vec<Row>,
    next_href: String,
    first_href: String,
}

fn assignee_name(s: &signals::Signal) -> String {
    s.assignee
        .as_ref()
        .and_then(|a| a.username.clone())
        .unwrap_or_default()
}

pub async fn explorer(
    State(s): State<AppState>,
    UiViewer(session): UiViewer,
    Query(p): Query<ExplorerQuery>,
) -> UiResult {
    let q = p.q.unwrap_or_default();
    let range = p
        .range
        .filter(|r| RANGES.iter().any(|(n, _)| n == r))
        .unwrap_or_else(|| "all".into());
    let now = now_ns();
    let secs = RANGES
        .iter()
        .find(|(n, _)| *n == range)
        .map(|r| r.1)
        .unwrap_or(0);
    let (mut f, error) = match query::parse(&q) {
        Ok(f) => (f, String::new()),
        Err(e) => (Filters::default(), e),
    };
    if secs > 0 {
        f.from = Some(now - secs * 1_000_000_000);
    }
    // The histogram spans the range, or for all time every signal's extent (the same axis for any query).
    let extent = match f.from {
        Some(from) => Some((from, now)),
        // At least an hour wide, so that a few close signals do not fill the whole axis.
        None => signals::extent(&s.db)
            .await?
            .map(|(a, b)| (a.min(b + 1 - 3_600_000_000_000), b + 1)),
    };
    let interval = extent.map(|(a, b)| view::interval_for(b - a));
    let page = match (
        error.is_empty(),
        signals::overview(&s.db, &f, interval).await,
    ) {
        (true, Ok(o)) => Some(o),
        (true, Err(e)) if e.status.is_client_error() => {
            return render_explorer(session, q, range, e.message, None, &s, f, None, now).await
        }
        (true, Err(e)) => return Err(e.into()),
        (false, _) => None,
    };
    let hist = extent.zip(interval);
    render_explorer(
        session,
        q,
        range,
        error,
        page.map(|(fa, b)| (fa, b, hist)),
        &s,
        f,
        p.before,
        now,
    )
    .await
}

/// Facets, histogram buckets, and the histogram's extent and bucket width.
type Overview = (SignalFacets, Vec<(i64, i64)>, Option<((i64, i64), i64)>);

#[allow(clippy::too_many_arguments)]
async fn render_explorer(
    session: super::Session,
    q: String,
    range: String,
    error: String,
    overview: Option<Overview>,
    s: &AppState,
    mut f: Filters,
    before: Option<String>,
    now: i64,
) -> UiResult {
    let ranges = RANGES
        .iter()
        .map(|(n, _)| Link {
            label: n.to_string(),
            href: view::explorer_href(&q, n),
            active: *n == range,
        })
        .collect();
    let mut out = Explorer {
        chrome: Chrome::new(&session, "signals"),
        q: q.clone(),
        range: range.clone(),
        error,
        keys: KEYS,
        ranges,
        facets: Vec::new(),
        bars: Vec::new(),
        interval: String::new(),
        hist_from: String::new(),
        hist_to: String::new(),
        total: 0,
        rows: Vec::new(),
        next_href: String::new(),
        first_href: String::new(),
    };
    let Some((facets, buckets, hist)) = overview else {
        return html(&out);
    };
    for (col, key, title) in [
        ("severity", "severity", "Severity"),
        ("state", "status", "Status"),
        ("rule_id", "rule", "Rule"),
        ("hostname", "host", "Host"),
        ("container_id", "container", "Container"),
        ("image", "image", "Image"),
        ("source", "source", "Source"),
    ] {
        let items = facets
            .counts(col)
            .iter()
            .filter(|v| !v.value.is_empty())
            .map(|v| FacetItem {
                href: view::explorer_href(&query::with_term(&q, key, &v.value), &range),
                count: v.count,
                value: v.value.clone(),
            })
            .collect();
        out.facets.push(Facet { title, items });
        if col == "state" {
            out.total = facets.counts(col).iter().map(|v| v.count).sum();
        }
    }
    if let Some(((from, to), interval)) = hist {
        out.bars = view::bars(&buckets, from, to, interval);
        out.interval = humantime::format_duration(std::time::Duration::from_nanos(interval as u64))
            .to_string();
        out.hist_from = view::time(from);
        out.hist_to = view::time(to);
    }
    f.before = before.clone();
    f.limit = Some(PAGE);
    let rows = signals::page(&s.db, &f).await?;
    if rows.len() as i64 == PAGE {
        if let Some(last) = rows.last() {
            let qs = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("q", &q)
                .append_pair("range", &range)
                .append_pair("before", &signals::cursor(last))
                .finish();
            out.next_href = format!("/ui/signals?{qs}");
        }
    }
    if before.is_some() {
        out.first_href = view::explorer_href(&q, &range);
    }
    out.rows = rows
        .iter()
        .map(|r| Row {
            href: format!("/ui/signals/{}", r.id),
            severity: r.severity.clone(),
            title: r.title.clone(),
            rule_id: r.rule_id.clone(),
            hostname: r.hostname.clone(),
            container: r.container_id.chars().take(12).collect(),
            image: r.image.clone(),
            state: r.state.clone(),
            assignee: assignee_name(r),
            count: r.count,
            last_seen: view::time(r.last_seen),
            ago: view::ago(r.last_seen, now),
        })
        .collect();
    html(&out)
}

pub struct Related {
    pub href: String,
    pub relation: String,
    pub rule_id: String,
    pub severity: String,
    pub title: String,
    pub state: String,
    pub last_seen: String,
}

pub struct Change {
    pub time: String,
    pub actor: String,
    pub field: String,
    pub old_value: String,
    pub new_value: String,
}

pub struct Comment {
    pub time: String,
    pub author: String,
    pub body: String,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct ProfileLink {
    pub href: String,
    pub label: String,
    pub status: String,
}

pub struct SuggestionView {
    pub expression: String,
    pub profile_href: String,
    pub profile_label: String,
}

struct AgentReport {
    host: String,
    description: String,
    remediation: String,
}

#[derive(Template)]
#[template(path = "signal.html")]
struct Detail {
    chrome: Chrome,
    id: i64,
    s: signals::Signal,
    assignee: String,
    first_seen: String,
    last_seen: String,
    rule_href: String,
    rule_description: String,
    remediation: String,
    /// What the signal's agent reported about a rule the server does not define.
    agent_report: Option<AgentReport>,
    tree: Vec<ProcNode>,
    tree_height: i64,
    impacted: Vec<(String, String)>,
    event_json: String,
    samples: usize,
    related: Vec<Related>,
    profile: Option<ProfileLink>,
    suggestion: Option<SuggestionView>,
    history: Vec<Change>,
    comments: Vec<Comment>,
    states: Vec<Choice>,
    users: Vec<Choice>,
}

pub async fn detail(
    State(s): State<AppState>,
    UiViewer(session): UiViewer,
    Id(id): Id,
) -> UiResult {
    html(&load_detail(&s, &session, id).await?)
}

/// The explorer's side panel: the same content as the signal page, as an HTML fragment.
#[derive(Template)]
#[template(path = "signal_panel.html")]
struct Panel(Detail);

impl std::ops::Deref for Panel {
    type Target = Detail;
    fn deref(&self) -> &Detail {
        &self.0
    }
}

pub async fn panel(State(s): State<AppState>, UiViewer(session): UiViewer, Id(id): Id) -> UiResult {
    html(&Panel(load_detail(&s, &session, id).await?))
}

async fn load_detail(s: &AppState, session: &super::Session, id: i64) -> Result<Detail, UiError> {
    let signal = signals::get(&s.db, id).await?;
    let samples = signals::samples(&s.db, id, s.config.signals.max_samples).await?;
    let window = s.config.signals.related_window.as_nanos() as i64;
    let related = signals::related::related(&s.db, &signal, window).await?;
    let rule = signals::rule_info(s, &signal).await?;
    let suggestion = crate::profiles::api::suggestion_for(s, id).await?;
    let history = signals::history(&s.db, id).await?;
    let comments = signals::comments(&s.db, id).await?;
    let event = samples
        .last()
        .map(|m| m.report.clone())
        .unwrap_or(Value::Null);
    let tree = view::process_tree(&event);
    let profile = match signal.image.rsplit_once(':') {
        _ if signal.image.is_empty() => None,
        Some((name, tag)) => crate::profiles::store::find(&s.db, name, tag).await?,
        None => crate::profiles::store::find(&s.db, &signal.image, "").await?,
    }
    .map(|p| ProfileLink {
        href: format!("/ui/profiles/{}", p.id),
        label: format!("{}:{}", p.image_name, p.image_tag),
        status: p.status,
    });
    let assignee_id = signal.assignee.as_ref().map(|a| a.id);
    let mut users = vec![Choice {
        value: String::new(),
        label: "unassigned".into(),
        selected: assignee_id.is_none(),
    }];
    if session.caller.role >= crate::auth::Role::Responder {
        for u in crate::auth::store::list_users(&s.db).await? {
            users.push(Choice {
                value: u.id.to_string(),
                selected: Some(u.id) == assignee_id,
                label: u.username,
            });
        }
    }

    Ok(Detail {
        chrome: Chrome::new(session, "signals"),
        id,
        assignee: assignee_name(&signal),
        first_seen: view::time(signal.first_seen),
        last_seen: view::time(signal.last_seen),
        rule_href: view::rule_href(&signal.rule_id),
        rule_description: rule.description.unwrap_or_default(),
        remediation: rule.remediation.unwrap_or_default(),
        agent_report: rule.agent_report.map(|r| AgentReport {
            host: r.hostname,
            description: r.description,
            remediation: r.remediation,
        }),
        tree_height: view::tree_height(&tree),
        tree,
        impacted: view::impacted(&event),
        event_json: serde_json::to_string_pretty(&event).unwrap_or_default(),
        samples: samples.len(),
        related: related
            .iter()
            .map(|r| Related {
                href: format!("/ui/signals/{}", r.id),
                relation: r.relation.clone(),
                rule_id: r.rule_id.clone(),
                severity: r.severity.clone(),
                title: r.title.clone(),
                state: r.state.clone(),
                last_seen: view::time(r.last_seen),
            })
            .collect(),
        profile,
        suggestion: suggestion.map(|sg| SuggestionView {
            expression: sg.expression,
            profile_href: format!("/ui/profiles/{}", sg.profile_id),
            profile_label: format!("{}:{}", sg.image_name, sg.image_tag),
        }),
        history: history
            .into_iter()
            .map(|c| Change {
                time: view::time(c.created_at),
                actor: c.actor,
                field: c.field,
                old_value: c.old_value,
                new_value: c.new_value,
            })
            .collect(),
        comments: comments
            .iter()
            .map(|c| Comment {
                time: view::time(c.created_at),
                author: c.author.clone(),
                body: c.body.clone(),
            })
            .collect(),
        states: STATES
            .iter()
            .map(|st| Choice {
                value: st.to_string(),
                label: st.replace('_', " "),
                selected: *st == signal.state,
            })
            .collect(),
        users,
        s: signal,
    })
}

pub async fn triage(
    State(s): State<AppState>,
    UiResponder(session): UiResponder,
    Id(id): Id,
    form: Form,
) -> UiResult {
    let assignee = match form.get("assignee") {
        None => None,
        Some("") => Some(None),
        Some(v) => {
            Some(Some(v.parse::<i64>().map_err(|_| {
                ApiError::unprocessable("assignee: a user id")
            })?))
        }
    };
    let u = Update {
        state: form
            .get("state")
            .filter(|v| !v.is_empty())
            .map(str::to_string),
        assignee,
    };
    crate::api::signals::triage(&s, id, &u, &session.caller).await?;
    see_other(&format!("/ui/signals/{id}"))
}

pub async fn comment(
    State(s): State<AppState>,
    UiResponder(session): UiResponder,
    Id(id): Id,
    form: Form,
) -> UiResult {
    let c = &session.caller;
    signals::add_comment(&s.db, id, c, &form.text("body")).await?;
    see_other(&format!("/ui/signals/{id}#comments"))
}

pub async fn suppress(
    State(s): State<AppState>,
    UiAdmin(session): UiAdmin,
    Id(id): Id,
    form: Form,
) -> UiResult {
    let body = serde_json::json!({"reason": form.text("reason")}).to_string();
    let resp = crate::profiles::api::accept_suggestion(
        State(s.clone()),
        Admin(session.caller),
        Id(id),
        ApiBytes(body.into()),
    )
    .await?;
    let (status, v) = api_outcome(resp).await;
    if !status.is_success() {
        return Err(ApiError::new(
            status,
            "refused",
            v["message"]
                .as_str()
                .unwrap_or("the suppression was refused")
                .to_string(),
        )
        .into());
    }
    see_other(&format!("/ui/signals/{id}"))
}
