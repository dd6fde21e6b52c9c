//! Signing in and out, the owner's first-start page, invitations, password resets and the
//! people page (who has which role; the owner invites, changes roles and revokes). The forms
//! that work without a session (sign-in, first start, invitation, reset) refuse a request from
//! another origin; sign-in failures are throttled per address like API keys'.

use std::collections::HashMap;
use std::time::Instant;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, extract};
use facteur_engine::people::{PeopleError, PeopleMail, SESSION_MS};
use facteur_engine::time::now_ms;
use facteur_store::people::Role;
use serde_json::{Value, json};

use super::{App, Csp, base, render, with};
use crate::auth::{ClientIp, Principal, SESSION_COOKIE};
use crate::errors::page_error;

type Fields = Form<HashMap<String, String>>;

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map(String::as_str).unwrap_or("")
}

/// Where to go after signing in: a page of the app, never another site.
fn next_page(next: &str) -> &str {
    if crate::auth::is_page(next) && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/app"
    }
}

/// Whether a form without a session came from one of our pages (browsers send `Origin` with
/// every POST; a request without one is not a browser's cross-site form).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}

/// Whether the request came over the https listener.
type Tls = Option<Extension<crate::server::OverTls>>;

/// The session cookie (`Secure` when the app is served over https: its public URL, or this
/// request came over the https listener).
fn session_cookie(app: &facteur_engine::Engine, tls: bool, token: &str, max_age_s: i64) -> String {
    let secure = if tls || app.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}")
}

fn signed_in(app: &facteur_engine::Engine, tls: bool, token: &str, to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, to.to_string()),
            (
                header::SET_COOKIE,
                session_cookie(app, tls, token, SESSION_MS / 1000),
            ),
        ],
    )
        .into_response()
}

fn public_page(status: StatusCode, name: &str, title: &str, extra: Value) -> Response {
    render(
        status,
        name,
        with(json!({"title": title, "csrf": ""}), extra),
        Csp::App,
    )
}

fn cross_site() -> Response {
    page_error(
        StatusCode::FORBIDDEN,
        "This form was sent from another site; open the page on this server and send it again",
    )
}

/// A people error on a page: bad input 400 (the form again, with the reason), a clash with
/// what exists 409, the store 503.
fn people_error(e: PeopleError) -> (StatusCode, String) {
    match e {
        PeopleError::Store(facteur_store::Error::Unavailable(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The database does not answer; try again in a moment".into(),
        ),
        PeopleError::Store(facteur_store::Error::Conflict(why)) => (StatusCode::CONFLICT, why),
        PeopleError::Store(e) => (StatusCode::BAD_REQUEST, e.to_string()),
        PeopleError::BadCredentials => (StatusCode::UNAUTHORIZED, e.to_string()),
        e => (StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// A people error as an error page.
fn failed(e: PeopleError) -> Response {
    let (status, why) = people_error(e);
    page_error(status, &why)
}

#[derive(serde::Deserialize)]
pub struct Next {
    #[serde(default)]
    next: String,
    #[serde(default)]
    done: String,
}

/// `GET /app/sign-in`.
pub async fn sign_in_page(State(app): App, Query(q): Query<Next>) -> Response {
    let nobody = app.store.users_count().await.unwrap_or(1) == 0;
    public_page(
        StatusCode::OK,
        "sign_in.html",
        "Sign in",
        json!({"next": next_page(&q.next), "nobody": nobody, "notice": match q.done.as_str() {
            "reset" => "Your password is changed: sign in with it.",
            "out" => "You are signed out.",
            _ => "",
        }}),
    )
}

/// `POST /app/sign-in`: email, password, next.
pub async fn sign_in(
    State(app): App,
    tls: Tls,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    let email = field(&form, "email").trim().to_string();
    let next = next_page(field(&form, "next")).to_string();
    let again = |status: StatusCode, error: &str| {
        public_page(
            status,
            "sign_in.html",
            "Sign in",
            json!({"next": next, "email": email, "error": error}),
        )
    };
    if app.auth_limiter.blocked(ip, Instant::now()) {
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts from your address: wait a few minutes, or reset your password",
        );
    }
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match app
        .sign_in(
            &email,
            field(&form, "password"),
            &ip.to_string(),
            agent,
            now_ms(),
        )
        .await
    {
        Ok(s) => signed_in(&app, tls.is_some(), &s.token, &next),
        Err(e) => {
            if matches!(e, PeopleError::BadCredentials) {
                app.auth_limiter.failed(ip, Instant::now());
                tracing::info!(client = %ip, "sign-in failed");
            }
            let (status, why) = people_error(e);
            again(status, &why)
        }
    }
}

fn signed_out(app: &facteur_engine::Engine, tls: bool) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/app/sign-in?done=out".to_string()),
            (header::SET_COOKIE, session_cookie(app, tls, "", 0)),
        ],
    )
        .into_response()
}

