//! The demo company, as fixed data: who works there, its depots, parts,
//! customers, and the plan of its jobs. Fixed names and a fixed plan, so a
//! demo database always has the same numbers (docs/demo.md lists them).

use fieldsync_core::{Role, Status};

/// Office staff: (username, role, display name, e-mail).
pub const OFFICE: &[(&str, Role, &str, Option<&str>)] = &[
    ("dispatch", Role::Dispatcher, "Dora Dias", None),
    ("stores", Role::InventoryManager, "Sergio Alves", None),
    (
        "supervisor",
        Role::Supervisor,
        "Marta Lopes",
        Some("marta.lopes@fieldsync.example"),
    ),
    // The service desk: sales and finance answer customers' calls.
    ("sales", Role::Dispatcher, "Rita Nunes", None),
    ("finance", Role::Dispatcher, "Paulo Reis", None),
];

/// The two depots; each has three vans and three technicians.
pub const DEPOTS: [&str; 2] = ["Porto depot", "Lisbon depot"];

/// Technicians: (username, display name). Technician `t` drives van `t`,
/// of depot `t / 3`.
pub const TECHNICIANS: [(&str, &str); 6] = [
    ("ana", "Ana Sousa"),
    ("bruno", "Bruno Costa"),
    ("carla", "Carla Mendes"),
    ("diogo", "Diogo Ferreira"),
    ("eva", "Eva Martins"),
    ("filipe", "Filipe Rocha"),
];

pub const TECHS_PER_DEPOT: usize = 3;

/// Parts: (sku, name, unit price, unit cost), minor units (EUR cents).
pub const PARTS: &[(&str, &str, i64, i64)] = &[
    ("VALVE-22", "Valve 22mm", 1250, 700),
    ("THERMO-3", "Room thermostat", 4500, 2600),
    ("SENSOR-T", "Temperature sensor", 2200, 1100),
    ("FILTER-M", "Magnetic filter", 3900, 2000),
    ("IGNITER-5", "Ignition electrode", 1600, 800),
];

/// What each depot receives of each part.
pub const DEPOT_RECEIPT: &[(&str, u32)] = &[
    ("VALVE-22", 40),
    ("THERMO-3", 12),
    ("SENSOR-T", 20),
    ("FILTER-M", 6),
    ("IGNITER-5", 30),
];

/// What each van is loaded with from its depot.
pub const VAN_LOAD: &[(&str, u32)] = &[
    ("VALVE-22", 6),
    ("THERMO-3", 2),
    ("SENSOR-T", 3),
    ("FILTER-M", 1),
    ("IGNITER-5", 4),
];

/// Reorder rules on every depot: (sku, reorder point, reorder quantity).
/// The depots hold 6 - 6 x 1 (loaded on vans) = 3 filters: low.
pub const DEPOT_REORDER: &[(&str, i64, i64)] = &[("FILTER-M", 10, 20), ("VALVE-22", 10, 30)];

/// Reorder rules on every van: a van that used one of these is low.
pub const VAN_REORDER: &[(&str, i64, i64)] = &[("VALVE-22", 6, 6), ("SENSOR-T", 3, 3)];

/// Customers: (name, kind, depot, city address, contact name, product).
pub const CUSTOMERS: &[(&str, &str, usize, &str, &str, &str)] = &[
    (
        "Padaria Flor",
        "company",
        0,
        "Rua das Flores 12, Porto",
        "Ines Flor",
        "Boiler X200",
    ),
    (
        "Hotel Ribeira",
        "company",
        0,
        "Cais da Ribeira 30, Porto",
        "Joao Pinto",
        "Boiler X400",
    ),
    (
        "Clinica Boavista",
        "company",
        0,
        "Avenida da Boavista 800, Porto",
        "Sara Gil",
        "Heat pump H9",
    ),
    (
        "Rui Teixeira",
        "person",
        0,
        "Rua de Cedofeita 45, Porto",
        "Rui Teixeira",
        "Boiler X200",
    ),
    (
        "Escola Foz",
        "company",
        0,
        "Rua do Passeio Alegre 3, Porto",
        "Luis Matos",
        "Boiler X400",
    ),
    (
        "Helena Cruz",
        "person",
        0,
        "Rua de Santa Catarina 210, Porto",
        "Helena Cruz",
        "Water heater W50",
    ),
    (
        "Cafe Chiado",
        "company",
        1,
        "Rua Garrett 20, Lisboa",
        "Nuno Vaz",
        "Boiler X200",
    ),
    (
        "Ginasio Alvalade",
        "company",
        1,
        "Avenida de Roma 90, Lisboa",
        "Tania Reis",
        "Heat pump H9",
    ),
    (
        "Pedro Santos",
        "person",
        1,
        "Rua da Graca 7, Lisboa",
        "Pedro Santos",
        "Boiler X200",
    ),
    (
        "Lar Belem",
        "company",
        1,
        "Rua de Belem 55, Lisboa",
        "Carla Brito",
        "Boiler X400",
    ),
    (
        "Sofia Almeida",
        "person",
        1,
        "Rua do Alecrim 14, Lisboa",
        "Sofia Almeida",
        "Water heater W50",
    ),
    (
        "Restaurante Tejo",
        "company",
        1,
        "Avenida 24 de Julho 100, Lisboa",
        "Marco Dias",
        "Boiler X400",
    ),
];

