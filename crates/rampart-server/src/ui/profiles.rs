//! Security profiles: grouped by image name (each tag a version), with status, snapshots and freshness;
//! a profile's page shows its process graph (executables from the workload's first process down, each
//! with what it did) and each behaviour's commonality (share of snapshots that contain it).

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;

use super::view;
use super::{html, Chrome, UiResult, UiViewer};
use crate::api::extract::Id;
use crate::profiles::store;
use crate::state::AppState;
use crate::storage::now_ns;

pub struct Version {
    pub href: String,
    pub tag: String,
    pub status: String,
    pub snapshots: i64,
    pub behaviors: usize,
    pub score: String,
    pub updated: String,
    pub ago: String,
}

pub struct ImageGroup {
    pub name: String,
    pub versions: Vec<Version>,
}

#[derive(Template)]
#[template(path = "profiles.html")]
struct ListPage {
    chrome: Chrome,
    images: Vec<ImageGroup>,
}

pub async fn list(State(s): State<AppState>, UiViewer(session): UiViewer) -> UiResult {
    let now = now_ns();
    let mut images: Vec<ImageGroup> = Vec::new();
    for p in store::list(&s.db, None).await? {
        let v = Version {
            href: format!("/ui/profiles/{}", p.id),
            tag: if p.image_tag.is_empty() {
                "(no tag)".into()
            } else {
                p.image_tag.clone()
            },
            status: p.status.clone(),
            snapshots: p.snapshots,
            behaviors: p.nodes.len(),
            score: format!("{:.0}%", p.score() * 100.0),
            updated: view::time(p.last_updated),
            ago: view::ago(p.last_updated, now),
        };
        match images.last_mut() {
            Some(g) if g.name == p.image_name => g.versions.push(v),
            _ => images.push(ImageGroup {
                name: p.image_name.clone(),
                versions: vec![v],
            }),
        }
    }
    html(&ListPage {
        chrome: Chrome::new(&session, "profiles"),
        images,
    })
}

pub struct Behavior {
    pub kind: String,
    pub detail: String,
    pub count: i64,
    pub pct: i64,
    pub example: String,
}

/// One executable in the process graph, at `depth` below the workload's first process.
pub struct ProcessNode {
    pub name: String,
    pub chain: String,
    pub depth: usize,
    pub seen: String,
    pub behaviors: Vec<Behavior>,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct DetailPage {
    chrome: Chrome,
    p: store::Profile,
    score: String,
    first_seen: String,
    updated: String,
    stable_at: String,
    graph: Vec<ProcessNode>,
    signals_href: String,
}

/// The behaviours grouped by acting process, ordered as a depth-first walk of the process chains.
fn graph(p: &store::Profile) -> Vec<ProcessNode> {
    let mut by_chain: BTreeMap<String, Vec<Behavior>> = BTreeMap::new();
    for (key, count) in &p.nodes {
        let Some(b) = rampart_model::behavior::Behavior::from_key(key) else {
            continue;
        };
        // Every prefix of a chain is a process too (its parent), even with no behaviour of its own.
        let parts: Vec<&str> = b.process.split(" > ").collect();
        for i in 1..parts.len() {
            by_chain.entry(parts[..i].join(" > ")).or_default();
        }
        by_chain
            .entry(b.process.clone())
            .or_default()
            .push(Behavior {
                kind: b.kind,
                detail: b.detail,
                count: *count,
                pct: (p.commonality(key) * 100.0).round() as i64,
                example: p.examples.get(key).cloned().unwrap_or_default(),
            });
    }
    // BTreeMap order on " > "-joined chains puts each parent right before its children.
    by_chain
        .into_iter()
        .map(|(chain, mut behaviors)| {
            let seen = behaviors
                .iter()
                .find(|b| b.kind == "process")
                .map(|b| format!("{}%", b.pct))
                .unwrap_or_default();
            behaviors.retain(|b| b.kind != "process");
            behaviors.sort_by(|a, b| b.pct.cmp(&a.pct).then(a.detail.cmp(&b.detail)));
            let depth = chain.matches(" > ").count();
            ProcessNode {
                name: chain.rsplit(" > ").next().unwrap_or("").to_string(),
                depth: depth.min(8),
                seen,
                behaviors,
                chain,
            }
        })
        .collect()
}

pub async fn detail(
    State(s): State<AppState>,
    UiViewer(session): UiViewer,
    Id(id): Id,
) -> UiResult {
    let p = store::get(&s.db, id).await?;
    let image = if p.image_tag.is_empty() {
        p.image_name.clone()
    } else {
        format!("{}:{}", p.image_name, p.image_tag)
    };
    html(&DetailPage {
        chrome: Chrome::new(&session, "profiles"),
        score: format!("{:.0}%", p.score() * 100.0),
        first_seen: view::time(p.first_seen),
        updated: view::time(p.last_updated),
        stable_at: p.stable_at.map(view::time).unwrap_or_default(),
        graph: graph(&p),
        signals_href: view::explorer_href(&format!("image:{image}"), "all"),
        p,
    })
}