/// `POST /app/sign-out`: ends this session.
pub async fn sign_out(State(app): App, tls: Tls, Extension(p): Extension<Principal>) -> Response {
    if let Some(person) = &p.person
        && let Err(e) = app.store.end_session(&person.token).await
    {
        return failed(e.into());
    }
    signed_out(&app, tls.is_some())
}

/// `POST /app/sign-out-everywhere`: ends every session of this person.
pub async fn sign_out_everywhere(
    State(app): App,
    tls: Tls,
    Extension(p): Extension<Principal>,
) -> Response {
    if let Some(person) = &p.person
        && let Err(e) = app.store.end_sessions_of(person.user.id).await
    {
        return failed(e.into());
    }
    signed_out(&app, tls.is_some())
}

/// `GET /app/setup/{token}`: the first start's page that creates the owner.
pub async fn setup_page(Path(token): Path<String>) -> Response {
    public_page(
        StatusCode::OK,
        "setup.html",
        "Create the owner",
        json!({"token": token}),
    )
}

/// `POST /app/setup/{token}`: email, name, password.
pub async fn setup(
    State(app): App,
    tls: Tls,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    let (email, name) = (field(&form, "email"), field(&form, "name"));
    match app
        .create_owner(&token, email, name, field(&form, "password"), now_ms())
        .await
    {
        Ok(s) => signed_in(&app, tls.is_some(), &s.token, "/app"),
        Err(e) => {
            let (status, why) = people_error(e);
            public_page(
                status,
                "setup.html",
                "Create the owner",
                json!({"token": token, "email": email, "name": name, "error": why}),
            )
        }
    }
}

/// `GET /app/invitation/{token}`.
pub async fn invitation_page(Path(token): Path<String>) -> Response {
    public_page(
        StatusCode::OK,
        "invitation.html",
        "Accept an invitation",
        json!({"token": token}),
    )
}

/// `POST /app/invitation/{token}`: name, password (theirs, if they have an account already).
pub async fn accept_invitation(
    State(app): App,
    tls: Tls,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    let name = field(&form, "name");
    match app
        .accept_invitation(&token, name, field(&form, "password"), now_ms())
        .await
    {
        Ok(s) => signed_in(&app, tls.is_some(), &s.token, "/app"),
        Err(e) => {
            let (status, why) = people_error(e);
            public_page(
                status,
                "invitation.html",
                "Accept an invitation",
                json!({"token": token, "name": name, "error": why}),
            )
        }
    }
}

/// `GET /app/reset`: asks for the address to send a reset link to.
pub async fn reset_request_page() -> Response {
    public_page(
        StatusCode::OK,
        "reset_request.html",
        "Reset your password",
        json!({}),
    )
}

/// `POST /app/reset`: mails a reset link when someone has the address; the answer is the same
/// either way, so addresses cannot be probed.
pub async fn reset_request(
    State(app): App,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    if app.auth_limiter.blocked(ip, Instant::now()) {
        return public_page(
            StatusCode::TOO_MANY_REQUESTS,
            "reset_request.html",
            "Reset your password",
            json!({"error": "Too many attempts from your address: wait a few minutes"}),
        );
    }
    let email = field(&form, "email").trim();
    match app.reset_link(email, now_ms()).await {
        Ok(Some(token)) => {
            let link = format!("{}/app/reset/{token}", app.public_url);
            if let Err(e) = app.mail_link(email, &link, PeopleMail::PasswordReset).await {
                tracing::warn!(error = %e, "the password reset mail could not be queued");
            }
        }
        Ok(None) => {
            // Counted like a failed sign-in: probing addresses costs the same.
            app.auth_limiter.failed(ip, Instant::now());
        }
        Err(e) => {
            let (status, why) = people_error(e);
            return public_page(
                status,
                "reset_request.html",
                "Reset your password",
                json!({"error": why}),
            );
        }
    }
    public_page(
        StatusCode::OK,
        "reset_request.html",
        "Reset your password",
        json!({"sent": email}),
    )
}

/// `GET /app/reset/{token}`.
pub async fn reset_page(Path(token): Path<String>) -> Response {
    public_page(
        StatusCode::OK,
        "reset.html",
        "Choose a new password",
        json!({"token": token}),
    )
}

