//! Store-agnostic budget scenarios, run against `MemoryStore` (tests/budget_memory.rs) and
//! `RedisStore` (tests/budget_redis.rs). Dates are in 2027 so Redis EXPIREAT stays in the future.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "shared test scenarios: a failed step must fail the test"
)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use purser::budget::{
    BudgetStore, Denial, Envelope, LimitKind, OnLimit, Reservation, ReservationGuard, ReserveError,
    ReserveRequest, SpendEvent, TaskError, TaskStatus, rebuild,
};
use purser::types::{MicroUsd, WorkflowId};

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub fn wf(name: &str) -> WorkflowId {
    WorkflowId(name.to_owned())
}

pub fn envelope(on_limit: OnLimit) -> Envelope {
    Envelope {
        on_limit,
        ..Envelope::unlimited()
    }
}

pub struct Call<'a> {
    pub wf: &'a WorkflowId,
    pub env: &'a Envelope,
    pub task: Option<&'a str>,
    pub now: DateTime<Utc>,
}

impl Call<'_> {
    pub fn req(&self, estimate: i64, downgrade: Option<i64>) -> ReserveRequest<'_> {
        ReserveRequest {
            workflow: self.wf,
            task_id: self.task,
            estimate: MicroUsd(estimate),
            downgrade_estimate: downgrade.map(MicroUsd),
            now: self.now,
            envelope: self.env,
        }
    }
}

pub async fn reserve(
    s: &dyn BudgetStore,
    c: &Call<'_>,
    est: i64,
) -> Result<Reservation, ReserveError> {
    s.reserve(c.req(est, None)).await
}

pub fn denied(r: Result<Reservation, ReserveError>) -> Denial {
    match r {
        Err(ReserveError::Denied(d)) => d,
        other => panic!("expected a denial, got {other:?}"),
    }
}

/// Each limit kind denies exactly when spent + reserved + estimate would pass it.
pub async fn each_limit_kind_denies_at_its_limit(s: &dyn BudgetStore) {
    let w = wf("limits");
    let now = at("2027-03-15T12:00:00Z");
    let mut env = envelope(OnLimit::Deny);
    env.per_task = Some(MicroUsd(100));
    env.daily = Some(MicroUsd(250));
    env.monthly = Some(MicroUsd(400));
    env.step_limit = Some(3);
    // Task: 60 + 40 fits exactly, one more micro does not.
    let c = Call {
        wf: &w,
        env: &env,
        task: Some("t1"),
        now,
    };
    let r = reserve(s, &c, 60).await.unwrap();
    s.settle(r, MicroUsd(60)).await.unwrap();
    let r = reserve(s, &c, 40).await.unwrap();
    let d = denied(reserve(s, &c, 1).await);
    assert_eq!(
        (
            d.limit,
            d.spent_micros,
            d.reserved_micros,
            d.remaining_micros
        ),
        (LimitKind::Task, 60, 40, 0)
    );
    assert_eq!(d.code(), "budget_exceeded:task");
    s.settle(r, MicroUsd(40)).await.unwrap();
    // Steps: t2 gets 3 calls, the 4th is denied even at zero cost.
    let c2 = Call {
        task: Some("t2"),
        ..c
    };
    for _ in 0..3 {
        let r = reserve(s, &c2, 10).await.unwrap();
        s.release(r).await.unwrap();
    }
    let d = denied(reserve(s, &c2, 0).await);
    assert_eq!(
        (d.limit, d.limit_micros, d.spent_micros),
        (LimitKind::Steps, 3, 3)
    );
    // Daily: 100 spent today; 150 more fits, 151 does not.
    let c3 = Call { task: None, ..c };
    let d = denied(reserve(s, &c3, 151).await);
    assert_eq!(
        (d.limit, d.spent_micros, d.remaining_micros),
        (LimitKind::Daily, 100, 150)
    );
    let r = reserve(s, &c3, 150).await.unwrap();
    s.settle(r, MicroUsd(150)).await.unwrap();
    // Monthly: tomorrow the day is fresh but the month has 250 of 400.
    let c4 = Call {
        now: at("2027-03-16T00:00:00Z"),
        ..c3
    };
    let d = denied(reserve(s, &c4, 151).await);
    assert_eq!(
        (d.limit, d.spent_micros, d.remaining_micros),
        (LimitKind::Monthly, 250, 150)
    );
    assert_eq!(d.code(), "budget_exceeded:monthly");
    reserve(s, &c4, 150).await.unwrap();
}

