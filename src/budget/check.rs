//! The admission rule, as pure functions over a snapshot of the windows a request touches.
//! `MemoryStore` calls these under its lock; the Redis Lua script mirrors them (keep in sync).

use super::reservation::{Denial, LimitKind, Limits, ReserveRequest};
use super::settings::OnLimit;

/// Spent and reserved money of one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) spent: i64,
    pub(crate) reserved: i64,
}

/// What a request sees before it reserves.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Snapshot {
    pub(crate) task: Usage,
    pub(crate) day: Usage,
    pub(crate) month: Usage,
    pub(crate) steps: u32,
}

/// The admission decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Reserve {
        amount: i64,
        downgrade: bool,
        over_limit: Vec<Denial>,
    },
    Deny(Denial),
}

impl Usage {
    pub(crate) fn exposure(self) -> i64 {
        self.spent.saturating_add(self.reserved)
    }
}

/// Decides whether `req` may reserve, given `snap`: every limited window must satisfy
/// `spent + reserved + amount <= limit` and the task's step count must stay within its limit.
pub(crate) fn decide(req: &ReserveRequest<'_>, snap: &Snapshot) -> Decision {
    let steps = steps_violation(req, snap);
    let estimate = req.estimate.0.max(0);
    match req.envelope.on_limit {
        OnLimit::AlertOnly => {
            let mut over: Vec<Denial> = steps.into_iter().collect();
            over.extend(money_violations(req, snap, estimate));
            Decision::Reserve {
                amount: estimate,
                downgrade: false,
                over_limit: over,
            }
        }
        OnLimit::Deny => match steps.or_else(|| first_money_violation(req, snap, estimate)) {
            Some(d) => Decision::Deny(d),
            None => reserve(estimate, false),
        },
        OnLimit::Downgrade => {
            if let Some(d) = steps {
                return Decision::Deny(d);
            }
            let Some(full) = first_money_violation(req, snap, estimate) else {
                return reserve(estimate, false);
            };
            let Some(cheap) = req.downgrade_estimate.map(|m| m.0.max(0)) else {
                return Decision::Deny(full);
            };
            match first_money_violation(req, snap, cheap) {
                Some(d) => Decision::Deny(d),
                None => reserve(cheap, true),
            }
        }
    }
}

fn reserve(amount: i64, downgrade: bool) -> Decision {
    Decision::Reserve {
        amount,
        downgrade,
        over_limit: Vec::new(),
    }
}

fn steps_violation(req: &ReserveRequest<'_>, snap: &Snapshot) -> Option<Denial> {
    req.task_id?;
    let limit = req.envelope.step_limit?;
    (snap.steps >= limit).then(|| Denial {
        workflow: req.workflow.clone(),
        limit: LimitKind::Steps,
        limit_micros: i64::from(limit),
        spent_micros: i64::from(snap.steps),
        reserved_micros: 0,
        requested_micros: 1,
        remaining_micros: i64::from(limit.saturating_sub(snap.steps)),
    })
}

/// The money windows a request touches, with their limits, in reporting order.
pub(crate) fn limited_windows(
    req: &ReserveRequest<'_>,
    snap: &Snapshot,
) -> [(LimitKind, Option<i64>, Usage); 3] {
    let env = req.envelope;
    let task_limit = req.task_id.and(env.per_task).map(|m| m.0);
    [
        (LimitKind::Task, task_limit, snap.task),
        (LimitKind::Daily, env.daily.map(|m| m.0), snap.day),
        (LimitKind::Monthly, env.monthly.map(|m| m.0), snap.month),
    ]
}

fn money_violations(
    req: &ReserveRequest<'_>,
    snap: &Snapshot,
    amount: i64,
) -> impl Iterator<Item = Denial> {
    let wf = req.workflow.clone();
    limited_windows(req, snap)
        .into_iter()
        .filter_map(move |(kind, limit, usage)| {
            let limit = limit?;
            (usage.exposure().saturating_add(amount) > limit).then(|| Denial {
                workflow: wf.clone(),
                limit: kind,
                limit_micros: limit,
                spent_micros: usage.spent,
                reserved_micros: usage.reserved,
                requested_micros: amount,
                remaining_micros: limit.saturating_sub(usage.exposure()).max(0),
            })
        })
}

fn first_money_violation(req: &ReserveRequest<'_>, snap: &Snapshot, amount: i64) -> Option<Denial> {
    money_violations(req, snap, amount).next()
}

