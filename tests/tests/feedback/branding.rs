//! The company's brand and the customer's language on what customers see:
//! a customer record in Portuguese gets its feedback email (at the real
//! SMTP server) and its form in Portuguese, with the brand's name, colours
//! and logo; unset, everything is Fieldsync's own and English; a bad brand
//! setting stops `fieldsync serve` before it starts.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fieldsync_server::testing::TestBackend;
use serde_json::{Value, json};

use crate::helpers::{TestApp, backend_tests, fieldsync_bin, spawn_app};
use crate::office::{create_job, job_id, new_job};
use crate::support::{Scene, SmtpSink, customer, fast, link_in, scene, visit};

/// A real (1x1, blue) PNG: the logo a company would upload.
pub const LOGO_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x08, 0xd7, 0x63, 0xe0, 0x60, 0xf8, 0x0f,
    0x00, 0x01, 0x04, 0x01, 0x00, 0x5f, 0xe5, 0xc3, 0x4b, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

pub const BRAND: &str = "Aquecimentos Lima & Filhos";
/// Yellow: light, so the button's text must be dark.
pub const COLOUR: &str = "#ffd23f";
/// Navy: dark, so the band's text must be white.
pub const ACCENT: &str = "#0b2545";

const MONTHS_PT: [&str; 12] = [
    "janeiro",
    "fevereiro",
    "março",
    "abril",
    "maio",
    "junho",
    "julho",
    "agosto",
    "setembro",
    "outubro",
    "novembro",
    "dezembro",
];

/// The logo file a branded server reads (kept for the test's life).
pub fn logo_file() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("logo.png"), LOGO_PNG).unwrap();
    dir
}

/// A branded scene: the brand flags as an operator would set them.
pub async fn branded_scene(backend: TestBackend, smtp_port: u16, logo_dir: &Path) -> Scene {
    let logo = logo_dir.join("logo.png");
    scene(backend, |c| {
        fast(c, smtp_port);
        c.brand.brand_name = BRAND.into();
        c.brand.brand_colour = COLOUR.parse().unwrap();
        c.brand.brand_accent_colour = ACCENT.parse().unwrap();
        c.brand.brand_logo = Some(logo);
    })
    .await
}

async fn send(app: &TestApp, token: &str, method: &str, path: &str, body: Value) -> Value {
    let req = match method {
        "POST" => app.client.post(app.url(path)),
        _ => app.client.patch(app.url(path)),
    };
    let res = req.bearer_auth(token).json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert!(
        status == 200 || status == 201,
        "{method} {path}: {status} {body}"
    );
    body
}

/// A job for the technician made from a registry customer who reads `language`.
pub async fn job_for_registry_customer(s: &Scene, language: &str) -> fieldsync_core::JobId {
    let token = &s.dispatcher;
    let c = send(
        &s.app,
        token,
        "POST",
        "/v1/customers",
        json!({"kind": "person", "name": "Ana Lima", "depot_id": s.depot, "language": language}),
    )
    .await;
    assert_eq!(c["language"], language, "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    send(
        &s.app,
        token,
        "POST",
        &format!("/v1/customers/{id}/contacts"),
        json!({"name": "Ana Lima", "email": "ana@example.com", "preferred_channel": "email"}),
    )
    .await;
    let mut body = new_job("Ana Lima", Some(s.tech));
    body.as_object_mut().unwrap().remove("customer");
    body["customer_id"] = json!(id);
    job_id(&create_job(&s.app, token, &body).await)
}

