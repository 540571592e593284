//! Costs of one job document: applying a technician action on a job with 200
//! part lines (validation included), saving and loading it, and the bytes a
//! change costs on disk and on the wire.
//!
//! `cargo bench -p fieldsync-core --bench job_doc`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fieldsync_core::automerge::{ActorId, Automerge, ReadDoc};
use fieldsync_core::job::{Asset, Customer, JobAction, Priority, Site, Window};
use fieldsync_core::{
    JobDoc, JobId, JobSpec, LineId, LocationId, Principal, Quantity, Role, Timestamp, UserId,
};

const T0: i64 = 1_767_261_600_000;

struct Fixture {
    job: JobDoc,
    tech: Principal,
    next: u64,
}

impl Fixture {
    fn line(&mut self) -> LineId {
        self.next += 1;
        let mut b = [0xCD; 16];
        b[..8].copy_from_slice(&self.next.to_be_bytes());
        LineId::from_bytes(b)
    }
}

/// A job on site with `n` part lines, each its own change (as on a device).
fn job_with_parts(n: usize) -> Fixture {
    let tech = Principal::new(UserId::from_bytes([1; 16]), Role::Technician);
    let office = Principal::new(UserId::from_bytes([2; 16]), Role::Dispatcher);
    let spec = JobSpec {
        id: JobId::from_bytes([3; 16]),
        customer: Customer {
            name: "Ana".into(),
            email: None,
            phone: None,
            feedback_opt_out: false,
        },
        site: Site {
            name: None,
            address: "Rua 1".into(),
        },
        asset: Asset {
            product: "Boiler".into(),
            serial: None,
            warranty_end: None,
            contract_ref: None,
        },
        problem: "Leak".into(),
        priority: Priority::High,
        window: Window::new(Timestamp(T0), Timestamp(T0 + 3_600_000)).unwrap(),
        technician: Some(tech.user),
        checklist: vec![],
    };
    let job = JobDoc::create(&spec, ActorId::from([9u8; 16]), office, Timestamp(T0)).unwrap();
    let mut f = Fixture {
        job: JobDoc::from_trusted(job.into_doc().with_actor(ActorId::from([1u8; 16]))),
        tech,
        next: 0,
    };
    f.job
        .apply(&JobAction::StartTravel, tech, Timestamp(T0))
        .unwrap();
    f.job
        .apply(&JobAction::Arrive, tech, Timestamp(T0))
        .unwrap();
    for i in 0..n {
        let line = f.line();
        let action = JobAction::UsePart {
            line,
            sku: format!("SKU-{}", i % 40).parse().unwrap(),
            quantity: Quantity::new(1 + (i % 3) as u32).unwrap(),
            serials: vec![],
            van: LocationId::from_bytes([4; 16]),
        };
        f.job
            .apply(&action, tech, Timestamp(T0 + i as i64))
            .unwrap();
    }
    f
}

fn bench(c: &mut Criterion) {
    let mut f = job_with_parts(200);
    let doc = f.job.doc().clone();
    let saved = doc.save();
    let changes = doc.get_changes(&[]);
    let raw: usize = changes.iter().map(|c| c.raw_bytes().len()).sum();
    let part_changes: Vec<_> = changes
        .iter()
        .filter(|c| c.message().is_some_and(|m| m == "use_part"))
        .collect();
    let part_bytes: usize = part_changes.iter().map(|c| c.raw_bytes().len()).sum();
    println!(
        "job with 200 part lines: {} changes, {} ops",
        changes.len(),
        doc.stats().num_ops
    );
    println!(
        "  saved document:        {} bytes ({:.1} bytes/change)",
        saved.len(),
        saved.len() as f64 / changes.len() as f64
    );
    println!(
        "  raw change bytes:      {} bytes ({:.1} bytes/change)",
        raw,
        raw as f64 / changes.len() as f64
    );
    println!(
        "  one use_part change:   {:.1} bytes on average",
        part_bytes as f64 / part_changes.len() as f64
    );

    let mut g = c.benchmark_group("job_200_parts");
    let tech = f.tech;
    g.bench_function("apply use_part (validated)", |b| {
        b.iter_batched(
            || (f.job.clone(), f.line()),
            |(mut job, line)| {
                let action = JobAction::UsePart {
                    line,
                    sku: "SKU-1".parse().unwrap(),
                    quantity: Quantity::new(1).unwrap(),
                    serials: vec!["SN-1".into()],
                    van: LocationId::from_bytes([4; 16]),
                };
                black_box(job.apply(&action, tech, Timestamp(T0)).unwrap());
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("apply add_note (validated)", |b| {
        b.iter_batched(
            || f.job.clone(),
            |mut job| {
                black_box(
                    job.apply(
                        &JobAction::AddNote {
                            text: "checked".into(),
                        },
                        f.tech,
                        Timestamp(T0),
                    )
                    .unwrap(),
                )
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("read job", |b| b.iter(|| black_box(f.job.read().unwrap())));
    g.bench_function("save", |b| b.iter(|| black_box(doc.save())));
    g.bench_function("load", |b| {
        b.iter(|| black_box(Automerge::load(&saved).unwrap()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
