//! Login and logout (the home page is [`super::dashboard`]).

use axum::Router;
use axum::extract::State;
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;

use super::csrf::{CsrfForm, NoFields};
use super::error::WebError;
use super::layout;
use super::session::{self, cookie, same_secret, set_cookie};
use crate::app::AppState;
use crate::auth::lockouts::{self, Surface};
use crate::auth::password;
use crate::client_addr::ClientAddr;
use crate::store::{StoreError, Username};

/// Double-submit cookie for the login form (there is no session yet).
const LOGIN_COOKIE: &str = "fs_login";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/login", get(login_form).post(login))
        .route("/console/logout", post(logout))
}

fn login_page(token: &str, error: Option<&str>) -> maud::Markup {
    layout::bare_page(
        "Log in",
        html! {
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form.stack method="post" action="/console/login" {
                input type="hidden" name="csrf" value=(token);
                label { "Username" input name="username" id="username" autocomplete="username" required; }
                label { "Password" input name="password" id="password" type="password" autocomplete="current-password" required; }
                button type="submit" id="login" { "Log in" }
            }
        },
    )
}

async fn login_form(State(state): State<AppState>) -> Response {
    let token = session::random_token();
    let mut headers = HeaderMap::new();
    headers.append(
        SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &token, 3600, secure(&state)),
    );
    (headers, login_page(&token, None)).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: String,
    username: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Result<Response, WebError> {
    let cookie_token = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if cookie_token.is_empty() || !same_secret(&cookie_token, &form.csrf) {
        return Err(WebError::Forbidden(
            "the login form expired; reload the page and try again",
        ));
    }
    let attempt = match lockouts::begin(&state, &form.username, client).await? {
        Ok(attempt) => attempt,
        Err(refused) => {
            let secs = refused.retry_after_secs();
            let message = format!(
                "Too many failed attempts. Please wait {} and try again.",
                wait_text(secs)
            );
            let mut res = login_page(&cookie_token, Some(&message)).into_response();
            *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            res.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
            return Ok(res);
        }
    };
    let credentials = match form.username.parse::<Username>() {
        Ok(name) => match state.store.user_credentials(&name).await {
            Ok(c) => Some(c),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
        Err(_) => None,
    };
    let phc = credentials.as_ref().map(|c| c.password_hash.clone());
    let ok = password::verify_password(form.password, phc).await && credentials.is_some();
    lockouts::finish(&state, attempt, ok, client, Surface::Console).await?;
    let Some(credentials) = credentials.filter(|_| ok) else {
        let mut res =
            login_page(&cookie_token, Some("Wrong username or password.")).into_response();
        *res.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(res);
    };
    // Told only to someone who knows the password.
    if state.store.user_disabled(credentials.user.id).await? {
        let mut res = login_page(&cookie_token, Some("This account is disabled.")).into_response();
        *res.status_mut() = StatusCode::FORBIDDEN;
        return Ok(res);
    }
    let (mut headers, _) =
        session::start(state.store.as_ref(), &credentials.user, secure(&state)).await?;
    headers.append(SET_COOKIE, set_cookie(LOGIN_COOKIE, "", 0, secure(&state)));
    Ok((headers, Redirect::to("/console")).into_response())
}

async fn logout(
    State(state): State<AppState>,
    CsrfForm {
        user,
        form: NoFields {},
    }: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    let headers = session::end(state.store.as_ref(), &user, secure(&state)).await?;
    Ok((headers, Redirect::to("/console/login")).into_response())
}

/// "42 seconds", "1 minute", "15 minutes".
fn wait_text(secs: u64) -> String {
    match secs {
        0..=1 => "a second".to_owned(),
        2..=90 => format!("{secs} seconds"),
        _ => {
            let minutes = secs.div_ceil(60);
            format!("{minutes} minutes")
        }
    }
}

fn secure(state: &AppState) -> bool {
    !state.settings.console_insecure_cookies
}
