//! Conflicts beyond the status through the job API (issue 13, item 5): a
//! dispatcher's desk device edits the window and the site address offline
//! while another dispatcher edits them through the office API; two devices
//! of one technician answer the same checklist question differently. The
//! job shows each conflict with who wrote each value (the device's user, or
//! the dispatcher whose API edit it was), and the office keeps one with a
//! single call, an answer included (kept in the technician's name; an
//! office device's change writing any other answer is refused).

use fieldsync_core::automerge::{ObjType, ROOT, ReadDoc, ScalarValue, transaction::Transactable};
use fieldsync_core::job::{DetailsEdit, Window};
use fieldsync_core::{DocId, JobAction, LineId, Role, Timestamp};
use serde_json::{Value, json};

use crate::device::Device;
use crate::helpers::{TestApp, backend_tests, spawn_app};
use crate::office::{create_job, get_job, job_id, new_job, patch_json, post_json};
use crate::sync::office;

backend_tests!(conflicts_show_with_their_writers_and_the_office_keeps_one);

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

async fn view(app: &TestApp, token: &str, id: fieldsync_core::JobId) -> Value {
    let res = get_job(app, token, id).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn conflict<'v>(view: &'v Value, field: &str) -> Option<&'v Value> {
    view["job"]["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == field)
}