/// Money limits of the windows `req` touches.
pub(crate) fn limits_of(req: &ReserveRequest<'_>) -> Limits {
    let [task, daily, monthly] = limited_windows(req, &Snapshot::default()).map(|w| w.1);
    Limits {
        task,
        daily,
        monthly,
    }
}

/// Thresholds (basis points) reached by `exposure` against `limit` and not yet in `fired`.
pub(crate) fn newly_crossed(
    limit: i64,
    exposure: i64,
    thresholds: &[u32],
    fired: &[u32],
) -> Vec<u32> {
    thresholds
        .iter()
        .copied()
        .filter(|t| {
            i128::from(exposure) * 10_000 >= i128::from(limit) * i128::from(*t)
                && !fired.contains(t)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::budget::settings::Envelope;
    use crate::types::{MicroUsd, WorkflowId};

    fn env(on_limit: OnLimit) -> Envelope {
        Envelope {
            daily: Some(MicroUsd(100)),
            step_limit: Some(2),
            on_limit,
            ..Envelope::unlimited()
        }
    }

    fn req<'a>(
        wf: &'a WorkflowId,
        e: &'a Envelope,
        est: i64,
        cheap: Option<i64>,
    ) -> ReserveRequest<'a> {
        ReserveRequest {
            workflow: wf,
            task_id: Some("t"),
            estimate: MicroUsd(est),
            downgrade_estimate: cheap.map(MicroUsd),
            now: Utc::now(),
            envelope: e,
        }
    }

    fn snap(spent: i64, steps: u32) -> Snapshot {
        Snapshot {
            day: Usage {
                spent,
                reserved: 10,
            },
            steps,
            ..Snapshot::default()
        }
    }

    #[test]
    fn exact_fit_is_admitted_one_more_micro_is_not() {
        let wf = WorkflowId("w".into());
        let e = env(OnLimit::Deny);
        assert!(matches!(
            decide(&req(&wf, &e, 40, None), &snap(50, 0)),
            Decision::Reserve { amount: 40, .. }
        ));
        let Decision::Deny(d) = decide(&req(&wf, &e, 41, None), &snap(50, 0)) else {
            panic!("expected denial")
        };
        assert_eq!(
            (d.limit, d.remaining_micros, d.requested_micros),
            (LimitKind::Daily, 40, 41)
        );
    }

    #[test]
    fn downgrade_uses_cheap_estimate_or_denies_when_even_that_does_not_fit() {
        let wf = WorkflowId("w".into());
        let e = env(OnLimit::Downgrade);
        let d = decide(&req(&wf, &e, 80, Some(30)), &snap(50, 0));
        assert!(matches!(
            d,
            Decision::Reserve {
                amount: 30,
                downgrade: true,
                ..
            }
        ));
        let d = decide(&req(&wf, &e, 80, Some(45)), &snap(50, 0));
        assert!(matches!(
            d,
            Decision::Deny(Denial {
                requested_micros: 45,
                ..
            })
        ));
        let d = decide(&req(&wf, &e, 80, None), &snap(50, 0));
        assert!(matches!(d, Decision::Deny(_)));
        // Downgrading does not help against the step limit.
        let d = decide(&req(&wf, &e, 1, Some(1)), &snap(0, 2));
        assert!(matches!(
            d,
            Decision::Deny(Denial {
                limit: LimitKind::Steps,
                ..
            })
        ));
    }

    #[test]
    fn alert_only_reserves_and_reports_every_exceeded_limit() {
        let wf = WorkflowId("w".into());
        let e = env(OnLimit::AlertOnly);
        let Decision::Reserve {
            amount, over_limit, ..
        } = decide(&req(&wf, &e, 80, None), &snap(50, 2))
        else {
            panic!("alert_only never denies")
        };
        assert_eq!(amount, 80);
        let kinds: Vec<_> = over_limit.iter().map(|d| d.limit).collect();
        assert_eq!(kinds, vec![LimitKind::Steps, LimitKind::Daily]);
    }

    #[test]
    fn thresholds_fire_at_exact_fraction_and_skip_fired_ones() {
        assert_eq!(
            newly_crossed(1000, 799, &[5000, 8000, 10000], &[]),
            vec![5000]
        );
        assert_eq!(
            newly_crossed(1000, 800, &[5000, 8000, 10000], &[5000]),
            vec![8000]
        );
        assert_eq!(
            newly_crossed(1000, 5000, &[5000, 8000, 10000], &[5000, 8000, 10000]),
            Vec::<u32>::new()
        );
    }
}