pub const CUSTOMERS_PER_DEPOT: usize = 6;

/// What becomes of a demo job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Not assigned to anyone yet.
    Unassigned,
    /// Assigned, not started.
    Scheduled,
    /// Assigned; the technician's device then sends a change the server
    /// refuses (it renames the customer, an office-only field).
    ScheduledRejected,
    Travelling,
    OnSite,
    Completed,
    /// Completed offline while the office cancelled it: completed, with
    /// the office's cancellation kept as a status conflict.
    CompletedOverCancel,
    UnableToComplete,
    /// Cancelled by the office before anyone started.
    Cancelled,
}

impl Fate {
    pub fn status(self) -> Status {
        match self {
            Fate::Unassigned | Fate::Scheduled | Fate::ScheduledRejected => Status::Scheduled,
            Fate::Travelling => Status::Travelling,
            Fate::OnSite => Status::OnSite,
            Fate::Completed | Fate::CompletedOverCancel => Status::Completed,
            Fate::UnableToComplete => Status::UnableToComplete,
            Fate::Cancelled => Status::Cancelled,
        }
    }
}

/// The jobs, in order: job `i` goes to technician `i % 6` (unless
/// unassigned). The first six are the day's work in progress, one per
/// technician.
pub const PLAN: &[(Fate, usize)] = &[
    (Fate::Travelling, 3),
    (Fate::OnSite, 3),
    (Fate::Completed, 24),
    (Fate::CompletedOverCancel, 3),
    (Fate::UnableToComplete, 3),
    (Fate::ScheduledRejected, 3),
    (Fate::Scheduled, 12),
    (Fate::Unassigned, 5),
    (Fate::Cancelled, 4),
];

/// Every job's fate, in order.
pub fn fates() -> Vec<Fate> {
    let mut out = Vec::new();
    // Alternate the first six so each technician has one job under way.
    for i in 0..6 {
        out.push(if i % 2 == 0 {
            Fate::Travelling
        } else {
            Fate::OnSite
        });
    }
    for (fate, n) in PLAN {
        if !matches!(fate, Fate::Travelling | Fate::OnSite) {
            out.extend(std::iter::repeat_n(*fate, *n));
        }
    }
    out
}

/// Feedback answers for the completed jobs, in the order they were
/// completed, cycled: (fixed, rating, courtesy, recommend, comment).
/// Two of every seven are low (not fixed, or rated 2 or less), which opens
/// a follow-up for the supervisor. The last completed jobs get none (not
/// answered yet).
pub const ANSWERS: &[(&str, &str, &str, &str, &str)] = &[
    ("yes", "5", "5", "10", "Quick and tidy, thank you."),
    ("yes", "4", "5", "9", ""),
    (
        "no",
        "2",
        "3",
        "3",
        "The boiler stopped again the next day.",
    ),
    ("yes", "5", "4", "8", "Explained everything clearly."),
    ("yes", "4", "4", "7", ""),
    (
        "yes",
        "1",
        "2",
        "0",
        "Arrived two hours late and left a mess.",
    ),
    ("yes", "5", "5", "9", "Excellent."),
];

/// How many completed jobs get an answer (of the 27).
pub const ANSWERED: usize = 21;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_has_sixty_jobs_in_every_state() {
        let fates = fates();
        assert_eq!(fates.len(), 60);
        for status in Status::ALL {
            assert!(
                fates.iter().any(|f| f.status() == status),
                "no {status:?} job"
            );
        }
        assert_eq!(
            PLAN.iter().map(|(_, n)| n).sum::<usize>(),
            fates.len(),
            "PLAN and fates() agree"
        );
        // One job under way per technician.
        for fate in fates.iter().take(TECHNICIANS.len()) {
            assert!(matches!(fate, Fate::Travelling | Fate::OnSite));
        }
        let completed = fates
            .iter()
            .filter(|f| f.status() == Status::Completed)
            .count();
        assert!(ANSWERED < completed);
    }
}