/// Windows turn over at UTC midnight and on the first of the month.
pub async fn windows_reset_at_utc_day_and_month_boundaries(s: &dyn BudgetStore) {
    let w = wf("boundaries");
    let mut env = envelope(OnLimit::Deny);
    env.daily = Some(MicroUsd(100));
    env.monthly = Some(MicroUsd(150));
    let c = Call {
        wf: &w,
        env: &env,
        task: None,
        now: at("2027-03-31T23:59:59Z"),
    };
    let r = reserve(s, &c, 100).await.unwrap();
    s.settle(r, MicroUsd(100)).await.unwrap();
    assert_eq!(denied(reserve(s, &c, 1).await).limit, LimitKind::Daily);
    // One second later: April, new day and new month.
    let c2 = Call {
        now: at("2027-04-01T00:00:00Z"),
        ..c
    };
    let r = reserve(s, &c2, 100).await.unwrap();
    s.settle(r, MicroUsd(100)).await.unwrap();
    let c3 = Call {
        now: at("2027-04-02T00:00:01Z"),
        ..c
    };
    assert_eq!(denied(reserve(s, &c3, 51).await).limit, LimitKind::Monthly);
    let rem = s.remaining(&w, None, &env, c3.now).await.unwrap();
    assert_eq!(rem.daily.unwrap().remaining(), MicroUsd(100));
    assert_eq!(rem.monthly.unwrap().remaining(), MicroUsd(50));
    assert_eq!(rem.min_remaining(), Some(MicroUsd(50)));
}

/// 50/80/100% fire once per window, at reserve or at settle, whichever reaches them.
pub async fn thresholds_cross_once_per_window(s: &dyn BudgetStore) {
    let w = wf("thresholds");
    let mut env = envelope(OnLimit::AlertOnly);
    env.monthly = Some(MicroUsd(1000));
    let c = Call {
        wf: &w,
        env: &env,
        task: None,
        now: at("2027-05-10T08:00:00Z"),
    };
    let mut r = reserve(s, &c, 500).await.unwrap();
    let crossed: Vec<u32> = r
        .take_thresholds_crossed()
        .iter()
        .map(|t| t.threshold_bps)
        .collect();
    assert_eq!(crossed, vec![5000]);
    let t = s.settle(r, MicroUsd(850)).await.unwrap();
    assert_eq!(
        t.iter().map(|t| t.threshold_bps).collect::<Vec<_>>(),
        vec![8000]
    );
    assert_eq!(
        (t[0].limit, t[0].window.as_str(), t[0].exposure_micros),
        (LimitKind::Monthly, "2027-05", 850)
    );
    // Going below and above again does not re-fire.
    let mut r = reserve(s, &c, 100).await.unwrap();
    assert!(r.take_thresholds_crossed().is_empty());
    s.release(r).await.unwrap();
    let mut r = reserve(s, &c, 200).await.unwrap();
    let t = r.take_thresholds_crossed();
    assert_eq!(
        t.iter().map(|t| t.threshold_bps).collect::<Vec<_>>(),
        vec![10000]
    );
    assert_eq!(
        r.over_limit().len(),
        1,
        "alert_only reports the exceeded monthly limit"
    );
    assert!(s.settle(r, MicroUsd(200)).await.unwrap().is_empty());
    // A new month starts clean.
    let c2 = Call {
        now: at("2027-06-01T00:00:00Z"),
        ..c
    };
    let mut r = reserve(s, &c2, 600).await.unwrap();
    assert_eq!(r.take_thresholds_crossed().len(), 1);
}

