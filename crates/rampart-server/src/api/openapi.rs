//! The OpenAPI 3.1 document at `/api/openapi.json`, generated from the route table so that it cannot miss a
//! route or disagree about who may call it. Bodies of `rampart_api` types get their schema, derived from the
//! type itself (utoipa), under `components/schemas`.

use std::collections::BTreeMap;

use rampart_api::utoipa::ToSchema;
use serde_json::{json, Map, Value};

use super::{routes, Access};

/// The schema of a wire type: its name, and its schema with those of the types it refers to.
#[derive(Clone, Copy)]
pub struct Schema {
    pub name: fn() -> String,
    collect: fn(&mut Schemas),
}

/// Component schemas by name.
type Schemas = BTreeMap<String, Value>;

impl Schema {
    pub fn of<T: ToSchema>() -> Schema {
        Schema {
            name: || T::name().into_owned(),
            collect: collect::<T>,
        }
    }

    fn reference(&self) -> Value {
        json!({"$ref": format!("#/components/schemas/{}", (self.name)())})
    }
}

fn collect<T: ToSchema>(out: &mut Schemas) {
    let mut found = vec![(T::name().into_owned(), T::schema())];
    T::schemas(&mut found);
    for (name, schema) in found {
        // utoipa's schema types serialise to JSON infallibly (plain maps, strings and numbers).
        let schema = serde_json::to_value(schema).unwrap_or_default();
        out.insert(name, schema);
    }
}

fn json_body(schema: Option<Schema>) -> Value {
    let schema = schema.map_or_else(|| json!({"type": "object"}), |s| s.reference());
    json!({"application/json": {"schema": schema}})
}

fn operation(def: &super::RouteDef) -> Value {
    let mut op = Map::new();
    op.insert("summary".into(), json!(def.summary));
    op.insert(
        "operationId".into(),
        json!(format!("{} {}", def.method, def.path)),
    );
    op.insert("x-rampart-access".into(), json!(def.access.as_str()));
    let security = match def.access {
        Access::Public | Access::EnrollmentToken => json!([]),
        _ => json!([{"bearer": []}]),
    };
    op.insert("security".into(), security);
    if def.path.contains("{id}") {
        // Agent and backend rule ids are names; every other id is a number.
        let numeric = !(def.path.starts_with("/api/v1/rules/")
            || def.path.starts_with("/api/v1/backend-rules/"));
        op.insert(
            "parameters".into(),
            json!([{"name": "id", "in": "path", "required": true,
                    "schema": if numeric { json!({"type": "integer"}) } else { json!({"type": "string"}) }}]),
        );
    }
    if let Some(body) = def.body {
        op.insert(
            "requestBody".into(),
            json!({"required": true, "description": body, "content": json_body(def.request)}),
        );
    }
    let err = json!({"$ref": "#/components/responses/Error"});
    let mut responses = Map::new();
    let content = match def.response {
        Some(s) => json_body(Some(s)),
        None => json!({"application/json": {}}),
    };
    responses.insert(
        "200".into(),
        json!({"description": "success", "content": content}),
    );
    if def.body.is_some() {
        responses.insert("400".into(), err.clone());
        responses.insert("413".into(), err.clone());
        responses.insert("422".into(), err.clone());
    }
    if !matches!(def.access, Access::Public) {
        responses.insert("401".into(), err.clone());
    }
    if matches!(def.access, Access::Responder | Access::Admin) {
        responses.insert("403".into(), err.clone());
    }
    if def.path.contains("{id}") {
        responses.insert("404".into(), err);
    }
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    let mut schemas = Schemas::new();
    collect::<rampart_api::error::ErrorBody>(&mut schemas);
    for def in routes().into_iter().filter(|d| !d.is_ui()) {
        for s in def.request.iter().chain(&def.response) {
            (s.collect)(&mut schemas);
        }
        let entry = paths
            .entry(def.path.to_string())
            .or_insert_with(|| json!({}));
        entry[def.method.to_ascii_lowercase()] = operation(&def);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Rampart API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Signals, rules, agents and users of a Rampart backend. Times are epoch nanoseconds. \
                Authenticate with `Authorization: Bearer <token>`: a session token from /api/v1/auth/login or an API \
                token (roles viewer < responder < admin), or an agent credential for agent routes. \
                `x-rampart-access` gives the role each operation needs."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
            "responses": {"Error": {"description": "error with a reason", "content": json_body(Some(Schema::of::<rampart_api::error::ErrorBody>()))}}
        }
    })
}