/// `(value, writer kind, username)` of each value of the conflict at `field`.
fn written(view: &Value, field: &str) -> Vec<(Value, String, Option<String>)> {
    let c = conflict(view, field).unwrap_or_else(|| panic!("no conflict at {field}: {view}"));
    c["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let writer = view["writers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|w| w["actor"] == v["actor"])
                .unwrap_or_else(|| panic!("no writer for {v}"));
            (
                v["value"].clone(),
                writer["kind"].as_str().unwrap().to_owned(),
                writer["username"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

async fn conflicts_show_with_their_writers_and_the_office_keeps_one(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    // A second dispatcher, who edits through the API.
    let planner_id = app.user("planner", Role::Dispatcher).await;
    let planner = app
        .login("planner", &crate::helpers::actor(202))
        .await
        .access_token;
    let t = app.user("tech", Role::Technician).await;
    let mut body = new_job("Ana Lima", Some(t));
    body["checklist"][0]["required"] = true.into();
    let created = create_job(&app, &office.dispatcher, &body).await;
    let id = job_id(&created);
    let item: LineId = created["job"]["checklist"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // The dispatcher's desk device and two devices of the technician.
    let mut desk = Device::login(&app, "dispatch", Role::Dispatcher, 31).await;
    let mut phone = Device::login(&app, "tech", Role::Technician, 32).await;
    let mut tablet = Device::login(&app, "tech", Role::Technician, 33).await;
    // An office device holds the jobs it opens.
    desk.open(&app, id).await;
    for d in [&mut desk, &mut phone, &mut tablet] {
        assert!(d.sync(&app).await.rejected().is_empty());
    }
    phone.act(id, JobAction::StartTravel, now());
    phone.act(id, JobAction::Arrive, now());
    assert!(phone.sync(&app).await.rejected().is_empty());
    assert!(tablet.sync(&app).await.rejected().is_empty());

    // Offline on the desk: another window and a new address.
    let desk_window =
        Window::new(Timestamp(1_900_000_000_000), Timestamp(1_900_003_600_000)).unwrap();
    desk.act(id, JobAction::EditWindow(desk_window), now());
    desk.act(
        id,
        JobAction::EditDetails(DetailsEdit {
            site_address: Some("Rua Nova 2, Porto".into()),
            ..Default::default()
        }),
        now(),
    );
    // Meanwhile another dispatcher through the office API: a third window,
    // another address.
    let res = patch_json(
        &app,
        &planner,
        &format!("/v1/jobs/{id}"),
        &json!({
            "window": {"start": "2030-03-17T14:00:00Z", "end": "2030-03-17T16:00:00Z"},
            "site_address": "Rua Velha 3, Porto",
        }),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // Two devices of the technician answer the same question differently.
    for (device, value) in [(&mut phone, "1.5 bar"), (&mut tablet, "2.0 bar")] {
        device.act(
            id,
            JobAction::AnswerChecklist {
                item,
                value: value.into(),
            },
            now(),
        );
    }
    for d in [&mut desk, &mut phone, &mut tablet] {
        assert!(d.sync(&app).await.rejected().is_empty());
    }

    let seen = view(&app, &office.dispatcher, id).await;
    let window = written(&seen, "/window");
    assert_eq!(window.len(), 2);
    assert_eq!(
        window[0].0,
        json!({"start": seen["job"]["window"]["start"], "end": seen["job"]["window"]["end"]}),
        "the shown value first"
    );
    // The desk's window, written by the dispatcher's device; the API's
    // (2030-03-17 14:00-16:00 UTC), written by the planner through the API:
    // both dispatchers by name.
    assert!(window.contains(&(
        json!({"start": 1_900_000_000_000_i64, "end": 1_900_003_600_000_i64}),
        "device".to_owned(),
        Some("dispatch".to_owned())
    )));
    assert!(window.contains(&(
        json!({"start": 1_899_986_400_000_i64, "end": 1_899_993_600_000_i64}),
        "office_api".to_owned(),
        Some("planner".to_owned())
    )));
    let api_writer = seen["writers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == "office_api")
        .unwrap();
    assert_eq!(api_writer["user_id"], json!(planner_id.to_string()));
    let address = written(&seen, "/site/address");
    assert!(address.contains(&(
        json!("Rua Nova 2, Porto"),
        "device".to_owned(),
        Some("dispatch".to_owned())
    )));
    assert!(address.contains(&(
        json!("Rua Velha 3, Porto"),
        "office_api".to_owned(),
        Some("planner".to_owned())
    )));
    let answers = written(&seen, &format!("/answers/{item}"));
    let mut answered = answers.clone();
    answered.sort_by_key(|(v, _, _)| v.as_str().map(str::to_owned));
    assert_eq!(
        answered,
        [
            (
                json!("1.5 bar"),
                "device".to_owned(),
                Some("tech".to_owned())
            ),
            (
                json!("2.0 bar"),
                "device".to_owned(),
                Some("tech".to_owned())
            ),
        ]
    );
    // The technician's own device shows the same conflicts once it has the
    // tablet's answer (the library reads them).
    assert!(phone.sync(&app).await.rejected().is_empty());
    assert_eq!(
        serde_json::to_value(&phone.job(id).conflicts).unwrap(),
        seen["job"]["conflicts"]
    );

    // The office keeps the desk's window with one call.
    let desk_actor = fieldsync_core::automerge::ActorId::from([31; 16]).to_hex_string();
    let resolve = |field: &str, actor: &str| json!({"field": field, "actor": actor});
    let path = format!("/v1/jobs/{id}/conflicts/resolve");
    let res = post_json(
        &app,
        &office.dispatcher,
        &path,
        &resolve("/window", &desk_actor),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let kept: Value = res.json().await.unwrap();
    assert!(conflict(&kept, "/window").is_none(), "{kept}");
    assert_eq!(kept["job"]["window"]["start"], 1_900_000_000_000_i64);
    assert!(
        conflict(&kept, "/site/address").is_some(),
        "the others stay"
    );
    // Devices get the resolution and show no window conflict either.
    assert!(desk.sync(&app).await.rejected().is_empty());
    assert!(!desk.job(id).conflicts.iter().any(|c| c.field == "/window"));

    // Refused: a technician; a field with no conflict; an actor that wrote
    // none of its values; answers (the technician's to settle).
    let tech_token = phone.token.clone();
    let res = post_json(
        &app,
        &tech_token,
        &path,
        &resolve("/site/address", &desk_actor),
    )
    .await;
    assert_eq!(res.status(), 403);
    for body in [
        resolve("/window", &desk_actor),
        resolve("/site/address", &"ab".repeat(16)),
    ] {
        let res = post_json(&app, &office.dispatcher, &path, &body).await;
        assert_eq!(res.status(), 400, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"]["code"], "bad_request", "{err}");
    }
    let after = view(&app, &office.dispatcher, id).await;
    assert_eq!(
        after["job"]["conflicts"], kept["job"]["conflicts"],
        "nothing refused was written"
    );

    // The office keeps the phone's answer with one call: still the
    // technician's answer, and the tablet takes it.
    let phone_actor = fieldsync_core::automerge::ActorId::from([32; 16]).to_hex_string();
    let answers_field = format!("/answers/{item}");
    let res = post_json(
        &app,
        &office.dispatcher,
        &path,
        &resolve(&answers_field, &phone_actor),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let kept: Value = res.json().await.unwrap();
    assert!(conflict(&kept, &answers_field).is_none(), "{kept}");
    let answer = &kept["job"]["checklist"][0]["answer"];
    assert_eq!(answer["value"], "1.5 bar", "{kept}");
    assert_eq!(answer["by"], json!(t.to_string()), "{kept}");
    assert!(tablet.sync(&app).await.rejected().is_empty());
    let on_tablet = tablet.job(id);
    assert!(!on_tablet.conflicts.iter().any(|c| c.field == answers_field));
    assert_eq!(
        on_tablet.checklist[0]
            .answer
            .as_ref()
            .map(|a| a.value.as_str()),
        Some("1.5 bar")
    );

    // A forged change from the desk (an office device) writing a new
    // answer, while the answer again holds two values, is refused and
    // nothing of it is stored.
    for (device, value) in [(&mut phone, "1.6 bar"), (&mut tablet, "1.7 bar")] {
        device.act(
            id,
            JobAction::AnswerChecklist {
                item,
                value: value.into(),
            },
            now(),
        );
    }
    for d in [&mut phone, &mut tablet, &mut desk] {
        assert!(d.sync(&app).await.rejected().is_empty());
    }
    let before = view(&app, &office.dispatcher, id).await;
    assert_eq!(written(&before, &answers_field).len(), 2);
    let by = t.to_string();
    let doc = desk.docs.get_mut(&DocId::Job(id)).unwrap();
    let mut tx = doc.transaction();
    let answers = match tx.get(ROOT, "answers").unwrap() {
        Some((fieldsync_core::automerge::Value::Object(_), answers)) => answers,
        other => panic!("no answers: {other:?}"),
    };
    let a = tx
        .put_object(&answers, item.to_string(), ObjType::Map)
        .unwrap();
    tx.put(&a, "value", "9.9 bar").unwrap();
    tx.put(&a, "by", by.as_str()).unwrap();
    tx.put(&a, "device_time", ScalarValue::Timestamp(now().0))
        .unwrap();
    tx.commit();
    let refused = desk.sync(&app).await.rejected();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].1.contains("concurrent values"), "{refused:?}");
    let after = view(&app, &office.dispatcher, id).await;
    assert_eq!(
        after["job"]["conflicts"], before["job"]["conflicts"],
        "nothing refused was written"
    );
    assert_ne!(after["job"]["checklist"][0]["answer"]["value"], "9.9 bar");
}
