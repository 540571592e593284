//! Reading a job document into a [`Job`], strictly: a document that does not
//! match the schema is an error, never a half-filled struct.

use automerge::hydrate::{Map, Value};
use automerge::{Automerge, ChangeHash, ROOT, ReadDoc, ScalarValue};

use super::keys as k;
use super::model::*;
use super::schema;
use crate::error::SchemaError;
use crate::hydrated::MapRef;
use crate::ids::{JobId, LineId, Quantity, UserId};
use crate::role::Role;
use crate::status::{self, Status};

/// Reads the job as of `heads` (or the current state).
pub fn read_job(doc: &Automerge, heads: Option<&[ChangeHash]>) -> Result<Job, SchemaError> {
    let root = match ReadDoc::hydrate(doc, ROOT, heads) {
        Ok(Value::Map(m)) => m,
        _ => return Err(SchemaError::new("/", "root is not a map")),
    };
    read_root(doc, heads, &root)
}

/// Reads the job from its root, already hydrated at `heads`.
///
/// Fields the schema does not know are ignored (a newer version wrote them);
/// a known container that is missing reads as empty (an older version).
pub(crate) fn read_root(
    doc: &Automerge,
    heads: Option<&[ChangeHash]>,
    root: &Map,
) -> Result<Job, SchemaError> {
    let r = MapRef::new(root, "");
    if r.str(k::KIND)? != k::KIND_JOB {
        return Err(r.err(k::KIND, "not a job document"));
    }
    if r.int(k::SCHEMA_VERSION)? != schema::FORMAT {
        return Err(r.err(k::SCHEMA_VERSION, "unsupported document format"));
    }
    if r.opt_int(k::SCHEMA_REVISION)?.is_some_and(|v| v < 1) {
        return Err(r.err(k::SCHEMA_REVISION, "expected a positive integer"));
    }
    let (status, status_conflicts) = read_status(doc, heads)?;
    let customer = MapRef::new(r.map(k::CUSTOMER)?, "/customer");
    let site = MapRef::new(r.map(k::SITE)?, "/site");
    let asset = MapRef::new(r.map(k::ASSET)?, "/asset");
    Ok(Job {
        id: r.parsed::<JobId>(k::JOB_ID)?,
        created_at: r.timestamp(k::CREATED_AT)?,
        customer: read_customer(customer)?,
        site: read_site(site)?,
        asset: read_asset(asset)?,
        problem: r.str(k::PROBLEM)?.to_owned(),
        priority: Priority::parse(r.str(k::PRIORITY)?)
            .ok_or_else(|| r.err(k::PRIORITY, "unknown priority"))?,
        window: read_window(MapRef::new(r.map(k::WINDOW)?, "/window"))?,
        technician: read_technician(&r)?,
        status,
        status_conflicts,
        status_history: read_history(root)?,
        labour: entries(&r, k::LABOUR, read_labour)?,
        parts: entries(&r, k::PARTS, read_part)?,
        notes: r.text(k::NOTES)?,
        checklist: read_checklist(&r)?,
        payments: entries(&r, k::PAYMENTS, read_payment)?,
        signature: r
            .opt_map(k::SIGNATURE)?
            .map(|m| read_signature(MapRef::new(m, "/signature")))
            .transpose()?,
        cancel_reason: r.opt_text(k::CANCEL_REASON)?,
        unable_reason: r.opt_text(k::UNABLE_REASON)?,
        attachments: entries(&r, k::ATTACHMENTS, read_attachment)?,
        conflicts: super::conflicts::read_conflicts_hydrated(doc, heads, root)?,
        registry: Registry {
            customer: registry_id(&customer)?,
            site: registry_id(&site)?,
            asset: registry_id(&asset)?,
            asset_sku: registry_sku(&asset)?,
        },
        warranty_extension: r
            .opt_map(k::WARRANTY_EXTENSION)?
            .map(|m| read_extension(MapRef::new(m, "/warranty_extension")))
            .transpose()?,
        fields: super::plain::read_fields(&r)?,
        recall: r
            .opt_map(k::RECALL)?
            .map(|m| super::recall::read_recall(MapRef::new(m, "/recall")))
            .transpose()?,
        recall_remedy: r
            .opt_map(k::RECALL_REMEDY)?
            .map(|m| super::recall::read_recall_remedy(MapRef::new(m, "/recall_remedy")))
            .transpose()?,
        returns: read_returns(&r)?,
        refunds: super::refund::read_refunds(&r)?,
        invoice: r
            .opt_map(k::INVOICE)?
            .map(|m| super::invoice::read_issued(MapRef::new(m, "/invoice")))
            .transpose()?,
    })
}