async fn a_portuguese_customer_gets_the_branded_email_and_form_in_portuguese(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let logo_dir = logo_file();
    let s = branded_scene(backend, smtp.port, logo_dir.path()).await;
    let job = job_for_registry_customer(&s, "pt").await;
    let mut phone = s.device(1).await;
    visit(&mut phone, job);
    phone.sync(&s.app).await;
    assert_eq!(s.deliver().await, 1);
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    let m = &mail[0];
    assert_eq!(m["to"], json!(["ana@example.com"]));

    // In Portuguese, with today's date the Portuguese way ("7 de março de 2026").
    let today = time::OffsetDateTime::now_utc().date();
    let date = format!(
        "{} de {} de {}",
        today.day(),
        MONTHS_PT[usize::from(u8::from(today.month())) - 1],
        today.year()
    );
    let subject = m["subject"].as_str().unwrap();
    assert_eq!(subject, format!("Como correu a visita de Marta em {date}?"));
    let text = m["text"].as_str().unwrap();
    for expected in [
        "Olá Ana,",
        "Pode dizer-nos como correu?",
        BRAND,
        "Para não receber mais pedidos de opinião:",
    ] {
        assert!(text.contains(expected), "text lacks {expected:?}: {text}");
    }
    for english in ["Hello", "visited", "Could you", "Thank you", "To receive"] {
        assert!(!text.contains(english), "English {english:?} left: {text}");
    }

    // The HTML part: the language, the brand's name (escaped), colours with
    // readable text on them (inline: mail clients drop <style>), the logo.
    let html = m["html"].as_str().unwrap();
    let logo_url = s.app.url("/brand/logo");
    for expected in [
        "<html lang=\"pt\">",
        "Aquecimentos Lima &amp; Filhos",
        "background: #ffd23f; color: #000000",
        "background: #0b2545; color: #ffffff",
        &format!("src=\"{logo_url}\""),
        "alt=\"Aquecimentos Lima &amp; Filhos\"",
        "Dar a minha opinião",
    ] {
        assert!(html.contains(expected), "html lacks {expected:?}: {html}");
    }
    assert!(
        !html.contains("#0b57d0"),
        "no Fieldsync colour left: {html}"
    );

    // The logo the email points at is the company's file.
    let res = s.app.client.get(&logo_url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(&res.bytes().await.unwrap()[..], LOGO_PNG);

    // The form: Portuguese, branded.
    let link = link_in(m);
    let res = s.app.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("img-src 'self'"), "{csp}");
    let page = res.text().await.unwrap();
    for expected in [
        "<html lang=\"pt\">",
        "Como correu a visita?",
        "O problema ficou resolvido?",
        "Qual foi o grau de cortesia de Marta?",
        "Enviar opinião",
        &date,
        "Aquecimentos Lima &amp; Filhos",
        "src=\"/brand/logo\"",
        "background: #ffd23f",
    ] {
        assert!(page.contains(expected), "page lacks {expected:?}: {page}");
    }
    for english in [
        "How did",
        "Was the problem",
        "Send feedback",
        "Yes<",
        "very poor",
    ] {
        assert!(!page.contains(english), "English {english:?} left: {page}");
    }

    // A wrong answer is explained in Portuguese; then the answer is thanked for.
    let res = s
        .app
        .client
        .post(&link)
        .form(&[
            ("fixed", "maybe"),
            ("rating", "3"),
            ("courtesy", "4"),
            ("recommend", "8"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("Por favor, indique se o problema ficou resolvido."),
        "{page}"
    );
    let res = s
        .app
        .client
        .post(&link)
        .form(&[
            ("fixed", "yes"),
            ("rating", "5"),
            ("courtesy", "5"),
            ("recommend", "9"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("Obrigado!") && page.contains("lang=\"pt\""),
        "{page}"
    );
    // The API shows which language the request was written in.
    let f = s.feedback(job).await.unwrap();
    assert_eq!(f["request"]["language"], "pt", "{f}");
}

async fn unset_brand_and_language_are_fieldsyncs_and_english(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let s = scene(backend, |c| fast(c, port)).await;
    // A typed-in customer (no registry record) and a registry one left at the default.
    let typed = s.job(customer("ana@example.com")).await;
    let mut phone = s.device(1).await;
    visit(&mut phone, typed);
    phone.sync(&s.app).await;
    assert_eq!(s.deliver().await, 1);
    let m = &smtp.messages()[0];
    let subject = m["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("How did Marta's visit on "),
        "{subject}"
    );
    let html = m["html"].as_str().unwrap();
    for expected in [
        "<html lang=\"en\">",
        "background: #0b57d0; color: #ffffff",
        "alt=\"Fieldsync\"",
        &format!("src=\"{}\"", s.app.url("/brand/logo")),
        "Give feedback",
    ] {
        assert!(html.contains(expected), "html lacks {expected:?}: {html}");
    }
    let res = s
        .app
        .client
        .get(s.app.url("/brand/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    assert!(res.text().await.unwrap().contains("<svg"));
    let page = s
        .app
        .client
        .get(link_in(m))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<html lang=\"en\">") && page.contains("How did the visit go?"));
    assert!(page.contains("id=\"brand-name\">Fieldsync<"), "{page}");

    // The customer API: language defaults to English, takes the supported
    // codes only, and can be changed.
    let token = &s.dispatcher;
    let c = send(
        &s.app,
        token,
        "POST",
        "/v1/customers",
        json!({"kind": "company", "name": "Lima Lda", "depot_id": s.depot}),
    )
    .await;
    assert_eq!(c["language"], "en", "{c}");
    let id = c["id"].as_str().unwrap();
    for bad in [json!("fr"), json!("PT"), json!(""), json!(7)] {
        let body = json!({"kind": "company", "name": "X", "depot_id": s.depot, "language": bad});
        let res = s
            .app
            .client
            .post(s.app.url("/v1/customers"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let err: Value = res.json().await.unwrap();
        assert!(
            (400..500).contains(&status) && status != 404,
            "{bad}: {status} {err}"
        );
        assert!(
            err.to_string().contains("language"),
            "the error names the field: {err}"
        );
        let res = s
            .app
            .client
            .patch(s.app.url(&format!("/v1/customers/{id}")))
            .bearer_auth(token)
            .json(&json!({"language": bad}))
            .send()
            .await
            .unwrap();
        assert!((400..500).contains(&res.status().as_u16()), "{bad}");
    }
    let c = send(
        &s.app,
        token,
        "PATCH",
        &format!("/v1/customers/{id}"),
        json!({"language": "pt"}),
    )
    .await;
    assert_eq!(c["language"], "pt");
    let res = s
        .app
        .client
        .get(s.app.url(&format!("/v1/customers/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["customer"]["language"], "pt", "{view}");

    // A page that knows no customer follows the browser's language.
    let res = s
        .app
        .client
        .get(s.app.url(&format!("/feedback/{}", "A".repeat(43))))
        .header("accept-language", "pt-PT,pt;q=0.9,en;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("Ligação não encontrada") && page.contains("lang=\"pt\""),
        "{page}"
    );
}

/// Runs `fieldsync serve` with `args` and `env`; it must exit (not serve) within 30 s.
fn serve_refused(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut child = Command::new(fieldsync_bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .env("DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fieldsync");
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("fieldsync serve {args:?} started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "{args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn a_bad_brand_setting_refuses_to_start(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let gif = dir.path().join("logo.gif");
    std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00").unwrap();
    let big = dir.path().join("big.png");
    let mut bytes = LOGO_PNG.to_vec();
    bytes.resize(300 * 1024, 0);
    std::fs::write(&big, bytes).unwrap();
    let missing = dir.path().join("missing.png");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--brand-colour".into(), "blue".into()], "#rrggbb"),
        (
            vec!["--brand-accent-colour".into(), "#12345".into()],
            "#rrggbb",
        ),
        (
            vec!["--brand-name".into(), "  ".into()],
            "brand name is empty",
        ),
        (
            vec!["--brand-logo".into(), gif.display().to_string()],
            "neither a PNG nor an SVG",
        ),
        (
            vec!["--brand-logo".into(), big.display().to_string()],
            "at most 262144",
        ),
        (
            vec!["--brand-logo".into(), missing.display().to_string()],
            "missing.png",
        ),
    ];
    for (args, message) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let stderr = serve_refused(&app, &args, &[]);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    // The same through the environment.
    let stderr = serve_refused(&app, &[], &[("FIELDSYNC_BRAND_COLOUR", "#zzzzzz")]);
    assert!(stderr.contains("#rrggbb"), "{stderr}");
    let stderr = serve_refused(
        &app,
        &[],
        &[("FIELDSYNC_BRAND_LOGO", gif.to_str().unwrap())],
    );
    assert!(stderr.contains("neither a PNG nor an SVG"), "{stderr}");
}

backend_tests!(
    a_portuguese_customer_gets_the_branded_email_and_form_in_portuguese,
    unset_brand_and_language_are_fieldsyncs_and_english,
    a_bad_brand_setting_refuses_to_start,
);