/// Downgrade reserves the cheap estimate and flags it; deny when even that does not fit.
pub async fn downgrade_then_deny(s: &dyn BudgetStore) {
    let w = wf("downgrade");
    let mut env = envelope(OnLimit::Downgrade);
    env.daily = Some(MicroUsd(100));
    let c = Call {
        wf: &w,
        env: &env,
        task: None,
        now: at("2027-03-15T12:00:00Z"),
    };
    let r = s.reserve(c.req(60, Some(10))).await.unwrap();
    assert!(!r.is_downgrade_required());
    let r2 = s.reserve(c.req(60, Some(30))).await.unwrap();
    assert!(r2.is_downgrade_required());
    assert_eq!(r2.amount(), MicroUsd(30));
    let d = denied(s.reserve(c.req(60, Some(11))).await);
    assert_eq!((d.requested_micros, d.remaining_micros), (11, 10));
    s.settle(r, MicroUsd(60)).await.unwrap();
    s.settle(r2, MicroUsd(30)).await.unwrap();
}

/// Settle may differ from the estimate either way; release returns everything.
pub async fn settle_and_release_account_exactly(s: &dyn BudgetStore) {
    let w = wf("settle");
    let mut env = envelope(OnLimit::Deny);
    env.daily = Some(MicroUsd(1000));
    let c = Call {
        wf: &w,
        env: &env,
        task: Some("job"),
        now: at("2027-03-15T12:00:00Z"),
    };
    let a = reserve(s, &c, 300).await.unwrap();
    let b = reserve(s, &c, 300).await.unwrap();
    let d = reserve(s, &c, 300).await.unwrap();
    s.settle(a, MicroUsd(100)).await.unwrap(); // smaller
    s.settle(b, MicroUsd(450)).await.unwrap(); // bigger (provider ignored max_tokens)
    s.release(d).await.unwrap();
    let rem = s.remaining(&w, Some("job"), &env, c.now).await.unwrap();
    let day = rem.daily.unwrap();
    assert_eq!(
        (day.spent, day.reserved, day.remaining()),
        (MicroUsd(550), MicroUsd(0), MicroUsd(450))
    );
    let task = s.task(&w, "job").await.unwrap().unwrap();
    assert_eq!(
        (task.spent, task.steps, task.status),
        (MicroUsd(550), 3, None)
    );
}

/// A guard dropped without settle (client disconnect) releases its money, or settles the cost
/// already incurred when the stream was cut.
pub async fn dropped_guard_releases(s: Arc<dyn BudgetStore>) {
    let w = wf("guard");
    let mut env = envelope(OnLimit::Deny);
    env.daily = Some(MicroUsd(100));
    let c = Call {
        wf: &w,
        env: &env,
        task: None,
        now: at("2027-03-15T12:00:00Z"),
    };
    let r = reserve(s.as_ref(), &c, 100).await.unwrap();
    let guard = ReservationGuard::new(Arc::clone(&s), r);
    assert_eq!(
        denied(reserve(s.as_ref(), &c, 1).await).limit,
        LimitKind::Daily
    );
    drop(guard);
    wait_for_day(s.as_ref(), &c, 0).await;
    let r = reserve(s.as_ref(), &c, 100).await.unwrap();
    let mut guard = ReservationGuard::new(Arc::clone(&s), r);
    guard.set_incurred(MicroUsd(30));
    drop(guard);
    wait_for_day(s.as_ref(), &c, 30).await;
}

