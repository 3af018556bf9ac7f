//! Budget scenarios against `MemoryStore`, plus the concurrency property: under N concurrent
//! reservations, settled spend never exceeds any limit when actual <= estimate.

mod budget_common;

use std::sync::Arc;

use budget_common::*;
use proptest::prelude::*;
use purser::budget::{BudgetStore, MemoryStore, OnLimit};
use purser::types::MicroUsd;

fn store() -> MemoryStore {
    MemoryStore::default()
}

#[tokio::test]
async fn memory_each_limit_kind_denies_at_its_limit() {
    each_limit_kind_denies_at_its_limit(&store()).await;
}

#[tokio::test]
async fn memory_windows_reset_at_utc_boundaries() {
    windows_reset_at_utc_day_and_month_boundaries(&store()).await;
}

#[tokio::test]
async fn memory_thresholds_cross_once_per_window() {
    thresholds_cross_once_per_window(&store()).await;
}

#[tokio::test]
async fn memory_downgrade_then_deny() {
    downgrade_then_deny(&store()).await;
}

#[tokio::test]
async fn memory_settle_and_release_account_exactly() {
    settle_and_release_account_exactly(&store()).await;
}

#[tokio::test]
async fn memory_dropped_guard_releases() {
    dropped_guard_releases(Arc::new(store())).await;
}

#[tokio::test]
async fn memory_task_outcomes_and_idle_sweep() {
    task_outcomes_and_idle_sweep(&store()).await;
}

#[tokio::test]
async fn memory_rebuild_reproduces_spend() {
    rebuild_reproduces_spend(&store()).await;
}

#[test]
fn memory_dropped_guard_releases_without_a_runtime() {
    let s: Arc<dyn BudgetStore> = Arc::new(store());
    let w = wf("noruntime");
    let mut env = envelope(OnLimit::Deny);
    env.daily = Some(MicroUsd(10));
    let c = Call {
        wf: &w,
        env: &env,
        task: None,
        now: at("2027-03-15T12:00:00Z"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let r = rt.block_on(reserve(s.as_ref(), &c, 10)).unwrap();
    drop(purser::budget::ReservationGuard::new(Arc::clone(&s), r));
    assert!(rt.block_on(reserve(s.as_ref(), &c, 10)).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Concurrent reserve/settle never overspends any window when actual <= estimate, and the
    /// books balance: spent equals the sum of settled actuals, nothing stays reserved.
    #[test]
    fn concurrent_reservations_never_overspend(
        limit in 1i64..5_000,
        calls in proptest::collection::vec((1i64..400, 0u32..=100, any::<bool>()), 1..64),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        let (spent, expected, reserved) = rt.block_on(async move {
            let s: Arc<dyn BudgetStore> = Arc::new(MemoryStore::default());
            let mut env = envelope(OnLimit::Deny);
            env.daily = Some(MicroUsd(limit));
            env.per_task = Some(MicroUsd(limit / 2 + 1));
            let env = Arc::new(env);
            let mut handles = Vec::new();
            for (i, (est, pct, in_task)) in calls.into_iter().enumerate() {
                let (s, env) = (Arc::clone(&s), Arc::clone(&env));
                handles.push(tokio::spawn(async move {
                    let w = wf("prop");
                    let task = if in_task { Some("shared") } else { None };
                    let c = Call { wf: &w, env: &env, task, now: at("2027-03-15T12:00:00Z") };
                    tokio::task::yield_now().await;
                    let Ok(r) = reserve(s.as_ref(), &c, est).await else { return 0 };
                    tokio::task::yield_now().await;
                    let actual = est * i64::from(pct) / 100;
                    if i % 5 == 0 {
                        s.release(r).await.unwrap();
                        0
                    } else {
                        s.settle(r, MicroUsd(actual)).await.unwrap();
                        actual
                    }
                }));
            }
            let mut expected = 0;
            for h in handles {
                expected += h.await.unwrap();
            }
            let w = wf("prop");
            let rem = s.remaining(&w, Some("shared"), &env, at("2027-03-15T12:00:00Z")).await.unwrap();
            let task = rem.task.unwrap();
            prop_assert!(task.spent.0 <= limit / 2 + 1, "task overspent: {task:?}");
            let day = rem.daily.unwrap();
            Ok((day.spent.0, expected, day.reserved.0))
        })?;
        prop_assert!(spent <= limit, "daily overspent: {spent} > {limit}");
        prop_assert_eq!(spent, expected);
        prop_assert_eq!(reserved, 0);
    }
}