/// The job's returns, each with the server's RMA number when it has one.
fn read_returns(r: &MapRef<'_>) -> Result<Vec<super::ReturnLine>, SchemaError> {
    let mut returns = entries(r, k::RETURNS, super::rma::read_return)?;
    if returns.is_empty() {
        return Ok(returns);
    }
    let numbers: std::collections::BTreeMap<LineId, String> =
        entries(r, k::RMA_NUMBERS, |id, m| {
            super::rma::read_rma_number(id, m).map(|n| (id, n))
        })?
        .into_iter()
        .collect();
    for line in &mut returns {
        line.rma_number = numbers.get(&line.id).cloned();
    }
    Ok(returns)
}

/// The registry id of a customer, site or asset snapshot (see [`Registry`]).
pub(crate) fn registry_id(m: &MapRef<'_>) -> Result<Option<uuid::Uuid>, SchemaError> {
    m.opt_str(k::ID)?
        .map(|s| s.parse().map_err(|_| m.err(k::ID, "not a registry id")))
        .transpose()
}

/// The product of a registry asset snapshot (see [`Registry::asset_sku`]).
pub(crate) fn registry_sku(m: &MapRef<'_>) -> Result<Option<crate::ids::Sku>, SchemaError> {
    m.opt_str(k::SKU)?
        .map(|s| s.parse().map_err(|_| m.err(k::SKU, "not a sku")))
        .transpose()
}

pub(crate) fn read_extension(m: MapRef<'_>) -> Result<ExtensionSale, SchemaError> {
    let offer = m.str(k::OFFER)?;
    if offer.trim().is_empty() || offer.len() > 64 {
        return Err(m.err(k::OFFER, "an offer code has 1-64 characters"));
    }
    let price = m.int(k::PRICE)?;
    if price < 0 {
        return Err(m.err(k::PRICE, "must not be negative"));
    }
    Ok(ExtensionSale {
        offer: offer.to_owned(),
        months: m.u32_in(k::MONTHS, 1, crate::pricebook::MAX_EXTENSION_MONTHS)?,
        price: crate::ids::Money(price),
        by: m.parsed(k::BY)?,
        device_time: m.timestamp(k::DEVICE_TIME)?,
    })
}

pub(crate) fn read_technician(r: &MapRef<'_>) -> Result<Option<UserId>, SchemaError> {
    r.opt_str(k::TECHNICIAN)?
        .map(|s| s.parse::<UserId>())
        .transpose()
        .map_err(|_| r.err(k::TECHNICIAN, "not a user id"))
}

/// Every concurrent status value, resolved by [`status::resolve`].
pub fn read_status(
    doc: &Automerge,
    heads: Option<&[ChangeHash]>,
) -> Result<(Status, Vec<Status>), SchemaError> {
    let values = match heads {
        Some(h) => doc.get_all_at(ROOT, k::STATUS, h),
        None => doc.get_all(ROOT, k::STATUS),
    }
    .map_err(|e| SchemaError::new("/status", e.to_string()))?;
    let parsed = values
        .iter()
        .map(|(v, _)| match v.as_scalar() {
            Some(ScalarValue::Str(s)) => s.parse::<Status>().ok(),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| SchemaError::new("/status", "unknown status"))?;
    status::resolve(&parsed).ok_or_else(|| SchemaError::new("/status", "required status missing"))
}

pub(crate) fn read_customer(m: MapRef<'_>) -> Result<Customer, SchemaError> {
    Ok(Customer {
        name: m.str(k::NAME)?.to_owned(),
        email: m
            .opt_text(k::EMAIL)?
            .map(|e| e.parse())
            .transpose()
            .map_err(|_| m.err(k::EMAIL, "not an email address"))?,
        phone: m.opt_text(k::PHONE)?,
        feedback_opt_out: m.bool_or_false(k::FEEDBACK_OPT_OUT)?,
    })
}

fn read_history(root: &Map) -> Result<Vec<StatusChange>, SchemaError> {
    let list = match root.get(k::STATUS_HISTORY) {
        None => return Ok(Vec::new()),
        Some(Value::List(l)) => l,
        Some(_) => return Err(SchemaError::new("/status_history", "expected a list")),
    };
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            let path = format!("/status_history/{i}");
            let Value::Map(m) = &item.value else {
                return Err(SchemaError::new(path, "expected a map"));
            };
            read_history_entry(MapRef::new(m, &path))
        })
        .collect()
}

