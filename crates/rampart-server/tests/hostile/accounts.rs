//! Issue 20, item 10 (accounts): a new password ends the sessions the old one opened, and an admin mints
//! API tokens only for itself (a token minted for another user would act, and be audited, as them).

use serde_json::json;

use super::{addr_of, assert_healthz_fast};
use crate::common::{TestDb, TestServer};

async fn a_new_password_ends_old_sessions(db: TestDb) {
    let s = TestServer::start(&db).await;
    let session = s.user_token("rita", "responder").await;
    let (st, _) = s.call("GET", "/api/v1/auth/me", Some(&session), None).await;
    assert_eq!(st, 200);
    let rita = s.user_id("rita").await;
    let (st, v) = s
        .call(
            "PATCH",
            &format!("/api/v1/users/{rita}"),
            Some(&s.admin),
            Some(json!({"password": "a-brand-new-password"})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.call("GET", "/api/v1/auth/me", Some(&session), None).await;
    assert_eq!(
        st, 401,
        "the session opened with the old password is over: {v}"
    );
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "rita", "password": "a-brand-new-password"})),
        )
        .await;
    assert_eq!(st, 200);
    assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;
}
both!(a_new_password_ends_old_sessions);

async fn admins_mint_tokens_only_for_themselves(db: TestDb) {
    let s = TestServer::start(&db).await;
    s.add_user("vera", "admin").await;
    let vera = s.user_id("vera").await;
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&s.admin),
            Some(json!({"name": "as-vera", "role": "admin", "user_id": vera})),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("sign in as that user"),
        "{v}"
    );
    let (_, tokens) = s.call("GET", "/api/v1/tokens", Some(&s.admin), None).await;
    assert_eq!(tokens["tokens"], json!([]), "nothing minted");
    let (st, v) = s
        .call(
            "POST",
            "/api/v1/tokens",
            Some(&s.admin),
            Some(json!({"name": "mine", "role": "viewer"})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_healthz_fast(addr_of(&s.base)).await;
    s.stop().await;
}
both!(admins_mint_tokens_only_for_themselves);
