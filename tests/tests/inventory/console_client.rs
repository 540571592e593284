//! A cookie-keeping console client (no redirects followed, so tests see them).

use std::collections::BTreeMap;

use reqwest::redirect::Policy;

use crate::helpers::{PASSWORD, TestApp};

pub struct Console<'a> {
    pub app: &'a TestApp,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

impl<'a> Console<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if val.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> reqwest::Response {
        let res = self
            .client
            .get(self.app.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&res);
        res
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let res = self
            .client
            .post(self.app.url(path))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep_cookies(&res);
        res
    }

    /// The value of hidden input `name` in `html`.
    pub fn hidden(html: &str, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} field in {html}"))
            + marker.len();
        html[start..start + html[start..].find('"').unwrap()].to_owned()
    }

    /// Logs in through the form; panics unless it redirects into the console.
    pub async fn login(&mut self, username: &str) -> String {
        let page = self.get("/console/login").await.text().await.unwrap();
        let token = Self::hidden(&page, "csrf");
        let res = self
            .post(
                "/console/login",
                &[
                    ("csrf", &token),
                    ("username", username),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(res.status(), 303, "login: {}", res.text().await.unwrap());
        assert_eq!(res.headers()["location"], "/console");
        let home = self.get("/console").await;
        let to = home
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let page = match to {
            Some(to) => self.get(&to).await.text().await.unwrap(),
            None => home.text().await.unwrap(),
        };
        Self::hidden(&page, "csrf")
    }
}