/// Reads a map of entries keyed by line id, sorted by id so every replica
/// lists them in the same order.
pub(crate) fn entries<T>(
    r: &MapRef<'_>,
    key: &str,
    read: impl Fn(LineId, MapRef<'_>) -> Result<T, SchemaError>,
) -> Result<Vec<T>, SchemaError> {
    let Some(map) = r.opt_map(key)? else {
        return Ok(Vec::new());
    };
    let mut out: Vec<(LineId, T)> = Vec::with_capacity(map.iter().count());
    for (id, value) in map.iter() {
        let path = format!("/{key}/{id}");
        let line: LineId = id
            .parse()
            .map_err(|_| SchemaError::new(path.clone(), "entry key is not a line id"))?;
        let Value::Map(m) = &value.value else {
            return Err(SchemaError::new(path, "expected a map"));
        };
        out.push((line, read(line, MapRef::new(m, &path))?));
    }
    out.sort_by_key(|(id, _)| *id);
    Ok(out.into_iter().map(|(_, t)| t).collect())
}

pub(crate) fn read_labour(id: LineId, m: MapRef<'_>) -> Result<LabourEntry, SchemaError> {
    Ok(LabourEntry {
        id,
        by: m.parsed(k::BY)?,
        minutes: m.u32_in(k::MINUTES, 1, 24 * 60)?,
        rate: m.str(k::RATE)?.to_owned(),
        description: m.opt_str(k::DESCRIPTION)?.unwrap_or_default().to_owned(),
        voided: m.bool_or_false(k::VOIDED)?,
        device_time: m.timestamp(k::DEVICE_TIME)?,
    })
}

pub(crate) fn read_part(id: LineId, m: MapRef<'_>) -> Result<PartLine, SchemaError> {
    let quantity = Quantity::new(m.u32_in(k::QUANTITY, 1, Quantity::MAX)?)
        .map_err(|_| m.err(k::QUANTITY, "out of range"))?;
    let serials = m.str_list(k::SERIALS)?;
    check_serials(&serials, quantity).map_err(|p| m.err(k::SERIALS, p))?;
    Ok(PartLine {
        id,
        by: m.parsed(k::BY)?,
        sku: m.parsed(k::SKU)?,
        quantity,
        serials,
        van: m.parsed(k::VAN)?,
        voided: m.bool_or_false(k::VOIDED)?,
        device_time: m.timestamp(k::DEVICE_TIME)?,
    })
}

/// Serials are either absent or one distinct, non-empty serial per unit.
pub(crate) fn check_serials(serials: &[String], quantity: Quantity) -> Result<(), &'static str> {
    if serials.is_empty() {
        return Ok(());
    }
    if serials.len() != quantity.get() as usize {
        return Err("one serial number per unit is required");
    }
    if serials.iter().any(|s| s.trim().is_empty() || s.len() > 100) {
        return Err("serial numbers must be 1-100 characters");
    }
    let mut sorted: Vec<&String> = serials.iter().collect();
    sorted.sort();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err("a serial number appears twice on one line");
    }
    Ok(())
}

pub(crate) fn read_payment(id: LineId, m: MapRef<'_>) -> Result<Payment, SchemaError> {
    let amount = m.int(k::AMOUNT)?;
    if amount <= 0 {
        return Err(m.err(k::AMOUNT, "payment amount must be positive"));
    }
    Ok(Payment {
        id,
        by: m.parsed(k::BY)?,
        method: PaymentMethod::parse(m.str(k::METHOD)?)
            .ok_or_else(|| m.err(k::METHOD, "unknown payment method"))?,
        amount: crate::ids::Money(amount),
        reference: m.opt_text(k::REFERENCE)?,
        device_time: m.timestamp(k::DEVICE_TIME)?,
    })
}

fn read_checklist(r: &MapRef<'_>) -> Result<Vec<ChecklistItem>, SchemaError> {
    let answers = r.opt_map(k::ANSWERS)?;
    entries(r, k::CHECKLIST, |id, m| {
        let answer = answers
            .and_then(|a| a.get(&id.to_string()))
            .map(|v| {
                let path = format!("/answers/{id}");
                let Value::Map(am) = v else {
                    return Err(SchemaError::new(path, "expected a map"));
                };
                read_answer(MapRef::new(am, &path))
            })
            .transpose()?;
        read_question(id, m, answer)
    })
}