/// `POST /app/reset/{token}`: password. Every session of the person ends.
pub async fn reset(
    State(app): App,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Fields,
) -> Response {
    if !same_origin(&headers) {
        return cross_site();
    }
    // Setting the password ends every session of the person, in the same transaction.
    let result = app
        .reset_password(&token, field(&form, "password"), now_ms())
        .await;
    match result {
        Ok(_) => (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, "/app/sign-in?done=reset")],
        )
            .into_response(),
        Err(e) => {
            let (status, why) = people_error(e);
            public_page(
                status,
                "reset.html",
                "Choose a new password",
                json!({"token": token, "error": why}),
            )
        }
    }
}

/// `GET /app/people`: the account's people and roles; the owner's invitation form.
pub async fn people_page(State(app): App, Extension(p): Extension<Principal>) -> Response {
    people_view(&app, &p, StatusCode::OK, json!({})).await
}

async fn people_view(
    app: &facteur_engine::Engine,
    p: &Principal,
    status: StatusCode,
    extra: Value,
) -> Response {
    let members = match app.store.members(p.account.id).await {
        Ok(m) => m,
        Err(e) => return failed(e.into()),
    };
    let custom = match app.store.custom_roles().await {
        Ok(c) => c,
        Err(e) => return failed(e.into()),
    };
    let name_of = |r: &Role| match r {
        Role::Custom(id) => custom
            .iter()
            .find(|c| c.id == *id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| "(deleted role)".into()),
        r => r.as_str().to_string(),
    };
    let members: Vec<Value> = members
        .iter()
        .map(|(u, r)| json!({"id": u.id, "name": u.name, "email": u.email, "role": r.key(), "role_name": name_of(r), "disabled": u.disabled_at.is_some()}))
        .collect();
    let roles: Vec<Value> = Role::ALL
        .iter()
        .map(|r| json!({"key": r.key(), "name": r.as_str()}))
        .chain(
            custom
                .iter()
                .map(|c| json!({"key": Role::Custom(c.id).key(), "name": c.name})),
        )
        .collect();
    let ctx = with(
        base(p, "People", "people"),
        with(json!({"members": members, "roles": roles}), extra),
    );
    render(status, "people.html", ctx, Csp::App)
}

/// `POST /app/people/invite`: email, role. The invitation is mailed through Facteur; the page
/// also shows the link, for when mail cannot reach them yet.
pub async fn invite(
    State(app): App,
    Extension(p): Extension<Principal>,
    Form(form): Fields,
) -> Response {
    let email = field(&form, "email").trim();
    let Some((role, role_name)) = known_role(&app, field(&form, "role")).await else {
        return people_view(
            &app,
            &p,
            StatusCode::BAD_REQUEST,
            json!({"error": "Choose a role", "email": email}),
        )
        .await;
    };
    let token = match app.invite(p.account.id, email, role, now_ms()).await {
        Ok(t) => t,
        Err(e) => {
            let (status, why) = people_error(e);
            return people_view(&app, &p, status, json!({"error": why, "email": email})).await;
        }
    };
    let link = format!("{}/app/invitation/{token}", app.public_url);
    let by = p
        .person
        .as_ref()
        .map(|x| {
            if x.user.name.is_empty() {
                x.user.email.clone()
            } else {
                x.user.name.clone()
            }
        })
        .unwrap_or_default();
    let mailed = app
        .mail_link(
            email,
            &link,
            PeopleMail::Invitation {
                account: &p.account.name,
                role: &role_name,
                by: &by,
            },
        )
        .await;
    let notice = match mailed {
        Ok(()) => format!("Invitation mailed to {email} as {role_name}."),
        Err(e) => format!("The invitation mail could not be queued ({e}); give them the link."),
    };
    people_view(
        &app,
        &p,
        StatusCode::OK,
        json!({"notice": notice, "link": link}),
    )
    .await
}

/// A role a form names that exists (a predefined one, or a custom one still there), with
/// its name.
async fn known_role(app: &facteur_engine::Engine, key: &str) -> Option<(Role, String)> {
    match Role::parse(key)? {
        Role::Custom(id) => app
            .store
            .custom_role(id)
            .await
            .ok()
            .map(|c| (Role::Custom(id), c.name)),
        r => Some((r, r.as_str().to_string())),
    }
}

/// `GET /app/roles`: the custom roles and their permissions; the owner makes and deletes them.
pub async fn roles_page(State(app): App, Extension(p): Extension<Principal>) -> Response {
    roles_view(&app, &p, StatusCode::OK, json!({})).await
}