/// Waits (bounded) until the day window shows `spent` and nothing reserved: Redis finishes a
/// dropped guard on a spawned task, so its effect lands shortly after the drop.
async fn wait_for_day(s: &dyn BudgetStore, c: &Call<'_>, spent: i64) {
    let mut last = None;
    for _ in 0..400 {
        let day = s
            .remaining(c.wf, None, c.env, c.now)
            .await
            .unwrap()
            .daily
            .unwrap();
        if day.spent == MicroUsd(spent) && day.reserved == MicroUsd(0) {
            return;
        }
        last = Some(day);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("dropped guard did not finish: want spent {spent}, reserved 0; last {last:?}");
}

/// Outcomes: unknown task, twice, invalid quality; sweep abandons idle tasks once.
pub async fn task_outcomes_and_idle_sweep(s: &dyn BudgetStore) {
    let w = wf("tasks");
    let env = envelope(OnLimit::Deny);
    let now = at("2027-03-15T12:00:00Z");
    let unknown = s
        .record_outcome(&w, "nope", TaskStatus::Completed, None)
        .await;
    assert!(matches!(unknown, Err(TaskError::UnknownTask { .. })));
    for (task, t) in [
        ("done", now),
        ("idle", now),
        ("busy", at("2027-03-15T12:20:00Z")),
    ] {
        let c = Call {
            wf: &w,
            env: &env,
            task: Some(task),
            now: t,
        };
        let r = reserve(s, &c, 7).await.unwrap();
        s.settle(r, MicroUsd(5)).await.unwrap();
    }
    let bad = s
        .record_outcome(&w, "done", TaskStatus::Completed, Some(1.5))
        .await;
    assert!(matches!(bad, Err(TaskError::InvalidQuality { .. })));
    let ok = s
        .record_outcome(&w, "done", TaskStatus::Completed, Some(0.9))
        .await
        .unwrap();
    assert_eq!(
        (ok.spent, ok.steps, ok.quality),
        (MicroUsd(5), 1, Some(0.9))
    );
    let twice = s.record_outcome(&w, "done", TaskStatus::Failed, None).await;
    assert!(matches!(
        twice,
        Err(TaskError::OutcomeAlreadyRecorded {
            status: TaskStatus::Completed,
            ..
        })
    ));
    let swept = s
        .sweep_idle(at("2027-03-15T12:30:00Z"), Duration::from_secs(1800))
        .await
        .unwrap();
    let names: Vec<&str> = swept.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(names, vec!["idle"]);
    assert_eq!(swept[0].status, Some(TaskStatus::Abandoned));
    assert_eq!(swept[0].spent, MicroUsd(5));
    assert!(
        s.sweep_idle(at("2027-03-15T12:31:00Z"), Duration::from_secs(1800))
            .await
            .unwrap()
            .is_empty()
    );
    let late = s
        .record_outcome(&w, "idle", TaskStatus::Completed, None)
        .await;
    assert!(matches!(
        late,
        Err(TaskError::OutcomeAlreadyRecorded {
            status: TaskStatus::Abandoned,
            ..
        })
    ));
}

/// Rebuild from events (with a duplicate and an old one) reproduces month, day, task and steps.
pub async fn rebuild_reproduces_spend(s: &dyn BudgetStore) {
    let w = wf("rebuild");
    let ev = |ts: &str, task: Option<&str>, cost: i64, id: &str| SpendEvent {
        ts: at(ts),
        workflow: w.clone(),
        task_id: task.map(str::to_owned),
        cost: MicroUsd(cost),
        request_id: id.to_owned(),
    };
    let events = vec![
        ev("2027-02-27T10:00:00Z", None, 1000, "old-month"),
        ev("2027-03-01T00:00:00Z", None, 100, "a"),
        ev("2027-03-15T09:00:00Z", Some("t"), 20, "b"),
        ev("2027-03-15T09:00:00Z", Some("t"), 20, "b"),
        ev("2027-03-15T10:00:00Z", Some("t"), 30, "c"),
    ];
    let now = at("2027-03-15T12:00:00Z");
    let report = rebuild(s, events.into_iter(), now).await.unwrap();
    assert_eq!((report.applied, report.duplicates), (4, 1));
    let mut env = envelope(OnLimit::Deny);
    env.daily = Some(MicroUsd(1000));
    env.monthly = Some(MicroUsd(10_000));
    env.per_task = Some(MicroUsd(500));
    let rem = s.remaining(&w, Some("t"), &env, now).await.unwrap();
    assert_eq!(rem.monthly.unwrap().spent, MicroUsd(150));
    assert_eq!(rem.daily.unwrap().spent, MicroUsd(50));
    assert_eq!(rem.task.unwrap().spent, MicroUsd(50));
    assert_eq!(s.task(&w, "t").await.unwrap().unwrap().steps, 2);
}