pub(crate) fn read_site(m: MapRef<'_>) -> Result<Site, SchemaError> {
    Ok(Site {
        name: m.opt_text(k::NAME)?,
        address: m.str(k::ADDRESS)?.to_owned(),
    })
}

pub(crate) fn read_asset(m: MapRef<'_>) -> Result<Asset, SchemaError> {
    Ok(Asset {
        product: m.str(k::PRODUCT)?.to_owned(),
        serial: m.opt_text(k::SERIAL)?,
        warranty_end: m.opt_date(k::WARRANTY_END)?,
        contract_ref: m.opt_text(k::CONTRACT_REF)?,
    })
}

pub(crate) fn read_window(m: MapRef<'_>) -> Result<Window, SchemaError> {
    Window::new(m.timestamp(k::START)?, m.timestamp(k::END)?)
        .map_err(|_| m.err(k::END, "end is before start"))
}

pub(crate) fn read_signature(m: MapRef<'_>) -> Result<Signature, SchemaError> {
    let hash = m.str(k::IMAGE_SHA256)?;
    if !is_sha256(hash) {
        return Err(m.err(k::IMAGE_SHA256, "expected 64 hex digits"));
    }
    Ok(Signature {
        signer: m.str(k::SIGNER)?.to_owned(),
        image_sha256: hash.to_ascii_lowercase(),
        by: m.parsed(k::BY)?,
        device_time: m.timestamp(k::DEVICE_TIME)?,
    })
}

pub(crate) fn read_history_entry(m: MapRef<'_>) -> Result<StatusChange, SchemaError> {
    Ok(StatusChange {
        from: m
            .opt_str(k::FROM)?
            .map(|s| s.parse::<Status>())
            .transpose()
            .map_err(|_| m.err(k::FROM, "unknown status"))?,
        to: m.parsed(k::TO)?,
        by: m.parsed(k::BY)?,
        role: m.parsed::<Role>(k::ROLE)?,
        device_time: m.timestamp(k::DEVICE_TIME)?,
    })
}

pub(crate) fn read_answer(m: MapRef<'_>) -> Result<ChecklistAnswer, SchemaError> {
    Ok(ChecklistAnswer {
        value: m.str(k::VALUE)?.to_owned(),
        by: m.parsed(k::BY)?,
        device_time: m.timestamp(k::DEVICE_TIME)?,
    })
}

pub(crate) fn read_question(
    id: LineId,
    m: MapRef<'_>,
    answer: Option<ChecklistAnswer>,
) -> Result<ChecklistItem, SchemaError> {
    Ok(ChecklistItem {
        id,
        question: m.str(k::QUESTION)?.to_owned(),
        required: m.bool_or_false(k::REQUIRED)?,
        kind: match m.opt_str(k::KIND)? {
            None => ChecklistKind::Text,
            Some(s) => ChecklistKind::parse(s)
                .ok_or_else(|| m.err(k::KIND, "unknown checklist item kind"))?,
        },
        answer,
    })
}

pub(crate) fn read_attachment(id: LineId, m: MapRef<'_>) -> Result<Attachment, SchemaError> {
    let sha256 = m.str(k::SHA256)?;
    if !is_sha256(sha256) {
        return Err(m.err(k::SHA256, "expected 64 hex digits"));
    }
    let size = u64::try_from(m.int(k::SIZE)?)
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| m.err(k::SIZE, "expected a positive size"))?;
    let media_type = m.str(k::MEDIA_TYPE)?;
    if !is_media_type(media_type) {
        return Err(m.err(k::MEDIA_TYPE, "expected a media type like image/jpeg"));
    }
    Ok(Attachment {
        id,
        by: m.parsed(k::BY)?,
        sha256: sha256.to_ascii_lowercase(),
        size,
        media_type: media_type.to_ascii_lowercase(),
        kind: AttachmentKind::parse(m.str(k::KIND)?)
            .ok_or_else(|| m.err(k::KIND, "unknown attachment kind"))?,
        caption: m.opt_str(k::CAPTION)?.unwrap_or_default().to_owned(),
        taken_at: m.timestamp(k::TAKEN_AT)?,
    })
}

/// 64 hex digits.
pub(crate) fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `type/subtype`, each a token of letters, digits and `.+-_` (RFC 6838, without parameters).
pub(crate) fn is_media_type(s: &str) -> bool {
    let token = |t: &str| {
        !t.is_empty()
            && t.len() <= 64
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-' | b'_'))
    };
    matches!(s.split_once('/'), Some((t, sub)) if token(t) && token(sub))
}