async fn roles_view(
    app: &facteur_engine::Engine,
    p: &Principal,
    status: StatusCode,
    extra: Value,
) -> Response {
    let custom = match app.store.custom_roles().await {
        Ok(c) => c,
        Err(e) => return failed(e.into()),
    };
    // The permissions, grouped by what they are about (`templates`, `messages`, …).
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    for perm in crate::auth::Permission::grantable() {
        let name = perm.name();
        let (kind, action) = name.split_once(':').unwrap_or((name, ""));
        let item = json!({"name": name, "action": if action.is_empty() { kind } else { action }});
        match groups.iter_mut().find(|(k, _)| k == kind) {
            Some((_, items)) => items.push(item),
            None => groups.push((kind.to_string(), vec![item])),
        }
    }
    let roles: Vec<Value> = custom
        .iter()
        .map(|c| json!({"id": c.id, "name": c.name, "permissions": c.permissions}))
        .collect();
    let ctx = with(
        base(p, "Roles", "people"),
        with(
            json!({"custom_roles": roles, "groups": groups.iter().map(|(k, v)| json!({"kind": k, "permissions": v})).collect::<Vec<_>>()}),
            extra,
        ),
    );
    render(status, "roles.html", ctx, Csp::App)
}

/// `POST /app/roles`: name, and a `permission` field per permission granted.
pub async fn create_role(
    State(app): App,
    Extension(p): Extension<Principal>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let name = form
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let mut granted = Vec::new();
    for (k, v) in &form {
        if k != "permission" {
            continue;
        }
        match crate::auth::Permission::from_name(v) {
            Some(perm) if crate::auth::Permission::grantable().any(|g| g == perm) => {
                granted.push(v.clone())
            }
            _ => {
                return roles_view(
                    &app,
                    &p,
                    StatusCode::BAD_REQUEST,
                    json!({"error": format!("Unknown permission {v:?}"), "name": name}),
                )
                .await;
            }
        }
    }
    if granted.is_empty() {
        return roles_view(
            &app,
            &p,
            StatusCode::BAD_REQUEST,
            json!({"error": "Choose at least one permission", "name": name}),
        )
        .await;
    }
    match app
        .store
        .create_custom_role(&name, &granted, now_ms())
        .await
    {
        Ok(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/app/roles")]).into_response(),
        Err(e) => {
            let (status, why) = people_error(e.into());
            roles_view(&app, &p, status, json!({"error": why, "name": name})).await
        }
    }
}

/// `POST /app/roles/{id}/delete`: a custom role no one holds.
pub async fn delete_role(
    State(app): App,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Response {
    match app.store.delete_custom_role(id).await {
        Ok(()) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/app/roles")]).into_response(),
        Err(facteur_store::Error::Conflict(why)) => {
            roles_view(&app, &p, StatusCode::CONFLICT, json!({"error": why})).await
        }
        Err(e) => failed(e.into()),
    }
}

/// `POST /app/people/{user}/role`: role. `POST /app/people/{user}/revoke`.
pub async fn change_role(
    State(app): App,
    Extension(p): Extension<Principal>,
    Path((user_id, action)): Path<(i64, String)>,
    extract::Form(form): Fields,
) -> Response {
    let result = async {
        let members = app.store.members(p.account.id).await?;
        if !members.iter().any(|(u, _)| u.id == user_id) {
            return Ok(Err((
                StatusCode::NOT_FOUND,
                "This person has no role on this account".to_string(),
            )));
        }
        let new_role = match action.as_str() {
            "role" => match known_role(&app, field(&form, "role")).await {
                Some((r, _)) => Some(r),
                None => return Ok(Err((StatusCode::BAD_REQUEST, "Choose a role".into()))),
            },
            "revoke" => None,
            _ => return Ok(Err((StatusCode::NOT_FOUND, "No such action".into()))),
        };
        // Whether the change would leave the account without an owner.
        let owners: Vec<i64> = members
            .iter()
            .filter(|(_, r)| *r == Role::Owner)
            .map(|(u, _)| u.id)
            .collect();
        if new_role != Some(Role::Owner) && owners == [user_id] {
            return Ok(Err((
                StatusCode::CONFLICT,
                "An account keeps at least one owner: make someone else owner first".into(),
            )));
        }
        match new_role {
            Some(r) => app.store.grant(user_id, p.account.id, r).await?,
            None => {
                app.store.revoke(user_id, p.account.id).await?;
            }
        }
        Ok::<_, facteur_store::Error>(Ok(()))
    }
    .await;
    match result {
        Ok(Ok(())) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/app/people")]).into_response(),
        Ok(Err((status, why))) => people_view(&app, &p, status, json!({"error": why})).await,
        Err(e) => failed(e.into()),
    }
}
