//! Signals: listing with filters, facets, a time histogram, detail (samples, comments, related signals,
//! remediation), triage (state, assignee) and comments.

pub mod group;
pub mod related;

use rampart_api::rules::AgentRuleReport;
use rampart_api::signals::{
    Assignee, Comment, FacetCount, Histogram, HistogramBucket, Sample, SignalFacets, SignalRule,
};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;

use crate::audit::{self, Action};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::sql::{like_escape, Bind, Where};
use crate::storage::{now_ns, Db};

pub const STATES: [&str; 3] = ["open", "under_review", "archived"];

pub use rampart_api::signals::{Change, Signal, SignalUpdate as Update};

/// Filters shared by the list, facets and histogram routes. Multi-valued ones take comma-separated values.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    pub state: Option<String>,
    pub severity: Option<String>,
    pub rule_id: Option<String>,
    pub source: Option<String>,
    pub hostname: Option<String>,
    pub container_id: Option<String>,
    /// Image names (`nginx`, any tag) or `name:tag`.
    pub image: Option<String>,
    /// A user id, or `none` for unassigned signals.
    pub assignee: Option<String>,
    /// Substring of the title, rule id, host or executable.
    pub q: Option<String>,
    /// Signals seen at or after this time (epoch ns).
    pub from: Option<i64>,
    /// Signals first seen before this time (epoch ns).
    pub to: Option<i64>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    /// Keyset pagination: signals strictly older than this `last_seen:id` cursor (from [`cursor`]).
    pub before: Option<String>,
    /// Histogram bucket width, e.g. `1h`, `5m`.
    pub interval: Option<String>,
}

/// The keyset cursor that continues a listing after `s` (for [`Filters::before`]).
pub fn cursor(s: &Signal) -> String {
    format!("{}:{}", s.last_seen, s.id)
}

fn build_where(f: &Filters) -> ApiResult<Where> {
    let mut w = Where::default();
    if let Some(v) = &f.state {
        if let Some(bad) = v
            .split(',')
            .map(str::trim)
            .find(|s| !s.is_empty() && !STATES.contains(s))
        {
            return Err(ApiError::bad_request(format!(
                "state {bad:?}: use open, under_review or archived"
            )));
        }
        w.any_of("s.state", v);
    }
    for (col, v) in [
        ("severity", &f.severity),
        ("rule_id", &f.rule_id),
        ("source", &f.source),
        ("hostname", &f.hostname),
        ("container_id", &f.container_id),
    ] {
        if let Some(v) = v {
            w.any_of(&format!("s.{col}"), v);
        }
    }
    if let Some(v) = &f.image {
        let mut alts = Vec::new();
        for name in v.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            // `name:` ≤ image < `name;` is every tag of the image (`;` follows `:`), an index range.
            let exact = w.param(Bind::S(name.to_string()));
            let lo = w.param(Bind::S(format!("{name}:")));
            let hi = w.param(Bind::S(format!("{name};")));
            alts.push(format!(
                "s.image = {exact} OR (s.image >= {lo} AND s.image < {hi})"
            ));
        }
        if !alts.is_empty() {
            w.clauses.push(format!("({})", alts.join(" OR ")));
        }
    }
    if let Some(c) = &f.before {
        let (seen, id) = c
            .split_once(':')
            .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
            .ok_or_else(|| ApiError::bad_request("before: a `last_seen:id` cursor"))?;
        let ps = w.param(Bind::I(seen));
        let pi = w.param(Bind::I(id));
        w.clauses.push(format!(
            "(s.last_seen < {ps} OR (s.last_seen = {ps} AND s.id < {pi}))"
        ));
    }
    match f.assignee.as_deref() {
        None => {}
        Some("none") => w.clauses.push("s.assignee_id IS NULL".into()),
        Some(id) => {
            let id: i64 = id
                .parse()
                .map_err(|_| ApiError::bad_request("assignee: a user id or `none`"))?;
            let p = w.param(Bind::I(id));
            w.clauses.push(format!("s.assignee_id = {p}"));
        }
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
        if q.len() > 256 {
            return Err(ApiError::bad_request("q: at most 256 bytes"));
        }
        let p = w.param(Bind::S(format!("%{}%", like_escape(&q.to_lowercase()))));
        w.clauses.push(format!(
            "(LOWER(s.title) LIKE {p} ESCAPE '\\' OR LOWER(s.rule_id) LIKE {p} ESCAPE '\\' \
             OR LOWER(s.hostname) LIKE {p} ESCAPE '\\' OR LOWER(s.process_path) LIKE {p} ESCAPE '\\')"
        ));
    }
    if let Some(from) = f.from {
        let p = w.param(Bind::I(from));
        w.clauses.push(format!("s.last_seen >= {p}"));
    }
    if let Some(to) = f.to {
        let p = w.param(Bind::I(to));
        w.clauses.push(format!("s.first_seen < {p}"));
    }
    Ok(w)
}

const SIGNAL_COLS: &str = "s.id, s.source, s.rule_id, s.group_key, s.severity, s.title, s.hostname, s.container_id, \
    s.image, s.process_path, s.first_seen, s.last_seen, s.count, s.state, s.assignee_id, u.username AS assignee_name, \
    s.created_at, s.updated_at, s.agent_id";

fn signal_from(r: &sqlx::any::AnyRow) -> ApiResult<Signal> {
    let assignee_id: Option<i64> = r.try_get("assignee_id")?;
    let assignee_name: Option<String> = r.try_get("assignee_name")?;
    Ok(Signal {
        id: r.try_get("id")?,
        source: r.try_get("source")?,
        rule_id: r.try_get("rule_id")?,
        group_key: r.try_get("group_key")?,
        severity: r.try_get("severity")?,
        title: r.try_get("title")?,
        hostname: r.try_get("hostname")?,
        container_id: r.try_get("container_id")?,
        image: r.try_get("image")?,
        process_path: r.try_get("process_path")?,
        first_seen: r.try_get("first_seen")?,
        last_seen: r.try_get("last_seen")?,
        count: r.try_get("count")?,
        state: r.try_get("state")?,
        assignee: assignee_id.map(|id| Assignee {
            id,
            username: assignee_name,
        }),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        agent_id: r.try_get("agent_id")?,
    })
}

pub async fn list(db: &Db, f: &Filters) -> ApiResult<(Vec<Signal>, i64)> {
    let signals = page(db, f).await?;
    let w = build_where(f)?;
    let count_sql = format!("SELECT COUNT(*) AS n FROM signals s {}", w.sql());
    let total: i64 = w
        .bind(sqlx::query(&count_sql))
        .fetch_one(&db.pool)
        .await?
        .try_get("n")?;
    Ok((signals, total))
}

/// One page of the filtered signals, newest first (`before` continues after a page, `offset` skips).
pub async fn page(db: &Db, f: &Filters) -> ApiResult<Vec<Signal>> {
    let w = build_where(f)?;
    let limit = f.limit.unwrap_or(50);
    let offset = f.offset.unwrap_or(0);
    if !(1..=1000).contains(&limit) || offset < 0 {
        return Err(ApiError::bad_request("limit: 1-1000; offset: 0 or more"));
    }
    let sql = format!(
        "SELECT {SIGNAL_COLS} FROM signals s LEFT JOIN users u ON u.id = s.assignee_id {} \
         ORDER BY s.last_seen DESC, s.id DESC LIMIT {limit} OFFSET {offset}",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(&db.pool).await?;
    rows.iter().map(signal_from).collect()
}

const FACETS: [&str; 7] = SignalFacets::NAMES;

/// Counts per value of the facet columns (the 50 most common of each), for the filtered signals.
pub async fn facets(db: &Db, f: &Filters) -> ApiResult<SignalFacets> {
    Ok(overview(db, f, None).await?.0)
}

/// The first and last `first_seen` of all signals (two index lookups).
pub async fn extent(db: &Db) -> ApiResult<Option<(i64, i64)>> {
    let row = sqlx::query("SELECT MIN(first_seen) AS a, MAX(first_seen) AS b FROM signals")
        .fetch_one(&db.pool)
        .await?;
    let a: Option<i64> = row.try_get("a")?;
    let b: Option<i64> = row.try_get("b")?;
    Ok(a.zip(b))
}

/// The facets and, given a bucket width, the histogram (bucket start, count) of the filtered signals in
/// one query: the filter is evaluated once (a materialized CTE) however many counts are taken.
pub async fn overview(
    db: &Db,
    f: &Filters,
    interval_ns: Option<i64>,
) -> ApiResult<(SignalFacets, Vec<(i64, i64)>)> {
    let w = build_where(f)?;
    // Unfiltered, each count reads its own index; filtered, the matching rows are gathered once.
    let hint = if w.clauses.is_empty() {
        "NOT MATERIALIZED"
    } else {
        "MATERIALIZED"
    };
    let mut groups: Vec<String> = FACETS
        .iter()
        .map(|c| format!("SELECT '{c}' AS k, {c} AS v, COUNT(*) AS n FROM f GROUP BY {c}"))
        .collect();
    if let Some(ns) = interval_ns {
        let ns = ns.max(1_000_000_000);
        groups.push(format!(
            "SELECT '~h' AS k, CAST((first_seen / {ns}) * {ns} AS TEXT) AS v, COUNT(*) AS n FROM f \
             GROUP BY (first_seen / {ns})"
        ));
    }
    let sql = format!(
        "WITH f AS {hint} (SELECT {cols}, s.first_seen FROM signals s {where_}), \
         g AS ({groups}), \
         r AS (SELECT k, v, n, ROW_NUMBER() OVER (PARTITION BY k ORDER BY n DESC, v) AS rn FROM g) \
         SELECT k, v, n FROM r WHERE rn <= 50 OR k = '~h' ORDER BY k, rn",
        cols = FACETS.map(|c| format!("s.{c}")).join(", "),
        where_ = w.sql(),
        groups = groups.join(" UNION ALL "),
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(&db.pool).await?;
    let mut out = SignalFacets::default();
    let mut buckets = Vec::new();
    for r in rows {
        let k: String = r.try_get("k")?;
        let v: String = r.try_get("v")?;
        let n: i64 = r.try_get("n")?;
        if k == "~h" {
            buckets.push((v.parse::<i64>().unwrap_or(0), n));
        } else if let Some(values) = out.counts_mut(&k) {
            values.push(FacetCount { value: v, count: n });
        }
    }
    buckets.sort_unstable();
    Ok((out, buckets))
}

/// Signals per time bucket (by first seen).
pub async fn histogram(db: &Db, f: &Filters) -> ApiResult<Histogram> {
    let w = build_where(f)?;
    let interval = match f.interval.as_deref() {
        Some(s) => humantime::parse_duration(s)
            .map_err(|e| ApiError::bad_request(format!("interval: {e}")))?,
        None => std::time::Duration::from_secs(3600),
    };
    let ns = interval.as_nanos() as i64;
    if ns < 1_000_000_000 {
        return Err(ApiError::bad_request("interval: at least 1s"));
    }
    let sql = format!(
        "SELECT (s.first_seen / {ns}) * {ns} AS b, COUNT(*) AS n FROM signals s {} GROUP BY b ORDER BY b LIMIT 10000",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(&db.pool).await?;
    let buckets = rows
        .iter()
        .map(|r| {
            Ok(HistogramBucket {
                start: r.try_get("b")?,
                count: r.try_get("n")?,
            })
        })
        .collect::<ApiResult<_>>()?;
    Ok(Histogram {
        interval_ns: ns,
        buckets,
    })
}

pub async fn get(db: &Db, id: i64) -> ApiResult<Signal> {
    let sql = format!("SELECT {SIGNAL_COLS} FROM signals s LEFT JOIN users u ON u.id = s.assignee_id WHERE s.id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no signal {id}")))?;
    signal_from(&row)
}

/// The signal's sample matches (as the agent reported them), oldest first.
pub async fn samples(db: &Db, id: i64, limit: i64) -> ApiResult<Vec<Sample>> {
    let rows = sqlx::query(
        "SELECT m.id, m.body, m.received_at FROM signal_matches sm JOIN matches m ON m.id = sm.match_id \
         WHERE sm.signal_id = $1 ORDER BY m.ts, m.id LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let body: String = r.try_get("body")?;
        out.push(Sample {
            match_id: r.try_get("id")?,
            received_at: r.try_get("received_at")?,
            report: serde_json::from_str(&body).unwrap_or(Value::Null),
        });
    }
    Ok(out)
}

/// Triage. Archiving a signal queues the resolution of its PagerDuty/Opsgenie incidents, in the same
/// transaction; returns the signal and how many resolutions were queued.
pub async fn update(db: &Db, id: i64, u: &Update, caller: &Caller) -> ApiResult<(Signal, usize)> {
    let actor = caller.username.as_str();
    let target = format!("signal {id}");
    if u.state.is_none() && u.assignee.is_none() {
        return Err(ApiError::bad_request(
            "nothing to change: give state and/or assignee",
        ));
    }
    let before = get(db, id).await?;
    let now = now_ns();
    let mut queued = 0;
    if let Some(state) = &u.state {
        if !STATES.contains(&state.as_str()) {
            return Err(ApiError::unprocessable(format!(
                "state {state:?}: use open, under_review or archived"
            )));
        }
        let mut w = db.begin_write().await?;
        sqlx::query("UPDATE signals SET state = $1, updated_at = $2 WHERE id = $3")
            .bind(state)
            .bind(now)
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        if *state != before.state {
            record(&mut w.tx, id, actor, "state", &before.state, state, now).await?;
            let details = json!({"changes": {"state": [before.state, state]}});
            audit::record(&mut *w.tx, caller, Action::SignalTriaged, &target, details).await?;
        }
        // Two concurrent archivals queue one resolution: the outbox key is unique.
        if state == "archived" && before.state != "archived" {
            queued = crate::notify::outbox::enqueue_resolution(&mut w.tx, id, now).await?;
        }
        w.commit().await?;
    }
    if let Some(assignee) = u.assignee {
        let new_name = match assignee {
            Some(uid) => {
                crate::auth::store::get_user(db, uid)
                    .await
                    .map_err(|_| ApiError::unprocessable(format!("assignee: no user {uid}")))?
                    .username
            }
            None => String::new(),
        };
        let old_name = before.assignee.and_then(|a| a.username).unwrap_or_default();
        let mut w = db.begin_write().await?;
        sqlx::query("UPDATE signals SET assignee_id = $1, updated_at = $2 WHERE id = $3")
            .bind(assignee)
            .bind(now)
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        if old_name != new_name {
            record(&mut w.tx, id, actor, "assignee", &old_name, &new_name, now).await?;
            let details = json!({"changes": {"assignee": [old_name, new_name]}});
            audit::record(&mut *w.tx, caller, Action::SignalTriaged, &target, details).await?;
        }
        w.commit().await?;
    }
    Ok((get(db, id).await?, queued))
}

async fn record(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: i64,
    actor: &str,
    field: &str,
    old: &str,
    new: &str,
    now: i64,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO signal_history (signal_id, actor, field, old_value, new_value, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(actor)
    .bind(field)
    .bind(old)
    .bind(new)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The signal's state and assignee changes, oldest first.
pub async fn history(db: &Db, id: i64) -> ApiResult<Vec<Change>> {
    let rows = sqlx::query(
        "SELECT actor, field, old_value, new_value, created_at FROM signal_history WHERE signal_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Change {
                actor: r.try_get("actor")?,
                field: r.try_get("field")?,
                old_value: r.try_get("old_value")?,
                new_value: r.try_get("new_value")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

pub async fn add_comment(db: &Db, id: i64, caller: &Caller, body: &str) -> ApiResult<Comment> {
    let (author_id, author) = (caller.user_id, caller.username.as_str());
    if body.trim().is_empty() || body.len() > 10_000 || body.contains('\0') {
        return Err(ApiError::unprocessable(
            "comment body: 1-10000 bytes of text, no NUL",
        ));
    }
    get(db, id).await?;
    let now = now_ns();
    let mut w = db.begin_write().await?;
    let row = sqlx::query(
        "INSERT INTO signal_comments (signal_id, author_id, author, body, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(id)
    .bind(author_id)
    .bind(author)
    .bind(body)
    .bind(now)
    .fetch_one(&mut *w.tx)
    .await?;
    sqlx::query("UPDATE signals SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
    let details = json!({"comment": body});
    audit::record(
        &mut *w.tx,
        caller,
        Action::SignalCommented,
        &format!("signal {id}"),
        details,
    )
    .await?;
    w.commit().await?;
    Ok(Comment {
        id: row.try_get("id")?,
        signal_id: id,
        author_id: Some(author_id),
        author: author.to_string(),
        body: body.to_string(),
        created_at: now,
    })
}

pub async fn comments(db: &Db, id: i64) -> ApiResult<Vec<Comment>> {
    let rows = sqlx::query(
        "SELECT id, author_id, author, body, created_at FROM signal_comments WHERE signal_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Comment {
                id: r.try_get("id")?,
                signal_id: id,
                author_id: r.try_get("author_id")?,
                author: r.try_get("author")?,
                body: r.try_get("body")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// What the rule behind a signal says: description, remediation, tags. An agent rule's come from the
/// server's configuration; a rule the server does not define (an agent's local policy) has only what the
/// signal's agent reported, under `agent_report`, never as the rule's own.
pub async fn rule_info(state: &crate::AppState, s: &Signal) -> ApiResult<SignalRule> {
    let db = &state.db;
    if s.source == "backend" {
        let set = state.rules.current(db).await;
        let unknown = SignalRule {
            id: s.rule_id.clone(),
            source: "backend".into(),
            ..SignalRule::default()
        };
        return Ok(match set.get(&s.rule_id) {
            Some(r) => SignalRule {
                id: r.id.clone(),
                name: Some(r.name.clone()),
                description: Some(r.description.clone()),
                remediation: Some(r.remediation.clone()),
                method: Some(r.method.as_str().into()),
                ..unknown
            },
            None => unknown,
        });
    }
    let catalogue = state.remote.catalogue(db).await?;
    if let Some(r) = catalogue.get(&s.rule_id) {
        let r = r.clone();
        return Ok(SignalRule {
            id: r.id,
            source: "agent".into(),
            defined_by: Some(Some("server".into())),
            version: Some(r.version),
            description: Some(r.description),
            severity: Some(r.severity),
            tags: Some(r.tags),
            remediation: Some(r.remediation),
            policy: Some(r.policy),
            ..SignalRule::default()
        });
    }
    let agent_report = match s.agent_id {
        Some(agent_id) => agent_rule_report(db, agent_id, &s.rule_id).await?,
        None => None,
    };
    Ok(SignalRule {
        id: s.rule_id.clone(),
        source: "agent".into(),
        defined_by: Some(None),
        agent_report,
        ..SignalRule::default()
    })
}

/// What agent `agent_id` reported about rule `rule_id` (its word only).
pub async fn agent_rule_report(
    db: &Db,
    agent_id: i64,
    rule_id: &str,
) -> ApiResult<Option<AgentRuleReport>> {
    let row = sqlx::query(&format!(
        "SELECT {AGENT_REPORT_COLS} FROM agent_rule_reports r JOIN agents a ON a.id = r.agent_id \
         WHERE r.agent_id = $1 AND r.rule_id = $2"
    ))
    .bind(agent_id)
    .bind(rule_id)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| agent_report_json(&r)).transpose()
}

/// The columns [`agent_report_json`] reads (`agent_rule_reports r` joined with `agents a`).
pub const AGENT_REPORT_COLS: &str =
    "r.agent_id, a.hostname, r.version, r.description, r.severity, r.tags, \
    r.remediation, r.policy, r.updated_at";

/// A row of `agent_rule_reports` joined with its agent's hostname.
pub fn agent_report_json(r: &sqlx::any::AnyRow) -> ApiResult<AgentRuleReport> {
    Ok(AgentRuleReport {
        agent_id: r.try_get("agent_id")?,
        hostname: r.try_get("hostname")?,
        verified: false,
        version: r.try_get("version")?,
        description: r.try_get("description")?,
        severity: r.try_get("severity")?,
        tags: serde_json::from_str(&r.try_get::<String, _>("tags")?).unwrap_or(Value::Null),
        remediation: r.try_get("remediation")?,
        policy: r.try_get("policy")?,
        updated_at: r.try_get("updated_at")?,
    })
}
